//! Schema migrations: refinery, embedded in the binary, applied under an advisory lock so
//! that two instances starting together do not race.

use sqlx::PgPool;
use tokio_postgres::NoTls;

use super::StoreError;
use crate::config::redact_url;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// An arbitrary constant shared by every Freeway instance: "fwmigr" in ASCII.
const MIGRATION_LOCK: i64 = 0x6677_6d69_6772;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot reach the database at DATABASE_URL ({url}): {reason}")]
    Connect { url: String, reason: String },
    #[error("migration failed: {0}")]
    Migration(String),
}

/// Applies every pending migration and returns the names of those applied now.
pub async fn run(database_url: &str) -> Result<Vec<String>, MigrateError> {
    let (mut client, connection) =
        tokio_postgres::connect(database_url, NoTls)
            .await
            .map_err(|e| MigrateError::Connect {
                url: redact_url(database_url),
                reason: e.to_string(),
            })?;
    let driver = tokio::spawn(connection);
    let result = run_locked(&mut client).await;
    drop(client);
    let _ = driver.await;
    result
}

async fn run_locked(client: &mut tokio_postgres::Client) -> Result<Vec<String>, MigrateError> {
    let failed = |e: tokio_postgres::Error| MigrateError::Migration(e.to_string());
    // Session-level lock on this connection: a second instance waits here until the first
    // has finished, then finds nothing left to apply.
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(failed)?;
    let report = embedded::migrations::runner()
        .set_abort_divergent(true)
        .run_async(client)
        .await;
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let report = report.map_err(|e| MigrateError::Migration(e.to_string()))?;
    unlock.map_err(failed)?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| format!("V{}__{}", m.version(), m.name()))
        .collect())
}

/// The newest migration version embedded in this binary.
pub fn latest_version() -> i64 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0)
}

/// The newest migration version applied to the database, if any.
pub async fn applied_version(pool: &PgPool) -> Result<Option<i64>, StoreError> {
    let exists: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('refinery_schema_history')::text")
            .fetch_one(pool)
            .await?;
    if exists.is_none() {
        return Ok(None);
    }
    let version: Option<i64> =
        sqlx::query_scalar("SELECT max(version)::bigint FROM refinery_schema_history")
            .fetch_one(pool)
            .await?;
    Ok(version)
}
