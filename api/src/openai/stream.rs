//! Streaming chat completions.
//!
//! The response is held until the first content chunk arrives (the commit point), so an
//! empty stream, an in-band error or a stall before it fails over to the next route without
//! the client seeing anything. After it, chunks are forwarded as they arrive, and a stream
//! that breaks ends with an explicit error event, never a clean stop.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use bytes::Bytes;
use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};
use tokio::time::timeout_at;

use super::chat::{Outcome, Prepared};
use super::dispatch::{
    self, explain, failed, fill_route, read_upstream, rejected, reserve, transport_failure,
};
use super::error::ApiError;
use super::types::usage_of;
use crate::providers::{Route, openai_compat};
use crate::routing::pool::{PoolState, Reservation, RouteSlots};
use crate::routing::{AttemptLog, Failure, now_millis, parse_retry_after};
use crate::state::AppState;
use crate::tenancy::QuotaReservation;
use crate::usage::{Recorder, millis};

type Events = Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<reqwest::Error>>> + Send>>;

/// Builds the body for one route; `None` when the request cannot fit it.
pub(crate) type BodyFor<'a> = dyn Fn(&Route) -> Result<Option<Vec<u8>>, ApiError> + 'a;

/// What a streaming endpoint (chat, legacy completions) brings to the shared relay.
pub(crate) struct StreamCall<'a> {
    /// Appended to the provider's base URL.
    pub path: &'static str,
    pub body_for: &'a BodyFor<'a>,
    /// Called once a route has committed (the session pins it).
    pub on_commit: &'a dyn Fn(&Route),
    pub reserve_tokens: u64,
    pub estimated_prompt: u64,
    /// The client asked for the usage chunk.
    pub wants_usage: bool,
}

impl Prepared {
    /// A chat request as a stream call.
    pub(crate) fn stream_call<'a>(
        &'a self,
        body_for: &'a BodyFor<'a>,
        on_commit: &'a dyn Fn(&Route),
    ) -> StreamCall<'a> {
        StreamCall {
            path: "/chat/completions",
            body_for,
            on_commit,
            reserve_tokens: self.needs.reserve_tokens,
            estimated_prompt: self.needs.prompt_tokens,
            wants_usage: self.request.wants_usage_chunk(),
        }
    }
}

