//! The built-in catalog: seeded at start, upgraded in place unless an admin edited a row,
//! never over the admin's own providers, and invisible to `/v1/models` until it has a route.

use std::time::Duration;

use freeway::store::builtin::{self, CATALOG_VERSION};
use freeway::store::catalog::{SeedReport, seed_builtin};
use freeway::store::providers::{self, ProviderFields};
use freeway::store::{self, migrate};
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{ACTOR, add_model, fresh_database, spawn_app};

/// A migrated, unseeded database.
async fn migrated_database() -> PgPool {
    let database_url = fresh_database().await;
    migrate::run(&database_url).await.unwrap();
    PgPool::connect(&database_url).await.unwrap()
}

async fn provider_field<T>(db: &PgPool, name: &str, column: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {column} FROM providers WHERE name = $1"
    )))
    .bind(name)
    .fetch_one(db)
    .await
    .unwrap()
}

async fn seed_audit_rows(db: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'catalog.seed' AND actor = 'system'",
    )
    .fetch_one(db)
    .await
    .unwrap()
}

fn shipped_models() -> u32 {
    builtin::PROVIDERS
        .iter()
        .map(|p| p.models.len() as u32)
        .sum()
}

#[tokio::test]
async fn the_server_starts_with_the_builtin_catalog() {
    let app = spawn_app().await;

    let builtins: i64 =
        sqlx::query_scalar("SELECT count(*) FROM providers WHERE origin = 'builtin'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(builtins >= 15, "{builtins} built-in providers");
    assert_eq!(builtins, builtin::PROVIDERS.len() as i64);
    let tz: String = provider_field(&app.db, "gemini", "daily_reset_tz").await;
    assert_eq!(tz, "America/Los_Angeles");
    let tz: String = provider_field(&app.db, "groq", "daily_reset_tz").await;
    assert_eq!(tz, "UTC");
    let version: Option<i32> = provider_field(&app.db, "groq", "catalog_version").await;
    assert_eq!(version, Some(CATALOG_VERSION));

    // Keyless third parties wait for an admin to opt in; keyed ones wait for a credential.
    for name in ["kilo", "pollinations"] {
        assert!(
            provider_field::<bool>(&app.db, name, "keyless").await,
            "{name}"
        );
        assert!(
            !provider_field::<bool>(&app.db, name, "enabled").await,
            "{name}"
        );
    }
    assert!(!provider_field::<bool>(&app.db, "groq", "keyless").await);
    assert!(provider_field::<bool>(&app.db, "groq", "enabled").await);

    let (modality, family, dimensions): (String, Option<String>, Option<i32>) = sqlx::query_as(
        "SELECT m.modality, m.embedding_family, m.embedding_dimensions
         FROM models m JOIN providers p ON p.id = m.provider_id
         WHERE p.name = 'gemini' AND m.model_id = 'gemini-embedding-001'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        (modality.as_str(), family.as_deref(), dimensions),
        ("embedding", Some("gemini-embedding-001"), Some(3072))
    );
    let (rpm, tpd): (Option<i32>, Option<i64>) = sqlx::query_as(
        "SELECT m.rpm, m.tpd FROM models m JOIN providers p ON p.id = m.provider_id
         WHERE p.name = 'groq' AND m.model_id = 'llama-3.1-8b-instant'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((rpm, tpd), (Some(30), Some(500_000)));

    // The harness's own provider is untouched and custom.
    let origin: String = provider_field(&app.db, "mock0", "origin").await;
    assert_eq!(origin, "custom");
    assert_eq!(seed_audit_rows(&app.db).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn seeding_again_changes_nothing() {
    let app = spawn_app().await;
    // An admin opted in to a keyless provider: a later seed must not switch it off again.
    sqlx::query("UPDATE providers SET enabled = true WHERE name = 'pollinations'")
        .execute(&app.db)
        .await
        .unwrap();

    let report = seed_builtin(&app.db).await.unwrap();

    assert_eq!(report, SeedReport::default());
    assert!(!report.changed());
    assert_eq!(
        seed_audit_rows(&app.db).await,
        1,
        "an audit row for nothing"
    );
    assert!(provider_field::<bool>(&app.db, "pollinations", "enabled").await);
    app.stop().await;
}

#[tokio::test]
async fn unedited_builtin_rows_are_upgraded_to_the_shipped_values() {
    let db = migrated_database().await;
    let first = seed_builtin(&db).await.unwrap();
    assert_eq!(first.inserted_providers, builtin::PROVIDERS.len() as u32);
    assert_eq!(first.inserted_models, shipped_models());
    // As if an older Freeway had written them.
    sqlx::query(
        "UPDATE providers SET base_url = 'https://old.example.com/v1', catalog_version = 0
         WHERE name = 'groq'",
    )
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE models SET context_window = 4096, rpd = 1 WHERE model_id = 'llama-3.1-8b-instant'",
    )
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(
        "DELETE FROM models WHERE model_id = 'gemini-2.5-pro'
         AND provider_id = (SELECT id FROM providers WHERE name = 'gemini')",
    )
    .execute(&db)
    .await
    .unwrap();

    let report = seed_builtin(&db).await.unwrap();

    assert_eq!(
        report,
        SeedReport {
            inserted_models: 1,
            updated_providers: 1,
            updated_models: 1,
            ..SeedReport::default()
        }
    );
    let base_url: String = provider_field(&db, "groq", "base_url").await;
    assert_eq!(base_url, "https://api.groq.com/openai/v1");
    let version: Option<i32> = provider_field(&db, "groq", "catalog_version").await;
    assert_eq!(version, Some(CATALOG_VERSION));
    let (context, rpd): (Option<i32>, Option<i32>) = sqlx::query_as(
        "SELECT context_window, rpd FROM models WHERE model_id = 'llama-3.1-8b-instant'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!((context, rpd), (Some(131_072), Some(14_400)));
    assert_eq!(seed_audit_rows(&db).await, 2);
    let after: Value = sqlx::query_scalar(
        "SELECT after FROM audit_log WHERE action = 'catalog.seed' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(after["updated_providers"], 1, "{after}");
    assert_eq!(after["catalog_version"], CATALOG_VERSION, "{after}");
    db.close().await;
}

#[tokio::test]
async fn rows_an_admin_edited_are_left_as_the_admin_set_them() {
    let db = migrated_database().await;
    seed_builtin(&db).await.unwrap();
    sqlx::query(
        "UPDATE providers SET edited = true, base_url = 'https://proxy.example.com/groq'
         WHERE name = 'groq'",
    )
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE models SET edited = true, rpm = 5 WHERE model_id = 'llama-3.3-70b-versatile'",
    )
    .execute(&db)
    .await
    .unwrap();
    // An unedited model of the edited provider is still upgraded.
    sqlx::query("UPDATE models SET rpm = 1 WHERE model_id = 'qwen/qwen3-32b'")
        .execute(&db)
        .await
        .unwrap();

    let report = seed_builtin(&db).await.unwrap();

    assert_eq!(
        report,
        SeedReport {
            updated_models: 1,
            skipped_edited: 2,
            ..SeedReport::default()
        }
    );
    let base_url: String = provider_field(&db, "groq", "base_url").await;
    assert_eq!(base_url, "https://proxy.example.com/groq");
    let rpm: Option<i32> =
        sqlx::query_scalar("SELECT rpm FROM models WHERE model_id = 'llama-3.3-70b-versatile'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(rpm, Some(5));
    let rpm: Option<i32> =
        sqlx::query_scalar("SELECT rpm FROM models WHERE model_id = 'qwen/qwen3-32b'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(rpm, Some(60));

    // Nothing left to upgrade: the edited rows are reported again, nothing is written.
    let again = seed_builtin(&db).await.unwrap();
    assert_eq!(again.skipped_edited, 2);
    assert!(!again.changed(), "{again:?}");
    db.close().await;
}

#[tokio::test]
async fn a_custom_provider_with_a_builtin_name_is_not_overwritten() {
    let db = migrated_database().await;
    let mine = providers::create(
        &db,
        ACTOR,
        ProviderFields {
            keyless: false,
            priority: 5,
            timeout_ms: 1_000,
            ..ProviderFields::new("groq", "http://127.0.0.1:9/v1")
        },
    )
    .await
    .unwrap();
    add_model(&db, &mine, "my-model").await;

    let report = seed_builtin(&db).await.unwrap();

    assert_eq!(report.conflicts, vec!["groq".to_string()]);
    assert_eq!(
        report.inserted_providers,
        builtin::PROVIDERS.len() as u32 - 1
    );
    let groq = builtin::find("groq").unwrap();
    assert_eq!(
        report.inserted_models,
        shipped_models() - groq.models.len() as u32
    );
    let (origin, base_url, timeout_ms): (String, String, i32) =
        sqlx::query_as("SELECT origin, base_url, timeout_ms FROM providers WHERE name = 'groq'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(
        (origin.as_str(), base_url.as_str(), timeout_ms),
        ("custom", "http://127.0.0.1:9/v1", 1_000)
    );
    let models: Vec<String> =
        sqlx::query_scalar("SELECT model_id FROM models WHERE provider_id = $1")
            .bind(mine.id)
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(models, vec!["my-model".to_string()]);

    let again = seed_builtin(&db).await.unwrap();
    assert_eq!(again.conflicts, vec!["groq".to_string()]);
    assert!(!again.changed());
    db.close().await;
}

#[tokio::test]
async fn two_instances_seeding_at_once_insert_each_row_once() {
    let db = migrated_database().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&db).await.unwrap();
    listener.listen(store::CHANGE_CHANNEL).await.unwrap();

    let (a, b) = tokio::join!(seed_builtin(&db), seed_builtin(&db));

    let (a, b) = (a.unwrap(), b.unwrap());
    // One did the work under the lock; the other found it done.
    let (done, idle) = if a.changed() { (a, b) } else { (b, a) };
    assert_eq!(done.inserted_providers, builtin::PROVIDERS.len() as u32);
    assert_eq!(done.inserted_models, shipped_models());
    assert_eq!(idle, SeedReport::default());
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM models WHERE origin = 'builtin'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(rows, i64::from(shipped_models()));
    assert_eq!(seed_audit_rows(&db).await, 1);
    let notification = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("no change notification")
        .unwrap();
    assert_eq!(notification.payload(), "pool");
    // The listener holds a pooled connection, which `close` would wait for.
    drop(listener);
    db.close().await;
}

#[tokio::test]
async fn models_lists_only_models_with_a_usable_route() {
    let app = spawn_app().await;

    let body: Value = app
        .client
        .get(format!("{}/v1/models", app.address))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "model")
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    // Built-in providers have no credential yet (or are keyless and disabled).
    assert_eq!(ids, vec!["mock-model"], "{body}");
    app.stop().await;
}
