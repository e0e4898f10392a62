//! Anthropic's Messages API: `POST /v1/messages` and `POST /v1/messages/count_tokens`, for
//! Claude Code and the Anthropic SDKs. A request is checked and translated into the OpenAI
//! chat request the pipeline serves (the same quotas, session pin, handoff, ledger and
//! usage event as `/v1/chat/completions`); the answer, whole or streamed, is translated
//! back, and every error comes in Anthropic's shape.

mod answer;
mod request;
mod stream;

use actix_web::body::{BoxBody, to_bytes};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use freeway_wire::anthropic::{ErrorDetail, ErrorEnvelope, TokenCount};
use serde_json::Value;

use crate::gateway::body::read_json;
use crate::gateway::relay::Transcode;
use crate::gateway::{Answer, ApiError, Gateway, Whole, admit};
use crate::openai::types::ChatRequest;
use crate::openai::{Answering, post, prompt_estimate};
use crate::providers::Route;
use crate::telemetry::RequestId;
use crate::usage::Recorder;

/// The header Anthropic's SDKs read the request id from.
const ANTHROPIC_REQUEST_ID: &str = "request-id";

pub fn configure(cfg: &mut web::ServiceConfig, cors: &[String]) {
    let resources = [
        post("/v1/messages", web::post().to(messages)),
        post("/v1/messages/count_tokens", web::post().to(count_tokens)),
    ];
    for resource in resources {
        if cors.is_empty() {
            cfg.service(resource);
        } else {
            cfg.service(resource.wrap(crate::openai::cors_for(cors)));
        }
    }
}

