//! Usage analytics from the rollups, the request log, the audit log and settings.

use chrono::{DateTime, DurationRound, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub const FILTER_MAX_CHARS: usize = 300;
pub const MAX_POINTS: i64 = 2_000;

/// A time in a query string: RFC 3339 (`2025-03-01T12:00:00Z`) or a UTC date (`2025-03-01`,
/// its midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TimeParam(pub DateTime<Utc>);

impl TimeParam {
    pub fn parse(text: &str) -> Option<TimeParam> {
        let text = text.trim();
        let rfc3339 = |t: &str| DateTime::parse_from_rfc3339(t).map(|at| at.with_timezone(&Utc));
        // An unencoded `+` in a query string arrives as a space.
        rfc3339(text)
            .or_else(|_| rfc3339(&text.replace(' ', "+")))
            .ok()
            .or_else(|| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|t| t.and_utc())
            })
            .map(TimeParam)
    }
}

impl<'de> Deserialize<'de> for TimeParam {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        TimeParam::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(
                "expected an RFC 3339 time (2025-03-01T12:00:00Z) or a date (2025-03-01)",
            )
        })
    }
}

#[cfg(feature = "utoipa")]
impl utoipa::PartialSchema for TimeParam {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
        };
        let string = |format| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(format)))
        };
        OneOfBuilder::new()
            .item(string(KnownFormat::DateTime))
            .item(string(KnownFormat::Date))
            .description(Some("An RFC 3339 time, or a UTC date for its midnight"))
            .into()
    }
}

#[cfg(feature = "utoipa")]
impl utoipa::ToSchema for TimeParam {}

/// What to group totals by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum GroupBy {
    Tenant,
    Member,
    ApiKey,
    Model,
    Provider,
}

/// Rollup resolution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum Granularity {
    Hour,
    #[default]
    Day,
}

impl Granularity {
    /// The value of `usage_rollups.granularity`.
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Hour => "hour",
            Granularity::Day => "day",
        }
    }

    pub fn step(self) -> TimeDelta {
        match self {
            Granularity::Hour => TimeDelta::try_hours(1).unwrap_or_default(),
            Granularity::Day => TimeDelta::try_days(1).unwrap_or_default(),
        }
    }

    /// The start of the (UTC) bucket holding `at`.
    pub fn floor(self, at: DateTime<Utc>) -> DateTime<Utc> {
        at.duration_trunc(self.step()).unwrap_or(at)
    }

    /// The first bucket start at or after `at`.
    pub fn ceil(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let floor = self.floor(at);
        if floor == at {
            at
        } else {
            floor.checked_add_signed(self.step()).unwrap_or(floor)
        }
    }
}

/// `GET /admin/v1/usage/summary`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "utoipa", into_params(parameter_in = Query))]
pub struct SummaryQuery {
    /// Start, rounded down to the hour. Default: 30 days before `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<TimeParam>,
    /// End (exclusive), rounded up to the hour. Default: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<TimeParam>,
    /// One row per tenant, member, api key, model or provider; a single total when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<GroupBy>,
    /// Only this tenant's requests (a tenant admin or member always sees only their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Uuid>,
    /// Only this member's requests (a member always sees only their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<Uuid>,
    /// Only this api key's requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<Uuid>,
    /// The model that served the request, as the provider names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        param(min_length = 1, max_length = 300, pattern = r"^[^\x00]*$")
    )]
    pub model: Option<String>,
    /// Provider name, such as `groq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        param(min_length = 1, max_length = 300, pattern = r"^[^\x00]*$")
    )]
    pub provider: Option<String>,
}

/// `GET /admin/v1/usage/timeseries`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "utoipa", into_params(parameter_in = Query))]
pub struct TimeseriesQuery {
    /// `hour` or `day` (the default); at most 2,000 points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<Granularity>,
    /// Start. Default: 24 hours (hourly) or 30 days (daily) before `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<TimeParam>,
    /// End (exclusive). Default: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<TimeParam>,
    /// Only this tenant's requests (a tenant admin or member always sees only their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Uuid>,
    /// Only this member's requests (a member always sees only their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<Uuid>,
    /// Only this api key's requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        param(min_length = 1, max_length = 300, pattern = r"^[^\x00]*$")
    )]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        param(min_length = 1, max_length = 300, pattern = r"^[^\x00]*$")
    )]
    pub provider: Option<String>,
}

