//! Persisted cooldowns, so that a restart does not hammer a benched key.

use chrono::{DateTime, Utc};
use freeway_wire::pool::ScopeKind;
use serde_json::json;
use sqlx::{FromRow, PgPool};

use super::StoreError;
use super::audit::{self, Audit, Outcome, audited};

#[derive(Debug, Clone, FromRow)]
pub struct CooldownRow {
    pub scope: ScopeKind,
    pub scope_key: String,
    pub until: DateTime<Utc>,
    pub reason: String,
    pub strikes: i32,
    pub created_at: DateTime<Utc>,
}

pub async fn save(
    pool: &PgPool,
    scope: ScopeKind,
    scope_key: &str,
    until: DateTime<Utc>,
    reason: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO cooldowns (scope, scope_key, until, reason) VALUES ($1, $2, $3, $4)
         ON CONFLICT (scope, scope_key) DO UPDATE
         SET until = greatest(cooldowns.until, $3), reason = $4, strikes = cooldowns.strikes + 1",
    )
    .bind(scope)
    .bind(scope_key)
    .bind(until)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(())
}

/// Cooldowns still running, longest first.
pub async fn active(pool: &PgPool) -> Result<Vec<CooldownRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT scope, scope_key, until, reason, strikes, created_at FROM cooldowns
         WHERE until > now() ORDER BY until DESC, scope_key",
    )
    .fetch_all(pool)
    .await?)
}

/// Deletes every persisted cooldown; returns how many were still running.
pub async fn clear(pool: &PgPool, actor: &str) -> Result<u64, StoreError> {
    audited(pool, actor, async |conn| {
        let active: i64 = sqlx::query_scalar("SELECT count(*) FROM cooldowns WHERE until > now()")
            .fetch_one(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM cooldowns")
            .execute(&mut *conn)
            .await?;
        let audit = Audit {
            target_id: None,
            ..Audit::new("cooldowns.clear", "cooldown", "")
        }
        .before(json!({ "active": active }))
        .after(json!({ "active": 0 }));
        let cleared = u64::try_from(active).unwrap_or(0);
        Ok(Outcome::Changed(cleared, audit.notify(audit::COOLDOWNS)))
    })
    .await
}

/// Deletes the persisted cooldown of one scope; returns whether there was one. Audited
/// when there was, or when the caller cleared the scope in memory (`held`).
pub async fn clear_one(
    pool: &PgPool,
    actor: &str,
    scope_key: &str,
    held: bool,
) -> Result<bool, StoreError> {
    audited(pool, actor, async |conn| {
        let deleted = sqlx::query("DELETE FROM cooldowns WHERE scope_key = $1")
            .bind(scope_key)
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
