//! The batch writer. Requests hand events to a bounded queue with `try_send`, so a slow or
//! absent database never delays or fails a request. The writer wakes on its own clock (every
//! `flush_interval`), never per event: a request's `try_send` finds no one waiting and wakes
//! no thread. Each wake takes everything queued and writes it in batches; while the database
//! is down it holds events in memory (up to `max_pending`) and retries with backoff; at
//! shutdown it drains the queue and keeps retrying until `drain_timeout`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use super::UsageEvent;
use crate::config::UsageConfig;
use crate::store;

#[derive(Debug, Default)]
pub struct UsageStats {
    pub written: AtomicU64,
    /// Dropped because the queue was full or the held backlog hit `max_pending`.
    pub dropped: AtomicU64,
    /// Held in memory, waiting for the database.
    pub pending: AtomicU64,
    pub failed_writes: AtomicU64,
}

/// Told of every finished request, before its event is queued: the metrics. Runs on the
/// request path, so it must be cheap and never block.
pub trait Observer: Send + Sync {
    fn finished(&self, event: &UsageEvent, latency: Duration);
}

/// The request side: cheap to clone, never blocks.
#[derive(Clone)]
pub struct UsageSink {
    tx: mpsc::Sender<UsageEvent>,
    stats: Arc<UsageStats>,
    observer: Option<Arc<dyn Observer>>,
}

impl UsageSink {
    /// This sink, telling `observer` of every request it records.
    pub fn observed_by(self, observer: Arc<dyn Observer>) -> Self {
        UsageSink {
            observer: Some(observer),
            ..self
        }
    }

    /// Records a finished request that took `latency`.
    pub fn finish(&self, event: UsageEvent, latency: Duration) {
        if let Some(observer) = &self.observer {
            observer.finished(&event, latency);
        }
        self.record(event);
    }

    pub fn record(&self, event: UsageEvent) {
        if let Err(error) = self.tx.try_send(event) {
            let dropped = self.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // One line per thousand drops keeps an overload from flooding the log.
            if dropped % 1000 == 1 {
                let why = match error {
                    mpsc::error::TrySendError::Full(_) => "queue full",
                    mpsc::error::TrySendError::Closed(_) => "writer stopped",
                };
                tracing::warn!(dropped, why, "usage event dropped");
            }
        }
    }

    pub fn stats(&self) -> &Arc<UsageStats> {
        &self.stats
    }

    /// Reads how many events wait in this sink's queue.
    pub fn queue_depth(&self) -> QueueDepth {
        QueueDepth(self.tx.downgrade())
    }
}

/// The number of events queued for the writer and not yet taken by it. It does not keep
/// the queue open: the writer still ends when the last sink is gone.
#[derive(Clone)]
pub struct QueueDepth(mpsc::WeakSender<UsageEvent>);

impl QueueDepth {
    pub fn get(&self) -> usize {
        self.0
            .upgrade()
            .map_or(0, |tx| tx.max_capacity().saturating_sub(tx.capacity()))
    }
}

pub struct UsageWriter {
    task: JoinHandle<()>,
    stats: Arc<UsageStats>,
}

impl UsageWriter {
    pub fn spawn(pool: PgPool, config: UsageConfig) -> (UsageSink, UsageWriter) {
        let (tx, rx) = mpsc::channel(config.queue_capacity);
        let stats = Arc::new(UsageStats::default());
        let task = tokio::spawn(run(pool, config, rx, stats.clone()));
        (
            UsageSink {
                tx,
                stats: stats.clone(),
                observer: None,
            },
            UsageWriter { task, stats },
        )
    }

    /// Waits for the writer to finish. It finishes once every `UsageSink` is dropped and
    /// the queue is drained (or the drain timeout passed).
    pub async fn finish(self) -> Arc<UsageStats> {
        if let Err(error) = self.task.await {
            tracing::error!(%error, "usage writer task failed");
        }
        self.stats
    }
}

struct Backlog {
    events: VecDeque<UsageEvent>,
    max_pending: usize,
    stats: Arc<UsageStats>,
}

impl Backlog {
    fn push(&mut self, event: UsageEvent) {
        if self.events.len() >= self.max_pending {
            // Oldest first: the newest events matter most for live limits and dashboards.
            self.events.pop_front();
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.events.push_back(event);
        self.stats
            .pending
            .store(self.events.len() as u64, Ordering::Relaxed);
    }

    /// Writes batches until the backlog is empty or a write fails.
    async fn flush(&mut self, pool: &PgPool, batch_size: usize) -> bool {
        while !self.events.is_empty() {
            let n = batch_size.min(self.events.len());
            let batch = &self.events.make_contiguous()[..n];
            match store::usage::insert_events(pool, batch).await {
                Ok(()) => {
                    self.events.drain(..n);
                    self.stats.written.fetch_add(n as u64, Ordering::Relaxed);
                    self.stats
                        .pending
                        .store(self.events.len() as u64, Ordering::Relaxed);
                }
                Err(error) => {
                    let failures = self.stats.failed_writes.fetch_add(1, Ordering::Relaxed);
                    if failures.is_multiple_of(20) {
                        tracing::warn!(%error, held = self.events.len(),
                            "usage events not written yet; holding them and retrying");
                    }
                    return false;
                }
            }
        }
        true
    }
}

async fn run(
    pool: PgPool,
    config: UsageConfig,
    mut rx: mpsc::Receiver<UsageEvent>,
    stats: Arc<UsageStats>,
) {
    let interval = Duration::from_millis(config.flush_interval_ms.max(1));
    let mut backlog = Backlog {
        events: VecDeque::new(),
        max_pending: config.max_pending.max(config.batch_size),
        stats,
    };
    let mut backoff = interval;
    let mut next_write = later(interval);
    loop {
        sleep_until(later(interval)).await;
        // The queue is emptied on every tick, so it never fills while writes back off.
        if !take_queued(&mut rx, &mut backlog) {
            // Every sender is gone: `drain` writes what is left.
            break;
        }
        if Instant::now() >= next_write {
            if backlog.flush(&pool, config.batch_size).await {
                backoff = interval;
            } else {
                backoff = backoff.saturating_mul(2).min(Duration::from_secs(5));
            }
            next_write = later(backoff);
        }
    }
    drain(&pool, &config, &mut backlog).await;
}

/// Moves every queued event into the backlog; `false` once the queue is closed (every
/// sender gone: the server has stopped) and empty.
fn take_queued(rx: &mut mpsc::Receiver<UsageEvent>, backlog: &mut Backlog) -> bool {
    loop {
        match rx.try_recv() {
            Ok(event) => backlog.push(event),
            Err(mpsc::error::TryRecvError::Empty) => return true,
            Err(mpsc::error::TryRecvError::Disconnected) => return false,
        }
    }
}

async fn drain(pool: &PgPool, config: &UsageConfig, backlog: &mut Backlog) {
    let deadline = later(Duration::from_secs(config.drain_timeout_secs));
    let mut backoff = Duration::from_millis(100);
    while !backlog.flush(pool, config.batch_size).await {
        if later(backoff) > deadline {
            tracing::error!(
                lost = backlog.events.len(),
                "usage events could not be written before shutdown"
            );
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2).min(Duration::from_secs(2));
    }
    tracing::info!(
        written = backlog.stats.written.load(Ordering::Relaxed),
        "usage writer drained"
    );
}

/// `delay` from now; a delay too large for the clock is capped at a year.
fn later(delay: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(delay.min(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}
