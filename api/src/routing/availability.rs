//! Part of the pool state (a child module of `pool`): the models a credential cannot use,
//! which the router skips with the reason, and the early re-probes of routes cooling down
//! for a transient cause. None of it is on the hot path but the one check in `cooling`.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Inner, PoolState, Scope, Skip};
use crate::routing::window::Millis;

/// Why the route of slot `route` is unavailable, if it is.
pub(super) fn unavailable(inner: &Inner, route: usize) -> Option<Skip> {
    let slot = inner.slots.get(route)?;
    let reason = slot.unavailable.as_ref()?;
    Some(Skip::Unavailable {
        scope: slot.scope,
        reason: reason.clone(),
    })
}

/// `Slot::changed_here` while the change is not written yet.
const PENDING: u64 = u64::MAX;

impl PoolState {
    /// Marks the route of slot `route` unavailable (`Some`) or available again (`None`),
    /// here and now; the caller writes it to the store, then calls [`Self::written`]. Until
    /// then a reload keeps it.
    pub fn set_unavailable(&self, route: usize, reason: Option<Arc<str>>) {
        if let Some(slot) = self.lock().slots.get_mut(route) {
            slot.unavailable = reason;
            slot.changed_here = Some(PENDING);
        }
    }

    /// The change [`Self::set_unavailable`] made to slot `route` is written (or failed to
    /// be): reloads whose read begins from now on decide.
    pub fn written(&self, route: usize) {
        let mut inner = self.lock();
        let reads = inner.availability_reads;
        if let Some(slot) = inner.slots.get_mut(route)
            && slot.changed_here.is_some()
        {
            slot.changed_here = Some(reads);
        }
    }

    /// Called before reading the stored availability; what it returns goes with the read
    /// to [`Self::replace_unavailable`].
    pub fn begin_availability_read(&self) -> u64 {
        let mut inner = self.lock();
        inner.availability_reads += 1;
        inner.availability_reads
    }

    /// Replaces every route's availability with `unavailable` (reasons by scope key): what
    /// the store held at `read`, after a catalog reload. A change made here and written
    /// after that read began, or not written yet, is kept.
    pub fn replace_unavailable(&self, unavailable: &HashMap<String, Arc<str>>, read: u64) {
        let mut inner = self.lock();
        for slot in inner.slots.iter_mut().filter(|s| !s.vacant) {
            if !matches!(slot.scope, Scope::Route { .. }) {
                continue;
            }
            if slot.changed_here.is_some_and(|written| written >= read) {
                continue;
            }
            slot.changed_here = None;
            slot.unavailable = unavailable.get(&slot.scope.to_string()).cloned();
        }
    }

    /// Why the route of slot `route` is unavailable, if it is.
    pub fn unavailable(&self, route: usize) -> Option<Arc<str>> {
        self.lock().slots.get(route)?.unavailable.clone()
    }

    /// Asks for the route of slot `route`, cooling down for a transient cause, to be
    /// probed at `at`, before its cooldown ends.
    pub fn recheck_at(&self, route: usize, at: Millis) {
        if let Some(slot) = self.lock().slots.get_mut(route) {
            slot.recheck_at = Some(at);
        }
    }

    /// Routes still cooling down whose re-probe is due at `now`, each handed out once.
    pub fn due_rechecks(&self, now: Millis) -> Vec<Scope> {
        let mut inner = self.lock();
        inner
            .slots
            .iter_mut()
            .filter(|s| !s.vacant)
            .filter_map(|slot| {
                let at = slot.recheck_at?;
                if slot.cooldown.as_ref().is_none_or(|c| c.until <= now) {
                    slot.recheck_at = None;
                    return None;
                }
                (at <= now).then(|| {
                    slot.recheck_at = None;
                    slot.scope
                })
            })
            .collect()
    }

