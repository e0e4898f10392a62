//! What the admin API shares, and the task that keeps the in-memory state of the pool, the
//! keys and the quotas current. The gateway's own share is [`crate::gateway::Gateway`].

use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::crypto::{Keyring, KeyringError};
use crate::providers::{self, CatalogHandle, PoolRows};
use crate::routing::now_millis;
use crate::routing::pool::{Cooldown, PoolState};
use crate::routing::window::WindowState;
use crate::store::{self, StoreError};
use crate::tenancy::{KeyCache, QuotaLedger, QuotaRule, ScopeUsage};

/// A full reload even without notifications, in case one was missed while disconnected.
const SAFETY_RELOAD: Duration = Duration::from_secs(30);
/// How often the pool's windows that changed are persisted. A crash loses nothing of what
/// the usage writer recorded: a restart adds what was served after the last snapshot.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keyring(#[from] KeyringError),
}

/// The parts of the state that reloads touch.
#[derive(Clone)]
pub struct Live {
    pub db: PgPool,
    pub pool: Arc<PoolState>,
    pub keys: Arc<KeyCache>,
    pub quotas: Arc<QuotaLedger>,
    pub catalog: Arc<CatalogHandle>,
    pub keyring: Arc<RwLock<Keyring>>,
}

impl Live {
    pub async fn reload(&self) -> Result<(), ReloadError> {
        let rows = store::api_keys::load_for_auth(&self.db).await?;
        self.keys.replace(rows);
        let quotas = store::quotas::list(&self.db, None).await?;
        self.quotas
            .replace(quotas.iter().filter_map(QuotaRule::from_row).collect());
        // The usage of deleted or revoked keys, and of members and tenants with neither a key
        // nor a quota, is freed.
        self.quotas.retain(&self.keys.scopes());
        self.reload_catalog().await
    }

    async fn reload_catalog(&self) -> Result<(), ReloadError> {
        let rows = PoolRows::fetch(&self.db).await?;
        // A rotation may have added a master-key version to the key file since start.
        let reloaded = {
            let keyring = self.keyring.read().unwrap_or_else(|p| p.into_inner());
            if rows.needs_key_versions_beyond(&keyring) {
                keyring.reload()?
            } else {
                None
            }
        };
        if let Some(keyring) = reloaded {
            tracing::info!(versions = ?keyring.versions(), "master keys reloaded");
            *self.keyring.write().unwrap_or_else(|p| p.into_inner()) = keyring;
        }
        let read = self.pool.begin_availability_read();
        let unavailable = store::availability::list(&self.db).await?;
        let catalog = {
            let keyring = self.keyring.read().unwrap_or_else(|p| p.into_inner());
            providers::build_catalog(rows, &keyring, &self.pool, now_millis())
        };
        let unavailable = unavailable
            .into_iter()
            .map(|row| {
                let scope = crate::routing::pool::Scope::Route {
                    model: row.model_id,
                    credential: Some(row.credential_id),
                };
                (scope.to_string(), row.reason.into())
            })
            .collect();
        self.pool.replace_unavailable(&unavailable, read);
        self.catalog.set(catalog);
        Ok(())
    }
}

impl Live {
    /// Brings the cooldowns held in memory up to date with the store after a clear: every
    /// clear on record ends the cooldowns set before it, and those persisted and still
    /// running are taken (the longer kept). A cooldown set here after the clear, written or
    /// not yet, stays. Returns how many persisted ones were taken.
    pub async fn resync_cooldowns(&self) -> Result<usize, ReloadError> {
        let clears: Vec<(String, i64)> = store::cooldowns::clears(&self.db)
            .await?
            .into_iter()
            .map(|(key, at)| (key, at.timestamp_millis()))
            .collect();
        let active = store::cooldowns::active(&self.db).await?;
        self.pool.apply_clears(&clears);
        let mut taken = 0;
        for row in active {
            let cooldown = Cooldown {
                until: row.until.timestamp_millis(),
                reason: row.reason.into(),
                since: row.set_at.timestamp_millis(),
            };
            taken += usize::from(self.pool.cool_by_key(&row.scope_key, cooldown));
        }
        Ok(taken)
    }

