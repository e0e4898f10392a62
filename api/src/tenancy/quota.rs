//! Quotas of tenants, members and api keys, in memory. One lock covers every scope, so a
//! reservation is checked and counted in the tenant, member and api key windows at once:
//! two requests can never both take the last unit, and the members of a tenant together
//! never exceed the tenant's quota. Usage is counted for every scope, with or without a
//! quota, so that a quota set during the day sees the day's usage; a scope keeps a sliding
//! minute only while a per-minute quota needs it, so a scope without one costs a day and a
//! month counter. Every operation is O(1) per scope, and the scopes of deleted keys, members
//! and tenants are freed on the next reload.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::Caller;
use crate::routing::FastMap;
use crate::routing::limits::Limits;
use crate::routing::window::{Exceeded, Millis, Window};
use crate::store::quotas::QuotaRow;
use crate::store::usage::QuotaUsageRow;

/// Whose quota: the wire's enum, stored in `quotas.scope`.
pub use freeway_wire::tenants::QuotaScope;

/// One quota. `None` is no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaRule {
    pub rpm: Option<u64>,
    pub rpd: Option<u64>,
    pub tpm: Option<u64>,
    pub tpd: Option<u64>,
    pub tokens_per_month: Option<u64>,
    pub allowed_models: Option<Vec<String>>,
    pub expires_at: Option<Millis>,
}

impl QuotaRule {
    fn limits(&self) -> Limits {
        Limits {
            rpm: self.rpm,
            rpd: self.rpd,
            tpm: self.tpm,
            tpd: self.tpd,
            rph: None,
        }
    }
}

/// Usage of one scope replayed after a restart: the current UTC day and month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeUsage {
    pub scope: QuotaScope,
    pub scope_id: Uuid,
    pub day_requests: u64,
    pub day_tokens: u64,
    pub month_tokens: u64,
}

/// Why a request may not go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaError {
    /// A limit is used up. `retry_after_secs` is `None` when the request alone is larger
    /// than the limit, so waiting will not help.
    Exceeded {
        scope: &'static str,
        limit: &'static str,
        value: u64,
        retry_after_secs: Option<u64>,
    },
    ModelNotAllowed {
        scope: &'static str,
    },
    Expired {
        scope: &'static str,
    },
}

impl QuotaError {
    pub fn message(&self, model: &str) -> String {
        match self {
            QuotaError::Exceeded {
                scope,
                limit,
                value,
                retry_after_secs,
            } => {
                let what = match *limit {
                    "rpm" => "requests per minute",
                    "rpd" => "requests per day",
                    "tpm" => "tokens per minute",
                    "tpd" => "tokens per day",
                    _ => "tokens per month",
                };
                match retry_after_secs {
                    Some(secs) => format!(
                        "The {scope} quota of {value} {what} is used up; retry after {secs} s."
                    ),
                    None => {
                        format!("This request is larger than the {scope} quota of {value} {what}.")
                    }
                }
            }
            QuotaError::ModelNotAllowed { scope } => {
                format!("The {scope} quota does not allow the model `{model}`.")
            }
            QuotaError::Expired { scope } => {
                format!("The {scope} quota has expired; ask an admin to renew it.")
            }
        }
    }
}

impl QuotaRule {
    /// A stored quota as the ledger holds it; `None` for an unknown scope.
    pub fn from_row(row: &QuotaRow) -> Option<(QuotaScope, Uuid, QuotaRule)> {
        let count = |v: Option<i64>| v.map(|v| u64::try_from(v).unwrap_or(0));
        let rule = QuotaRule {
            rpm: count(row.rpm.map(i64::from)),
            rpd: count(row.rpd.map(i64::from)),
            tpm: count(row.tpm),
            tpd: count(row.tpd),
            tokens_per_month: count(row.tokens_per_month),
            allowed_models: row.allowed_models.clone(),
            expires_at: row.expires_at.map(|at| at.timestamp_millis()),
        };
        Some((row.scope, row.scope_id, rule))
    }
}

impl ScopeUsage {
    pub fn from_row(row: &QuotaUsageRow) -> Option<ScopeUsage> {
        let count = |v: i64| u64::try_from(v).unwrap_or(0);
        Some(ScopeUsage {
            scope: row.scope,
            scope_id: row.scope_id,
            day_requests: count(row.day_requests),
            day_tokens: count(row.day_tokens),
            month_tokens: count(row.month_tokens),
        })
    }
}

