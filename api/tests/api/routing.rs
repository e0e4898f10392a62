//! The pool router against the mock upstream: exact limits under concurrency, cooldowns,
//! restarts, stickiness, context handoff, capabilities and explanations.

use std::collections::HashMap;

use freeway::mock::Behavior;
use freeway::routing::strategy::Strategy;
use freeway::store::limits::{self, LimitColumns, LimitTarget};
use freeway::store::profiles;
use freeway::store::providers::{self, ProviderFields};
use serde_json::{Value, json};

use crate::helpers::{Spawn, TestApp, chat_body, spawn_with};

async fn two_providers() -> TestApp {
    spawn_with(Spawn {
        providers: 2,
        ..Spawn::default()
    })
    .await
}

async fn limit(app: &TestApp, target: LimitTarget, limits: LimitColumns) {
    limits::set(&app.db, "test", target, limits).await.unwrap();
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn two_hundred_concurrent_requests_admit_exactly_50_through_a_50_rpm_credential() {
    let app = two_providers().await;
    let credential = app.credential_row("mock0").await;
    limit(
        &app,
        LimitTarget::Credential(credential),
        LimitColumns {
            rpm: Some(50),
            ..LimitColumns::default()
        },
    )
    .await;
    let app = app.restart().await;

    let requests = (0..200).map(|i| {
        let client = app.client.clone();
        let url = format!("{}/v1/chat/completions", app.address);
        let key = app.api_key.clone();
        async move {
            // Distinct openings: distinct sessions, so stickiness does not steer them.
            let body = json!({"model": "mock-model", "messages": [{"role": "user", "content": format!("q{i}")}]});
            let response = client.post(url).bearer_auth(key).json(&body).send().await.unwrap();
            (response.status().as_u16(), header(&response, "x-freeway-route"))
        }
    });
    let results = futures_util::future::join_all(requests).await;
    let mut by_route: HashMap<Option<String>, usize> = HashMap::new();
    for (status, route) in &results {
        assert_eq!(*status, 200);
        *by_route.entry(route.clone()).or_default() += 1;
    }
    assert_eq!(app.mock(0).request_count(), 50, "{by_route:?}");
    assert_eq!(by_route.get(&Some("mock0/mock-model".into())), Some(&50));
    assert_eq!(by_route.get(&Some("mock1/mock-model".into())), Some(&150));
    app.stop().await;
}

#[tokio::test]
async fn an_exhausted_pool_is_429_with_the_earliest_retry_and_the_reasons() {
    let app = spawn_with(Spawn::default()).await;
    let model = app.model_row("mock0", "mock-model").await;
    limit(
        &app,
        LimitTarget::Model(model),
        LimitColumns {
            rpm: Some(2),
            ..LimitColumns::default()
        },
    )
    .await;
    let app = app.restart().await;
    for i in 0..2 {
        let body = json!({"model": "mock-model", "messages": [{"role": "user", "content": format!("a{i}")}]});
        assert_eq!(app.chat(body).await.status(), 200);
    }
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(response.status(), 429);
    let retry: u64 = header(&response, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "pool_exhausted");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("mock0/mock-model: skipped (route rpm limit reached)"),
        "{message}"
    );
    assert_eq!(
        app.mock(0).request_count(),
        2,
        "the limited route was never called"
    );
    let trail = app.last_trail(3).await;
    assert_eq!(trail[0]["outcome"], "skipped");
    app.stop().await;
}

