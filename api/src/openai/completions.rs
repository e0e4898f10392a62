//! `POST /v1/completions`, the legacy text completion: `prompt` instead of `messages`,
//! served by the chat models' routes at the provider's `/completions`.
//!
//! A stream is held until its first chunk with text (the commit point), so an empty stream,
//! an in-band error or a stall before it fails over; after it, chunks are forwarded as they
//! arrive and a stream that breaks ends with an explicit error event.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::time::timeout_at;

use super::body::{read_limited, require_json};
use super::chat::Outcome;
use super::dispatch::{
    self, authenticate, explain, failed, fill_route, read_upstream, rejected, reserve,
    reserve_quota, settle_quota, transport_failure, unknown_model,
};
use super::embeddings::{missing, require_model};
use super::error::ApiError;
use super::passthrough::{self, Answer, Verdict, allow, estimate};
use super::types::{StreamOptions, usage_of};
use crate::providers::{Modality, Route, openai_compat};
use crate::routing::chain::Needs;
use crate::routing::pool::{PoolState, Reservation, RouteSlots};
use crate::routing::{AttemptLog, Failure, now_millis, parse_retry_after};
use crate::state::AppState;
use crate::tenancy::QuotaReservation;
use crate::usage::{Recorder, millis};

/// Completion tokens reserved without `max_tokens`: the legacy endpoint's own default.
const DEFAULT_MAX_TOKENS: u64 = 16;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompletionRequest {
    /// A chat model id from `GET /v1/models`, `provider/model`, or an alias.
    pub model: String,
    /// A string, an array of strings, or token arrays.
    #[schema(value_type = Object)]
    pub prompt: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Everything else (`max_tokens`, `temperature`, `suffix`, ...), forwarded as sent.
    #[serde(flatten)]
    #[schema(value_type = Object)]
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
            .unwrap_or(DEFAULT_MAX_TOKENS);
        Needs {
            prompt_tokens: prompt,
            reserve_tokens: prompt + completion,
            ..Needs::default()
        }
    }
}

#[utoipa::path(
    post,
    path = "/v1/completions",
    tag = "openai",
    request_body = CompletionRequest,
    responses(
        (status = 200, description = "The provider's text completion, passed through unchanged; `text/event-stream` when `stream` is true. Headers `x-freeway-route`, `x-freeway-attempts` explain it"),
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
    state: web::Data<AppState>,
) -> HttpResponse {
    passthrough::respond("completions", &state, async |recorder| {
        let caller = authenticate(&req, &state, recorder)?;
        require_json(&req)?;
        let body = read_limited(&req, payload, state.config.max_body_bytes).await?;
        let request = CompletionRequest::parse(&body)?;
        allow(&caller, recorder, &request.model)?;
        recorder.event().stream = request.wants_stream();
        let catalog = state.catalog.get();
        let resolved = catalog
            .resolve(Modality::Chat, &request.model)
            .ok_or_else(|| unknown_model(&request.model, Modality::Chat))?;
        let needs = request.needs();
        // Taken by a committed stream, which settles it when the stream ends.
        let mut quota = Some(reserve_quota(
            &state,
            &caller,
            &request.model,
            needs.reserve_tokens,
        )?);
        let result = if request.wants_stream() {
            passthrough::chain(
                &state,
                resolved.routes,
                &needs,
                recorder,
                async |candidates, recorder, log| {
                    stream(
                        &state, &request, &needs, candidates, recorder, log, &mut quota,
                    )
                    .await
                },
            )
            .await
        } else {
            passthrough::run(
                &state,
                resolved.routes,
                &needs,
                recorder,
                |route| {
                    let body = request.upstream_body(&route.model)?;
                    Ok(openai_compat::post_json(
                        &state.http,
                        route,
                        "/completions",
                        body,
                        "application/json",
                    ))
                },
                check,
                |_, answer| {
                    HttpResponse::Ok()
                        .insert_header((CONTENT_TYPE, "application/json"))
                        .body(answer.bytes)
                },
            )
            .await
        };
        if let Some(quota) = quota.take() {
            settle_quota(quota, recorder.event());
        }
        result
    })
    .await
}

/// A usable completion is JSON with `choices`.
fn check(answer: &Answer) -> Verdict {
    let value: Value = serde_json::from_slice(&answer.bytes).map_err(|_| "not_json")?;
    if value.get("error").is_some() {
        return Err("error_in_body");
    }
    if !value.get("choices").is_some_and(Value::is_array) {
        return Err("no_choices");
    }
    Ok(usage_of(&value))
}

