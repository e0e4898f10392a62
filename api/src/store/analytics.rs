//! Reading usage back: totals and time series from `usage_rollups` (never from raw events),
//! and the request log from `usage_events`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::StoreError;
use super::histogram;

pub use freeway_wire::usage::{Granularity, GroupBy};

/// Rollup rows of one granularity whose bucket starts in `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub granularity: Granularity,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// The rollup rows that cover `[from, to)` exactly once, widened to whole hours: whole days
/// from the daily rollups, the ragged edges from the hourly ones.
pub fn spans(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Span> {
    let (from, to) = (Granularity::Hour.floor(from), Granularity::Hour.ceil(to));
    if from >= to {
        return Vec::new();
    }
    let (day_from, day_to) = (Granularity::Day.ceil(from), Granularity::Day.floor(to));
    if day_from >= day_to {
        return vec![Span {
            granularity: Granularity::Hour,
            from,
            to,
        }];
    }
    [
        (Granularity::Hour, from, day_from),
        (Granularity::Day, day_from, day_to),
        (Granularity::Hour, day_to, to),
    ]
    .into_iter()
    .filter(|(_, from, to)| from < to)
    .map(|(granularity, from, to)| Span {
        granularity,
        from,
        to,
    })
    .collect()
}

/// Who and what to count; `None` is "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageFilter {
    pub tenant_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub model: Option<String>,
    pub provider: Option<String>,
}

impl UsageFilter {
    /// Appends ` AND <alias>.<column> = $n` for each set field.
    fn push(&self, query: &mut QueryBuilder<Postgres>, alias: &str) {
        for (column, value) in [
            ("tenant_id", self.tenant_id),
            ("member_id", self.member_id),
            ("api_key_id", self.api_key_id),
        ] {
            if let Some(value) = value {
                query.push(format!(" AND {alias}.{column} = "));
                query.push_bind(value);
            }
        }
        for (column, value) in [("model", &self.model), ("provider", &self.provider)] {
            if let Some(value) = value {
                query.push(format!(" AND {alias}.{column} = "));
                query.push_bind(value.clone());
            }
        }
    }
}

/// The rollup column grouped on, and how to name a group for people.
fn group_sql(group: GroupBy) -> (&'static str, &'static str, &'static str) {
    match group {
        GroupBy::Tenant => (
            "r.tenant_id",
            "l.name",
            "LEFT JOIN tenants l ON l.id = g.key",
        ),
        GroupBy::Member => (
            "r.member_id",
            "l.name",
            "LEFT JOIN members l ON l.id = g.key",
        ),
        GroupBy::ApiKey => (
            "r.api_key_id",
            "coalesce(nullif(l.name, ''), l.display_prefix)",
            "LEFT JOIN api_keys l ON l.id = g.key",
        ),
        GroupBy::Model => ("r.model", "NULL::text", ""),
        GroupBy::Provider => ("r.provider", "NULL::text", ""),
    }
}

/// Sums over rollup rows; `key` and `label` name the group when grouped.
#[derive(Debug, Clone, Default, PartialEq, Eq, FromRow)]
pub struct Totals {
    pub key: Option<String>,
    pub label: Option<String>,
    #[sqlx(flatten)]
    pub sums: Sums,
}

/// What rollup rows add up to. Histograms are bucket counts (`usage::histogram`), possibly
/// shorter than every bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, FromRow)]
pub struct Sums {
    pub requests: i64,
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub latency_ms_sum: i64,
    pub latency_hist: Vec<i64>,
    pub ttft_ms_sum: i64,
    pub ttft_count: i64,
    pub ttft_hist: Vec<i64>,
    pub rate_limited: i64,
    pub server_errors: i64,
    pub client_errors: i64,
}

impl Sums {
    /// Adds `other` in: counts and sums, histograms bucket by bucket.
    pub fn add(&mut self, other: &Sums) {
        for (into, value) in [
            (&mut self.requests, other.requests),
            (&mut self.errors, other.errors),
            (&mut self.prompt_tokens, other.prompt_tokens),
            (&mut self.completion_tokens, other.completion_tokens),
            (&mut self.latency_ms_sum, other.latency_ms_sum),
            (&mut self.ttft_ms_sum, other.ttft_ms_sum),
            (&mut self.ttft_count, other.ttft_count),
            (&mut self.rate_limited, other.rate_limited),
            (&mut self.server_errors, other.server_errors),
            (&mut self.client_errors, other.client_errors),
        ] {
            *into = into.saturating_add(value);
        }
        histogram::add(&mut self.latency_hist, &other.latency_hist);
        histogram::add(&mut self.ttft_hist, &other.ttft_hist);
    }
}

