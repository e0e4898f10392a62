//! The one way the UI talks to the server: `/admin/v1` with the session's token, answers read
//! as `freeway-wire` types, failures as the admin error shape. A 401 on an authenticated call
//! ends the session and takes the user to sign-in, keeping the page they were on.

use freeway_wire::AdminErrorEnvelope;
use gloo_net::http::{Request, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::session;

/// A failed call, as the admin API describes it (`code`, `message`, `field`), or as the
/// browser does when there was no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// 0 when the server did not answer.
    pub status: u16,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    /// Seconds, from `Retry-After` (login throttling, 429s).
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn network(error: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: 0,
            code: "network".into(),
            message: format!("The server did not answer: {error}"),
            field: None,
            retry_after: None,
        }
    }

    /// Is this error about `field`?
    pub fn is_about(&self, field: &str) -> bool {
        self.field
            .as_deref()
            .is_some_and(|f| f == field || f.starts_with(&format!("{field}.")))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// `path?query` with the query serialised from a wire query struct (absent fields omitted).
pub fn with_query(path: &str, query: &impl Serialize) -> String {
    match serde_urlencoded::to_string(query) {
        Ok(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_string(),
    }
}

fn authorised(builder: RequestBuilder) -> RequestBuilder {
    match session::token() {
        Some(token) => builder.header("Authorization", &format!("Bearer {token}")),
        None => builder,
    }
}

async fn error_of(response: Response) -> ApiError {
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.trim().parse().ok());
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<AdminErrorEnvelope>(&text) {
        Ok(envelope) => ApiError {
            status,
            code: envelope.error.code,
            message: envelope.error.message,
            field: envelope.error.field,
            retry_after,
        },
        Err(_) => ApiError {
            status,
            code: "unexpected".into(),
            message: format!("The server answered {status} {}", response.status_text()),
            field: None,
            retry_after,
        },
    }
}

async fn finish(response: Result<Response, gloo_net::Error>) -> ApiResult<Response> {
    let response = response.map_err(ApiError::network)?;
    if response.ok() {
        return Ok(response);
    }
    let error = error_of(response).await;
    if error.status == 401 && session::token().is_some() {
        session::expired();
    }
    Err(error)
}

async fn json<T: DeserializeOwned>(response: Response) -> ApiResult<T> {
    let text = response.text().await.map_err(ApiError::network)?;
    serde_json::from_str(&text).map_err(|e| ApiError {
        status: response.status(),
        code: "unexpected".into(),
        message: format!("The server's answer was not understood: {e}"),
        field: None,
        retry_after: None,
    })
}

pub async fn get<T: DeserializeOwned>(path: &str) -> ApiResult<T> {
    let response = finish(authorised(Request::get(path)).send().await).await?;
    json(response).await
}

async fn send_json<T: DeserializeOwned>(
    builder: RequestBuilder,
    body: &impl Serialize,
) -> ApiResult<T> {
    let request = authorised(builder).json(body).map_err(ApiError::network)?;
    let response = finish(request.send().await).await?;
    json(response).await
}

pub async fn post<T: DeserializeOwned>(path: &str, body: &impl Serialize) -> ApiResult<T> {
    send_json(Request::post(path), body).await
}

pub async fn put<T: DeserializeOwned>(path: &str, body: &impl Serialize) -> ApiResult<T> {
    send_json(Request::put(path), body).await
}

pub async fn patch<T: DeserializeOwned>(path: &str, body: &impl Serialize) -> ApiResult<T> {
    send_json(Request::patch(path), body).await
}

/// A POST whose answer has no body worth reading (204).
pub async fn post_empty(path: &str, body: &impl Serialize) -> ApiResult<()> {
    let request = authorised(Request::post(path))
        .json(body)
        .map_err(ApiError::network)?;
    finish(request.send().await).await.map(drop)
}

pub async fn delete(path: &str) -> ApiResult<()> {
    finish(authorised(Request::delete(path)).send().await)
        .await
        .map(drop)
}

/// Percent-encodes one path segment or query value, as `encodeURIComponent` does.
pub fn enc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A mistake caught before asking the server, shown like the server's own: next to `field`
/// (a `FieldError`), or in the banner.
pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        status: 0,
        code: "invalid".into(),
        message: message.into(),
        field: Some(field.into()),
        retry_after: None,
    }
}
