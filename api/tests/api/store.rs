//! The store as both doors use it: input Postgres cannot store is refused naming the field,
//! and a constraint violation reads as what the constraint guards, through the store
//! functions (the CLI's path) and through `/admin/v1` alike.

use freeway::store::limits::{LimitColumns, LimitTarget};
use freeway::store::members::{self, NewMember};
use freeway::store::providers::{self, ProviderFields};
use freeway::store::{StoreError, settings, tenants};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{ACTOR, fresh_database, spawn_app};

async fn migrated_database() -> PgPool {
    let database_url = fresh_database().await;
    freeway::store::migrate::run(&database_url).await.unwrap();
    PgPool::connect(&database_url).await.unwrap()
}

/// The field an `Invalid` error names.
fn invalid_field<T: std::fmt::Debug>(result: Result<T, StoreError>) -> String {
    match result {
        Err(StoreError::Invalid { field, .. }) => field,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) -> String {
    match result {
        Err(StoreError::Conflict(what)) => what,
        other => panic!("expected Conflict, got {other:?}"),
    }
}

fn member(name: &str) -> NewMember<'_> {
    NewMember {
        name,
        email: None,
        role: freeway_wire::tenants::MemberRole::Member,
    }
}

#[tokio::test]
async fn nul_characters_are_invalid_naming_the_field_through_the_store() {
    let db = migrated_database().await;
    let team = tenants::create(&db, ACTOR, "team").await.unwrap();

    let tenant = tenants::create(&db, ACTOR, "a\0b").await;
    let member = members::create(&db, ACTOR, &team, member("bo\0b")).await;
    let key = settings::put(&db, ACTOR, "ui.t\0itle", &json!("Freeway")).await;
    let value = settings::put(&db, ACTOR, "ui.title", &json!({"a": ["\u{0}"]})).await;
    let lookup = tenants::find_by_name(&db, "te\0am").await;

    assert_eq!(invalid_field(tenant), "name");
    assert_eq!(invalid_field(member), "name");
    assert_eq!(invalid_field(key), "key");
    assert_eq!(invalid_field(value), "value");
    assert_eq!(invalid_field(lookup), "tenant");
    db.close().await;
}

#[tokio::test]
async fn nul_characters_are_422_naming_the_field_through_the_admin_api() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let team = format!("/admin/v1/tenants/{}/members", app.tenant.id);
    let calls = [
        (
            Method::POST,
            "/admin/v1/tenants",
            json!({"name": "a\u{0}b"}),
            "name",
        ),
        (
            Method::POST,
            team.as_str(),
            json!({"name": "bo\u{0}b"}),
            "name",
        ),
        (
            Method::PUT,
            "/admin/v1/settings/ui.t%00itle",
            json!({"value": "x"}),
            "key",
        ),
        (
            Method::PUT,
            "/admin/v1/settings/ui.title",
            json!({"value": "\u{0}"}),
            "value",
        ),
    ];
    for (method, path, body, field) in calls {
        let (status, json) = app.admin(method, path, Some(&token), Some(body)).await;
        assert_eq!(status, 422, "{path}: {json}");
        assert_eq!(json["error"]["field"], Value::from(field), "{path}: {json}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_constraint_violation_is_a_conflict_naming_the_thing() {
    let db = migrated_database().await;
    let team = tenants::create(&db, ACTOR, "team").await.unwrap();
    members::create(&db, ACTOR, &team, member("bob"))
        .await
        .unwrap();
    let fields = ProviderFields::new("mine", "http://127.0.0.1:9/v1");
    providers::create(&db, ACTOR, fields.clone()).await.unwrap();

    let tenant = tenants::create(&db, ACTOR, "team").await;
    let member = members::create(&db, ACTOR, &team, member("bob")).await;
    let provider = providers::create(&db, ACTOR, fields).await;

    assert_eq!(conflict(tenant), r#"tenant "team""#);
    assert_eq!(conflict(member), r#"member "bob" in tenant "team""#);
    assert_eq!(conflict(provider), r#"provider "mine""#);
    db.close().await;
}

#[tokio::test]
async fn limits_on_a_route_whose_rows_do_not_exist_are_not_found() {
    let db = migrated_database().await;
    let route = LimitTarget::Route {
        model: Uuid::now_v7(),
        credential: Uuid::now_v7(),
    };
    let limits = LimitColumns {
        rpm: Some(5),
        ..LimitColumns::default()
    };

    let result = freeway::store::limits::set(&db, ACTOR, route, limits).await;

    assert!(
        matches!(&result, Err(StoreError::NotFound(what)) if what.starts_with("model of route")),
        "{result:?}"
    );
    db.close().await;
}

#[tokio::test]
async fn values_postgres_cannot_store_are_invalid_never_a_database_error() {
    let db = migrated_database().await;
    let nul = sqlx::query("SELECT $1::text").bind("a\0b");
    let json_nul = sqlx::query("SELECT $1::jsonb").bind(json!("\u{0}"));
    let cases = [
        ("22021", nul.execute(&db).await),
        ("22P05", json_nul.execute(&db).await),
        (
            "22008",
            sqlx::query("SELECT make_timestamp(300000, 1, 1, 0, 0, 0)")
                .execute(&db)
                .await,
        ),
        (
            "22003",
            sqlx::query("SELECT 2147483648::integer").execute(&db).await,
        ),
        (
            "22007",
            sqlx::query("SELECT 'not a time'::timestamptz")
                .execute(&db)
                .await,
        ),
    ];
    for (code, result) in cases {
        let error = result.unwrap_err();
        let sqlstate = error.as_database_error().and_then(|e| e.code());
        assert_eq!(sqlstate.as_deref(), Some(code), "{error}");
        let mapped = StoreError::from(error);
        assert!(
            matches!(mapped, StoreError::Invalid { .. }),
            "{code}: {mapped:?}"
        );
    }
    db.close().await;
}
