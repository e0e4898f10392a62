//! The live state of the pool, in memory: per scope (route, credential, provider account,
//! model) its usage windows, cooldown and recent health. One lock keeps reservations exact:
//! two requests can never both take the last unit of a limit. Every operation on the hot
//! path costs O(1) per scope (see [`super::window`]); the scopes of a catalog rebuild that
//! no longer exist (a deleted credential, a disabled model) are freed and their slots reused.

use freeway_wire::pool::ScopeKind;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono_tz::Tz;
use serde::Serialize;
use uuid::Uuid;

use super::health::Health;
use super::limits::Limits;
use super::strategy::{Figures, Headroom};
use super::window::{Exceeded, Millis, Window, WindowState};

/// Models a credential cannot use, and early re-probes of cooling routes.
#[path = "availability.rs"]
mod availability;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scope {
    Route {
        model: Uuid,
        credential: Option<Uuid>,
    },
    Credential {
        id: Uuid,
    },
    Provider {
        id: Uuid,
    },
    Model {
        id: Uuid,
    },
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Route {
                model,
                credential: Some(c),
            } => write!(f, "route:{model}:{c}"),
            Scope::Route {
                model,
                credential: None,
            } => write!(f, "route:{model}:keyless"),
            Scope::Credential { id } => write!(f, "credential:{id}"),
            Scope::Provider { id } => write!(f, "provider:{id}"),
            Scope::Model { id } => write!(f, "model:{id}"),
        }
    }
}

impl Scope {
    /// The column `cooldowns.scope`.
    pub fn kind(&self) -> ScopeKind {
        match self {
            Scope::Route { .. } => ScopeKind::Route,
            Scope::Credential { .. } => ScopeKind::Credential,
            Scope::Provider { .. } => ScopeKind::Provider,
            Scope::Model { .. } => ScopeKind::Model,
        }
    }
}

/// The slots of one route: indices into the pool state, fixed when the catalog is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSlots {
    pub route: usize,
    pub credential: Option<usize>,
    pub provider: usize,
    pub model: usize,
}

impl RouteSlots {
    /// Windows that count a request, tightest scope first.
    fn counted(&self) -> impl Iterator<Item = usize> {
        [Some(self.route), self.credential, Some(self.provider)]
            .into_iter()
            .flatten()
    }

    /// Scopes whose cooldown benches the route.
    fn cooling(&self) -> impl Iterator<Item = usize> {
        [
            Some(self.route),
            self.credential,
            Some(self.provider),
            Some(self.model),
        ]
        .into_iter()
        .flatten()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cooldown {
    pub until: Millis,
    /// Shared, so that explaining a skip copies no text.
    pub reason: Arc<str>,
    /// When it was set: a clear of its scope at or after this ends it.
    #[serde(skip)]
    pub since: Millis,
}

/// Why a route was passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    Cooling {
        scope: Scope,
        until: Millis,
        reason: Arc<str>,
    },
    Limited {
        scope: Scope,
        limit: &'static str,
        until: Option<Millis>,
    },
    /// The model is unavailable with the route's credential (not listed, or refused).
    Unavailable { scope: Scope, reason: Arc<str> },
}

impl Skip {
    pub fn until(&self) -> Option<Millis> {
        match self {
            Skip::Cooling { until, .. } => Some(*until),
            Skip::Limited { until, .. } => *until,
            Skip::Unavailable { .. } => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Skip::Cooling { scope, reason, .. } => {
                format!("{} cooling down: {reason}", scope.kind())
            }
            Skip::Unavailable { reason, .. } => {
                format!("model unavailable with this credential: {reason}")
            }
            Skip::Limited {
                scope,
                limit,
                until: Some(_),
            } => format!("{} {limit} limit reached", scope.kind()),
            Skip::Limited {
                scope,
                limit,
                until: None,
            } => {
                format!("request larger than the {} {limit} limit", scope.kind())
            }
        }
    }
}

#[derive(Debug)]
struct Slot {
    scope: Scope,
    /// Bumped when the slot is freed, so that a reservation made before cannot touch the
    /// scope that reuses it.
    generation: u32,
    vacant: bool,
    /// Counted since the last snapshot.
    dirty: bool,
    window: Window,
    cooldown: Option<Cooldown>,
    /// 429s in the last hour, for the escalation ladder.
    strikes: VecDeque<Millis>,
    /// Failures in the last 15 minutes, for benching a model.
    failures: VecDeque<Millis>,
    health: Health,
    /// Routes: why the model is unavailable with this credential, when it is.
    unavailable: Option<Arc<str>>,
    /// Routes whose availability was changed here: `PENDING` until the change is written,
    /// then the count of store reads begun by then. A reload whose read began no later
    /// keeps it, for that read may not hold the change.
    changed_here: Option<u64>,
    /// Routes cooling down for a transient cause: when to probe them before the cooldown ends.
    recheck_at: Option<Millis>,
}

#[derive(Default)]
struct Inner {
    index: super::FastMap<Scope, usize>,
    slots: Vec<Slot>,
    /// Vacant slots, reused first.
    free: Vec<usize>,
    /// Scopes freed since their snapshots were last pruned.
    freed: Vec<Scope>,
    /// Reads of the stored availability begun, for `Slot::changed_here`.
    availability_reads: u64,
    /// The latest clear of cooldowns seen, by scope key (`*`: of all).
    clears: HashMap<String, Millis>,
}

