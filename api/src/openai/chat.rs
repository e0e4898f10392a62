//! `POST /v1/chat/completions`.

use std::time::Instant;

use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::Value;

use super::body::{read_limited, require_json};
use super::dispatch::{
    self, MAX_UPSTREAM_BODY, authenticate, check_allowed, explain, failed, fill_route, plan_chain,
    read_upstream, rejected, reserve, reserve_quota, settle, settle_quota, transport_failure,
    unknown_model,
};
use super::error::ApiError;
use super::types::{ChatCompletionRequest, usage_of};
use super::{SESSION_HEADER, request_id_header, stream};
use crate::providers::{Modality, Route, openai_compat};
use crate::routing::chain::{DEFAULT_COMPLETION_RESERVE, Needs};
use crate::routing::handoff::{estimate_tokens, hand_off};
use crate::routing::session::{Pin, session_id};
use crate::routing::{AttemptLog, Failure, now_millis, parse_retry_after};
use crate::state::AppState;
use crate::usage::{Recorder, millis};

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
        (status = 200, description = "The provider's completion, passed through unchanged; `text/event-stream` of `ChatCompletionChunk` events when `stream` is true. Headers `x-freeway-route`, `x-freeway-attempts`, `x-freeway-session` explain it",
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
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut recorder = Recorder::start(&state.usage, "chat.completions");
    let request_id = recorder.id();
    let mut response = match handle(&req, payload, &state, &mut recorder).await {
        Ok(response) => response,
        Err(error) => {
            let event = recorder.event();
            event.status = error.status.as_u16();
            event.error_code = Some(error.code.to_string());
            error.error_response()
        }
    };
    request_id_header(&mut response, request_id);
    response
}

/// A parsed request with what routing needs to know about it.
pub(crate) struct Prepared {
    pub request: ChatCompletionRequest,
    pub messages: Vec<Value>,
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
        let fitted;
        let request = if moving {
            let Some(messages) = hand_off(
                &self.messages,
                route.info.context_window,
                self.completion_reserve,
            ) else {
                return Ok(None);
            };
            let mut copy = self.request.clone();
            copy.messages = serde_json::from_value(Value::Array(messages)).map_err(|e| {
                ApiError::invalid("invalid_request", format!("Invalid messages: {e}."))
            })?;
            fitted = copy;
            &fitted
        } else {
            &self.request
        };
        request.upstream_body(&route.model).map(Some).map_err(|e| {
            ApiError::invalid("invalid_request", format!("Invalid request body: {e}."))
        })
    }

    pub fn pin_route(&self, state: &AppState, route: &Route) {
        let pin = Pin {
            model: route.info.id,
            credential: route.credential.as_ref().map(|c| c.id),
        };
        state.sessions.pin(&self.session, pin, now_millis());
    }
}

fn needs_of(request: &ChatCompletionRequest, messages: &[Value]) -> (Needs, u64) {
    let non_empty = |key: &str| match request.extra.get(key) {
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Null) | None => false,
        Some(_) => true,
    };
    let tools = non_empty("tools") || non_empty("functions");
    let vision = messages.iter().any(|m| {
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
    let json = matches!(
        request
            .extra
            .get("response_format")
            .and_then(|f| f.get("type"))
            .and_then(Value::as_str),
        Some("json_object" | "json_schema")
    );
    let tool_tokens = request
        .extra
        .get("tools")
        .map_or(0, |t| t.to_string().len() as u64 / 4);
    let prompt = estimate_tokens(messages) + tool_tokens;
    let completion = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| request.extra.get(*k).and_then(Value::as_u64))
        .unwrap_or(DEFAULT_COMPLETION_RESERVE);
    (
        Needs {
            tools,
            vision,
            json,
            prompt_tokens: prompt,
            reserve_tokens: prompt + completion,
        },
        completion,
    )
}

