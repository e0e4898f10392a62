//! The router's live state on this instance: every scope (route, credential, provider,
//! model) with its limits, what it learned from the provider, its use in each window, and
//! its cooldown counting down.

use std::time::Duration;

use chrono::{DateTime, Utc};
use freeway_wire::page::List;
use freeway_wire::pool::{ScopeKind, ScopeState};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiError};
use crate::prefs::use_prefs;
use crate::time;
use crate::ui::{Empty, ErrorBanner, Loading, thousands};
use crate::ui::{bump, keep};

/// The current time, ticking every second while the component lives.
fn ticking() -> RwSignal<DateTime<Utc>> {
    let now = RwSignal::new(Utc::now());
    if let Ok(handle) =
        set_interval_with_handle(move || now.set(Utc::now()), Duration::from_secs(1))
    {
        on_cleanup(move || handle.clear());
    }
    now
}

/// `provider`, `model` and `via` of a route's label (`groq/llama-3.3 via …x9Qz`).
fn route_parts(label: &str) -> Option<(&str, &str, &str)> {
    let (target, via) = label.split_once(" via ")?;
    let (provider, model) = target.split_once('/')?;
    Some((provider, model, via))
}

fn matches(s: &ScopeState, text: &str, kind: Option<ScopeKind>, cooling: bool) -> bool {
    let text = text.trim().to_lowercase();
    kind.is_none_or(|k| s.kind == k)
        && (!cooling || s.cooldown.is_some())
        && (text.is_empty()
            || s.scope.to_lowercase().contains(&text)
            || s.label
                .as_deref()
                .is_some_and(|l| l.to_lowercase().contains(&text))
            || s.cooldown
                .as_ref()
                .is_some_and(|c| c.reason.to_lowercase().contains(&text)))
}