/// When cooldowns of the scope `key` were last cleared, by themselves or with all.
fn cleared_at(clears: &HashMap<String, Millis>, key: &str) -> Millis {
    let all = clears.get(crate::store::cooldowns::ALL).copied();
    all.max(clears.get(key).copied()).unwrap_or(Millis::MIN)
}

impl Inner {
    /// The live slot `i` of `generation`.
    fn live(&mut self, i: usize, generation: u32) -> Option<&mut Slot> {
        self.slots
            .get_mut(i)
            .filter(|s| !s.vacant && s.generation == generation)
    }
}

#[derive(Default)]
pub struct PoolState {
    inner: Mutex<Inner>,
}

/// A reservation on every window a route counts against. Dropped without `settle`, it is
/// given back: a failed or cancelled request never leaks capacity.
pub struct Reservation {
    state: Arc<PoolState>,
    /// The windows counted, with their slots' generations.
    counted: [Option<(usize, u32)>; 3],
    at: Millis,
    tokens: u64,
    open: bool,
    /// The same reservation on Redis, in a fleet.
    remote: Option<crate::shared::Held>,
    /// The quotas reserved with it on Redis: settled with it when it serves.
    joint: Option<crate::shared::Joint>,
}

impl Reservation {
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Replaces the estimate with the real token count.
    pub fn settle(mut self, actual: u64, now: Millis) {
        self.open = false;
        let mut inner = self.state.lock();
        for &(i, generation) in self.counted.iter().flatten() {
            if let Some(slot) = inner.live(i, generation) {
                slot.window
                    .settle(self.at, self.tokens, actual, now.max(self.at));
                slot.dirty = true;
            }
        }
        drop(inner);
        if let Some(held) = self.remote.take() {
            // One round trip out for the route and the quotas reserved with it.
            let held = match self.joint.take().and_then(|joint| joint.take()) {
                Some(quotas) => quotas.join(held),
                None => held,
            };
            held.finish(Some(actual));
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        let now = super::now_millis().max(self.at);
        let mut inner = self.state.lock();
        for &(i, generation) in self.counted.iter().flatten() {
            if let Some(slot) = inner.live(i, generation) {
                slot.window.release(self.at, self.tokens, now);
                slot.dirty = true;
            }
        }
        drop(inner);
        if let Some(held) = self.remote.take() {
            held.finish(None);
        }
    }
}

/// What [`PoolState::assess`] says of one route.
#[derive(Debug, Clone)]
pub struct Assessed {
    /// Coarse health buckets, `priority`'s tie-break.
    pub rank: (u32, u32),
    /// Why the route cannot take the request now.
    pub skip: Option<Skip>,
    pub figures: Figures,
}

/// One row of what the pool state holds, for explanations and admins.
#[derive(Debug, Clone, Serialize)]
pub struct SlotView {
    pub scope: Scope,
    pub limits: Limits,
    pub learned: Limits,
    /// What is enforced: the tighter of `limits` and `learned`.
    pub effective: Limits,
    pub requests_last_minute: u64,
    pub tokens_last_minute: u64,
    pub requests_last_hour: u64,
    pub requests_today: u64,
    pub tokens_today: u64,
    pub cooldown: Option<Cooldown>,
    pub success_rate: f64,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
}

impl PoolState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The slot of `scope`, created on first sight; its limits are replaced on every call
    /// (catalog reloads) while its usage, cooldown and health are kept.
    pub fn slot(&self, scope: Scope, limits: Limits, tz: Tz, now: Millis) -> usize {
        let mut inner = self.lock();
        if let Some(&i) = inner.index.get(&scope) {
            if let Some(slot) = inner.slots.get_mut(i) {
                slot.window.set_limits(limits, now);
                slot.window.tz = tz;
            }
            return i;
        }
        let fresh = |generation| Slot {
            scope,
            generation,
            vacant: false,
            dirty: false,
            window: Window::new(limits, tz, now),
            cooldown: None,
            strikes: VecDeque::new(),
            failures: VecDeque::new(),
            health: Health::FRESH,
            unavailable: None,
            changed_here: None,
            recheck_at: None,
        };
        let i = match inner.free.pop() {
            Some(i) => {
                if let Some(slot) = inner.slots.get_mut(i) {
                    *slot = fresh(slot.generation);
                }
                i
            }
            None => {
                inner.slots.push(fresh(0));
                inner.slots.len() - 1
            }
        };
        inner.index.insert(scope, i);
        i
    }

    /// Frees every slot but `used` (those of the catalog just built): the scopes of deleted
    /// credentials, models and providers stop taking memory, and their slots are reused.
    pub fn retain(&self, used: &std::collections::HashSet<usize>) {
        let mut inner = self.lock();
        let Inner {
            index,
            slots,
            free,
            freed,
            ..
        } = &mut *inner;
        for (i, slot) in slots.iter_mut().enumerate() {
            if slot.vacant || used.contains(&i) {
                continue;
            }
            index.remove(&slot.scope);
            freed.push(slot.scope);
            slot.vacant = true;
            slot.generation = slot.generation.wrapping_add(1);
            slot.window = Window::lean(Limits::default(), Tz::UTC, 0);
            slot.cooldown = None;
            slot.strikes = VecDeque::new();
            slot.failures = VecDeque::new();
            slot.unavailable = None;
            slot.changed_here = None;
            slot.recheck_at = None;
            free.push(i);
        }
    }

