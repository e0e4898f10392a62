//! A dry run of routing: what a model name resolves to and, candidate by candidate, which
//! route would be taken and why the others are skipped. Nothing is sent upstream.

use freeway_wire::page::List;
use freeway_wire::pool::ProfileView;
use freeway_wire::routing::{RouteDecision, SimulateRequest, Simulation};
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;

use crate::api::{self, ApiError};

use crate::prefs::use_prefs;
use crate::time;
use crate::ui::{Empty, ErrorBanner, FieldError};

#[component]
pub(super) fn Simulate() -> impl IntoView {
    let prefs = use_prefs();
    let model = RwSignal::new(String::from("auto"));
    let tenant = RwSignal::new(
        prefs
            .tenant
            .get_untracked()
            .map(|t| t.to_string())
            .unwrap_or_default(),
    );
    let error = RwSignal::new(None::<ApiError>);
    let result = RwSignal::new(None::<Simulation>);
    let busy = RwSignal::new(false);
    let profiles = LocalResource::new(move || async move {
        api::get::<List<ProfileView>>("/admin/v1/routing/profiles").await
    });
    let names = move || {
        let mut names = vec!["auto".to_string()];
        if let Some(Ok(list)) = profiles.get() {
            names.extend(
                list.data
                    .into_iter()
                    .map(|p| p.name)
                    .filter(|n| n != "auto"),
            );
        }
        names
            .into_iter()
            .map(|n| view! { <option value=n></option> })
            .collect::<Vec<_>>()
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let tenant_text = tenant.get_untracked().trim().to_string();
        let tenant_id = if tenant_text.is_empty() {
            None
        } else {
            match tenant_text.parse::<Uuid>() {
                Ok(id) => Some(id),
                Err(_) => {
                    return error.set(Some(crate::api::invalid(
                        "tenant_id",
                        "A tenant id is a UUID, or empty.",
                    )));
                }
            }
        };
        let body = SimulateRequest {
            model: model.get_untracked().trim().to_string(),
            tenant_id,
            ..SimulateRequest::default()
        };
        busy.set(true);
        spawn_local(async move {
            let answer = api::post::<Simulation>("/admin/v1/routing/simulate", &body).await;
            busy.set(false);
            match answer {
                Ok(s) => {
                    error.set(None);
                    result.set(Some(s));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <p class="muted">"How a request for a model would be routed right now: nothing is sent to a provider."</p>
        <form class="card grid" on:submit=submit data-testid="simulate-form">
            <label>"Model, profile or alias"
                <input type="text" name="model" list="simulate-models" data-testid="simulate-model" required=true
                    prop:value=move || model.get()
                    on:input=move |ev| model.set(event_target_value(&ev)) />
                <datalist id="simulate-models">{names}</datalist>
                <FieldError error field="model" />
            </label>
            <label>"Tenant id (optional: its quotas count)"
                <input type="text" name="tenant_id" data-testid="simulate-tenant"
                    prop:value=move || tenant.get()
                    on:input=move |ev| tenant.set(event_target_value(&ev)) />
                <FieldError error field="tenant_id" />
            </label>
            <button type="submit" class="primary" data-testid="simulate-run" disabled=move || busy.get()>
                {move || if busy.get() { "Simulating…" } else { "Simulate" }}
            </button>
        </form>
        <ErrorBanner error fields=&["model", "tenant_id"] />
        {move || result.get().map(|s| view! { <Outcome s /> })}
    }
}

#[component]
fn Outcome(s: Simulation) -> impl IntoView {
    let prefs = use_prefs();
    let resolved = resolved_as(&s);
    let strategy = s.strategy;
    let taken = s
        .candidates
        .iter()
        .position(|c| c.decision == RouteDecision::Take);
    let summary = match taken.and_then(|i| s.candidates.get(i)) {
        Some(c) => format!("Would be served by {}/{}.", c.provider, c.model),
        None => "No candidate would be taken: the request would fail.".into(),
    };
    if s.candidates.is_empty() {
        return view! {
            <p data-testid="simulate-resolved">"Resolves as " <code>{resolved.clone()}</code></p>
            <Empty text="No candidates: no enabled model in the pool answers to this name." />
        }
        .into_any();
    }
    let rows: Vec<_> = s
        .candidates
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let take = c.decision == RouteDecision::Take;
            let until = c.cooldown_until;
            view! {
                <tr data-testid="candidate-row" data-decision=c.decision.as_str()
                    data-provider=c.provider.clone() data-model=c.model.clone()
                    class={if take { "taken" } else { "" }}
                    aria-current=take.then_some("true")
                    style={if take { "background: var(--bg); font-weight: 600; outline: 2px solid var(--ok)" } else { "" }}>
                    <td class="num">{i.saturating_add(1)}</td>
                    <td><code>{format!("{}/{}", c.provider, c.model)}</code></td>
                    <td>{c.credential_id.map(|id| view! { <code title=id.to_string()>{id.to_string().chars().take(8).collect::<String>()}"…"</code> }.into_any())
                        .unwrap_or_else(|| view! { <span class="muted">"keyless"</span> }.into_any())}</td>
                    <td><span class={if take { "badge ok" } else { "badge warn" }}>{c.decision.as_str()}</span></td>
                    // A take's reason is the figure its strategy ranked it by.
                    <td data-testid="candidate-reason">{c.reason.clone().or_else(|| c.ranked_by.clone()).unwrap_or_else(|| "–".into())}</td>
                    <td>{until.map(|u| move || time::format_secs(u, prefs.tz.get()))}</td>
                </tr>
            }
        })
        .collect();
    view! {
        <p data-testid="simulate-resolved">"Resolves as " <code>{resolved.clone()}</code> ", ordered by "
            <code data-testid="simulate-strategy">{strategy.as_str()}</code> ". " {summary}</p>
        <div class="table-wrap">
            <table class="table" data-testid="candidates">
                <thead>
                    <tr><th>"#"</th><th>"Route"</th><th>"Credential"</th><th>"Decision"</th><th>"Reason"</th><th>"Cooling until"</th></tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// What the name resolved to, or why nothing answers to it.
fn resolved_as(s: &Simulation) -> String {
    match (s.resolved_as, &s.refusal) {
        (Some(r), _) => match &s.mapping {
            Some(m) => format!("{r} (mapped by {} to {})", m.pattern, m.target),
            None => r.as_str().to_string(),
        },
        (None, Some(refusal)) => refusal.clone(),
        (None, None) => "nothing".into(),
    }
}
