//! Failover across providers: rate limits, server errors, refused connections and hangs
//! move on to the next route; when every route fails, the answer says what each did.

use std::time::{Duration, Instant};

use freeway::mock::Behavior;
use serde_json::Value;

use crate::errors::expect_error;
use crate::helpers::{Spawn, TestApp, chat_body, spawn_with};

async fn spawn_providers(providers: usize) -> TestApp {
    spawn_with(Spawn {
        providers,
        ..Spawn::default()
    })
    .await
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

/// The attempt trail of the only usage event, with the `attempts` count checked against it.
async fn trail(app: &TestApp) -> Vec<Value> {
    app.wait_for_usage(1).await;
    let (attempts, trail): (i16, Value) =
        sqlx::query_as("SELECT attempts, attempt_trail FROM usage_events")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let trail = trail.as_array().expect("attempt_trail is an array").clone();
    assert_eq!(usize::try_from(attempts).unwrap(), trail.len());
    trail
}

/// `(provider, outcome, status)` of each attempt.
fn summary(trail: &[Value]) -> Vec<(String, String, Option<u64>)> {
    trail
        .iter()
        .map(|a| {
            assert_eq!(a["model"], "mock-model", "{a}");
            assert!(a["latency_ms"].is_u64(), "{a}");
            (
                a["provider"].as_str().unwrap().to_string(),
                a["outcome"].as_str().unwrap().to_string(),
                a["status"].as_u64(),
            )
        })
        .collect()
}

fn expected(rows: &[(&str, &str, Option<u64>)]) -> Vec<(String, String, Option<u64>)> {
    rows.iter()
        .map(|(p, o, s)| ((*p).to_string(), (*o).to_string(), *s))
        .collect()
}

#[tokio::test]
async fn a_rate_limited_provider_hands_over_to_the_next() {
    let app = spawn_providers(2).await;
    app.mock(0).push(Behavior::rate_limited(30));
    app.mock(1).set_default(Behavior::reply("from the second"));
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-freeway-route"),
        Some("mock1/mock-model")
    );
    assert_eq!(header(&response, "x-freeway-attempts"), Some("2"));
    assert_eq!(header(&response, "retry-after"), None);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "from the second");
    assert_eq!(app.mock(0).request_count(), 1);
    assert_eq!(app.mock(1).request_count(), 1);
    // Each provider got its own credential.
    assert_eq!(
        app.mock(1).requests()[0].header("authorization"),
        Some("Bearer secret-1")
    );

    let trail = trail(&app).await;
    assert_eq!(
        summary(&trail),
        expected(&[
            ("mock0", "rate_limited", Some(429)),
            ("mock1", "ok", Some(200))
        ])
    );
    assert_eq!(trail[0]["detail"], "rate_limit_exceeded");
    let (provider, status): (Option<String>, i16) =
        sqlx::query_as("SELECT provider, status FROM usage_events")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(provider.as_deref(), Some("mock1"));
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn server_errors_hand_over_to_the_next() {
    let app = spawn_providers(3).await;
    app.mock(0).push(Behavior::status(500));
    app.mock(1).push(Behavior::status(503));
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-freeway-route"),
        Some("mock2/mock-model")
    );
    assert_eq!(header(&response, "x-freeway-attempts"), Some("3"));
    let trail = trail(&app).await;
    assert_eq!(
        summary(&trail),
        expected(&[
            ("mock0", "server_error", Some(500)),
            ("mock1", "server_error", Some(503)),
            ("mock2", "ok", Some(200)),
        ])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_rejected_credential_hands_over_to_the_next() {
    let app = spawn_providers(2).await;
    app.mock(0).push(Behavior::status(401));
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-freeway-route"),
        Some("mock1/mock-model")
    );
    let trail = trail(&app).await;
    assert_eq!(
        summary(&trail),
        expected(&[
            ("mock0", "credential_rejected", Some(401)),
            ("mock1", "ok", Some(200)),
        ])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_refused_connection_hands_over_to_the_next() {
    let mut app = spawn_providers(2).await;
    app.mocks.remove(0).stop().await;
    // `mock1` is now the only running mock, at index 0.
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-freeway-route"),
        Some("mock1/mock-model")
    );
    assert_eq!(header(&response, "x-freeway-attempts"), Some("2"));
    assert_eq!(app.mock(0).request_count(), 1);
    let trail = trail(&app).await;
    assert_eq!(
        summary(&trail),
        expected(&[("mock0", "connect_error", None), ("mock1", "ok", Some(200))])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_hanging_provider_times_out_and_hands_over() {
    let app = spawn_with(Spawn {
        providers: 2,
        provider_timeout_ms: 500,
        ..Spawn::default()
    })
    .await;
    app.mock(0).push(Behavior::hang());
    let started = Instant::now();
    let response = app.chat(chat_body("mock-model")).await;
    let took = started.elapsed();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-freeway-route"),
        Some("mock1/mock-model")
    );
    assert_eq!(header(&response, "x-freeway-attempts"), Some("2"));
    assert!(
        took >= Duration::from_millis(450),
        "answered after {took:?}, before the provider timeout"
    );
    assert!(
        took < Duration::from_secs(10),
        "the provider timeout did not cut the hang short: {took:?}"
    );
    let trail = trail(&app).await;
    assert_eq!(
        summary(&trail),
        expected(&[("mock0", "timeout", None), ("mock1", "ok", Some(200))])
    );
    assert!(trail[0]["latency_ms"].as_u64().unwrap() >= 450, "{trail:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_slow_first_byte_within_the_timeout_is_not_a_failure() {
    let app = spawn_with(Spawn {
        providers: 2,
        provider_timeout_ms: 2_000,
        ..Spawn::default()
    })
    .await;
    app.mock(0)
        .push(Behavior::ok().with_latency(Duration::from_millis(300)));
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-freeway-route"),
        Some("mock0/mock-model")
    );
    assert_eq!(app.mock(1).request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn every_provider_rate_limited_is_429_with_the_earliest_retry_after() {
    let app = spawn_providers(3).await;
    app.mock(0).push(Behavior::rate_limited(30));
    app.mock(1).push(Behavior::rate_limited(5));
    app.mock(2).push(Behavior::rate_limited(12));
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(header(&response, "retry-after"), Some("5"));
    assert_eq!(header(&response, "x-freeway-route"), None);
    let error = expect_error(response, 429, "upstream_rate_limited").await;
    assert_eq!(error["type"], "rate_limit_error");
    let message = error["message"].as_str().unwrap();
    for route in ["mock0/mock-model", "mock1/mock-model", "mock2/mock-model"] {
        assert!(message.contains(route), "{route} missing from: {message}");
    }
    for mock in 0..3 {
        assert_eq!(app.mock(mock).request_count(), 1);
    }
    let trail = trail(&app).await;
    assert_eq!(
        summary(&trail),
        expected(&[
            ("mock0", "rate_limited", Some(429)),
            ("mock1", "rate_limited", Some(429)),
            ("mock2", "rate_limited", Some(429)),
        ])
    );
    let (status, code): (i16, Option<String>) =
        sqlx::query_as("SELECT status, error_code FROM usage_events")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(status, 429);
    assert_eq!(code.as_deref(), Some("upstream_rate_limited"));
    app.stop().await;
}

#[tokio::test]
async fn every_provider_failing_is_502_upstream_unavailable() {
    let app = spawn_providers(2).await;
    app.mock(0).push(Behavior::status(500));
    app.mock(1).push(Behavior::status(503));
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(header(&response, "retry-after"), None);
    let error = expect_error(response, 502, "upstream_unavailable").await;
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("mock0/mock-model") && message.contains("mock1/mock-model"),
        "{message}"
    );
    let trail = trail(&app).await;
    assert_eq!(
        summary(&trail),
        expected(&[
            ("mock0", "server_error", Some(500)),
            ("mock1", "server_error", Some(503)),
        ])
    );
    let (status, code): (i16, Option<String>) =
        sqlx::query_as("SELECT status, error_code FROM usage_events")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(status, 502);
    assert_eq!(code.as_deref(), Some("upstream_unavailable"));
    app.stop().await;
}

#[tokio::test]
async fn rate_limits_mixed_with_errors_are_502() {
    let app = spawn_providers(2).await;
    app.mock(0).push(Behavior::rate_limited(5));
    app.mock(1).push(Behavior::status(500));
    let response = app.chat(chat_body("mock-model")).await;
    expect_error(response, 502, "upstream_unavailable").await;
    app.stop().await;
}
