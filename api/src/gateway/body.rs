//! Reading a request body within the configured limit.

use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::web;
use bytes::BytesMut;
use futures_util::StreamExt;

use super::error::ApiError;

fn too_large(limit: usize) -> ApiError {
    ApiError::TooLarge { limit }
}

/// A JSON endpoint accepts `application/json` (any charset) or no content type at all.
pub fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    let Some(value) = req.headers().get(CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType {
            message: format!(
                "Send the request body as `Content-Type: application/json`, not {essence:?}."
            ),
        })
    }
}

/// A JSON endpoint's body, within the gateway's size and time limits.
pub async fn read_json(
    req: &HttpRequest,
    payload: web::Payload,
    gw: &super::Gateway,
) -> Result<web::Bytes, ApiError> {
    require_json(req)?;
    read_limited(
        req,
        payload,
        gw.config.max_body_bytes,
        gw.config.body_timeout(),
    )
    .await
}

/// Reads the whole body, within `limit` bytes and `within` time: a client that stalls its
/// upload gets a 408 and its connection closed rather than holding both for ever.
pub async fn read_limited(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    within: Duration,
) -> Result<web::Bytes, ApiError> {
    tokio::time::timeout(within, read_all(req, payload, limit))
        .await
        .unwrap_or(Err(ApiError::RequestTimeout))
}

async fn read_all(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let mut body = BytesMut::with_capacity(declared.map_or(8 * 1024, |n| n as usize));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::invalid(
                "incomplete_body",
                format!("The request body could not be read: {e}."),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A body's JSON, or the 400 every `/v1` surface answers for one that is not JSON.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(
            "invalid_json",
            format!("The request body is not valid JSON: {e}."),
        )
    })
}
