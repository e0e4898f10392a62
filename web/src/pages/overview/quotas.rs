//! "Near their quotas": the instance admin's busiest tenants today and this month, each
//! against its own daily and monthly limits (the UTC day and calendar month the quotas
//! count). Bounded: two summaries and at most ten quota reads, never a scan of every tenant.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use freeway_wire::tenants::QuotaView;
use freeway_wire::usage::{GroupBy, SummaryQuery, TimeParam, UsageSummary};
use leptos::prelude::*;
use uuid::Uuid;

use crate::api;
use crate::ui::{Empty, Loading, thousands};

const TOP: usize = 10;

/// One limit of one tenant and what it used of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Nearness {
    pub tenant: String,
    pub id: Uuid,
    pub limit: &'static str,
    pub used: i64,
    pub of: i64,
}

impl Nearness {
    pub fn share(&self) -> f64 {
        if self.of <= 0 {
            1.0
        } else {
            self.used as f64 / self.of as f64
        }
    }
}

fn utc_midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

fn by_tenant(from: DateTime<Utc>) -> String {
    api::with_query(
        "/admin/v1/usage/summary",
        &SummaryQuery {
            from: Some(TimeParam(from)),
            group_by: Some(GroupBy::Tenant),
            ..SummaryQuery::default()
        },
    )
}

/// Every limit a quota sets, with the use it counts, highest share first.
pub fn nearness(
    tenant: &str,
    id: Uuid,
    quota: &QuotaView,
    today: (i64, i64),
    month_tokens: i64,
) -> Vec<Nearness> {
    let mut out = Vec::new();
    let mut push = |limit, used, of: Option<i64>| {
        if let Some(of) = of {
            out.push(Nearness {
                tenant: tenant.to_string(),
                id,
                limit,
                used,
                of,
            });
        }
    };
    push("requests per day", today.0, quota.rpd.map(i64::from));
    push("tokens per day", today.1, quota.tpd);
    push("tokens per month", month_tokens, quota.tokens_per_month);
    out
}

async fn load() -> api::ApiResult<Vec<Nearness>> {
    let now = Utc::now();
    let today = utc_midnight(now.date_naive());
    let month = utc_midnight(now.date_naive().with_day(1).unwrap_or(now.date_naive()));
    let day: UsageSummary = api::get(&by_tenant(today)).await?;
    let monthly: UsageSummary = api::get(&by_tenant(month)).await?;
    let mut out = Vec::new();
    for group in monthly.groups.iter().take(TOP) {
        let Some(id) = group.key.as_deref().and_then(|k| k.parse::<Uuid>().ok()) else {
            continue;
        };
        let name = group.label.clone().unwrap_or_else(|| id.to_string());
        // A tenant without a quota answers 404: nothing to be near.
        let Ok(quota) = api::get::<QuotaView>(&format!("/admin/v1/tenants/{id}/quota")).await
        else {
            continue;
        };
        let today = day
            .groups
            .iter()
            .find(|g| g.key.as_deref() == group.key.as_deref())
            .map(|g| (g.totals.requests, g.totals.total_tokens))
            .unwrap_or((0, 0));
        out.extend(nearness(
            &name,
            id,
            &quota,
            today,
            group.totals.total_tokens,
        ));
    }
    out.sort_by(|a, b| b.share().total_cmp(&a.share()));
    Ok(out)
}

#[component]
pub fn NearQuotas() -> impl IntoView {
    let data = LocalResource::new(load);
    view! {
        <section data-testid="near-quotas">
            <h2>"Tenants near their quotas"</h2>
            {move || match data.get() {
                None => view! { <Loading /> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e.message}</p> }.into_any(),
                Some(Ok(rows)) if rows.is_empty() => view! {
                    <Empty text="No busy tenant has a daily or monthly quota." />
                }.into_any(),
                Some(Ok(rows)) => view! {
                    <div class="table-wrap"><table class="table">
                        <thead><tr><th>"Tenant"</th><th>"Limit"</th><th class="num">"Used"</th><th>"Share"</th></tr></thead>
                        <tbody>{rows.into_iter().map(|n| {
                            let share = n.share();
                            view! {
                                <tr data-testid="near-quota-row" data-share=format!("{share:.3}")>
                                    <td><a href=format!("/tenants/{}", n.id)>{n.tenant.clone()}</a></td>
                                    <td>{n.limit}</td>
                                    <td class="num">{format!("{} of {}", thousands(n.used), thousands(n.of))}</td>
                                    <td><div class="meter" class:high={share >= 0.8}>
                                        <span style=format!("width:{:.0}%", (share * 100.0).min(100.0))></span>
                                    </div></td>
                                </tr>
                            }
                        }).collect::<Vec<_>>()}</tbody>
                    </table></div>
                }.into_any(),
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_limits_a_quota_sets_count_and_their_share_is_use_over_limit() {
        let quota: QuotaView = serde_json::from_value(serde_json::json!({
            "scope": "tenant", "scope_id": Uuid::nil(), "rpm": null, "rpd": 100, "tpm": null,
            "tpd": null, "tokens_per_month": 1000, "allowed_models": null, "expires_at": null,
            "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        let rows = nearness("team", Uuid::nil(), &quota, (90, 5), 250);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].limit, "requests per day");
        assert!((rows[0].share() - 0.9).abs() < 1e-9);
        assert!((rows[1].share() - 0.25).abs() < 1e-9);
    }
}
