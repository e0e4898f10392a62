//! Totals and time series, read from the hourly and daily rollups only.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{FilterText, scope, window};
use crate::admin::auth::Principal;
use crate::admin::error::{AdminError, AdminErrorEnvelope};
use crate::state::AppState;
use crate::store::analytics::{self, Granularity, GroupBy, Totals};

/// What to group totals by.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupByParam {
    Tenant,
    Member,
    ApiKey,
    Model,
    Provider,
}

/// Rollup resolution.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GranularityParam {
    Hour,
    Day,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// Start: RFC 3339 time or UTC date; rounded down to the hour. Default: 30 days before `to`.
    #[param(value_type = Option<String>, example = "2025-03-01")]
    pub from: Option<String>,
    /// End (exclusive): RFC 3339 time or UTC date; rounded up to the hour. Default: now.
    #[param(value_type = Option<String>)]
    pub to: Option<String>,
    /// One row per tenant, member, api key, model or provider; a single total when absent.
    #[param(value_type = Option<GroupByParam>, inline)]
    pub group_by: Option<String>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub tenant_id: Option<String>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub member_id: Option<String>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub api_key_id: Option<String>,
    /// The model that served the request, as the provider names it.
    pub model: Option<String>,
    /// Provider name, such as `groq`.
    pub provider: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimeseriesQuery {
    /// `hour` (at most 2,000 points) or `day`; default `day`.
    #[param(value_type = Option<GranularityParam>, inline)]
    pub granularity: Option<String>,
    /// Start: RFC 3339 time or UTC date. Default: 24 hours (hourly) or 30 days (daily) before `to`.
    #[param(value_type = Option<String>)]
    pub from: Option<String>,
    /// End (exclusive): RFC 3339 time or UTC date. Default: now.
    #[param(value_type = Option<String>)]
    pub to: Option<String>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub tenant_id: Option<String>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub member_id: Option<String>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub api_key_id: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct UsageTotals {
    pub requests: i64,
    /// Requests that did not end cleanly: an error status, or a stream broken after it began.
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    /// Mean latency of the requests, in milliseconds; 0 without requests.
    pub avg_latency_ms: i64,
}

fn mean(sum: i64, count: i64) -> i64 {
    if count > 0 { sum / count } else { 0 }
}

fn from_row(row: &Totals) -> UsageTotals {
    UsageTotals {
        requests: row.requests,
        errors: row.errors,
        prompt_tokens: row.prompt_tokens,
        completion_tokens: row.completion_tokens,
        total_tokens: row.prompt_tokens + row.completion_tokens,
        avg_latency_ms: mean(row.latency_ms_sum, row.requests),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageGroup {
    /// The id (tenant, member, api key) or name (model, provider); null for requests without one.
    pub key: Option<String>,
    /// The tenant's, member's or api key's name, when there is one.
    pub label: Option<String>,
    #[serde(flatten)]
    pub totals: UsageTotals,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageSummary {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[schema(value_type = Option<GroupByParam>)]
    pub group_by: Option<String>,
    pub total: UsageTotals,
    /// Busiest first; empty without `group_by`.
    pub groups: Vec<UsageGroup>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsagePoint {
    /// Start of the UTC hour or day.
    pub bucket: DateTime<Utc>,
    #[serde(flatten)]
    pub totals: UsageTotals,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageTimeseries {
    #[schema(value_type = GranularityParam)]
    pub granularity: &'static str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Every bucket in the window, empty ones included, oldest first.
    pub points: Vec<UsagePoint>,
}

const MAX_POINTS: i64 = 2_000;

#[utoipa::path(get, path = "/admin/v1/usage/summary", tag = "admin",
    params(SummaryQuery),
    responses(
        (status = 200, description = "Totals over the window, from the hourly and daily rollups", body = UsageSummary),
        (status = 401, body = AdminErrorEnvelope),
        (status = 404, description = "Another tenant or member", body = AdminErrorEnvelope),
        (status = 422, description = "A parameter is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn summary(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<SummaryQuery>,
) -> Result<HttpResponse, AdminError> {
    let group_by = query
        .group_by
        .as_deref()
        .map(|g| {
            GroupBy::parse(g).ok_or_else(|| {
                AdminError::invalid(
                    "group_by",
                    "`group_by` must be tenant, member, api_key, model or provider.",
                )
            })
        })
        .transpose()?;
    let (from, to) = window(
        query.from.as_deref(),
        query.to.as_deref(),
        Duration::days(30),
    )?;
    let filter = scope(
        &principal,
        FilterText {
            tenant_id: query.tenant_id.as_deref(),
            member_id: query.member_id.as_deref(),
            api_key_id: query.api_key_id.as_deref(),
            model: query.model.as_deref(),
            provider: query.provider.as_deref(),
        }
        .parse()?,
    )?;
    let spans = analytics::spans(from, to);
    let rows = analytics::summary(&state.db, &spans, &filter, group_by).await?;
    let mut sum = Totals::default();
    let mut groups = Vec::new();
    for row in rows {
        sum.requests += row.requests;
        sum.errors += row.errors;
        sum.prompt_tokens += row.prompt_tokens;
        sum.completion_tokens += row.completion_tokens;
        sum.latency_ms_sum += row.latency_ms_sum;
        if group_by.is_some() {
            groups.push(UsageGroup {
                totals: from_row(&row),
                key: row.key,
                label: row.label,
            });
        }
    }
    Ok(HttpResponse::Ok().json(UsageSummary {
        from: spans.first().map_or(from, |s| s.from),
        to: spans.last().map_or(to, |s| s.to),
        group_by: query.group_by.clone(),
        total: from_row(&sum),
        groups,
    }))
}

#[utoipa::path(get, path = "/admin/v1/usage/timeseries", tag = "admin",
    params(TimeseriesQuery),
    responses(
        (status = 200, description = "One point per bucket, from the rollups of that granularity", body = UsageTimeseries),
        (status = 401, body = AdminErrorEnvelope),
        (status = 404, description = "Another tenant or member", body = AdminErrorEnvelope),
        (status = 422, description = "A parameter is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn timeseries(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<TimeseriesQuery>,
) -> Result<HttpResponse, AdminError> {
    let granularity = match query.granularity.as_deref() {
        None | Some("day") => Granularity::Day,
        Some("hour") => Granularity::Hour,
        Some(_) => {
            return Err(AdminError::invalid(
                "granularity",
                "`granularity` must be hour or day.",
            ));
        }
    };
    let default_span = match granularity {
        Granularity::Hour => Duration::hours(24),
        Granularity::Day => Duration::days(30),
    };
    let (from, to) = window(query.from.as_deref(), query.to.as_deref(), default_span)?;
    let from = granularity.floor(from);
    let step = granularity.step().num_seconds();
    if (to - from).num_seconds() / step >= MAX_POINTS {
        return Err(AdminError::invalid(
            "from",
            format!("At most {MAX_POINTS} points: narrow the window or use a coarser granularity."),
        ));
    }
    let filter = scope(
        &principal,
        FilterText {
            tenant_id: query.tenant_id.as_deref(),
            member_id: query.member_id.as_deref(),
            api_key_id: query.api_key_id.as_deref(),
            model: query.model.as_deref(),
            provider: query.provider.as_deref(),
        }
        .parse()?,
    )?;
    let points = analytics::timeseries(&state.db, granularity, from, to, &filter)
        .await?
        .into_iter()
        .map(|p| UsagePoint {
            bucket: p.bucket,
            totals: from_row(&Totals {
                key: None,
                label: None,
                requests: p.requests,
                errors: p.errors,
                prompt_tokens: p.prompt_tokens,
                completion_tokens: p.completion_tokens,
                latency_ms_sum: p.latency_ms_sum,
            }),
        })
        .collect();
    Ok(HttpResponse::Ok().json(UsageTimeseries {
        granularity: granularity.as_str(),
        from,
        to,
        points,
    }))
}
