//! The attempt driver: for each candidate of the chain, reserve its capacity, call it within
//! the time left, learn from its headers, classify what came back, cool it down or accept
//! it, and settle. Every surface runs through here; what differs between them is how the
//! upstream request is built for a route and what a 2xx is (a whole body judged by the
//! surface, or a stream held until its commit point).

use std::time::Instant;

use actix_web::HttpResponse;
use bytes::Bytes;
use tokio::time::{Instant as Deadline, timeout_at};

use super::client::{ClientSocket, gone};
use super::error::ApiError;
use super::relay;
use super::steps::{
    MAX_UPSTREAM_BODY, explain, failed, fill_route, learn, plan_chain, read_upstream, rejected,
    reserve, settle, transport_failure,
};
use super::{AttemptLog, Gateway, admit};
use crate::gateway::chain::Needs;
use crate::providers::Route;
use crate::providers::upstream::{self, Incoming, Outgoing};
use crate::routing::pool::Reservation;
use crate::routing::session::Pin;
use crate::routing::strategy::Strategy;
use crate::routing::{Failure, parse_retry_after};
use crate::tenancy::QuotaReservation;
use crate::usage::{Recorder, UsageEvent, millis};

/// A provider's usable 2xx answer.
pub struct Answer {
    pub headers: reqwest::header::HeaderMap,
    pub bytes: Bytes,
}

impl Answer {
    /// The provider's content type, or `fallback` when it sent none.
    pub fn content_type(&self, fallback: &'static str) -> String {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(fallback)
            .to_string()
    }
}

/// What a surface makes of a whole 2xx body: the prompt and completion tokens it reports,
/// or why it is not an answer (kept as the attempt's detail).
pub type Verdict = Result<Option<(u64, u64)>, &'static str>;

/// A surface whose answer is one upstream body: it judges the body and shapes the client's
/// response from the accepted one.
pub struct Whole<'a> {
    pub check: &'a dyn Fn(&Answer) -> Verdict,
    pub answer: &'a dyn Fn(&Route, Answer) -> Result<HttpResponse, ApiError>,
}

/// What a 2xx is for this call.
pub enum Shape<'a> {
    Whole(Whole<'a>),
    /// Server-sent chat or completion chunks, held until the commit point and then relayed
    /// through what this makes (one for the stream that commits).
    Stream(&'a dyn Fn() -> Box<dyn relay::Transcode>),
}

/// Builds the upstream request for one route; `None` when the request cannot fit it.
pub type Build<'a> = dyn Fn(&Route) -> Result<Option<Outgoing>, ApiError> + 'a;

/// One request through the pipeline.
pub struct Call<'a> {
    pub build: &'a Build<'a>,
    pub shape: Shape<'a>,
    pub needs: Needs,
    /// A conversation's pinned route, tried first.
    pub pin: Option<Pin>,
    /// Whether routes whose window cannot hold the conversation are passed over.
    pub fit_context: bool,
    /// Called once a route has served (the session pins it).
    pub on_commit: &'a dyn Fn(&Route),
    /// The client's connection, watched while the request waits on a provider.
    pub client: Option<ClientSocket>,
}

/// How an attempt loop ended without a successful answer.
pub enum Outcome {
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

/// Plans `routes` and runs `call` through them. The attempt trail goes on the usage event;
/// the quota reservation is settled here unless a committed stream took it. A client that
/// leaves while this waits on a provider cancels the call in flight: its reservations are
/// given back, no route is blamed, and the event says 499.
pub async fn drive(
    gw: &Gateway,
    routes: &[Route],
    strategy: Strategy,
    call: Call<'_>,
    recorder: &mut Recorder,
    quota: QuotaReservation,
) -> Result<HttpResponse, ApiError> {
    let mut log = AttemptLog::new(gw.config.request_budget(), gw.config.max_attempts);
    log.strategy = strategy;
    let mut quota = Some(quota);
    let result = match plan_chain(
        gw,
        routes,
        &call.needs,
        call.pin,
        call.fit_context,
        &mut log,
    ) {
        Ok(plan) => {
            let attempts = attempts(gw, &call, &plan.candidates, recorder, &mut log, &mut quota);
            tokio::select! {
                result = attempts => result,
                () = gone(call.client.as_ref()) => Err(Outcome::Error(ApiError::client_disconnected())),
            }
        }
        Err(error) => Err(Outcome::Error(error)),
    };
    let result = match result {
        Ok(response) | Err(Outcome::Answer(response)) => Ok(response),
        Err(Outcome::Error(error)) => Err(error),
        Err(Outcome::Exhausted) => Err(ApiError::exhausted(
            &log.exhausted(routes.len(), crate::routing::now_millis()),
        )),
    };
    recorder.event().attempts = log.into_attempts();
    if let Some(quota) = quota.take() {
        admit::settle_quota(quota, recorder.event());
    }
    result
}

async fn attempts(
    gw: &Gateway,
    call: &Call<'_>,
    chain: &[&Route],
    recorder: &mut Recorder,
    log: &mut AttemptLog,
    quota: &mut Option<QuotaReservation>,
) -> Result<HttpResponse, Outcome> {
    for &route in chain {
        if !log.may_try_another() {
            break;
        }
        let Some(request) = (call.build)(route)? else {
            log.skipped(
                route,
                "the conversation does not fit its context window".into(),
                None,
            );
            continue;
        };
        let tokens = call.needs.tokens_for(route);
        let reservation = match &gw.shared {
            None => reserve(gw, route, tokens, log),
            Some(shared) => super::steps::reserve_shared(gw, shared, route, tokens, log, quota)
                .await
                .map_err(Outcome::Error)?,
        };
        let Some(reservation) = reservation else {
            continue;
        };
        let request = request.with_request_id(recorder.request_id().as_str());
        let started = Instant::now();
        let now = Deadline::now();
        // The head (and a stream's first event) within the first-byte timeout; a whole
        // answer within the longer of it and the provider's timeout.
        let provider = &route.provider;
        let within_at_most =
            |d: std::time::Duration| now.checked_add(d.min(log.remaining())).unwrap_or(now);
        let deadline = within_at_most(provider.first_byte);
        let whole = within_at_most(provider.first_byte.max(provider.timeout));
        let response = match within(deadline, gw.http.send(request)).await {
            Ok(response) => response,
            Err(failure) => {
                failed(gw, log, route, failure, None, started.elapsed(), &[]);
                continue;
            }
        };
        let status = response.status();
        learn(gw, route, response.headers());
        if !(200..300).contains(&status) {
            let retry_after = parse_retry_after(
                response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()),
            );
            let bytes = within(whole, read_upstream(response, 1024 * 1024))
                .await
                .unwrap_or_default();
            drop(reservation);
            let took = started.elapsed();
            match rejected(gw, route, status, retry_after, bytes, took, recorder, log) {
                Some(answer) => return Err(Outcome::Answer(answer)),
                None => continue,
            }
        }
        let attempt = Attempt {
            route,
            response,
            status,
            started,
            deadline,
            whole,
            reservation,
        };
        let served = match &call.shape {
            Shape::Whole(whole) => whole_answer(gw, call, whole, attempt, recorder, log).await?,
            Shape::Stream(transcode) => {
                relay::commit(gw, call, transcode(), attempt, recorder, log, quota).await
            }
        };
        if let Some(mut response) = served {
            explain(&mut response, route, log);
            return Ok(response);
        }
    }
    Err(Outcome::Exhausted)
}

