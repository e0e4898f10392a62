//! Writing usage events in batches, and reading back what restores the in-memory
//! windows and quota ledgers after a restart (aggregated by Postgres, never replayed).

use chrono::{DateTime, Utc};
use freeway_wire::tenants::QuotaScope;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use super::StoreError;
use super::histogram;

/// One candidate the request tried, in order: the wire's entry, written as it is.
pub use freeway_wire::usage::AttemptEntry as Attempt;

#[derive(Debug, Clone)]
pub struct UsageEvent {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub endpoint: &'static str,
    pub tenant_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub requested_model: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub credential_id: Option<Uuid>,
    pub status: u16,
    pub error_code: Option<String>,
    pub stream: bool,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
    pub attempts: Vec<Attempt>,
    pub session_id: Option<String>,
    /// The client's `x-request-id`, when it sent a well-formed one; otherwise the request's
    /// id is `id`.
    pub request_id: Option<String>,
}

impl UsageEvent {
    pub fn new(endpoint: &'static str) -> Self {
        let created_at = Utc::now();
        UsageEvent {
            id: new_event_id(created_at),
            created_at,
            ..Self::placeholder(endpoint)
        }
    }

    /// An event for a request whose id is `id` made at `at` (`new_event_id`), so that the
    /// id answered in `x-request-id` finds the event.
    pub fn with_id(endpoint: &'static str, id: Uuid, at: DateTime<Utc>) -> Self {
        UsageEvent {
            id,
            created_at: at,
            ..Self::placeholder(endpoint)
        }
    }

    /// An event that is never recorded: what a recorder keeps once its event has moved on.
    pub fn placeholder(endpoint: &'static str) -> Self {
        UsageEvent {
            id: Uuid::nil(),
            created_at: DateTime::UNIX_EPOCH,
            endpoint,
            tenant_id: None,
            member_id: None,
            api_key_id: None,
            requested_model: None,
            provider: None,
            model: None,
            credential_id: None,
            status: 0,
            error_code: None,
            stream: false,
            prompt_tokens: None,
            completion_tokens: None,
            latency_ms: 0,
            ttft_ms: None,
            attempts: Vec::new(),
            session_id: None,
            request_id: None,
        }
    }
}

/// Writes `events`, adds them to the hourly and daily rollups, and marks their api keys as
/// used, in one transaction.
///
/// The rows go in with one binary `COPY`: Postgres reads each value as it is laid out in
/// memory, with no statement to plan and no arrays or `ON CONFLICT` check to work through
/// (per row, about a third less of Postgres's CPU than an `INSERT … SELECT unnest(…)`).
/// The rollups are summed here, not by Postgres: a batch becomes a few rollup rows (one per
/// hour or day, key and model), and Postgres only adds them to what is there.
///
/// Idempotent: a batch whose commit was lost and that is retried fails the `COPY` on the
/// primary key; it is then written again with `INSERT … ON CONFLICT DO NOTHING RETURNING
/// id`, and only the rows that were new are counted in the rollups.
pub async fn insert_events(pool: &PgPool, events: &[UsageEvent]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    match copy_events(&mut tx, events).await {
        Ok(()) => upsert_rollups(&mut tx, events.iter()).await?,
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            // Some of these were written before (a retry after a lost commit): start again
            // and learn which rows are new, so that only they are counted.
            tx.rollback().await?;
            tx = pool.begin().await?;
            let new: Vec<Uuid> = bind_events(sqlx::query_scalar(INSERT_RETURNING), events)
                .fetch_all(&mut *tx)
                .await?;
            let mut new: std::collections::HashSet<Uuid> = new.into_iter().collect();
            upsert_rollups(&mut tx, events.iter().filter(|e| new.remove(&e.id))).await?;
        }
        Err(e) => return Err(e.into()),
    }

    let mut used: Vec<(Uuid, DateTime<Utc>)> = events
        .iter()
        .filter_map(|e| e.api_key_id.map(|k| (k, e.created_at)))
        .collect();
    used.sort();
    used.dedup_by(|later, earlier| {
        // Keep the latest time per key; `sort` put it last among equal ids.
        if later.0 == earlier.0 {
            earlier.1 = earlier.1.max(later.1);
            true
        } else {
            false
        }
    });
    if !used.is_empty() {
        let (ids, times): (Vec<_>, Vec<_>) = used.into_iter().unzip();
        sqlx::query(
            "UPDATE api_keys k SET last_used_at = greatest(k.last_used_at, u.at)
             FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at) WHERE k.id = u.id",
        )
        .bind(ids)
        .bind(times)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

