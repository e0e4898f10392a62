//! Streamed chat and legacy completions.
//!
//! The response is held until the first content chunk arrives (the commit point), so an
//! empty stream, an in-band error or a stall before it fails over to the next route without
//! the client seeing anything. After it, chunks are forwarded as they arrive; a stream that
//! breaks ends with an explicit error event, never a clean stop, and counts as a failure of
//! its route. A client that leaves mid-stream ends the upstream call at once.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::{Duration, Instant};

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use bytes::Bytes;
use eventsource_stream::{Event, EventStreamError, Eventsource};
use freeway_wire::usage::AttemptOutcome;
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};
use tokio::time::timeout_at;

use super::attempt::{Attempt, Call, committed};
use super::client::gone;
use super::steps::{failed, penalise, scrub};
use super::{AttemptLog, Gateway};
use crate::providers::Route;
use crate::providers::openai_compat::usage_of;
use crate::providers::upstream;
use crate::routing::cooldown::FailureInfo;
use crate::routing::pool::Reservation;
use crate::routing::{Failure, now_millis};
use crate::tenancy::QuotaReservation;
use crate::usage::{Recorder, millis};

type Events = Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<upstream::Error>>> + Send>>;

/// Holds a 2xx stream until its commit point. `Some`: the client's streaming answer (the
/// relay took the reservations); `None`: the route failed before committing.
pub(super) async fn commit(
    gw: &Gateway,
    call: &Call<'_>,
    out: Box<dyn Transcode>,
    attempt: Attempt<'_>,
    recorder: &mut Recorder,
    log: &mut AttemptLog,
    quota: &mut Option<QuotaReservation>,
) -> Option<HttpResponse> {
    let (route, status, started) = (attempt.route, attempt.status, attempt.started);
    let response = attempt.response;
    let is_sse = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
    if !is_sse {
        let took = started.elapsed();
        failed(
            gw,
            log,
            route,
            Failure::BadResponse,
            Some(status),
            took,
            &[],
        );
        return None;
    }
    let mut events: Events = Box::pin(response.into_stream().eventsource());
    let mut held = VecDeque::new();
    let failure = loop {
        match timeout_at(attempt.deadline, events.next()).await {
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
            gw,
            log,
            route,
            failure,
            Some(status),
            started.elapsed(),
            &[],
        );
        return None;
    }

    let first_token = started.elapsed();
    gw.pool.first_token(
        &route.slots,
        u64::try_from(first_token.as_millis()).unwrap_or(u64::MAX),
    );
    log.succeeded(route, status, first_token);
    committed(call, route, recorder).attempts = log.attempts().to_vec();
    let relay = Relay {
        events,
        held,
        recorder: recorder.take(),
        out,
        idle_timeout: route.provider.stall,
        idle: Box::pin(tokio::time::sleep(route.provider.stall)),
        saw_finish: false,
        end: None,
        left: {
            let client = call.client.clone();
            Box::pin(async move { gone(client.as_ref()).await })
        },
        settle: Some(Settle {
            gw: gw.clone(),
            route: route.clone(),
            reservation: attempt.reservation,
            quota: quota.take(),
            started,
            estimated_prompt: call.needs.prompt_tokens,
        }),
        tokens: None,
    };
    Some(
        HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, HeaderValue::from_static("text/event-stream")))
            .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-cache")))
            .streaming(relay.into_stream()),
    )
}

/// What the ledger needs when the stream ends.
struct Settle {
    gw: Gateway,
    route: Route,
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

/// How a committed stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// `[DONE]`, or the end of a stream whose answer was finished.
    Complete,
    /// The provider broke off, went silent or sent its own error event: a failure of the
    /// route.
    Broken(AttemptOutcome),
    /// The client left.
    Left,
}

/// How a committed stream's chunks reach the client: as the provider sent them (OpenAI's
/// surfaces, [`Passthrough`]) or translated into another API's events. The relay has judged
/// each chunk (JSON, no error) before it gets here, and cuts the credential out of whatever
/// comes back.
pub trait Transcode {
    /// What the client gets for one chunk of the provider's stream; `None` for nothing.
    fn chunk(&mut self, data: &str, chunk: &Value) -> Option<Bytes>;
    /// The end of a complete answer.
    fn finish(&mut self) -> Bytes;
    /// The end of a stream that broke off after the commit point (`code` names why).
    fn error(&mut self, code: &str, message: &str) -> Bytes;
    /// The provider's own error event, which ends the stream.
    fn upstream_error(&mut self, data: &str, event: &Value) -> Bytes;
}

