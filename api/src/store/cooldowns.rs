//! Persisted cooldowns, so that a restart does not hammer a benched key, and the clears
//! that end them. A cooldown is written off the request path, so its write can come after
//! an admin's (or a probe's) clear that was meant to end it: each clear is recorded with
//! its time, and a cooldown set before a clear that covers it is not written. An advisory
//! lock orders a clear and the writes that cross it.

use chrono::{DateTime, Utc};
use freeway_wire::pool::ScopeKind;
use serde_json::json;
use sqlx::{FromRow, PgPool};

use super::StoreError;

/// Held shared by a cooldown's write and exclusively by a clear.
const CLEAR_LOCK: i64 = 0x6677_636f_6f6c;

/// The scope key of a clear of every cooldown.
pub const ALL: &str = "*";
use super::audit::{self, Audit, Outcome, audited};

#[derive(Debug, Clone, FromRow)]
pub struct CooldownRow {
    pub scope: ScopeKind,
    pub scope_key: String,
    pub until: DateTime<Utc>,
    pub reason: String,
    pub strikes: i32,
    pub created_at: DateTime<Utc>,
    /// When it was last set.
    pub set_at: DateTime<Utc>,
}

/// Writes a cooldown set at `set_at`, unless a clear of its scope (or of all) came at or
/// after that; returns whether it was written.
pub async fn save(
    pool: &PgPool,
    scope: ScopeKind,
    scope_key: &str,
    until: DateTime<Utc>,
    reason: &str,
    set_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
        .bind(CLEAR_LOCK)
        .execute(&mut *tx)
        .await?;
    let written = sqlx::query(
        "INSERT INTO cooldowns (scope, scope_key, until, reason, set_at)
         SELECT $1, $2, $3, $4, $5
         WHERE NOT EXISTS (
             SELECT 1 FROM cooldown_clears
             WHERE scope_key IN ($2, '*') AND cleared_at >= $5)
         ON CONFLICT (scope, scope_key) DO UPDATE
         SET until = greatest(cooldowns.until, $3), reason = $4,
             strikes = cooldowns.strikes + 1, set_at = greatest(cooldowns.set_at, $5)",
    )
    .bind(scope)
    .bind(scope_key)
    .bind(until)
    .bind(reason)
    .bind(set_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(written > 0)
}

/// Every clear on record, by scope key ([`ALL`] for a clear of all), with its time.
pub async fn clears(pool: &PgPool) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT scope_key, cleared_at FROM cooldown_clears")
            .fetch_all(pool)
            .await?,
    )
}

/// Records a clear of `scope_key` at `at`, under the lock that orders it with writes.
async fn record_clear(
    conn: &mut sqlx::PgConnection,
    scope_key: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CLEAR_LOCK)
        .execute(&mut *conn)
        .await?;
    if scope_key == ALL {
        // A clear of all covers every earlier one: the table stays as small as the scopes
        // cleared since.
        sqlx::query("DELETE FROM cooldown_clears WHERE cleared_at <= $1")
            .bind(at)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(
        "INSERT INTO cooldown_clears (scope_key, cleared_at) VALUES ($1, $2)
         ON CONFLICT (scope_key) DO UPDATE
         SET cleared_at = greatest(cooldown_clears.cleared_at, $2)",
    )
    .bind(scope_key)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Cooldowns still running, longest first.
pub async fn active(pool: &PgPool) -> Result<Vec<CooldownRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT scope, scope_key, until, reason, strikes, created_at, set_at FROM cooldowns
         WHERE until > now() ORDER BY until DESC, scope_key",
    )
    .fetch_all(pool)
    .await?)
}

/// Deletes every persisted cooldown set up to `at` and records the clear; returns how many
/// of them were still running. One set after `at` (a failure after the clear) is kept.
pub async fn clear(pool: &PgPool, actor: &str, at: DateTime<Utc>) -> Result<u64, StoreError> {
    audited(pool, actor, async |conn| {
        record_clear(&mut *conn, ALL, at).await?;
        let active: i64 = sqlx::query_scalar("SELECT count(*) FROM cooldowns WHERE until > now()")
            .fetch_one(&mut *conn)
            .await?;
        let cleared: i64 = sqlx::query_scalar(
            "WITH gone AS (DELETE FROM cooldowns WHERE set_at <= $1 RETURNING until)
             SELECT count(*) FROM gone WHERE until > now()",
        )
        .bind(at)
        .fetch_one(&mut *conn)
        .await?;
        let audit = Audit {
            target_id: None,
            ..Audit::new("cooldowns.clear", "cooldown", "")
        }
        .before(json!({ "active": active }))
        .after(json!({ "active": active - cleared }));
        let cleared = u64::try_from(cleared).unwrap_or(0);
        Ok(Outcome::Changed(cleared, audit.notify(audit::COOLDOWNS)))
    })
    .await
}

/// Deletes the persisted cooldown of one scope if it was set up to `at`, and records the
/// clear; returns whether there was one. Audited when there was, or when the caller cleared the scope in
/// memory (`held`); otherwise nothing is recorded.
pub async fn clear_one(
    pool: &PgPool,
    actor: &str,
    scope_key: &str,
    held: bool,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    audited(pool, actor, async |conn| {
        record_clear(&mut *conn, scope_key, at).await?;
        let deleted = sqlx::query("DELETE FROM cooldowns WHERE scope_key = $1 AND set_at <= $2")
            .bind(scope_key)
            .bind(at)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        let audit = Audit::new("cooldowns.clear", "cooldown", scope_key)
            .before(json!({ "scope": scope_key, "persisted": deleted > 0 }))
            .after(json!({ "scope": scope_key, "active": 0 }));
        if deleted == 0 && !held {
            return Ok(Outcome::Unchanged(false));
        }
        Ok(Outcome::Changed(
            deleted > 0,
            audit.notify(audit::COOLDOWNS),
        ))
    })
    .await
}
