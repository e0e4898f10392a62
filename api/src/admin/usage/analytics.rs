//! Totals and time series, read from the hourly and daily rollups only.

use actix_web::{HttpResponse, web};
use chrono::TimeDelta;
use freeway_wire::usage::{
    MAX_POINTS, SummaryQuery, TimeseriesQuery, UsageGroup, UsagePoint, UsageSummary,
    UsageTimeseries, UsageTotals,
};

use super::{FilterParams, scope, window};
use crate::admin::auth::Principal;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminQuery};
use crate::state::AppState;
use crate::store::analytics::{self, Granularity, Totals};

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

/// Usage totals
///
/// From the hourly rollups, optionally grouped; scoped to what you may see.
#[utoipa::path(get, path = "/admin/v1/usage/summary", tag = "usage", operation_id = "usage_summary_get",
    params(SummaryQuery),
    responses(
        (status = 200, description = "Totals over the window, from the hourly and daily rollups", body = UsageSummary),
        (status = 404, description = "Another tenant or member", body = AdminErrorEnvelope),
        (status = 422, description = "A parameter is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn summary(
    principal: Principal,
    state: web::Data<AppState>,
    query: AdminQuery<SummaryQuery>,
) -> Result<HttpResponse, AdminError> {
    let group_by = query.group_by;
    let (from, to) = window(query.from, query.to, days(30))?;
    let filter = scope(
        &principal,
        FilterParams {
            tenant_id: query.tenant_id,
            member_id: query.member_id,
            api_key_id: query.api_key_id,
            model: &query.model,
            provider: &query.provider,
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
        group_by: query.group_by,
        total: from_row(&sum),
        groups,
    }))
}

/// Usage over time
///
/// Hourly or daily points from the rollups; scoped to what you may see.
#[utoipa::path(get, path = "/admin/v1/usage/timeseries", tag = "usage", operation_id = "usage_timeseries_get",
    params(TimeseriesQuery),
    responses(
        (status = 200, description = "One point per bucket, from the rollups of that granularity", body = UsageTimeseries),
        (status = 404, description = "Another tenant or member", body = AdminErrorEnvelope),
        (status = 422, description = "A parameter is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn timeseries(
    principal: Principal,
    state: web::Data<AppState>,
    query: AdminQuery<TimeseriesQuery>,
) -> Result<HttpResponse, AdminError> {
    let granularity = query.granularity.unwrap_or_default();
    let default_span = match granularity {
        Granularity::Hour => days(1),
        Granularity::Day => days(30),
    };
    let (from, to) = window(query.from, query.to, default_span)?;
    let from = granularity.floor(from);
    let step = granularity.step().num_seconds();
    if to.signed_duration_since(from).num_seconds() / step >= MAX_POINTS {
        return Err(AdminError::invalid(
            "from",
            format!("At most {MAX_POINTS} points: narrow the window or use a coarser granularity."),
        ));
    }
    let filter = scope(
        &principal,
        FilterParams {
            tenant_id: query.tenant_id,
            member_id: query.member_id,
            api_key_id: query.api_key_id,
            model: &query.model,
            provider: &query.provider,
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
        granularity,
        from,
        to,
        points,
    }))
}

/// A constant span of whole days (always in range for the small numbers used here).
fn days(n: i64) -> TimeDelta {
    TimeDelta::try_days(n).unwrap_or_default()
}
