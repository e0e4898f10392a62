//! The routing simulation: the router's own chain and reasons for a request, reserving
//! nothing and changing nothing.

use freeway::mock::Behavior;
use freeway_wire::page::List;
use freeway_wire::pool::ScopeState;
use freeway_wire::routing::{ResolvedAs, RouteDecision, Simulation};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Spawn, TestApp, chat_body, eventually, spawn_with};

async fn simulate(app: &TestApp, token: &str, body: Value) -> Simulation {
    app.admin_ok(
        Method::POST,
        "/admin/v1/routing/simulate",
        token,
        Some(body),
    )
    .await
}

async fn routing_state(app: &TestApp, token: &str) -> Vec<ScopeState> {
    let state: List<ScopeState> = app
        .admin_ok(Method::GET, "/admin/v1/routing/state", token, None)
        .await;
    state.data
}

fn two_providers() -> Spawn {
    Spawn {
        providers: 2,
        ..Spawn::default()
    }
}

#[tokio::test]
async fn a_cooling_route_is_skipped_with_its_reason_the_other_taken_and_nothing_changes() {
    // Arrange: mock0 (tried first) answers 429 once, so its route cools down.
    let app = spawn_with(two_providers()).await;
    let token = app.admin_token().await;
    app.mock(0).push(Behavior::rate_limited(300));
    assert_eq!(app.chat(chat_body("mock-model")).await.status(), 200);
    app.wait_for_usage(1).await;
    let before = routing_state(&app, &token).await;
    let calls = (app.mock(0).request_count(), app.mock(1).request_count());

    // Act
    let simulation = simulate(&app, &token, json!({"model": "mock-model", "stream": true})).await;

    // Assert
    assert_eq!(simulation.resolved_as, Some(ResolvedAs::Model));
    assert_eq!(simulation.refusal, None);
    let chain: Vec<(&str, RouteDecision)> = simulation
        .candidates
        .iter()
        .map(|r| (r.provider.as_str(), r.decision))
        .collect();
    assert_eq!(
        chain,
        [
            ("mock1", RouteDecision::Take),
            ("mock0", RouteDecision::Skip)
        ]
    );
    let (taken, skipped) = (&simulation.candidates[0], &simulation.candidates[1]);
    assert_eq!((taken.reason.as_ref(), taken.cooldown_until), (None, None));
    let reason = skipped.reason.as_deref().unwrap();
    assert!(
        reason.contains("cooling down") && reason.contains("429"),
        "{reason}"
    );
    let until = skipped.cooldown_until.unwrap();
    assert!(until > chrono::Utc::now(), "{until}");
    assert_eq!(skipped.available_at, Some(until));
    assert_eq!(skipped.model, "mock-model");
    assert!(skipped.credential_id.is_some());

    // Nothing reserved, counted or called.
    assert_eq!(routing_state(&app, &token).await, before);
    assert_eq!(
        (app.mock(0).request_count(), app.mock(1).request_count()),
        calls
    );
    assert_eq!(app.usage_count().await, 1);
    app.stop().await;
}

#[tokio::test]
async fn names_capabilities_and_the_tenants_quota_are_explained() {
    let app = spawn_with(two_providers()).await;
    let token = app.admin_token().await;

    let pinned = simulate(&app, &token, json!({"model": "mock1/mock-model"})).await;
    assert_eq!(pinned.resolved_as, Some(ResolvedAs::ProviderModel));
    assert_eq!(pinned.candidates.len(), 1);
    assert_eq!(pinned.candidates[0].provider, "mock1");
    let auto = simulate(&app, &token, json!({"model": "auto"})).await;
    assert_eq!(auto.resolved_as, Some(ResolvedAs::Auto));
    assert_eq!(auto.candidates.len(), 2);
    let unknown = simulate(&app, &token, json!({"model": "nope"})).await;
    assert_eq!((unknown.resolved_as, unknown.candidates.len()), (None, 0));
    assert!(unknown.refusal.unwrap().contains("`nope`"));
    let embedding = simulate(
        &app,
        &token,
        json!({"model": "mock-model", "modality": "embedding"}),
    )
    .await;
    assert_eq!(embedding.resolved_as, None, "mock-model is a chat model");

    // mock0's window is too small for the prompt: skipped, mock1 taken; then both.
    for (provider, window) in [("mock0", 1_000), ("mock1", 2_000)] {
        let id = app.model_row(provider, "mock-model").await;
        let _: Value = app
            .admin_ok(
                Method::PATCH,
                &format!("/admin/v1/providers/{provider}/models/{id}"),
                &token,
                Some(json!({"context_window": window})),
            )
            .await;
    }
    let (app_ref, token_ref) = (&app, token.as_str());
    eventually("mock0 is passed over for its window", || async move {
        let s = simulate(
            app_ref,
            token_ref,
            json!({"model": "mock-model", "prompt_tokens": 1_500}),
        )
        .await;
        s.candidates.len() == 2
            && s.candidates[0].provider == "mock1"
            && s.candidates[0].decision == RouteDecision::Take
            && s.candidates[1].reason.as_deref() == Some("context window 1000 tokens < 1500 needed")
    })
    .await;
    // Both windows too small: refused before any route, every route skipped.
    let too_big = "The prompt is about 5000 tokens; the largest context window among this model's routes is 2000 tokens.";
    eventually("mock1's window applies too", || async move {
        let huge = json!({"model": "mock-model", "prompt_tokens": 5_000});
        simulate(app_ref, token_ref, huge).await.refusal.as_deref() == Some(too_big)
    })
    .await;
    let huge = simulate(
        &app,
        &token,
        json!({"model": "mock-model", "prompt_tokens": 5_000}),
    )
    .await;
    assert_eq!(huge.candidates.len(), 2);
    assert!(
        huge.candidates
            .iter()
            .all(|r| r.decision == RouteDecision::Skip && r.available_at.is_none())
    );

    // The tenant's quota is checked as its members' requests are, counting nothing.
    let tenant = app.tenant.id;
    let _: Value = app
        .admin_ok(
            Method::PUT,
            &format!("/admin/v1/tenants/{tenant}/quota"),
            &token,
            Some(json!({"allowed_models": ["auto"]})),
        )
        .await;
    eventually("the quota applies", || async move {
        let body = json!({"model": "mock-model", "tenant_id": tenant});
        simulate(app_ref, token_ref, body).await.refusal.as_deref()
            == Some("The tenant quota does not allow the model `mock-model`.")
    })
    .await;
    let allowed = simulate(&app, &token, json!({"model": "auto", "tenant_id": tenant})).await;
    assert_eq!(allowed.refusal, None);
    let error = app
        .admin_err(
            Method::POST,
            "/admin/v1/routing/simulate",
            &token,
            Some(json!({"model": "auto", "tenant_id": uuid::Uuid::new_v4()})),
            404,
        )
        .await;
    assert_eq!(error.code, "not_found");
    let error = app
        .admin_err(
            Method::POST,
            "/admin/v1/routing/simulate",
            &token,
            Some(json!({"model": " "})),
            422,
        )
        .await;
    assert_eq!(error.field.as_deref(), Some("model"));
    app.stop().await;
}
