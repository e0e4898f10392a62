//! The first page for every role, over 24 h, 7 d, 30 d or custom dates (in the URL): a
//! member's own use, a tenant admin's tenant by member, key and model, and an instance
//! admin's pool (providers' success and latency, routes cooling and why, tenants by use).

use chrono::Utc;
use freeway_wire::auth::Role;
use freeway_wire::page::List;
use freeway_wire::pool::CooldownView;
use freeway_wire::usage::{
    Granularity, GroupBy, SummaryQuery, TimeParam, TimeseriesQuery, UsageGroup, UsageSummary,
    UsageTimeseries, UsageTotals,
};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use uuid::Uuid;

use crate::prefs::{self, use_prefs};

mod quotas;
use crate::time::{self, Range};
use crate::ui::{BarChart, Empty, ErrorBanner, Loading, PageHead, Series, keep, thousands};
use crate::{api, session};

/// What every query of the page shares: the window and the scope.
#[derive(Debug, Clone, PartialEq)]
struct Scope {
    range: Range,
    from: TimeParam,
    to: TimeParam,
    tenant: Option<Uuid>,
}

fn summary(scope: &Scope, group_by: Option<GroupBy>) -> String {
    api::with_query(
        "/admin/v1/usage/summary",
        &SummaryQuery {
            from: Some(scope.from),
            to: Some(scope.to),
            group_by,
            tenant_id: scope.tenant,
            ..SummaryQuery::default()
        },
    )
}

#[component]
pub fn Overview() -> impl IntoView {
    let query = use_query_map();
    let prefs = use_prefs();
    let me = session::me();
    let role = me.as_ref().map(|m| m.role).unwrap_or(Role::Member);
    let range = Memo::new(move |_| {
        query.with(|q| {
            Range::parse(
                q.get("range").as_deref(),
                q.get("from").as_deref(),
                q.get("to").as_deref(),
            )
        })
    });
    let scope = Memo::new(move |_| {
        let (from, to) = range.get().window(Utc::now(), prefs.tz.get());
        let tenant = if role == Role::InstanceAdmin {
            prefs.tenant.get()
        } else {
            None
        };
        Scope {
            range: range.get(),
            from: TimeParam(from),
            to: TimeParam(to),
            tenant,
        }
    });
    view! {
        <PageHead title="Overview">
            <RangePicker range />
        </PageHead>
        <p class="muted" data-testid="zone-note">"Times in " {move || prefs.tz.get().name()} "."</p>
        <Totals scope />
        <Timeline scope />
        {match role {
            Role::Member => view! { <Breakdown scope by=GroupBy::Model title="By model" /> }.into_any(),
            Role::TenantAdmin => view! {
                <Breakdown scope by=GroupBy::Member title="By member" />
                <Breakdown scope by=GroupBy::ApiKey title="By api key" />
                <Breakdown scope by=GroupBy::Model title="By model" />
            }.into_any(),
            Role::InstanceAdmin => view! {
                <Cooling />
                <Breakdown scope by=GroupBy::Provider title="Providers" />
                <quotas::NearQuotas />
                <Breakdown scope by=GroupBy::Tenant title="Tenants by use" />
                <Breakdown scope by=GroupBy::Model title="By model" />
            }.into_any(),
        }}
    }
}

/// 24 h · 7 d · 30 d · custom dates, written to the URL.
#[component]
fn RangePicker(range: Memo<Range>) -> impl IntoView {
    let navigate = StoredValue::new(use_navigate());
    let go =
        move |query: String| navigate.with_value(|n| n(&format!("/?{query}"), Default::default()));
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let presets = [Range::Day, Range::Week, Range::Month].map(|r| {
        view! {
            <button type="button" data-testid=format!("range-{}", r.slug())
                aria-pressed=move || (range.get() == r).to_string()
                on:click=move |_| go(format!("range={}", r.slug()))>{r.slug()}</button>
        }
    });
    view! {
        <div class="row" role="group" aria-label="Range">
            {presets}
            <label class="inline">"From" <input type="date" data-testid="range-from" on:input=move |ev| from.set(event_target_value(&ev)) /></label>
            <label class="inline">"To" <input type="date" data-testid="range-to" on:input=move |ev| to.set(event_target_value(&ev)) /></label>
            <button type="button" data-testid="range-custom" disabled=move || from.get().is_empty() || to.get().is_empty()
                on:click=move |_| go(format!("range=custom&from={}&to={}", from.get_untracked(), to.get_untracked()))>"Apply"</button>
        </div>
    }
}

