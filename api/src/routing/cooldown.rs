//! What a failure costs a route: cooldowns from the reference table of what works for free
//! tiers, and what a provider's rate-limit headers and structured 429 bodies teach us.

use serde_json::Value;

use super::Failure;
use super::limits::Limits;
use super::pool::{Cooldown, PoolState, RouteSlots, Scope};
use super::window::{HOUR, MINUTE, Millis};

const SECOND: Millis = 1000;
const DAY: Millis = 24 * HOUR;
/// Repeated 429s within an hour: 90 s, then 2 min, 10 min, 1 h, 24 h.
const LADDER: [Millis; 5] = [90 * SECOND, 2 * MINUTE, 10 * MINUTE, HOUR, DAY];
/// A model failing this often within this window, on any key, is benched for `BENCH`.
const BENCH_AFTER: usize = 3;
const BENCH_WINDOW: Millis = 15 * MINUTE;
const BENCH: Millis = 10 * MINUTE;
/// 429s this close together count as one strike.
const BURST: Millis = 5 * SECOND;
/// A 5xx, a timeout, a broken answer.
const TRANSIENT: Millis = 90 * SECOND;

/// A refusal that makes the model unavailable with the credential rather than cooling it
/// down: a 402, or a 403 whose structured error says the model requires a subscription
/// (Ollama Cloud's answer for its paid models).
pub fn refusal(status: Option<u16>, body: &[u8]) -> Option<&'static str> {
    match status? {
        402 => Some("402 payment required"),
        403 => {
            let value: Value = serde_json::from_slice(body).ok()?;
            let error = value.get("error")?;
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .or_else(|| error.as_str())?;
            message
                .to_ascii_lowercase()
                .contains("requires a subscription")
                .then_some("403: the model requires a subscription")
        }
        _ => None,
    }
}

/// What the attempt loop knows about a failed attempt.
#[derive(Debug, Clone)]
pub struct FailureInfo {
    pub failure: Failure,
    pub status: Option<u16>,
    /// The provider said a daily quota is spent.
    pub daily_quota: bool,
}

/// Applies the cooldowns a failure earns and returns those that changed (to persist).
pub fn penalise(
    state: &PoolState,
    slots: &RouteSlots,
    info: &FailureInfo,
    now: Millis,
) -> Vec<(Scope, Cooldown)> {
    let mut changed = Vec::new();
    let mut cool = |slot: usize, ms: Millis, reason: String| {
        if let Some(c) = state.cool(
            slot,
            Cooldown {
                until: now + ms,
                reason: reason.into(),
                since: now,
            },
        ) {
            changed.push(c);
        }
    };
    let retry_ms = |failure: &Failure| match failure {
        Failure::RateLimited {
            retry_after: Some(d),
        } => Some(d.as_millis() as Millis),
        _ => None,
    };
    match (&info.failure, info.status) {
        (Failure::RateLimited { .. }, _) if info.daily_quota => {
            let until = retry_ms(&info.failure)
                .map(|ms| now + ms)
                .or_else(|| state.day_end(slots.route))
                .unwrap_or(now + DAY);
            cool(
                slots.route,
                (until - now).max(SECOND),
                "daily quota exhausted".into(),
            );
        }
        (Failure::RateLimited { .. }, _) => {
            // One burst is one event: 429s within the Retry-After (at least 5 s) of the
            // strike that cooled the route are the requests that were already in flight.
            let together = retry_ms(&info.failure).unwrap_or(0).max(BURST);
            let strikes = state.strike(slots.route, now, together);
            let ladder = LADDER[strikes.clamp(1, LADDER.len()) - 1];
            let stated = retry_ms(&info.failure);
            let ms = ladder.max(stated.unwrap_or(0));
            cool(slots.route, ms, format!("429 #{strikes} within an hour"));
            // Without a stated wait the ladder is a guess: a probe at half of it may end it.
            if stated.is_none() {
                state.recheck_at(slots.route, now + ms / 2);
            }
        }
        (Failure::CredentialRejected, Some(402)) => {
            if let Some(c) = slots.credential {
                cool(c, DAY, "402 payment required".into());
            }
        }
        (Failure::CredentialRejected, Some(403)) => {
            cool(slots.route, DAY, "403: model not on this key's tier".into());
        }
        (Failure::CredentialRejected, _) => match slots.credential {
            Some(c) => cool(c, 5 * MINUTE, "401: key rejected".into()),
            None => cool(
                slots.route,
                5 * MINUTE,
                "401 from a keyless provider".into(),
            ),
        },
        (Failure::NotServed, _) => cool(
            slots.route,
            HOUR,
            "the provider does not serve this model".into(),
        ),
        (failure, _) => {
            cool(
                slots.route,
                TRANSIENT,
                format!("transient: {}", failure.outcome()),
            );
            state.recheck_at(slots.route, now + TRANSIENT / 2);
        }
    }
    // Every failure lowers the route's health; failures on a model's keys that are not the
    // keys' own rate limits bench the whole model when they pile up.
    state.failure(slots.route, now, BENCH_WINDOW);
    // A malformed answer is that route's (or that key's) problem, not the model's.
    let models_fault = !matches!(
        info.failure,
        Failure::RateLimited { .. } | Failure::BadResponse
    );
    if models_fault && state.failure(slots.model, now, BENCH_WINDOW) >= BENCH_AFTER {
        cool(
            slots.model,
            BENCH,
            format!("{BENCH_AFTER} failures within 15 min"),
        );
    }
    changed
}