type Events = Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<reqwest::Error>>> + Send>>;

async fn stream(
    state: &AppState,
    request: &CompletionRequest,
    needs: &Needs,
    chain: &[&Route],
    recorder: &mut Recorder,
    log: &mut AttemptLog,
    quota: &mut Option<QuotaReservation>,
) -> Result<HttpResponse, Outcome> {
    for &route in chain {
        if !log.may_try_another() {
            break;
        }
        let body = request.upstream_body(&route.model)?;
        let Some(reservation) = reserve(state, route, needs.reserve_tokens, log) else {
            continue;
        };
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + route.provider.timeout.min(log.remaining());
        let call = openai_compat::post_json(
            &state.http,
            route,
            "/completions",
            body,
            "text/event-stream",
        );
        let response = match timeout_at(deadline, call.send()).await {
            Err(_) => {
                failed(
                    state,
                    log,
                    route,
                    Failure::Timeout,
                    None,
                    started.elapsed(),
                    &[],
                );
                continue;
            }
            Ok(Err(error)) => {
                let failure = transport_failure(&error);
                failed(state, log, route, failure, None, started.elapsed(), &[]);
                continue;
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        dispatch::learn(state, route, response.headers());
        if !(200..300).contains(&status) {
            let retry_after = parse_retry_after(
                response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()),
            );
            let bytes = timeout_at(deadline, read_upstream(response, 1024 * 1024))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            drop(reservation);
            let took = started.elapsed();
            match rejected(
                state,
                route,
                status,
                retry_after,
                bytes,
                took,
                recorder,
                log,
            ) {
                Some(answer) => return Err(Outcome::Answer(answer)),
                None => continue,
            }
        }
        let is_sse = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if !is_sse {
            let took = started.elapsed();
            failed(
                state,
                log,
                route,
                Failure::BadResponse,
                Some(status),
                took,
                &[],
            );
            continue;
        }
        let mut events: Events = Box::pin(response.bytes_stream().eventsource());
        let mut held = Vec::new();
        let failure = loop {
            let event = match timeout_at(deadline, events.next()).await {
                Err(_) => break Some(Failure::Timeout),
                Ok(None) => break Some(Failure::EmptyStream),
                Ok(Some(Err(_))) => break Some(Failure::StreamBroken),
                Ok(Some(Ok(event))) => event,
            };
            if event.data.trim() == "[DONE]" {
                break Some(Failure::EmptyStream);
            }
            let Ok(value) = serde_json::from_str::<Value>(&event.data) else {
                break Some(Failure::BadResponse);
            };
            if value.get("error").is_some() {
                break Some(Failure::InBandError);
            }
            let commit = has_text(&value);
            held.push((event.data, value));
            if commit {
                break None;
            }
        };
        if let Some(failure) = failure {
            failed(
                state,
                log,
                route,
                failure,
                Some(status),
                started.elapsed(),
                &[],
            );
            continue;
        }

        log.succeeded(route, status, started.elapsed());
        let ttft = millis(recorder.elapsed());
        let event = recorder.event();
        fill_route(event, route);
        event.status = 200;
        event.ttft_ms = Some(ttft);
        event.attempts = log.attempts().to_vec();
        let relay = Relay {
            events,
            held: held.into_iter().collect(),
            recorder: recorder.take(),
            wants_usage: request
                .stream_options
                .as_ref()
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
            idle_timeout: route.provider.timeout,
            saw_finish: false,
            done: false,
            settle: Some(Settle {
                pool: state.pool.clone(),
                slots: route.slots,
                reservation,
                quota: quota.take(),
                started,
                estimated_prompt: needs.prompt_tokens,
            }),
            tokens: None,
        };
        let mut response = HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, "text/event-stream"))
            .insert_header((CACHE_CONTROL, "no-cache"))
            .streaming(relay.into_stream());
        explain(&mut response, route, log);
        return Ok(response);
    }
    Err(Outcome::Exhausted)
}

/// The commit point: a chunk with some text.
fn has_text(chunk: &Value) -> bool {
    chunk
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.get("text")
                .and_then(Value::as_str)
                .is_some_and(|t| !t.is_empty())
        })
}

/// What the ledger needs when the stream ends.
struct Settle {
    pool: Arc<PoolState>,
    slots: RouteSlots,
    reservation: Reservation,
    /// The caller's quotas, settled with the same count as the pool.
    quota: Option<QuotaReservation>,
    started: Instant,
    estimated_prompt: u64,
}

