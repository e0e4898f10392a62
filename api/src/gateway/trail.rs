//! The trail of attempts for one request, its bounds, and the answer when every route failed.

use freeway_wire::usage::AttemptOutcome;
use std::time::{Duration, Instant};

use crate::providers::Route;
use crate::routing::Failure;
use crate::usage::Attempt;

pub struct AttemptLog {
    started: Instant,
    budget: Duration,
    max_attempts: usize,
    attempts: Vec<Attempt>,
    failures: Vec<Failure>,
    tried: usize,
    /// When passed-over routes regain capacity (unix ms).
    waits: Vec<i64>,
    /// Passed over for a reason that time does not fix (capability, context window).
    unfit: usize,
    /// How the chain was ordered, for `x-freeway-strategy`.
    pub strategy: crate::routing::strategy::Strategy,
}

/// Every route failed or the bounds were reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exhausted {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl AttemptLog {
    pub fn new(budget: Duration, max_attempts: usize) -> Self {
        AttemptLog {
            started: Instant::now(),
            budget,
            max_attempts,
            attempts: Vec::new(),
            failures: Vec::new(),
            tried: 0,
            waits: Vec::new(),
            unfit: 0,
            strategy: crate::routing::strategy::Strategy::Priority,
        }
    }

    /// A route passed over without a call; `until` is when it can take requests again.
    pub fn skipped(&mut self, route: &Route, reason: String, until: Option<i64>) {
        self.attempts.push(attempt(
            route,
            AttemptOutcome::Skipped,
            None,
            Duration::ZERO,
            Some(reason),
        ));
        match until {
            Some(at) => self.waits.push(at),
            None => self.unfit += 1,
        }
    }

    /// Calls made, the answering one included (skips not counted).
    pub fn tried(&self) -> usize {
        self.tried
    }

    /// Time left in the budget; zero when spent.
    pub fn remaining(&self) -> Duration {
        self.budget.saturating_sub(self.started.elapsed())
    }

    pub fn may_try_another(&self) -> bool {
        self.tried < self.max_attempts && !self.remaining().is_zero()
    }

    pub fn succeeded(&mut self, route: &Route, status: u16, took: Duration) {
        self.tried += 1;
        self.attempts
            .push(attempt(route, AttemptOutcome::Ok, Some(status), took, None));
    }

    pub fn failed(
        &mut self,
        route: &Route,
        failure: Failure,
        status: Option<u16>,
        took: Duration,
        detail: Option<String>,
    ) {
        tracing::info!(route = %route.label(), outcome = %failure.outcome(), ?status,
            "attempt failed; trying the next route");
        self.tried += 1;
        self.attempts
            .push(attempt(route, failure.outcome(), status, took, detail));
        self.failures.push(failure);
    }

    /// A non-retryable upstream answer ends the loop; it is still part of the trail.
    pub fn client_error(&mut self, route: &Route, status: u16, took: Duration) {
        self.tried += 1;
        self.attempts.push(attempt(
            route,
            AttemptOutcome::ClientError,
            Some(status),
            took,
            None,
        ));
    }

    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    pub fn into_attempts(self) -> Vec<Attempt> {
        self.attempts
    }

    /// The answer when no attempt succeeded: 429 with `Retry-After` set to the earliest time
    /// capacity returns when every route was rate limited, cooling down or out of headroom;
    /// else 502 naming what each route did; 503 when the chain was empty.
    pub fn exhausted(&self, chain_len: usize, now_ms: i64) -> Exhausted {
        if self.attempts.is_empty() {
            return Exhausted {
                status: 503,
                code: "no_available_route",
                message: "No provider credential can serve this model right now: add or enable one with `freeway credential add`.".into(),
                retry_after: None,
            };
        }
        let trail: Vec<String> = self
            .attempts
            .iter()
            .map(|a| match (&a.detail, a.status) {
                (Some(detail), _) if a.outcome == AttemptOutcome::Skipped => {
                    format!("{}/{}: skipped ({detail})", a.provider, a.model)
                }
                (_, Some(status)) => {
                    format!("{}/{}: {} ({status})", a.provider, a.model, a.outcome)
                }
                (_, None) => format!("{}/{}: {}", a.provider, a.model, a.outcome),
            })
            .collect();
        let listed = self.attempts.len();
        let untried = chain_len.saturating_sub(listed);
        let bound = if untried > 0 {
            format!(" ({untried} more not tried: attempt or time budget spent)")
        } else {
            String::new()
        };
        let all_limited = self
            .failures
            .iter()
            .all(|f| matches!(f, Failure::RateLimited { .. }));
        if all_limited && self.unfit == 0 {
            let from_upstream = self.failures.iter().filter_map(|f| match f {
                Failure::RateLimited { retry_after } => {
                    Some(retry_after.map_or(60, |d| d.as_secs().max(1)))
                }
                _ => None,
            });
            let from_pool = self.waits.iter().map(|at| {
                u64::try_from((at - now_ms).max(0))
                    .unwrap_or(0)
                    .div_ceil(1000)
                    .max(1)
            });
            let retry_after = from_upstream.chain(from_pool).min().unwrap_or(60);
            return Exhausted {
                status: 429,
                code: if self.waits.is_empty() {
                    "upstream_rate_limited"
                } else {
                    "pool_exhausted"
                },
                message: format!(
                    "Every route for this model is rate limited or cooling down; capacity returns in {retry_after} s. {}{bound}.",
                    trail.join("; ")
                ),
                retry_after: Some(retry_after),
            };
        }
        Exhausted {
            status: 502,
            code: "upstream_unavailable",
            message: format!("No upstream answered. Tried: {}{bound}.", trail.join("; ")),
            retry_after: None,
        }
    }
}