/// Counts over a window.
///
/// Percentiles are estimated from the rollups' fixed-bucket histograms, whose buckets end at
/// 50, 100, 200, 300, 500 and 750 ms, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 30 and 60 s, the last
/// one open: a percentile is the upper bound of the bucket that holds it (so at most that
/// many milliseconds), and 60000 means 60 s or more.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct UsageTotals {
    pub requests: i64,
    /// Requests that did not end cleanly: an error status, or a stream broken after it began.
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    /// Mean latency of the requests, in milliseconds; 0 without requests.
    pub avg_latency_ms: i64,
    /// Median latency in milliseconds: the upper bound of the histogram bucket holding it;
    /// 0 without requests.
    pub p50_latency_ms: i64,
    /// 95th percentile of latency in milliseconds: the upper bound of the histogram bucket
    /// holding it; 0 without requests.
    pub p95_latency_ms: i64,
    /// Mean time to the first token of streamed requests, in milliseconds; null without
    /// streamed requests.
    pub avg_ttft_ms: Option<i64>,
    /// 95th percentile of the time to the first token of streamed requests, in milliseconds:
    /// the upper bound of the histogram bucket holding it; null without streamed requests.
    pub p95_ttft_ms: Option<i64>,
    /// Requests answered 429: rate limited upstream or over a quota.
    pub rate_limited: i64,
    /// Requests answered 5xx, or not answered at all.
    pub server_errors: i64,
    /// Requests answered with a 4xx other than 429.
    pub client_errors: i64,
}

/// The totals of one tenant, member, api key, model or provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct UsageGroup {
    /// The id (tenant, member, api key) or name (model, provider); null for requests without one.
    pub key: Option<String>,
    /// The tenant's, member's or api key's name, when there is one.
    pub label: Option<String>,
    #[serde(flatten)]
    pub totals: UsageTotals,
}

/// Totals over a window, and by group when asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"from": "2026-01-01T00:00:00Z", "to": "2026-01-31T00:00:00Z", "group_by": "model", "total": {"requests": 3, "errors": 1, "prompt_tokens": 20, "completion_tokens": 14, "total_tokens": 34, "avg_latency_ms": 412, "p50_latency_ms": 500, "p95_latency_ms": 750, "avg_ttft_ms": 180, "p95_ttft_ms": 200, "rate_limited": 1, "server_errors": 0, "client_errors": 0}, "groups": [{"key": "llama-3.1-8b-instant", "label": null, "requests": 3, "errors": 1, "prompt_tokens": 20, "completion_tokens": 14, "total_tokens": 34, "avg_latency_ms": 412, "p50_latency_ms": 500, "p95_latency_ms": 750, "avg_ttft_ms": 180, "p95_ttft_ms": 200, "rate_limited": 1, "server_errors": 0, "client_errors": 0}]})))]
pub struct UsageSummary {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub group_by: Option<GroupBy>,
    pub total: UsageTotals,
    /// Busiest first; empty without `group_by`.
    pub groups: Vec<UsageGroup>,
}

/// One bucket of a time series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct UsagePoint {
    /// Start of the UTC hour or day.
    pub bucket: DateTime<Utc>,
    #[serde(flatten)]
    pub totals: UsageTotals,
}

/// Usage per hour or day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct UsageTimeseries {
    pub granularity: Granularity,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Every bucket in the window, empty ones included, oldest first.
    pub points: Vec<UsagePoint>,
}

/// How one attempt of a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum AttemptOutcome {
    /// It answered; this attempt served the request.
    Ok,
    /// Passed over without a call: cooling down, no headroom, a missing capability.
    Skipped,
    /// 429.
    RateLimited,
    /// 5xx.
    ServerError,
    /// 401, 402 or 403: the credential is bad, unpaid or not entitled to the model.
    CredentialRejected,
    /// 404 or 405: the provider does not serve the model or endpoint.
    NotServed,
    /// No answer (or no first chunk) within the provider's timeout.
    Timeout,
    /// Connection refused, reset, DNS, TLS.
    ConnectError,
    /// A 2xx whose body is not what the protocol promises.
    BadResponse,
    /// A stream that ended before any content.
    EmptyStream,
    /// A stream that carried an error event before any content.
    InBandError,
    /// A stream that broke before any content.
    StreamBroken,
    /// The request itself was at fault (400, 413, 422, ...); passed back to the client.
    ClientError,
}

crate::words!(AttemptOutcome {
    Ok => "ok",
    Skipped => "skipped",
    RateLimited => "rate_limited",
    ServerError => "server_error",
    CredentialRejected => "credential_rejected",
    NotServed => "not_served",
    Timeout => "timeout",
    ConnectError => "connect_error",
    BadResponse => "bad_response",
    EmptyStream => "empty_stream",
    InBandError => "in_band_error",
    StreamBroken => "stream_broken",
    ClientError => "client_error",
});

/// One candidate route a request tried, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AttemptEntry {
    pub provider: String,
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<Uuid>,
    pub outcome: AttemptOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `GET /admin/v1/requests`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "utoipa", into_params(parameter_in = Query))]
