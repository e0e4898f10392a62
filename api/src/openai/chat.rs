//! `POST /v1/chat/completions`.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::types::{ChatCompletionRequest, ChatRequest};
use super::{SESSION_HEADER, allow_mapped, respond};
use crate::gateway::attempt::{Call, Shape, Whole, drive};
use crate::gateway::body::read_json;
use crate::gateway::chain::{DEFAULT_COMPLETION_RESERVE, Needs};
use crate::gateway::client::ClientSocket;
use crate::gateway::relay::{Passthrough, Transcode};
use crate::gateway::{ApiError, Gateway, admit};
use crate::providers::shaping::shape_body;
use crate::providers::{Modality, Route, openai_compat};
use crate::routing::handoff::{estimate_tokens, hand_off};
use crate::routing::now_millis;
use crate::routing::session::{Pin, session_id};
use crate::tenancy::Caller;
use crate::usage::Recorder;

/// Create a chat completion
///
/// OpenAI's chat completions, JSON or streamed, served by the pool with failover.
#[utoipa::path(
    post,
    path = "/v1/chat/completions",
    tag = "openai",
    operation_id = "chat_completions_create",
    request_body = ChatCompletionRequest,
    params(("x-session-id" = Option<String>, Header, description = "Keeps a conversation on one route; without it the opening messages identify the session")),
    responses(
        (status = 200, description = "The provider's completion, passed through unchanged; `text/event-stream` of `ChatCompletionChunk` events when `stream` is true. Headers `x-freeway-route`, `x-freeway-attempts`, `x-freeway-strategy`, `x-freeway-session` explain it",
            content((freeway_wire::openai::ChatCompletion = "application/json"), (freeway_wire::openai::ChatCompletionChunk = "text/event-stream"))),
        (status = 400, description = "Malformed JSON, a missing field, a capability no route offers, or a prompt larger than every context window", body = super::error::ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired api key", body = super::error::ErrorEnvelope),
        (status = 403, description = "The key or a quota may not use this model (`model_not_allowed`), or a quota has expired (`quota_expired`)", body = super::error::ErrorEnvelope),
        (status = 404, description = "Unknown model", body = super::error::ErrorEnvelope),
        (status = 413, description = "Body over the size limit", body = super::error::ErrorEnvelope),
        (status = 415, description = "Not `application/json`", body = super::error::ErrorEnvelope),
        (status = 429, description = "The pool is exhausted, or a tenant, member or api key quota is used up (`quota_exceeded`, the message names the quota); `Retry-After` is when capacity returns", body = super::error::ErrorEnvelope),
        (status = 502, description = "No upstream answered", body = super::error::ErrorEnvelope),
        (status = 503, description = "No credential can serve the model", body = super::error::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
pub async fn chat_completions(
    req: HttpRequest,
    payload: web::Payload,
    gw: web::Data<Gateway>,
) -> HttpResponse {
    respond(&req, "chat.completions", &gw, async |recorder| {
        handle(&req, payload, &gw, recorder).await
    })
    .await
}

/// A parsed request with what routing needs to know about it.
pub(crate) struct Prepared {
    pub request: ChatRequest,
    pub needs: Needs,
    pub completion_reserve: u64,
    pub session: String,
    pub pin: Option<Pin>,
    /// The chain hands conversations off between models.
    pub handoff: bool,
}

impl Prepared {
    /// The body for one route: its model id, and a handed-off conversation when a sticky
    /// session moves to another model. `None` when the conversation cannot fit the route.
    pub fn body_for(&self, route: &Route) -> Result<Option<Vec<u8>>, ApiError> {
        let moving = self.handoff && self.pin.is_some_and(|p| p.model != route.info.id);
        if !moving {
            let body = self.request.upstream_body(&route.model, None);
            return Ok(Some(shape_body(route, body)));
        }
        let Some(messages) = hand_off(
            &self.request.messages,
            route.info.context_window,
            self.completion_reserve,
        ) else {
            return Ok(None);
        };
        let body = self.request.upstream_body(&route.model, Some(&messages));
        Ok(Some(shape_body(route, body)))
    }

    pub fn pin_route(&self, gw: &Gateway, route: &Route) {
        let pin = Pin {
            model: route.info.id,
            credential: route.credential.as_ref().map(|c| c.id),
        };
        match &gw.shared {
            None => gw.sessions.pin(&self.session, pin, now_millis()),
            Some(shared) => {
                if gw.sessions.repin(&self.session, pin, now_millis()) {
                    shared.session_set(&self.session, pin.encode(), crate::routing::session::TTL);
                }
            }
        }
    }
}

/// The prompt's token estimate, as the router reserves it: its messages and its tools.
pub(crate) fn prompt_estimate(request: &ChatRequest) -> u64 {
    estimate_tokens(&request.messages) + request.tools_len as u64 / 4
}

fn needs_of(request: &ChatRequest) -> (Needs, u64) {
    let vision = request.messages.iter().any(|m| {
        m.get("content")
            .and_then(Value::as_array)
            .is_some_and(|parts| {
                parts.iter().any(|p| {
                    matches!(
                        p.get("type").and_then(Value::as_str),
                        Some("image_url" | "input_image" | "image")
                    )
                })
            })
    });
    let prompt = prompt_estimate(request);
    let completion = request.max_tokens.unwrap_or(DEFAULT_COMPLETION_RESERVE);
    (
        Needs {
            tools: request.tools,
            vision,
            json: request.json,
            prompt_tokens: prompt,
            reserve_tokens: prompt + completion,
        },
        completion,
    )
}

fn text_of(message: Option<&Value>) -> std::borrow::Cow<'_, str> {
    match message.and_then(|m| m.get("content")) {
        Some(Value::String(s)) => s.into(),
        Some(other) => other.to_string().into(),
        None => "".into(),
    }
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    gw: &Gateway,
    recorder: &mut Recorder,
) -> Result<HttpResponse, ApiError> {
    let caller = admit::authenticate(req, gw, recorder)?;
    let body = read_json(req, payload, gw).await?;
    let request = ChatRequest::parse(body)?;
    let wants_usage = request.wants_usage_chunk();
    let passthrough = || -> Box<dyn Transcode> { Box::new(Passthrough { wants_usage }) };
    let answering = Answering {
        whole: super::types::COMPLETION,
        stream: &passthrough,
    };
    serve(req, gw, recorder, &caller, request, answering).await
}

/// How a surface answers from a chat completion: a whole body, or a stream relayed after
/// its commit point.
pub(crate) struct Answering<'a> {
    pub whole: Whole<'a>,
    pub stream: &'a dyn Fn() -> Box<dyn Transcode>,
}

/// Serves a parsed chat request for an authenticated caller: the key's model check, its
/// quotas, the session's pin and handoff, and the attempt pipeline. Every chat-shaped
/// surface (OpenAI's chat, Anthropic's messages) comes through here and differs only in
/// how it answers.
pub(crate) async fn serve(
    req: &HttpRequest,
    gw: &Gateway,
    recorder: &mut Recorder,
    caller: &Caller,
    request: ChatRequest,
    answering: Answering<'_>,
) -> Result<HttpResponse, ApiError> {
    let catalog = gw.catalog.get();
    let resolved = catalog.resolve(Modality::Chat, &request.model);
    let mapped_to = resolved.as_ref().and_then(|r| r.mapped_to());
    allow_mapped(caller, recorder, &request.model, mapped_to)?;
    recorder.event().stream = request.wants_stream();
    let resolved = resolved.ok_or_else(|| admit::unknown_model(&request.model, Modality::Chat))?;

    let (needs, completion_reserve) = needs_of(&request);
    let quota_tokens = needs.quota_tokens(resolved.routes);
    let quota = admit::reserve_quota(gw, caller, &request.model, quota_tokens)?;
    let messages = &request.messages;
    let system: Vec<std::borrow::Cow<'_, str>> = messages
        .iter()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("system"))
        .map(|m| text_of(Some(m)))
        .collect();
    let system: Vec<&str> = system.iter().map(|s| s.as_ref()).collect();
    let first_user = messages
        .iter()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    let header = req
        .headers()
        .get("x-session-id")
        .and_then(|v| v.to_str().ok());
    let session = session_id(
        caller.api_key_id,
        header,
        &request.model,
        &system,
        &text_of(first_user),
    );
    recorder.event().session_id = Some(session.clone());
    let mut pin = gw.sessions.get(&session, now_millis());
    if pin.is_none()
        && let Some(shared) = &gw.shared
    {
        // In a fleet, a conversation this replica has not served yet may be pinned by
        // another: one read from Redis, kept here after.
        pin = shared
            .session_pin(&session)
            .await
            .and_then(|p| Pin::decode(&p));
        if let Some(pin) = pin {
            gw.sessions.pin(&session, pin, now_millis());
        }
    }
    let prepared = Prepared {
        request,
        needs,
        completion_reserve,
        session,
        pin,
        handoff: resolved.handoff,
    };
    let stream = prepared.request.wants_stream();
    let build = |route: &Route| {
        Ok(prepared.body_for(route)?.map(|body| {
            openai_compat::post_json(
                &gw.http,
                route,
                "/chat/completions",
                body,
                if stream {
                    "text/event-stream"
                } else {
                    "application/json"
                },
            )
        }))
    };
    let call = Call {
        build: &build,
        shape: if stream {
            Shape::Stream(answering.stream)
        } else {
            Shape::Whole(answering.whole)
        },
        needs: prepared.needs,
        pin: prepared.pin,
        fit_context: prepared.handoff && prepared.pin.is_some(),
        on_commit: &|route| prepared.pin_route(gw, route),
        client: ClientSocket::of(req),
    };
    let mut response = drive(
        gw,
        resolved.routes,
        resolved.strategy,
        call,
        recorder,
        quota,
    )
    .await?;
    if let Ok(value) = HeaderValue::from_str(&prepared.session) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(SESSION_HEADER), value);
    }
    Ok(response)
}
