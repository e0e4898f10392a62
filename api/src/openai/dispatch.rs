//! What every `/v1` endpoint does around its upstream calls: authenticate, resolve the
//! requested name, plan the chain, and after each attempt settle the ledger, cool routes
//! down, learn from the provider's headers, and finally explain the outcome.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderName};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::Utc;
use serde_json::Value;

use super::error::ApiError;
use super::{ATTEMPTS_HEADER, ROUTE_HEADER};
use crate::providers::{Modality, Route};
use crate::routing::chain::{Needs, Plan, Unfit, plan};
use crate::routing::cooldown::{self, FailureInfo};
use crate::routing::outcome::Disposition;
use crate::routing::pool::Reservation;
use crate::routing::session::Pin;
use crate::routing::{AttemptLog, Failure, classify_status, now_millis};
use crate::state::AppState;
use crate::store;
use crate::tenancy::{Caller, QuotaError, QuotaReservation};
use crate::usage::{Recorder, UsageEvent};

/// Upstream bodies larger than this are treated as broken answers.
pub(crate) const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// Authenticates the request and fills the usage event's caller fields.
pub(crate) fn authenticate(
    req: &HttpRequest,
    state: &AppState,
    recorder: &mut Recorder,
) -> Result<Caller, ApiError> {
    let authorization = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = state.keys.authenticate(authorization, Utc::now())?;
    let event = recorder.event();
    event.tenant_id = Some(caller.tenant_id);
    event.member_id = Some(caller.member_id);
    event.api_key_id = Some(caller.api_key_id);
    Ok(caller)
}

pub(crate) fn check_allowed(caller: &Caller, model: &str) -> Result<(), ApiError> {
    if caller.may_use(model) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "permission_error",
        "model_not_allowed",
        format!("This API key may not use the model `{model}`."),
    )
    .with_param("model"))
}

/// Checks and counts the caller's tenant, member and api key quotas, with the same estimate
/// the pool reservation uses; before routing, so a refused request reaches no provider.
pub(crate) fn reserve_quota(
    state: &AppState,
    caller: &Caller,
    model: &str,
    tokens: u64,
) -> Result<QuotaReservation, ApiError> {
    state
        .quotas
        .reserve(caller, model, tokens, now_millis())
        .map_err(|refused| {
            let message = refused.message(model);
            match refused {
                QuotaError::Exceeded {
                    retry_after_secs, ..
                } => {
                    let mut error = ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limit_error",
                        "quota_exceeded",
                        message,
                    );
                    error.retry_after = retry_after_secs;
                    error
                }
                QuotaError::ModelNotAllowed { .. } => ApiError::new(
                    StatusCode::FORBIDDEN,
                    "permission_error",
                    "model_not_allowed",
                    message,
                )
                .with_param("model"),
                QuotaError::Expired { .. } => ApiError::new(
                    StatusCode::FORBIDDEN,
                    "permission_error",
                    "quota_expired",
                    message,
                ),
            }
        })
}

/// Ends a quota reservation when the request is over: a served request counts with its
/// real tokens (the estimate when the provider reported none); anything else is given back.
pub(crate) fn settle_quota(quota: QuotaReservation, event: &UsageEvent) {
    if !(200..300).contains(&event.status) {
        return;
    }
    let tokens = match (event.prompt_tokens, event.completion_tokens) {
        (None, None) => quota.tokens(),
        (prompt, completion) => prompt.unwrap_or(0) + completion.unwrap_or(0),
    };
    quota.settle(tokens);
}

pub(crate) fn unknown_model(model: &str, modality: Modality) -> ApiError {
    let kind = match modality {
        Modality::Chat => "",
        Modality::Embedding => " embedding",
        Modality::Image => " image",
        Modality::Speech => " speech",
        Modality::Transcription => " transcription",
    };
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found_error",
        "model_not_found",
        format!("The{kind} model `{model}` does not exist on this Freeway. GET /v1/models lists the models you can use."),
    )
    .with_param("model")
}