fn attempt(
    route: &Route,
    outcome: AttemptOutcome,
    status: Option<u16>,
    took: Duration,
    detail: Option<String>,
) -> Attempt {
    Attempt {
        provider: route.provider.name.clone(),
        model: route.model.clone(),
        credential_id: route.credential.as_ref().map(|c| c.id),
        outcome,
        status,
        latency_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn route(name: &str) -> Route {
        let slots = crate::routing::pool::RouteSlots {
            route: 0,
            credential: None,
            provider: 0,
            model: 0,
        };
        Route::detached(
            name,
            "m",
            crate::providers::ModelInfo::chat(Uuid::new_v4()),
            slots,
        )
    }

    #[test]
    fn all_rate_limited_is_429_with_the_earliest_retry() {
        let mut log = AttemptLog::new(Duration::from_secs(10), 20);
        let limited = |s| Failure::RateLimited {
            retry_after: Some(Duration::from_secs(s)),
        };
        log.failed(&route("a"), limited(30), Some(429), Duration::ZERO, None);
        log.failed(&route("b"), limited(5), Some(429), Duration::ZERO, None);
        let answer = log.exhausted(2, 0);
        assert_eq!(answer.status, 429);
        assert_eq!(answer.retry_after, Some(5));
        assert!(answer.message.contains("a/m: rate_limited (429)"));
    }

    #[test]
    fn mixed_failures_are_502_and_name_each_route() {
        let mut log = AttemptLog::new(Duration::from_secs(10), 20);
        log.failed(&route("a"), Failure::Timeout, None, Duration::ZERO, None);
        log.failed(
            &route("b"),
            Failure::ServerError,
            Some(500),
            Duration::ZERO,
            None,
        );
        let answer = log.exhausted(3, 0);
        assert_eq!(answer.status, 502);
        assert!(answer.message.contains("a/m: timeout"));
        assert!(answer.message.contains("b/m: server_error (500)"));
        assert!(answer.message.contains("1 more not tried"));
    }

    #[test]
    fn a_pool_out_of_headroom_is_429_with_the_earliest_return() {
        let mut log = AttemptLog::new(Duration::from_secs(10), 20);
        log.skipped(&route("a"), "route rpm limit reached".into(), Some(30_500));
        log.skipped(&route("b"), "credential cooling down".into(), Some(90_000));
        let answer = log.exhausted(2, 10_000);
        assert_eq!((answer.status, answer.retry_after), (429, Some(21)));
        assert!(
            answer
                .message
                .contains("a/m: skipped (route rpm limit reached)")
        );
        assert_eq!(log.tried(), 0);
    }

    #[test]
    fn bounds() {
        let mut log = AttemptLog::new(Duration::from_secs(10), 1);
        assert!(log.may_try_another());
        log.failed(&route("a"), Failure::Connect, None, Duration::ZERO, None);
        assert!(!log.may_try_another());
        assert!(!AttemptLog::new(Duration::ZERO, 5).may_try_another());
        assert_eq!(
            AttemptLog::new(Duration::ZERO, 5).exhausted(0, 0).status,
            503
        );
    }
}