type Key = (QuotaScope, Uuid);

/// The first instant of the UTC month holding `now`, and of the next one.
pub fn month_bounds(now: Millis) -> (Millis, Millis) {
    let date = DateTime::<Utc>::from_timestamp_millis(now)
        .unwrap_or_default()
        .date_naive();
    let first = NaiveDate::from_ymd_opt(date.year(), date.month(), 1).unwrap_or(date);
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    let at = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp_millis()
    };
    (at(first), at(next))
}

#[derive(Debug)]
struct Counter {
    /// Minute and UTC day, shared with the pool's ledger.
    window: Window,
    month_start: Millis,
    month_end: Millis,
    month_tokens: u64,
}

impl Counter {
    fn new(limits: Limits, now: Millis) -> Self {
        let (month_start, month_end) = month_bounds(now);
        Counter {
            window: Window::lean(limits, Tz::UTC, now),
            month_start,
            month_end,
            month_tokens: 0,
        }
    }

    fn roll_month(&mut self, now: Millis) {
        if now >= self.month_end {
            (self.month_start, self.month_end) = month_bounds(now);
            self.month_tokens = 0;
        }
    }

    fn check(
        &mut self,
        tokens_per_month: Option<u64>,
        tokens: u64,
        now: Millis,
        share: u64,
    ) -> Result<(), Exceeded> {
        if share > 1 {
            self.window.check_share(tokens, now, share)?;
        } else {
            self.window.check(tokens, now)?;
        }
        self.roll_month(now);
        let month = if share > 1 {
            crate::shared::share_of(tokens_per_month, share)
        } else {
            tokens_per_month
        };
        if let Some(limit) = month
            && self.month_tokens + tokens > limit
        {
            return Err(Exceeded {
                limit: "tokens_per_month",
                until: (tokens <= limit).then_some(self.month_end),
            });
        }
        Ok(())
    }
}

#[derive(Default)]
struct Inner {
    rules: FastMap<Key, QuotaRule>,
    counters: FastMap<Key, Counter>,
}

impl Inner {
    fn counter(&mut self, key: Key, now: Millis) -> &mut Counter {
        let limits = self.rules.get(&key).map(QuotaRule::limits);
        self.counters
            .entry(key)
            .or_insert_with(|| Counter::new(limits.unwrap_or_default(), now))
    }
}

#[derive(Default)]
pub struct QuotaLedger {
    inner: Mutex<Inner>,
    refusals: super::QuotaRefusals,
}

fn keys_of(caller: &Caller) -> [Key; 3] {
    // Narrowest first: the quota named in a refusal is the caller's own before the tenant's.
    [
        (QuotaScope::ApiKey, caller.api_key_id),
        (QuotaScope::Member, caller.member_id),
        (QuotaScope::Tenant, caller.tenant_id),
    ]
}

impl QuotaLedger {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces every quota; usage counted so far is kept.
    pub fn replace(&self, rows: Vec<(QuotaScope, Uuid, QuotaRule)>) {
        let now = crate::routing::now_millis();
        let mut inner = self.lock();
        inner.rules = rows
            .into_iter()
            .map(|(scope, id, rule)| ((scope, id), rule))
            .collect();
        let Inner { rules, counters } = &mut *inner;
        for (key, counter) in counters.iter_mut() {
            let limits = rules.get(key).map(QuotaRule::limits).unwrap_or_default();
            counter.window.set_limits(limits, now);
        }
    }

    /// Frees the usage of scopes that are gone: neither in `live` (the scopes of the keys
    /// that can still authenticate) nor holding a quota.
    pub fn retain(&self, live: &HashSet<(QuotaScope, Uuid)>) {
        let mut inner = self.lock();
        let Inner { rules, counters } = &mut *inner;
        counters.retain(|key, _| live.contains(key) || rules.contains_key(key));
    }

    /// Requests refused so far, by scope and reason.
    pub fn refusals(&self) -> &super::QuotaRefusals {
        &self.refusals
    }

