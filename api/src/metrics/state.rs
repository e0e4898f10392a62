//! What is read when `/metrics` is scraped, never counted per request: cooldowns running
//! and each route's headroom from the pool's in-memory state, quota refusals, and the usage
//! writer's queue and counters.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};

use crate::providers::CatalogHandle;
use crate::routing::limits::Limits;
use crate::routing::now_millis;
use crate::routing::pool::PoolState;
use crate::tenancy::QuotaLedger;
use crate::usage::{QueueDepth, UsageStats};

/// The in-memory state the scrape reads.
pub struct Sources {
    pub pool: Arc<PoolState>,
    pub catalog: Arc<CatalogHandle>,
    pub quotas: Arc<QuotaLedger>,
    pub usage: Arc<UsageStats>,
    pub queue: QueueDepth,
    /// Redis, in a fleet.
    pub shared: Option<Arc<crate::shared::Shared>>,
}

struct Families {
    cooldowns: IntGaugeVec,
    headroom: IntGaugeVec,
    refusals: IntCounterVec,
    queue_depth: IntGauge,
    held: IntGauge,
    written: IntCounter,
    dropped: IntCounter,
    write_errors: IntCounter,
    shared_mode: IntGaugeVec,
    redis_errors: IntCounter,
    redis_local: IntCounter,
    replicas: IntGauge,
}

/// Where limits are kept: in this process (no Redis), on Redis, or locally because Redis is
/// down (each replica its share).
const MODES: [&str; 3] = ["embedded", "redis", "local"];

pub struct StateCollector {
    sources: Sources,
    descs: Vec<Desc>,
    /// Filled anew by each scrape; the lock keeps two scrapes from mixing their values.
    families: Mutex<Families>,
}

fn gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl StateCollector {
    pub fn new(sources: Sources) -> prometheus::Result<Self> {
        let families = Families {
            cooldowns: IntGaugeVec::new(
                Opts::new(
                    "freeway_cooldowns_active",
                    "Cooldowns running now, by kind of scope (route, credential, provider, model)",
                ),
                &["scope"],
            )?,
            headroom: IntGaugeVec::new(
                Opts::new(
                    "freeway_route_headroom",
                    "What a route can still take before a limit stops it: the least left on its own, its credential's and its provider account's window, per limit (rpm, rph, rpd in requests; tpm, tpd in tokens); only limits that are set",
                ),
                &["provider", "model", "credential", "limit"],
            )?,
            refusals: IntCounterVec::new(
                Opts::new(
                    "freeway_quota_refusals_total",
                    "Requests refused by a tenant, member or api key quota, by scope and reason",
                ),
                &["scope", "reason"],
            )?,
            queue_depth: IntGauge::new(
                "freeway_usage_queue_depth",
                "Usage events queued for the writer and not yet taken",
            )?,
            held: IntGauge::new(
                "freeway_usage_events_held",
                "Usage events taken by the writer and not yet written (held while Postgres is down)",
            )?,
            written: IntCounter::new(
                "freeway_usage_events_written_total",
                "Usage events written to Postgres",
            )?,
            dropped: IntCounter::new(
                "freeway_usage_events_dropped_total",
                "Usage events dropped: the queue was full or the held events reached max_pending",
            )?,
            write_errors: IntCounter::new(
                "freeway_usage_write_errors_total",
                "Failed writes of a batch of usage events (retried)",
            )?,
            shared_mode: IntGaugeVec::new(
                Opts::new(
                    "freeway_shared_state_mode",
                    "1 for where limits, quotas, sessions and cooldowns are kept now: embedded (no Redis configured), redis (shared by the fleet), local (Redis configured but down: each replica its share)",
                ),
                &["mode"],
            )?,
            redis_errors: IntCounter::new(
                "freeway_redis_errors_total",
                "Calls to Redis that failed or timed out, and failed health checks",
            )?,
            redis_local: IntCounter::new(
                "freeway_redis_local_decisions_total",
                "Quota and route reservations decided on local limits because Redis was down",
            )?,
            replicas: IntGauge::new(
                "freeway_fleet_replicas",
                "Replicas alive in the fleet, this one included (heartbeats in Postgres); 1 without Redis",
            )?,
        };
        let descs = families
            .collectors()
            .iter()
            .flat_map(|c| c.desc().into_iter().cloned())
            .collect();
        Ok(StateCollector {
            sources,
            descs,
            families: Mutex::new(families),
        })
    }
}