const SUM_COLUMNS: &str = "requests, errors, prompt_tokens, completion_tokens,
    latency_ms_sum, latency_hist, ttft_ms_sum, ttft_count, ttft_hist, rate_limited,
    server_errors, client_errors";

const SUMS: &str = "coalesce(sum(r.requests), 0)::bigint AS requests,
    coalesce(sum(r.errors), 0)::bigint AS errors,
    coalesce(sum(r.prompt_tokens), 0)::bigint AS prompt_tokens,
    coalesce(sum(r.completion_tokens), 0)::bigint AS completion_tokens,
    coalesce(sum(r.latency_ms_sum), 0)::bigint AS latency_ms_sum,
    freeway_hist_sum(r.latency_hist) AS latency_hist,
    coalesce(sum(r.ttft_ms_sum), 0)::bigint AS ttft_ms_sum,
    coalesce(sum(r.ttft_count), 0)::bigint AS ttft_count,
    freeway_hist_sum(r.ttft_hist) AS ttft_hist,
    coalesce(sum(r.rate_limited), 0)::bigint AS rate_limited,
    coalesce(sum(r.server_errors), 0)::bigint AS server_errors,
    coalesce(sum(r.client_errors), 0)::bigint AS client_errors";

/// Totals over `spans`, one row per group (busiest first), or at most one row when
/// `group_by` is `None`.
pub async fn summary(
    pool: &PgPool,
    spans: &[Span],
    filter: &UsageFilter,
    group_by: Option<GroupBy>,
) -> Result<Vec<Totals>, StoreError> {
    if spans.is_empty() {
        return Ok(Vec::new());
    }
    let (column, label, join) = group_by.map_or(("NULL::text", "NULL::text", ""), group_sql);
    let sums: Vec<String> = SUM_COLUMNS
        .split(',')
        .map(|c| format!("g.{}", c.trim()))
        .collect();
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT g.key::text AS key, {label} AS label, {}
         FROM (SELECT {column} AS key, {SUMS} FROM usage_rollups r WHERE (",
        sums.join(", ")
    ));
    for (i, span) in spans.iter().enumerate() {
        if i > 0 {
            query.push(" OR ");
        }
        query.push("(r.granularity = ");
        query.push_bind(span.granularity.as_str());
        query.push(" AND r.bucket >= ");
        query.push_bind(span.from);
        query.push(" AND r.bucket < ");
        query.push_bind(span.to);
        query.push(")");
    }
    query.push(")");
    filter.push(&mut query, "r");
    query.push(format!(
        " GROUP BY 1) g {join} ORDER BY g.requests DESC, g.key::text"
    ));
    Ok(query.build_query_as().fetch_all(pool).await?)
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Point {
    pub bucket: DateTime<Utc>,
    #[sqlx(flatten)]
    pub sums: Sums,
}

/// One point per bucket of `granularity` from `floor(from)` up to `to` (exclusive), empty
/// buckets included, read from that granularity's rollups.
pub async fn timeseries(
    pool: &PgPool,
    granularity: Granularity,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    filter: &UsageFilter,
) -> Result<Vec<Point>, StoreError> {
    let from = granularity.floor(from);
    if from >= to {
        return Ok(Vec::new());
    }
    // Fixed-length steps: a day is 24 hours in UTC whatever the session's time zone.
    let step = match granularity {
        Granularity::Hour => "1 hour",
        Granularity::Day => "24 hours",
    };
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT s.bucket, {SUMS}
         FROM generate_series("
    ));
    query.push_bind(from);
    query.push("::timestamptz, ");
    query.push_bind(to);
    query.push(format!(
        "::timestamptz - interval '1 microsecond', interval '{step}') AS s(bucket)
         LEFT JOIN usage_rollups r ON r.bucket = s.bucket AND r.granularity = "
    ));
    query.push_bind(granularity.as_str());
    filter.push(&mut query, "r");
    query.push(" GROUP BY s.bucket ORDER BY s.bucket");
    Ok(query.build_query_as().fetch_all(pool).await?)
}

/// One `/v1` request with its attempt trail.
#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub endpoint: String,
    pub tenant_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub requested_model: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub credential_id: Option<Uuid>,
    pub status: i16,
    pub error_code: Option<String>,
    pub stream: bool,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub latency_ms: i32,
    pub ttft_ms: Option<i32>,
    pub attempts: i16,
    pub attempt_trail: Value,
    pub session_id: Option<String>,
    /// The client's own request id, when it sent one.
    pub request_id: Option<String>,
}

