//! A provider's credentials: label, on/off, a real test call, the last health probe and a
//! probe now, delete; and adding one with a write-only secret that is never shown back.

use std::collections::HashMap;

use freeway_wire::discovery::{ProbeReport, ProbeResult};
use freeway_wire::page::Page;
use freeway_wire::pool::{CredentialPatch, CredentialTest, CredentialView, NewCredential};
use leptos::prelude::*;

use crate::ui::{bump, keep};
use leptos::task::spawn_local;
use uuid::Uuid;

use super::{
    focus_later, has_focus, limits_text, opt_in_range, page_url, provider_path, replace_row,
};
use crate::api::{self, ApiError};
use crate::prefs::use_prefs;
use crate::time;
use crate::ui::{ConfirmButton, Empty, ErrorBanner, FieldError, Loading, Pager, PagerState};

/// The last test of a credential, on this page.
#[derive(Debug, Clone, PartialEq)]
enum Tested {
    Running,
    Done(CredentialTest),
    Failed(ApiError),
}

type Tests = RwSignal<HashMap<Uuid, Tested>>;

#[component]
pub(super) fn Credentials(provider: String) -> impl IntoView {
    let base = StoredValue::new(format!("{}/credentials", provider_path(&provider)));
    let pager = PagerState::new();
    let version = RwSignal::new(0u32);
    let res = LocalResource::new(move || {
        version.track();
        let url = page_url(&base.get_value(), pager.cursor.get());
        async move { api::get::<Page<CredentialView>>(&url).await }
    });
    let (data, load_error) = keep(res);
    let action_error = RwSignal::new(None::<ApiError>);
    let tests: Tests = RwSignal::new(HashMap::new());
    let rows = move || data.with(|d| d.as_ref().map(|p| p.data.clone()).unwrap_or_default());
    let next = Signal::derive(move || data.with(|d| d.as_ref().and_then(|p| p.next_cursor)));
    let empty = move || data.with(|d| d.as_ref().is_some_and(|p| p.data.is_empty()));
    view! {
        <ErrorBanner error=load_error />
        <ErrorBanner error=action_error />
        <Show when=move || data.with(Option::is_some) fallback=move || load_error.with(Option::is_none).then(|| view! { <Loading /> })>
            <Show when=move || !empty() fallback=|| view! { <Empty text="No credentials yet." /> }>
                <div class="table-wrap">
                    <table class="table" data-testid="credentials">
                        <thead>
                            <tr>
                                <th>"Label"</th>
                                <th>"Secret"</th>
                                <th>"Enabled"</th>
                                <th>"Priority"</th>
                                <th>"Limits"</th>
                                <th>"Added"</th>
                                <th>"Test"</th>
                                <th>"Last probe"</th>
                                <th><span class="sr-only">"Actions"</span></th>
                            </tr>
                        </thead>
                        <tbody>
                            <For each=rows key=|c| (c.id, c.updated_at, c.probe.as_ref().map(|p| p.checked_at))
                                children=move |c| view! { <CredentialRow c data base version error=action_error tests /> } />
                        </tbody>
                    </table>
                </div>
            </Show>
        </Show>
        <Pager state=pager next />
        <AddCredential base version />
    }
}

fn label_of(c: &CredentialView) -> String {
    if c.name.is_empty() {
        format!("…{}", c.last4)
    } else {
        c.name.clone()
    }
}

