//! The connection to Redis, its health, and the window scripts.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

/// How often Redis is checked (and a replica's heartbeat written).
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

const WINDOW_LUA: &str = include_str!("window.lua");

/// One scope of a reservation: its key, its limits (as [`super::limit`] writes them:
/// rpm, rph, rpd, tpm, tpd, tokens per month), when its day and month end (0: no month),
/// and which sliding windows it keeps (1 the minute, 2 the hour).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub key: String,
    pub limits: [i64; 6],
    pub day_end: i64,
    pub month_end: i64,
    pub rings: u8,
}

/// One scope to read with [`Shared::peek`]: its key, when its day ends, which sliding
/// windows it keeps (as in [`Spec`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peek {
    pub key: String,
    pub day_end: i64,
    pub rings: u8,
}

/// A scope's use of its windows, fleet-wide: `None` for a sliding window it does not keep
/// on Redis (no limit needs it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Used {
    /// Requests and tokens in the last minute.
    pub minute: Option<(u64, u64)>,
    pub hour_requests: Option<u64>,
    /// Requests and tokens today.
    pub day: (u64, u64),
}

/// Scopes read by one call of [`Shared::peek`].
const PEEK_BATCH: usize = 64;

/// What Redis answered a reservation.
#[derive(Debug)]
pub enum Reserved {
    /// Counted in every scope; settle or give it back with [`Held::finish`].
    Held(Held),
    /// Counted nowhere: the scope at `index` of the specs has no room.
    Refused(Refused),
    /// Redis is down or too slow: the caller decides locally.
    Unavailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub index: usize,
    pub limit: &'static str,
    /// When it frees up; `None`: the request alone is larger than the limit.
    pub until: Option<i64>,
}

/// A reservation held on Redis: it remembers the buckets, day and month it went into, so
/// settling or giving it back touches only those.
pub struct Held {
    shared: Arc<Shared>,
    keys: Vec<String>,
    periods: Vec<[i64; 3]>,
    at: i64,
    tokens: u64,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("keys", &self.keys)
            .field("at", &self.at)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl Held {
    /// One reservation of the scopes of both, made together (same time, same tokens).
    pub fn join(mut self, mut other: Held) -> Held {
        self.keys.append(&mut other.keys);
        self.periods.append(&mut other.periods);
        self
    }

    /// The first `n` scopes (if any) and the rest, as two reservations that may be settled
    /// apart (the quotas and the route of one request).
    pub fn split(mut self, n: usize) -> (Option<Held>, Held) {
        if n == 0 {
            return (None, self);
        }
        let n = n.min(self.keys.len());
        let first = Held {
            shared: self.shared.clone(),
            keys: self.keys.drain(..n).collect(),
            periods: self.periods.drain(..n).collect(),
            at: self.at,
            tokens: self.tokens,
        };
        (Some(first), self)
    }

    /// Settles with `actual` tokens, or (with `None`) gives the reservation back, off the
    /// request's path: queued, and sent within [`SETTLE_AFTER`] together with the settles
    /// made meanwhile, those of the same scopes in the same second merged into one.
    pub fn finish(self, actual: Option<u64>) {
        let shared = self.shared.clone();
        shared.queue(Settle {
            keys: self.keys,
            periods: self.periods,
            at: self.at,
            tokens: self.tokens,
            actual,
        });
    }
}

/// How long a settle waits for others to go with it. At c=1 a request's reserve waited on
/// Redis behind the previous request's settle (Redis runs one script at a time): 40-60 µs
/// of the p50 on a two-core machine. Merged, a stream of requests on the same scopes costs
/// Redis one settle every few milliseconds. The windows hold the estimate meanwhile, never
/// less than was served.
pub const SETTLE_AFTER: Duration = Duration::from_millis(5);

/// A reservation to settle (`actual`) or give back (`None`).
#[derive(Debug)]
struct Settle {
    keys: Vec<String>,
    periods: Vec<[i64; 3]>,
    at: i64,
    tokens: u64,
    actual: Option<u64>,
}

/// Settles of the same scopes and periods made in the same second, as one: they touch the
/// same buckets, days and months, so their sums settle them together.
#[derive(Debug)]
struct Batch {
    keys: Vec<String>,
    periods: Vec<[i64; 3]>,
    at: i64,
    /// Tokens the reservations counted, and the real ones that replace them.
    estimated: u64,
    actual: u64,
    /// Reservations given back: their requests leave the windows too.
    released: u64,
}

/// A batch's scopes, their periods and its second.
type BatchKey = (Vec<String>, Vec<[i64; 3]>, i64);

/// Merges `settles` into batches, in the order each batch's first settle was made.
fn batches(settles: Vec<Settle>) -> Vec<Batch> {
    let mut batches: Vec<Batch> = Vec::new();
    let mut index: HashMap<BatchKey, usize> = HashMap::new();
    for settle in settles {
        let second = settle.at.div_euclid(1000);
        let i = *index
            .entry((settle.keys.clone(), settle.periods.clone(), second))
            .or_insert_with(|| {
                batches.push(Batch {
                    keys: settle.keys,
                    periods: settle.periods,
                    at: settle.at,
                    estimated: 0,
                    actual: 0,
                    released: 0,
                });
                batches.len() - 1
            });
        let batch = &mut batches[i];
        batch.estimated = batch.estimated.saturating_add(settle.tokens);
        match settle.actual {
            Some(actual) => batch.actual = batch.actual.saturating_add(actual),
            None => batch.released += 1,
        }
    }
    batches
}

/// The quotas' part of a reservation Redis took together with a route's (one round trip
/// in): when that route serves, both are settled in one round trip out; when it fails, the
/// quotas keep theirs for the next route and settle it themselves.
#[derive(Clone, Debug)]
pub struct Joint(Arc<std::sync::Mutex<Option<Held>>>);

impl Joint {
    pub fn new(held: Held) -> Joint {
        Joint(Arc::new(std::sync::Mutex::new(Some(held))))
    }

