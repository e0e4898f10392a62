//! Each strategy orders one seeded pool differently, and for the reason it states.
//!
//! | route | priority | rpd used of 10 | ttft  | outcomes             | tier |
//! | ----- | -------- | -------------- | ----- | -------------------- | ---- |
//! | a     | 10       | 8 (0.2 left)   | 400ms | ok, fail, ok (0.84)  | 3    |
//! | b     | 20       | 5 (0.5 left)   | 300ms | ok, ok (1.0)         | none |
//! | c     | 30       | 1 (0.9 left)   | 200ms | fail, fail (0.64)    | 2    |
//! | d     | 40       | 6 (0.4 left)   | 50ms  | ok, fail, ok (0.84)  | 1    |

use std::sync::Arc;

use chrono_tz::Tz;
use uuid::Uuid;

use super::chain::{Needs, plan};
use crate::providers::{ModelInfo, Route};
use crate::routing::limits::Limits;
use crate::routing::pool::{PoolState, RouteSlots, Scope};
use crate::routing::session::Pin;
use crate::routing::strategy::Strategy;

const T0: i64 = 1_790_000_000_000;

struct Seed {
    name: &'static str,
    priority: i32,
    used: u64,
    ttft: Option<u64>,
    outcomes: &'static [bool],
    tier: Option<i16>,
}

const POOL: [Seed; 4] = [
    Seed {
        name: "a",
        priority: 10,
        used: 8,
        ttft: Some(400),
        outcomes: &[true, false, true],
        tier: Some(3),
    },
    Seed {
        name: "b",
        priority: 20,
        used: 5,
        ttft: Some(300),
        outcomes: &[true, true],
        tier: None,
    },
    Seed {
        name: "c",
        priority: 30,
        used: 1,
        ttft: Some(200),
        outcomes: &[false, false],
        tier: Some(2),
    },
    Seed {
        name: "d",
        priority: 40,
        used: 6,
        ttft: Some(50),
        outcomes: &[true, false, true],
        tier: Some(1),
    },
];

fn route(state: &Arc<PoolState>, seed: &Seed) -> Route {
    let (model, credential, provider) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let none = Limits::default();
    let rpd = Limits {
        rpd: Some(10),
        ..none
    };
    let slot = |scope, limits| state.slot(scope, limits, Tz::UTC, T0);
    let slots = RouteSlots {
        route: slot(
            Scope::Route {
                model,
                credential: Some(credential),
            },
            none,
        ),
        credential: Some(slot(Scope::Credential { id: credential }, rpd)),
        provider: slot(Scope::Provider { id: provider }, none),
        model: slot(Scope::Model { id: model }, none),
    };
    for _ in 0..seed.used {
        state.reserve(&slots, 0, T0).unwrap().settle(0, T0);
    }
    for &ok in seed.outcomes {
        if ok {
            state.succeeded(&slots, 1000, None);
        } else {
            state.failure(slots.route, T0, 1);
        }
    }
    if let Some(ms) = seed.ttft {
        state.first_token(&slots, ms);
    }
    let info = ModelInfo {
        tier: seed.tier,
        ..ModelInfo::chat(model)
    };
    let mut route = Route::detached(seed.name, "m", info, slots);
    route.priority = (seed.priority, 0, 0);
    route
}

fn pool(seeds: &[Seed]) -> (Arc<PoolState>, Vec<Route>) {
    let state = Arc::new(PoolState::default());
    let routes = seeds.iter().map(|s| route(&state, s)).collect();
    (state, routes)
}

/// The order `strategy` tries the routes in, each with the figure it was ranked by.
fn order(strategy: Strategy, pin: Option<Pin>) -> Vec<(String, String)> {
    let (state, routes) = pool(&POOL);
    order_of(&state, &routes, strategy, pin)
}

fn order_of(
    state: &PoolState,
    routes: &[Route],
    strategy: Strategy,
    pin: Option<Pin>,
) -> Vec<(String, String)> {
    let planned = plan(routes, state, &Needs::default(), pin, false, strategy, T0).unwrap();
    planned
        .candidates
        .iter()
        .zip(&planned.figures)
        .map(|(r, f)| (r.provider.name.clone(), f.describe()))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn priority_keeps_the_admins_order() {
    let expected = [
        ("a", "priority 10/0/0"),
        ("b", "priority 20/0/0"),
        ("c", "priority 30/0/0"),
        ("d", "priority 40/0/0"),
    ];
    assert_eq!(order(Strategy::Priority, None), pairs(&expected));
}

#[test]
fn balanced_puts_the_most_headroom_left_first() {
    let expected = [
        ("c", "headroom 0.90 (credential rpd)"),
        ("b", "headroom 0.50 (credential rpd)"),
        ("d", "headroom 0.40 (credential rpd)"),
        ("a", "headroom 0.20 (credential rpd)"),
    ];
    assert_eq!(order(Strategy::Balanced, None), pairs(&expected));
}

#[test]
fn fastest_puts_the_lowest_time_to_first_token_first() {
    let expected = [
        ("d", "ttft 50 ms"),
        ("c", "ttft 200 ms"),
        ("b", "ttft 300 ms"),
        ("a", "ttft 400 ms"),
    ];
    assert_eq!(order(Strategy::Fastest, None), pairs(&expected));
}

#[test]
fn reliable_puts_the_highest_success_rate_first_and_ties_go_by_priority() {
    let expected = [
        ("b", "success 1.00"),
        ("a", "success 0.84"),
        ("d", "success 0.84"),
        ("c", "success 0.64"),
    ];
    assert_eq!(order(Strategy::Reliable, None), pairs(&expected));
}

#[test]
fn smart_puts_the_strongest_tier_first_and_unranked_models_last() {
    let expected = [
        ("d", "tier 1"),
        ("c", "tier 2"),
        ("a", "tier 3"),
        ("b", "no tier"),
    ];
    assert_eq!(order(Strategy::Smart, None), pairs(&expected));
}

#[test]
fn a_pinned_route_stays_first_whatever_the_strategy() {
    let (state, routes) = pool(&POOL);
    let a = &routes[0];
    let pin = Pin {
        model: a.info.id,
        credential: a.credential.as_ref().map(|c| c.id),
    };
    for strategy in Strategy::ALL {
        let order = order_of(&state, &routes, *strategy, Some(pin));
        assert_eq!(order[0].0, "a", "{strategy}: {order:?}");
    }
}

#[test]
fn a_route_without_figures_gets_the_mean_of_the_others_as_a_neutral_prior() {
    let fresh = Seed {
        name: "fresh",
        priority: 5,
        used: 0,
        ttft: None,
        outcomes: &[],
        tier: None,
    };
    let [a, b, c, d] = POOL;
    let (state, routes) = pool(&[fresh, a, b, c, d]);
    // Mean ttft of the others: (400 + 300 + 200 + 50) / 4 = 237.5 ms.
    let fastest = order_of(&state, &routes, Strategy::Fastest, None);
    assert_eq!(
        fastest[2],
        ("fresh".to_string(), "ttft 238 ms (prior)".to_string())
    );
    assert_eq!(fastest[1].0, "c");
    assert_eq!(fastest[3].0, "b");
}
