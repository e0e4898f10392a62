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

impl PoolState {
    /// Marks the route of slot `route` unavailable (`Some`) or available again (`None`).
    pub fn set_unavailable(&self, route: usize, reason: Option<Arc<str>>) {
        if let Some(slot) = self.lock().slots.get_mut(route) {
            slot.unavailable = reason;
        }
    }

    /// Replaces every route's availability with `unavailable` (reasons by scope key): what
    /// the store holds, after a catalog reload.
    pub fn replace_unavailable(&self, unavailable: &HashMap<String, Arc<str>>) {
        let mut inner = self.lock();
        for slot in inner.slots.iter_mut().filter(|s| !s.vacant) {
            if matches!(slot.scope, Scope::Route { .. }) {
                slot.unavailable = unavailable.get(&slot.scope.to_string()).cloned();
            }
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
        state.replace_unavailable(&HashMap::new());
        assert!(state.check(&slots, 0, T0).is_ok());
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