#[component]
fn CredentialRow(
    c: CredentialView,
    data: RwSignal<Option<Page<CredentialView>>>,
    base: StoredValue<String>,
    version: RwSignal<u32>,
    error: RwSignal<Option<ApiError>>,
    tests: Tests,
) -> impl IntoView {
    let prefs = use_prefs();
    let id = c.id;
    let path = StoredValue::new(format!("{}/{}", base.get_value(), id));
    let enabled = RwSignal::new(c.enabled);
    let busy = RwSignal::new(false);
    let label = label_of(&c);
    let element_id = StoredValue::new(format!("credential-enabled-{id}"));
    let toggle = move |ev: leptos::ev::Event| {
        let want = event_target_checked(&ev);
        let focused = element_id.with_value(|e| has_focus(e));
        let element_id = element_id.get_value();
        enabled.set(want);
        busy.set(true);
        let path = path.get_value();
        spawn_local(async move {
            let body = CredentialPatch {
                enabled: Some(want),
                ..CredentialPatch::default()
            };
            let result = api::patch::<CredentialView>(&path, &body).await;
            busy.set(false);
            match result {
                Ok(view) => {
                    error.set(None);
                    replace_row(data, view, |c| c.id);
                }
                Err(e) => {
                    enabled.set(!want);
                    error.set(Some(e));
                }
            }
            // Disabled while saving, it lost the focus (and a saved row is rebuilt).
            if focused {
                focus_later(element_id);
            }
            bump(version);
        });
    };
    let test = move |_| {
        tests.update(|t| {
            t.insert(id, Tested::Running);
        });
        let path = format!("{}/test", path.get_value());
        spawn_local(async move {
            let outcome = match api::post::<CredentialTest>(&path, &serde_json::json!({})).await {
                Ok(result) => Tested::Done(result),
                Err(e) => Tested::Failed(e),
            };
            tests.update(|t| {
                t.insert(id, outcome);
            });
        });
    };
    let probing = RwSignal::new(false);
    // A probe pass: the credential's check, and early re-probes of its cooled or refused
    // routes. Its result is stored on the credential: the reloaded row shows it.
    let probe_now = move |_| {
        probing.set(true);
        let path = format!("/admin/v1/credentials/{id}/probe");
        spawn_local(async move {
            match api::post::<ProbeReport>(&path, &serde_json::json!({})).await {
                Ok(_) => error.set(None),
                Err(e) => error.set(Some(e)),
            }
            probing.set(false);
            bump(version);
        });
    };
    let delete = move || {
        let path = path.get_value();
        spawn_local(async move {
            match api::delete(&path).await {
                Ok(()) => {
                    error.set(None);
                    tests.update(|t| {
                        t.remove(&id);
                    });
                }
                Err(e) => error.set(Some(e)),
            }
            bump(version);
        });
    };
    let created = c.created_at;
    let probe = c.probe.clone();
    view! {
        <tr data-testid="credential-row" data-id=id.to_string() data-label=c.name.clone()>
            <td>{if c.name.is_empty() { view! { <span class="muted">"(no label)"</span> }.into_any() } else { c.name.clone().into_any() }}</td>
            <td><code>{format!("…{}", c.last4)}</code></td>
            <td>
                <label class="inline">
                    <input type="checkbox" data-testid="credential-enabled" id=element_id.get_value()
                        aria-label=format!("{label} enabled")
                        prop:checked=move || enabled.get()
                        disabled=move || busy.get()
                        on:change=toggle />
                    {move || if enabled.get() { "On" } else { "Off" }}
                </label>
            </td>
            <td class="num">{c.priority}</td>
            <td>{limits_text(&c.limits)}</td>
            <td>{move || time::format(created, prefs.tz.get())}</td>
            <td aria-live="polite">{move || tests.with(|t| t.get(&id).cloned()).map(test_result)}</td>
            <td data-testid="credential-probe">{move || probe_result(probe.clone(), prefs.tz.get())}</td>
            <td>
                <div class="row">
                    <button type="button" data-testid="credential-test"
                        aria-label=format!("Test {label}")
                        disabled=move || tests.with(|t| matches!(t.get(&id), Some(Tested::Running)))
                        on:click=test>"Test"</button>
                    <button type="button" data-testid="credential-probe-now"
                        aria-label=format!("Probe {label} now")
                        disabled=move || probing.get()
                        on:click=probe_now>{move || if probing.get() { "Probing…" } else { "Probe" }}</button>
                    <ConfirmButton label="Delete" testid="credential-delete"
                        what=format!("Delete the credential {label} (…{})? Requests stop using it at once.", c.last4)
                        word=label.clone() on_confirm=delete />
                </div>
            </td>
        </tr>
    }
}

