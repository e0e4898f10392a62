//! The steps of one attempt that every surface shares: plan, reserve, learn from the
//! provider's headers, cool a failed route down, settle a served one, and explain.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderName};
use actix_web::{HttpResponse, ResponseError};
use bytes::Bytes;
use chrono::Utc;
use serde_json::Value;

use super::chain::{Needs, Plan, Unfit, plan};
use super::error::ApiError;
use super::{AttemptLog, Gateway};
use crate::providers::Route;
use crate::routing::cooldown::{self, FailureInfo};
use crate::routing::outcome::Disposition;
use crate::routing::pool::Reservation;
use crate::routing::session::Pin;
use crate::routing::{Failure, classify_status, now_millis};
use crate::store;
use crate::usage::Recorder;

/// `provider/model` of the route that answered.
pub const ROUTE_HEADER: &str = "x-freeway-route";
/// How many routes were tried, the answering one included.
pub const ATTEMPTS_HEADER: &str = "x-freeway-attempts";
/// The strategy that ordered the chain (`priority`, `balanced`, ...).
pub const STRATEGY_HEADER: &str = "x-freeway-strategy";

/// Upstream bodies larger than this are treated as broken answers.
pub(crate) const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// Plans the chain, answering a request no route can ever serve with a 400 that says why.
pub(crate) fn plan_chain<'a>(
    gw: &Gateway,
    routes: &'a [Route],
    needs: &Needs,
    pin: Option<Pin>,
    fit_context: bool,
    log: &mut AttemptLog,
) -> Result<Plan<'a>, ApiError> {
    let strategy = log.strategy;
    let planned = plan(
        routes,
        &gw.pool,
        needs,
        pin,
        fit_context,
        strategy,
        now_millis(),
    )
    .map_err(|unfit| match unfit {
        Unfit::Capability(_) => ApiError::invalid("capability_unavailable", unfit.describe()),
        Unfit::Context { .. } => {
            ApiError::invalid("context_length_exceeded", unfit.describe()).with_param("messages")
        }
    })?;
    for (route, passed) in &planned.passed {
        log.skipped(route, passed.describe(), passed.until());
    }
    Ok(planned)
}

/// Reserves the route's capacity; a route that lost its headroom since planning is passed.
pub(crate) fn reserve(
    gw: &Gateway,
    route: &Route,
    tokens: u64,
    log: &mut AttemptLog,
) -> Option<Reservation> {
    match gw.pool.reserve(&route.slots, tokens, now_millis()) {
        Ok(reservation) => Some(reservation),
        Err(skip) => {
            log.skipped(route, skip.describe(), skip.until());
            None
        }
    }
}

/// [`reserve`] in a fleet: one round trip to Redis checks the route's windows (its own,
/// its credential's, its provider account's) for every replica and counts the request in
/// them; for the first route a request reserves, the caller's quotas are checked and counted
/// in the same script (all or nothing). While Redis is down both are checked here against
/// this replica's share. `Err`: a quota refused the request.
pub(crate) async fn reserve_shared(
    gw: &Gateway,
    shared: &std::sync::Arc<crate::shared::Shared>,
    route: &Route,
    tokens: u64,
    log: &mut AttemptLog,
    quota: &mut Option<crate::tenancy::QuotaReservation>,
) -> Result<Option<Reservation>, ApiError> {
    use crate::shared::Reserved;
    let now = now_millis();
    let skipped = |log: &mut AttemptLog, skip: crate::routing::pool::Skip| {
        log.skipped(route, skip.describe(), skip.until());
        Ok(None)
    };
    let mut specs = match gw.pool.shared_specs(&route.slots, now) {
        Ok(specs) => specs,
        Err(skip) => return skipped(log, skip),
    };
    let pending = quota.as_ref().and_then(|q| q.pending()).unwrap_or(&[]);
    let quotas = pending.len();
    if quotas > 0 {
        specs.splice(0..0, pending.iter().cloned());
    }
    // Only a count refuses here (a quota's models and expiry were checked at admission),
    // and its message does not name the model.
    let model = "";
    match shared.reserve(&specs, tokens, now).await {
        Reserved::Held(held) => {
            let (quota_held, route_held) = held.split(quotas);
            let joint = quota_held.map(crate::shared::Joint::new);
            if let (Some(quota), Some(joint)) = (quota.as_mut(), &joint) {
                quota.held(joint.clone(), now);
            }
            let reservation = gw
                .pool
                .reserve_held(&route.slots, tokens, now, route_held, joint);
            Ok(Some(reservation))
        }
        Reserved::Refused(refused) if refused.index < quotas => {
            let error = match quota.as_ref() {
                Some(quota) => quota.refused(refused, now),
                None => return Ok(None),
            };
            Err(super::admit::quota_error(error, model))
        }
        Reserved::Refused(mut refused) => {
            refused.index -= quotas;
            skipped(log, gw.pool.shared_skip(&route.slots, refused))
        }
        Reserved::Unavailable => {
            shared.count_local();
            let share = shared.replicas();
            if let Some(quota) = quota.as_mut() {
                quota
                    .reserve_locally(now, share)
                    .map_err(|refused| super::admit::quota_error(refused, model))?;
            }
            match gw.pool.reserve_share(&route.slots, tokens, now, share) {
                Ok(reservation) => Ok(Some(reservation)),
                Err(skip) => skipped(log, skip),
            }
        }
    }
}

