//! Schema migrations: refinery, embedded in the binary, applied under an advisory lock so
//! that two instances starting together do not race. They run over a sqlx connection made
//! from `DATABASE_URL` like the pool's, so that `sslmode` and the rest of the URL mean the
//! same to both.

use refinery::{AsyncMigrate, Migration};
use refinery_core::traits::r#async::{AsyncQuery, AsyncTransaction};
use sqlx::{Connection, PgConnection, PgPool};

use super::StoreError;

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

impl From<super::ConnectError> for MigrateError {
    fn from(error: super::ConnectError) -> Self {
        MigrateError::Connect {
            url: error.url,
            reason: error.reason,
        }
    }
}

/// Applies every pending migration and returns the names of those applied now.
pub async fn run(database_url: &str) -> Result<Vec<String>, MigrateError> {
    let options = super::connect_options(database_url)?;
    let connection = PgConnection::connect_with(&options)
        .await
        .map_err(|e| super::connect_error(database_url, e.to_string()))?;
    let mut session = Session(connection);
    let result = run_locked(&mut session).await;
    let _ = session.0.close().await;
    result
}

async fn run_locked(session: &mut Session) -> Result<Vec<String>, MigrateError> {
    let failed = |e: sqlx::Error| MigrateError::Migration(e.to_string());
    let lock = |sql| sqlx::query(sql).bind(MIGRATION_LOCK);
    // Session-level lock on this connection: a second instance waits here until the first
    // has finished, then finds nothing left to apply.
    lock("SELECT pg_advisory_lock($1)")
        .execute(&mut session.0)
        .await
        .map_err(failed)?;
    let report = embedded::migrations::runner()
        .set_abort_divergent(true)
        .run_async(session)
        .await;
    let unlock = lock("SELECT pg_advisory_unlock($1)")
        .execute(&mut session.0)
        .await;
    let report = report.map_err(|e| MigrateError::Migration(e.to_string()))?;
    unlock.map_err(failed)?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| format!("V{}__{}", m.version(), m.name()))
        .collect())
}

/// refinery's view of one connection (what its `tokio-postgres` driver does, over sqlx).
struct Session(PgConnection);

impl AsyncTransaction for Session {
    type Error = sqlx::Error;

    /// Each migration with its history row, in one transaction; a migration's text may
    /// hold several statements (the simple-query protocol).
    async fn execute<'a, T: Iterator<Item = &'a str> + Send + 'a>(
        &'a mut self,
        queries: T,
    ) -> Result<usize, sqlx::Error> {
        let mut tx = self.0.begin().await?;
        let mut count = 0usize;
        for query in queries {
            sqlx::raw_sql(sqlx::AssertSqlSafe(query))
                .execute(&mut *tx)
                .await?;
            count = count.saturating_add(1);
        }
        tx.commit().await?;
        Ok(count)
    }
}

impl AsyncQuery<Vec<Migration>> for Session {
    async fn query<'a>(&'a mut self, query: &'a str) -> Result<Vec<Migration>, sqlx::Error> {
        type Row = (i32, Option<String>, Option<String>, Option<String>);
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(query))
            .fetch_all(&mut self.0)
            .await?;
        rows.into_iter()
            .map(|(version, name, applied_on, checksum)| {
                let invalid = |what: &str| {
                    sqlx::Error::Decode(
                        format!("refinery_schema_history V{version}: {what}").into(),
                    )
                };
                let applied_on = time::OffsetDateTime::parse(
                    applied_on.as_deref().unwrap_or_default(),
                    &time::format_description::well_known::Rfc3339,
                )
                .map_err(|_| invalid("applied_on is not an RFC 3339 time"))?;
                let checksum = checksum
                    .as_deref()
                    .unwrap_or_default()
                    .parse::<u64>()
                    .map_err(|_| invalid("checksum is not a number"))?;
                Ok(Migration::applied(
                    version,
                    name.unwrap_or_default(),
                    applied_on,
                    checksum,
                ))
            })
            .collect()
    }
}

impl AsyncMigrate for Session {}

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