/// The outcome of a test; `credential-test-result` appears only once there is one.
fn test_result(tested: Tested) -> AnyView {
    match tested {
        Tested::Running => view! { <span class="muted" data-testid="credential-testing">"Testing…"</span> }.into_any(),
        Tested::Failed(e) => view! {
            <span data-testid="credential-test-result" data-ok="false" class="error">{e.message}</span>
        }
        .into_any(),
        Tested::Done(r) => {
            let status = r
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "no answer".into());
            let what = match &r.model {
                Some(model) => format!("{} with {model}", r.probe),
                None => r.probe.clone(),
            };
            view! {
                <span data-testid="credential-test-result" data-ok=r.ok.to_string()
                    data-status=r.status.map(|s| s.to_string()).unwrap_or_default()>
                    <span class={if r.ok { "badge ok" } else { "badge bad" }}>{if r.ok { "ok" } else { "failed" }}</span>
                    " " {status}
                    " · " {format!("{} ms", r.latency_ms)}
                    " · " <span class="muted">{what}</span>
                    <br /> <small>{r.message}</small>
                </span>
            }
            .into_any()
        }
    }
}

/// The credential's last health probe: outcome, latency, when, and what went wrong.
fn probe_result(probe: Option<ProbeResult>, tz: chrono_tz::Tz) -> AnyView {
    let Some(p) = probe else {
        return view! { <span class="muted" data-ok="">"not yet"</span> }.into_any();
    };
    let title = p.error.clone().unwrap_or_default();
    view! {
        <span data-ok=p.ok.to_string() title=title>
            <span class={if p.ok { "badge ok" } else { "badge bad" }}>{if p.ok { "ok" } else { "failed" }}</span>
            " " {format!("{} ms", p.latency_ms)}
            " · " <span class="muted">{time::format(p.checked_at, tz)}</span>
            {p.error.map(|e| view! { <br /> <small>{e}</small> })}
        </span>
    }
    .into_any()
}

#[component]
fn AddCredential(base: StoredValue<String>, version: RwSignal<u32>) -> impl IntoView {
    let label = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let priority = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let added = RwSignal::new(None::<CredentialView>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let priority_value =
            match opt_in_range::<i32>(&priority.get_untracked(), "priority", 0, 1_000_000) {
                Ok(p) => p,
                Err(e) => return error.set(Some(e)),
            };
        let body = NewCredential {
            name: label.get_untracked().trim().to_string(),
            secret: secret.get_untracked(),
            enabled: None,
            priority: priority_value,
            limits: None,
        };
        busy.set(true);
        let path = base.get_value();
        spawn_local(async move {
            let result = api::post::<CredentialView>(&path, &body).await;
            busy.set(false);
            match result {
                Ok(view) => {
                    error.set(None);
                    label.set(String::new());
                    priority.set(String::new());
                    added.set(Some(view));
                    bump(version);
                }
                Err(e) => {
                    added.set(None);
                    error.set(Some(e));
                }
            }
            // The secret leaves the page either way: it is typed again, never kept.
            secret.set(String::new());
        });
    };
    view! {
        <form class="card grid" on:submit=submit data-testid="credential-add-form" autocomplete="off">
            <label>"Label (whose account)"
                <input type="text" name="name" data-testid="credential-label"
                    prop:value=move || label.get()
                    on:input=move |ev| label.set(event_target_value(&ev)) />
                <FieldError error field="name" />
            </label>
            <label>"Secret (write-only: never shown again)"
                <input type="password" name="secret" data-testid="credential-secret" required=true
                    autocomplete="new-password" spellcheck="false"
                    prop:value=move || secret.get()
                    on:input=move |ev| secret.set(event_target_value(&ev)) />
                <FieldError error field="secret" />
            </label>
            <label>"Priority (default 100)"
                <input type="text" inputmode="numeric" name="priority" data-testid="credential-priority"
                    prop:value=move || priority.get()
                    on:input=move |ev| priority.set(event_target_value(&ev)) />
                <FieldError error field="priority" />
            </label>
            <button type="submit" class="primary" data-testid="credential-add" disabled=move || busy.get()>
                "Add credential"
            </button>
        </form>
        <ErrorBanner error fields=&["name", "secret", "priority"] />
        {move || added.get().map(|c| view! {
            <p class="ok" role="status" data-testid="credential-added">
                {format!("Added {} (…{}). Test it to check the provider accepts it.", label_of(&c), c.last4)}
            </p>
        })}
    }
}
