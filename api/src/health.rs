//! `/healthz`: the process is alive. `/readyz`: the database answers and every migration
//! embedded in this binary is applied, and the process is not shutting down.
//!
//! `/readyz` never waits on the database: a background task checks it every second (each
//! check bounded by [`CHECK_TIMEOUT`]) and keeps the result in atomics, which the probe
//! reads. It answers at once in every state, the database's being at most a second or two
//! old; a view older than [`STALE_AFTER`] (the checker stuck) reads as unreachable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::gateway::Gateway;
use crate::store;
use freeway_wire::{Health, VERSION};

/// How often the database is checked.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long one check may take before the database counts as unreachable.
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(800);
/// A view this old no longer counts.
pub const STALE_AFTER: Duration = Duration::from_secs(5);

const DATABASE: u8 = 1;
const MIGRATIONS: u8 = 2;

/// The database's health as last checked; what `/readyz` reads.
pub struct DatabaseHealth {
    since: Instant,
    /// Milliseconds from `since` to the end of the last check.
    checked_at_ms: AtomicU64,
    /// [`DATABASE`] and [`MIGRATIONS`] bits.
    state: AtomicU8,
    latest_migration: i64,
}

impl Default for DatabaseHealth {
    fn default() -> Self {
        DatabaseHealth {
            since: Instant::now(),
            checked_at_ms: AtomicU64::new(0),
            state: AtomicU8::new(0),
            latest_migration: store::migrate::latest_version(),
        }
    }
}

/// What a probe sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseView {
    pub database: bool,
    pub migrations: bool,
    /// Since the last check ended.
    pub age: Duration,
}

impl DatabaseHealth {
    /// Checks the database once, within [`CHECK_TIMEOUT`], and keeps the answer.
    pub async fn check(&self, pool: &PgPool) {
        let applied = tokio::time::timeout(CHECK_TIMEOUT, store::migrate::applied_version(pool));
        let state = match applied.await {
            Ok(Ok(Some(version))) if version >= self.latest_migration => DATABASE | MIGRATIONS,
            Ok(Ok(_)) => DATABASE,
            Ok(Err(_)) | Err(_) => 0,
        };
        self.state.store(state, Ordering::Relaxed);
        let now = u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.checked_at_ms.store(now, Ordering::Relaxed);
    }

    pub fn view(&self) -> DatabaseView {
        let checked_at = Duration::from_millis(self.checked_at_ms.load(Ordering::Relaxed));
        let age = self.since.elapsed().saturating_sub(checked_at);
        let state = self.state.load(Ordering::Relaxed);
        let fresh = age <= STALE_AFTER;
        DatabaseView {
            database: fresh && state & DATABASE != 0,
            migrations: fresh && state & MIGRATIONS != 0,
            age,
        }
    }
}

/// Checks the database every [`CHECK_EVERY`] until `stop`.
pub async fn watch_database(
    health: Arc<DatabaseHealth>,
    pool: PgPool,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(CHECK_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => health.check(&pool).await,
            _ = stop.changed() => return,
        }
    }
}

/// Liveness
///
/// Answers while the process runs, whatever the database does.
#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = "health_live",
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
        version: VERSION.into(),
        database: None,
        migrations: None,
        checked_ms_ago: None,
        redis: None,
    })
}

/// Readiness
///
/// Whether the database answers and every migration is applied, as last checked (every
/// second, in the background: the probe itself never waits on the database). In a fleet,
/// `redis` says whether Redis answered its last check; without it the replica serves on
/// local limits and stays ready.
#[utoipa::path(get, path = "/readyz", tag = "health", operation_id = "health_ready",
    responses(
        (status = 200, description = "Ready to serve", body = Health),
        (status = 503, description = "The database is unreachable, migrations are missing, or the process is shutting down", body = Health),
    ))]
pub async fn readyz(gw: web::Data<Gateway>, health: web::Data<DatabaseHealth>) -> HttpResponse {
    let view = health.view();
    let checked_ms_ago = Some(u64::try_from(view.age.as_millis()).unwrap_or(u64::MAX));
    if gw.lifecycle.draining() {
        return HttpResponse::ServiceUnavailable().json(Health {
            status: "shutting down".into(),
            version: VERSION.into(),
            database: None,
            migrations: None,
            checked_ms_ago,
            redis: None,
        });
    }
    let (database, migrations) = (view.database, view.migrations);
    let body = Health {
        status: match (database, migrations) {
            (true, true) => "ok",
            (false, _) => "database unreachable",
            (true, false) => "migrations pending",
        }
        .into(),
        version: VERSION.into(),
        database: Some(database),
        migrations: Some(migrations),
        checked_ms_ago,
        redis: gw.shared.as_ref().map(|shared| shared.healthy()),
    };
    if database && migrations {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchecked_or_stale_view_is_not_ready() {
        let health = DatabaseHealth::default();
        health.state.store(DATABASE | MIGRATIONS, Ordering::Relaxed);
        assert!(health.view().database, "checked at its creation");
        let stale = DatabaseHealth {
            since: Instant::now()
                .checked_sub(STALE_AFTER + Duration::from_secs(1))
                .unwrap_or_else(Instant::now),
            ..DatabaseHealth::default()
        };
        stale.state.store(DATABASE | MIGRATIONS, Ordering::Relaxed);
        let view = stale.view();
        assert!(!view.database && !view.migrations, "{view:?}");
    }
}
