//! Cooldowns and the clears that end them, when the two cross: a cooldown set here and not
//! yet written survives a resync another clear causes, and a cooldown set before a clear is
//! not written after it.

use chrono::{Duration as Span, Utc};
use freeway::mock::Behavior;
use freeway::store::{cooldowns, providers};
use freeway_wire::pool::ScopeKind;

use crate::helpers::{
    ACTOR, Spawn, chat_body, eventually, fresh_database, header, hold_writes, spawn_with,
};

#[tokio::test]
async fn a_cooldown_not_yet_written_survives_a_resync() {
    // Arrange: mock1's provider has a cooldown in the table that this server has not read;
    // writes to the table wait on a lock.
    let app = spawn_with(Spawn {
        providers: 2,
        ..Spawn::default()
    })
    .await;
    let token = app.admin_token().await;
    let mock1 = providers::find(&app.db, "mock1").await.unwrap().unwrap();
    sqlx::query(
        "INSERT INTO cooldowns (scope, scope_key, until, reason)
         VALUES ('provider', $1, now() + interval '1 minute', 'seeded')",
    )
    .bind(format!("provider:{}", mock1.id))
    .execute(&app.db)
    .await
    .unwrap();
    let lock = hold_writes(&app.db, "cooldowns").await;
    app.mock(0).push(Behavior::status(503));
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(header(&response, "x-freeway-route"), "mock1/mock-model");
    let cooling = app
        .route_scope(&token, "mock0")
        .await
        .skip_reason
        .unwrap_or_default();
    assert!(cooling.contains("cooling down"), "{cooling}");

    // Act: a clear elsewhere makes every instance resync its cooldowns from the table.
    freeway::store::notify_change(&app.db, "cooldowns")
        .await
        .unwrap();
    eventually("the resync to read the seeded cooldown", || async {
        app.route_scope(&token, "mock1")
            .await
            .skip_reason
            .is_some_and(|r| r.contains("seeded"))
    })
    .await;

    // Assert: mock0's route still cools down, and is written once the lock goes.
    let cooling = app
        .route_scope(&token, "mock0")
        .await
        .skip_reason
        .unwrap_or_default();
    assert!(cooling.contains("route cooling down"), "{cooling}");
    lock.commit().await.unwrap();
    eventually("mock0's cooldown is written", || async {
        cooldowns::active(&app.db)
            .await
            .unwrap()
            .iter()
            .any(|c| c.scope == ScopeKind::Route)
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_cooldown_set_before_a_clear_is_not_written_after_it() {
    let database_url = fresh_database().await;
    freeway::store::migrate::run(&database_url).await.unwrap();
    let db = sqlx::PgPool::connect(&database_url).await.unwrap();
    let until = Utc::now() + Span::minutes(1);
    let before = Utc::now() - Span::milliseconds(50);

    // All cleared, then a write of a cooldown set before: nothing is written.
    cooldowns::clear(&db, ACTOR, Utc::now()).await.unwrap();
    let written = cooldowns::save(&db, ScopeKind::Route, "route:a", until, "late", before)
        .await
        .unwrap();
    assert!(!written);
    assert!(cooldowns::active(&db).await.unwrap().is_empty());

    // One scope cleared: another scope's cooldown set before is written.
    let before = Utc::now() - Span::milliseconds(10);
    cooldowns::clear_one(&db, ACTOR, "route:b", true, Utc::now())
        .await
        .unwrap();
    for key in ["route:b", "route:c"] {
        cooldowns::save(&db, ScopeKind::Route, key, until, "late", before)
            .await
            .unwrap();
    }
    assert_eq!(active_keys(&db).await, ["route:c"]);

    // A cooldown set after the clear is written.
    let after = Utc::now() + Span::milliseconds(10);
    assert!(
        cooldowns::save(&db, ScopeKind::Route, "route:b", until, "new", after)
            .await
            .unwrap()
    );
    assert_eq!(cooldowns::active(&db).await.unwrap().len(), 2);

    // A clear whose time came before a cooldown was set leaves it, even when the cooldown
    // was written first.
    let at = Utc::now() + Span::seconds(1);
    let later = at + Span::milliseconds(5);
    cooldowns::save(&db, ScopeKind::Route, "route:d", until, "later", later)
        .await
        .unwrap();
    let cleared = cooldowns::clear(&db, ACTOR, at).await.unwrap();
    assert_eq!(cleared, 2);
    assert_eq!(active_keys(&db).await, ["route:d"]);
}

/// The scope keys of the cooldowns still running.
async fn active_keys(db: &sqlx::PgPool) -> Vec<String> {
    cooldowns::active(db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.scope_key)
        .collect()
}
