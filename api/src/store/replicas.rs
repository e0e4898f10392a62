//! The fleet's replicas and their heartbeats (`fleet_replicas`): how many share the limits
//! while Redis is away.

use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;

/// A replica is live while its last heartbeat is younger than this many seconds.
pub const LIVE_SECS: i32 = 5;

/// Records a heartbeat of `id` and answers how many replicas are live, itself included.
/// Rows older than a day are removed on the way.
pub async fn beat(pool: &PgPool, id: Uuid) -> Result<u64, StoreError> {
    let (others,): (i64,) = sqlx::query_as(
        "WITH beat AS (
             INSERT INTO fleet_replicas (id, seen_at) VALUES ($1, now())
             ON CONFLICT (id) DO UPDATE SET seen_at = now()
         ), gone AS (
             DELETE FROM fleet_replicas WHERE seen_at < now() - interval '1 day' AND id <> $1
         )
         SELECT count(*) FROM fleet_replicas
         WHERE id <> $1 AND seen_at > now() - make_interval(secs => $2)",
    )
    .bind(id)
    .bind(f64::from(LIVE_SECS))
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(others).unwrap_or(0).saturating_add(1))
}

/// Forgets `id` (a replica that stops), so the others' shares grow at once.
pub async fn leave(pool: &PgPool, id: Uuid) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM fleet_replicas WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}