/// Plans the chain, answering a request no route can ever serve with a 400 that says why.
pub(crate) fn plan_chain<'a>(
    state: &AppState,
    routes: &'a [Route],
    needs: &Needs,
    pin: Option<Pin>,
    fit_context: bool,
    log: &mut AttemptLog,
) -> Result<Plan<'a>, ApiError> {
    let planned =
        plan(routes, &state.pool, needs, pin, fit_context, now_millis()).map_err(|unfit| {
            match unfit {
                Unfit::Capability(_) => {
                    ApiError::invalid("capability_unavailable", unfit.describe())
                }
                Unfit::Context { .. } => {
                    ApiError::invalid("context_length_exceeded", unfit.describe())
                        .with_param("messages")
                }
            }
        })?;
    for (route, passed) in &planned.passed {
        log.skipped(route, passed.describe(), passed.until());
    }
    Ok(planned)
}

/// Reserves the route's capacity; a route that lost its headroom since planning is passed.
pub(crate) fn reserve(
    state: &AppState,
    route: &Route,
    tokens: u64,
    log: &mut AttemptLog,
) -> Option<Reservation> {
    match state.pool.reserve(&route.slots, tokens, now_millis()) {
        Ok(reservation) => Some(reservation),
        Err(skip) => {
            log.skipped(route, skip.describe(), skip.until());
            None
        }
    }
}

/// A failed attempt: log it, cool the route (and persist the cooldown), give back its
/// reservation (by dropping it).
pub(crate) fn failed(
    state: &AppState,
    log: &mut AttemptLog,
    route: &Route,
    failure: Failure,
    status: Option<u16>,
    took: Duration,
    body: &[u8],
) {
    let (daily, body_retry) = if matches!(failure, Failure::RateLimited { .. }) {
        cooldown::read_429_body(body)
    } else {
        (false, None)
    };
    let failure = match failure {
        Failure::RateLimited { retry_after: None } => Failure::RateLimited {
            retry_after: body_retry.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
        },
        other => other,
    };
    let info = FailureInfo {
        failure: failure.clone(),
        status,
        daily_quota: daily,
    };
    let changed = cooldown::penalise(&state.pool, &route.slots, &info, now_millis());
    persist_cooldowns(state, changed);
    log.failed(route, failure, status, took, upstream_error_code(body));
}

fn persist_cooldowns(
    state: &AppState,
    changed: Vec<(crate::routing::pool::Scope, crate::routing::pool::Cooldown)>,
) {
    if changed.is_empty() {
        return;
    }
    let db = state.db.clone();
    // Off the request path: a lost write only means a restart forgets this cooldown.
    tokio::spawn(async move {
        for (scope, cooldown) in changed {
            let until =
                chrono::DateTime::from_timestamp_millis(cooldown.until).unwrap_or_else(Utc::now);
            if let Err(error) = store::cooldowns::save(
                &db,
                scope.kind(),
                &scope.to_string(),
                until,
                &cooldown.reason,
            )
            .await
            {
                tracing::warn!(%error, "cooldown not persisted");
            }
        }
    });
}