#[tokio::test]
async fn a_429_cools_the_route_so_the_next_request_skips_it_even_after_a_restart() {
    let app = two_providers().await;
    app.mock(0).push(Behavior::rate_limited(120));
    let first = app.chat(chat_body("mock-model")).await;
    assert_eq!(
        header(&first, "x-freeway-route").as_deref(),
        Some("mock1/mock-model")
    );

    let second = app
        .chat(json!({"model": "mock-model", "messages": [{"role": "user", "content": "other"}]}))
        .await;
    assert_eq!(
        header(&second, "x-freeway-route").as_deref(),
        Some("mock1/mock-model")
    );
    assert_eq!(header(&second, "x-freeway-attempts").as_deref(), Some("1"));
    assert_eq!(
        app.mock(0).request_count(),
        1,
        "the cooling route is not called"
    );
    let trail = app.last_trail(2).await;
    assert_eq!(trail[0]["outcome"], "skipped");
    assert!(
        trail[0]["detail"]
            .as_str()
            .unwrap()
            .contains("cooling down"),
        "{trail:?}"
    );

    // The cooldown is in Postgres: a restarted server still skips the route.
    let until: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT until FROM cooldowns WHERE scope = 'route'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(
        until > chrono::Utc::now() + chrono::Duration::seconds(100),
        "Retry-After is the floor"
    );
    let app = app.restart().await;
    let third = app
        .chat(json!({"model": "mock-model", "messages": [{"role": "user", "content": "third"}]}))
        .await;
    assert_eq!(
        header(&third, "x-freeway-route").as_deref(),
        Some("mock1/mock-model")
    );
    assert_eq!(app.mock(0).request_count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn daily_usage_survives_a_restart() {
    let app = spawn_with(Spawn::default()).await;
    let model = app.model_row("mock0", "mock-model").await;
    limit(
        &app,
        LimitTarget::Model(model),
        LimitColumns {
            rpd: Some(2),
            ..LimitColumns::default()
        },
    )
    .await;
    let app = app.restart().await;
    for i in 0..2 {
        let body = json!({"model": "mock-model", "messages": [{"role": "user", "content": format!("d{i}")}]});
        assert_eq!(app.chat(body).await.status(), 200);
    }
    app.wait_for_usage(2).await;
    let app = app.restart().await;
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(
        response.status(),
        429,
        "the day's two requests were replayed from usage events"
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("rpd"),
        "{body}"
    );
    assert_eq!(app.mock(0).request_count(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_failed_request_gives_its_reservation_back() {
    // One credential, limited to one request a minute, serving two models.
    let app = spawn_with(Spawn::default()).await;
    let provider = providers::find(&app.db, "mock0").await.unwrap().unwrap();
    crate::helpers::add_model(&app.db, &provider, "other-model").await;
    let credential = app.credential_row("mock0").await;
    limit(
        &app,
        LimitTarget::Credential(credential),
        LimitColumns {
            rpm: Some(1),
            ..LimitColumns::default()
        },
    )
    .await;
    let app = app.restart().await;

    app.mock(0).push(Behavior::status(500));
    let failed = app.chat(chat_body("mock-model")).await;
    assert_eq!(failed.status(), 502);
    // Had the failed attempt kept its reservation, the credential's one request a minute
    // would be spent.
    let other = app.chat(chat_body("other-model")).await;
    assert_eq!(other.status(), 200);
    assert_eq!(app.mock(0).request_count(), 2);
    // And now it is spent.
    let third = app
        .chat(json!({"model": "other-model", "messages": [{"role": "user", "content": "more"}]}))
        .await;
    assert_eq!(third.status(), 429);
    app.stop().await;
}

#[tokio::test]
async fn a_session_keeps_its_route_when_priorities_change() {
    let app = two_providers().await;
    let opening =
        json!({"model": "mock-model", "messages": [{"role": "user", "content": "let's talk"}]});
    let first = app.chat(opening.clone()).await;
    assert_eq!(
        header(&first, "x-freeway-route").as_deref(),
        Some("mock0/mock-model")
    );
    let session = header(&first, "x-freeway-session").unwrap();

    // mock1 becomes the preferred provider; the running server reloads on the notification.
    sqlx::query("UPDATE providers SET priority = 1 WHERE name = 'mock1'")
        .execute(&app.db)
        .await
        .unwrap();
    freeway::store::notify_change(&app.db, "pool")
        .await
        .unwrap();
    let mut n = 0;
    crate::helpers::eventually("the new priority to apply", || {
        n += 1;
        let body = json!({"model": "mock-model", "messages": [{"role": "user", "content": format!("probe {n}")}]});
        let request = app.chat(body);
        async move { header(&request.await, "x-freeway-route").as_deref() == Some("mock1/mock-model") }
    })
    .await;

    let followup = app.chat(opening.clone()).await;
    assert_eq!(
        header(&followup, "x-freeway-route").as_deref(),
        Some("mock0/mock-model"),
        "sticky"
    );
    assert_eq!(header(&followup, "x-freeway-session"), Some(session));
    let fresh = app
        .chat(
            json!({"model": "mock-model", "messages": [{"role": "user", "content": "new topic"}]}),
        )
        .await;
    assert_eq!(
        header(&fresh, "x-freeway-route").as_deref(),
        Some("mock1/mock-model")
    );

    // An explicit X-Session-Id is its own session, whatever the opening.
    let pinned = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.api_key)
        .header("x-session-id", "conversation-42")
        .json(&opening)
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&pinned, "x-freeway-route").as_deref(),
        Some("mock1/mock-model")
    );
    app.stop().await;
}

#[tokio::test]
async fn two_tenants_opening_with_hi_never_share_a_session() {
    let app = two_providers().await;
    let (_, member) = crate::helpers::add_member(&app.db, "other", "bob").await;
    let other_key = crate::helpers::create_key(&app.db, &member, None, None).await;
    let app = app.restart().await;
    let a = app.chat(chat_body("mock-model")).await;
    let b = app.chat_with_key(&other_key, chat_body("mock-model")).await;
    assert_ne!(
        header(&a, "x-freeway-session"),
        header(&b, "x-freeway-session")
    );
    app.stop().await;
}

/// `auto` over a large-context model (mock0) and a small one (mock1).
async fn handoff_pool() -> TestApp {
    let app = two_providers().await;
    let small = app.model_row("mock1", "mock-model").await;
    sqlx::query("UPDATE models SET model_id = 'small-model', context_window = 400 WHERE id = $1")
        .bind(small)
        .execute(&app.db)
        .await
        .unwrap();
    let large = app.model_row("mock0", "mock-model").await;
    sqlx::query("UPDATE models SET context_window = 100000 WHERE id = $1")
        .bind(large)
        .execute(&app.db)
        .await
        .unwrap();
    app.restart().await
}

fn long_conversation() -> Value {
    let mut messages = vec![json!({"role": "system", "content": "You are terse."})];
    for i in 0..30 {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        messages.push(
            json!({"role": role, "content": format!("message {i}: {}", "lorem ipsum ".repeat(20))}),
        );
    }
    json!({"model": "auto", "max_tokens": 50, "messages": messages})
}

#[tokio::test]
async fn a_sticky_conversation_moving_to_a_smaller_model_is_handed_off_and_fitted() {
    let app = handoff_pool().await;
    let body = long_conversation();
    let first = app.chat(body.clone()).await;
    assert_eq!(
        header(&first, "x-freeway-route").as_deref(),
        Some("mock0/mock-model")
    );

    app.mock(0).push(Behavior::status(503));
    let second = app.chat(body.clone()).await;
    assert_eq!(second.status(), 200);
    assert_eq!(
        header(&second, "x-freeway-route").as_deref(),
        Some("mock1/small-model")
    );
    let sent = &app.mock(1).requests()[0].body;
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages[0]["content"], "You are terse.");
    assert!(
        messages[1]["content"]
            .as_str()
            .unwrap()
            .contains("taking over this conversation")
    );
    assert!(
        messages.len() < 31,
        "older turns were compressed: {} messages",
        messages.len()
    );
    assert_eq!(messages.last(), body["messages"].as_array().unwrap().last());
    app.stop().await;
}

#[tokio::test]
async fn a_prompt_larger_than_every_context_window_is_400_with_the_sizes() {
    let app = handoff_pool().await;
    let response = app
        .chat(json!({"model": "small-model", "messages": long_conversation()["messages"]}))
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "context_length_exceeded");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("400 tokens"),
        "{body}"
    );
    assert_eq!(app.mock(1).request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_request_needing_tools_skips_routes_without_them_and_400s_when_none_has_them() {
    let app = two_providers().await;
    let model = app.model_row("mock0", "mock-model").await;
    sqlx::query("UPDATE models SET supports_tools = false WHERE id = $1")
        .bind(model)
        .execute(&app.db)
        .await
        .unwrap();
    let app = app.restart().await;
    let tools =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    let body = json!({"model": "mock-model", "tools": tools, "messages": [{"role": "user", "content": "call f"}]});
    let response = app.chat(body.clone()).await;
    assert_eq!(
        header(&response, "x-freeway-route").as_deref(),
        Some("mock1/mock-model")
    );
    assert_eq!(app.mock(0).request_count(), 0);
    let trail = app.last_trail(1).await;
    assert_eq!(trail[0]["detail"], "does not support tools");

    sqlx::query("UPDATE models SET supports_tools = false")
        .execute(&app.db)
        .await
        .unwrap();
    let app = app.restart().await;
    let response = app.chat(body).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "capability_unavailable");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tools")
    );
    app.stop().await;
}

