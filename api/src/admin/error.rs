//! The one error shape of `/admin/v1`: `{"error":{"code","message","field"}}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
pub use freeway_wire::error::{AdminErrorBody, AdminErrorEnvelope};

use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The input field at fault, for 400 and 422.
    pub field: Option<String>,
    pub retry_after: Option<u64>,
}

impl AdminError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AdminError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Your role may not do this.",
        )
    }

    /// Also the answer for another tenant's objects: it reveals nothing about them.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("No such {what}."),
        )
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AdminError {
            field: Some(field.to_string()),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
        }
    }
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            response.insert_header((RETRY_AFTER, HeaderValue::from(secs)));
        }
        response.json(AdminErrorEnvelope {
            error: AdminErrorBody {
                code: self.code.to_string(),
                message: self.message.clone(),
                field: self.field.clone(),
            },
        })
    }
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => AdminError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("No such {what}."),
            ),
            StoreError::Conflict(what) => AdminError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists."),
            ),
            StoreError::Invalid { field, message } => AdminError::invalid(&field, message),
            StoreError::Database(e) => {
                tracing::warn!(error = %e, "admin request failed on the database");
                AdminError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "The database did not answer; try again.",
                )
            }
            StoreError::Crypto(_) => AdminError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "master_key_unavailable",
                "A secret could not be sealed or opened with the configured master key.",
            ),
        }
    }
}

/// Bodies on `/admin/v1` that are not JSON, too large or of another content type, in the
/// admin shape. (Fields that do not fit are [`AdminJson`]'s to name.)
pub fn json_error(
    error: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    let admin = match &error {
        JsonPayloadError::ContentType => AdminError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send JSON with `Content-Type: application/json`.",
        ),
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            AdminError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "The request body is too large.",
            )
        }
        other => AdminError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("The body is not valid JSON: {other}."),
        ),
    };
    admin.into()
}

/// A JSON body on `/admin/v1`. Like `web::Json`, whose configuration (size, content type,
/// error shape) it goes through, but it also takes `3.0` where an integer is expected: JSON
/// Schema's `integer`, which the OpenAPI document promises, includes integral numbers
/// written with a fraction.
#[derive(Debug)]
pub struct AdminJson<T>(pub T);

impl<T> AdminJson<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for AdminJson<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned> actix_web::FromRequest for AdminJson<T> {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(
        req: &actix_web::HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let json = actix_web::web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let mut value = json.await?.into_inner();
            // serde would also read a struct from an array, positionally.
            if !value.is_object() {
                return Err(AdminError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_field",
                    "The body must be a JSON object.",
                )
                .into());
            }
            integral_floats_to_integers(&mut value);
            serde_path_to_error::deserialize(value)
                .map(AdminJson)
                .map_err(|e| invalid_input(&e).into())
        })
    }
}

/// A query string on `/admin/v1`, parsed into its typed struct; a value that does not fit
/// is a 422 naming the parameter, like a body's field.
#[derive(Debug)]
pub struct AdminQuery<T>(pub T);

impl<T> std::ops::Deref for AdminQuery<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned> actix_web::FromRequest for AdminQuery<T> {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let pairs = form_urlencoded::parse(req.query_string().as_bytes());
        let parsed = serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs))
            .map(AdminQuery)
            .map_err(|e| invalid_input(&e).into());
        std::future::ready(parsed)
    }
}

/// Input whose fields do not fit: 422 naming the field, from the path serde took to it, or
/// for unknown and missing fields from the name serde puts in backticks.
fn invalid_input<E: std::fmt::Display>(error: &serde_path_to_error::Error<E>) -> AdminError {
    let message = error.inner().to_string();
    let path = error.path().to_string();
    let field = if path.is_empty() || path == "." || message.starts_with("unknown field") {
        message.split('`').nth(1).map(str::to_string)
    } else {
        Some(path)
    };
    AdminError {
        field,
        ..AdminError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
    }
}

fn integral_floats_to_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 9.007_199_254_740_992e15
            {
                // Exact: |f| < 2^53.
                #[allow(clippy::cast_possible_truncation)]
                let i = f as i64;
                *value = Value::from(i);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        Value::Object(map) => map.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_floats_become_integers_and_others_stay() {
        let mut value = serde_json::json!({"a": 3.0, "b": [1.5, -2.0], "c": "4.0", "d": 1e300});
        integral_floats_to_integers(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"a": 3, "b": [1.5, -2], "c": "4.0", "d": 1e300})
        );
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Body {
            name: String,
            role: Option<freeway_wire::auth::Role>,
        }
        let field = |value: serde_json::Value| {
            invalid_input(&serde_path_to_error::deserialize::<_, Body>(value).unwrap_err()).field
        };
        assert_eq!(
            field(serde_json::json!({"nmae": "x"})).as_deref(),
            Some("nmae")
        );
        assert_eq!(field(serde_json::json!({})).as_deref(), Some("name"));
        assert_eq!(
            field(serde_json::json!({"name": "x", "role": "owner"})).as_deref(),
            Some("role")
        );
    }
}
