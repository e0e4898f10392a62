//! Upgrades at start for rows the catalog retires: a provider whose free tier is gone is
//! switched off, and one the catalog no longer lists is deleted, or disabled while it holds
//! credentials.

use freeway::crypto::{Keyring, Secret};
use freeway::store::catalog::seed_builtin;
use freeway::store::providers;

use crate::helpers::{add_credential, spawn_app};

async fn enabled(db: &sqlx::PgPool, name: &str) -> Option<bool> {
    sqlx::query_scalar("SELECT enabled FROM providers WHERE name = $1")
        .bind(name)
        .fetch_optional(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_provider_whose_free_tier_is_gone_is_disabled_by_the_upgrade() {
    let app = spawn_app().await;
    assert_eq!(enabled(&app.db, "sambanova").await, Some(false));
    // As an older Freeway left it: enabled, not edited.
    sqlx::query("UPDATE providers SET enabled = true WHERE name = 'sambanova'")
        .execute(&app.db)
        .await
        .unwrap();

    let report = seed_builtin(&app.db).await.unwrap();

    assert_eq!(report.updated_providers, 1, "{report:?}");
    assert_eq!(enabled(&app.db, "sambanova").await, Some(false));
    app.stop().await;
}

#[tokio::test]
async fn a_retired_provider_is_deleted_unless_it_holds_credentials() {
    let app = spawn_app().await;
    for name in ["retired-empty", "retired-keyed"] {
        sqlx::query(
            "INSERT INTO providers (id, name, base_url, origin, catalog_version)
             VALUES (gen_random_uuid(), $1, 'https://retired.example.com/v1', 'builtin', 1)",
        )
        .bind(name)
        .execute(&app.db)
        .await
        .unwrap();
    }
    let keyring = Keyring::load_file(&app.key_file).unwrap();
    let keyed = providers::find(&app.db, "retired-keyed")
        .await
        .unwrap()
        .unwrap();
    add_credential(
        &app.db,
        &keyring,
        &keyed,
        &Secret::new("retired-key-1".to_string()),
    )
    .await;

    let report = seed_builtin(&app.db).await.unwrap();

    assert_eq!(
        (report.removed_providers, report.disabled_providers),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(enabled(&app.db, "retired-empty").await, None);
    assert_eq!(enabled(&app.db, "retired-keyed").await, Some(false));
    app.stop().await;
}