/// Mean and p95 time to first token; "–" without streamed requests.
fn ttft(t: &UsageTotals) -> String {
    match (t.avg_ttft_ms, t.p95_ttft_ms) {
        (Some(avg), Some(p95)) => format!("{} · {} ms", thousands(avg), thousands(p95)),
        (Some(avg), None) => format!("{} ms", thousands(avg)),
        _ => "–".into(),
    }
}

fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "–".into();
    }
    format!("{:.1}%", 100.0 * part as f64 / whole as f64)
}

#[component]
fn Stat(
    #[prop(into)] label: String,
    #[prop(into)] value: String,
    #[prop(into)] testid: String,
) -> impl IntoView {
    view! { <div class="stat" data-testid=testid><span class="value">{value}</span><span class="label">{label}</span></div> }
}

#[component]
fn Totals(scope: Memo<Scope>) -> impl IntoView {
    let data = LocalResource::new(move || {
        let path = summary(&scope.get(), None);
        async move { api::get::<UsageSummary>(&path).await }
    });
    let (last, error) = keep(data);
    view! {
        <ErrorBanner error />
        {move || match last.get().map(|s| s.total) {
            None => view! { <Loading /> }.into_any(),
            Some(t) => view! {
                <div class="cards" data-testid="totals" data-requests=t.requests.to_string()>
                    <Stat label="Requests" value=thousands(t.requests) testid="stat-requests" />
                    <Stat label="Errors" value=format!("{} ({})", thousands(t.errors), percent(t.errors, t.requests)) testid="stat-errors" />
                    <Stat label="Tokens" value=thousands(t.total_tokens) testid="stat-tokens" />
                    <Stat label="Latency p50 · p95" value=format!("{} · {} ms", thousands(t.p50_latency_ms), thousands(t.p95_latency_ms)) testid="stat-latency" />
                    <Stat label="Time to first token, mean · p95" value=ttft(&t) testid="stat-ttft" />
                    <Stat label="429s · 5xx · other 4xx" value=format!("{} · {} · {}", thousands(t.rate_limited), thousands(t.server_errors), thousands(t.client_errors)) testid="stat-error-classes" />
                </div>
            }.into_any(),
        }}
    }
}

/// Requests (ok and failed) per hour over 24 h, else per day of the viewer's zone: hours are
/// fetched and regrouped here, since the server's days are UTC days.
#[component]
fn Timeline(scope: Memo<Scope>) -> impl IntoView {
    let prefs = use_prefs();
    let data = LocalResource::new(move || {
        let s = scope.get();
        let path = api::with_query(
            "/admin/v1/usage/timeseries",
            &TimeseriesQuery {
                granularity: Some(Granularity::Hour),
                from: Some(s.from),
                to: Some(s.to),
                tenant_id: s.tenant,
                ..TimeseriesQuery::default()
            },
        );
        async move { api::get::<UsageTimeseries>(&path).await }
    });
    let (last, error) = keep(data);
    let chart = move || {
        let Some(series) = last.get() else {
            return view! { <Loading /> }.into_any();
        };
        let tz = prefs.tz.get();
        let range = scope.get().range;
        let (labels, buckets): (Vec<String>, Vec<UsageTotals>) = if range.hourly() {
            series
                .points
                .iter()
                .map(|p| (time::hour_label(p.bucket, tz), p.totals.clone()))
                .unzip()
        } else {
            let now = Utc::now();
            time::local_days(
                &series.points,
                tz,
                range.first_day(now, tz),
                range.last_day(now, tz),
            )
            .into_iter()
            .map(|(d, t)| (time::day_label(d), t))
            .unzip()
        };
        let ok: Vec<i64> = buckets
            .iter()
            .map(|t| t.requests.saturating_sub(t.errors))
            .collect();
        let limited: Vec<i64> = buckets.iter().map(|t| t.rate_limited).collect();
        let server: Vec<i64> = buckets.iter().map(|t| t.server_errors).collect();
        // Client errors, and streams broken after they began.
        let other: Vec<i64> = buckets
            .iter()
            .map(|t| {
                t.errors
                    .saturating_sub(t.rate_limited)
                    .saturating_sub(t.server_errors)
                    .max(0)
            })
            .collect();
        let prompt: Vec<i64> = buckets.iter().map(|t| t.prompt_tokens).collect();
        let completion: Vec<i64> = buckets.iter().map(|t| t.completion_tokens).collect();
        let per = if range.hourly() { "hour" } else { "day" };
        view! {
            <div class="charts">
                <BarChart title=format!("Requests per {per} ({})", tz.name()) labels=labels.clone() testid="chart-requests"
                    series=vec![
                        Series { name: "ok".into(), class: "s1", values: ok },
                        Series { name: "429".into(), class: "s4", values: limited },
                        Series { name: "5xx".into(), class: "s2", values: server },
                        Series { name: "other errors".into(), class: "s3", values: other },
                    ] />
                <BarChart title=format!("Tokens per {per}") labels testid="chart-tokens"
                    series=vec![
                        Series { name: "prompt".into(), class: "s1", values: prompt },
                        Series { name: "completion".into(), class: "s3", values: completion },
                    ] />
            </div>
        }.into_any()
    };
    view! { <ErrorBanner error /> {chart} }
}

