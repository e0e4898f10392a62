//! Errors on `/v1`: one enum; its status, type and code are decided in one `match`, and
//! every one is answered in OpenAI's shape `{"error":{"message","type","param","code"}}`.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use super::trail::Exhausted;
use crate::tenancy::AuthError;

pub use freeway_wire::error::{OpenAiErrorBody as ErrorBody, OpenAiErrorEnvelope as ErrorEnvelope};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400: malformed, or asking for something no route can do.
    Invalid {
        code: &'static str,
        message: String,
        param: Option<Cow<'static, str>>,
    },
    /// 401, or 403 for a disabled member: the api key.
    Auth(AuthError),
    /// 403: the key or a quota may not do this.
    Forbidden {
        code: &'static str,
        message: String,
        param: Option<Cow<'static, str>>,
    },
    /// 404: no model of that name.
    ModelNotFound { message: String },
    /// 404: no such URL.
    UnknownUrl { path: String },
    /// 404: nothing of that id (a stored response), or not the caller's.
    NotFound { message: String },
    /// 405: the URL exists, the method does not.
    MethodNotAllowed { method: String, allow: &'static str },
    /// 408: the request's headers or body did not arrive in time.
    RequestTimeout,
    /// 413.
    TooLarge { limit: usize },
    /// 415.
    UnsupportedMediaType { message: String },
    /// 429: a tenant, member or api key quota is used up.
    QuotaExceeded {
        message: String,
        retry_after: Option<u64>,
    },
    /// A provider refused the request itself (4xx) without a structured error to pass on.
    UpstreamRejected { status: u16 },
    /// 429, 502 or 503: no route produced an answer.
    Exhausted(Exhausted),
    /// 499: the client left before the answer.
    ClientDisconnected,
}