    /// Scopes in use: slots that are not vacant.
    pub fn len(&self) -> usize {
        self.lock().index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn blocked(inner: &mut Inner, slots: &RouteSlots, tokens: u64, now: Millis) -> Option<Skip> {
        Self::blocked_share(inner, slots, tokens, now, 1)
    }

    fn cooling(inner: &mut Inner, slots: &RouteSlots, now: Millis) -> Option<Skip> {
        if let Some(skip) = availability::unavailable(inner, slots.route) {
            return Some(skip);
        }
        for i in slots.cooling() {
            let Some(slot) = inner.slots.get_mut(i) else {
                continue;
            };
            match &slot.cooldown {
                Some(c) if c.until > now => {
                    return Some(Skip::Cooling {
                        scope: slot.scope,
                        until: c.until,
                        reason: c.reason.clone(),
                    });
                }
                Some(_) => slot.cooldown = None,
                None => {}
            }
        }
        None
    }

    /// Why the route cannot take a request of `tokens` now, each limit divided by `share`.
    fn blocked_share(
        inner: &mut Inner,
        slots: &RouteSlots,
        tokens: u64,
        now: Millis,
        share: u64,
    ) -> Option<Skip> {
        if let Some(skip) = Self::cooling(inner, slots, now) {
            return Some(skip);
        }
        for i in slots.counted() {
            let Some(slot) = inner.slots.get_mut(i) else {
                continue;
            };
            let checked = if share > 1 {
                slot.window.check_share(tokens, now, share)
            } else {
                slot.window.check(tokens, now)
            };
            if let Err(Exceeded { limit, until }) = checked {
                return Some(Skip::Limited {
                    scope: slot.scope,
                    limit,
                    until,
                });
            }
        }
        None
    }

    /// For each route and the tokens it would reserve, under one lock: its health rank,
    /// whether it could take the request now, and its figures (with its headroom when
    /// `headroom`).
    pub fn assess<'a>(
        &self,
        routes: impl Iterator<Item = (&'a RouteSlots, u64)>,
        now: Millis,
        headroom: bool,
    ) -> Vec<Assessed> {
        let mut inner = self.lock();
        routes
            .map(|(slots, tokens)| {
                let (rank, mut figures) = inner
                    .slots
                    .get(slots.route)
                    .map_or(((0, 0), Figures::default()), |slot| {
                        (slot.health.rank(), slot.health.figures())
                    });
                if headroom {
                    figures.headroom = Some(Self::headroom_in(&mut inner, slots, now));
                }
                Assessed {
                    rank,
                    skip: Self::blocked(&mut inner, slots, tokens, now),
                    figures,
                }
            })
            .collect()
    }

    /// The tightest fraction left of any limit on the windows the route counts against.
    fn headroom_in(inner: &mut Inner, slots: &RouteSlots, now: Millis) -> Headroom {
        let mut headroom = Headroom::UNLIMITED;
        for i in slots.counted() {
            if let Some(slot) = inner.slots.get_mut(i).filter(|s| !s.vacant) {
                let left = slot.window.headroom(now);
                headroom = headroom.tighten(slot.scope.kind(), slot.window.effective(), left);
            }
        }
        headroom
    }

    /// [`Self::headroom_in`] for one route, for explanations.
    pub fn headroom_of(&self, slots: &RouteSlots, now: Millis) -> Headroom {
        Self::headroom_in(&mut self.lock(), slots, now)
    }

    /// Whether the route could take a request of `tokens` now.
    pub fn check(&self, slots: &RouteSlots, tokens: u64, now: Millis) -> Result<(), Skip> {
        match Self::blocked(&mut self.lock(), slots, tokens, now) {
            Some(skip) => Err(skip),
            None => Ok(()),
        }
    }

    /// Checks and counts in one step, under one lock.
    pub fn reserve(
        self: &Arc<Self>,
        slots: &RouteSlots,
        tokens: u64,
        now: Millis,
    ) -> Result<Reservation, Skip> {
        let mut inner = self.lock();
        if let Some(skip) = Self::blocked(&mut inner, slots, tokens, now) {
            return Err(skip);
        }
        Ok(self.count(&mut inner, slots, tokens, now, None))
    }

    /// [`Self::reserve`] against this replica's share of every limit: each divided by
    /// `share` (a fleet whose Redis is down).
    pub fn reserve_share(
        self: &Arc<Self>,
        slots: &RouteSlots,
        tokens: u64,
        now: Millis,
        share: u64,
    ) -> Result<Reservation, Skip> {
        let mut inner = self.lock();
        if let Some(skip) = Self::blocked_share(&mut inner, slots, tokens, now, share) {
            return Err(skip);
        }
        Ok(self.count(&mut inner, slots, tokens, now, None))
    }

    /// What Redis needs to check the windows the route counts against (its own, its
    /// credential's, its provider account's), once the route is not cooling down.
    pub fn shared_specs(
        &self,
        slots: &RouteSlots,
        now: Millis,
    ) -> Result<Vec<crate::shared::Spec>, Skip> {
        use crate::shared::{PREFIX, Spec, UNLIMITED, limit};
        let mut inner = self.lock();
        if let Some(skip) = Self::cooling(&mut inner, slots, now) {
            return Err(skip);
        }
        let mut specs = Vec::with_capacity(3);
        for i in slots.counted() {
            let Some(slot) = inner.slots.get_mut(i).filter(|s| !s.vacant) else {
                continue;
            };
            slot.window.roll_to(now);
            let limits = slot.window.effective();
            specs.push(Spec {
                key: format!("{PREFIX}w:{}", slot.scope),
                limits: [
                    limit(limits.rpm),
                    limit(limits.rph),
                    limit(limits.rpd),
                    limit(limits.tpm),
                    limit(limits.tpd),
                    UNLIMITED,
                ],
                day_end: slot.window.day_end(),
                month_end: 0,
                rings: slot.window.rings_needed(),
            });
        }
        Ok(specs)
    }

    /// Every scope whose requests are counted, with its key on Redis, day and sliding
    /// windows, to read the fleet's usage of it ([`crate::shared::Shared::peek`]), in the
    /// same order. An admin's call, not the hot path.
    pub fn fleet_scopes(&self, now: Millis) -> (Vec<Scope>, Vec<crate::shared::Peek>) {
        use crate::shared::{PREFIX, Peek};
        let mut inner = self.lock();
        inner
            .slots
            .iter_mut()
            // A model's scope holds only a cooldown: no request is counted in it.
            .filter(|slot| !slot.vacant && !matches!(slot.scope, Scope::Model { .. }))
            .map(|slot| {
                slot.window.roll_to(now);
                let peek = Peek {
                    key: format!("{PREFIX}w:{}", slot.scope),
                    day_end: slot.window.day_end(),
                    rings: slot.window.rings_needed(),
                };
                (slot.scope, peek)
            })
            .unzip()
    }

    /// [`Self::headroom_of`] and [`Self::check`] (for a request of no tokens) on the
    /// fleet's usage of each window (`used`, by scope, read from Redis) rather than this
    /// replica's own; a scope missing from `used` is judged on this replica's. A window
    /// without room is given back at the latest a minute (an hour) from now, or when its
    /// day ends. An admin's call, not the hot path.
    pub fn fleet_judgement(
        &self,
        slots: &RouteSlots,
        used: &HashMap<Scope, crate::shared::Used>,
        now: Millis,
    ) -> (Headroom, Option<Skip>) {
        let mut inner = self.lock();
        let mut skip = Self::cooling(&mut inner, slots, now);
        let mut headroom = Headroom::UNLIMITED;
        for i in slots.counted() {
            let Some(slot) = inner.slots.get_mut(i).filter(|s| !s.vacant) else {
                continue;
            };
            let limits = slot.window.effective();
            let used = match used.get(&slot.scope) {
                Some(used) => *used,
                None => slot.window.used(now),
            };
            headroom = headroom.tighten(
                slot.scope.kind(),
                limits,
                super::window::left_of(limits, &used),
            );
            if skip.is_none() {
                let (minute_requests, minute_tokens) = used.minute.unwrap_or_default();
                let day_end = slot.window.day_end();
                // As `Window::check` judges a request of no tokens: a request limit is
                // reached when it is used up, a token limit when it is exceeded.
                let full = [
                    (
                        "rpm",
                        limits.rpm,
                        minute_requests,
                        0,
                        now + super::window::MINUTE,
                    ),
                    (
                        "rph",
                        limits.rph,
                        used.hour_requests.unwrap_or(0),
                        0,
                        now + super::window::HOUR,
                    ),
                    ("rpd", limits.rpd, used.day.0, 0, day_end),
                    (
                        "tpm",
                        limits.tpm,
                        minute_tokens,
                        1,
                        now + super::window::MINUTE,
                    ),
                    ("tpd", limits.tpd, used.day.1, 1, day_end),
                ];
                skip = full
                    .into_iter()
                    .find(|(_, limit, used, over, _)| {
                        limit.is_some_and(|limit| *used >= limit.saturating_add(*over))
                    })
                    .map(|(limit, _, _, _, until)| Skip::Limited {
                        scope: slot.scope,
                        limit,
                        until: Some(until),
                    });
            }
        }
        (headroom, skip)
    }

    /// Redis refused the route: why, as [`Self::reserve`] says it. `index` is the refused
    /// spec's place in [`Self::shared_specs`].
    pub fn shared_skip(&self, slots: &RouteSlots, refused: crate::shared::Refused) -> Skip {
        let inner = self.lock();
        let scope = slots
            .counted()
            .filter_map(|i| inner.slots.get(i).filter(|s| !s.vacant))
            .nth(refused.index)
            .or_else(|| inner.slots.get(slots.route))
            .map_or(
                Scope::Model {
                    id: uuid::Uuid::nil(),
                },
                |s| s.scope,
            );
        Skip::Limited {
            scope,
            limit: refused.limit,
            until: refused.until,
        }
    }

    /// A reservation Redis took for the route: counted here too, without a check, so that
    /// this replica's windows hold its own traffic should Redis go away.
    pub fn reserve_held(
        self: &Arc<Self>,
        slots: &RouteSlots,
        tokens: u64,
        now: Millis,
        held: crate::shared::Held,
        joint: Option<crate::shared::Joint>,
    ) -> Reservation {
        let mut inner = self.lock();
        let mut reservation = self.count(&mut inner, slots, tokens, now, Some(held));
        reservation.joint = joint;
        reservation
    }

    fn count(
        self: &Arc<Self>,
        inner: &mut Inner,
        slots: &RouteSlots,
        tokens: u64,
        now: Millis,
        remote: Option<crate::shared::Held>,
    ) -> Reservation {
        let mut counted = [None; 3];
        for (i, place) in slots.counted().zip(counted.iter_mut()) {
            if let Some(slot) = inner.slots.get_mut(i).filter(|s| !s.vacant) {
                slot.window.add(1, tokens, now, now);
                slot.dirty = true;
                *place = Some((i, slot.generation));
            }
        }
        Reservation {
            state: self.clone(),
            counted,
            at: now,
            tokens,
            open: true,
            remote,
            joint: None,
        }
    }

    /// Counts `requests` past requests of `tokens` tokens in all, made at `at`: usage
    /// recorded after the last snapshot, restored after a restart.
    pub fn replay(&self, slots: &RouteSlots, requests: u64, tokens: u64, at: Millis, now: Millis) {
        let mut inner = self.lock();
        for i in slots.counted() {
            if let Some(slot) = inner.slots.get_mut(i).filter(|s| !s.vacant) {
                slot.window.add(requests, tokens, at, now);
                slot.dirty = true;
            }
        }
    }

    /// The windows of the scopes counted since the last call (all of them with `all`), by
    /// scope key, to persist; and the scopes freed since, whose snapshots can go.
    pub fn snapshot(&self, all: bool, now: Millis) -> (Vec<(String, WindowState)>, Vec<String>) {
        let mut inner = self.lock();
        let states = inner
            .slots
            .iter_mut()
            .filter(|s| !s.vacant && (all || s.dirty))
            .map(|slot| {
                slot.dirty = false;
                (slot.scope.to_string(), slot.window.state(now))
            })
            .collect();
        let freed = inner.freed.drain(..).map(|s| s.to_string()).collect();
        (states, freed)
    }

    /// Adds persisted window states to the scopes they name (unknown ones are skipped);
    /// returns how many were restored.
    pub fn restore_windows(&self, states: &[(String, WindowState)], now: Millis) -> usize {
        let mut inner = self.lock();
        let by_key: HashMap<String, usize> = inner
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.vacant)
            .map(|(i, s)| (s.scope.to_string(), i))
            .collect();
        let mut restored = 0;
        for (key, state) in states {
            if let Some(slot) = by_key.get(key).and_then(|&i| inner.slots.get_mut(i)) {
                slot.window.restore(state, now);
                restored += 1;
            }
        }
        restored
    }