pub struct RequestsQuery {
    /// Only this tenant's requests (a tenant admin or member always sees only their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Uuid>,
    /// Only this member's requests (a member always sees only their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<Uuid>,
    /// Only this api key's requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<Uuid>,
    /// The model that served the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        param(min_length = 1, max_length = 300, pattern = r"^[^\x00]*$")
    )]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        param(min_length = 1, max_length = 300, pattern = r"^[^\x00]*$")
    )]
    pub provider: Option<String>,
    /// The HTTP status answered, such as 200 or 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", param(minimum = 0, maximum = 999))]
    pub status: Option<u16>,
    /// Requests at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<TimeParam>,
    /// Requests before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<TimeParam>,
    /// Rows per page, 1 to 200 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", param(minimum = 1, maximum = 200))]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Uuid>,
}

/// One `/v1` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"id": "0193a5b1-0000-7000-8000-000000000001", "created_at": "2026-01-05T10:00:00Z", "endpoint": "chat.completions", "tenant_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e20", "member_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e30", "api_key_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e40", "requested_model": "auto", "provider": "groq", "model": "llama-3.1-8b-instant", "credential_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e70", "status": 200, "error_code": null, "stream": true, "prompt_tokens": 9, "completion_tokens": 3, "latency_ms": 412, "ttft_ms": 180, "attempts": 2, "attempt_trail": [{"provider": "gemini", "model": "gemini-2.0-flash", "outcome": "rate_limited", "status": 429, "latency_ms": 95}, {"provider": "groq", "model": "llama-3.1-8b-instant", "credential_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e70", "outcome": "ok", "status": 200, "latency_ms": 317}], "session_id": "078d6cf2"})))]
pub struct RequestEntry {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// `chat.completions`, `embeddings`, ...
    pub endpoint: String,
    pub tenant_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    /// The model name the client asked for (possibly an alias).
    pub requested_model: Option<String>,
    pub provider: Option<String>,
    /// The model that served it.
    pub model: Option<String>,
    pub credential_id: Option<Uuid>,
    pub status: i16,
    pub error_code: Option<String>,
    pub stream: bool,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub latency_ms: i32,
    /// Time to the first streamed token.
    pub ttft_ms: Option<i32>,
    pub attempts: i16,
    /// Every candidate tried, in order.
    pub attempt_trail: Vec<AttemptEntry>,
    pub session_id: Option<String>,
    /// The id the request was answered with in `x-request-id`: the client's own when it
    /// sent a well-formed one, else `id`.
    pub request_id: String,
}

/// `GET /admin/v1/audit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "utoipa", into_params(parameter_in = Query))]
pub struct AuditQuery {
    /// Such as `api_key.create` or `setting.put`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        param(min_length = 1, max_length = 300, pattern = r"^[^\x00]*$")
    )]
    pub action: Option<String>,
    /// Such as `api_key`, `tenant`, `credential`, `setting`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        param(min_length = 1, max_length = 300, pattern = r"^[^\x00]*$")
    )]
    pub target_kind: Option<String>,
    /// Only this tenant's changes (instance admins; a tenant admin always sees only theirs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Uuid>,
    /// Changes at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<TimeParam>,
    /// Changes before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<TimeParam>,
    /// Rows per page, 1 to 200 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", param(minimum = 1, maximum = 200))]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Uuid>,
}

/// One admin change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"id": "0193a5b1-0000-7000-8000-000000000002", "at": "2026-01-05T09:31:00Z", "actor": "admin:admin", "action": "member.create", "target_kind": "member", "target_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e30", "tenant_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e20", "before": null, "after": {"name": "alice", "email": "alice@example.com", "role": "member"}})))]
pub struct AuditRecord {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// `admin:<username>`, `cli:<os user>`, or `system`.
    pub actor: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    pub tenant_id: Option<Uuid>,
    /// The object before the change; secrets are never included.
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<Object>))]
    pub before: Option<Value>,
    /// The object after the change; secrets are never included.
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<Object>))]
    pub after: Option<Value>,
}

/// The JSON Schema `pattern` of a setting key.
pub const SETTING_KEY_PATTERN: &str = r"^[a-z0-9_.]{1,64}$";

/// A named instance setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"key": "ui.title", "value": "Freeway", "updated_at": "2026-01-05T09:40:00Z"})))]
pub struct SettingEntry {
    pub key: String,
    /// Any JSON value.
    pub value: Value,
    pub updated_at: DateTime<Utc>,
}

/// A setting's new value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"value": "Freeway"})))]
pub struct SettingValue {
    /// Any JSON value but null (delete the setting instead); strings without NUL.
    pub value: Value,
}
