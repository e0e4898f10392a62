//! One request in full: every field of its usage event, and the attempt ladder (one line per
//! route tried, its latency as a bar scaled to the slowest hop).

use freeway_wire::Page;
use freeway_wire::usage::{AttemptEntry, AttemptOutcome, RequestEntry};
use leptos::prelude::*;
use uuid::Uuid;

use super::{View, status_class};
use crate::api;
use crate::prefs;
use crate::time;
use crate::ui::{ErrorBanner, Loading, thousands};

pub fn outcome_class(outcome: AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Ok => "badge ok",
        AttemptOutcome::Skipped => "badge",
        AttemptOutcome::RateLimited | AttemptOutcome::ClientError => "badge warn",
        _ => "badge bad",
    }
}

/// Each hop's bar width, in percent of the slowest hop (at least 1 ms, so all-zero trails
/// draw nothing but the minimum).
pub fn bar_widths(trail: &[AttemptEntry]) -> Vec<u64> {
    let slowest = trail.iter().map(|a| a.latency_ms).max().unwrap_or(0).max(1);
    trail
        .iter()
        .map(|a| a.latency_ms.saturating_mul(100) / slowest)
        .collect()
}

fn ms(n: Option<i64>) -> String {
    n.map(|n| format!("{} ms", thousands(n)))
        .unwrap_or_else(|| "—".into())
}

fn text(v: Option<String>) -> String {
    v.filter(|v| !v.is_empty()).unwrap_or_else(|| "—".into())
}

#[component]
pub fn Drawer(
    id: Uuid,
    /// The page on screen, which usually holds the request already.
    rows: RwSignal<Option<Page<RequestEntry>>>,
    view: Memo<View>,
    on_close: impl Fn() + Clone + 'static,
) -> impl IntoView {
    let entry = LocalResource::new(move || async move {
        let shown = rows.with_untracked(|p| {
            p.as_ref()
                .and_then(|p| p.data.iter().find(|r| r.id == id).cloned())
        });
        match shown {
            Some(entry) => Ok(entry),
            None => api::get::<RequestEntry>(&format!("/admin/v1/requests/{id}")).await,
        }
    });
    let node = NodeRef::<leptos::html::Aside>::new();
    Effect::new(move |_| {
        if let Some(el) = node.get() {
            let _ = el.focus();
        }
    });
    let close = on_close.clone();
    view! {
        <aside class="drawer" data-testid="drawer" data-id=id.to_string() role="dialog"
            aria-label="Request" tabindex="-1" node_ref=node>
            <div class="page-head">
                <h2>"Request"</h2>
                <div class="actions">
                    <button type="button" data-testid="drawer-close" aria-label="Close (Escape)"
                        on:click=move |_| close()>"Close ✕"</button>
                </div>
            </div>
            {move || match entry.get() {
                None => view! { <Loading /> }.into_any(),
                Some(Err(e)) => {
                    let error = Signal::derive(move || Some(e.clone()));
                    view! { <ErrorBanner error /> }.into_any()
                }
                Some(Ok(entry)) => view! { <Details entry view /> }.into_any(),
            }}
        </aside>
    }
}

/// "Only this" links: the same view filtered by one of the request's values.
fn only(view: &View, set: impl FnOnce(&mut View)) -> String {
    let mut v = view.clone();
    v.id = None;
    v.cursors = Default::default();
    set(&mut v);
    v.href()
}