#[tokio::test]
async fn auto_and_profiles_resolve_to_chains() {
    let app = two_providers().await;
    let a = app.model_row("mock0", "mock-model").await;
    let b = app.model_row("mock1", "mock-model").await;
    profiles::put(&app.db, "test", "fast", false, Strategy::Priority, &[b, a])
        .await
        .unwrap();
    let app = app.restart().await;
    let auto = app.chat(chat_body("auto")).await;
    assert_eq!(
        header(&auto, "x-freeway-route").as_deref(),
        Some("mock0/mock-model")
    );
    let fast = app.chat(chat_body("fast")).await;
    assert_eq!(
        header(&fast, "x-freeway-route").as_deref(),
        Some("mock1/mock-model"),
        "the profile's order"
    );
    app.stop().await;
}

#[tokio::test]
async fn rate_limit_headers_teach_limits_and_a_spent_budget_cools_the_route() {
    let app = two_providers().await;
    // Groq-style headers: 14 400 requests a day, 6 000 tokens a minute, none left today.
    app.mock(0).push(
        Behavior::ok()
            .with_header("x-ratelimit-limit-requests", "14400")
            .with_header("x-ratelimit-remaining-requests", "0")
            .with_header("x-ratelimit-reset-requests", "2h30m")
            .with_header("x-ratelimit-limit-tokens", "6000")
            .with_header("x-ratelimit-reset-tokens", "7.66s"),
    );
    let first = app.chat(chat_body("mock-model")).await;
    assert_eq!(
        header(&first, "x-freeway-route").as_deref(),
        Some("mock0/mock-model")
    );
    let second = app
        .chat(json!({"model": "mock-model", "messages": [{"role": "user", "content": "next"}]}))
        .await;
    assert_eq!(
        header(&second, "x-freeway-route").as_deref(),
        Some("mock1/mock-model")
    );
    assert_eq!(app.mock(0).request_count(), 1);

    // What was learned is kept in Postgres, where `freeway routes` shows it.
    crate::helpers::eventually("the learned limits to be saved", || {
        let db = app.db.clone();
        async move {
            sqlx::query("SELECT 1 FROM learned_limits WHERE scope = 'route'")
                .fetch_optional(&db)
                .await
                .unwrap()
                .is_some()
        }
    })
    .await;
    let learned: (Option<i32>, Option<i64>) =
        sqlx::query_as("SELECT rpd, tpm FROM learned_limits WHERE scope = 'route'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(learned, (Some(14400), Some(6000)));
    // Saved off the request path, by a task of its own.
    crate::helpers::eventually("the cooldown to be saved", || {
        let db = app.db.clone();
        async move {
            let reason: Option<String> =
                sqlx::query_scalar("SELECT reason FROM cooldowns WHERE scope = 'route'")
                    .fetch_optional(&db)
                    .await
                    .unwrap();
            reason.is_some_and(|r| r.contains("no capacity left"))
        }
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn keyless_providers_are_called_without_a_credential() {
    let app = spawn_with(Spawn::default()).await;
    let mock = freeway::mock::MockUpstream::start().await.unwrap();
    let provider = providers::create(
        &app.db,
        "test",
        ProviderFields {
            keyless: true,
            priority: 1,
            timeout_ms: 5000,
            ..ProviderFields::new("open", &mock.base_url())
        },
    )
    .await
    .unwrap();
    crate::helpers::add_model(&app.db, &provider, "free-model").await;
    let app = app.restart().await;
    let response = app.chat(chat_body("free-model")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-freeway-route").as_deref(),
        Some("open/free-model")
    );
    assert_eq!(mock.requests()[0].header("authorization"), None);
    app.stop().await;
    mock.stop().await;
}
