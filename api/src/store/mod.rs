//! All SQL lives here, one module per table group. The CLI and the admin API call the same
//! function for each operation, so both doors validate alike (`validate`); every audited
//! write goes through `audit::audited`; database errors become [`StoreError`]s in one place
//! (`error`), constraint names translated with [`ResultExt::on_constraint`].

pub mod admin_users;
pub mod analytics;
pub mod api_keys;
pub mod audit;
pub mod availability;
pub mod builtin;
pub mod catalog;
pub mod cooldowns;
pub mod credentials;
mod edit;
mod error;
pub mod histogram;
pub mod ledger;
pub mod limits;
pub mod mappings;
pub mod members;
pub mod migrate;
pub mod models;
pub mod partitions;
pub mod probes;
pub mod profiles;
pub mod providers;
pub mod quotas;
pub mod replicas;
pub mod responses;
pub mod search;
pub mod settings;
pub mod tenants;
pub mod usage;
pub mod validate;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

use crate::config::redact_url;

/// The channel on which every change to keys, providers, models or credentials is announced,
/// so that every instance reloads its in-memory view.
pub const CHANGE_CHANNEL: &str = "freeway_changes";

pub use edit::Deleted;
pub use error::{Found, Pending, ResultExt, StoreError};
pub use search::Search;

/// One page of rows in id (creation) order: those after `after`, `limit` at most.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub after: Option<Uuid>,
    pub limit: Option<i64>,
}

impl Cursor {
    /// Every row.
    pub const ALL: Cursor = Cursor {
        after: None,
        limit: None,
    };

    pub fn page(after: Option<Uuid>, limit: i64) -> Cursor {
        Cursor {
            after,
            limit: Some(limit),
        }
    }
}

/// `select` (a `SELECT ... WHERE <filter on $3, $4 ...>`) narrowed to one page: rows after
/// the cursor (`$1`) in id order, at most its limit (`$2`). Bind the filter's values next.
pub(crate) fn paged<'q, O>(
    select: &str,
    cursor: Cursor,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>
where
    O: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{select} AND ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2"
    )))
    .bind(cursor.after)
    .bind(cursor.limit)
}

#[derive(Debug, thiserror::Error)]
#[error("cannot reach the database at DATABASE_URL ({url}): {reason}")]
pub struct ConnectError {
    pub url: String,
    pub reason: String,
}

/// The connection options of a Postgres URL (`sslmode`, `sslrootcert` and the rest of
/// libpq's parameters included), for the pool and the migrations alike.
///
/// Without an `sslmode` (in the URL or `PGSSLMODE`), a server on this machine (a loopback
/// address or a Unix socket) is reached without TLS: it would protect nothing there, and
/// costs the usage writer CPU and each connection its own copy of the system's roots.
/// Any other host gets libpq's default, `prefer`.
pub(crate) fn connect_options(url: &str) -> Result<PgConnectOptions, ConnectError> {
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e: sqlx::Error| connect_error(url, format!("not a valid Postgres URL: {e}")))?;
    let options = options.application_name("freeway");
    let named = url_names_sslmode(url) || std::env::var_os("PGSSLMODE").is_some();
    if !named && is_local(&options) {
        return Ok(options.ssl_mode(sqlx::postgres::PgSslMode::Disable));
    }
    Ok(options)
}

/// Whether the URL's query sets `sslmode`.
fn url_names_sslmode(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some("sslmode"))
    })
}

/// A server on this machine: a Unix socket, `localhost` or a loopback address.
fn is_local(options: &PgConnectOptions) -> bool {
    if options.get_socket().is_some() {
        return true;
    }
    let host = options.get_host();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host.starts_with('/')
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub(crate) fn connect_error(url: &str, reason: String) -> ConnectError {
    ConnectError {
        url: redact_url(url),
        reason,
    }
}

/// Connects a pool. The first connection is made eagerly so that a wrong `DATABASE_URL`
/// is reported at start, not at the first request.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, ConnectError> {
    let options = connect_options(url)?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|e| connect_error(url, e.to_string()))
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sqlx::postgres::PgSslMode;

    use super::*;

    fn mode(url: &str) -> PgSslMode {
        connect_options(url).unwrap().get_ssl_mode()
    }

    #[test]
    fn a_local_server_is_reached_without_tls_unless_the_url_asks_for_it() {
        // `PGSSLMODE` in the environment would count as asking.
        if std::env::var_os("PGSSLMODE").is_some() {
            return;
        }
        for url in [
            "postgres://postgres@127.0.0.1:5432/freeway",
            "postgres://postgres@localhost/freeway",
            "postgres://postgres@[::1]:5432/freeway",
            "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/freeway",
        ] {
            assert!(matches!(mode(url), PgSslMode::Disable), "{url}");
        }
        assert!(matches!(
            mode("postgres://postgres@127.0.0.1/freeway?sslmode=require"),
            PgSslMode::Require
        ));
        assert!(matches!(
            mode("postgres://postgres@localhost/freeway?application_name=x&sslmode=prefer"),
            PgSslMode::Prefer
        ));
        assert!(matches!(
            mode("postgres://postgres@db.example/freeway"),
            PgSslMode::Prefer
        ));
        assert!(matches!(
            mode("postgres://postgres@10.0.0.5/freeway"),
            PgSslMode::Prefer
        ));
    }
}
