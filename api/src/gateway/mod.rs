//! The one attempt pipeline every `/v1` surface uses: admit the caller, plan the chain, and
//! for each candidate reserve, call, classify, cool down, commit and settle, then explain.
//!
//! Surfaces (`openai/`, later `anthropic/`) only translate requests and answers to the
//! pipeline's and back; none has an attempt loop of its own.

pub mod admit;
pub mod attempt;
pub mod body;
pub mod chain;
pub mod client;
pub mod error;
pub mod relay;
pub mod steps;
#[cfg(test)]
mod strategy_tests;
pub mod trail;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::PgPool;

use crate::config::Config;
use crate::providers::CatalogHandle;
use crate::providers::upstream;
use crate::routing::pool::PoolState;
use crate::routing::session::Sessions;
use crate::tenancy::{KeyCache, QuotaLedger};
use crate::usage::UsageSink;

pub use attempt::{Answer, Call, Outcome, Verdict, Whole, drive};
pub use error::ApiError;
pub use trail::{AttemptLog, Exhausted};

/// What the gateway's requests share. Cheap to clone: every worker holds its own copy with
/// its own HTTP client, so an upstream connection is driven by the runtime of the worker
/// that uses it and a worker shutting down never breaks another's requests.
#[derive(Clone)]
pub struct Gateway {
    pub config: Arc<Config>,
    /// Only for persisting cooldowns and learned limits, off the request path.
    pub db: PgPool,
    /// Usage windows, cooldowns and health of every route, credential and provider.
    pub pool: Arc<PoolState>,
    pub sessions: Arc<Sessions>,
    pub keys: Arc<KeyCache>,
    /// Tenant, member and api key quotas and their usage.
    pub quotas: Arc<QuotaLedger>,
    pub catalog: Arc<CatalogHandle>,
    pub http: upstream::Upstream,
    pub usage: UsageSink,
    pub lifecycle: Arc<Lifecycle>,
    /// Redis, in a fleet (`redis_url`): quotas and windows checked for every replica.
    pub shared: Option<Arc<crate::shared::Shared>>,
}

impl Gateway {
    /// This worker's copy, with an HTTP client of its own.
    pub fn for_worker(&self) -> Gateway {
        let mut copy = self.clone();
        if let Ok(http) = upstream::Upstream::new() {
            copy.http = http;
        }
        copy
    }
}

/// Whether the process is shutting down: `/readyz` answers 503 from the moment it is.
#[derive(Debug, Default)]
pub struct Lifecycle {
    draining: AtomicBool,
}

impl Lifecycle {
    pub fn begin_shutdown(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}