type Scalar<'q, T> = sqlx::query::QueryScalar<'q, sqlx::Postgres, T, sqlx::postgres::PgArguments>;

/// `query` with a batch of events bound as one array per column ($1 to $21).
fn bind_events<'q, T>(query: Scalar<'q, T>, events: &'q [UsageEvent]) -> Scalar<'q, T> {
    let mut columns = Columns::with_capacity(events.len());
    for e in events {
        columns.push(e);
    }
    let Columns {
        id,
        created_at,
        endpoint,
        tenant_id,
        member_id,
        api_key_id,
        requested_model,
        provider,
        model,
        credential_id,
        status,
        error_code,
        stream,
        prompt_tokens,
        completion_tokens,
        latency_ms,
        ttft_ms,
        attempts,
        attempt_trail,
        session_id,
        request_id,
    } = columns;
    query
        .bind(id)
        .bind(created_at)
        .bind(endpoint)
        .bind(tenant_id)
        .bind(member_id)
        .bind(api_key_id)
        .bind(requested_model)
        .bind(provider)
        .bind(model)
        .bind(credential_id)
        .bind(status)
        .bind(error_code)
        .bind(stream)
        .bind(prompt_tokens)
        .bind(completion_tokens)
        .bind(latency_ms)
        .bind(ttft_ms)
        .bind(attempts)
        .bind(attempt_trail)
        .bind(session_id)
        .bind(request_id)
}

/// What one route served at one time (a second in the last hour, a minute before it): what
/// the pool's windows add after their snapshot, grouped so that it never grows with the
/// number of requests.
#[derive(Debug, Clone, FromRow)]
pub struct ServedRow {
    pub provider: String,
    pub model: String,
    pub credential_id: Option<Uuid>,
    /// The end of the second (or minute) it was served in, unix milliseconds: counted no
    /// earlier than it happened, so a window never frees it early.
    pub at_ms: i64,
    pub requests: i64,
    pub tokens: i64,
}