#[component]
fn Breakdown(scope: Memo<Scope>, by: GroupBy, #[prop(into)] title: String) -> impl IntoView {
    let data = LocalResource::new(move || {
        let path = summary(&scope.get(), Some(by));
        async move { api::get::<UsageSummary>(&path).await }
    });
    // A failed breakdown shows its error rather than loading forever.
    let (last, error) = keep(data);
    let slug = format!("{by:?}").to_lowercase();
    view! {
        <section data-testid=format!("breakdown-{slug}")>
            <h2>{title}</h2>
            <ErrorBanner error />
            {move || match last.get().map(|s| s.groups) {
                None => view! { <Loading /> }.into_any(),
                Some(groups) if groups.is_empty() => view! { <Empty text="No requests in this range." /> }.into_any(),
                Some(groups) => view! { <GroupTable groups /> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn GroupTable(groups: Vec<UsageGroup>) -> impl IntoView {
    let top = groups
        .iter()
        .map(|g| g.totals.requests)
        .max()
        .unwrap_or(1)
        .max(1);
    let rows: Vec<_> = groups
        .into_iter()
        .take(20)
        .map(|g| {
            let name = g.label.clone().or(g.key.clone()).unwrap_or_else(|| "(none)".into());
            let t = g.totals;
            let width = 100.0 * t.requests as f64 / top as f64;
            view! {
                <tr data-testid="group-row" data-key=g.key.unwrap_or_default() data-requests=t.requests.to_string()>
                    <td>{name}</td>
                    <td class="num">{thousands(t.requests)}</td>
                    <td><div class="meter" title=format!("{} requests", t.requests)><span style=format!("width:{width:.0}%")></span></div></td>
                    <td class="num">{percent(t.requests.saturating_sub(t.errors), t.requests)}</td>
                    <td class="num">{thousands(t.total_tokens)}</td>
                    <td class="num">{format!("{} · {} ms", thousands(t.p50_latency_ms), thousands(t.p95_latency_ms))}</td>
                    <td class="num">{ttft(&t)}</td>
                    <td class="num">{format!("{} · {}", thousands(t.rate_limited), thousands(t.server_errors))}</td>
                </tr>
            }
        })
        .collect();
    view! {
        <div class="table-wrap">
            <table class="table">
                <thead><tr><th>"Name"</th><th class="num">"Requests"</th><th>"Share"</th><th class="num">"Success"</th><th class="num">"Tokens"</th><th class="num">"Latency p50 · p95"</th><th class="num">"TTFT mean · p95"</th><th class="num">"429 · 5xx"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// Routes, credentials, providers and models benched right now, and why.
#[component]
fn Cooling() -> impl IntoView {
    let data = LocalResource::new(|| async {
        api::get::<List<CooldownView>>("/admin/v1/cooldowns").await
    });
    let now = RwSignal::new(Utc::now());
    leptos::task::spawn_local(async move {
        loop {
            gloo_timers::future::TimeoutFuture::new(1_000).await;
            if now.try_set(Utc::now()).is_some() {
                break;
            }
        }
    });
    view! {
        <section data-testid="cooling">
            <h2>"Cooling down"</h2>
            {move || match data.get() {
                None => view! { <Loading /> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e.message}</p> }.into_any(),
                Some(Ok(list)) if list.data.is_empty() => view! { <Empty text="Nothing is cooling down." /> }.into_any(),
                Some(Ok(list)) => {
                    let tz = prefs::tz();
                    view! {
                        <div class="table-wrap"><table class="table">
                            <thead><tr><th>"What"</th><th>"Why"</th><th>"Until"</th><th>"Left"</th></tr></thead>
                            <tbody>{list.data.into_iter().map(|c| {
                                let until = c.until;
                                view! {
                                    <tr data-testid="cooling-row">
                                        <td>{c.scope.as_str()} " " {c.label.unwrap_or(c.scope_key)}</td>
                                        <td>{c.reason}</td>
                                        <td>{time::format(until, tz)}</td>
                                        <td>{move || time::countdown(until, now.get())}</td>
                                    </tr>
                                }
                            }).collect::<Vec<_>>()}</tbody>
                        </table></div>
                        <p><a href="/routing?tab=state">"Routing state"</a></p>
                    }.into_any()
                }
            }}
        </section>
    }
}