/// A failed attempt: log it, cool the route (and persist the cooldown), give back its
/// reservation (by dropping it).
pub(crate) fn failed(
    gw: &Gateway,
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
    match (cooldown::refusal(status, body), &route.credential) {
        (Some(reason), Some(credential)) => unavailable(gw, route, credential.id, reason),
        _ => penalise(gw, route, &info),
    }
    log.failed(route, failure, status, took, upstream_error_code(body));
}

/// The model is unavailable with the route's credential until discovery, a probe or an
/// admin says otherwise: skipped from now on, here and (once stored) on every instance.
fn unavailable(gw: &Gateway, route: &Route, credential: uuid::Uuid, reason: &'static str) {
    let slot = route.slots.route;
    gw.pool.set_unavailable(slot, Some(reason.into()));
    let (db, pool) = (gw.db.clone(), gw.pool.clone());
    let model = route.info.id;
    tokio::spawn(async move {
        let cause = freeway_wire::discovery::UnavailableCause::Refused;
        if let Err(error) = store::availability::mark(&db, credential, model, cause, reason).await {
            tracing::warn!(%error, "model unavailability not persisted");
        }
        pool.written(slot);
    });
}

/// Cools `route` down for a failure (and persists the cooldowns it earned).
pub(crate) fn penalise(gw: &Gateway, route: &Route, info: &FailureInfo) {
    let changed = cooldown::penalise(&gw.pool, &route.slots, info, now_millis());
    persist_cooldowns(gw, changed);
}

fn persist_cooldowns(
    gw: &Gateway,
    changed: Vec<(crate::routing::pool::Scope, crate::routing::pool::Cooldown)>,
) {
    if changed.is_empty() {
        return;
    }
    let db = gw.db.clone();
    let shared = gw.shared.clone();
    // Off the request path: a lost write only means a restart forgets this cooldown.
    tokio::spawn(async move {
        for (scope, cooldown) in changed {
            let key = scope.to_string();
            let until =
                chrono::DateTime::from_timestamp_millis(cooldown.until).unwrap_or_else(Utc::now);
            let since =
                chrono::DateTime::from_timestamp_millis(cooldown.since).unwrap_or_else(Utc::now);
            let saved =
                store::cooldowns::save(&db, scope.kind(), &key, until, &cooldown.reason, since)
                    .await;
            let cleared = match saved {
                Ok(written) => !written,
                Err(error) => {
                    tracing::warn!(%error, "cooldown not persisted");
                    false
                }
            };
            // The fleet's replicas take it from Redis within a second
            // (`state::keep_shared`); not one a clear has ended since it was set.
            if let Some(shared) = &shared
                && !cleared
            {
                let shared_cooldown = crate::shared::SharedCooldown {
                    until: cooldown.until,
                    since: cooldown.since,
                    reason: cooldown.reason.to_string(),
                };
                shared.cooldown_set(&key, &shared_cooldown).await;
            }
        }
    });
}