/// Requests served after `since` (the last snapshot of the windows) and within the last 25
/// hours, per route and second, aggregated by Postgres. Without a snapshot (the first start
/// of this version) that is the whole day, once.
pub async fn served_since(
    pool: &PgPool,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<ServedRow>, StoreError> {
    let day = chrono::TimeDelta::try_hours(25).unwrap_or_default();
    let from = Utc::now()
        .checked_sub_signed(day)
        .unwrap_or(DateTime::UNIX_EPOCH);
    let from = since.map_or(from, |since| since.max(from));
    let mut tx = pool.begin().await?;
    // The few rows after `since` are found through the primary key, as a range of ids (see
    // `id_floor`), whatever the planner's statistics say: on a table just filled it would
    // scan every row (seen: 0.5 s for 4 million), so that a restart would take longer the
    // busier the day was.
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await?;
    sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
    let rows = sqlx::query_as(
        "SELECT provider, model, credential_id,
                CASE WHEN created_at > now() - interval '61 minutes'
                     THEN ceil(extract(epoch FROM created_at))::bigint * 1000
                     ELSE ceil(extract(epoch FROM created_at) / 60)::bigint * 60000 END AS at_ms,
                count(*) AS requests,
                coalesce(sum(coalesce(prompt_tokens, 0)::bigint
                    + coalesce(completion_tokens, 0)), 0)::bigint AS tokens
         FROM usage_events
         WHERE id >= $2 AND created_at > $1
           AND status BETWEEN 200 AND 299 AND provider IS NOT NULL AND model IS NOT NULL
         GROUP BY 1, 2, 3, 4",
    )
    .bind(from)
    .bind(id_floor(from))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// A new event id for an event created `at`: a UUIDv7 of that millisecond, with random bits
/// from the thread's generator (`Uuid::now_v7` asks the kernel for its random bits on every
/// call, a system call per request).
pub fn new_event_id(at: DateTime<Utc>) -> Uuid {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &rand::random()).into_uuid()
}

/// How far an event's id may be from its `created_at`: none for events written by this
/// version, whose id is made from their `created_at`, a clock read apart (at most a
/// millisecond) for those written before with `Uuid::now_v7`. Every row within the margin is
/// read and filtered out again, so it is kept small: a second of traffic.
const ID_TIME_MARGIN_MS: i64 = 1_000;

/// The lowest event id of an event created at or after `at`. An event id is a UUIDv7 whose
/// first 48 bits are the event's `created_at` in unix milliseconds (`UsageEvent::new`), so
/// the primary key `(id, created_at)` finds a span of time as a span of ids, and
/// `usage_events` needs no index of its own on `created_at` (V8).
pub fn id_floor(at: DateTime<Utc>) -> Uuid {
    id_at(at.timestamp_millis() - ID_TIME_MARGIN_MS, 0)
}

/// Above the highest event id of an event created before `at` (see `id_floor`).
pub fn id_ceiling(at: DateTime<Utc>) -> Uuid {
    id_at(
        at.timestamp_millis().saturating_add(ID_TIME_MARGIN_MS),
        0xff,
    )
}

fn id_at(millis: i64, fill: u8) -> Uuid {
    let millis = u64::try_from(millis.clamp(0, (1 << 48) - 1)).unwrap_or(0);
    let mut bytes = [fill; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    Uuid::from_bytes(bytes)
}

/// What one tenant, member or api key used of the current UTC day and month.
#[derive(Debug, Clone, FromRow)]
pub struct QuotaUsageRow {
    pub scope: QuotaScope,
    pub scope_id: Uuid,
    pub day_requests: i64,
    pub day_tokens: i64,
    pub month_tokens: i64,
}

/// Usage per scope since the start of the UTC month, from the daily rollups (a row per day,
/// key and model, whatever the traffic): what the quota ledger restores after a restart.
/// Only requests that were served count, as in the ledger: a rollup's requests less its
/// rate-limited, server and client errors are those with a 2xx status.
pub async fn quota_usage(pool: &PgPool) -> Result<Vec<QuotaUsageRow>, StoreError> {
    Ok(sqlx::query_as(
        "WITH bounds AS (
             SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month,
                    date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day
         ), served AS (
             SELECT r.tenant_id, r.member_id, r.api_key_id, r.bucket >= b.day AS today,
                    r.requests - r.rate_limited - r.server_errors - r.client_errors AS requests,
                    r.prompt_tokens + r.completion_tokens AS tokens
             FROM usage_rollups r, bounds b
             WHERE r.granularity = 'day' AND r.bucket >= b.month
         ), scoped AS (
             SELECT 'tenant' AS scope, tenant_id AS scope_id, today, requests, tokens FROM served
             UNION ALL SELECT 'member', member_id, today, requests, tokens FROM served
             UNION ALL SELECT 'api_key', api_key_id, today, requests, tokens FROM served
         )
         SELECT scope, scope_id,
                coalesce(sum(requests) FILTER (WHERE today), 0)::bigint AS day_requests,
                coalesce(sum(tokens) FILTER (WHERE today), 0)::bigint AS day_tokens,
                coalesce(sum(tokens), 0)::bigint AS month_tokens
         FROM scoped WHERE scope_id IS NOT NULL
         GROUP BY scope, scope_id",
    )
    .fetch_all(pool)
    .await?)
}

/// A batch of events as one array per column, borrowing the events' text.
struct Columns<'a> {
    id: Vec<Uuid>,
    created_at: Vec<DateTime<Utc>>,
    endpoint: Vec<&'static str>,
    tenant_id: Vec<Option<Uuid>>,
    member_id: Vec<Option<Uuid>>,
    api_key_id: Vec<Option<Uuid>>,
    requested_model: Vec<Option<&'a str>>,
    provider: Vec<Option<&'a str>>,
    model: Vec<Option<&'a str>>,
    credential_id: Vec<Option<Uuid>>,
    status: Vec<i16>,
    error_code: Vec<Option<&'a str>>,
    stream: Vec<bool>,
    prompt_tokens: Vec<Option<i32>>,
    completion_tokens: Vec<Option<i32>>,
    latency_ms: Vec<i32>,
    ttft_ms: Vec<Option<i32>>,
    attempts: Vec<i16>,
    attempt_trail: Vec<sqlx::types::Json<&'a [Attempt]>>,
    session_id: Vec<Option<&'a str>>,
    request_id: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    fn with_capacity(n: usize) -> Self {
        Columns {
            id: Vec::with_capacity(n),
            created_at: Vec::with_capacity(n),
            endpoint: Vec::with_capacity(n),
            tenant_id: Vec::with_capacity(n),
            member_id: Vec::with_capacity(n),
            api_key_id: Vec::with_capacity(n),
            requested_model: Vec::with_capacity(n),
            provider: Vec::with_capacity(n),
            model: Vec::with_capacity(n),
            credential_id: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            error_code: Vec::with_capacity(n),
            stream: Vec::with_capacity(n),
            prompt_tokens: Vec::with_capacity(n),
            completion_tokens: Vec::with_capacity(n),
            latency_ms: Vec::with_capacity(n),
            ttft_ms: Vec::with_capacity(n),
            attempts: Vec::with_capacity(n),
            attempt_trail: Vec::with_capacity(n),
            session_id: Vec::with_capacity(n),
            request_id: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, e: &'a UsageEvent) {
        self.id.push(e.id);
        self.created_at.push(e.created_at);
        self.endpoint.push(e.endpoint);
        self.tenant_id.push(e.tenant_id);
        self.member_id.push(e.member_id);
        self.api_key_id.push(e.api_key_id);
        self.requested_model.push(e.requested_model.as_deref());
        self.provider.push(e.provider.as_deref());
        self.model.push(e.model.as_deref());
        self.credential_id.push(e.credential_id);
        self.status
            .push(i16::try_from(e.status).unwrap_or(i16::MAX));
        self.error_code.push(e.error_code.as_deref());
        self.stream.push(e.stream);
        self.prompt_tokens.push(e.prompt_tokens.map(clamp_i32));
        self.completion_tokens
            .push(e.completion_tokens.map(clamp_i32));
        self.latency_ms.push(clamp_i32(e.latency_ms));
        self.ttft_ms.push(e.ttft_ms.map(clamp_i32));
        self.attempts
            .push(i16::try_from(e.attempts.len()).unwrap_or(i16::MAX));
        self.attempt_trail.push(sqlx::types::Json(&e.attempts));
        self.session_id.push(e.session_id.as_deref());
        self.request_id.push(e.request_id.as_deref());
    }
}

/// `usage_events`'s columns as the writer sends them: `COPY_ROWS` and `INSERT_RETURNING`
/// name them once, here, in the order of `encode_copy` and `bind_events`.
macro_rules! event_columns {
    () => {
        "usage_events (id, created_at, endpoint, tenant_id, member_id, api_key_id,
        requested_model, provider, model, credential_id, status, error_code, stream,
        prompt_tokens, completion_tokens, latency_ms, ttft_ms, attempts, attempt_trail,
        session_id, request_id)"
    };
}

