//! What the metrics add to a request: `RequestMetrics::finished` on a served chat request's
//! usage event (one counter by surface, status class and provider; the latency, time to
//! first token and attempts histograms; the provider call by outcome), among 20 providers.
//! `a_*` alone in a loop, on one thread and on two fighting for the same cache lines without
//! pause (the worst case); `between_other_work_*` with about 2 µs of other work between two
//! requests, as under real load, where the lines move between the cores once per request:
//! the metrics' cost is the difference from `between_other_work_alone`.
//! Run with `cargo bench -p freeway --bench metrics`.

use std::time::Duration;

use freeway::metrics::RequestMetrics;
use freeway::usage::{Attempt, Observer, UsageEvent};
use freeway_wire::usage::AttemptOutcome;

fn main() {
    divan::main();
}

fn served(provider: &str, stream: bool) -> UsageEvent {
    let mut event = UsageEvent::new("chat.completions");
    event.provider = Some(provider.to_string());
    event.status = 200;
    event.stream = stream;
    event.ttft_ms = Some(120);
    event.attempts = vec![Attempt {
        provider: provider.to_string(),
        model: "llama-3.1-8b-instant".into(),
        credential_id: None,
        outcome: AttemptOutcome::Ok,
        status: Some(200),
        latency_ms: 300,
        detail: None,
    }];
    event
}

fn warmed() -> Option<RequestMetrics> {
    let metrics = RequestMetrics::new().ok()?;
    // Every provider seen once: the handles exist, as they do after the first minutes.
    for i in 0..20 {
        metrics.finished(&served(&format!("provider{i}"), true), Duration::ZERO);
    }
    Some(metrics)
}

#[divan::bench(threads = [1, 2], sample_count = 200, sample_size = 1000)]
fn a_served_stream(bencher: divan::Bencher) {
    let Some(metrics) = warmed() else { return };
    let event = served("provider13", true);
    let latency = Duration::from_millis(420);
    bencher.bench(|| metrics.finished(divan::black_box(&event), latency));
}

#[divan::bench(threads = [1, 2], sample_count = 200, sample_size = 1000)]
fn a_request_refused_before_routing(bencher: divan::Bencher) {
    let Some(metrics) = warmed() else { return };
    let mut event = UsageEvent::new("chat.completions");
    event.status = 429;
    bencher.bench(|| metrics.finished(divan::black_box(&event), Duration::from_micros(80)));
}

/// Stand-in for the rest of a request's work between two finished requests (about 2 µs,
/// on memory of its own): with two threads, the metrics' cache lines move between cores
/// once per request, as under real load, rather than being fought over without pause.
fn other_work(scratch: &mut [u64; 64]) {
    for round in 0..150u64 {
        for (i, cell) in scratch.iter_mut().enumerate() {
            *cell = cell.wrapping_mul(31).wrapping_add(round ^ i as u64);
        }
    }
    divan::black_box(scratch);
}

#[divan::bench(threads = [1, 2], sample_count = 100, sample_size = 200)]
fn between_other_work_alone(bencher: divan::Bencher) {
    bencher
        .with_inputs(|| [0u64; 64])
        .bench_local_refs(other_work);
}

#[divan::bench(threads = [1, 2], sample_count = 100, sample_size = 200)]
fn between_other_work_a_served_stream(bencher: divan::Bencher) {
    let Some(metrics) = warmed() else { return };
    let event = served("provider13", true);
    let latency = Duration::from_millis(420);
    bencher
        .with_inputs(|| [0u64; 64])
        .bench_local_refs(|scratch| {
            other_work(scratch);
            metrics.finished(divan::black_box(&event), latency);
        });
}