    /// A served request: its latency, and for a whole answer its time to the first token
    /// (the whole answer's; a stream's is recorded at its commit point, [`Self::first_token`]).
    pub fn succeeded(&self, slots: &RouteSlots, latency_ms: u64, first_token_ms: Option<u64>) {
        let mut inner = self.lock();
        if let Some(slot) = inner.slots.get_mut(slots.route) {
            slot.health.succeeded(latency_ms, first_token_ms);
        }
    }

    /// A stream reached its commit point `ms` after it was sent.
    pub fn first_token(&self, slots: &RouteSlots, ms: u64) {
        let mut inner = self.lock();
        if let Some(slot) = inner.slots.get_mut(slots.route) {
            slot.health.first_token(ms);
        }
    }

    /// Ordering key from recent health: higher success first, then lower latency, in
    /// coarse buckets so that noise does not reshuffle the chain on every request.
    pub fn health_rank(&self, slots: &RouteSlots) -> (u32, u32) {
        let inner = self.lock();
        inner
            .slots
            .get(slots.route)
            .map_or((0, 0), |slot| slot.health.rank())
    }

    /// Sets a cooldown on one scope, keeping a longer one already in place.
    pub fn cool(&self, slot: usize, cooldown: Cooldown) -> Option<(Scope, Cooldown)> {
        let mut inner = self.lock();
        let slot = inner.slots.get_mut(slot)?;
        if slot
            .cooldown
            .as_ref()
            .is_some_and(|c| c.until >= cooldown.until)
        {
            return None;
        }
        slot.cooldown = Some(cooldown.clone());
        Some((slot.scope, cooldown))
    }