/// Whether a 429's structured body says a per-day quota is spent (Gemini's QuotaFailure
/// violations name their quota, e.g. `GenerateRequestsPerDayPerProjectPerModel-FreeTier`),
/// and any retry delay it gives (Gemini's RetryInfo `retryDelay: "13s"`).
pub fn read_429_body(body: &[u8]) -> (bool, Option<Millis>) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return (false, None);
    };
    let details = value
        .pointer("/error/details")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut daily = false;
    let mut retry = None;
    for detail in &details {
        let kind = detail
            .get("@type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if kind.ends_with("google.rpc.QuotaFailure") {
            daily |= detail
                .get("violations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.get("quotaId").and_then(Value::as_str))
                .any(|id| id.contains("PerDay"));
        }
        if kind.ends_with("google.rpc.RetryInfo") {
            retry = detail
                .get("retryDelay")
                .and_then(Value::as_str)
                .and_then(parse_duration);
        }
    }
    (daily, retry)
}

/// Go-style durations as providers send them: `7.66s`, `2m59.56s`, `1h2m`, `120ms`.
pub fn parse_duration(text: &str) -> Option<Millis> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<f64>() {
        return (secs >= 0.0).then_some((secs * 1000.0) as Millis);
    }
    let mut total = 0.0;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = number.parse().ok()?;
        number.clear();
        let unit = match c {
            'h' => 3_600_000.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                1.0
            }
            'm' => 60_000.0,
            's' => 1000.0,
            _ => return None,
        };
        total += value * unit;
    }
    number.is_empty().then_some(total as Millis)
}

/// What `x-ratelimit-*` headers teach: limits tighter than configured, and cooldowns when a
/// budget is spent. A reset more than an hour away marks a daily budget.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HeaderLesson {
    pub learned: Limits,
    /// Milliseconds until capacity returns, when the provider says none is left.
    pub exhausted_for: Option<Millis>,
}