    /// Scopes whose usage is held.
    pub fn scopes(&self) -> usize {
        self.lock().counters.len()
    }

    pub fn len(&self) -> usize {
        self.lock().rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds usage of the current UTC day and month, replayed after a restart.
    pub fn restore(&self, usage: &[ScopeUsage], now: Millis) {
        let mut inner = self.lock();
        for used in usage {
            let counter = inner.counter((used.scope, used.scope_id), now);
            counter.window.roll_to(now);
            counter.window.day_requests += used.day_requests;
            counter.window.day_tokens += used.day_tokens;
            counter.roll_month(now);
            counter.month_tokens += used.month_tokens;
        }
    }

    /// Checks the api key, member and tenant quotas and counts the request in all three,
    /// under one lock.
    pub fn reserve(
        self: &Arc<Self>,
        caller: &Caller,
        model: &str,
        tokens: u64,
        now: Millis,
    ) -> Result<QuotaReservation, QuotaError> {
        self.reserve_share(caller, model, tokens, now, 1)
    }

    /// [`Self::reserve`] against this replica's share of every quota: each divided by
    /// `share` (a fleet whose Redis is down).
    pub fn reserve_share(
        self: &Arc<Self>,
        caller: &Caller,
        model: &str,
        tokens: u64,
        now: Millis,
        share: u64,
    ) -> Result<QuotaReservation, QuotaError> {
        let keys = keys_of(caller);
        let mut inner = self.lock();
        if let Some(refused) = Self::refusal(&mut inner, &keys, model, tokens, now, share) {
            self.refusals.count(&refused);
            return Err(refused);
        }
        Self::count(&mut inner, &keys, tokens, now);
        Ok(QuotaReservation {
            ledger: self.clone(),
            keys,
            at: now,
            tokens,
            open: true,
            remote: None,
            pending: None,
        })
    }

    fn count(inner: &mut Inner, keys: &[Key; 3], tokens: u64, now: Millis) {
        for key in keys {
            let counter = inner.counter(*key, now);
            counter.window.add(1, tokens, now, now);
            counter.roll_month(now);
            counter.month_tokens += tokens;
        }
    }

    /// What Redis needs to check the caller's quotas (the api key's, the member's, the
    /// tenant's, narrowest first), after the checks that need no count: an expired quota,
    /// a model the quota does not allow.
    pub fn shared_specs(
        &self,
        caller: &Caller,
        model: &str,
        now: Millis,
    ) -> Result<Vec<crate::shared::Spec>, QuotaError> {
        use crate::shared::{PREFIX, Spec, limit};
        let keys = keys_of(caller);
        let mut inner = self.lock();
        if let Some(refused) = Self::permission(&inner, &keys, model, now) {
            self.refusals.count(&refused);
            return Err(refused);
        }
        let day_end = crate::routing::window::next_midnight(Tz::UTC, now);
        let (_, month_end) = month_bounds(now);
        Ok(keys
            .iter()
            .map(|key| {
                let rule = inner.rules.get(key).cloned().unwrap_or_default();
                // Counted with or without a quota, as in memory.
                let _ = inner.counter(*key, now);
                Spec {
                    key: format!("{PREFIX}q:{}:{}", key.0.as_str(), key.1),
                    limits: [
                        limit(rule.rpm),
                        crate::shared::UNLIMITED,
                        limit(rule.rpd),
                        limit(rule.tpm),
                        limit(rule.tpd),
                        limit(rule.tokens_per_month),
                    ],
                    day_end,
                    month_end,
                    rings: u8::from(rule.rpm.is_some() || rule.tpm.is_some()),
                }
            })
            .collect())
    }

    /// In a fleet: the caller's quotas, checked for what needs no count (an expired quota, a
    /// model it does not allow) and not yet reserved. The reservation is made with the first
    /// route's, in the same round trip to Redis ([`QuotaReservation::pending`]).
    pub fn reserve_pending(
        self: &Arc<Self>,
        caller: &Caller,
        model: &str,
        tokens: u64,
        now: Millis,
    ) -> Result<QuotaReservation, QuotaError> {
        let specs = self.shared_specs(caller, model, now)?;
        Ok(QuotaReservation {
            ledger: self.clone(),
            keys: keys_of(caller),
            at: now,
            tokens,
            open: false,
            remote: None,
            pending: Some(Pending {
                specs,
                model: model.to_string(),
            }),
        })
    }

    /// Redis refused the quota of `keys[refused.index]`: the error, as [`Self::reserve`]
    /// would give it.
    fn shared_refusal(
        &self,
        keys: &[Key; 3],
        refused: crate::shared::Refused,
        now: Millis,
    ) -> QuotaError {
        let key = keys.get(refused.index).copied().unwrap_or(keys[2]);
        let rule = self.lock().rules.get(&key).cloned().unwrap_or_default();
        let error = Self::exceeded(
            key,
            &rule,
            Exceeded {
                limit: refused.limit,
                until: refused.until,
            },
            now,
        );
        self.refusals.count(&error);
        error
    }

    fn exceeded(key: Key, rule: &QuotaRule, exceeded: Exceeded, now: Millis) -> QuotaError {
        let value = match exceeded.limit {
            "rpm" => rule.rpm,
            "rpd" => rule.rpd,
            "tpm" => rule.tpm,
            "tpd" => rule.tpd,
            _ => rule.tokens_per_month,
        };
        QuotaError::Exceeded {
            scope: key.0.as_str(),
            limit: exceeded.limit,
            value: value.unwrap_or(0),
            retry_after_secs: exceeded
                .until
                .map(|until| u64::try_from((until - now).max(1_000) + 999).unwrap_or(1) / 1000),
        }
    }

    /// An expired quota or a model it does not allow, narrowest scope first.
    fn permission(inner: &Inner, keys: &[Key], model: &str, now: Millis) -> Option<QuotaError> {
        for key in keys {
            let Some(rule) = inner.rules.get(key) else {
                continue;
            };
            let scope = key.0.as_str();
            if rule.expires_at.is_some_and(|at| at <= now) {
                return Some(QuotaError::Expired { scope });
            }
            if rule
                .allowed_models
                .as_ref()
                .is_some_and(|allowed| !allowed.iter().any(|m| m == model))
            {
                return Some(QuotaError::ModelNotAllowed { scope });
            }
        }
        None
    }

    /// Whether the quotas of `keys` (narrowest first) let a request of `tokens` for `model`
    /// through now, and if not why.
    fn refusal(
        inner: &mut Inner,
        keys: &[Key],
        model: &str,
        tokens: u64,
        now: Millis,
        share: u64,
    ) -> Option<QuotaError> {
        if let Some(refused) = Self::permission(inner, keys, model, now) {
            return Some(refused);
        }
        for key in keys {
            // The number only: the rule (and its model list) is cloned only for a refusal.
            let Some(per_month) = inner.rules.get(key).map(|rule| rule.tokens_per_month) else {
                continue;
            };
            let counter = inner.counter(*key, now);
            if let Err(exceeded) = counter.check(per_month, tokens, now, share) {
                let rule = inner.rules.get(key).cloned().unwrap_or_default();
                return Some(Self::exceeded(*key, &rule, exceeded, now));
            }
        }
        None
    }

    /// What the tenant's own quota would answer a request of `tokens` for `model` now,
    /// counting nothing (the routing simulation).
    pub fn check_tenant(
        &self,
        tenant: Uuid,
        model: &str,
        tokens: u64,
        now: Millis,
    ) -> Result<(), QuotaError> {
        let keys = [(QuotaScope::Tenant, tenant)];
        match Self::refusal(&mut self.lock(), &keys, model, tokens, now, 1) {
            Some(refused) => Err(refused),
            None => Ok(()),
        }
    }

    /// Requests and tokens counted today (UTC) and tokens this month, for one scope.
    pub fn usage(&self, scope: QuotaScope, id: Uuid, now: Millis) -> (u64, u64, u64) {
        let mut inner = self.lock();
        let counter = inner.counter((scope, id), now);
        counter.window.roll_to(now);
        counter.roll_month(now);
        (
            counter.window.day_requests,
            counter.window.day_tokens,
            counter.month_tokens,
        )
    }

    fn finish(
        &self,
        keys: &[Key; 3],
        at: Millis,
        estimated: u64,
        actual: Option<u64>,
        now: Millis,
    ) {
        let now = now.max(at);
        let mut inner = self.lock();
        for key in keys {
            let Some(counter) = inner.counters.get_mut(key) else {
                continue;
            };
            counter.roll_month(now);
            let same_month = at >= counter.month_start;
            match actual {
                Some(actual) => {
                    counter.window.settle(at, estimated, actual, now);
                    if same_month {
                        counter.month_tokens =
                            counter.month_tokens.saturating_sub(estimated) + actual;
                    }
                }
                None => {
                    counter.window.release(at, estimated, now);
                    if same_month {
                        counter.month_tokens = counter.month_tokens.saturating_sub(estimated);
                    }
                }
            }
        }
    }
}

/// A request counted against its quotas. Dropped without `settle`, it is given back.
pub struct QuotaReservation {
    ledger: Arc<QuotaLedger>,
    keys: [Key; 3],
    at: Millis,
    tokens: u64,
    open: bool,
    /// The same reservation on Redis, in a fleet (shared with the route it was made with).
    remote: Option<crate::shared::Joint>,
    /// In a fleet, until the first route is reserved: what Redis must check.
    pending: Option<Pending>,
}

struct Pending {
    specs: Vec<crate::shared::Spec>,
    model: String,
}

impl std::fmt::Debug for QuotaReservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuotaReservation")
            .field("at", &self.at)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl QuotaReservation {
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Replaces the estimate with the real token count.
    pub fn settle(self, actual: u64) {
        self.settle_at(actual, crate::routing::now_millis());
    }

    /// What Redis must check with the first route, while the quotas are not yet reserved.
    pub fn pending(&self) -> Option<&[crate::shared::Spec]> {
        self.pending.as_ref().map(|p| p.specs.as_slice())
    }

    /// Redis took the quotas (with a route) at `now`: counted here too, without a check, so
    /// that this replica's windows hold its own traffic should Redis go away.
    pub fn held(&mut self, held: crate::shared::Joint, now: Millis) {
        if self.pending.take().is_none() {
            return;
        }
        QuotaLedger::count(&mut self.ledger.lock(), &self.keys, self.tokens, now);
        self.at = now;
        self.open = true;
        self.remote = Some(held);
    }

    /// Redis refused the quota at `refused.index` of [`Self::pending`]: why.
    pub fn refused(&self, refused: crate::shared::Refused, now: Millis) -> QuotaError {
        self.ledger.shared_refusal(&self.keys, refused, now)
    }

    /// Redis is away: the quotas checked and counted here, against this replica's share.
    pub fn reserve_locally(&mut self, now: Millis, share: u64) -> Result<(), QuotaError> {
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        let ledger = self.ledger.clone();
        let mut inner = ledger.lock();
        let (keys, tokens) = (self.keys, self.tokens);
        if let Some(refused) =
            QuotaLedger::refusal(&mut inner, &keys, &pending.model, tokens, now, share)
        {
            ledger.refusals.count(&refused);
            self.pending = Some(pending);
            return Err(refused);
        }
        QuotaLedger::count(&mut inner, &keys, tokens, now);
        self.at = now;
        self.open = true;
        Ok(())
    }

    pub fn settle_at(mut self, actual: u64, now: Millis) {
        if !std::mem::replace(&mut self.open, false) {
            return;
        }
        self.ledger
            .finish(&self.keys, self.at, self.tokens, Some(actual), now);
        if let Some(held) = self.remote.take().and_then(|joint| joint.take()) {
            held.finish(Some(actual));
        }
    }
}

impl Drop for QuotaReservation {
    fn drop(&mut self) {
        if self.open {
            let now = crate::routing::now_millis();
            self.ledger
                .finish(&self.keys, self.at, self.tokens, None, now);
            if let Some(held) = self.remote.take().and_then(|joint| joint.take()) {
                held.finish(None);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(text: &str) -> Millis {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis()
    }

    fn caller(tenant: Uuid) -> Caller {
        Caller {
            api_key_id: Uuid::new_v4(),
            tenant_id: tenant,
            member_id: Uuid::new_v4(),
            allowed_models: None,
        }
    }

    fn ledger(rows: Vec<(QuotaScope, Uuid, QuotaRule)>) -> Arc<QuotaLedger> {
        let ledger = Arc::new(QuotaLedger::default());
        ledger.replace(rows);
        ledger
    }

    #[test]
    fn exactly_rpm_of_200_concurrent_reservations_are_admitted() {
        let tenant = Uuid::new_v4();
        let ledger = ledger(vec![(
            QuotaScope::Tenant,
            tenant,
            QuotaRule {
                rpm: Some(50),
                ..QuotaRule::default()
            },
        )]);
        // On a whole second: the minute frees exactly 60 s later (see routing::window).
        let now = crate::routing::now_millis() / 1000 * 1000;
        let held = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..200)
            .map(|_| {
                let ledger = ledger.clone();
                let held = held.clone();
                std::thread::spawn(move || {
                    if let Ok(r) = ledger.reserve(&caller(tenant), "m", 10, now) {
                        held.lock().unwrap().push(r);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(held.lock().unwrap().len(), 50);
        let refused = ledger.reserve(&caller(tenant), "m", 10, now).unwrap_err();
        assert!(matches!(
            refused,
            QuotaError::Exceeded {
                scope: "tenant",
                limit: "rpm",
                value: 50,
                retry_after_secs: Some(60)
            }
        ));
    }

    #[test]
    fn members_share_their_tenants_quota() {
        let tenant = Uuid::new_v4();
        let ledger = ledger(vec![(
            QuotaScope::Tenant,
            tenant,
            QuotaRule {
                rpd: Some(3),
                ..QuotaRule::default()
            },
        )]);
        let (alice, bob) = (caller(tenant), caller(tenant));
        let now = at("2026-03-10T12:00:00Z");
        let kept: Vec<_> = [&alice, &bob, &alice]
            .iter()
            .map(|c| ledger.reserve(c, "m", 1, now).unwrap())
            .collect();
        let refused = ledger.reserve(&bob, "m", 1, now).unwrap_err();
        assert_eq!(
            refused,
            QuotaError::Exceeded {
                scope: "tenant",
                limit: "rpd",
                value: 3,
                retry_after_secs: Some(12 * 3600)
            }
        );
        assert_eq!(
            refused.message("m"),
            "The tenant quota of 3 requests per day is used up; retry after 43200 s."
        );
        // Another tenant is not affected.
        assert!(ledger.reserve(&caller(Uuid::new_v4()), "m", 1, now).is_ok());
        drop(kept);
    }

    #[test]
    fn settle_replaces_the_estimate_and_drop_gives_back() {
        let tenant = Uuid::new_v4();
        let c = caller(tenant);
        let ledger = ledger(vec![(
            QuotaScope::ApiKey,
            c.api_key_id,
            QuotaRule {
                tpd: Some(100),
                rpd: Some(2),
                ..QuotaRule::default()
            },
        )]);
        let now = crate::routing::now_millis();
        ledger.reserve(&c, "m", 50, now).unwrap().settle(17);
        assert_eq!(
            ledger.usage(QuotaScope::ApiKey, c.api_key_id, now),
            (1, 17, 17)
        );
        assert_eq!(ledger.usage(QuotaScope::Tenant, tenant, now), (1, 17, 17));
        let given_back = ledger.reserve(&c, "m", 50, now).unwrap();
        drop(given_back);
        assert_eq!(
            ledger.usage(QuotaScope::Member, c.member_id, now),
            (1, 17, 17)
        );
        // 17 + 84 > 100: the estimate alone is refused; 83 fits.
        assert!(matches!(
            ledger.reserve(&c, "m", 84, now),
            Err(QuotaError::Exceeded { limit: "tpd", .. })
        ));
        assert!(matches!(
            ledger.reserve(&c, "m", 101, now),
            Err(QuotaError::Exceeded {
                retry_after_secs: None,
                ..
            })
        ));
        let _kept = ledger.reserve(&c, "m", 83, now).unwrap();
        assert!(matches!(
            ledger.reserve(&c, "m", 0, now),
            Err(QuotaError::Exceeded { limit: "rpd", .. })
        ));
    }

    #[test]
    fn the_day_and_the_month_roll_over_in_utc() {
        let tenant = Uuid::new_v4();
        let c = caller(tenant);
        let ledger = ledger(vec![(
            QuotaScope::Member,
            c.member_id,
            QuotaRule {
                rpd: Some(1),
                tokens_per_month: Some(30),
                ..QuotaRule::default()
            },
        )]);
        let last_day = at("2026-01-31T23:59:00Z");
        ledger
            .reserve(&c, "m", 20, last_day)
            .unwrap()
            .settle_at(20, last_day);
        assert!(matches!(
            ledger.reserve(&c, "m", 1, last_day + 1),
            Err(QuotaError::Exceeded {
                limit: "rpd",
                scope: "member",
                ..
            })
        ));
        let february = at("2026-02-01T00:00:00Z");
        assert_eq!(
            month_bounds(last_day),
            (at("2026-01-01T00:00:00Z"), february)
        );
        ledger
            .reserve(&c, "m", 25, february)
            .unwrap()
            .settle_at(25, february);
        let next_day = at("2026-02-02T08:00:00Z");
        let refused = ledger.reserve(&c, "m", 10, next_day).unwrap_err();
        assert_eq!(
            refused,
            QuotaError::Exceeded {
                scope: "member",
                limit: "tokens_per_month",
                value: 30,
                retry_after_secs: Some(
                    u64::try_from((at("2026-03-01T00:00:00Z") - next_day) / 1000).unwrap()
                )
            }
        );
        assert!(ledger.reserve(&c, "m", 5, next_day).is_ok());
    }

    #[test]
    fn restored_usage_counts_and_models_and_expiry_are_enforced() {
        let tenant = Uuid::new_v4();
        let c = caller(tenant);
        let now = at("2026-05-05T10:00:00Z");
        let ledger = ledger(vec![
            (
                QuotaScope::Tenant,
                tenant,
                QuotaRule {
                    rpd: Some(5),
                    allowed_models: Some(vec!["small".into()]),
                    ..QuotaRule::default()
                },
            ),
            (
                QuotaScope::ApiKey,
                c.api_key_id,
                QuotaRule {
                    expires_at: Some(now + 1000),
                    ..QuotaRule::default()
                },
            ),
        ]);
        ledger.restore(
            &[ScopeUsage {
                scope: QuotaScope::Tenant,
                scope_id: tenant,
                day_requests: 5,
                day_tokens: 50,
                month_tokens: 80,
            }],
            now,
        );
        assert_eq!(ledger.usage(QuotaScope::Tenant, tenant, now), (5, 50, 80));
        assert_eq!(
            ledger.reserve(&c, "large", 1, now).unwrap_err(),
            QuotaError::ModelNotAllowed { scope: "tenant" }
        );
        assert!(matches!(
            ledger.reserve(&c, "small", 1, now),
            Err(QuotaError::Exceeded { limit: "rpd", .. })
        ));
        assert_eq!(
            ledger.reserve(&c, "small", 1, now + 1000).unwrap_err(),
            QuotaError::Expired { scope: "api_key" }
        );
    }

    #[test]
    fn the_usage_of_scopes_that_are_gone_is_freed() {
        let tenant = Uuid::new_v4();
        let (kept, gone) = (caller(tenant), caller(tenant));
        let ledger = ledger(vec![(
            QuotaScope::Member,
            gone.member_id,
            QuotaRule {
                rpd: Some(10),
                ..QuotaRule::default()
            },
        )]);
        let now = crate::routing::now_millis();
        ledger.reserve(&kept, "m", 1, now).unwrap().settle(1);
        ledger.reserve(&gone, "m", 1, now).unwrap().settle(1);
        assert_eq!(ledger.scopes(), 5);
        let live = HashSet::from([
            (QuotaScope::ApiKey, kept.api_key_id),
            (QuotaScope::Member, kept.member_id),
            (QuotaScope::Tenant, tenant),
        ]);
        ledger.retain(&live);
        // The gone member still has a quota: its usage stays; its key's goes.
        assert_eq!(ledger.scopes(), 4);
        assert_eq!(
            ledger.usage(QuotaScope::Member, gone.member_id, now),
            (1, 1, 1)
        );
        ledger.replace(Vec::new());
        ledger.retain(&live);
        assert_eq!(ledger.scopes(), 3);
        assert_eq!(ledger.usage(QuotaScope::Tenant, tenant, now), (2, 2, 2));
    }
}