impl Families {
    fn collectors(&self) -> [&dyn Collector; 12] {
        [
            &self.shared_mode,
            &self.redis_errors,
            &self.redis_local,
            &self.replicas,
            &self.cooldowns,
            &self.headroom,
            &self.refusals,
            &self.queue_depth,
            &self.held,
            &self.written,
            &self.dropped,
            &self.write_errors,
        ]
    }

    fn read(&self, sources: &Sources) {
        let now = now_millis();
        for (kind, n) in sources.pool.cooldowns_active(now) {
            if let Ok(g) = self
                .cooldowns
                .get_metric_with_label_values(&[kind.as_str()])
            {
                g.set(gauge(n as u64));
            }
        }
        self.headroom.reset();
        let catalog = sources.catalog.get();
        let routes: Vec<_> = catalog.routes_by_name().collect();
        let left = sources
            .pool
            .headroom(routes.iter().map(|(_, _, _, slots)| *slots), now);
        for ((provider, model, credential, _), left) in routes.iter().zip(left) {
            let credential = credential.map_or_else(|| "keyless".to_string(), |c| c.to_string());
            for (limit, value) in by_limit(left) {
                let labels = [*provider, *model, credential.as_str(), limit];
                if let Ok(g) = self.headroom.get_metric_with_label_values(&labels) {
                    g.set(gauge(value));
                }
            }
        }
        self.refusals.reset();
        for (scope, reason, n) in sources.quotas.refusals().counts() {
            if let Ok(c) = self
                .refusals
                .get_metric_with_label_values(&[scope.as_str(), reason])
            {
                c.inc_by(n);
            }
        }
        let usage = &sources.usage;
        self.queue_depth.set(gauge(sources.queue.get() as u64));
        self.held.set(gauge(usage.pending.load(Ordering::Relaxed)));
        for (counter, value) in [
            (&self.written, &usage.written),
            (&self.dropped, &usage.dropped),
            (&self.write_errors, &usage.failed_writes),
        ] {
            counter.reset();
            counter.inc_by(value.load(Ordering::Relaxed));
        }
        let mode = match &sources.shared {
            None => "embedded",
            Some(shared) if shared.healthy() => "redis",
            Some(_) => "local",
        };
        for name in MODES {
            if let Ok(g) = self.shared_mode.get_metric_with_label_values(&[name]) {
                g.set(i64::from(name == mode));
            }
        }
        let (errors, local, replicas) = sources.shared.as_ref().map_or((0, 0, 1), |shared| {
            (
                shared.stats.errors.load(Ordering::Relaxed),
                shared.stats.local.load(Ordering::Relaxed),
                shared.replicas(),
            )
        });
        for (counter, value) in [(&self.redis_errors, errors), (&self.redis_local, local)] {
            counter.reset();
            counter.inc_by(value);
        }
        self.replicas.set(gauge(replicas));
    }
}

/// The limits that are set, by name.
fn by_limit(left: Limits) -> impl Iterator<Item = (&'static str, u64)> {
    [
        ("rpm", left.rpm),
        ("rph", left.rph),
        ("rpd", left.rpd),
        ("tpm", left.tpm),
        ("tpd", left.tpd),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name, value?)))
}

impl Collector for StateCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let families = self
            .families
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        families.read(&self.sources);
        families
            .collectors()
            .iter()
            .flat_map(|c| c.collect())
            .collect()
    }
}