    /// The routes of `credential` (keyless ones for `None`) cooling down for a transient
    /// cause, or unavailable for a refusal that a probe may lift: an admin's probe tries them
    /// now, whenever their re-probe was due.
    pub fn recheckable(&self, credential: Option<uuid::Uuid>, now: Millis) -> Vec<Scope> {
        let mut inner = self.lock();
        inner
            .slots
            .iter_mut()
            .filter(|s| {
                !s.vacant
                    && matches!(s.scope, Scope::Route { credential: c, .. } if c == credential)
            })
            .filter_map(|slot| {
                let cooling = slot.cooldown.as_ref().is_some_and(|c| c.until > now);
                let transient = cooling && slot.recheck_at.is_some();
                if transient {
                    slot.recheck_at = None;
                }
                (transient || slot.unavailable.is_some()).then_some(slot.scope)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::Tz;
    use uuid::Uuid;

    use super::super::Cooldown;
    use super::*;
    use crate::routing::limits::Limits;

    const T0: Millis = 1_790_000_000_000;

    #[test]
    fn an_unavailable_route_is_skipped_with_its_reason_until_cleared() {
        let state = PoolState::default();
        let scope = Scope::Route {
            model: Uuid::new_v4(),
            credential: Some(Uuid::new_v4()),
        };
        let route = state.slot(scope, Limits::default(), Tz::UTC, T0);
        let slots = super::super::RouteSlots {
            route,
            credential: None,
            provider: route,
            model: route,
        };
        state.set_unavailable(route, Some("402 payment required".into()));
        let skip = state.check(&slots, 0, T0).err();
        assert_eq!(
            skip.map(|s| s.describe()),
            Some("model unavailable with this credential: 402 payment required".into())
        );
        let read = state.begin_availability_read();
        state.written(route);
        state.replace_unavailable(&HashMap::new(), read);
        assert!(
            state.check(&slots, 0, T0).is_err(),
            "a read begun before the write"
        );
        let read = state.begin_availability_read();
        state.replace_unavailable(&HashMap::new(), read);
        assert!(state.check(&slots, 0, T0).is_ok());
    }

    #[test]
    fn a_reload_keeps_a_change_made_here_until_a_read_begun_after_its_write() {
        let state = PoolState::default();
        let scope = Scope::Route {
            model: Uuid::new_v4(),
            credential: Some(Uuid::new_v4()),
        };
        let route = state.slot(scope, Limits::default(), Tz::UTC, T0);
        let stored: HashMap<String, Arc<str>> =
            HashMap::from([(scope.to_string(), Arc::from("missing"))]);

        // Not written yet: no read decides, whenever it began.
        state.set_unavailable(route, Some("402 payment required".into()));
        let read = state.begin_availability_read();
        state.replace_unavailable(&HashMap::new(), read);
        assert_eq!(
            state.unavailable(route).as_deref(),
            Some("402 payment required")
        );

        // Cleared here, written; a later read still holding the old mark is stale only if
        // it began before the write.
        state.set_unavailable(route, None);
        let stale = state.begin_availability_read();
        state.written(route);
        state.replace_unavailable(&stored, stale);
        assert_eq!(state.unavailable(route), None);
        let fresh = state.begin_availability_read();
        state.replace_unavailable(&stored, fresh);
        assert_eq!(state.unavailable(route).as_deref(), Some("missing"));

        // Once decided, every read decides.
        let next = state.begin_availability_read();
        state.replace_unavailable(&HashMap::new(), next);
        assert_eq!(state.unavailable(route), None);
    }

    #[test]
    fn a_recheck_is_due_once_and_only_while_the_route_cools_down() {
        let state = PoolState::default();
        let scope = Scope::Route {
            model: Uuid::new_v4(),
            credential: None,
        };
        let route = state.slot(scope, Limits::default(), Tz::UTC, T0);
        let cooldown = Cooldown {
            until: T0 + 90_000,
            reason: "transient".into(),
            since: T0,
        };
        state.cool(route, cooldown);
        state.recheck_at(route, T0 + 45_000);
        assert!(state.due_rechecks(T0 + 44_999).is_empty());
        assert_eq!(state.due_rechecks(T0 + 45_000), [scope]);
        assert!(state.due_rechecks(T0 + 46_000).is_empty());
        state.recheck_at(route, T0 + 45_000);
        assert!(state.due_rechecks(T0 + 90_000).is_empty());
    }
}
