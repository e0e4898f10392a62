//! The attempt loop of the endpoints whose answer is one upstream body passed through
//! (embeddings, images, speech, transcriptions, unstreamed legacy completions): each
//! candidate is reserved, called and its 2xx answer checked; a failure cools the route down
//! and moves on, exactly as for chat.

use std::time::Instant;

use actix_web::{HttpResponse, ResponseError, web};
use serde_json::json;

use super::chat::Outcome;
use super::dispatch::{
    self, MAX_UPSTREAM_BODY, explain, failed, fill_route, plan_chain, read_upstream, rejected,
    reserve, settle, transport_failure,
};
use super::error::ApiError;
use super::request_id_header;
use crate::providers::Route;
use crate::routing::chain::Needs;
use crate::routing::{AttemptLog, Failure, parse_retry_after};
use crate::state::AppState;
use crate::tenancy::Caller;
use crate::usage::{Recorder, millis};

/// A provider's usable 2xx answer.
pub(crate) struct Answer {
    pub headers: reqwest::header::HeaderMap,
    pub bytes: web::Bytes,
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

/// What the endpoint makes of a 2xx body: the prompt and completion tokens it reports, or
/// why it is not an answer (kept as the attempt's detail).
pub(crate) type Verdict = Result<Option<(u64, u64)>, &'static str>;

/// Runs one handler and turns its error into the OpenAI-shaped answer, recorded on the usage
/// event; every answer carries the request id.
pub(crate) async fn respond<F>(endpoint: &'static str, state: &AppState, handle: F) -> HttpResponse
where
    F: AsyncFnOnce(&mut Recorder) -> Result<HttpResponse, ApiError>,
{
    let mut recorder = Recorder::start(&state.usage, endpoint);
    let request_id = recorder.id();
    let mut response = match handle(&mut recorder).await {
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

/// Notes the requested model on the usage event and checks the key may use it.
pub(crate) fn allow(caller: &Caller, recorder: &mut Recorder, model: &str) -> Result<(), ApiError> {
    recorder.event().requested_model = Some(model.to_string());
    dispatch::check_allowed(caller, model)
}

/// Plans `routes` and tries them in turn. `build` starts the request for one route;
/// `check` judges a 2xx body; `answer` turns the accepted one into the client's response,
/// to which the explanation headers are added.
pub(crate) async fn run<B, C, A>(
    state: &AppState,
    routes: &[Route],
    needs: &Needs,
    recorder: &mut Recorder,
    mut build: B,
    check: C,
    answer: A,
) -> Result<HttpResponse, ApiError>
where
    B: FnMut(&Route) -> Result<reqwest::RequestBuilder, ApiError>,
    C: Fn(&Answer) -> Verdict,
    A: FnOnce(&Route, Answer) -> HttpResponse,
{
    chain(
        state,
        routes,
        needs,
        recorder,
        async |candidates, recorder, log| {
            let (route, exchange) =
                attempt(state, candidates, needs, recorder, log, &mut build, &check).await?;
            let mut response = answer(route, exchange);
            explain(&mut response, route, log);
            Ok(response)
        },
    )
    .await
}

/// Plans `routes`, hands the candidates to `attempts`, and turns how it ended into the
/// client's answer; the attempt trail goes on the usage event.
pub(crate) async fn chain<F>(
    state: &AppState,
    routes: &[Route],
    needs: &Needs,
    recorder: &mut Recorder,
    attempts: F,
) -> Result<HttpResponse, ApiError>
where
    F: AsyncFnOnce(&[&Route], &mut Recorder, &mut AttemptLog) -> Result<HttpResponse, Outcome>,
{
    let mut log = AttemptLog::new(state.config.request_budget(), state.config.max_attempts);
    let result = match plan_chain(state, routes, needs, None, false, &mut log) {
        Ok(plan) => attempts(&plan.candidates, recorder, &mut log).await,
        Err(error) => Err(Outcome::Error(error)),
    };
    recorder.event().attempts = log.attempts().to_vec();
    match result {
        Ok(response) | Err(Outcome::Answer(response)) => Ok(response),
        Err(Outcome::Error(error)) => Err(error),
        Err(Outcome::Exhausted) => Err(dispatch::exhausted(&log, routes.len())),
    }
}

async fn attempt<'r, B, C>(
    state: &AppState,
    chain: &[&'r Route],
    needs: &Needs,
    recorder: &mut Recorder,
    log: &mut AttemptLog,
    build: &mut B,
    check: &C,
) -> Result<(&'r Route, Answer), Outcome>
where
    B: FnMut(&Route) -> Result<reqwest::RequestBuilder, ApiError>,
    C: Fn(&Answer) -> Verdict,
{
    for &route in chain {
        if !log.may_try_another() {
            break;
        }
        let request = build(route)?;
        let Some(reservation) = reserve(state, route, needs.reserve_tokens, log) else {
            continue;
        };
        let started = Instant::now();
        let timeout = route.provider.timeout.min(log.remaining());
        let exchange = tokio::time::timeout(timeout, async {
            let response = request.send().await?;
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
        if !(200..300).contains(&status) {
            let retry_after = parse_retry_after(
                headers
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()),
            );
            drop(reservation);
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
        let answer = Answer { headers, bytes };
        let usage = match check(&answer) {
            Ok(usage) => usage,
            Err(detail) => {
                // The detail reaches the attempt trail the way a provider's error code does.
                let why = json!({"error": {"code": detail}}).to_string();
                failed(
                    state,
                    log,
                    route,
                    Failure::BadResponse,
                    Some(status),
                    took,
                    why.as_bytes(),
                );
                continue;
            }
        };
        log.succeeded(route, status, took);
        settle(state, route, reservation, usage.map(|(p, c)| p + c), took);
        let ttft = millis(recorder.elapsed());
        let event = recorder.event();
        fill_route(event, route);
        event.status = 200;
        event.ttft_ms = Some(ttft);
        match usage {
            Some((prompt, completion)) => {
                event.prompt_tokens = Some(prompt);
                event.completion_tokens = Some(completion);
            }
            // No usage from the provider: record the estimate rather than nothing.
            None if needs.prompt_tokens > 0 => event.prompt_tokens = Some(needs.prompt_tokens),
            None => {}
        }
        return Ok((route, answer));
    }
    Err(Outcome::Exhausted)
}

/// Roughly four characters a token, at least one.
pub(crate) fn estimate(chars: usize) -> u64 {
    (chars as u64).div_ceil(4).max(1)
}
