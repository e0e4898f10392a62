//! Health probes and the availability of models per credential: a 402 takes a model out of
//! a credential's routes, a probe brings a route cooling down for a transient cause back
//! before its cooldown ends, and every probe is one usage event of kind `probe`.

use freeway::mock::Behavior;
use freeway::store::quotas::{self, QuotaColumns};
use freeway_wire::Page;
use freeway_wire::discovery::{ProbeReport, RouteProbe, Unavailable, UnavailableCause};
use freeway_wire::page::List;
use freeway_wire::pool::{CredentialView, ScopeKind, ScopeState};
use reqwest::Method;

use std::time::Duration;

use crate::helpers::{
    ACTOR, Spawn, TestApp, chat_body, eventually, eventually_within, header, hold_writes,
    spawn_app, spawn_with,
};

/// Why the router would skip mock0/mock-model now, per the routing state.
async fn skip_reason(app: &TestApp, token: &str) -> Option<String> {
    app.route_scope(token, "mock0").await.skip_reason
}

/// The models marked unavailable for `credential`.
async fn unavailable(app: &TestApp, token: &str, credential: uuid::Uuid) -> Vec<Unavailable> {
    let path = format!("/admin/v1/credentials/{credential}/unavailable");
    let listed: List<Unavailable> = app.admin_ok(Method::GET, &path, token, None).await;
    listed.data
}

