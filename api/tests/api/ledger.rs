//! The pool's usage windows across restarts: restored from their compact snapshots plus what
//! was served after them, never by replaying the day's requests one by one.

use std::time::Duration;

use freeway::store::limits::{self, LimitColumns, LimitTarget};
use freeway_wire::page::List;
use freeway_wire::pool::{ScopeKind, ScopeState};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, eventually_within, spawn_app};

/// One mock provider whose model allows `rpd` requests a day, loaded by a restart.
async fn app_with_rpd(rpd: i32) -> TestApp {
    let app = spawn_app().await;
    let model = app.model_row("mock0", "mock-model").await;
    limits::set(
        &app.db,
        "test",
        LimitTarget::Model(model),
        LimitColumns {
            rpd: Some(rpd),
            ..LimitColumns::default()
        },
    )
    .await
    .unwrap();
    app.restart().await
}

async fn ask(app: &TestApp, i: usize) -> u16 {
    let body =
        json!({"model": "mock-model", "messages": [{"role": "user", "content": format!("q{i}")}]});
    app.chat(body).await.status().as_u16()
}

/// The snapshot of the mock model's route: `route:<model>:<credential>`.
async fn route_snapshot(app: &TestApp) -> Value {
    let key = format!(
        "route:{}:{}",
        app.model_row("mock0", "mock-model").await,
        app.credential_row("mock0").await
    );
    sqlx::query_scalar("SELECT state FROM ledger_snapshots WHERE scope_key = $1")
        .bind(key)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// `n` served requests of the mock route, written straight into the usage table at `at`
/// (an SQL expression).
async fn insert_served(app: &TestApp, n: i32, at: &str) {
    let credential = app.credential_row("mock0").await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO usage_events (id, created_at, endpoint, provider, model, credential_id,
             status, latency_ms, prompt_tokens, completion_tokens)
         SELECT gen_random_uuid(), {at}, 'chat.completions', 'mock0', 'mock-model', $1,
             200, 1, 5, 5
         FROM generate_series(1, $2)"
    )))
    .bind(credential)
    .bind(n)
    .execute(&app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_restart_restores_the_windows_from_their_snapshot_without_replaying_requests() {
    let app = app_with_rpd(3).await;
    assert_eq!(ask(&app, 0).await, 200);
    assert_eq!(ask(&app, 1).await, 200);
    app.wait_for_usage(2).await;
    // Rows the windows never counted, written before the shutdown's snapshot: a restart
    // that replayed the day's requests would count them and refuse the next request.
    insert_served(&app, 50, "now()").await;

    let app = app.restart().await;
    let state = route_snapshot(&app).await;
    assert_eq!(state["day_requests"], 2, "{state}");
    assert!(
        state["minute"].as_array().unwrap().len() <= 61,
        "a bounded ring, whatever the traffic: {state}"
    );
    assert_eq!(ask(&app, 2).await, 200, "two of three were used before");
    assert_eq!(
        ask(&app, 3).await,
        429,
        "the day's limit holds across the restart"
    );
    assert_eq!(app.mock(0).request_count(), 3);
    app.stop().await;
}

#[tokio::test]
async fn what_was_served_after_the_last_snapshot_counts_after_a_crash() {
    let app = app_with_rpd(3).await;
    assert_eq!(ask(&app, 0).await, 200);
    assert_eq!(ask(&app, 1).await, 200);
    app.wait_for_usage(2).await;
    // As if the process had died before its last snapshot: the windows' states are an hour
    // old and empty, and the two requests are only in the usage table.
    let app = app
        .restart_after(async |db: &PgPool| {
            sqlx::query(
                "UPDATE ledger_snapshots SET taken_at = now() - interval '1 hour',
                     state = jsonb_set(jsonb_set(jsonb_set(jsonb_set(state,
                         '{minute}', '[]'), '{hour}', '[]'), '{day_requests}', '0'),
                         '{day_tokens}', '0')",
            )
            .execute(db)
            .await
            .unwrap();
        })
        .await;
    assert_eq!(ask(&app, 2).await, 200);
    assert_eq!(
        ask(&app, 3).await,
        429,
        "the two requests served after the snapshot were added back"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_windows_are_persisted_while_serving() {
    let app = app_with_rpd(100).await;
    assert_eq!(ask(&app, 0).await, 200);
    // Snapshots are taken every 5 s: without a restart, the route's window reaches Postgres.
    eventually_within(
        Duration::from_secs(15),
        "the route's window is persisted",
        || async {
            let persisted: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM ledger_snapshots
             WHERE scope_key LIKE 'route:%' AND (state->>'day_requests')::int = 1",
            )
            .fetch_one(&app.db)
            .await
            .unwrap();
            persisted == 1
        },
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_limit_set_over_the_admin_api_applies_to_what_was_already_counted() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    assert_eq!(ask(&app, 0).await, 200);
    assert_eq!(ask(&app, 1).await, 200);
    app.set_model_limits(&token, "mock0", "mock-model", json!({"rpd": 2}))
        .await;
    // No restart: the change is announced, the catalog reloads, the window keeps its two.
    let route = || async {
        let state: List<ScopeState> = app
            .admin_ok(Method::GET, "/admin/v1/routing/state", &token, None)
            .await;
        state
            .data
            .into_iter()
            .find(|s| s.kind == ScopeKind::Route)
            .unwrap()
    };
    eventually_within(Duration::from_secs(10), "the catalog reloads", || async {
        route().await.limits.rpd == Some(2)
    })
    .await;
    assert_eq!(route().await.requests_today, 2);
    assert_eq!(ask(&app, 2).await, 429);
    assert_eq!(app.mock(0).request_count(), 2);
    app.stop().await;
}

#[tokio::test]
async fn the_windows_of_a_deleted_credential_are_freed() {
    let app = app_with_rpd(100).await;
    assert_eq!(ask(&app, 0).await, 200);
    let credential = app.credential_row("mock0").await;
    let scopes = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM ledger_snapshots WHERE scope_key LIKE '%' || $1 || '%'",
        )
        .bind(credential.to_string())
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    eventually_within(
        Duration::from_secs(15),
        "the route and credential windows are persisted",
        || async { scopes().await == 2 },
    )
    .await;
    let provider: uuid::Uuid =
        sqlx::query_scalar("SELECT provider_id FROM credentials WHERE id = $1")
            .bind(credential)
            .fetch_one(&app.db)
            .await
            .unwrap();
    freeway::store::credentials::delete(&app.db, "test", provider, credential)
        .await
        .unwrap();
    // The reload frees its slots; the next snapshot deletes what was persisted of them.
    eventually_within(
        Duration::from_secs(15),
        "the credential's windows are gone",
        || async { scopes().await == 0 },
    )
    .await;
    app.stop().await;
}