    /// A cooldown another replica set (from Redis), by scope key: kept unless a longer one
    /// runs. A background task's call, not the hot path: the scan is over the pool's scopes.
    pub fn cool_by_key(&self, scope_key: &str, cooldown: Cooldown) -> bool {
        let mut inner = self.lock();
        let Inner { slots, clears, .. } = &mut *inner;
        // Set before a clear that covers it: its write crossed the clear.
        if cooldown.since <= cleared_at(clears, scope_key) {
            return false;
        }
        let Some(slot) = slots
            .iter_mut()
            .find(|s| !s.vacant && s.scope.to_string() == scope_key)
        else {
            return false;
        };
        if slot
            .cooldown
            .as_ref()
            .is_some_and(|c| c.until >= cooldown.until)
        {
            return false;
        }
        slot.cooldown = Some(cooldown);
        true
    }

    /// Ends the cooldown of the scope `scope_key` (as `Scope` displays it) set up to `at`,
    /// and remembers the clear; `None` when no scope has that key, else whether it was
    /// cooling down. An admin action, not the hot path: the scan is over the pool's scopes.
    pub fn clear_cooldown(&self, scope_key: &str, at: Millis) -> Option<bool> {
        let mut inner = self.lock();
        Self::remember_clear(&mut inner, scope_key, at);
        let slot = inner
            .slots
            .iter_mut()
            .find(|s| !s.vacant && s.scope.to_string() == scope_key)?;
        let ends = slot.cooldown.as_ref().is_some_and(|c| c.since <= at);
        if ends {
            slot.cooldown = None;
        }
        Some(ends)
    }