#[tokio::test]
async fn a_402_marks_the_model_unavailable_for_the_credential_and_the_router_skips_it() {
    // Arrange: two providers serve mock-model; mock0's key is not entitled to it.
    let app = spawn_with(Spawn {
        providers: 2,
        ..Spawn::default()
    })
    .await;
    let token = app.admin_token().await;
    app.mock(0).push(Behavior::status(402));
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(header(&response, "x-freeway-route"), "mock1/mock-model");
    let before = app.mock(0).request_count();

    // Act
    let again = app.chat(chat_body("mock-model")).await;

    // Assert: mock0 is not asked again, the reason is shown and stored.
    assert_eq!(again.status(), 200);
    assert_eq!(header(&again, "x-freeway-route"), "mock1/mock-model");
    assert_eq!(app.mock(0).request_count(), before);
    assert_eq!(
        skip_reason(&app, &token).await.as_deref(),
        Some("model unavailable with this credential: 402 payment required")
    );
    let credential = app.credential_row("mock0").await;
    let path = format!("/admin/v1/credentials/{credential}/unavailable");
    let (app_ref, token_ref) = (&app, token.as_str());
    eventually("the refusal is stored", || async move {
        let listed = unavailable(app_ref, token_ref, credential).await;
        listed.len() == 1 && listed[0].cause == UnavailableCause::Refused
    })
    .await;

    // An admin clears it: the route is tried again.
    let status = app.admin(Method::DELETE, &path, Some(&token), None).await.0;
    assert_eq!(status, 204);
    eventually("the route is back", || async move {
        skip_reason(app_ref, token_ref).await.is_none()
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_reload_before_the_refusal_is_stored_does_not_bring_the_route_back() {
    // Arrange: two providers serve mock-model; the refusal's write will wait on a lock.
    let app = spawn_with(Spawn {
        providers: 2,
        ..Spawn::default()
    })
    .await;
    let token = app.admin_token().await;
    let lock = hold_writes(&app.db, "model_availability").await;
    app.mock(0).push(Behavior::status(402));
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(header(&response, "x-freeway-route"), "mock1/mock-model");
    let before = app.mock(0).request_count();

    // Act: a change reloads the pool while the refusal is not stored yet; the reload has
    // applied once mock1's new model is served.
    let mock1 = freeway::store::providers::find(&app.db, "mock1")
        .await
        .unwrap()
        .unwrap();
    crate::helpers::add_model(&app.db, &mock1, "later-model").await;
    eventually("the reload", || async {
        app.chat(chat_body("later-model")).await.status() == 200
    })
    .await;

    // Assert: the route is still skipped, and the refusal is stored once the lock goes.
    assert_eq!(
        skip_reason(&app, &token).await.as_deref(),
        Some("model unavailable with this credential: 402 payment required")
    );
    let again = app.chat(chat_body("mock-model")).await;
    assert_eq!(header(&again, "x-freeway-route"), "mock1/mock-model");
    assert_eq!(app.mock(0).request_count(), before);
    lock.commit().await.unwrap();
    let credential = app.credential_row("mock0").await;
    eventually("the refusal is stored", || async {
        unavailable(&app, &token, credential).await.len() == 1
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_probe_brings_a_route_cooling_down_after_a_503_back_before_its_cooldown_ends() {
    // Arrange: the only route answers 503 once and cools down for 90 s.
    let app = spawn_app().await;
    let token = app.admin_token().await;
    app.mock(0).push(Behavior::status(503));
    assert_ne!(app.chat(chat_body("mock-model")).await.status(), 200);
    let cooling = skip_reason(&app, &token).await.unwrap_or_default();
    assert!(cooling.contains("cooling down"), "{cooling}");
    let credential = app.credential_row("mock0").await;

    // Act: the provider is healthy again; a probe pass runs for the credential.
    let report: ProbeReport = app
        .admin_ok(
            Method::POST,
            &format!("/admin/v1/credentials/{credential}/probe"),
            &token,
            None,
        )
        .await;

    // Assert
    assert!(report.probe.ok, "{report:?}");
    assert_eq!(
        report.routes,
        [RouteProbe {
            route: "mock0/mock-model".into(),
            ok: true,
            status: Some(200),
        }]
    );
    let probed = app.mock(0).requests();
    let completion = probed.last().unwrap();
    assert_eq!(completion.path, "/v1/chat/completions");
    assert_eq!(completion.body["max_tokens"], 1);
    assert_eq!(skip_reason(&app, &token).await, None);
    assert_eq!(app.chat(chat_body("mock-model")).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_probe_is_a_usage_event_of_kind_probe_shown_on_the_credential_and_spends_no_quota() {
    // Arrange: alice may make one request a day.
    let app = spawn_app().await;
    quotas::set(
        &app.db,
        ACTOR,
        freeway_wire::tenants::QuotaScope::Member,
        app.member.id,
        QuotaColumns {
            rpd: Some(1),
            ..QuotaColumns::default()
        },
    )
    .await
    .unwrap();
    let app = app.restart().await;
    let token = app.admin_token().await;
    let credential = app.credential_row("mock0").await;

    // Act
    let report: ProbeReport = app
        .admin_ok(
            Method::POST,
            &format!("/admin/v1/credentials/{credential}/probe"),
            &token,
            None,
        )
        .await;

    // Assert: one event, of kind `probe`, for the credential and no member.
    assert!(report.probe.ok && report.routes.is_empty(), "{report:?}");
    app.wait_for_usage(1).await;
    let (endpoint, member, probed): (String, Option<uuid::Uuid>, Option<uuid::Uuid>) =
        sqlx::query_as("SELECT endpoint, member_id, credential_id FROM usage_events")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (endpoint.as_str(), member, probed),
        ("probe", None, Some(credential))
    );
    let listed: Page<CredentialView> = app
        .admin_ok(
            Method::GET,
            "/admin/v1/providers/mock0/credentials",
            &token,
            None,
        )
        .await;
    let shown = listed.data[0].probe.clone().unwrap();
    assert_eq!((shown.ok, shown.error.as_deref()), (true, None));
    assert_eq!(shown.checked_at, report.probe.checked_at);
    let state: List<ScopeState> = app
        .admin_ok(Method::GET, "/admin/v1/routing/state", &token, None)
        .await;
    let row = state
        .data
        .iter()
        .find(|s| s.kind == ScopeKind::Credential)
        .unwrap();
    assert_eq!(row.probe.as_ref(), Some(&shown));
    // Alice's one request of the day is still hers.
    assert_eq!(app.chat(chat_body("mock-model")).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn the_background_task_probes_every_enabled_credential_on_its_own() {
    // Arrange: probes every second (a pass every 5 s, the shortest).
    let app = spawn_with(Spawn {
        configure: Box::new(|config| config.probe_interval_secs = 1),
        ..Spawn::default()
    })
    .await;
    let token = app.admin_token().await;

    // Act: nothing but waiting for the first pass.
    let (app_ref, token_ref) = (&app, token.as_str());
    eventually_within(
        Duration::from_secs(30),
        "the credential is probed",
        || async move {
            let listed: Page<CredentialView> = app_ref
                .admin_ok(
                    Method::GET,
                    "/admin/v1/providers/mock0/credentials",
                    token_ref,
                    None,
                )
                .await;
            listed.data[0].probe.is_some()
        },
    )
    .await;

    // Assert: with the credential's key, on its `/models`.
    let asked = app.mock(0).requests();
    let listing = asked.iter().find(|r| r.path == "/v1/models").unwrap();
    assert_eq!(listing.header("authorization"), Some("Bearer secret-0"));
    app.stop().await;
}
