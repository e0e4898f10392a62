//! `POST /v1/completions`, the legacy text completion: `prompt` instead of `messages`,
//! served by the chat models' routes at the provider's `/completions`.
//!
//! Streams go through the same relay as chat (`stream.rs`): its commit point counts a
//! chunk's `choices[].text` as content.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::embeddings::{missing, require_model};
use super::types::{StreamOptions, check_numbers};
use super::{allow_mapped, estimate, respond};
use crate::gateway::attempt::{Call, Shape, drive};
use crate::gateway::body::read_json;
use crate::gateway::chain::{DEFAULT_LEGACY_COMPLETION_RESERVE, Needs};
use crate::gateway::client::ClientSocket;
use crate::gateway::relay::{Passthrough, Transcode};
use crate::gateway::{ApiError, Gateway, admit};
use crate::providers::shaping::shape_body;
use crate::providers::{Modality, Route, openai_compat};

/// The legacy completion request; other fields are forwarded as sent.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"model": "llama-3.1-8b-instant", "prompt": "Once upon a time", "max_tokens": 32}))]
pub struct CompletionRequest {
    /// A chat model id from `GET /v1/models`, `provider/model`, or an alias.
    pub model: String,
    /// A string, an array of strings, or token arrays.
    #[schema(value_type = serde_json::Value)]
    pub prompt: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Everything else (`max_tokens`, `temperature`, `suffix`, ...), forwarded as sent.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

impl CompletionRequest {
    fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::invalid(
                "invalid_json",
                format!("The request body is not valid JSON: {e}."),
            )
        })?;
        require_model(&value)?;
        if value.get("prompt").is_none() {
            return Err(missing("prompt"));
        }
        if let Value::Object(object) = &value {
            check_numbers(object)?;
        }
        serde_json::from_value(value).map_err(|e| {
            ApiError::invalid("invalid_request", format!("Invalid request body: {e}."))
        })
    }

    fn wants_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// The body for one route; streams ask for the usage chunk so token counts are exact.
    fn upstream_body(&self, upstream_model: &str) -> Result<Vec<u8>, ApiError> {
        let mut request = self.clone();
        request.model = upstream_model.to_string();
        if request.wants_stream() {
            let options = request.stream_options.get_or_insert_with(Default::default);
            options.include_usage = Some(true);
        }
        serde_json::to_vec(&request).map_err(|e| {
            ApiError::invalid("invalid_request", format!("Invalid request body: {e}."))
        })
    }

    fn needs(&self) -> Needs {
        let prompt = match &self.prompt {
            Value::String(text) => estimate(text.chars().count()),
            Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    Value::String(text) => estimate(text.chars().count()),
                    Value::Array(ids) => ids.len() as u64,
                    _ => 1,
                })
                .sum(),
            _ => 1,
        };
        let completion = self
            .extra
            .get("max_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_LEGACY_COMPLETION_RESERVE);
        Needs {
            prompt_tokens: prompt,
            reserve_tokens: prompt + completion,
            ..Needs::default()
        }
    }
}

/// Create a text completion
///
/// The legacy completions endpoint, JSON or streamed.
#[utoipa::path(
    post,
    path = "/v1/completions",
    tag = "openai",
    operation_id = "completions_create",
    request_body = CompletionRequest,
    responses(
        (status = 200, description = "The provider's text completion, passed through unchanged; `text/event-stream` when `stream` is true. Headers `x-freeway-route`, `x-freeway-attempts`, `x-freeway-strategy` explain it",
            content((freeway_wire::openai::Completion = "application/json"), (freeway_wire::openai::Completion = "text/event-stream"))),
        (status = 400, description = "Malformed JSON, a missing `model` or `prompt`, or a prompt larger than every context window", body = super::error::ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired api key", body = super::error::ErrorEnvelope),
        (status = 403, description = "The key or a quota may not use this model (`model_not_allowed`), or a quota has expired (`quota_expired`)", body = super::error::ErrorEnvelope),
        (status = 404, description = "Unknown model", body = super::error::ErrorEnvelope),
        (status = 429, description = "The pool is exhausted, or a tenant, member or api key quota is used up (`quota_exceeded`, the message names the quota); `Retry-After` is when capacity returns", body = super::error::ErrorEnvelope),
        (status = 502, description = "No upstream answered", body = super::error::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
pub async fn completions(
    req: HttpRequest,
    payload: web::Payload,
    gw: web::Data<Gateway>,
) -> HttpResponse {
    respond(&req, "completions", &gw, async |recorder| {
        let caller = admit::authenticate(&req, &gw, recorder)?;
        let body = read_json(&req, payload, &gw).await?;
        let request = CompletionRequest::parse(&body)?;
        let catalog = gw.catalog.get();
        let resolved = catalog.resolve(Modality::Chat, &request.model);
        let mapped_to = resolved.as_ref().and_then(|r| r.mapped_to());
        allow_mapped(&caller, recorder, &request.model, mapped_to)?;
        recorder.event().stream = request.wants_stream();
        let resolved =
            resolved.ok_or_else(|| admit::unknown_model(&request.model, Modality::Chat))?;
        let needs = request.needs();
        let quota_tokens = needs.quota_tokens(resolved.routes);
        let quota = admit::reserve_quota(&gw, &caller, &request.model, quota_tokens)?;
        let stream = request.wants_stream();
        let build = |route: &Route| {
            let body = shape_body(route, request.upstream_body(&route.model)?);
            let accept = if stream {
                "text/event-stream"
            } else {
                "application/json"
            };
            Ok(Some(openai_compat::post_json(
                &gw.http,
                route,
                "/completions",
                body,
                accept,
            )))
        };
        let wants_usage = request
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);
        let passthrough = || -> Box<dyn Transcode> { Box::new(Passthrough { wants_usage }) };
        let shape = if stream {
            Shape::Stream(&passthrough)
        } else {
            Shape::Whole(super::types::COMPLETION)
        };
        let call = Call {
            build: &build,
            shape,
            needs,
            pin: None,
            fit_context: false,
            on_commit: &|_| {},
            client: ClientSocket::of(&req),
        };
        drive(
            &gw,
            resolved.routes,
            resolved.strategy,
            call,
            recorder,
            quota,
        )
        .await
    })
    .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn prompt_and_max_tokens_are_reserved() {
        let request = CompletionRequest::parse(
            br#"{"model":"m","prompt":["abcdefgh",[1,2,3]],"max_tokens":10,"echo":true}"#,
        )
        .unwrap();
        let needs = request.needs();
        assert_eq!((needs.prompt_tokens, needs.reserve_tokens), (5, 15));
        let body: Value = serde_json::from_slice(&request.upstream_body("up").unwrap()).unwrap();
        assert_eq!(body["model"], "up");
        assert_eq!(body["echo"], true);
        let missing = CompletionRequest::parse(br#"{"model":"m"}"#).unwrap_err();
        assert_eq!(missing.param(), Some("prompt"));
        let negative =
            CompletionRequest::parse(br#"{"model":"m","prompt":"x","max_tokens":-1}"#).unwrap_err();
        assert_eq!(negative.param(), Some("max_tokens"));
    }
}
