//! All SQL lives here. Other folders call these functions and never see `sqlx` errors.

pub mod admin;
pub mod admin_pool;
pub mod admin_tenancy;
pub mod analytics;
pub mod audit;
pub mod catalog;
pub mod migrate;
pub mod pool;
pub mod tenancy;
pub mod usage;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::redact_url;

/// The channel on which every change to keys, providers, models or credentials is announced,
/// so that every instance reloads its in-memory view.
pub const CHANGE_CHANNEL: &str = "freeway_changes";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("invalid value: {0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Database(String),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::envelope::EnvelopeError),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error {
            match db.code().as_deref() {
                Some("23505") => {
                    return StoreError::Conflict(db.constraint().unwrap_or("row").to_string());
                }
                Some("23514") | Some("22001") | Some("22P02") => {
                    return StoreError::Invalid(db.message().to_string());
                }
                _ => {}
            }
        }
        if let sqlx::Error::RowNotFound = error {
            return StoreError::NotFound("row".into());
        }
        StoreError::Database(error.to_string())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot reach the database at DATABASE_URL ({url}): {reason}")]
pub struct ConnectError {
    pub url: String,
    pub reason: String,
}

/// Connects a pool. The first connection is made eagerly so that a wrong `DATABASE_URL`
/// is reported at start, not at the first request.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, ConnectError> {
    let fail = |reason: String| ConnectError {
        url: redact_url(url),
        reason,
    };
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e: sqlx::Error| fail(format!("not a valid Postgres URL: {e}")))?;
    let options = options.application_name("freeway");
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|e| fail(e.to_string()))
}

/// Announces a change on [`CHANGE_CHANNEL`]; every instance reloads what `what` names.
pub async fn notify_change<'e, E>(executor: E, what: &str) -> Result<(), StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANGE_CHANNEL)
        .bind(what)
        .execute(executor)
        .await?;
    Ok(())
}

/// Whether the database answers a trivial query.
pub async fn ping(pool: &PgPool) -> bool {
    sqlx::query("SELECT 1").execute(pool).await.is_ok()
}