#[component]
fn Details(entry: RequestEntry, view: Memo<View>) -> impl IntoView {
    let tz = prefs::tz();
    let tokens = match (entry.prompt_tokens, entry.completion_tokens) {
        (None, None) => "—".to_string(),
        (p, c) => {
            let (p, c) = (i64::from(p.unwrap_or(0)), i64::from(c.unwrap_or(0)));
            format!(
                "{} prompt + {} completion = {}",
                thousands(p),
                thousands(c),
                thousands(p.saturating_add(c))
            )
        }
    };
    let v = view.get_untracked();
    let filter_link = |label: &'static str, href: Option<String>| {
        href.map(|h| view! { " " <a href=h class="muted">{label}</a> })
    };
    let member_link = entry
        .member_id
        .map(|m| only(&v, |v| v.member = Some(m.to_string())));
    let key_link = entry
        .api_key_id
        .map(|k| only(&v, |v| v.key = Some(k.to_string())));
    let model_link = entry.model.clone().map(|m| only(&v, |v| v.model = Some(m)));
    let provider_link = entry
        .provider
        .clone()
        .map(|p| only(&v, |v| v.provider = Some(p)));
    let id_of = |id: Option<Uuid>| text(id.map(|i| i.to_string()));
    let status = entry.status;
    let rows: Vec<(&'static str, AnyView)> = vec![
        ("Id", view! { <code>{entry.id.to_string()}</code> }.into_any()),
        ("Time", view! { {time::format_secs(entry.created_at, tz)} " " <span class="muted">{tz.name()}</span> }.into_any()),
        ("Endpoint", view! { <code>{entry.endpoint.clone()}</code> }.into_any()),
        ("Status", view! {
            <span class=status_class(status) data-testid="drawer-status">{status}</span>
            {entry.error_code.clone().map(|c| view! { " " <code>{c}</code> })}
        }.into_any()),
        ("Stream", view! { {if entry.stream { "yes" } else { "no" }} }.into_any()),
        ("Requested model", view! { {text(entry.requested_model.clone())} }.into_any()),
        ("Served model", view! { {text(entry.model.clone())} {filter_link("only this model", model_link)} }.into_any()),
        ("Provider", view! { {text(entry.provider.clone())} {filter_link("only this provider", provider_link)} }.into_any()),
        ("Credential", view! { <code>{id_of(entry.credential_id)}</code> }.into_any()),
        ("Tenant", view! { <code>{id_of(entry.tenant_id)}</code> }.into_any()),
        ("Member", view! { <code>{id_of(entry.member_id)}</code> {filter_link("only this member", member_link)} }.into_any()),
        ("Api key", view! { <code>{id_of(entry.api_key_id)}</code> {filter_link("only this key", key_link)} }.into_any()),
        ("Tokens", view! { {tokens} }.into_any()),
        ("Latency", view! { {ms(Some(i64::from(entry.latency_ms)))} }.into_any()),
        ("Time to first token", view! { {ms(entry.ttft_ms.map(i64::from))} }.into_any()),
        ("Attempts", view! { {entry.attempts} }.into_any()),
        ("Session", view! { <code>{text(entry.session_id.clone())}</code> }.into_any()),
    ];
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="drawer-fields">
                <tbody>
                    {rows.into_iter().map(|(name, value)| view! {
                        <tr><th scope="row">{name}</th><td>{value}</td></tr>
                    }).collect::<Vec<_>>()}
                </tbody>
            </table>
        </div>
        <h2>"Attempts"</h2>
        <Ladder trail=entry.attempt_trail />
    }
}

#[component]
fn Ladder(trail: Vec<AttemptEntry>) -> impl IntoView {
    if trail.is_empty() {
        return view! { <p class="empty">"No route was tried."</p> }.into_any();
    }
    let widths = bar_widths(&trail);
    let hops = trail
        .into_iter()
        .zip(widths)
        .enumerate()
        .map(|(i, (hop, width))| {
            let latency = i64::try_from(hop.latency_ms).unwrap_or(i64::MAX);
            view! {
                <li class="hop" data-testid="attempt" data-outcome=hop.outcome.as_str()
                    data-provider=hop.provider.clone() data-latency=hop.latency_ms.to_string()>
                    <span>
                        <span class="muted">{format!("{}. ", i.saturating_add(1))}</span>
                        <b>{hop.provider.clone()}</b> " / " {hop.model.clone()}
                    </span>
                    <span><span class=outcome_class(hop.outcome)>{hop.outcome.as_str()}</span></span>
                    <span class="num">{hop.status.map(|s| s.to_string()).unwrap_or_else(|| "—".into())}</span>
                    <span title=format!("{latency} ms")>
                        <span class="bar" style=format!("display: block; width: {width}%")></span>
                        <small class="muted">{ms(Some(latency))}</small>
                    </span>
                    {hop.detail.clone().map(|d| view! {
                        <span class="muted" style="grid-column: 1 / -1; font-size: .85rem">{d}</span>
                    })}
                </li>
            }
        })
        .collect::<Vec<_>>();
    view! { <ol class="ladder" style="list-style: none; padding: 0; margin: 0" aria-label="Attempt ladder">{hops}</ol> }.into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(latency_ms: u64) -> AttemptEntry {
        AttemptEntry {
            provider: "p".into(),
            model: "m".into(),
            credential_id: None,
            outcome: AttemptOutcome::Ok,
            status: Some(200),
            latency_ms,
            detail: None,
        }
    }

    #[test]
    fn bars_are_scaled_to_the_slowest_hop() {
        assert_eq!(bar_widths(&[hop(95), hop(317), hop(0)]), vec![29, 100, 0]);
        assert_eq!(bar_widths(&[hop(0)]), vec![0]);
        assert!(bar_widths(&[]).is_empty());
    }
}
