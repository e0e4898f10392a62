//! Routing strategies against two mock upstreams: a profile over both (mock0 first in its
//! chain) answered by the route its strategy ranks first, once real traffic has given the
//! routes their figures; `auto:<strategy>` names; `auto`'s own strategy.

use std::time::Duration;

use freeway::mock::Behavior;
use freeway_wire::pool::{ModelView, ProfileView};
use freeway_wire::routing::{ResolvedAs, Simulation, Strategy};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Spawn, TestApp, chat_body, eventually, header, spawn_with};

async fn two_providers() -> (TestApp, String) {
    let app = spawn_with(Spawn {
        providers: 2,
        ..Spawn::default()
    })
    .await;
    let token = app.admin_token().await;
    (app, token)
}

async fn simulate(app: &TestApp, token: &str, model: &str) -> Simulation {
    let body = json!({ "model": model });
    app.admin_ok(
        Method::POST,
        "/admin/v1/routing/simulate",
        token,
        Some(body),
    )
    .await
}

/// The profile `pool`: mock0's model, then mock1's, ordered by `strategy`; waits until the
/// router has it.
async fn pool_profile(app: &TestApp, token: &str, strategy: Strategy) {
    let body = json!({
        "models": ["mock0/mock-model", "mock1/mock-model"],
        "strategy": strategy,
    });
    let view: ProfileView = app
        .admin_ok(
            Method::PUT,
            "/admin/v1/routing/profiles/pool",
            token,
            Some(body),
        )
        .await;
    assert_eq!(view.strategy, strategy);
    eventually("the router has the profile", || async {
        let simulation = simulate(app, token, "pool").await;
        simulation.resolved_as == Some(ResolvedAs::Profile) && simulation.strategy == strategy
    })
    .await;
}

/// Sends one chat request for `model`, which must be served; the route that answered and
/// the strategy that ordered the chain.
async fn ask(app: &TestApp, model: &str) -> (String, String) {
    let response = app.chat(chat_body(model)).await;
    assert_eq!(response.status(), 200, "{model}");
    (
        header(&response, "x-freeway-route").to_string(),
        header(&response, "x-freeway-strategy").to_string(),
    )
}