    /// The quotas' part, unless it was settled already.
    pub fn take(&self) -> Option<Held> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

thread_local! {
    /// Each thread's connections, one per [`Shared`] (by its id) it called through: one in a
    /// server, a few in a test process.
    static OWN: std::cell::RefCell<Vec<(Uuid, ConnectionManager)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Redis errors and fallbacks, for `/metrics`: atomics only.
#[derive(Debug, Default)]
pub struct SharedStats {
    /// Calls that failed or timed out.
    pub errors: AtomicU64,
    /// Requests decided on local limits because Redis was down.
    pub local: AtomicU64,
}

pub struct Shared {
    client: redis::Client,
    config: ConnectionManagerConfig,
    /// The connection of the thread that made this: the one used should another thread's
    /// fail to be made (it cannot, once one was).
    first: ConnectionManager,
    healthy: AtomicBool,
    pub(super) timeout: Duration,
    reserve: Script,
    finish: Script,
    peek: Script,
    pub(super) throttle_check: Script,
    pub(super) throttle_fail: Script,
    /// Replicas alive, this one included (at least 1).
    replicas: AtomicU64,
    id: Uuid,
    pub stats: SharedStats,
    /// Settles waiting to be sent, and the flusher's wake-up.
    settles: std::sync::Mutex<Vec<Settle>>,
    settled: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("healthy", &self.healthy)
            .field("replicas", &self.replicas)
            .finish_non_exhaustive()
    }
}

/// A script's numbers as one argument: little-endian doubles, each read back exactly as
/// `tonumber` would read its decimal text (the nearest double), with one `struct.unpack`
/// a scope instead of a string to parse a number.
struct Numbers(Vec<u8>);

impl Numbers {
    fn with_scopes(head: usize, each: usize, scopes: usize) -> Numbers {
        let count = each.saturating_mul(scopes).saturating_add(head);
        Numbers(Vec::with_capacity(count.saturating_mul(8)))
    }

    fn int(&mut self, value: i64) -> &mut Numbers {
        self.0.extend_from_slice(&(value as f64).to_le_bytes());
        self
    }

    fn uint(&mut self, value: u64) -> &mut Numbers {
        self.0.extend_from_slice(&(value as f64).to_le_bytes());
        self
    }
}

pub(super) fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(i) => Some(*i),
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

fn limit_name(value: &Value) -> &'static str {
    let text = match value {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).unwrap_or(""),
        Value::SimpleString(s) => s.as_str(),
        _ => "",
    };
    match text {
        "rpm" => "rpm",
        "rph" => "rph",
        "rpd" => "rpd",
        "tpm" => "tpm",
        "tpd" => "tpd",
        _ => "tokens_per_month",
    }
}