/// The batch's rows, skipping any already written; returns the ids of those that were new.
const INSERT_RETURNING: &str = concat!(
    "INSERT INTO ",
    event_columns!(),
    " SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::uuid[],
        $5::uuid[], $6::uuid[], $7::text[], $8::text[], $9::text[], $10::uuid[], $11::int2[],
        $12::text[], $13::bool[], $14::int4[], $15::int4[], $16::int4[], $17::int4[],
        $18::int2[], $19::jsonb[], $20::text[], $21::text[])
    ON CONFLICT DO NOTHING RETURNING id"
);

const COPY_ROWS: &str = concat!("COPY ", event_columns!(), " FROM STDIN (FORMAT binary)");

/// Writes `events` with one binary `COPY` (see `encode_copy`).
async fn copy_events(
    conn: &mut sqlx::PgConnection,
    events: &[UsageEvent],
) -> Result<(), sqlx::Error> {
    let data = encode_copy(events);
    let mut copy = conn.copy_in_raw(COPY_ROWS).await?;
    if let Err(e) = copy.send(data).await {
        // The server's error, if it sent one, comes with the end of the copy.
        return Err(copy.finish().await.err().unwrap_or(e));
    }
    copy.finish().await?;
    Ok(())
}

/// Microseconds from the Unix epoch to Postgres's, 2000-01-01 UTC.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// `events` in `COPY`'s binary format, in `COPY_ROWS`'s column order: a header, then per
/// row the number of fields and each field as its length (-1 for NULL) and its bytes in the
/// type's binary form (big-endian integers; timestamps as microseconds since 2000; jsonb as
/// a version byte and the JSON text), and a trailer.
fn encode_copy(events: &[UsageEvent]) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, bytes: &[u8]) {
        // A field is at most a few kilobytes (a trail of attempts); a length over 2 GiB
        // cannot be built from one request.
        out.extend_from_slice(&i32::try_from(bytes.len()).unwrap_or(i32::MAX).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    fn null(out: &mut Vec<u8>) {
        out.extend_from_slice(&(-1i32).to_be_bytes());
    }
    fn uuid(out: &mut Vec<u8>, id: Option<Uuid>) {
        match id {
            Some(id) => field(out, id.as_bytes()),
            None => null(out),
        }
    }
    fn text(out: &mut Vec<u8>, value: Option<&str>) {
        match value {
            Some(value) => field(out, value.as_bytes()),
            None => null(out),
        }
    }
    fn int4(out: &mut Vec<u8>, value: Option<u64>) {
        match value {
            Some(value) => field(out, &clamp_i32(value).to_be_bytes()),
            None => null(out),
        }
    }
    fn int2(out: &mut Vec<u8>, value: usize) {
        field(out, &i16::try_from(value).unwrap_or(i16::MAX).to_be_bytes());
    }

    let mut out = Vec::with_capacity(19 + events.len() * 400);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
    out.extend_from_slice(&0i32.to_be_bytes()); // no header extension
    for e in events {
        out.extend_from_slice(&21i16.to_be_bytes());
        uuid(&mut out, Some(e.id));
        let micros = e.created_at.timestamp_micros() - PG_EPOCH_MICROS;
        field(&mut out, &micros.to_be_bytes());
        text(&mut out, Some(e.endpoint));
        uuid(&mut out, e.tenant_id);
        uuid(&mut out, e.member_id);
        uuid(&mut out, e.api_key_id);
        text(&mut out, e.requested_model.as_deref());
        text(&mut out, e.provider.as_deref());
        text(&mut out, e.model.as_deref());
        uuid(&mut out, e.credential_id);
        int2(&mut out, usize::from(e.status));
        text(&mut out, e.error_code.as_deref());
        field(&mut out, &[u8::from(e.stream)]);
        int4(&mut out, e.prompt_tokens);
        int4(&mut out, e.completion_tokens);
        int4(&mut out, Some(e.latency_ms));
        int4(&mut out, e.ttft_ms);
        int2(&mut out, e.attempts.len());
        // jsonb: the format version (1), then the text; the length is filled in after.
        let at = out.len();
        out.extend_from_slice(&[0, 0, 0, 0, 1]);
        serde_json::to_writer(&mut out, &e.attempts).unwrap_or_default();
        let len = i32::try_from(out.len() - at - 4).unwrap_or(i32::MAX);
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        text(&mut out, e.session_id.as_deref());
        text(&mut out, e.request_id.as_deref());
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

/// What a batch adds to one hourly or daily rollup row.
#[derive(Debug, Default, PartialEq, Eq)]
struct Rollup {
    requests: i64,
    errors: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    latency_ms_sum: i64,
    latency_hist: [i64; histogram::BUCKETS],
    ttft_ms_sum: i64,
    ttft_count: i64,
    ttft_hist: [i64; histogram::BUCKETS],
    rate_limited: i64,
    server_errors: i64,
    client_errors: i64,
}

/// A rollup row's key, in the order rows are upserted: granularity, bucket (UTC), tenant,
/// member, api key, provider, model.
type RollupKey<'a> = (
    &'static str,
    DateTime<Utc>,
    Option<Uuid>,
    Option<Uuid>,
    Option<Uuid>,
    Option<&'a str>,
    Option<&'a str>,
);

impl Rollup {
    /// Counts one event. An error is a request that did not end cleanly: an error status,
    /// or a stream broken after its start (status 200 with an error code); of those, 429s
    /// are rate limited, 5xx and no answer (status 0) server errors, and the other 4xx
    /// client errors. Time to first token counts streamed requests only. Numbers are
    /// clamped as the event's columns are.
    fn add(&mut self, e: &UsageEvent) {
        let status = e.status;
        self.requests += 1;
        if status >= 400 || status == 0 || e.error_code.is_some() {
            self.errors += 1;
        }
        self.prompt_tokens += e.prompt_tokens.map_or(0, |t| i64::from(clamp_i32(t)));
        self.completion_tokens += e.completion_tokens.map_or(0, |t| i64::from(clamp_i32(t)));
        let latency = i64::from(clamp_i32(e.latency_ms));
        self.latency_ms_sum += latency;
        self.latency_hist[histogram::bucket_of(latency)] += 1;
        if let (true, Some(ttft)) = (e.stream, e.ttft_ms) {
            let ttft = i64::from(clamp_i32(ttft));
            self.ttft_ms_sum += ttft;
            self.ttft_count += 1;
            self.ttft_hist[histogram::bucket_of(ttft)] += 1;
        }
        match status {
            429 => self.rate_limited += 1,
            0 | 500.. => self.server_errors += 1,
            400..=499 => self.client_errors += 1,
            _ => {}
        }
    }
}

/// The rollup rows of `events`, hourly and daily, sorted by key.
fn rollups<'a>(
    events: impl Iterator<Item = &'a UsageEvent>,
) -> std::collections::BTreeMap<RollupKey<'a>, Rollup> {
    use chrono::{DurationRound, TimeDelta};
    let mut rows = std::collections::BTreeMap::<RollupKey<'a>, Rollup>::new();
    for e in events {
        let spans = [
            ("day", TimeDelta::try_days(1)),
            ("hour", TimeDelta::try_hours(1)),
        ];
        for (granularity, span) in spans {
            let bucket = span
                .and_then(|span| e.created_at.duration_trunc(span).ok())
                .unwrap_or(e.created_at);
            let key = (
                granularity,
                bucket,
                e.tenant_id,
                e.member_id,
                e.api_key_id,
                e.provider.as_deref(),
                e.model.as_deref(),
            );
            rows.entry(key).or_default().add(e);
        }
    }
    rows
}

