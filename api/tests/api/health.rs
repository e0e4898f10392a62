use std::time::Duration;

use crate::helpers::{eventually, eventually_within, spawn_app};
use crate::pg_proxy::PgProxy;
use crate::usage::{readyz_status, spawn_behind};

#[tokio::test]
async fn healthz_and_readyz_answer_ok() {
    let app = spawn_app().await;
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ok");
    assert_eq!(ready["database"], true);
    assert_eq!(ready["migrations"], true);
    app.stop().await;
}

#[tokio::test]
async fn a_chat_completion_goes_through_and_is_recorded() {
    let app = spawn_app().await;
    let response = app.chat(crate::helpers::chat_body("mock-model")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-freeway-route"], "mock0/mock-model");
    app.wait_for_usage(1).await;
    app.stop().await;
}

/// `/readyz`, timed: it must answer within a second whatever the database does.
async fn ready_within_a_second(app: &crate::helpers::TestApp) -> (u16, serde_json::Value) {
    let started = std::time::Instant::now();
    let (status, body) = readyz_status(app).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "/readyz took {took:?}: {body}"
    );
    (status, body)
}

#[tokio::test]
async fn readyz_answers_at_once_while_the_database_is_unreachable_and_after() {
    let proxy = PgProxy::start().await;
    let app = spawn_behind(&proxy, |_| {}).await;
    let (status, body) = ready_within_a_second(&app).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["checked_ms_ago"].as_u64().unwrap() < 5_000, "{body}");

    proxy.set_down(true).await;
    eventually("/readyz to say the database is unreachable", || async {
        ready_within_a_second(&app).await.0 == 503
    })
    .await;
    let (status, body) = ready_within_a_second(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "database unreachable", "{body}");
    assert_eq!(body["database"], false, "{body}");
    // Still answering at once while the outage lasts.
    for _ in 0..3 {
        assert_eq!(ready_within_a_second(&app).await.0, 503);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    proxy.set_down(false).await;
    eventually_within(
        Duration::from_secs(30),
        "/readyz after the outage",
        || async { ready_within_a_second(&app).await.0 == 200 },
    )
    .await;
    app.stop().await;
}