/// The committed part of a stream.
struct Relay {
    events: Events,
    held: std::collections::VecDeque<(String, Value)>,
    recorder: Recorder,
    wants_usage: bool,
    idle_timeout: Duration,
    saw_finish: bool,
    done: bool,
    settle: Option<Settle>,
    tokens: Option<(u64, u64)>,
}

impl Relay {
    fn into_stream(self) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
        futures_util::stream::unfold(self, |mut relay| async move {
            relay.next_frame().await.map(|frame| (Ok(frame), relay))
        })
    }

    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            if self.done {
                return None;
            }
            let (data, value) = match self.held.pop_front() {
                Some(held) => held,
                None => match self.next_event().await {
                    Ok(Some(next)) => next,
                    Ok(None) => {
                        self.done = true;
                        return Some(Bytes::from_static(b"data: [DONE]\n\n"));
                    }
                    Err(frame) => return Some(frame),
                },
            };
            if value.get("error").is_some() {
                // The provider's own error event, forwarded as it is, ends the stream.
                self.recorder.event().error_code = Some("upstream_error_event".into());
                self.done = true;
                return Some(frame(&data));
            }
            if let Some(tokens) = usage_of(&value) {
                self.tokens = Some(tokens);
                let event = self.recorder.event();
                event.prompt_tokens = Some(tokens.0);
                event.completion_tokens = Some(tokens.1);
            }
            let choices = value.get("choices").and_then(Value::as_array);
            if choices
                .into_iter()
                .flatten()
                .any(|c| c.get("finish_reason").is_some_and(|r| !r.is_null()))
            {
                self.saw_finish = true;
            }
            // The usage chunk was asked for Freeway's accounting, not the client's.
            if !self.wants_usage && choices.is_some_and(Vec::is_empty) {
                continue;
            }
            return Some(frame(&data));
        }
    }

    /// The next chunk; `Ok(None)` at a clean end; `Err` with the error event that ends a
    /// broken stream.
    async fn next_event(&mut self) -> Result<Option<(String, Value)>, Bytes> {
        let event = match tokio::time::timeout(self.idle_timeout, self.events.next()).await {
            Err(_) => return Err(self.break_off("stream_stalled", "The provider stopped sending.")),
            Ok(Some(Err(_))) => {
                return Err(
                    self.break_off("stream_interrupted", "The provider's stream broke off.")
                );
            }
            // Some providers end without `[DONE]`; after a finish the stream is complete.
            Ok(None) if self.saw_finish => return Ok(None),
            Ok(None) => {
                return Err(self.break_off(
                    "stream_interrupted",
                    "The provider's stream ended before the answer was complete.",
                ));
            }
            Ok(Some(Ok(event))) => event,
        };
        if event.data.trim() == "[DONE]" {
            return Ok(None);
        }
        match serde_json::from_str::<Value>(&event.data) {
            Ok(value) => Ok(Some((event.data, value))),
            Err(_) => Err(self.break_off(
                "bad_stream_chunk",
                "The provider sent a chunk that is not JSON.",
            )),
        }
    }

    fn break_off(&mut self, code: &'static str, message: &str) -> Bytes {
        self.done = true;
        self.recorder.event().error_code = Some(code.into());
        let body = json!({"error": {"message": message, "type": "upstream_error", "param": null, "code": code}});
        frame(&body.to_string())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if !self.done {
            self.recorder.event().error_code = Some("client_disconnected".into());
        }
        // The provider served (part of) this request: it counts, with the real tokens when
        // the usage chunk arrived, else the estimate.
        if let Some(settle) = self.settle.take() {
            let actual = self
                .tokens
                .map_or_else(|| settle.reservation.tokens(), |(p, c)| p + c);
            if self.tokens.is_none() {
                self.recorder.event().prompt_tokens = Some(settle.estimated_prompt);
            }
            settle.reservation.settle(actual, now_millis());
            if let Some(quota) = settle.quota {
                quota.settle(actual);
            }
            let took = u64::try_from(settle.started.elapsed().as_millis()).unwrap_or(u64::MAX);
            settle.pool.succeeded(&settle.slots, took);
        }
    }
}

fn frame(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn commit_point_is_the_first_text() {
        assert!(!has_text(&json!({"choices": [{"text": "", "index": 0}]})));
        assert!(!has_text(
            &json!({"choices": [], "usage": {"prompt_tokens": 1}})
        ));
        assert!(has_text(&json!({"choices": [{"text": "Hi", "index": 0}]})));
    }

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
        assert_eq!(missing.param, Some("prompt"));
    }
}