fn text_of(message: Option<&Value>) -> String {
    match message.and_then(|m| m.get("content")) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    recorder: &mut Recorder,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(req, state, recorder)?;
    require_json(req)?;
    let body = read_limited(req, payload, state.config.max_body_bytes).await?;
    let request = ChatCompletionRequest::parse(&body)?;
    recorder.event().requested_model = Some(request.model.clone());
    recorder.event().stream = request.wants_stream();
    check_allowed(&caller, &request.model)?;
    let catalog = state.catalog.get();
    let resolved = catalog
        .resolve(Modality::Chat, &request.model)
        .ok_or_else(|| unknown_model(&request.model, Modality::Chat))?;

    let messages: Vec<Value> = request
        .messages
        .iter()
        .filter_map(|m| serde_json::to_value(m).ok())
        .collect();
    let (needs, completion_reserve) = needs_of(&request, &messages);
    // Taken by a committed stream, which settles it when the stream ends.
    let mut quota = Some(reserve_quota(
        state,
        &caller,
        &request.model,
        needs.reserve_tokens,
    )?);
    let system: Vec<String> = messages
        .iter()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("system"))
        .map(|m| text_of(Some(m)))
        .collect();
    let first_user = messages
        .iter()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    let header = req
        .headers()
        .get("x-session-id")
        .and_then(|v| v.to_str().ok());
    let prepared_model = request.model.clone();
    let session = session_id(
        caller.api_key_id,
        header,
        &prepared_model,
        &system.join("\n"),
        &text_of(first_user),
    );
    recorder.event().session_id = Some(session.clone());
    let pin = state.sessions.get(&session, now_millis());
    let prepared = Prepared {
        request,
        messages,
        needs,
        completion_reserve,
        session,
        pin,
        handoff: resolved.handoff,
    };

    let mut log = AttemptLog::new(state.config.request_budget(), state.config.max_attempts);
    let fit_context = prepared.handoff && prepared.pin.is_some();
    let plan = match plan_chain(
        state,
        resolved.routes,
        &prepared.needs,
        prepared.pin,
        fit_context,
        &mut log,
    ) {
        Ok(plan) => plan,
        Err(error) => {
            recorder.event().attempts = log.attempts().to_vec();
            return Err(error);
        }
    };
    let chain_len = resolved.routes.len();
    let result = if prepared.request.wants_stream() {
        let body_for = |route: &Route| prepared.body_for(route);
        let on_commit = |route: &Route| prepared.pin_route(state, route);
        stream::run(
            state,
            prepared.stream_call(&body_for, &on_commit),
            &plan.candidates,
            recorder,
            &mut log,
            &mut quota,
        )
        .await
    } else {
        complete(state, &prepared, &plan.candidates, recorder, &mut log).await
    };
    recorder.event().attempts = log.attempts().to_vec();
    if let Some(quota) = quota.take() {
        settle_quota(quota, recorder.event());
    }
    let mut response = match result {
        Ok(response) => response,
        Err(Outcome::Answer(response)) => response,
        Err(Outcome::Error(error)) => return Err(error),
        Err(Outcome::Exhausted) => return Err(dispatch::exhausted(&log, chain_len)),
    };
    if let Ok(value) = HeaderValue::from_str(&prepared.session) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(SESSION_HEADER), value);
    }
    Ok(response)
}

/// How an attempt loop ended without a successful answer.
pub(crate) enum Outcome {
    /// An upstream answer that is the client's to see (its request was at fault).
    Answer(HttpResponse),
    Error(ApiError),
    /// Every route failed or the bounds were reached.
    Exhausted,
}

impl From<ApiError> for Outcome {
    fn from(error: ApiError) -> Self {
        Outcome::Error(error)
    }
}

async fn complete(
    state: &AppState,
    prepared: &Prepared,
    chain: &[&Route],
    recorder: &mut Recorder,
    log: &mut AttemptLog,
) -> Result<HttpResponse, Outcome> {
    for &route in chain {
        if !log.may_try_another() {
            break;
        }
        let Some(body) = prepared.body_for(route)? else {
            log.skipped(
                route,
                "the conversation does not fit its context window".into(),
                None,
            );
            continue;
        };
        let Some(reservation) = reserve(state, route, prepared.needs.reserve_tokens, log) else {
            continue;
        };
        let started = Instant::now();
        let timeout = route.provider.timeout.min(log.remaining());
        let exchange = tokio::time::timeout(timeout, async {
            let response = openai_compat::chat_request(&state.http, route, body, false)
                .send()
                .await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let bytes = read_upstream(response, MAX_UPSTREAM_BODY).await?;
            Ok::<_, reqwest::Error>((status, headers, bytes))
        })
        .await;
        let took = started.elapsed();
        let (status, headers, bytes) = match exchange {
            Err(_) => {
                failed(state, log, route, Failure::Timeout, None, took, &[]);
                continue;
            }
            Ok(Err(error)) => {
                failed(
                    state,
                    log,
                    route,
                    transport_failure(&error),
                    None,
                    took,
                    &[],
                );
                continue;
            }
            Ok(Ok(exchange)) => exchange,
        };
        dispatch::learn(state, route, &headers);
        if (200..300).contains(&status) {
            let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
            let usable = parsed
                .as_ref()
                .is_some_and(|v| v.get("error").is_none() && v.get("choices").is_some());
            let Some(value) = parsed.filter(|_| usable) else {
                failed(
                    state,
                    log,
                    route,
                    Failure::BadResponse,
                    Some(status),
                    took,
                    &bytes,
                );
                continue;
            };
            log.succeeded(route, status, took);
            let usage = usage_of(&value);
            settle(state, route, reservation, usage.map(|(p, c)| p + c), took);
            prepared.pin_route(state, route);
            let ttft = millis(recorder.elapsed());
            let event = recorder.event();
            fill_route(event, route);
            event.status = 200;
            if let Some((prompt, completion)) = usage {
                event.prompt_tokens = Some(prompt);
                event.completion_tokens = Some(completion);
            } else {
                // No usage from the provider: record the estimate rather than nothing.
                event.prompt_tokens = Some(prepared.needs.prompt_tokens);
            }
            event.ttft_ms = Some(ttft);
            let mut response = HttpResponse::Ok()
                .insert_header((CONTENT_TYPE, "application/json"))
                .body(bytes);
            explain(&mut response, route, log);
            return Ok(response);
        }
        let retry_after = parse_retry_after(
            headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        );
        drop(reservation);
        if let Some(answer) = rejected(
            state,
            route,
            status,
            retry_after,
            bytes,
            took,
            recorder,
            log,
        ) {
            return Err(Outcome::Answer(answer));
        }
    }
    Err(Outcome::Exhausted)
}