/// Learns from `x-ratelimit-*` headers: tighter limits, and a cooldown when the provider
/// says nothing is left.
pub(crate) fn learn(state: &AppState, route: &Route, headers: &reqwest::header::HeaderMap) {
    let lesson = cooldown::read_rate_limit_headers(|name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    if !lesson.learned.is_unlimited() && state.pool.learn(route.slots.route, lesson.learned) {
        tracing::info!(route = %route.label(), learned = ?lesson.learned, "learned tighter limits from the provider");
        if let (Some(scope), Some(learned)) = (
            state.pool.scope_of(route.slots.route),
            state.pool.learned(route.slots.route),
        ) {
            let db = state.db.clone();
            let columns = learned.to_columns();
            tokio::spawn(async move {
                if let Err(error) =
                    store::limits::save_learned(&db, scope.kind(), &scope.to_string(), columns)
                        .await
                {
                    tracing::warn!(%error, "learned limits not persisted");
                }
            });
        }
    }
    if let Some(ms) = lesson.exhausted_for {
        let cooldown = crate::routing::pool::Cooldown {
            until: now_millis() + ms,
            reason: "the provider reports no capacity left".into(),
        };
        let changed: Vec<_> = state
            .pool
            .cool(route.slots.route, cooldown)
            .into_iter()
            .collect();
        persist_cooldowns(state, changed);
    }
}

/// A successful attempt: settle the reservation with the real tokens, record health.
pub(crate) fn settle(
    state: &AppState,
    route: &Route,
    reservation: Reservation,
    tokens: Option<u64>,
    took: Duration,
) {
    let actual = tokens.unwrap_or_else(|| reservation.tokens());
    reservation.settle(actual, now_millis());
    state.pool.succeeded(
        &route.slots,
        u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
    );
}

/// A non-2xx answer from `route`. `None`: logged as a failure, try the next route. `Some`:
/// the request itself was at fault, and this is the client's answer.
#[allow(clippy::too_many_arguments)]
pub(crate) fn rejected(
    state: &AppState,
    route: &Route,
    status: u16,
    retry_after: Option<Duration>,
    bytes: web::Bytes,
    took: Duration,
    recorder: &mut Recorder,
    log: &mut AttemptLog,
) -> Option<HttpResponse> {
    match classify_status(status, retry_after) {
        Disposition::Failover(failure) => {
            failed(state, log, route, failure, Some(status), took, &bytes);
            None
        }
        Disposition::ClientError => {
            log.client_error(route, status, took);
            let event = recorder.event();
            fill_route(event, route);
            event.status = status;
            event.error_code = Some("upstream_rejected_request".into());
            Some(client_error_answer(route, status, bytes, log))
        }
    }
}

pub(crate) fn fill_route(event: &mut UsageEvent, route: &Route) {
    event.provider = Some(route.provider.name.clone());
    event.model = Some(route.model.clone());
    event.credential_id = route.credential.as_ref().map(|c| c.id);
}

pub(crate) fn transport_failure(error: &reqwest::Error) -> Failure {
    if error.is_timeout() {
        Failure::Timeout
    } else if error.is_connect() {
        Failure::Connect
    } else {
        Failure::StreamBroken
    }
}

/// The provider's own error code, from its structured body, for the attempt trail.
pub(crate) fn upstream_error_code(bytes: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let error = value.get("error")?;
    let code = error.get("code").or_else(|| error.get("type"))?;
    match code {
        Value::String(s) => Some(s.chars().take(100).collect()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Adds the explanation headers to an answer.
pub(crate) fn explain(response: &mut HttpResponse, route: &Route, log: &AttemptLog) {
    let headers = response.headers_mut();
    if let Ok(value) = route.label().try_into() {
        headers.insert(HeaderName::from_static(ROUTE_HEADER), value);
    }
    headers.insert(HeaderName::from_static(ATTEMPTS_HEADER), log.tried().into());
}

/// A 4xx that is the request's fault: the provider's structured error is passed on; anything
/// else is replaced by our own error in the same shape.
pub(crate) fn client_error_answer(
    route: &Route,
    status: u16,
    bytes: web::Bytes,
    log: &AttemptLog,
) -> HttpResponse {
    let structured = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .is_some_and(|v| v.get("error").is_some_and(Value::is_object));
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = if structured {
        HttpResponse::build(code)
            .insert_header((CONTENT_TYPE, "application/json"))
            .body(bytes)
    } else {
        ApiError::new(
            code,
            "invalid_request_error",
            "upstream_rejected_request",
            format!("The provider rejected the request (HTTP {status})."),
        )
        .error_response()
    };
    explain(&mut response, route, log);
    response
}

/// The error when no attempt produced an answer.
pub(crate) fn exhausted(log: &AttemptLog, chain_len: usize) -> ApiError {
    let exhausted = log.exhausted(chain_len, now_millis());
    let kind = if exhausted.status == 429 {
        "rate_limit_error"
    } else {
        "upstream_error"
    };
    let status = StatusCode::from_u16(exhausted.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut error = ApiError::new(status, kind, exhausted.code, exhausted.message);
    error.retry_after = exhausted.retry_after;
    error
}

pub(crate) use crate::providers::openai_compat::read_body as read_upstream;
