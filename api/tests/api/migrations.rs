//! Migrations: idempotent, safe when two instances start at once, and reported by /readyz.

use freeway::store::migrate;
use sqlx::PgPool;

use crate::helpers::{fresh_database, spawn_app};

async fn history(database_url: &str) -> (i64, i64) {
    let db = PgPool::connect(database_url).await.unwrap();
    let counts = sqlx::query_as(
        "SELECT count(*), count(DISTINCT version)::bigint FROM refinery_schema_history",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    db.close().await;
    counts
}

#[tokio::test]
async fn a_second_run_applies_nothing() {
    let database_url = fresh_database().await;
    let applied = migrate::run(&database_url).await.unwrap();
    assert!(!applied.is_empty());
    assert!(applied[0].starts_with("V1__"), "{applied:?}");
    let again = migrate::run(&database_url).await.unwrap();
    assert!(again.is_empty(), "applied again: {again:?}");
    let n = i64::try_from(applied.len()).unwrap();
    assert_eq!(history(&database_url).await, (n, n));
    let db = PgPool::connect(&database_url).await.unwrap();
    assert_eq!(
        migrate::applied_version(&db).await.unwrap(),
        Some(migrate::latest_version())
    );
    db.close().await;
}

#[tokio::test]
async fn two_concurrent_runs_apply_each_migration_once() {
    let database_url = fresh_database().await;
    let (a, b) = tokio::join!(migrate::run(&database_url), migrate::run(&database_url));
    let (a, b) = (a.unwrap(), b.unwrap());
    // One of them did the work; the other waited for the lock and found nothing to do.
    let (done, idle) = if a.is_empty() { (b, a) } else { (a, b) };
    assert!(!done.is_empty());
    assert!(
        idle.is_empty(),
        "both applied migrations: {done:?} and {idle:?}"
    );
    let n = i64::try_from(done.len()).unwrap();
    assert_eq!(history(&database_url).await, (n, n));
}

#[tokio::test]
async fn readyz_reports_the_migrations() {
    let app = spawn_app().await;
    let ready = |app: &crate::helpers::TestApp| {
        let request = app.client.get(format!("{}/readyz", app.address)).send();
        async move {
            let response = request.await.unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body)
        }
    };
    let (status, body) = ready(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["migrations"], true);

    // A database behind the binary: not ready.
    let latest = migrate::latest_version();
    sqlx::query("DELETE FROM refinery_schema_history WHERE version = $1")
        .bind(i32::try_from(latest).unwrap())
        .execute(&app.db)
        .await
        .unwrap();
    // Readiness is checked every second in the background.
    crate::helpers::eventually("/readyz to see the missing migration", || async {
        ready(&app).await.0 == 503
    })
    .await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["database"], true);
    assert_eq!(body["migrations"], false);
    assert_eq!(body["status"], "migrations pending");
    app.stop().await;
}