impl Shared {
    /// A client for `url` (`redis://` or `rediss://`); it connects lazily, so a Redis that is
    /// down at start delays nothing. Errors only for a URL it cannot read.
    /// With `ca` (PEM), a `rediss://` server's certificate is checked against it instead of
    /// the system's roots.
    pub fn new(
        url: &str,
        timeout: Duration,
        ca: Option<Vec<u8>>,
    ) -> Result<Arc<Shared>, redis::RedisError> {
        // Every call is a small request awaited by a client request: Nagle's algorithm
        // (redis-rs leaves it on) would hold a reserve back behind a settle still in flight.
        let info = redis::IntoConnectionInfo::into_connection_info(url)?;
        let tcp = info.tcp_settings().clone().set_nodelay(true);
        let info = info.set_tcp_settings(tcp);
        let client = match ca {
            None => redis::Client::open(info)?,
            Some(root_cert) => redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                },
            )?,
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let script = |body: &str| Script::new(&format!("{WINDOW_LUA}\n{body}"));
        let first = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())?;
        let shared = Arc::new(Shared {
            client,
            config,
            first: first.clone(),
            healthy: AtomicBool::new(false),
            timeout,
            reserve: script(include_str!("reserve.lua")),
            finish: script(include_str!("finish.lua")),
            peek: script(include_str!("peek.lua")),
            throttle_check: Script::new(include_str!("throttle_check.lua")),
            throttle_fail: Script::new(include_str!("throttle_fail.lua")),
            replicas: AtomicU64::new(1),
            id: Uuid::new_v4(),
            stats: SharedStats::default(),
            settles: std::sync::Mutex::new(Vec::new()),
            settled: Arc::new(tokio::sync::Notify::new()),
        });
        shared.adopt(first);
        tokio::spawn(Self::flusher(
            Arc::downgrade(&shared),
            shared.settled.clone(),
        ));
        Ok(shared)
    }

    /// This thread's connection to Redis, made at its first call. Each actix worker is a
    /// runtime of its own thread: with one connection for the process, its I/O task ran on
    /// one thread and every call from another worker crossed threads twice (there and
    /// back), which on a small virtual machine cost more than the script itself.
    pub(super) fn conn(&self) -> ConnectionManager {
        OWN.with_borrow_mut(|own| {
            if let Some((_, conn)) = own.iter().find(|(id, _)| *id == self.id) {
                return conn.clone();
            }
            match ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())
            {
                Ok(conn) => {
                    own.push((self.id, conn.clone()));
                    conn
                }
                Err(_) => self.first.clone(),
            }
        })
    }

    /// Makes `conn` this thread's connection.
    fn adopt(&self, conn: ConnectionManager) {
        OWN.with_borrow_mut(|own| own.push((self.id, conn)));
    }

    /// Whether the last call or check reached Redis.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Replicas alive, this one included: what each one's share of a limit is divided by
    /// while Redis is down.
    pub fn replicas(&self) -> u64 {
        self.replicas.load(Ordering::Relaxed).max(1)
    }

    /// This replica's id in `fleet_replicas`.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Counts a request decided locally while Redis is down.
    pub fn count_local(&self) {
        self.stats.local.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn failed(&self, error: &dyn std::fmt::Display) {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(%error, "Redis unreachable: on local limits (each replica its share) until it answers");
        }
    }

    /// Runs `invocation` within the timeout; any failure marks Redis down.
    pub(super) async fn call(&self, invocation: redis::ScriptInvocation<'_>) -> Option<Value> {
        let mut conn = self.conn();
        self.bounded(invocation.invoke_async::<Value>(&mut conn))
            .await
    }

    /// Awaits one exchange with Redis within the timeout; any failure marks Redis down.
    pub(super) async fn bounded(
        &self,
        exchange: impl Future<Output = redis::RedisResult<Value>>,
    ) -> Option<Value> {
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                self.failed(&error);
                None
            }
            Err(_) => {
                self.failed(&"timed out");
                None
            }
        }
    }

    /// Checks every scope of `specs` and counts a request of `tokens` in all of them, or in
    /// none: one round trip. `Unavailable` at once while Redis is down.
    pub async fn reserve(self: &Arc<Self>, specs: &[Spec], tokens: u64, now: i64) -> Reserved {
        if !self.healthy() {
            return Reserved::Unavailable;
        }
        let mut invocation = self.reserve.prepare_invoke();
        let mut numbers = Numbers::with_scopes(2, 9, specs.len());
        numbers.int(now).uint(tokens);
        for spec in specs {
            invocation.key(spec.key.as_str());
            for limit in spec.limits {
                numbers.int(limit);
            }
            numbers
                .int(spec.day_end)
                .int(spec.month_end)
                .uint(u64::from(spec.rings));
        }
        invocation.arg(numbers.0);
        let Some(value) = self.call(invocation).await else {
            return Reserved::Unavailable;
        };
        let answer = match &value {
            Value::Array(items) => items.as_slice(),
            _ => &[],
        };
        match answer {
            [first] if int(first) == Some(0) => Reserved::Held(Held {
                shared: self.clone(),
                keys: specs.iter().map(|s| s.key.clone()).collect(),
                periods: specs
                    .iter()
                    .map(|s| [s.day_end, s.month_end, i64::from(s.rings)])
                    .collect(),
                at: now,
                tokens,
            }),
            [index, limit, until] => Reserved::Refused(Refused {
                index: int(index)
                    .and_then(|i| usize::try_from(i).ok())
                    .unwrap_or(1)
                    .saturating_sub(1),
                limit: limit_name(limit),
                until: int(until).filter(|u| *u >= 0),
            }),
            _ => {
                self.failed(&"unexpected answer to the reserve script");
                Reserved::Unavailable
            }
        }
    }

    /// Every scope's use of its windows at `now`, fleet-wide, in the order of `scopes`, read
    /// by a script that changes nothing, [`PEEK_BATCH`] scopes a call so that no call keeps
    /// Redis from the fleet's requests for long. `None` when Redis is down or did not
    /// answer; an admin's read failing does not mark Redis down for the requests.
    pub async fn peek(&self, scopes: &[Peek], now: i64) -> Option<Vec<Used>> {
        if !self.healthy() {
            return None;
        }
        let mut used = Vec::with_capacity(scopes.len());
        for batch in scopes.chunks(PEEK_BATCH) {
            let mut invocation = self.peek.prepare_invoke();
            let mut numbers = Numbers::with_scopes(1, 2, batch.len());
            numbers.int(now);
            for scope in batch {
                invocation.key(scope.key.as_str());
                numbers.int(scope.day_end).uint(u64::from(scope.rings));
            }
            invocation.arg(numbers.0);
            let mut conn = self.conn();
            let answer = tokio::time::timeout(
                self.timeout.max(Duration::from_secs(1)),
                invocation.invoke_async::<Value>(&mut conn),
            )
            .await;
            let Ok(Ok(Value::Array(rows))) = answer else {
                return None;
            };
            if rows.len() != batch.len() {
                return None;
            }
            let count = |v: &Value| int(v).and_then(|n| u64::try_from(n).ok());
            used.extend(rows.iter().map(|row| match row {
                Value::Array(values) if values.len() == 5 => Used {
                    minute: count(&values[0]).zip(count(&values[1])),
                    hour_requests: count(&values[2]),
                    day: (
                        count(&values[3]).unwrap_or(0),
                        count(&values[4]).unwrap_or(0),
                    ),
                },
                _ => Used::default(),
            }));
        }
        Some(used)
    }

    fn queue(&self, settle: Settle) {
        let mut settles = self.settles.lock().unwrap_or_else(|p| p.into_inner());
        settles.push(settle);
        if settles.len() == 1 {
            self.settled.notify_one();
        }
    }

    /// Sends the queued settles [`SETTLE_AFTER`] after the first of them, for as long as
    /// the client lives.
    async fn flusher(shared: std::sync::Weak<Shared>, settled: Arc<tokio::sync::Notify>) {
        loop {
            settled.notified().await;
            tokio::time::sleep(SETTLE_AFTER).await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            shared.flush().await;
        }
    }

    /// Sends every queued settle now, merged: one script call a batch, all on one
    /// connection at once.
    pub async fn flush(&self) {
        let settles = std::mem::take(&mut *self.settles.lock().unwrap_or_else(|p| p.into_inner()));
        if settles.is_empty() {
            return;
        }
        let now = chrono::Utc::now().timestamp_millis();
        futures_util::future::join_all(
            batches(settles)
                .into_iter()
                .map(|batch| self.settle(batch, now)),
        )
        .await;
    }

    async fn settle(&self, batch: Batch, now: i64) {
        let mut invocation = self.finish.prepare_invoke();
        let mut numbers = Numbers::with_scopes(5, 3, batch.keys.len());
        numbers
            .int(now.max(batch.at))
            .int(batch.at)
            .uint(batch.estimated)
            .uint(batch.actual)
            .uint(batch.released);
        for (key, period) in batch.keys.iter().zip(&batch.periods) {
            invocation.key(key.as_str());
            for value in period {
                numbers.int(*value);
            }
        }
        invocation.arg(numbers.0);
        // Even while marked down: a reservation made on Redis is given back there if it can be.
        let _ = self.call(invocation).await;
    }

    /// Checks Redis once (a `PING` within a second) and keeps the answer.
    pub async fn check(&self) -> bool {
        let mut conn = self.conn();
        let ping = redis::cmd("PING").clone();
        let wait = self.timeout.max(Duration::from_millis(500));
        let ok = matches!(
            tokio::time::timeout(wait, ping.query_async::<Value>(&mut conn)).await,
            Ok(Ok(_))
        );
        let was = self.healthy.swap(ok, Ordering::Relaxed);
        if ok && !was {
            tracing::info!("Redis reached: limits, quotas, sessions and cooldowns are shared");
        } else if !ok {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            if was {
                tracing::warn!(
                    "Redis unreachable: on local limits (each replica its share) until it answers"
                );
            }
        }
        ok
    }

    /// The first check, at start: one line when Redis cannot be reached.
    pub async fn start(&self) {
        if !self.check().await {
            tracing::warn!(
                "Redis unreachable at start: on local limits (each replica its share) until it answers"
            );
        }
    }

    /// Every second until `stop`: checks Redis, and writes this replica's heartbeat and reads
    /// how many replicas are alive (Postgres, so the count holds while Redis is away).
    pub async fn keep_watch(self: Arc<Self>, db: PgPool, mut stop: watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval(CHECK_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    self.check().await;
                    self.beat(&db).await;
                }
                _ = stop.changed() => {
                    // Settles still queued go out before the server stops.
                    self.flush().await;
                    let _ = crate::store::replicas::leave(&db, self.id).await;
                    return;
                }
            }
        }
    }

    /// Writes this replica's heartbeat and keeps the count of live replicas; the last count
    /// stays while Postgres is away.
    pub async fn beat(&self, db: &PgPool) {
        let beat = crate::store::replicas::beat(db, self.id);
        if let Ok(Ok(count)) = tokio::time::timeout(Duration::from_millis(800), beat).await {
            self.replicas.store(count.max(1), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settle(keys: &[&str], at: i64, tokens: u64, actual: Option<u64>) -> Settle {
        Settle {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            periods: vec![[86_400_000, 0, 3]; keys.len()],
            at,
            tokens,
            actual,
        }
    }

    #[test]
    fn settles_of_the_same_scopes_in_the_same_second_are_one_batch() {
        let merged = batches(vec![
            settle(&["q", "w"], 1_000_100, 50, Some(20)),
            settle(&["q", "w"], 1_000_900, 40, None),
            // Another second: another bucket.
            settle(&["q", "w"], 1_001_000, 10, Some(10)),
            // Other scopes.
            settle(&["q"], 1_000_200, 30, Some(5)),
            settle(&["q", "w"], 1_000_500, 5, Some(7)),
        ]);
        let summary: Vec<_> = merged
            .iter()
            .map(|b| (b.keys.len(), b.at, b.estimated, b.actual, b.released))
            .collect();
        assert_eq!(
            summary,
            [
                (2, 1_000_100, 95, 27, 1),
                (2, 1_001_000, 10, 10, 0),
                (1, 1_000_200, 30, 5, 0),
            ]
        );
    }

    #[test]
    fn settles_with_other_periods_are_not_merged() {
        let mut other_day = settle(&["q"], 1_000_100, 1, Some(1));
        other_day.periods = vec![[2 * 86_400_000, 0, 3]];
        let merged = batches(vec![settle(&["q"], 1_000_000, 1, Some(1)), other_day]);
        assert_eq!(merged.len(), 2);
    }
}
