//! Which catalog models a credential cannot use (`model_availability`): those its provider
//! no longer lists with that key, and those it refused with a 402 or "requires a
//! subscription". Every change is announced so that each instance's router skips (or takes
//! back) the routes at once.

use chrono::{DateTime, Utc};
use freeway_wire::discovery::UnavailableCause;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use super::{StoreError, audit, notify_change};

#[derive(Debug, Clone, FromRow)]
pub struct AvailabilityRow {
    pub credential_id: Uuid,
    pub model_id: Uuid,
    pub cause: UnavailableCause,
    pub reason: String,
    pub since: DateTime<Utc>,
}

pub async fn list(pool: &PgPool) -> Result<Vec<AvailabilityRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT credential_id, model_id, cause, reason, since FROM model_availability
         ORDER BY since, credential_id, model_id",
    )
    .fetch_all(pool)
    .await?)
}

/// Marks `model` unavailable for `credential`. A refusal replaces a missing mark; a missing
/// mark leaves a refusal in place.
pub async fn mark(
    pool: &PgPool,
    credential: Uuid,
    model: Uuid,
    cause: UnavailableCause,
    reason: &str,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let changed = sqlx::query(
        "INSERT INTO model_availability (credential_id, model_id, cause, reason)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (credential_id, model_id) DO UPDATE SET cause = $3, reason = $4
         WHERE model_availability.cause = 'missing'",
    )
    .bind(credential)
    .bind(model)
    .bind(cause)
    .bind(reason)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed > 0 {
        announce(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What a listing of `credential`'s models says: `missing` are marked, and the missing
/// marks of `listed` are cleared. Returns whether anything changed.
pub async fn sync_listing(
    pool: &PgPool,
    credential: Uuid,
    missing: &[Uuid],
    listed: &[Uuid],
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    let marked = sqlx::query(
        "INSERT INTO model_availability (credential_id, model_id, cause, reason)
         SELECT $1, m, 'missing', 'the provider no longer lists this model for this credential'
         FROM unnest($2::uuid[]) AS m
         ON CONFLICT (credential_id, model_id) DO NOTHING",
    )
    .bind(credential)
    .bind(missing)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let cleared = sqlx::query(
        "DELETE FROM model_availability
         WHERE credential_id = $1 AND cause = 'missing' AND model_id = ANY($2)",
    )
    .bind(credential)
    .bind(listed)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let changed = marked + cleared > 0;
    if changed {
        announce(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// Clears the marks of `credential` (of one model, when given; of one cause, when given).
/// Returns how many were cleared.
pub async fn clear(
    pool: &PgPool,
    credential: Uuid,
    model: Option<Uuid>,
    cause: Option<UnavailableCause>,
) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    let cleared = sqlx::query(
        "DELETE FROM model_availability
         WHERE credential_id = $1 AND ($2::uuid IS NULL OR model_id = $2)
           AND ($3::text IS NULL OR cause = $3)",
    )
    .bind(credential)
    .bind(model)
    .bind(cause)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if cleared > 0 {
        announce(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(cleared)
}

async fn announce(tx: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    for what in audit::POOL {
        notify_change(&mut *tx, what).await?;
    }
    Ok(())
}
