//! Choosing a route from a chain of 100 candidates with live ledger and cooldown state.
//! Run with `cargo bench -p freeway --bench routing`.

use std::sync::Arc;

use chrono_tz::Tz;
use freeway::gateway::chain::{Needs, plan};
use freeway::providers::{ModelInfo, Route};
use freeway::routing::limits::Limits;
use freeway::routing::pool::{Cooldown, PoolState, RouteSlots, Scope};
use uuid::Uuid;

fn main() {
    divan::main();
}

struct Fixture {
    state: Arc<PoolState>,
    routes: Vec<Route>,
    now: i64,
}

/// 100 routes over 10 providers; a third are cooling down, a third have spent their RPM,
/// and the rest carry some load.
fn fixture() -> Fixture {
    let state = Arc::new(PoolState::default());
    let now = chrono::Utc::now().timestamp_millis();
    let providers: Vec<Uuid> = (0..10).map(|_| Uuid::new_v4()).collect();
    let mut routes = Vec::new();
    for i in 0..100 {
        let (model, credential) = (Uuid::new_v4(), Uuid::new_v4());
        let limits = Limits {
            rpm: Some(30),
            rpd: Some(1000),
            tpm: Some(60_000),
            ..Limits::default()
        };
        let slots = RouteSlots {
            route: state.slot(
                Scope::Route {
                    model,
                    credential: Some(credential),
                },
                limits,
                Tz::UTC,
                now,
            ),
            credential: Some(state.slot(
                Scope::Credential { id: credential },
                Limits::default(),
                Tz::UTC,
                now,
            )),
            provider: state.slot(
                Scope::Provider {
                    id: providers[i % 10],
                },
                Limits::default(),
                Tz::UTC,
                now,
            ),
            model: state.slot(Scope::Model { id: model }, Limits::default(), Tz::UTC, now),
        };
        let mut info = ModelInfo::chat(model);
        info.tools = true;
        info.context_window = Some(128_000);
        let mut route = Route::detached(&format!("p{}", i % 10), &format!("m{i}"), info, slots);
        route.priority = (i32::try_from(i % 7).unwrap_or(0), 0, 0);
        match i % 3 {
            0 => {
                state.cool(
                    slots.route,
                    Cooldown {
                        until: now + 60_000,
                        reason: "bench".into(),
                    },
                );
            }
            1 => {
                for _ in 0..30 {
                    state.replay(&slots, 1, 100, now - 1000, now);
                }
            }
            _ => {
                for _ in 0..10 {
                    state.replay(&slots, 1, 500, now - 1000, now);
                }
            }
        }
        routes.push(route);
    }
    Fixture { state, routes, now }
}

#[divan::bench]
fn plan_100_candidates(bencher: divan::Bencher) {
    let fixture = fixture();
    let needs = Needs {
        tools: true,
        prompt_tokens: 800,
        reserve_tokens: 1300,
        ..Needs::default()
    };
    bencher.bench(|| {
        let plan = plan(
            divan::black_box(&fixture.routes),
            &fixture.state,
            &needs,
            None,
            false,
            fixture.now,
        );
        divan::black_box(
            plan.map(|p| p.candidates.first().map(|r| r.slots.route))
                .ok(),
        )
    });
}

#[divan::bench]
fn plan_and_reserve_the_first(bencher: divan::Bencher) {
    let fixture = fixture();
    let needs = Needs {
        prompt_tokens: 800,
        reserve_tokens: 1300,
        ..Needs::default()
    };
    bencher.bench(|| {
        let plan = plan(
            &fixture.routes,
            &fixture.state,
            &needs,
            None,
            false,
            fixture.now,
        )
        .ok()?;
        let first = plan.candidates.first()?;
        // Dropped at once: given back, so every iteration sees the same state.
        fixture
            .state
            .reserve(&first.slots, needs.reserve_tokens, fixture.now)
            .ok()
            .map(|r| r.tokens())
    });
}