pub(crate) async fn run(
    state: &AppState,
    call: StreamCall<'_>,
    chain: &[&Route],
    recorder: &mut Recorder,
    log: &mut AttemptLog,
    quota: &mut Option<QuotaReservation>,
) -> Result<HttpResponse, Outcome> {
    for &route in chain {
        if !log.may_try_another() {
            break;
        }
        let Some(body) = (call.body_for)(route)? else {
            log.skipped(
                route,
                "the conversation does not fit its context window".into(),
                None,
            );
            continue;
        };
        let Some(reservation) = reserve(state, route, call.reserve_tokens, log) else {
            continue;
        };
        let started = Instant::now();
        let now = tokio::time::Instant::now();
        let deadline = now
            .checked_add(route.provider.timeout.min(log.remaining()))
            .unwrap_or(now);
        let sent = timeout_at(
            deadline,
            openai_compat::post_json(&state.http, route, call.path, body, "text/event-stream")
                .send(),
        )
        .await;
        let response = match sent {
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
                failed(
                    state,
                    log,
                    route,
                    transport_failure(&error),
                    None,
                    started.elapsed(),
                    &[],
                );
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
            failed(
                state,
                log,
                route,
                Failure::BadResponse,
                Some(status),
                started.elapsed(),
                &[],
            );
            continue;
        }
        let mut events: Events = Box::pin(response.bytes_stream().eventsource());
        let mut held = VecDeque::new();
        let failure = loop {
            match timeout_at(deadline, events.next()).await {
                Err(_) => break Some(Failure::Timeout),
                Ok(None) => break Some(Failure::EmptyStream),
                Ok(Some(Err(_))) => break Some(Failure::StreamBroken),
                Ok(Some(Ok(event))) => {
                    if event.data.trim() == "[DONE]" {
                        break Some(Failure::EmptyStream);
                    }
                    let Ok(value) = serde_json::from_str::<Value>(&event.data) else {
                        break Some(Failure::BadResponse);
                    };
                    if value.get("error").is_some() {
                        break Some(Failure::InBandError);
                    }
                    let commit = has_content(&value);
                    held.push_back((event.data, value));
                    if commit {
                        break None;
                    }
                }
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
        (call.on_commit)(route);
        let ttft = millis(recorder.elapsed());
        let event = recorder.event();
        fill_route(event, route);
        event.status = 200;
        event.ttft_ms = Some(ttft);
        event.attempts = log.attempts().to_vec();
        let relay = Relay {
            events,
            held,
            recorder: recorder.take(),
            wants_usage: call.wants_usage,
            idle_timeout: route.provider.timeout,
            saw_finish: false,
            done: false,
            settle: Some(Settle {
                pool: state.pool.clone(),
                route: route.slots,
                reservation,
                quota: quota.take(),
                started,
                estimated_prompt: call.estimated_prompt,
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

/// What the ledger needs when the stream ends.
struct Settle {
    pool: Arc<PoolState>,
    route: RouteSlots,
    reservation: Reservation,
    /// The caller's quotas, settled with the same count as the pool.
    quota: Option<QuotaReservation>,
    started: Instant,
    estimated_prompt: u64,
}

/// Whether a chunk carries something the client will show: text, a tool call, a refusal or
/// reasoning. A role-only first chunk does not commit.
fn has_content(chunk: &Value) -> bool {
    let non_empty = |v: Option<&Value>| match v {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        _ => false,
    };
    chunk
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|choice| {
            let delta = choice.get("delta");
            let field = |name| delta.and_then(|d: &Value| d.get(name));
            [
                "content",
                "tool_calls",
                "function_call",
                "refusal",
                "reasoning_content",
                "reasoning",
            ]
            .iter()
            .any(|name| non_empty(field(name)))
                || non_empty(choice.get("text"))
        })
}

/// The committed part of a stream.
struct Relay {
    events: Events,
    held: VecDeque<(String, Value)>,
    recorder: Recorder,
    wants_usage: bool,
    idle_timeout: Duration,
    saw_finish: bool,
    done: bool,
    settle: Option<Settle>,
    /// Prompt and completion tokens, from the usage chunk.
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
                None => {
                    match tokio::time::timeout(self.idle_timeout, self.events.next()).await {
                        Err(_) => {
                            return Some(
                                self.break_off("stream_stalled", "The provider stopped sending."),
                            );
                        }
                        Ok(Some(Err(_))) => {
                            return Some(self.break_off(
                                "stream_interrupted",
                                "The provider's stream broke off.",
                            ));
                        }
                        Ok(None) if self.saw_finish => {
                            // Some providers end without `[DONE]`; the stream is complete.
                            self.done = true;
                            return Some(Bytes::from_static(b"data: [DONE]\n\n"));
                        }
                        Ok(None) => {
                            return Some(self.break_off(
                                "stream_interrupted",
                                "The provider's stream ended before the answer was complete.",
                            ));
                        }
                        Ok(Some(Ok(event))) => {
                            if event.data.trim() == "[DONE]" {
                                self.done = true;
                                return Some(Bytes::from_static(b"data: [DONE]\n\n"));
                            }
                            match serde_json::from_str::<Value>(&event.data) {
                                Ok(value) => (event.data, value),
                                Err(_) => {
                                    return Some(self.break_off(
                                        "bad_stream_chunk",
                                        "The provider sent a chunk that is not JSON.",
                                    ));
                                }
                            }
                        }
                    }
                }
            };
            if value.get("error").is_some() {
                // The provider's own error event, forwarded as it is, ends the stream.
                self.recorder.event().error_code = Some("upstream_error_event".into());
                self.done = true;
                return Some(frame(&data));
            }
            if let Some((prompt, completion)) = usage_of(&value) {
                self.tokens = Some((prompt, completion));
                let event = self.recorder.event();
                event.prompt_tokens = Some(prompt);
                event.completion_tokens = Some(completion);
            }
            let choices = value.get("choices").and_then(Value::as_array);
            if choices
                .into_iter()
                .flatten()
                .any(|c| c.get("finish_reason").is_some_and(|r| !r.is_null()))
            {
                self.saw_finish = true;
            }
            // Freeway asked for the usage chunk for its own accounting; a client that did
            // not ask for it does not get it.
            if !self.wants_usage && choices.is_some_and(Vec::is_empty) {
                continue;
            }
            return Some(frame(&data));
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
                .map(|(p, c)| p + c)
                .unwrap_or_else(|| settle.reservation.tokens());
            if self.tokens.is_none() {
                self.recorder.event().prompt_tokens = Some(settle.estimated_prompt);
            }
            settle.reservation.settle(actual, now_millis());
            if let Some(quota) = settle.quota {
                quota.settle(actual);
            }
            settle.pool.succeeded(
                &settle.route,
                u64::try_from(settle.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            );
        }
    }
}

fn frame(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_point() {
        assert!(!has_content(
            &json!({"choices": [{"delta": {"role": "assistant", "content": ""}}]})
        ));
        assert!(has_content(
            &json!({"choices": [{"delta": {"content": "Hi"}}]})
        ));
        assert!(has_content(
            &json!({"choices": [{"delta": {"tool_calls": [{"index": 0}]}}]})
        ));
        assert!(has_content(
            &json!({"choices": [{"delta": {"reasoning_content": "hmm"}}]})
        ));
        assert!(!has_content(
            &json!({"choices": [], "usage": {"prompt_tokens": 1}})
        ));
        assert!(!has_content(
            &json!({"choices": [{"delta": {}, "finish_reason": "stop"}]})
        ));
        // Legacy completions commit on their first text.
        assert!(!has_content(
            &json!({"choices": [{"text": "", "index": 0}]})
        ));
        assert!(has_content(
            &json!({"choices": [{"text": "Hi", "index": 0}]})
        ));
    }
}