/// What the first choice of a chunk adds: its text (when not empty), its tool call deltas,
/// and the choice itself (for its `finish_reason`). Translating surfaces answer one choice.
pub fn first_choice(chunk: &Value) -> Option<(Option<&str>, &[Value], &Value)> {
    let choice = chunk.get("choices")?.get(0)?;
    let delta = choice.get("delta");
    let text = delta
        .and_then(|d| d.get("content"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let calls = delta
        .and_then(|d| d.get("tool_calls"))
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    Some((text, calls, choice))
}

/// OpenAI's streams, forwarded chunk by chunk as they came.
pub struct Passthrough {
    /// The client asked for the usage chunk.
    pub wants_usage: bool,
}

impl Transcode for Passthrough {
    fn chunk(&mut self, data: &str, chunk: &Value) -> Option<Bytes> {
        // Freeway asked for the usage chunk for its own accounting; a client that did not
        // ask for it does not get it.
        let usage_only = chunk
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty);
        (self.wants_usage || !usage_only).then(|| frame(data))
    }

    fn finish(&mut self) -> Bytes {
        Bytes::from_static(b"data: [DONE]\n\n")
    }

    fn error(&mut self, code: &str, message: &str) -> Bytes {
        let body = json!({"error": {"message": message, "type": "upstream_error", "param": null, "code": code}});
        frame(&body.to_string())
    }

    fn upstream_error(&mut self, data: &str, _: &Value) -> Bytes {
        frame(data)
    }
}

/// The committed part of a stream.
struct Relay {
    events: Events,
    held: VecDeque<(String, Value)>,
    recorder: Recorder,
    out: Box<dyn Transcode>,
    idle_timeout: Duration,
    /// The stall timer, moved on at each event (one timer for the stream, not one an event).
    idle: Pin<Box<tokio::time::Sleep>>,
    saw_finish: bool,
    end: Option<End>,
    /// Resolves when the client leaves: one watch for the whole stream. A watch made anew
    /// for each event cost a timer, and a wake of the reactor, per event.
    left: Pin<Box<dyn Future<Output = ()>>>,
    settle: Option<Settle>,
    /// Prompt and completion tokens, from the usage chunk.
    tokens: Option<(u64, u64)>,
}

enum Next {
    Event(Option<Result<Event, EventStreamError<upstream::Error>>>),
    Stalled,
    Left,
}

impl Relay {
    fn into_stream(self) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
        futures_util::stream::unfold(self, |mut relay| async move {
            relay.next_frame().await.map(|frame| (Ok(frame), relay))
        })
    }

    async fn next_event(&mut self) -> Next {
        // A timeout too long to add to now (centuries) leaves the timer where it was.
        if let Some(at) = tokio::time::Instant::now().checked_add(self.idle_timeout) {
            self.idle.as_mut().reset(at);
        }
        tokio::select! {
            event = self.events.next() => Next::Event(event),
            () = &mut self.idle => Next::Stalled,
            () = &mut self.left => Next::Left,
        }
    }

    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            if self.end.is_some() {
                return None;
            }
            let (data, value) = match self.held.pop_front() {
                Some(held) => held,
                None => match self.next_event().await {
                    Next::Left => {
                        self.end = Some(End::Left);
                        return None;
                    }
                    Next::Stalled => {
                        return Some(self.break_off(
                            AttemptOutcome::Timeout,
                            "stream_stalled",
                            "The provider stopped sending.",
                        ));
                    }
                    Next::Event(Some(Err(_))) => {
                        return Some(self.break_off(
                            AttemptOutcome::StreamBroken,
                            "stream_interrupted",
                            "The provider's stream broke off.",
                        ));
                    }
                    Next::Event(None) if self.saw_finish => {
                        // Some providers end without `[DONE]`; the stream is complete.
                        self.end = Some(End::Complete);
                        return Some(self.out.finish());
                    }
                    Next::Event(None) => {
                        return Some(self.break_off(
                            AttemptOutcome::StreamBroken,
                            "stream_interrupted",
                            "The provider's stream ended before the answer was complete.",
                        ));
                    }
                    Next::Event(Some(Ok(event))) => {
                        if event.data.trim() == "[DONE]" {
                            self.end = Some(End::Complete);
                            return Some(self.out.finish());
                        }
                        match serde_json::from_str::<Value>(&event.data) {
                            Ok(value) => (event.data, value),
                            Err(_) => {
                                return Some(self.break_off(
                                    AttemptOutcome::BadResponse,
                                    "bad_stream_chunk",
                                    "The provider sent a chunk that is not JSON.",
                                ));
                            }
                        }
                    }
                },
            };
            if value.get("error").is_some() {
                // The provider's own error event, forwarded (scrubbed), ends the stream.
                self.recorder.event().error_code = Some("upstream_error_event".into());
                self.end = Some(End::Broken(AttemptOutcome::InBandError));
                let framed = self.out.upstream_error(&data, &value);
                return Some(self.scrubbed(framed));
            }
            if let Some((prompt, completion)) = usage_of(&value) {
                self.tokens = Some((prompt, completion));
                let event = self.recorder.event();
                event.prompt_tokens = Some(prompt);
                event.completion_tokens = Some(completion);
            }
            if value
                .get("choices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| c.get("finish_reason").is_some_and(|r| !r.is_null()))
            {
                self.saw_finish = true;
            }
            if let Some(framed) = self.out.chunk(&data, &value) {
                return Some(self.scrubbed(framed));
            }
        }
    }

    fn break_off(&mut self, outcome: AttemptOutcome, code: &'static str, message: &str) -> Bytes {
        self.end = Some(End::Broken(outcome));
        self.recorder.event().error_code = Some(code.into());
        self.out.error(code, message)
    }

    /// Frames as the client gets them, with the credential cut out of them.
    fn scrubbed(&self, framed: Bytes) -> Bytes {
        match &self.settle {
            Some(settle) => scrub(&settle.route, framed),
            None => framed,
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Dropped by actix without an end: the client went away while a chunk was on its way.
        let end = self.end.unwrap_or(End::Left);
        let Some(settle) = self.settle.take() else {
            return;
        };
        let took = settle.started.elapsed();
        let event = self.recorder.event();
        if self.tokens.is_none() {
            event.prompt_tokens = Some(settle.estimated_prompt);
        }
        // The provider served (part of) this request: the ledger and quotas count it, with
        // the real tokens when the usage chunk arrived, else the prompt's estimate.
        let actual = match self.tokens {
            Some((prompt, completion)) => prompt + completion,
            None if end == End::Left => settle.estimated_prompt,
            None => settle.reservation.tokens(),
        };
        settle.reservation.settle(actual, now_millis());
        if let Some(quota) = settle.quota {
            quota.settle(actual);
        }
        match end {
            End::Complete => {
                settle.gw.pool.succeeded(
                    &settle.route.slots,
                    u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
                    None,
                );
            }
            End::Left => {
                event.status = 499;
                event.error_code = Some("client_disconnected".into());
            }
            End::Broken(outcome) => {
                let failure = match outcome {
                    AttemptOutcome::Timeout => Failure::Timeout,
                    AttemptOutcome::BadResponse => Failure::BadResponse,
                    AttemptOutcome::InBandError => Failure::InBandError,
                    _ => Failure::StreamBroken,
                };
                // The route that broke the stream is cooled like any failed attempt, and
                // the trail says so: the next request goes elsewhere.
                let info = FailureInfo {
                    failure,
                    status: None,
                    daily_quota: false,
                };
                penalise(&settle.gw, &settle.route, &info);
                if let Some(last) = event.attempts.last_mut() {
                    last.outcome = outcome;
                    last.detail = Some("broke off after the commit point".into());
                    last.latency_ms = millis(took);
                }
            }
        }
    }
}

/// One server-sent event of `data` alone.
pub fn frame(data: &str) -> Bytes {
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
