//! The live routing state as an admin reads it, and clearing cooldowns: audited, and gone
//! from the state at once.

use freeway::mock::Behavior;
use freeway_wire::Page;
use freeway_wire::page::List;
use freeway_wire::pool::{CooldownView, LimitSet};
use freeway_wire::usage::AuditRecord;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{chat_body, eventually, spawn_app};

#[tokio::test]
async fn the_state_shows_a_routes_limits_learned_limits_use_and_cooldown_and_clearing_is_audited() {
    // Arrange: a 5 rpm limit on the model, and a provider that reports its own limits.
    let app = spawn_app().await;
    let token = app.admin_token().await;
    app.set_model_limits(&token, "mock0", "mock-model", json!({"rpm": 5}))
        .await;
    let (app_ref, token_ref) = (&app, token.as_str());
    eventually("the catalog reloads", || async move {
        app_ref.route_scope(token_ref, "mock0").await.limits.rpm == Some(5)
    })
    .await;
    app.mock(0).push(
        Behavior::ok()
            .with_header("x-ratelimit-limit-requests", "14400")
            .with_header("x-ratelimit-remaining-requests", "14000")
            .with_header("x-ratelimit-reset-requests", "2h30m")
            .with_header("x-ratelimit-limit-tokens", "6000")
            .with_header("x-ratelimit-remaining-tokens", "5000")
            .with_header("x-ratelimit-reset-tokens", "7.66s"),
    );
    for _ in 0..2 {
        assert_eq!(app.chat(chat_body("mock-model")).await.status(), 200);
    }
    app.mock(0).push(Behavior::rate_limited(300));
    assert_eq!(app.chat(chat_body("mock-model")).await.status(), 429);

    // Act
    let route = app.route_scope(&token, "mock0").await;

    // Assert: configured and learned limits, use per window, the cooldown and why.
    assert_eq!(
        route.limits,
        LimitSet {
            rpm: Some(5),
            ..LimitSet::default()
        }
    );
    assert_eq!(
        (route.learned.rpd, route.learned.tpm),
        (Some(14400), Some(6000))
    );
    // The 429'd attempt gave its reservation back.
    assert_eq!(
        (
            route.requests_last_minute,
            route.requests_last_hour,
            route.requests_today
        ),
        (2, 2, 2)
    );
    assert!(route.tokens_last_minute > 0 && route.tokens_today == route.tokens_last_minute);
    assert_eq!(
        (
            route.effective.rpm,
            route.effective.rpd,
            route.effective.tpm
        ),
        (Some(5), Some(14400), Some(6000)),
        "the tighter of both"
    );
    let cooldown = route.cooldown.expect("the 429 cools the route");
    assert!(cooldown.reason.contains("429"), "{}", cooldown.reason);
    assert!(cooldown.until > chrono::Utc::now());
    assert_eq!(
        route.skip_reason,
        Some(format!("route cooling down: {}", cooldown.reason))
    );
    assert_eq!(route.skip_until, Some(cooldown.until));

    // Clearing: once persisted, the cooldown is cleared everywhere and the change audited.
    eventually("the cooldown is persisted", || async move {
        let cooldowns: List<CooldownView> = app_ref
            .admin_ok(Method::GET, "/admin/v1/cooldowns", token_ref, None)
            .await;
        !cooldowns.data.is_empty()
    })
    .await;
    let (status, _) = app
        .admin(Method::DELETE, "/admin/v1/cooldowns", Some(&token), None)
        .await;
    assert_eq!(status, 204);
    let cleared = app.route_scope(&token, "mock0").await;
    assert_eq!((cleared.cooldown, cleared.skip_reason), (None, None));
    let audit: Page<AuditRecord> = app
        .admin_ok(
            Method::GET,
            "/admin/v1/audit?action=cooldowns.clear",
            &token,
            None,
        )
        .await;
    assert_eq!(audit.data.len(), 1);
    let entry = &audit.data[0];
    assert_eq!(
        (entry.actor.as_str(), entry.target_kind.as_str()),
        ("admin:admin", "cooldown")
    );
    assert_eq!(entry.before, Some(json!({"active": 1})));
    assert_eq!(entry.after, Some(json!({"active": 0})));

    // A rejected key benches its credential: the route row says so, its own cooldown empty.
    app.mock(0).push(Behavior::status(401));
    assert_ne!(app.chat(chat_body("mock-model")).await.status(), 200);
    let route = app.route_scope(&token, "mock0").await;
    assert_eq!(route.cooldown, None);
    assert_eq!(
        route.skip_reason.as_deref(),
        Some("credential cooling down: 401: key rejected")
    );
    assert!(route.skip_until.is_some());
    app.stop().await;
}

#[tokio::test]
async fn one_scopes_cooldown_is_cleared_alone_and_audited_and_an_unknown_scope_is_404() {
    // Arrange: two routes, both cooled down by a 429.
    let app = crate::helpers::spawn_with(crate::helpers::Spawn {
        providers: 2,
        ..crate::helpers::Spawn::default()
    })
    .await;
    let token = app.admin_token().await;
    app.mock(0).push(Behavior::rate_limited(300));
    app.mock(1).push(Behavior::rate_limited(300));
    assert_ne!(app.chat(chat_body("mock-model")).await.status(), 200);
    let (app_ref, token_ref) = (&app, token.as_str());
    eventually("both cooldowns are persisted", || async move {
        let cooldowns: List<CooldownView> = app_ref
            .admin_ok(Method::GET, "/admin/v1/cooldowns", token_ref, None)
            .await;
        cooldowns.data.len() == 2
    })
    .await;
    let first = app.route_scope(&token, "mock0").await;
    assert!(first.cooldown.is_some());

    // Act: clear mock0's route only.
    let path = format!(
        "/admin/v1/cooldowns?scope={}",
        form_urlencoded::byte_serialize(first.scope.as_bytes()).collect::<String>()
    );
    let (status, _) = app.admin(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, 204);

    // Assert: mock0's route is free, mock1's still cooling, in memory and in Postgres.
    assert_eq!(app.route_scope(&token, "mock0").await.cooldown, None);
    assert!(app.route_scope(&token, "mock1").await.cooldown.is_some());
    let left: List<CooldownView> = app
        .admin_ok(Method::GET, "/admin/v1/cooldowns", &token, None)
        .await;
    assert_eq!(left.data.len(), 1);
    assert_ne!(left.data[0].scope_key, first.scope);
    let audit: Page<AuditRecord> = app
        .admin_ok(
            Method::GET,
            "/admin/v1/audit?action=cooldowns.clear",
            &token,
            None,
        )
        .await;
    assert_eq!(audit.data.len(), 1);
    assert_eq!(
        audit.data[0].target_id.as_deref(),
        Some(first.scope.as_str())
    );

    // An unknown scope names nothing, and is not audited.
    let (status, body) = app
        .admin(
            Method::DELETE,
            "/admin/v1/cooldowns?scope=route%3Anope",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let audit: Page<AuditRecord> = app
        .admin_ok(
            Method::GET,
            "/admin/v1/audit?action=cooldowns.clear",
            &token,
            None,
        )
        .await;
    assert_eq!(audit.data.len(), 1);
    app.stop().await;
}
