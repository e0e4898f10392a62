//! State shared by every replica of a fleet, on Redis (`FREEWAY_REDIS_URL`): the usage
//! windows of quotas and of the pool's limits, session pins, cooldowns and the login
//! throttle. Without a Redis URL none of this exists and every replica keeps its own state
//! in memory, as a single instance does.
//!
//! A request makes one round trip on its way in (a Lua script that checks every scope it
//! touches and counts it in all of them, or in none) and at most one on its way out (settle
//! or give back, in the buckets the reservation went into; the settles of the same scopes
//! made in the same second go out merged, 5 ms later). Each waits at most `redis_timeout_ms`;
//! an error or a timeout marks Redis down, and until a background check reaches it again
//! (every second) requests skip it and hold each replica to its share of every limit: the
//! limit divided by the replicas alive (heartbeats in Postgres, `store::replicas`).
//!
//! Keys are `freeway:{fw}:...` (one hash slot, so a script's keys may live on one Redis
//! Cluster node) and each expires by itself. This module knows nothing of routes or
//! tenants: callers name their scopes and pass their limits.

mod client;
mod keys;

pub use client::{
    Held, Joint, Peek, Refused, Reserved, SETTLE_AFTER, Shared, SharedStats, Spec, Used,
};
pub use keys::SharedCooldown;

/// The prefix of every key Freeway writes.
pub const PREFIX: &str = "freeway:{fw}:";

/// No limit, as the scripts read it.
pub const UNLIMITED: i64 = -1;

/// A limit as the scripts read it.
pub fn limit(value: Option<u64>) -> i64 {
    value.map_or(UNLIMITED, |v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// `limit` divided among `share` replicas (rounded down, so together they never exceed it).
pub fn share_of(limit: Option<u64>, share: u64) -> Option<u64> {
    limit.map(|l| l / share.max(1))
}
