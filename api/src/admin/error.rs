//! The one error shape of `/admin/v1`: `{"error":{"code","message","field"}}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

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

#[derive(Serialize, utoipa::ToSchema)]
pub struct AdminErrorEnvelope {
    pub error: AdminErrorBody,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AdminErrorBody {
    /// Machine-readable: `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `invalid_field`, `invalid_json`, `too_many_attempts`, `database_unavailable`, ...
    pub code: String,
    pub message: String,
    /// The input field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
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
                code: self.code.into(),
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

/// Malformed JSON bodies and query strings on `/admin/v1`, in the same shape: unknown and
/// mistyped fields are named.
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
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            let message = e.to_string();
            // serde names the field in backticks: "unknown field `x`", "missing field `y`".
            let field = message.split('`').nth(1).map(str::to_string);
            AdminError {
                field,
                ..AdminError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
            }
        }
        other => AdminError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("The body is not valid JSON: {other}."),
        ),
    };
    admin.into()
}

pub fn query_error(
    error: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    let message = error.to_string();
    let field = message.split('`').nth(1).map(str::to_string);
    AdminError {
        field,
        ..AdminError::new(StatusCode::BAD_REQUEST, "invalid_query", message)
    }
    .into()
}