/// Learns from `x-ratelimit-*` headers: tighter limits, and a cooldown when the provider
/// says nothing is left.
pub(crate) fn learn(gw: &Gateway, route: &Route, headers: &reqwest::header::HeaderMap) {
    // Most answers carry none; looking up each of their names would first parse it.
    if !headers
        .keys()
        .any(|name| name.as_str().starts_with("x-ratelimit-"))
    {
        return;
    }
    let lesson = cooldown::read_rate_limit_headers(|name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    if !lesson.learned.is_unlimited() && gw.pool.learn(route.slots.route, lesson.learned) {
        tracing::info!(route = %route.label(), learned = ?lesson.learned, "learned tighter limits from the provider");
        if let (Some(scope), Some(learned)) = (
            gw.pool.scope_of(route.slots.route),
            gw.pool.learned(route.slots.route),
        ) {
            let db = gw.db.clone();
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
        let now = now_millis();
        let cooldown = crate::routing::pool::Cooldown {
            until: now + ms,
            reason: "the provider reports no capacity left".into(),
            since: now,
        };
        let changed: Vec<_> = gw
            .pool
            .cool(route.slots.route, cooldown)
            .into_iter()
            .collect();
        persist_cooldowns(gw, changed);
    }
}

/// A successful attempt: settle the reservation with the real tokens, record health.
pub(crate) fn settle(
    gw: &Gateway,
    route: &Route,
    reservation: Reservation,
    tokens: Option<u64>,
    took: Duration,
    first_token: Option<Duration>,
) {
    let actual = tokens.unwrap_or_else(|| reservation.tokens());
    reservation.settle(actual, now_millis());
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    gw.pool
        .succeeded(&route.slots, ms(took), first_token.map(ms));
}

/// A non-2xx answer from `route`. `None`: logged as a failure, try the next route. `Some`:
/// the request itself was at fault, and this is the client's answer.
#[allow(clippy::too_many_arguments)]
pub(crate) fn rejected(
    gw: &Gateway,
    route: &Route,
    status: u16,
    retry_after: Option<Duration>,
    bytes: Bytes,
    took: Duration,
    recorder: &mut Recorder,
    log: &mut AttemptLog,
) -> Option<HttpResponse> {
    match classify_status(status, retry_after) {
        Disposition::Failover(failure) => {
            failed(gw, log, route, failure, Some(status), took, &bytes);
            None
        }
        Disposition::ClientError => {
            log.client_error(route, status, took);
            fill_route(recorder, route);
            let event = recorder.event();
            event.status = status;
            event.error_code = Some("upstream_rejected_request".into());
            Some(client_error_answer(route, status, scrub(route, bytes), log))
        }
    }
}

/// The route that answered, on the usage event and the request's span.
pub(crate) fn fill_route(recorder: &mut Recorder, route: &Route) {
    let route_label = format_args!("{}/{}", route.provider.name, route.model);
    recorder
        .span()
        .record("route", tracing::field::display(route_label));
    let event = recorder.event();
    event.provider = Some(route.provider.name.clone());
    event.model = Some(route.model.clone());
    event.credential_id = route.credential.as_ref().map(|c| c.id);
}

pub(crate) fn transport_failure(error: &crate::providers::upstream::Error) -> Failure {
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
    if let Some(value) = &route.label_header {
        headers.insert(HeaderName::from_static(ROUTE_HEADER), value.clone());
    }
    headers.insert(HeaderName::from_static(ATTEMPTS_HEADER), log.tried().into());
    headers.insert(
        HeaderName::from_static(STRATEGY_HEADER),
        actix_web::http::header::HeaderValue::from_static(log.strategy.as_str()),
    );
}

/// A 4xx that is the request's fault: the provider's structured error is passed on; anything
/// else is replaced by our own error in the same shape.
pub(crate) fn client_error_answer(
    route: &Route,
    status: u16,
    bytes: Bytes,
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
        ApiError::UpstreamRejected { status }.error_response()
    };
    explain(&mut response, route, log);
    response
}

pub(crate) use crate::providers::openai_compat::read_body as read_upstream;

/// Whatever of the route's credential a provider echoed, cut out of a body on its way to
/// the member.
pub(crate) fn scrub(route: &Route, bytes: Bytes) -> Bytes {
    match &route.credential {
        Some(credential) => credential.scrubber.scrub(bytes),
        None => bytes,
    }
}

/// [`scrub`] for textual answers; audio and other binary bodies pass as they are.
pub(crate) fn scrub_text(
    route: &Route,
    headers: &reqwest::header::HeaderMap,
    bytes: Bytes,
) -> Bytes {
    let binary = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.starts_with("audio/")
                || t.starts_with("image/")
                || t.starts_with("application/octet-stream")
        });
    if binary { bytes } else { scrub(route, bytes) }
}
