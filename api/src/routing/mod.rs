//! Choosing routes: the live pool state (usage windows, cooldowns, health), the policy that
//! turns failures into cooldowns, conversations' sticky routes and their handoff.

pub mod cooldown;
pub mod handoff;
mod health;
pub mod limits;
pub mod outcome;
pub mod pool;
pub mod session;
pub mod strategy;
pub mod window;

pub use outcome::{Failure, classify_status, parse_retry_after};

/// A map the request path reads: foldhash, seeded per process, instead of SipHash. Its keys
/// are names, ids and digests from the catalog, the database and the session hash, not
/// strings a caller picks freely.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Now, in the pool state's unit.
pub fn now_millis() -> window::Millis {
    chrono::Utc::now().timestamp_millis()
}
