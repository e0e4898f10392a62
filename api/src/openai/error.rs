//! Errors on `/v1`, always in OpenAI's shape: `{"error":{"message","type","param","code"}}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::tenancy::AuthError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub code: &'static str,
    pub param: Option<&'static str>,
    pub retry_after: Option<u64>,
}

pub use freeway_wire::error::{OpenAiErrorBody as ErrorBody, OpenAiErrorEnvelope as ErrorEnvelope};

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            message: message.into(),
            kind,
            code,
            param: None,
            retry_after: None,
        }
    }

    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            code,
            message,
        )
    }

    pub fn with_param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    pub fn not_found_route(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            "unknown_url",
            format!(
                "Unknown request URL: {path}. Freeway serves /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/images/generations, /v1/audio/speech, /v1/audio/transcriptions and /v1/models."
            ),
        )
    }

    pub fn body(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            error: ErrorBody {
                message: self.message.clone(),
                kind: self.kind.to_string(),
                param: self.param.map(str::to_string),
                code: self.code.to_string(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(self.body())
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let status = match error {
            AuthError::Disabled => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        };
        let kind = match error {
            AuthError::Disabled => "permission_error",
            _ => "authentication_error",
        };
        ApiError::new(status, kind, error.code(), error.to_string())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_headers() {
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "upstream_rate_limited",
            "slow down",
        );
        error.retry_after = Some(7);
        let response = error.error_response();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers().get("retry-after").unwrap(), "7");
        let body = serde_json::to_value(error.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {"message": "slow down", "type": "rate_limit_error",
                "param": null, "code": "upstream_rate_limited"}})
        );
    }

    #[test]
    fn auth_errors_map_to_401_or_403() {
        assert_eq!(ApiError::from(AuthError::Revoked).status, 401);
        assert_eq!(ApiError::from(AuthError::Revoked).code, "api_key_revoked");
        assert_eq!(ApiError::from(AuthError::Disabled).status, 403);
    }
}
