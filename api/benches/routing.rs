//! Choosing a route from a chain of 100 candidates with live ledger and cooldown state.
//! Run with `cargo bench -p freeway --bench routing`.

use std::sync::Arc;

use chrono_tz::Tz;
use freeway::gateway::chain::{Needs, plan};
use freeway::providers::{ModelInfo, Route};
use freeway::routing::limits::Limits;
use freeway::routing::pool::{Cooldown, PoolState, RouteSlots, Scope};
use freeway::routing::strategy::Strategy;
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
                        since: now,
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
            Strategy::Priority,
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
            Strategy::Priority,
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

/// One route's window after `traffic` requests of the last hour: reserving and settling a
/// request costs the same whatever the traffic (compare the arguments).
#[divan::bench(args = [0, 10_000, 1_000_000])]
fn reserve_and_settle_after(bencher: divan::Bencher, traffic: i64) {
    let state = Arc::new(PoolState::default());
    let now = chrono::Utc::now().timestamp_millis();
    let limits = Limits {
        rpm: Some(u64::MAX),
        rph: Some(u64::MAX),
        rpd: Some(u64::MAX),
        tpm: Some(u64::MAX),
        tpd: Some(u64::MAX),
    };
    let slot = |scope| state.slot(scope, limits, Tz::UTC, now - 3_600_000);
    let (model, credential) = (Uuid::new_v4(), Uuid::new_v4());
    let slots = RouteSlots {
        route: slot(Scope::Route {
            model,
            credential: Some(credential),
        }),
        credential: Some(slot(Scope::Credential { id: credential })),
        provider: slot(Scope::Provider { id: Uuid::new_v4() }),
        model: slot(Scope::Model { id: model }),
    };
    for i in 0..traffic {
        let at = now - 3_600_000 + i * 3_600_000 / traffic.max(1);
        if let Ok(r) = state.reserve(&slots, 100, at) {
            r.settle(90, at);
        }
    }
    bencher.bench(|| {
        let reservation = state.reserve(&slots, 100, now).ok()?;
        reservation.settle(divan::black_box(90), now);
        Some(())
    });
}

/// A tenant, member and key quota checked and counted, then settled.
#[divan::bench]
fn quota_reserve_and_settle(bencher: divan::Bencher) {
    use freeway::tenancy::{Caller, QuotaLedger, QuotaRule, QuotaScope};
    let ledger = Arc::new(QuotaLedger::default());
    let caller = Caller {
        api_key_id: Uuid::new_v4(),
        tenant_id: Uuid::new_v4(),
        member_id: Uuid::new_v4(),
        allowed_models: None,
    };
    let rule = QuotaRule {
        rpm: Some(u64::MAX / 2),
        rpd: Some(u64::MAX / 2),
        tpm: Some(u64::MAX / 2),
        tpd: Some(u64::MAX / 2),
        tokens_per_month: Some(u64::MAX / 2),
        ..QuotaRule::default()
    };
    ledger.replace(vec![
        (QuotaScope::Tenant, caller.tenant_id, rule.clone()),
        (QuotaScope::Member, caller.member_id, rule.clone()),
        (QuotaScope::ApiKey, caller.api_key_id, rule),
    ]);
    let now = chrono::Utc::now().timestamp_millis();
    bencher.bench(|| {
        let reservation = ledger.reserve(&caller, "m", 100, now).ok()?;
        reservation.settle_at(divan::black_box(90), now);
        Some(())
    });
}
