//! The pool's usage windows, persisted as one compact state per scope (a few buckets and a
//! day counter, never a row per request), so that a restart restores them at once.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

use super::StoreError;

#[derive(Debug, Clone, FromRow)]
pub struct SnapshotRow {
    pub scope_key: String,
    pub taken_at: DateTime<Utc>,
    /// The window's state, as `routing::window::WindowState` serialises it.
    pub state: serde_json::Value,
}

/// Replaces the snapshots of `states` (scope key, state) and deletes those of `freed`
/// scopes, in one transaction.
pub async fn save(
    pool: &PgPool,
    states: &[(String, serde_json::Value)],
    freed: &[String],
) -> Result<(), StoreError> {
    if states.is_empty() && freed.is_empty() {
        return Ok(());
    }
    let (keys, values): (Vec<&str>, Vec<&serde_json::Value>) =
        states.iter().map(|(k, v)| (k.as_str(), v)).unzip();
    let mut tx = pool.begin().await?;
    if !freed.is_empty() {
        sqlx::query("DELETE FROM ledger_snapshots WHERE scope_key = ANY($1)")
            .bind(freed)
            .execute(&mut *tx)
            .await?;
    }
    if !keys.is_empty() {
        sqlx::query(
            "INSERT INTO ledger_snapshots (scope_key, taken_at, state)
             SELECT k, now(), s FROM unnest($1::text[], $2::jsonb[]) AS u(k, s)
             ON CONFLICT (scope_key) DO UPDATE
             SET taken_at = EXCLUDED.taken_at, state = EXCLUDED.state",
        )
        .bind(keys)
        .bind(values)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Every snapshot: one row per scope of the pool.
pub async fn load(pool: &PgPool) -> Result<Vec<SnapshotRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT scope_key, taken_at, state FROM ledger_snapshots")
            .fetch_all(pool)
            .await?,
    )
}
