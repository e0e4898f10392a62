//! What every finished request adds, from its usage event: one counter by surface, status
//! class and provider, the latency, time to first token and attempts histograms by surface,
//! and each provider call by provider and outcome. Every handle is made on first use and
//! cached (per surface in a static table, per provider in a lock-free [`Table`]), so a
//! request costs a few atomic additions and no allocation or lock (`benches/metrics.rs`).

use std::sync::OnceLock;
use std::time::Duration;

use freeway_wire::usage::AttemptOutcome;
use prometheus::core::Collector;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts};

use super::table::{Named, Table};
use crate::usage::{Observer, UsageEvent};

/// The usage events' `endpoint`s. Any other still counts, through an uncached lookup.
pub const SURFACES: [&str; 11] = [
    "chat.completions",
    "completions",
    "embeddings",
    "responses",
    "messages",
    "messages.count_tokens",
    "images.generations",
    "audio.speech",
    "audio.transcriptions",
    "models",
    "unknown",
];

const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];
const OUTCOMES: usize = AttemptOutcome::ALL.len();

/// The provider label of a request no provider answered (refused before routing).
pub const NO_PROVIDER: &str = "none";
/// The provider label shared by the providers beyond [`PROVIDER_CAPACITY`].
pub const OTHER_PROVIDER: &str = "other";
const PROVIDER_CAPACITY: usize = 256;

const LATENCY_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0,
];
const TTFT_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0,
];
const ATTEMPT_BUCKETS: [f64; 9] = [1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 15.0, 20.0];

/// A handle made on first use; `None` only if the label values were refused, which the
/// fixed label names rule out.
type Lazy<T> = OnceLock<Option<T>>;

struct Surface {
    latency: Lazy<Histogram>,
    ttft: Lazy<Histogram>,
    attempts: Lazy<Histogram>,
}

struct Provider {
    name: Box<str>,
    requests: [[Lazy<IntCounter>; CLASSES.len()]; SURFACES.len()],
    calls: [Lazy<IntCounter>; OUTCOMES],
}

impl Named for Provider {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Provider {
    fn new(name: &str) -> Self {
        Provider {
            name: name.into(),
            requests: std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new())),
            calls: std::array::from_fn(|_| OnceLock::new()),
        }
    }
}

pub struct RequestMetrics {
    requests: IntCounterVec,
    latency: HistogramVec,
    ttft: HistogramVec,
    attempts: HistogramVec,
    calls: IntCounterVec,
    surfaces: [Surface; SURFACES.len()],
    providers: Table<Provider>,
    no_provider: Provider,
}

fn histogram(name: &str, help: &str, buckets: &[f64]) -> prometheus::Result<HistogramVec> {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        &["surface"],
    )
}

impl RequestMetrics {
    pub fn new() -> prometheus::Result<Self> {
        Ok(RequestMetrics {
            requests: IntCounterVec::new(
                Opts::new(
                    "freeway_requests_total",
                    "Requests on /v1, by surface, status class and the provider that answered",
                ),
                &["surface", "status", "provider"],
            )?,
            latency: histogram(
                "freeway_request_duration_seconds",
                "Time from a request's arrival to its last byte (streams: the end of the stream)",
                &LATENCY_BUCKETS,
            )?,
            ttft: histogram(
                "freeway_time_to_first_token_seconds",
                "Time from a streamed request's arrival to its first content chunk (the commit point); streams that reached one",
                &TTFT_BUCKETS,
            )?,
            attempts: histogram(
                "freeway_request_attempts",
                "Provider calls made for one request, the answering one included (requests that reached a provider)",
                &ATTEMPT_BUCKETS,
            )?,
            calls: IntCounterVec::new(
                Opts::new(
                    "freeway_provider_calls_total",
                    "Calls to providers (every attempt of every request), by provider and outcome",
                ),
                &["provider", "outcome"],
            )?,
            surfaces: std::array::from_fn(|_| Surface {
                latency: OnceLock::new(),
                ttft: OnceLock::new(),
                attempts: OnceLock::new(),
            }),
            providers: Table::new(PROVIDER_CAPACITY, Provider::new(OTHER_PROVIDER)),
            no_provider: Provider::new(NO_PROVIDER),
        })
    }

