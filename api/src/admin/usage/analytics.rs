//! Totals and time series, read from the hourly and daily rollups only.

use actix_web::{HttpResponse, web};
use chrono::TimeDelta;
use freeway_wire::usage::{
    MAX_POINTS, SummaryQuery, TimeseriesQuery, UsageGroup, UsagePoint, UsageSummary,
    UsageTimeseries, UsageTotals,
};

use super::{FilterParams, scope, window};
use crate::admin::AdminState;
use crate::admin::auth::Principal;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminQuery};
use crate::store::analytics::{self, Granularity, Sums};
use crate::store::histogram::percentile;

fn mean(sum: i64, count: i64) -> Option<i64> {
    (count > 0).then(|| sum / count)
}

fn totals(sums: &Sums) -> UsageTotals {
    UsageTotals {
        requests: sums.requests,
        errors: sums.errors,
        prompt_tokens: sums.prompt_tokens,
        completion_tokens: sums.completion_tokens,
        total_tokens: sums.prompt_tokens.saturating_add(sums.completion_tokens),
        avg_latency_ms: mean(sums.latency_ms_sum, sums.requests).unwrap_or(0),
        p50_latency_ms: percentile(&sums.latency_hist, 50).unwrap_or(0),
        p95_latency_ms: percentile(&sums.latency_hist, 95).unwrap_or(0),
        avg_ttft_ms: mean(sums.ttft_ms_sum, sums.ttft_count),
        p95_ttft_ms: percentile(&sums.ttft_hist, 95),
        rate_limited: sums.rate_limited,
        server_errors: sums.server_errors,
        client_errors: sums.client_errors,
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
    state: web::Data<AdminState>,
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
    let mut sum = Sums::default();
    let mut groups = Vec::new();
    for row in rows {
        sum.add(&row.sums);
        if group_by.is_some() {
            groups.push(UsageGroup {
                totals: totals(&row.sums),
                key: row.key,
                label: row.label,
            });
        }
    }
    Ok(HttpResponse::Ok().json(UsageSummary {
        from: spans.first().map_or(from, |s| s.from),
        to: spans.last().map_or(to, |s| s.to),
        group_by: query.group_by,
        total: totals(&sum),
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
    state: web::Data<AdminState>,
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
            totals: totals(&p.sums),
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