    /// Ends every cooldown set up to `at`, and remembers the clear.
    pub fn clear_cooldowns(&self, at: Millis) {
        self.apply_clears(&[(crate::store::cooldowns::ALL.to_string(), at)]);
    }

    /// Clears of cooldowns made anywhere (by scope key, `*` for all, with their times):
    /// remembered, and every cooldown set up to a clear that covers it ends. A cooldown set
    /// after, here or by another replica, is kept: its failure came after the clear.
    pub fn apply_clears(&self, cleared: &[(String, Millis)]) {
        let mut inner = self.lock();
        for (key, at) in cleared {
            Self::remember_clear(&mut inner, key, *at);
        }
        let Inner { slots, clears, .. } = &mut *inner;
        for slot in slots.iter_mut().filter(|s| !s.vacant) {
            if let Some(cooldown) = &slot.cooldown
                && cooldown.since <= cleared_at(clears, &slot.scope.to_string())
            {
                slot.cooldown = None;
            }
        }
    }

    fn remember_clear(inner: &mut Inner, key: &str, at: Millis) {
        let latest = inner.clears.entry(key.to_string()).or_insert(at);
        *latest = (*latest).max(at);
        if key == crate::store::cooldowns::ALL {
            // A clear of all covers the earlier clears of one scope.
            inner
                .clears
                .retain(|k, cleared| k == crate::store::cooldowns::ALL || *cleared > at);
        }
    }

    /// Records a 429 on the route and returns how many it had within the last hour.
    /// Counts a 429 on the ladder and returns the strikes within the hour. 429s that come
    /// within `together` ms of the last strike are the same event (a burst of concurrent
    /// requests rejected at once) and add nothing.
    pub fn strike(&self, slot: usize, now: Millis, together: Millis) -> usize {
        let mut inner = self.lock();
        let Some(slot) = inner.slots.get_mut(slot) else {
            return 0;
        };
        slot.strikes.retain(|at| *at > now - super::window::HOUR);
        let same_event = slot
            .strikes
            .back()
            .is_some_and(|last| now - *last < together);
        if !same_event {
            slot.strikes.push_back(now);
        }
        slot.strikes.len()
    }

    /// Records a failure; returns how many the slot had within `within` ms.
    pub fn failure(&self, slot: usize, now: Millis, within: Millis) -> usize {
        let mut inner = self.lock();
        let Some(slot) = inner.slots.get_mut(slot) else {
            return 0;
        };
        slot.health.failed();
        slot.failures.retain(|at| *at > now - within);
        slot.failures.push_back(now);
        slot.failures.len()
    }

    pub fn day_end(&self, slot: usize) -> Option<Millis> {
        self.lock().slots.get(slot).map(|s| s.window.day_end())
    }

    /// Tightens a slot's limits with what the provider said about itself.
    pub fn learn(&self, slot: usize, learned: Limits) -> bool {
        let mut inner = self.lock();
        let Some(slot) = inner.slots.get_mut(slot) else {
            return false;
        };
        slot.window.learn(learned, super::now_millis())
    }

    /// Restores learned limits (after a restart) by scope key.
    pub fn learn_by_key(&self, scope_key: &str, learned: Limits) -> bool {
        let mut inner = self.lock();
        match inner
            .slots
            .iter_mut()
            .find(|s| !s.vacant && s.scope.to_string() == scope_key)
        {
            Some(slot) => {
                slot.window.learn(learned, super::now_millis());
                true
            }
            None => false,
        }
    }

    /// The learned limits of a slot.
    pub fn learned(&self, slot: usize) -> Option<Limits> {
        self.lock().slots.get(slot).map(|s| s.window.learned())
    }

    pub fn scope_of(&self, slot: usize) -> Option<Scope> {
        self.lock().slots.get(slot).map(|s| s.scope)
    }