#[component]
pub(super) fn RoutingState() -> impl IntoView {
    let version = RwSignal::new(0u32);
    let res = LocalResource::new(move || {
        version.track();
        async move { api::get::<List<ScopeState>>("/admin/v1/routing/state").await }
    });
    let (data, load_error) = keep(res);
    let action_error = RwSignal::new(None::<ApiError>);
    let now = ticking();
    let filter = RwSignal::new(String::new());
    let kind = RwSignal::new(None::<ScopeKind>);
    let cooling = RwSignal::new(false);
    let auto = RwSignal::new(false);
    Effect::new(move |_| {
        let n = now.get();
        if auto.get_untracked() && n.timestamp() % 5 == 0 {
            bump(version);
        }
    });
    let clearing = RwSignal::new(false);
    // One scope's cooldown, or (None) every cooldown.
    let clear = Callback::new(move |scope: Option<String>| {
        clearing.set(true);
        let path = match scope {
            Some(scope) => format!("/admin/v1/cooldowns?scope={}", api::enc(&scope)),
            None => "/admin/v1/cooldowns".to_string(),
        };
        spawn_local(async move {
            match api::delete(&path).await {
                Ok(()) => action_error.set(None),
                Err(e) => action_error.set(Some(e)),
            }
            clearing.set(false);
            bump(version);
        });
    });
    let rows = Memo::new(move |_| {
        let text = filter.get();
        let kind = kind.get();
        let cooling = cooling.get();
        data.with(|d| {
            d.as_ref()
                .map(|l| {
                    l.data
                        .iter()
                        .filter(|s| matches(s, &text, kind, cooling))
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let total = move || data.with(|d| d.as_ref().map(|l| l.data.len()).unwrap_or(0));
    let cooling_count = move || {
        data.with(|d| {
            d.as_ref()
                .map(|l| l.data.iter().filter(|s| s.cooldown.is_some()).count())
                .unwrap_or(0)
        })
    };
    let kinds: Vec<_> = ScopeKind::ALL
        .iter()
        .map(|k| view! { <option value=k.as_str()>{k.as_str()}</option> })
        .collect();
    view! {
        <p class="muted">
            "What this instance's router holds in memory: one row per route (model and credential), \
             credential, provider and model, so the answer is bounded by the size of the pool and \
             the filter works on it in the browser. Used / limit per window; learned limits come \
             from the providers' own rate-limit headers. In a fleet on Redis, what is used is the \
             whole fleet's."
        </p>
        <div class="row" role="search">
            <label class="inline">"Filter"
                <input type="search" data-testid="state-filter" placeholder="provider, model, reason…"
                    prop:value=move || filter.get()
                    on:input=move |ev| filter.set(event_target_value(&ev)) />
            </label>
            <label class="inline">"Kind"
                <select data-testid="state-kind" on:change=move |ev| kind.set(ScopeKind::parse(&event_target_value(&ev)))>
                    <option value="">"All"</option>
                    {kinds}
                </select>
            </label>
            <label class="inline">
                <input type="checkbox" data-testid="state-cooling"
                    prop:checked=move || cooling.get()
                    on:change=move |ev| cooling.set(event_target_checked(&ev)) />
                "Cooling down only"
            </label>
            <label class="inline">
                <input type="checkbox" data-testid="state-auto"
                    prop:checked=move || auto.get()
                    on:change=move |ev| auto.set(event_target_checked(&ev)) />
                "Refresh every 5 s"
            </label>
            <button type="button" data-testid="state-refresh" on:click=move |_| bump(version)>"Refresh"</button>
        </div>
        <p class="muted" data-testid="state-count">
            {move || format!("{} of {} scopes shown; {} cooling down.", rows.with(Vec::len), total(), cooling_count())}
            {move || (cooling_count() > 0).then(|| view! {
                " Clearing is audited; every instance follows within a second. "
                <button type="button" data-testid="cooldown-clear-all" disabled=move || clearing.get()
                    on:click=move |_| clear.run(None)>"Clear every cooldown"</button>
            })}
        </p>
        <ErrorBanner error=load_error />
        <ErrorBanner error=action_error />
        <Show when=move || data.with(Option::is_some) fallback=move || load_error.with(Option::is_none).then(|| view! { <Loading /> })>
            <Show when=move || rows.with(|r| !r.is_empty()) fallback=|| view! { <Empty text="No scope matches." /> }>
                <StateTable rows now clear clearing />
            </Show>
        </Show>
    }
}

#[component]
fn StateTable(
    rows: Memo<Vec<ScopeState>>,
    now: RwSignal<DateTime<Utc>>,
    clear: Callback<Option<String>>,
    clearing: RwSignal<bool>,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="routing-state">
                <thead>
                    <tr>
                        <th>"Scope"</th>
                        <th>"Requests / min"</th>
                        <th>"Requests / hour"</th>
                        <th>"Requests today"</th>
                        <th>"Tokens / min"</th>
                        <th>"Tokens today"</th>
                        <th>"Health"</th>
                        <th>"Cooldown"</th>
                    </tr>
                </thead>
                <tbody>
                    {move || rows.get().into_iter().map(|s| view! { <ScopeRow s now clear clearing /> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// `used / limit`, a meter when there is a limit, and the learned limit when it differs.
fn window(used: u64, limit: Option<u64>, learned: Option<u64>) -> AnyView {
    let n = |v: u64| thousands(i64::try_from(v).unwrap_or(i64::MAX));
    let text = match limit {
        Some(l) => format!("{} / {}", n(used), n(l)),
        None => n(used),
    };
    let meter = limit.filter(|l| *l > 0).map(|l| {
        let pct = (used as f64 / l as f64 * 100.0).clamp(0.0, 100.0);
        view! {
            <div class={if pct >= 80.0 { "meter high" } else { "meter" }} role="presentation">
                <span style=format!("width: {pct:.0}%")></span>
            </div>
        }
    });
    let learned = learned
        .filter(|l| Some(*l) != limit)
        .map(|l| view! { <small class="muted" title="Reported by the provider">{format!("learned {}", n(l))}</small> });
    view! {
        <span data-used=used.to_string() data-limit=limit.map(|l| l.to_string()).unwrap_or_default()>{text}</span>
        {meter}
        {learned}
    }
    .into_any()
}

#[component]
fn ScopeRow(
    s: ScopeState,
    now: RwSignal<DateTime<Utc>>,
    clear: Callback<Option<String>>,
    clearing: RwSignal<bool>,
) -> impl IntoView {
    let prefs = use_prefs();
    let label = s.label.clone().unwrap_or_else(|| s.scope.clone());
    let parts = s
        .label
        .as_deref()
        .filter(|_| s.kind == ScopeKind::Route)
        .and_then(route_parts)
        .map(|(p, m, v)| (p.to_string(), m.to_string(), v.to_string()));
    let (provider, model, via) = parts.unwrap_or_default();
    let testid = if s.kind == ScopeKind::Route {
        "route-row"
    } else {
        "scope-row"
    };
    let health = format!(
        "{:.0}% ok · {:.0} ms",
        (s.success_rate * 100.0).clamp(0.0, 100.0),
        s.latency_ms.max(0.0)
    );
    let scope_for_clear = s.scope.clone();
    let label_for_clear = label.clone();
    let cooldown = match s.cooldown.clone() {
        None => view! { <td class="muted">"–"</td> }.into_any(),
        Some(c) => {
            let until = c.until;
            view! {
                <td data-testid="cooldown" data-until=until.to_rfc3339() data-reason=c.reason.clone()>
                    <span class="badge warn">{c.reason.clone()}</span>
                    " " <strong data-testid="cooldown-left">{move || time::countdown(until, now.get())}</strong>
                    <br />
                    <small class="muted">{move || format!("until {}", time::format_secs(until, prefs.tz.get()))}</small>
                    " "
                    <button type="button" data-testid="cooldown-clear"
                        aria-label=format!("Clear the cooldown of {label_for_clear}")
                        disabled=move || clearing.get()
                        on:click=move |_| clear.run(Some(scope_for_clear.clone()))>"Clear"</button>
                </td>
            }
            .into_any()
        }
    };
    view! {
        <tr data-testid=testid data-scope=s.scope.clone() data-kind=s.kind.as_str()
            data-provider=provider data-model=model data-via=via>
            <td>
                <span class="badge">{s.kind.as_str()}</span> " " {label}
                <br /><small class="muted mono">{s.scope.clone()}</small>
            </td>
            <td>{window(s.requests_last_minute, s.limits.rpm, s.learned.rpm)}</td>
            <td>{window(s.requests_last_hour, s.limits.rph, s.learned.rph)}</td>
            <td>{window(s.requests_today, s.limits.rpd, s.learned.rpd)}</td>
            <td>{window(s.tokens_last_minute, s.limits.tpm, s.learned.tpm)}</td>
            <td>{window(s.tokens_today, s.limits.tpd, s.learned.tpd)}</td>
            <td>{health}</td>
            {cooldown}
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::route_parts;

    #[test]
    fn a_route_label_names_provider_model_and_credential() {
        assert_eq!(
            route_parts("groq/meta-llama/llama-4 via …x9Qz"),
            Some(("groq", "meta-llama/llama-4", "…x9Qz"))
        );
        assert_eq!(
            route_parts("kilo/m:free via keyless"),
            Some(("kilo", "m:free", "keyless"))
        );
        assert_eq!(route_parts("groq …x9Qz"), None);
    }
}
