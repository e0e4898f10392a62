//! Health probes' results, kept on each credential: when it was last checked, whether the
//! provider answered, how fast, and what went wrong.

use chrono::{DateTime, Utc};
use freeway_wire::discovery::ProbeResult;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use super::StoreError;

/// The probe columns of `credentials`.
#[derive(Debug, Clone, Default, PartialEq, Eq, FromRow)]
pub struct ProbeColumns {
    pub probed_at: Option<DateTime<Utc>>,
    pub probe_ok: Option<bool>,
    pub probe_latency_ms: Option<i32>,
    pub probe_error: Option<String>,
}

impl ProbeColumns {
    /// The last probe, once one ran.
    pub fn result(&self) -> Option<ProbeResult> {
        Some(ProbeResult {
            checked_at: self.probed_at?,
            ok: self.probe_ok.unwrap_or(false),
            latency_ms: self
                .probe_latency_ms
                .and_then(|ms| u64::try_from(ms).ok())
                .unwrap_or(0),
            error: self.probe_error.clone(),
        })
    }
}

/// Records a probe of `credential`. Not audited and not announced: a probe changes no
/// configuration, and the catalog does not read these columns.
pub async fn record(
    pool: &PgPool,
    credential: Uuid,
    result: &ProbeResult,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE credentials SET probed_at = $2, probe_ok = $3, probe_latency_ms = $4,
                probe_error = $5
         WHERE id = $1",
    )
    .bind(credential)
    .bind(result.checked_at)
    .bind(result.ok)
    .bind(i32::try_from(result.latency_ms).unwrap_or(i32::MAX))
    .bind(&result.error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Enabled credentials of enabled providers not probed within `every_secs`, least recently
/// probed first, at most `limit`.
pub async fn due(pool: &PgPool, every_secs: u64, limit: i64) -> Result<Vec<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT c.id FROM credentials c JOIN providers p ON p.id = c.provider_id
         WHERE c.enabled AND p.enabled
           AND (c.probed_at IS NULL
                OR c.probed_at < now() - make_interval(secs => $1::double precision))
         ORDER BY c.probed_at NULLS FIRST, c.id
         LIMIT $2",
    )
    .bind(every_secs as f64)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Every credential's last probe, by credential.
pub async fn all(pool: &PgPool) -> Result<Vec<(Uuid, ProbeResult)>, StoreError> {
    #[derive(FromRow)]
    struct Row {
        id: Uuid,
        #[sqlx(flatten)]
        probe: ProbeColumns,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, probed_at, probe_ok, probe_latency_ms, probe_error FROM credentials
         WHERE probed_at IS NOT NULL",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((row.id, row.probe.result()?)))
        .collect())
}