    /// After a restart: cooldowns still running, learned limits, the pool's windows from
    /// their snapshots plus what was served after them (grouped by route and second), and
    /// the quotas' day and month from the daily rollups. None of it grows with the day's
    /// traffic: a restart never replays requests one by one.
    pub async fn restore(&self) -> Result<(), ReloadError> {
        let now = now_millis();
        let restored = self.resync_cooldowns().await?;
        for row in store::limits::list_learned(&self.db).await? {
            let learned = crate::routing::limits::Limits::from_columns(row.limits);
            self.pool.learn_by_key(&row.scope_key, learned);
        }
        let snapshots = store::ledger::load(&self.db).await?;
        let since = snapshots.iter().map(|s| s.taken_at).max();
        let states: Vec<(String, WindowState)> = snapshots
            .into_iter()
            .filter_map(|row| Some((row.scope_key, serde_json::from_value(row.state).ok()?)))
            .collect();
        let windows = self.pool.restore_windows(&states, now);
        let catalog = self.catalog.get();
        let count = |v: i64| u64::try_from(v).unwrap_or(0);
        let mut served_after = 0;
        for used in store::usage::served_since(&self.db, since).await? {
            if let Some(slots) = catalog.slots_of(&used.provider, &used.model, used.credential_id) {
                let requests = count(used.requests);
                self.pool
                    .replay(&slots, requests, count(used.tokens), used.at_ms, now);
                served_after += requests;
            }
        }
        let usage: Vec<ScopeUsage> = store::usage::quota_usage(&self.db)
            .await?
            .iter()
            .filter_map(ScopeUsage::from_row)
            .collect();
        self.quotas.restore(&usage, now);
        tracing::info!(
            quota_scopes = usage.len(),
            cooldowns = restored,
            windows,
            served_after_snapshot = served_after,
            "pool state restored"
        );
        Ok(())
    }

    /// Persists the windows that changed since the last call (all of them with `all`) and
    /// forgets those of freed scopes.
    pub async fn snapshot_windows(&self, all: bool) -> Result<(), ReloadError> {
        let (states, freed) = self.pool.snapshot(all, now_millis());
        let states: Vec<(String, serde_json::Value)> = states
            .into_iter()
            .filter_map(|(key, state)| Some((key, serde_json::to_value(state).ok()?)))
            .collect();
        store::ledger::save(&self.db, &states, &freed).await?;
        Ok(())
    }
}

/// Persists the pool's windows every few seconds; when `stop` flips, once more in full (the
/// server has stopped by then, so nothing is left out) and returns.
pub async fn keep_snapshots(live: Live, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(SNAPSHOT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // After a failed write, the next one writes every window: what changed is not tracked twice.
    let mut all = false;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => match live.snapshot_windows(all).await {
                Ok(()) => all = false,
                Err(error) => {
                    if !all {
                        tracing::warn!(%error, "usage windows not persisted; retrying");
                    }
                    all = true;
                }
            },
        }
    }
    if let Err(error) = live.snapshot_windows(true).await {
        tracing::warn!(%error, "usage windows not persisted at shutdown");
    }
}

/// Listens for change notifications and reloads; stops when `stop` flips to true.
pub async fn keep_current(live: Live, mut stop: watch::Receiver<bool>) {
    loop {
        let mut listener = match PgListener::connect_with(&live.db).await {
            Ok(mut listener) => match listener.listen(store::CHANGE_CHANNEL).await {
                Ok(()) => Some(listener),
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for changes; polling instead");
                    None
                }
            },
            Err(error) => {
                tracing::warn!(%error, "cannot listen for changes; polling instead");
                None
            }
        };
        // Whatever happened while we were not listening.
        if let Err(error) = live.reload().await {
            tracing::warn!(%error, "reload failed; keeping the previous state");
        }
        loop {
            let wait = async {
                match listener.as_mut() {
                    Some(l) => tokio::time::timeout(SAFETY_RELOAD, l.recv()).await.ok(),
                    None => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Some(Err(sqlx::Error::PoolClosed))
                    }
                }
            };
            tokio::select! {
                _ = stop.changed() => return,
                received = wait => match received {
                    // Timed out: the periodic safety reload.
                    None => {}
                    // An admin cleared cooldowns (all, or one scope's) on another
                    // instance: what is still in the table is what still runs.
                    Some(Ok(notification)) if notification.payload() == "cooldowns" => {
                        if let Err(error) = live.resync_cooldowns().await {
                            tracing::warn!(%error, "cooldown resync failed");
                        }
                    }
                    Some(Ok(_)) => {}
                    // The listener connection broke: reconnect, then reload.
                    Some(Err(_)) => break,
                },
            }
            if let Err(error) = live.reload().await {
                tracing::warn!(%error, "reload failed; keeping the previous state");
            }
        }
    }
}

/// In a fleet, every second until `stop`: takes the cooldowns other replicas set from Redis
/// (a longer one already running is kept).
pub async fn keep_shared(
    pool: Arc<PoolState>,
    shared: Arc<crate::shared::Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                let now = now_millis();
                for (scope, c) in shared.cooldowns(now).await.unwrap_or_default() {
                    let cooldown = Cooldown { until: c.until, reason: c.reason.into(), since: c.since };
                    pool.cool_by_key(&scope, cooldown);
                }
            }
            _ = stop.changed() => return,
        }
    }
}