/// Awaits an upstream step until `deadline`: a timeout or a transport error is the route's
/// failure.
async fn within<T>(
    deadline: Deadline,
    step: impl Future<Output = Result<T, upstream::Error>>,
) -> Result<T, Failure> {
    match timeout_at(deadline, step).await {
        Err(_) => Err(Failure::Timeout),
        Ok(Err(error)) => Err(transport_failure(&error)),
        Ok(Ok(value)) => Ok(value),
    }
}

/// `route` has served (or, streaming, reached its commit point): the session pins it and
/// the usage event names it, with the time to this first answer.
pub(super) fn committed<'e>(
    call: &Call<'_>,
    route: &Route,
    recorder: &'e mut Recorder,
) -> &'e mut UsageEvent {
    (call.on_commit)(route);
    let ttft = millis(recorder.elapsed());
    fill_route(recorder, route);
    let event = recorder.event();
    event.status = 200;
    event.ttft_ms = Some(ttft);
    event
}

/// A 2xx head from one route, its body still to read.
pub(super) struct Attempt<'r> {
    pub route: &'r Route,
    pub response: Incoming,
    pub status: u16,
    pub started: Instant,
    /// For the head, and a stream's first event.
    pub deadline: Deadline,
    /// For a whole answer's body.
    pub whole: Deadline,
    pub reservation: Reservation,
}

/// Reads and judges a whole answer; `None` when the route failed and the next is tried.
async fn whole_answer(
    gw: &Gateway,
    call: &Call<'_>,
    whole: &Whole<'_>,
    attempt: Attempt<'_>,
    recorder: &mut Recorder,
    log: &mut AttemptLog,
) -> Result<Option<HttpResponse>, Outcome> {
    let (route, status, started) = (attempt.route, attempt.status, attempt.started);
    let headers = attempt.response.headers().clone();
    let body = read_upstream(attempt.response, MAX_UPSTREAM_BODY);
    let bytes = match within(attempt.whole, body).await {
        Ok(bytes) => bytes,
        Err(failure) => {
            failed(gw, log, route, failure, None, started.elapsed(), &[]);
            return Ok(None);
        }
    };
    let took = started.elapsed();
    let answer = Answer {
        bytes: super::steps::scrub_text(route, &headers, bytes),
        headers,
    };
    let usage = match (whole.check)(&answer) {
        Ok(usage) => usage,
        Err(detail) => {
            // The detail reaches the attempt trail the way a provider's error code does.
            let why = serde_json::json!({"error": {"code": detail}}).to_string();
            let failure = Failure::BadResponse;
            failed(gw, log, route, failure, Some(status), took, why.as_bytes());
            return Ok(None);
        }
    };
    log.succeeded(route, status, took);
    // A whole answer's first token comes with it.
    settle(
        gw,
        route,
        attempt.reservation,
        usage.map(|(p, c)| p + c),
        took,
        Some(took),
    );
    let event = committed(call, route, recorder);
    match usage {
        Some((prompt, completion)) => {
            event.prompt_tokens = Some(prompt);
            event.completion_tokens = Some(completion);
        }
        // No usage from the provider: record the estimate rather than nothing.
        None if call.needs.prompt_tokens > 0 => {
            event.prompt_tokens = Some(call.needs.prompt_tokens);
        }
        None => {}
    }
    Ok(Some((whole.answer)(route, answer)?))
}