const EVENT_COLUMNS: &str = "e.id, e.created_at, e.endpoint, e.tenant_id, e.member_id,
    e.api_key_id, e.requested_model, e.provider, e.model, e.credential_id, e.status,
    e.error_code, e.stream, e.prompt_tokens, e.completion_tokens, e.latency_ms, e.ttft_ms,
    e.attempts, e.attempt_trail, e.session_id, e.request_id";

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub usage: UsageFilter,
    pub status: Option<i16>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Newest first; `cursor` is the id of the last row of the previous page. Fetches
/// `limit + 1` rows so that the caller can tell whether there is a next page.
pub async fn list_events(
    pool: &PgPool,
    filter: &EventFilter,
    cursor: Option<Uuid>,
    limit: u32,
) -> Result<Vec<EventRow>, StoreError> {
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {EVENT_COLUMNS} FROM usage_events e WHERE true"
    ));
    filter.usage.push(&mut query, "e");
    if let Some(status) = filter.status {
        query.push(" AND e.status = ");
        query.push_bind(status);
    }
    // Each bound of time is also a bound of ids, so that the page is found through the
    // primary key or the (tenant, member or key, id) index (see `usage::id_floor`).
    if let Some(from) = filter.from {
        query.push(" AND e.created_at >= ");
        query.push_bind(from);
        query.push(" AND e.id >= ");
        query.push_bind(super::usage::id_floor(from));
    }
    if let Some(to) = filter.to {
        query.push(" AND e.created_at < ");
        query.push_bind(to);
        query.push(" AND e.id < ");
        query.push_bind(super::usage::id_ceiling(to));
    }
    if let Some(cursor) = cursor {
        query.push(" AND e.id < ");
        query.push_bind(cursor);
    }
    query.push(" ORDER BY e.id DESC LIMIT ");
    query.push_bind(i64::from(limit) + 1);
    Ok(query.build_query_as().fetch_all(pool).await?)
}

pub async fn find_event(pool: &PgPool, id: Uuid) -> Result<Option<EventRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM usage_events e WHERE e.id = $1 LIMIT 1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// The newest event a client's own request id names, within a tenant or a member when
/// given (several requests may carry one id: a client's retries).
pub async fn find_event_by_request_id(
    pool: &PgPool,
    request_id: &str,
    tenant_id: Option<Uuid>,
    member_id: Option<Uuid>,
) -> Result<Option<EventRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM usage_events e WHERE e.request_id = $1
           AND ($2::uuid IS NULL OR e.tenant_id = $2)
           AND ($3::uuid IS NULL OR e.member_id = $3)
         ORDER BY e.id DESC LIMIT 1"
    )))
    .bind(request_id)
    .bind(tenant_id)
    .bind(member_id)
    .fetch_optional(pool)
    .await?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn spans_cover_whole_days_from_daily_rollups_and_edges_from_hourly_ones() {
        assert_eq!(
            spans(at("2025-03-01T10:30:00Z"), at("2025-03-03T05:10:00Z")),
            vec![
                Span {
                    granularity: Granularity::Hour,
                    from: at("2025-03-01T10:00:00Z"),
                    to: at("2025-03-02T00:00:00Z"),
                },
                Span {
                    granularity: Granularity::Day,
                    from: at("2025-03-02T00:00:00Z"),
                    to: at("2025-03-03T00:00:00Z"),
                },
                Span {
                    granularity: Granularity::Hour,
                    from: at("2025-03-03T00:00:00Z"),
                    to: at("2025-03-03T06:00:00Z"),
                },
            ]
        );
        // Aligned on days: daily rollups only.
        assert_eq!(
            spans(at("2025-03-01T00:00:00Z"), at("2025-03-08T00:00:00Z")),
            vec![Span {
                granularity: Granularity::Day,
                from: at("2025-03-01T00:00:00Z"),
                to: at("2025-03-08T00:00:00Z"),
            }]
        );
        // Within one day: hourly rollups only.
        assert_eq!(
            spans(at("2025-03-01T01:00:00Z"), at("2025-03-01T03:00:01Z")),
            vec![Span {
                granularity: Granularity::Hour,
                from: at("2025-03-01T01:00:00Z"),
                to: at("2025-03-01T04:00:00Z"),
            }]
        );
        assert!(spans(at("2025-03-02T00:00:00Z"), at("2025-03-01T00:00:00Z")).is_empty());
    }
}