impl ApiError {
    /// Status, type and code.
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        let status = |code: u16| StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
        match self {
            ApiError::Invalid { code, .. } => {
                (StatusCode::BAD_REQUEST, "invalid_request_error", code)
            }
            ApiError::Auth(error @ AuthError::Disabled) => {
                (StatusCode::FORBIDDEN, "permission_error", error.code())
            }
            ApiError::Auth(error) => (
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                error.code(),
            ),
            ApiError::Forbidden { code, .. } => (StatusCode::FORBIDDEN, "permission_error", code),
            ApiError::ModelNotFound { .. } => {
                (StatusCode::NOT_FOUND, "not_found_error", "model_not_found")
            }
            ApiError::UnknownUrl { .. } => {
                (StatusCode::NOT_FOUND, "not_found_error", "unknown_url")
            }
            ApiError::NotFound { .. } => {
                (StatusCode::NOT_FOUND, "invalid_request_error", "not_found")
            }
            ApiError::MethodNotAllowed { .. } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request_error",
                "method_not_allowed",
            ),
            ApiError::RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                "request_timeout",
            ),
            ApiError::TooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                "request_too_large",
            ),
            ApiError::UnsupportedMediaType { .. } => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request_error",
                "unsupported_media_type",
            ),
            ApiError::QuotaExceeded { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "quota_exceeded",
            ),
            ApiError::UpstreamRejected { status: code } => (
                status(*code),
                "invalid_request_error",
                "upstream_rejected_request",
            ),
            ApiError::Exhausted(exhausted) if exhausted.status == 429 => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                exhausted.code,
            ),
            ApiError::Exhausted(exhausted) => {
                (status(exhausted.status), "upstream_error", exhausted.code)
            }
            ApiError::ClientDisconnected => {
                (status(499), "invalid_request_error", "client_disconnected")
            }
        }
    }

    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            code,
            message: message.into(),
            param: None,
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Forbidden {
            code,
            message: message.into(),
            param: None,
        }
    }

    pub fn exhausted(exhausted: &Exhausted) -> Self {
        ApiError::Exhausted(exhausted.clone())
    }

    pub fn client_disconnected() -> Self {
        ApiError::ClientDisconnected
    }

    pub fn not_found_route(path: &str) -> Self {
        ApiError::UnknownUrl {
            path: path.to_string(),
        }
    }

    /// Names the request field at fault.
    pub fn with_param(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        if let ApiError::Invalid { param, .. } | ApiError::Forbidden { param, .. } = &mut self {
            *param = Some(name.into());
        }
        self
    }

    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    pub fn kind(&self) -> &'static str {
        self.parts().1
    }

    pub fn code(&self) -> &'static str {
        self.parts().2
    }

    pub fn param(&self) -> Option<&str> {
        match self {
            ApiError::Invalid { param, .. } | ApiError::Forbidden { param, .. } => param.as_deref(),
            ApiError::ModelNotFound { .. } => Some("model"),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::QuotaExceeded { retry_after, .. } => *retry_after,
            ApiError::Exhausted(exhausted) => exhausted.retry_after,
            _ => None,
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::Invalid { message, .. }
            | ApiError::Forbidden { message, .. }
            | ApiError::ModelNotFound { message }
            | ApiError::NotFound { message }
            | ApiError::UnsupportedMediaType { message }
            | ApiError::QuotaExceeded { message, .. } => message.clone(),
            ApiError::Auth(error) => error.to_string(),
            ApiError::UnknownUrl { path } => format!(
                "Unknown request URL: {path}. Freeway serves /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/images/generations, /v1/audio/speech, /v1/audio/transcriptions, /v1/models, /v1/responses and /v1/messages."
            ),
            ApiError::MethodNotAllowed { method, allow } => {
                format!("This URL does not accept {method}; it accepts {allow}.")
            }
            ApiError::RequestTimeout => {
                "The request's headers or body did not arrive in time.".into()
            }
            ApiError::TooLarge { limit } => {
                format!("The request body is larger than this server's limit of {limit} bytes.")
            }
            ApiError::UpstreamRejected { status } => {
                format!("The provider rejected the request (HTTP {status}).")
            }
            ApiError::Exhausted(exhausted) => exhausted.message.clone(),
            ApiError::ClientDisconnected => "The client closed the connection.".into(),
        }
    }

    pub fn body(&self) -> ErrorEnvelope {
        let (_, kind, code) = self.parts();
        ErrorEnvelope {
            error: ErrorBody {
                message: self.message(),
                kind: kind.to_string(),
                param: self.param().map(str::to_string),
                code: code.to_string(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message(), self.code())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status());
        if let Some(secs) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        match self {
            ApiError::Auth(AuthError::Disabled) => {}
            ApiError::Auth(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                response.insert_header((header::ALLOW, *allow));
            }
            ApiError::RequestTimeout => {
                response.insert_header((header::CONNECTION, "close"));
            }
            _ => {}
        }
        response.json(self.body())
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        ApiError::Auth(error)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_headers() {
        let error = ApiError::QuotaExceeded {
            message: "slow down".into(),
            retry_after: Some(7),
        };
        let response = error.error_response();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers().get("retry-after").unwrap(), "7");
        let body = serde_json::to_value(error.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {"message": "slow down", "type": "rate_limit_error",
                "param": null, "code": "quota_exceeded"}})
        );
        let wrong = ApiError::MethodNotAllowed {
            method: "DELETE".into(),
            allow: "POST, OPTIONS",
        };
        let response = wrong.error_response();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers().get("allow").unwrap(), "POST, OPTIONS");
    }

    #[test]
    fn auth_errors_map_to_401_or_403() {
        assert_eq!(ApiError::from(AuthError::Revoked).status(), 401);
        assert_eq!(ApiError::from(AuthError::Revoked).code(), "api_key_revoked");
        assert_eq!(ApiError::from(AuthError::Disabled).status(), 403);
        let response = ApiError::from(AuthError::Revoked).error_response();
        assert_eq!(
            response.headers().get("www-authenticate").unwrap(),
            "Bearer"
        );
    }

    #[test]
    fn exhaustion_keeps_its_status() {
        let exhausted = |status| Exhausted {
            status,
            code: "x",
            message: "m".into(),
            retry_after: None,
        };
        assert_eq!(
            ApiError::exhausted(&exhausted(429)).kind(),
            "rate_limit_error"
        );
        assert_eq!(ApiError::exhausted(&exhausted(503)).status(), 503);
        assert_eq!(ApiError::client_disconnected().status().as_u16(), 499);
    }
}
