//! What the admin API shares: its own state, and read access to the gateway's pool,
//! quotas and catalog for the routing inspector and simulator.

use std::sync::{Arc, RwLock};

use sqlx::PgPool;

use crate::config::Config;
use crate::crypto::Keyring;
use crate::providers::CatalogHandle;
use crate::routing::pool::PoolState;
use crate::tenancy::QuotaLedger;

pub struct AdminState {
    pub config: Arc<Config>,
    pub db: PgPool,
    /// The gateway's pool state, read by the routing inspector and simulator.
    pub pool: Arc<PoolState>,
    pub login_throttle: super::auth::LoginThrottle,
    /// The gateway's quota ledger, read by the simulator.
    pub quotas: Arc<QuotaLedger>,
    pub catalog: Arc<CatalogHandle>,
    pub keyring: Arc<RwLock<Keyring>>,
    /// For credential tests and model discovery.
    pub http: reqwest::Client,
    /// Redis, in a fleet: the login throttle is shared by every replica.
    pub shared: Option<Arc<crate::shared::Shared>>,
    /// Model discovery and health probes.
    pub probes: Arc<crate::probes::Prober>,
}