/// Adds `events` to the hourly and daily rollups: every column adds to what is there (sums
/// and counts, histograms bucket by bucket with `freeway_hist_add` from V5). Rows go in key
/// order, so that two writers touching the same rows cannot deadlock.
async fn upsert_rollups<'a>(
    tx: &mut sqlx::PgConnection,
    events: impl Iterator<Item = &'a UsageEvent>,
) -> Result<(), StoreError> {
    let rows = rollups(events);
    if rows.is_empty() {
        return Ok(());
    }
    let n = rows.len();
    let mut granularity = Vec::with_capacity(n);
    let mut bucket = Vec::with_capacity(n);
    let mut tenant = Vec::with_capacity(n);
    let mut member = Vec::with_capacity(n);
    let mut key = Vec::with_capacity(n);
    let mut provider = Vec::with_capacity(n);
    let mut model = Vec::with_capacity(n);
    let mut numbers: [Vec<i64>; 10] = Default::default();
    let mut latency_hist = Vec::with_capacity(n);
    let mut ttft_hist = Vec::with_capacity(n);
    let literal = |h: &[i64]| {
        let counts: Vec<String> = h.iter().map(i64::to_string).collect();
        format!("{{{}}}", counts.join(","))
    };
    for ((g, b, t, m, k, p, mo), r) in &rows {
        granularity.push(*g);
        bucket.push(*b);
        tenant.push(*t);
        member.push(*m);
        key.push(*k);
        provider.push(*p);
        model.push(*mo);
        let values = [
            r.requests,
            r.errors,
            r.prompt_tokens,
            r.completion_tokens,
            r.latency_ms_sum,
            r.ttft_ms_sum,
            r.ttft_count,
            r.rate_limited,
            r.server_errors,
            r.client_errors,
        ];
        for (column, value) in numbers.iter_mut().zip(values) {
            column.push(value);
        }
        latency_hist.push(literal(&r.latency_hist));
        ttft_hist.push(literal(&r.ttft_hist));
    }
    let [
        requests,
        errors,
        prompt,
        completion,
        latency_sum,
        ttft_sum,
        ttft_count,
        rate_limited,
        server_errors,
        client_errors,
    ] = numbers;
    sqlx::query(ROLLUP_UPSERT)
        .bind(granularity)
        .bind(bucket)
        .bind(tenant)
        .bind(member)
        .bind(key)
        .bind(provider)
        .bind(model)
        .bind(requests)
        .bind(errors)
        .bind(prompt)
        .bind(completion)
        .bind(latency_sum)
        .bind(latency_hist)
        .bind(ttft_sum)
        .bind(ttft_count)
        .bind(ttft_hist)
        .bind(rate_limited)
        .bind(server_errors)
        .bind(client_errors)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

const ROLLUP_UPSERT: &str = "
    INSERT INTO usage_rollups AS r (granularity, bucket, tenant_id, member_id, api_key_id,
        provider, model, requests, errors, prompt_tokens, completion_tokens, latency_ms_sum,
        latency_hist, ttft_ms_sum, ttft_count, ttft_hist, rate_limited, server_errors,
        client_errors)
    SELECT g, b, t, m, k, p, mo, req, err, pt, ct, ls, lh::bigint[], ts, tc, th::bigint[],
        rl, se, ce
    FROM unnest($1::text[], $2::timestamptz[], $3::uuid[], $4::uuid[], $5::uuid[],
        $6::text[], $7::text[], $8::int8[], $9::int8[], $10::int8[], $11::int8[],
        $12::int8[], $13::text[], $14::int8[], $15::int8[], $16::text[], $17::int8[],
        $18::int8[], $19::int8[])
        WITH ORDINALITY AS u(g, b, t, m, k, p, mo, req, err, pt, ct, ls, lh, ts, tc, th, rl, se,
            ce, n)
    ORDER BY n
    ON CONFLICT (granularity, bucket, tenant_id, member_id, api_key_id, provider, model)
    DO UPDATE SET requests = r.requests + EXCLUDED.requests,
        errors = r.errors + EXCLUDED.errors,
        prompt_tokens = r.prompt_tokens + EXCLUDED.prompt_tokens,
        completion_tokens = r.completion_tokens + EXCLUDED.completion_tokens,
        latency_ms_sum = r.latency_ms_sum + EXCLUDED.latency_ms_sum,
        latency_hist = freeway_hist_add(r.latency_hist, EXCLUDED.latency_hist),
        ttft_ms_sum = r.ttft_ms_sum + EXCLUDED.ttft_ms_sum,
        ttft_count = r.ttft_count + EXCLUDED.ttft_count,
        ttft_hist = freeway_hist_add(r.ttft_hist, EXCLUDED.ttft_hist),
        rate_limited = r.rate_limited + EXCLUDED.rate_limited,
        server_errors = r.server_errors + EXCLUDED.server_errors,
        client_errors = r.client_errors + EXCLUDED.client_errors";

fn clamp_i32(value: u64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn an_event_id_lies_between_the_id_bounds_of_its_time() {
        let at = "2026-12-05T10:20:30.456Z".parse::<DateTime<Utc>>().unwrap();
        let mut event = UsageEvent::new("chat.completions");
        let millis = u64::try_from(at.timestamp_millis()).unwrap();
        for random in [[0u8; 10], [0xff; 10], [0x5a; 10]] {
            event.id = uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
            assert!(id_floor(at) <= event.id);
            assert!(event.id < id_ceiling(at));
            // Within the margin either way, and never outside it.
            let ms = |n| chrono::TimeDelta::try_milliseconds(n).unwrap();
            let margin = ms(ID_TIME_MARGIN_MS);
            assert!(id_floor(at + margin) <= event.id);
            assert!(id_floor(at + margin + ms(1)) > event.id);
            assert!(id_ceiling(at - margin) > event.id);
            assert!(id_ceiling(at - margin - ms(1)) <= event.id);
        }
        assert_eq!(id_floor(DateTime::UNIX_EPOCH), Uuid::nil());
    }

    fn event(at: DateTime<Utc>, status: u16, stream: bool, latency_ms: u64) -> UsageEvent {
        UsageEvent {
            id: Uuid::now_v7(),
            created_at: at,
            status,
            stream,
            latency_ms,
            ttft_ms: Some(latency_ms / 2),
            prompt_tokens: Some(10),
            completion_tokens: (status == 200).then_some(5),
            provider: Some("p".into()),
            model: Some("m".into()),
            ..UsageEvent::placeholder("chat.completions")
        }
    }

    #[test]
    fn a_batch_rolls_up_into_one_row_per_hour_and_day_with_its_error_classes() {
        let at = |h, m| Utc.with_ymd_and_hms(2026, 12, 5, h, m, 7).unwrap();
        let mut broken = event(at(10, 5), 200, true, 120);
        broken.error_code = Some("stream_broken".into());
        let events = [
            event(at(10, 1), 200, false, 40),
            event(at(10, 59), 429, false, 5),
            event(at(10, 30), 503, false, 70_000),
            event(at(10, 31), 0, false, 100),
            event(at(10, 32), 400, false, 60),
            broken,
            event(at(11, 0), 200, true, 300),
        ];
        let rows = rollups(events.iter());
        let keys: Vec<(&str, DateTime<Utc>)> = rows.keys().map(|k| (k.0, k.1)).collect();
        let day = Utc.with_ymd_and_hms(2026, 12, 5, 0, 0, 0).unwrap();
        let hour = |h| Utc.with_ymd_and_hms(2026, 12, 5, h, 0, 0).unwrap();
        assert_eq!(keys, [("day", day), ("hour", hour(10)), ("hour", hour(11))]);

        let ten = &rows[&("hour", hour(10), None, None, None, Some("p"), Some("m"))];
        assert_eq!(ten.requests, 6);
        // 429, 503, no answer, 400 and the broken stream.
        assert_eq!(ten.errors, 5);
        assert_eq!(
            (ten.rate_limited, ten.server_errors, ten.client_errors),
            (1, 2, 1)
        );
        assert_eq!(ten.prompt_tokens, 60);
        assert_eq!(ten.completion_tokens, 10);
        assert_eq!(ten.latency_ms_sum, 40 + 5 + 70_000 + 100 + 60 + 120);
        let mut latency = [0; histogram::BUCKETS];
        for ms in [40, 5, 70_000, 100, 60, 120] {
            latency[histogram::bucket_of(ms)] += 1;
        }
        assert_eq!(ten.latency_hist, latency);
        // Only the streamed request counts a time to first token.
        assert_eq!((ten.ttft_count, ten.ttft_ms_sum), (1, 60));
        assert_eq!(ten.ttft_hist[histogram::bucket_of(60)], 1);

        let whole = &rows[&("day", day, None, None, None, Some("p"), Some("m"))];
        assert_eq!(whole.requests, 7);
        assert_eq!((whole.ttft_count, whole.ttft_ms_sum), (2, 60 + 150));
    }
}