/// Create a message
///
/// Anthropic's Messages API, JSON or streamed, served by the pool with failover. `x-api-key`
/// or `Authorization: Bearer` carries the api key; `anthropic-version` and `anthropic-beta`
/// are accepted.
#[utoipa::path(
    post,
    path = "/v1/messages",
    tag = "anthropic",
    operation_id = "messages_create",
    request_body = freeway_wire::anthropic::MessagesRequest,
    responses(
        (status = 200, description = "The message; `text/event-stream` of Anthropic's events (`message_start`, `content_block_*`, `message_delta`, `message_stop`, `ping`) when `stream` is true. Headers `x-freeway-route`, `x-freeway-attempts`, `x-freeway-strategy` explain it",
            content((freeway_wire::anthropic::Message = "application/json"), (freeway_wire::anthropic::Message = "text/event-stream"))),
        (status = 400, description = "Malformed JSON, a missing `max_tokens`, an unknown block type, a `tool_result` without its `tool_use`, or a tool that runs on Anthropic's servers; the message starts with the field's path", body = freeway_wire::anthropic::ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired api key", body = freeway_wire::anthropic::ErrorEnvelope),
        (status = 403, description = "The key or a quota may not use this model", body = freeway_wire::anthropic::ErrorEnvelope),
        (status = 404, description = "Unknown model", body = freeway_wire::anthropic::ErrorEnvelope),
        (status = 429, description = "The pool or a quota is exhausted; `Retry-After` is when capacity returns", body = freeway_wire::anthropic::ErrorEnvelope),
        (status = 502, description = "No upstream answered", body = freeway_wire::anthropic::ErrorEnvelope),
        (status = 503, description = "No credential can serve the model", body = freeway_wire::anthropic::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
pub async fn messages(
    req: HttpRequest,
    payload: web::Payload,
    gw: web::Data<Gateway>,
) -> HttpResponse {
    respond(&req, "messages", &gw, async |recorder| {
        let caller = admit::authenticate(&req, &gw, recorder)?;
        let body = read_json(&req, payload, &gw).await?;
        let translated = request::translate(&body, false)?;
        let chat = ChatRequest::parse(Bytes::from(
            Value::Object(translated.chat).to_string().into_bytes(),
        ))?;
        let context = answer::Context {
            model: chat.model.clone(),
            stop_sequences: translated.stop_sequences,
        };
        let estimate = prompt_estimate(&chat);
        let whole = |_: &Route, answer: Answer| -> Result<HttpResponse, ApiError> {
            let completion: Value = serde_json::from_slice(&answer.bytes).unwrap_or(Value::Null);
            Ok(HttpResponse::Ok().json(answer::message(&completion, &context)))
        };
        let stream = || -> Box<dyn Transcode> {
            Box::new(stream::MessageStream::new(context.clone(), estimate))
        };
        let answering = Answering {
            whole: Whole {
                check: &crate::openai::types::completion,
                answer: &whole,
            },
            stream: &stream,
        };
        crate::openai::serve(&req, &gw, recorder, &caller, chat, answering).await
    })
    .await
}

/// Count tokens
///
/// The prompt's token estimate, the same the router reserves for it.
#[utoipa::path(
    post,
    path = "/v1/messages/count_tokens",
    tag = "anthropic",
    operation_id = "messages_count_tokens",
    request_body = freeway_wire::anthropic::CountTokensRequest,
    responses(
        (status = 200, description = "The estimate", body = TokenCount),
        (status = 400, description = "Malformed request; the message starts with the field's path", body = freeway_wire::anthropic::ErrorEnvelope),
        (status = 401, description = "Missing or bad api key", body = freeway_wire::anthropic::ErrorEnvelope),
        (status = 403, description = "The key may not use this model", body = freeway_wire::anthropic::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
pub async fn count_tokens(
    req: HttpRequest,
    payload: web::Payload,
    gw: web::Data<Gateway>,
) -> HttpResponse {
    respond(&req, "messages.count_tokens", &gw, async |recorder| {
        let caller = admit::authenticate(&req, &gw, recorder)?;
        let body = read_json(&req, payload, &gw).await?;
        let translated = request::translate(&body, true)?;
        let chat = ChatRequest::parse(Bytes::from(
            Value::Object(translated.chat).to_string().into_bytes(),
        ))?;
        let catalog = gw.catalog.get();
        let resolved = catalog.resolve(crate::providers::Modality::Chat, &chat.model);
        let mapped_to = resolved.as_ref().and_then(|r| r.mapped_to());
        crate::openai::allow_mapped(&caller, recorder, &chat.model, mapped_to)?;
        recorder.event().status = 200;
        Ok(HttpResponse::Ok().json(TokenCount {
            input_tokens: prompt_estimate(&chat),
        }))
    })
    .await
}

/// Runs a handler through `/v1`'s recorder and gives every answer Anthropic's request id
/// header (the request's id, as in `x-request-id`), and every error Anthropic's shape.
async fn respond<F>(
    req: &HttpRequest,
    endpoint: &'static str,
    gw: &Gateway,
    handle: F,
) -> HttpResponse
where
    F: AsyncFnOnce(&mut Recorder) -> Result<HttpResponse, ApiError>,
{
    let mut response = crate::openai::respond(req, endpoint, gw, handle).await;
    let request_id = RequestId::of(req);
    response.headers_mut().insert(
        HeaderName::from_static(ANTHROPIC_REQUEST_ID),
        request_id.header_value(),
    );
    if response.status().is_success() {
        return response;
    }
    anthropic_error(response, &request_id).await
}

/// Anthropic's error type for a status.
fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

/// An error answer (Freeway's own, or a provider's passed on) in Anthropic's shape, with
/// its status and headers kept.
async fn anthropic_error(response: HttpResponse, request_id: &RequestId) -> HttpResponse {
    let status = response.status();
    let (mut head, body) = response.into_parts();
    let bytes = to_bytes(body).await.unwrap_or_default();
    let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let message = parsed
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("The request failed.")
                .to_string()
        });
    let request_id = Some(request_id.as_str().to_owned());
    let envelope = ErrorEnvelope {
        kind: "error".into(),
        error: ErrorDetail {
            kind: error_type(status).into(),
            message,
        },
        request_id,
    };
    head.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body = serde_json::to_vec(&envelope).unwrap_or_default();
    head.set_body(BoxBody::new(body))
}