    /// What the registry collects.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.requests.clone()),
            Box::new(self.latency.clone()),
            Box::new(self.ttft.clone()),
            Box::new(self.attempts.clone()),
            Box::new(self.calls.clone()),
        ]
    }

    fn provider(&self, name: Option<&str>) -> &Provider {
        match name {
            Some(name) => self.providers.get(name, Provider::new),
            None => &self.no_provider,
        }
    }

    /// The same counts for a surface missing from [`SURFACES`]: correct, but it looks its
    /// handles up by label on every request.
    fn uncached(&self, event: &UsageEvent, class: usize, latency: Duration, calls: usize) {
        let surface = event.endpoint;
        let status = CLASSES.get(class).copied().unwrap_or("other");
        let provider = self.provider(event.provider.as_deref()).name();
        if let Ok(counter) = self
            .requests
            .get_metric_with_label_values(&[surface, status, provider])
        {
            counter.inc();
        }
        let observe = |vec: &HistogramVec, value: f64| {
            if let Ok(histogram) = vec.get_metric_with_label_values(&[surface]) {
                histogram.observe(value);
            }
        };
        observe(&self.latency, latency.as_secs_f64());
        if let Some(ttft) = event.ttft_ms.filter(|_| event.stream) {
            observe(&self.ttft, ttft as f64 / 1000.0);
        }
        if calls > 0 {
            observe(&self.attempts, calls as f64);
        }
    }
}

/// The handle in `cell`, made by `make` on first use.
fn cached<T>(cell: &Lazy<T>, make: impl FnOnce() -> prometheus::Result<T>) -> Option<&T> {
    cell.get_or_init(|| make().ok()).as_ref()
}

fn class_of(status: u16) -> usize {
    match status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        500..=599 => 4,
        _ => 5,
    }
}

impl RequestMetrics {
    /// Counts the provider calls of an attempt trail; returns how many there were (skips
    /// are not calls).
    fn count_calls(&self, event: &UsageEvent) -> usize {
        let mut calls = 0;
        for attempt in &event.attempts {
            if attempt.outcome == AttemptOutcome::Skipped {
                continue;
            }
            calls += 1;
            let provider = self.providers.get(&attempt.provider, Provider::new);
            let outcome = AttemptOutcome::ALL
                .iter()
                .position(|o| *o == attempt.outcome)
                .and_then(|i| provider.calls.get(i));
            let counter = outcome.and_then(|cell| {
                cached(cell, || {
                    self.calls
                        .get_metric_with_label_values(&[provider.name(), attempt.outcome.as_str()])
                })
            });
            if let Some(counter) = counter {
                counter.inc();
            }
        }
        calls
    }
}

impl Observer for RequestMetrics {
    fn finished(&self, event: &UsageEvent, latency: Duration) {
        let class = class_of(event.status);
        let calls = self.count_calls(event);
        let found = SURFACES
            .iter()
            .zip(&self.surfaces)
            .enumerate()
            .find(|(_, (name, _))| **name == event.endpoint);
        let Some((s, (&name, surface))) = found else {
            return self.uncached(event, class, latency, calls);
        };
        let provider = self.provider(event.provider.as_deref());
        let status = CLASSES.get(class).copied().unwrap_or("other");
        let counter = provider
            .requests
            .get(s)
            .and_then(|row| row.get(class))
            .and_then(|cell| {
                cached(cell, || {
                    self.requests
                        .get_metric_with_label_values(&[name, status, provider.name()])
                })
            });
        if let Some(counter) = counter {
            counter.inc();
        }
        let histogram =
            |cell, vec: &HistogramVec| cached(cell, || vec.get_metric_with_label_values(&[name]));
        if let Some(h) = histogram(&surface.latency, &self.latency) {
            h.observe(latency.as_secs_f64());
        }
        if let Some(ttft) = event.ttft_ms.filter(|_| event.stream)
            && let Some(h) = histogram(&surface.ttft, &self.ttft)
        {
            h.observe(ttft as f64 / 1000.0);
        }
        if calls > 0
            && let Some(h) = histogram(&surface.attempts, &self.attempts)
        {
            h.observe(calls as f64);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn event(endpoint: &'static str, status: u16, provider: Option<&str>) -> UsageEvent {
        let mut event = UsageEvent::new(endpoint);
        event.status = status;
        event.provider = provider.map(str::to_string);
        event
    }

    #[test]
    fn cached_and_uncached_surfaces_count_the_same_series() {
        let metrics = RequestMetrics::new().unwrap();
        let latency = Duration::from_millis(30);
        for _ in 0..3 {
            metrics.finished(&event("embeddings", 200, Some("groq")), latency);
        }
        metrics.finished(&event("embeddings", 0, None), latency);
        // A surface added without a row in `SURFACES` is still counted, under its own name.
        metrics.finished(&event("videos.generations", 503, Some("groq")), latency);
        let count = |labels: &[&str]| {
            metrics
                .requests
                .get_metric_with_label_values(labels)
                .unwrap()
                .get()
        };
        assert_eq!(count(&["embeddings", "2xx", "groq"]), 3);
        assert_eq!(count(&["embeddings", "other", NO_PROVIDER]), 1);
        assert_eq!(count(&["videos.generations", "5xx", "groq"]), 1);
        let observed = |surface: &str| {
            metrics
                .latency
                .get_metric_with_label_values(&[surface])
                .unwrap()
                .get_sample_count()
        };
        assert_eq!(observed("embeddings"), 4);
        assert_eq!(observed("videos.generations"), 1);
    }
}
