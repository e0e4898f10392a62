//! `GET /metrics` in Prometheus' text format, on a listener of its own (`metrics_listen`,
//! off by default). Requests are counted where their usage event is finished, one place for
//! every surface (`requests`); the pool, the quotas and the usage writer are read when
//! scraped (`state`). The registry is the application's own, not a process-wide one.

mod requests;
mod serve;
mod state;
mod table;

use std::sync::Arc;

use prometheus::{Encoder, IntGaugeVec, Opts, Registry, TextEncoder};

pub use requests::{NO_PROVIDER, OTHER_PROVIDER, RequestMetrics, SURFACES};
pub use serve::{MetricsServer, serve};
pub use state::Sources;

/// The path the metrics are served on, and kept from the main listener's UI.
pub const PATH: &str = "/metrics";

pub struct Metrics {
    registry: Registry,
    requests: Arc<RequestMetrics>,
}

impl Metrics {
    pub fn new(sources: Sources) -> prometheus::Result<Self> {
        let registry = Registry::new();
        let requests = Arc::new(RequestMetrics::new()?);
        for collector in requests.collectors() {
            registry.register(collector)?;
        }
        registry.register(Box::new(state::StateCollector::new(sources)?))?;
        let build = IntGaugeVec::new(
            Opts::new("freeway_build_info", "The running Freeway's version"),
            &["version"],
        )?;
        build
            .get_metric_with_label_values(&[env!("CARGO_PKG_VERSION")])?
            .set(1);
        registry.register(Box::new(build))?;
        Ok(Metrics { registry, requests })
    }

    /// What each finished request is told to (see [`crate::usage::Observer`]).
    pub fn requests(&self) -> Arc<RequestMetrics> {
        self.requests.clone()
    }

    /// Every metric, in Prometheus' text exposition format.
    pub fn render(&self) -> prometheus::Result<Vec<u8>> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(out)
    }
}