/// The simulation's taken routes as `(provider, ranked_by)`.
fn ranked(simulation: &Simulation) -> Vec<(String, String)> {
    simulation
        .candidates
        .iter()
        .map(|r| (r.provider.clone(), r.ranked_by.clone().unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn priority_answers_from_the_first_model_of_the_chain() {
    let (app, token) = two_providers().await;
    pool_profile(&app, &token, Strategy::Priority).await;

    let answered = ask(&app, "pool").await;

    assert_eq!(answered, ("mock0/mock-model".into(), "priority".into()));
    app.stop().await;
}

#[tokio::test]
async fn balanced_answers_from_the_route_with_the_most_daily_quota_left() {
    // Arrange: 10 a day on each route; then three of mock0's spent.
    let (app, token) = two_providers().await;
    for provider in ["mock0", "mock1"] {
        app.set_model_limits(&token, provider, "mock-model", json!({"rpd": 10}))
            .await;
    }
    pool_profile(&app, &token, Strategy::Balanced).await;
    let untouched = vec![
        ("mock0".to_string(), "headroom 1.00 (route rpd)".to_string()),
        ("mock1".to_string(), "headroom 1.00 (route rpd)".to_string()),
    ];
    eventually("the limits apply", || async {
        ranked(&simulate(&app, &token, "pool").await) == untouched
    })
    .await;
    for _ in 0..3 {
        ask(&app, "mock0/mock-model").await;
    }
    let expected = vec![
        ("mock1".to_string(), "headroom 1.00 (route rpd)".to_string()),
        ("mock0".to_string(), "headroom 0.70 (route rpd)".to_string()),
    ];
    assert_eq!(ranked(&simulate(&app, &token, "pool").await), expected);

    // Act
    let answered = ask(&app, "pool").await;

    // Assert
    assert_eq!(answered, ("mock1/mock-model".into(), "balanced".into()));
    app.stop().await;
}

#[tokio::test]
async fn fastest_answers_from_the_route_with_the_lowest_time_to_first_token() {
    // Arrange: mock0 takes a second to answer; one request through each route.
    let (app, token) = two_providers().await;
    app.mock(0)
        .set_default(Behavior::ok().with_latency(Duration::from_secs(1)));
    ask(&app, "mock0/mock-model").await;
    ask(&app, "mock1/mock-model").await;
    pool_profile(&app, &token, Strategy::Fastest).await;

    // Act
    let answered = ask(&app, "pool").await;

    // Assert
    assert_eq!(answered, ("mock1/mock-model".into(), "fastest".into()));
    let simulation = simulate(&app, &token, "pool").await;
    let figures = ranked(&simulation);
    assert_eq!(figures[0].0, "mock1");
    assert!(figures[1].1.starts_with("ttft "), "{figures:?}");
    app.stop().await;
}

#[tokio::test]
async fn reliable_answers_from_the_route_with_the_highest_success_rate() {
    // Arrange: mock0 fails once (its cooldown then cleared), mock1 serves.
    let (app, token) = two_providers().await;
    app.mock(0).push(Behavior::status(500));
    let failed = app.chat(chat_body("mock0/mock-model")).await;
    assert!(!failed.status().is_success());
    ask(&app, "mock1/mock-model").await;
    // The cooldown is written to Postgres off the request's path: cleared before that write
    // lands, it came back with the next resync (the simulation then skipped mock0).
    eventually("the cooldown is persisted", || async {
        let (_, listed) = app
            .admin(Method::GET, "/admin/v1/cooldowns", Some(&token), None)
            .await;
        listed["data"].as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    let (status, _) = app
        .admin(Method::DELETE, "/admin/v1/cooldowns", Some(&token), None)
        .await;
    assert_eq!(status, 204);
    pool_profile(&app, &token, Strategy::Reliable).await;

    // Act
    let answered = ask(&app, "pool").await;

    // Assert
    assert_eq!(answered, ("mock1/mock-model".into(), "reliable".into()));
    let figures = ranked(&simulate(&app, &token, "pool").await);
    assert_eq!(figures[1], ("mock0".into(), "success 0.80".into()));
    app.stop().await;
}

#[tokio::test]
async fn smart_answers_from_the_strongest_tier_set_over_the_admin_api() {
    // Arrange: mock1's model is tier 1, mock0's tier 3.
    let (app, token) = two_providers().await;
    for (provider, tier) in [("mock0", 3), ("mock1", 1)] {
        let id = app.model_row(provider, "mock-model").await;
        let model: ModelView = app
            .admin_ok(
                Method::PATCH,
                &format!("/admin/v1/providers/{provider}/models/{id}"),
                &token,
                Some(json!({ "tier": tier })),
            )
            .await;
        assert_eq!(model.tier, Some(tier));
    }
    pool_profile(&app, &token, Strategy::Smart).await;
    eventually("the tiers apply", || async {
        ranked(&simulate(&app, &token, "pool").await)
            == vec![
                ("mock1".to_string(), "tier 1".to_string()),
                ("mock0".to_string(), "tier 3".to_string()),
            ]
    })
    .await;

    // Act
    let answered = ask(&app, "pool").await;

    // Assert
    assert_eq!(answered, ("mock1/mock-model".into(), "smart".into()));
    app.stop().await;
}

#[tokio::test]
async fn auto_fast_is_auto_ordered_by_time_to_first_token() {
    let (app, _) = two_providers().await;
    app.mock(0)
        .set_default(Behavior::ok().with_latency(Duration::from_secs(1)));
    ask(&app, "mock0/mock-model").await;
    ask(&app, "mock1/mock-model").await;

    let plain = ask(&app, "auto").await;
    let fast = ask(&app, "auto:fast").await;

    assert_eq!(plain, ("mock0/mock-model".into(), "priority".into()));
    assert_eq!(fast, ("mock1/mock-model".into(), "fastest".into()));
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_auto_strategy_is_a_404_naming_the_valid_ones() {
    let (app, _) = two_providers().await;

    let response = app.chat(chat_body("auto:cheapest")).await;

    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
    let message = body["error"]["message"].as_str().unwrap();
    for name in Strategy::AUTO_NAMES {
        assert!(message.contains(name), "{message}");
    }
    app.stop().await;
}

#[tokio::test]
async fn auto_strategies_are_listed_with_auto() {
    let (app, _) = two_providers().await;

    let response = app
        .client
        .get(format!("{}/v1/models", app.address))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();

    let list: Value = response.json().await.unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    for name in ["auto"].iter().chain(Strategy::AUTO_NAMES) {
        assert!(ids.contains(name), "{name} in {ids:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn autos_own_strategy_is_a_checked_setting() {
    let (app, token) = two_providers().await;

    let bad = app
        .admin_err(
            Method::PUT,
            "/admin/v1/settings/routing.auto_strategy",
            &token,
            Some(json!({"value": "cheapest"})),
            422,
        )
        .await;
    let _: Value = app
        .admin_ok(
            Method::PUT,
            "/admin/v1/settings/routing.auto_strategy",
            &token,
            Some(json!({"value": "reliable"})),
        )
        .await;

    assert_eq!(bad.field.as_deref(), Some("value"));
    eventually("auto is reliable", || async {
        simulate(&app, &token, "auto").await.strategy == Strategy::Reliable
    })
    .await;
    assert_eq!(ask(&app, "auto").await.1, "reliable");
    app.stop().await;
}

#[tokio::test]
async fn the_cli_sets_a_profiles_strategy() {
    let (app, token) = two_providers().await;
    let key_file = app.key_file.to_str().unwrap().to_string();
    let env = [
        ("DATABASE_URL", app.database_url.as_str()),
        ("FREEWAY_MASTER_KEY_FILE", key_file.as_str()),
    ];
    let args = [
        "profile",
        "set",
        "pool",
        "--model",
        "mock0/mock-model",
        "--model",
        "mock1/mock-model",
        "--strategy",
        "balanced",
    ];

    let out = crate::cli::run_ok(&args, &env, None).await;

    assert!(out.contains("strategy balanced"), "{out}");
    eventually("the router has the profile", || async {
        simulate(&app, &token, "pool").await.strategy == Strategy::Balanced
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn the_routing_state_shows_each_routes_ttft_and_headroom() {
    // Arrange: 10 a day on mock0's route, four spent; mock1 never called.
    let (app, token) = two_providers().await;
    app.set_model_limits(&token, "mock0", "mock-model", json!({"rpd": 10}))
        .await;
    eventually("the limit applies", || async {
        route_state(&app, &token, "mock0")
            .await
            .is_some_and(|s| s.effective.rpd == Some(10))
    })
    .await;
    for _ in 0..4 {
        ask(&app, "mock0/mock-model").await;
    }

    // Act
    let used = route_state(&app, &token, "mock0").await.unwrap();
    let fresh = route_state(&app, &token, "mock1").await.unwrap();

    // Assert
    assert_eq!(used.headroom, Some(0.6));
    assert!(used.ttft_ms.is_some(), "{used:?}");
    assert_eq!((fresh.headroom, fresh.ttft_ms), (Some(1.0), None));
    app.stop().await;
}

/// The routing state's row of `provider`'s route.
async fn route_state(
    app: &TestApp,
    token: &str,
    provider: &str,
) -> Option<freeway_wire::pool::ScopeState> {
    let state: freeway_wire::page::List<freeway_wire::pool::ScopeState> = app
        .admin_ok(Method::GET, "/admin/v1/routing/state", token, None)
        .await;
    let label = format!("{provider}/mock-model via");
    state.data.into_iter().find(|s| {
        s.kind == freeway_wire::pool::ScopeKind::Route
            && s.label.as_deref().is_some_and(|l| l.starts_with(&label))
    })
}