pub fn read_rate_limit_headers(get: impl Fn(&str) -> Option<String>) -> HeaderLesson {
    let number = |name: &str| get(name).and_then(|v| v.trim().parse::<u64>().ok());
    let reset = |name: &str| get(name).and_then(|v| parse_duration(&v));
    let mut lesson = HeaderLesson::default();
    let requests = (
        number("x-ratelimit-limit-requests"),
        reset("x-ratelimit-reset-requests"),
    );
    if let (Some(limit), Some(reset_ms)) = requests {
        if reset_ms > HOUR {
            lesson.learned.rpd = Some(limit);
        } else if reset_ms <= MINUTE {
            lesson.learned.rpm = Some(limit);
        }
    }
    if let Some(limit) = number("x-ratelimit-limit-tokens")
        && reset("x-ratelimit-reset-tokens").is_some_and(|ms| ms <= MINUTE)
    {
        lesson.learned.tpm = Some(limit);
    }
    for (remaining, reset_name) in [
        (
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
        ),
        ("x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
    ] {
        if number(remaining) == Some(0) {
            let ms = reset(reset_name).unwrap_or(MINUTE).max(SECOND);
            lesson.exhausted_for = Some(lesson.exhausted_for.map_or(ms, |m: Millis| m.max(ms)));
        }
    }
    lesson
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use chrono_tz::Tz;
    use freeway_wire::pool::ScopeKind;
    use uuid::Uuid;

    use super::*;

    const T0: Millis = 1_790_000_000_000;

    fn route(state: &PoolState) -> RouteSlots {
        let (model, credential, provider) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let slot = |scope| state.slot(scope, Limits::default(), Tz::UTC, T0);
        RouteSlots {
            route: slot(Scope::Route {
                model,
                credential: Some(credential),
            }),
            credential: Some(slot(Scope::Credential { id: credential })),
            provider: slot(Scope::Provider { id: provider }),
            model: slot(Scope::Model { id: model }),
        }
    }

    fn limited(retry: Option<u64>) -> FailureInfo {
        FailureInfo {
            failure: Failure::RateLimited {
                retry_after: retry.map(Duration::from_secs),
            },
            status: Some(429),
            daily_quota: false,
        }
    }

    fn cooling_until(state: &PoolState, slots: &RouteSlots, now: Millis) -> Option<Millis> {
        state.check(slots, 0, now).err().and_then(|s| s.until())
    }

    #[test]
    fn repeated_429s_climb_the_ladder_and_retry_after_is_a_floor() {
        let state = Arc::new(PoolState::default());
        let slots = route(&state);
        penalise(&state, &slots, &limited(None), T0);
        assert_eq!(cooling_until(&state, &slots, T0), Some(T0 + 90 * SECOND));
        penalise(&state, &slots, &limited(None), T0 + 100 * SECOND);
        assert_eq!(
            cooling_until(&state, &slots, T0 + 100 * SECOND),
            Some(T0 + 100 * SECOND + 2 * MINUTE)
        );
        let t = T0 + 300 * SECOND;
        penalise(&state, &slots, &limited(Some(3600 * 3)), t);
        assert_eq!(cooling_until(&state, &slots, t), Some(t + 3 * HOUR));
    }

    #[test]
    fn a_burst_of_429s_is_one_strike_and_later_ones_still_climb() {
        let state = Arc::new(PoolState::default());
        let slots = route(&state);
        // 27 requests in flight together, rejected with Retry-After 30 s.
        for n in 0..27 {
            penalise(&state, &slots, &limited(Some(30)), T0 + n * 40);
        }
        assert_eq!(
            cooling_until(&state, &slots, T0),
            Some(T0 + 90 * SECOND + 26 * 40)
        );
        // Within the Retry-After of the strike: the same event.
        penalise(&state, &slots, &limited(Some(30)), T0 + 29 * SECOND);
        assert!(cooling_until(&state, &slots, T0).is_some_and(|u| u < T0 + 2 * MINUTE));
        // After it: the next rung; without Retry-After, 5 s apart is a new event.
        let t = T0 + 100 * SECOND;
        penalise(&state, &slots, &limited(None), t);
        assert_eq!(cooling_until(&state, &slots, t), Some(t + 2 * MINUTE));
        penalise(&state, &slots, &limited(None), t + 2 * SECOND);
        assert_eq!(
            cooling_until(&state, &slots, t),
            Some(t + 2 * SECOND + 2 * MINUTE)
        );
        penalise(&state, &slots, &limited(None), t + 6 * SECOND);
        assert_eq!(
            cooling_until(&state, &slots, t),
            Some(t + 6 * SECOND + 10 * MINUTE)
        );
    }

    #[test]
    fn credential_statuses() {
        let state = Arc::new(PoolState::default());
        let slots = route(&state);
        let info = |status| FailureInfo {
            failure: Failure::CredentialRejected,
            status: Some(status),
            daily_quota: false,
        };
        let changed = penalise(&state, &slots, &info(402), T0);
        assert_eq!(changed[0].0.kind(), ScopeKind::Credential);
        assert_eq!(changed[0].1.until, T0 + DAY);
        let other = route(&state);
        let changed = penalise(&state, &other, &info(401), T0);
        assert_eq!(
            (changed[0].0.kind(), changed[0].1.until),
            (ScopeKind::Credential, T0 + 5 * MINUTE)
        );
        let changed = penalise(&state, &other, &info(403), T0);
        assert_eq!(
            (changed[0].0.kind(), changed[0].1.until),
            (ScopeKind::Route, T0 + DAY)
        );
    }

    #[test]
    fn a_daily_quota_cools_until_the_providers_midnight() {
        let state = Arc::new(PoolState::default());
        let slots = route(&state);
        let info = FailureInfo {
            daily_quota: true,
            ..limited(None)
        };
        penalise(&state, &slots, &info, T0);
        assert_eq!(
            cooling_until(&state, &slots, T0),
            state.day_end(slots.route)
        );
    }

    #[test]
    fn a_model_failing_three_times_in_15_minutes_is_benched() {
        let state = Arc::new(PoolState::default());
        let slots = route(&state);
        let info = FailureInfo {
            failure: Failure::ServerError,
            status: Some(500),
            daily_quota: false,
        };
        assert!(
            penalise(&state, &slots, &info, T0)
                .iter()
                .all(|(s, _)| s.kind() == ScopeKind::Route)
        );
        penalise(&state, &slots, &info, T0 + MINUTE);
        let changed = penalise(&state, &slots, &info, T0 + 2 * MINUTE);
        assert!(
            changed
                .iter()
                .any(|(s, c)| s.kind() == ScopeKind::Model && c.until == T0 + 12 * MINUTE)
        );
    }

    #[test]
    fn refusals_are_a_402_or_a_subscription_403() {
        assert_eq!(refusal(Some(402), b""), Some("402 payment required"));
        let ollama = br#"{"error":"this model requires a subscription, upgrade for access"}"#;
        assert!(refusal(Some(403), ollama).is_some());
        let shaped = br#"{"error":{"message":"This model requires a subscription."}}"#;
        assert!(refusal(Some(403), shaped).is_some());
        assert_eq!(
            refusal(Some(403), br#"{"error":{"message":"forbidden"}}"#),
            None
        );
        assert_eq!(refusal(Some(429), b""), None);
    }

    #[test]
    fn transient_failures_ask_for_an_early_probe_and_stated_waits_do_not() {
        let state = Arc::new(PoolState::default());
        let slots = route(&state);
        let failure = FailureInfo {
            failure: Failure::ServerError,
            status: Some(503),
            daily_quota: false,
        };
        penalise(&state, &slots, &failure, T0);
        assert!(state.due_rechecks(T0 + 44 * SECOND).is_empty());
        assert_eq!(state.due_rechecks(T0 + 45 * SECOND).len(), 1);
        let other = route(&state);
        penalise(&state, &other, &limited(Some(60)), T0);
        assert!(state.due_rechecks(T0 + 59 * SECOND).is_empty());
    }

    #[test]
    fn gemini_429_bodies() {
        let body = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[
            {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[
                {"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests",
                 "quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
            {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"13s"}]}}"#;
        assert_eq!(read_429_body(body), (true, Some(13_000)));
        assert_eq!(
            read_429_body(br#"{"error":{"message":"per day"}}"#),
            (false, None)
        );
    }

    #[test]
    fn durations_and_headers() {
        assert_eq!(parse_duration("7.66s"), Some(7660));
        assert_eq!(parse_duration("2m59.56s"), Some(179_560));
        assert_eq!(parse_duration("1h2m"), Some(3_720_000));
        assert_eq!(parse_duration("120ms"), Some(120));
        assert_eq!(parse_duration("3"), Some(3000));
        assert_eq!(parse_duration("soon"), None);
        let headers = |name: &str| {
            match name {
                "x-ratelimit-limit-requests" => Some("14400"),
                "x-ratelimit-remaining-requests" => Some("0"),
                "x-ratelimit-reset-requests" => Some("2h30m"),
                "x-ratelimit-limit-tokens" => Some("6000"),
                "x-ratelimit-reset-tokens" => Some("7.66s"),
                _ => None,
            }
            .map(String::from)
        };
        let lesson = read_rate_limit_headers(headers);
        assert_eq!(
            lesson.learned,
            Limits {
                rpd: Some(14400),
                tpm: Some(6000),
                ..Limits::default()
            }
        );
        assert_eq!(lesson.exhausted_for, Some(9_000_000));
    }
}