    /// For each route, under one lock, what is left of each limit on every window it counts
    /// against (the route's, its credential's, its provider account's): the tightest.
    pub fn headroom<'a>(
        &self,
        routes: impl Iterator<Item = &'a RouteSlots>,
        now: Millis,
    ) -> Vec<Limits> {
        let mut inner = self.lock();
        routes
            .map(|slots| {
                let mut left = Limits::default();
                for i in slots.counted() {
                    if let Some(slot) = inner.slots.get_mut(i).filter(|s| !s.vacant) {
                        left = left.tighter(slot.window.headroom(now));
                    }
                }
                left
            })
            .collect()
    }

    /// Cooldowns running at `now`, by kind of scope (every kind, zero included).
    pub fn cooldowns_active(&self, now: Millis) -> Vec<(ScopeKind, usize)> {
        let inner = self.lock();
        let cooling: Vec<ScopeKind> = inner
            .slots
            .iter()
            .filter(|s| !s.vacant && s.cooldown.as_ref().is_some_and(|c| c.until > now))
            .map(|s| s.scope.kind())
            .collect();
        ScopeKind::ALL
            .iter()
            .map(|kind| (*kind, cooling.iter().filter(|k| *k == kind).count()))
            .collect()
    }

    pub fn view(&self, now: Millis) -> Vec<SlotView> {
        let mut inner = self.lock();
        inner
            .slots
            .iter_mut()
            .filter(|slot| !slot.vacant)
            .map(|slot| SlotView {
                scope: slot.scope,
                limits: slot.window.limits(),
                learned: slot.window.learned(),
                effective: slot.window.effective(),
                requests_last_minute: slot.window.requests_last_minute(now),
                tokens_last_minute: slot.window.tokens_last_minute(now),
                requests_last_hour: slot.window.requests_last_hour(now),
                requests_today: slot.window.day_requests,
                tokens_today: slot.window.day_tokens,
                cooldown: slot.cooldown.clone().filter(|c| c.until > now),
                success_rate: slot.health.success,
                latency_ms: slot.health.latency_ms,
                ttft_ms: slot.health.ttft_ms,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_790_000_000_000;

    fn route(state: &PoolState, credential_limits: Limits) -> RouteSlots {
        let (model, credential, provider) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        RouteSlots {
            route: state.slot(
                Scope::Route {
                    model,
                    credential: Some(credential),
                },
                Limits::default(),
                Tz::UTC,
                T0,
            ),
            credential: Some(state.slot(
                Scope::Credential { id: credential },
                credential_limits,
                Tz::UTC,
                T0,
            )),
            provider: state.slot(
                Scope::Provider { id: provider },
                Limits::default(),
                Tz::UTC,
                T0,
            ),
            model: state.slot(Scope::Model { id: model }, Limits::default(), Tz::UTC, T0),
        }
    }

    #[test]
    fn two_hundred_concurrent_reservations_on_50_rpm_admit_exactly_50() {
        let state = Arc::new(PoolState::default());
        let slots = route(
            &state,
            Limits {
                rpm: Some(50),
                ..Limits::default()
            },
        );
        let admitted: Vec<Reservation> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..200)
                .map(|_| {
                    let state = state.clone();
                    scope.spawn(move || state.reserve(&slots, 10, T0).ok())
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().unwrap())
                .collect()
        });
        assert_eq!(admitted.len(), 50);
        let Err(Skip::Limited {
            scope,
            limit,
            until,
        }) = state.check(&slots, 10, T0)
        else {
            panic!("the 51st request must be refused");
        };
        assert_eq!(
            (scope.kind(), limit, until),
            (ScopeKind::Credential, "rpm", Some(T0 + 60_000))
        );
        // Settled reservations keep counting; the window frees itself after a minute.
        for reservation in admitted {
            reservation.settle(12, T0 + 1);
        }
        assert!(state.check(&slots, 10, T0 + 2).is_err());
        assert!(state.check(&slots, 10, T0 + 60_001).is_ok());
    }

    #[test]
    fn a_dropped_reservation_is_given_back() {
        let state = Arc::new(PoolState::default());
        let slots = route(
            &state,
            Limits {
                rpm: Some(1),
                tpm: Some(100),
                ..Limits::default()
            },
        );
        let now = chrono::Utc::now().timestamp_millis();
        let reservation = state.reserve(&slots, 80, now).unwrap();
        assert!(state.check(&slots, 10, now).is_err());
        drop(reservation);
        assert!(state.check(&slots, 80, now).is_ok());
        let view = state.view(now);
        assert!(
            view.iter()
                .all(|v| v.requests_last_minute == 0 && v.tokens_last_minute == 0)
        );
    }

    #[test]
    fn cooldowns_bench_the_route_and_keep_the_longer_one() {
        let state = Arc::new(PoolState::default());
        let slots = route(&state, Limits::default());
        let cool = |until| Cooldown {
            until,
            reason: "test".into(),
            since: T0,
        };
        assert!(state.cool(slots.route, cool(T0 + 1000)).is_some());
        assert!(state.cool(slots.route, cool(T0 + 500)).is_none());
        assert!(
            matches!(state.check(&slots, 0, T0), Err(Skip::Cooling { until, .. }) if until == T0 + 1000)
        );
        assert!(state.check(&slots, 0, T0 + 1000).is_ok());
        let key = state
            .scope_of(slots.credential.unwrap())
            .unwrap()
            .to_string();
        assert!(state.cool_by_key(&key, cool(T0 + 5000)));
        assert!(matches!(
            state.check(&slots, 0, T0 + 2000),
            Err(Skip::Cooling {
                scope: Scope::Credential { .. },
                ..
            })
        ));
    }

    #[test]
    fn a_clear_ends_the_cooldowns_set_before_it_and_keeps_later_ones() {
        let state = Arc::new(PoolState::default());
        let (a, b) = (
            route(&state, Limits::default()),
            route(&state, Limits::default()),
        );
        let key = |slots: &RouteSlots| state.scope_of(slots.route).unwrap().to_string();
        let cool = |since| Cooldown {
            until: T0 + 60_000,
            reason: "test".into(),
            since,
        };
        state.cool(a.route, cool(T0));
        state.cool(b.route, cool(T0 + 20));

        // A clear of all at T0 + 10 ends a's (set before), not b's (set after).
        state.apply_clears(&[("*".into(), T0 + 10)]);
        assert!(state.check(&a, 0, T0 + 30).is_ok());
        assert!(state.check(&b, 0, T0 + 30).is_err());

        // a's cooldown, set before the clear, comes back from Redis (its write crossed the
        // clear): refused. One set after the clear is taken.
        assert!(!state.cool_by_key(&key(&a), cool(T0 + 5)));
        assert!(state.check(&a, 0, T0 + 30).is_ok());
        assert!(state.cool_by_key(&key(&a), cool(T0 + 11)));
        assert!(state.check(&a, 0, T0 + 30).is_err());

        // A clear of one scope ends only that scope's.
        state.apply_clears(&[(key(&b), T0 + 40)]);
        assert!(state.check(&b, 0, T0 + 50).is_ok());
        assert!(state.check(&a, 0, T0 + 50).is_err());
        assert_eq!(state.clear_cooldown(&key(&a), T0 + 50), Some(true));
        assert!(state.check(&a, 0, T0 + 50).is_ok());
    }

    #[test]
    fn the_fleets_usage_is_judged_as_the_router_judges_its_own() {
        let state = Arc::new(PoolState::default());
        let slots = route(
            &state,
            Limits {
                rpm: Some(5),
                tpm: Some(100),
                ..Limits::default()
            },
        );
        let credential = state.scope_of(slots.credential.unwrap()).unwrap();
        let fleet = |requests, tokens| {
            HashMap::from([(
                credential,
                crate::shared::Used {
                    minute: Some((requests, tokens)),
                    hour_requests: None,
                    day: (requests, tokens),
                },
            )])
        };

        // Tokens used up to the limit: no headroom, but not skipped (as `check` with no
        // tokens); one request more than the fleet's rpm allows: skipped.
        let (headroom, skip) = state.fleet_judgement(&slots, &fleet(4, 100), T0);
        assert_eq!(headroom.fraction, 0.0);
        assert_eq!(skip, None);
        let (_, skip) = state.fleet_judgement(&slots, &fleet(5, 10), T0);
        assert_eq!(
            skip,
            Some(Skip::Limited {
                scope: credential,
                limit: "rpm",
                until: Some(T0 + 60_000),
            })
        );
        let (_, skip) = state.fleet_judgement(&slots, &fleet(1, 101), T0);
        assert!(matches!(skip, Some(Skip::Limited { limit: "tpm", .. })));
        // This replica alone has served nothing.
        assert!(state.check(&slots, 0, T0).is_ok());
    }

    #[test]
    fn freed_scopes_give_their_slots_back_and_old_reservations_touch_nothing() {
        let state = Arc::new(PoolState::default());
        let limits = Limits {
            rpm: Some(1),
            ..Limits::default()
        };
        let gone = route(&state, limits);
        let kept = route(&state, limits);
        let before = state.len();
        let held = state.reserve(&gone, 10, T0).unwrap();
        let used: std::collections::HashSet<usize> = [
            Some(kept.route),
            kept.credential,
            Some(kept.provider),
            Some(kept.model),
        ]
        .into_iter()
        .flatten()
        .collect();
        state.retain(&used);
        assert_eq!(state.len(), before - 4);
        let (_, freed) = state.snapshot(false, T0);
        assert_eq!(freed.len(), 4, "their snapshots can go: {freed:?}");
        // New scopes reuse the freed slots; the old reservation, given back, leaves them alone.
        let mut reused: Vec<usize> = (0..4)
            .map(|_| {
                state.slot(
                    Scope::Credential { id: Uuid::new_v4() },
                    limits,
                    Tz::UTC,
                    T0,
                )
            })
            .collect();
        reused.sort_unstable();
        let mut old = [
            gone.route,
            gone.credential.unwrap(),
            gone.provider,
            gone.model,
        ];
        old.sort_unstable();
        assert_eq!(reused, old);
        let fresh = gone;
        let taken = state.reserve(&fresh, 10, T0).unwrap();
        drop(held);
        assert!(
            state.check(&fresh, 10, T0).is_err(),
            "still holds its own request"
        );
        drop(taken);
        assert!(state.check(&fresh, 10, T0).is_ok());
        assert_eq!(state.view(T0).len(), before);
    }

    #[test]
    fn snapshots_carry_only_what_changed() {
        let state = Arc::new(PoolState::default());
        let slots = route(&state, Limits::default());
        assert!(state.snapshot(false, T0).0.is_empty());
        state.reserve(&slots, 10, T0).unwrap().settle(15, T0 + 1);
        let (changed, _) = state.snapshot(false, T0 + 2);
        assert_eq!(
            changed.len(),
            3,
            "route, credential and provider: {changed:?}"
        );
        assert!(
            changed
                .iter()
                .all(|(_, s)| s.day_requests == 1 && s.day_tokens == 15)
        );
        assert!(state.snapshot(false, T0 + 3).0.is_empty());
        assert_eq!(state.snapshot(true, T0 + 3).0.len(), 4);

        // A new process with the same scopes takes the states back.
        let restored = PoolState::default();
        for i in [
            slots.route,
            slots.credential.unwrap(),
            slots.provider,
            slots.model,
        ] {
            restored.slot(state.scope_of(i).unwrap(), Limits::default(), Tz::UTC, T0);
        }
        assert_eq!(restored.restore_windows(&changed, T0 + 4), 3);
        let view = restored.view(T0 + 4);
        assert!(view.iter().filter(|v| v.requests_today == 1).count() == 3);
    }
}
