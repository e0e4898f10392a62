//! Model discovery and health probes: what a provider lists for each credential, a cheap
//! periodic check of every enabled credential, and early re-probes of routes cooling down
//! for a transient cause. Probes spend no member's quota; each is one usage event of kind
//! (`endpoint`) `probe`, with no tenant or member and the credential and route set.

pub mod check;
pub mod discovery;
pub mod listing;
mod schedule;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use crate::crypto::{self, Keyring};
use crate::providers::{CatalogHandle, CredentialInfo, ModelInfo, ProviderInfo, Route};
use crate::routing::pool::{PoolState, RouteSlots};
use crate::store::StoreError;
use crate::store::credentials::{self, CredentialRow};
use crate::store::providers::{self, ProviderRow};
use crate::usage::UsageSink;

pub use schedule::keep_probing;

/// A probe waits at most this long for the provider.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often, and what, the background task probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Each enabled credential is checked this often; zero turns every probe off.
    pub interval: Duration,
    /// Keyless providers' routes are re-probed early too.
    pub keyless: bool,
}

/// What probes share: the gateway's pool state and catalog, the store, the master keys.
#[derive(Clone)]
pub struct Prober {
    pub db: PgPool,
    pub pool: Arc<PoolState>,
    pub catalog: Arc<CatalogHandle>,
    pub keyring: Arc<RwLock<Keyring>>,
    pub http: reqwest::Client,
    pub usage: UsageSink,
    /// Redis, in a fleet: a cooldown a probe ends, ends for every replica.
    pub shared: Option<Arc<crate::shared::Shared>>,
    pub settings: Settings,
}

/// A credential and its provider, as stored.
pub struct Target {
    pub provider: ProviderRow,
    pub credential: CredentialRow,
}

impl Target {
    pub async fn load(db: &PgPool, credential: Uuid) -> Result<Target, StoreError> {
        let credential = credentials::find_by_id(db, credential)
            .await?
            .ok_or_else(|| StoreError::NotFound("credential".into()))?;
        let provider = providers::find(db, &credential.provider_id.to_string())
            .await?
            .ok_or_else(|| StoreError::NotFound("provider".into()))?;
        Ok(Target {
            provider,
            credential,
        })
    }

    /// The provider's timeout, at most [`PROBE_TIMEOUT`].
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.provider.timeout_ms).unwrap_or(10_000))
            .min(PROBE_TIMEOUT)
    }
}

/// A route to `target`'s provider with its credential opened by the master key.
pub fn opened(target: &Target, keyring: &Keyring) -> Result<Route, StoreError> {
    let secret = crypto::open(keyring, target.credential.id, &target.credential.sealed)?;
    let credential = CredentialInfo::new(target.credential.id, secret);
    Ok(route(
        &target.provider,
        None,
        Some(credential),
        target.timeout(),
    ))
}

/// A route to `provider` (for `model`, when the call names one) with `credential`, or
/// without one for a keyless provider, outside the router's pool state: it counts against
/// no limit.
pub fn route(
    provider: &ProviderRow,
    model: Option<(Uuid, &str)>,
    credential: Option<CredentialInfo>,
    timeout: Duration,
) -> Route {
    let slots = RouteSlots {
        route: 0,
        credential: None,
        provider: 0,
        model: 0,
    };
    let (model_row, model_id) = model.unwrap_or((Uuid::nil(), ""));
    let mut route = Route::detached(&provider.name, model_id, ModelInfo::chat(model_row), slots);
    route.provider = Arc::new(ProviderInfo::new(
        provider.id,
        provider.name.clone(),
        provider.base_url.clone(),
        timeout,
    ));
    route.credential = credential.map(Arc::new);
    route
}

/// Providers whose `GET /models` answers without checking the key: a 1-token completion
/// proves more of a credential there.
const MODELS_PROVE_NOTHING: &[&str] = &["openrouter"];

/// Whether `provider`'s credentials are probed with a 1-token completion rather than their
/// `GET /models`.
pub fn probes_by_completion(provider: &ProviderRow) -> bool {
    MODELS_PROVE_NOTHING.contains(&provider.name.as_str())
}
