//! DISCOVER MODELS: the upstream's own model list (`GET /admin/v1/providers/{provider}/discover`),
//! with checkboxes; "Add selected" adds each chosen one as a chat model.

use std::collections::BTreeSet;

use freeway_wire::page::List;
use freeway_wire::pool::{DiscoveredModel, Modality, ModelView, NewModel};
use leptos::prelude::*;

use crate::ui::bump;
use leptos::task::spawn_local;

use super::provider_path;
use crate::api::{self, ApiError};
use crate::ui::{Empty, ErrorBanner};

#[component]
pub(super) fn Discover(
    provider: String,
    provider_name: String,
    /// Bumped after adding, so the models list refetches.
    models_version: RwSignal<u32>,
) -> impl IntoView {
    let provider = StoredValue::new(provider);
    let found = RwSignal::new(None::<Vec<DiscoveredModel>>);
    let chosen = RwSignal::new(BTreeSet::<String>::new());
    let error = RwSignal::new(None::<ApiError>);
    let failures = RwSignal::new(Vec::<(String, ApiError)>::new());
    let added = RwSignal::new(None::<usize>);
    let loading = RwSignal::new(false);
    let adding = RwSignal::new(false);
    let discover = move |_| {
        loading.set(true);
        added.set(None);
        failures.set(Vec::new());
        let path = format!("{}/discover", provider_path(&provider.get_value()));
        spawn_local(async move {
            let result = api::get::<List<DiscoveredModel>>(&path).await;
            loading.set(false);
            match result {
                Ok(list) => {
                    error.set(None);
                    chosen.set(BTreeSet::new());
                    found.set(Some(list.data));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let add = move |_| {
        let ids: Vec<String> = chosen.get_untracked().into_iter().collect();
        if ids.is_empty() {
            return;
        }
        adding.set(true);
        let path = format!("{}/models", provider_path(&provider.get_value()));
        spawn_local(async move {
            let mut ok = Vec::new();
            let mut failed = Vec::new();
            for id in ids {
                let body = NewModel {
                    model_id: id.clone(),
                    modality: Some(Modality::Chat),
                    ..NewModel::default()
                };
                match api::post::<ModelView>(&path, &body).await {
                    Ok(_) => ok.push(id),
                    Err(e) => failed.push((id, e)),
                }
            }
            adding.set(false);
            found.update(|f| {
                for m in f.iter_mut().flatten() {
                    if ok.contains(&m.id) {
                        m.in_catalog = true;
                    }
                }
            });
            chosen.update(|c| c.retain(|id| !ok.contains(id)));
            added.set(Some(ok.len()));
            failures.set(failed);
            bump(models_version);
        });
    };
    view! {
        <section class="card" data-testid="discover-section">
            <h3>"Discover models"</h3>
            <p class="muted">
                {format!("Lists the models {provider_name} itself offers. Added ones start as chat models: edit them for other modalities, capabilities and limits.")}
            </p>
            <div class="row">
                <button type="button" data-testid="discover" disabled=move || loading.get() on:click=discover>
                    {move || if loading.get() { "Asking the provider…" } else { "Discover models" }}
                </button>
                <button type="button" class="primary" data-testid="discover-add"
                    disabled=move || adding.get() || chosen.with(BTreeSet::is_empty)
                    on:click=add>
                    {move || format!("Add selected ({})", chosen.with(BTreeSet::len))}
                </button>
            </div>
            <ErrorBanner error />
            {move || added.get().map(|n| view! { <p class="ok" role="status" data-testid="discover-added">{format!("Added {n} models.")}</p> })}
            {move || failures.with(|f| (!f.is_empty()).then(|| {
                let items: Vec<_> = f.iter().map(|(id, e)| view! { <li><code>{id.clone()}</code> ": " {e.message.clone()}</li> }).collect();
                view! { <ul class="error" role="alert" data-testid="discover-failures">{items}</ul> }
            }))}
            {move || found.get().map(|models| found_list(models, chosen))}
        </section>
    }
}

fn found_list(models: Vec<DiscoveredModel>, chosen: RwSignal<BTreeSet<String>>) -> AnyView {
    if models.is_empty() {
        return view! { <Empty text="The provider lists no models." /> }.into_any();
    }
    let rows: Vec<_> = models
        .into_iter()
        .map(|m| {
            let id = StoredValue::new(m.id.clone());
            let checked = move || id.with_value(|id| chosen.with(|c| c.contains(id)));
            let toggle = move |ev: leptos::ev::Event| {
                let on = event_target_checked(&ev);
                chosen.update(|c| {
                    if on {
                        c.insert(id.get_value());
                    } else {
                        c.remove(&id.get_value());
                    }
                });
            };
            view! {
                <tr data-testid="discover-row" data-model=m.id.clone() data-in-catalog=m.in_catalog.to_string()>
                    <td>
                        <input type="checkbox" data-testid="discover-check"
                            aria-label=format!("Add {}", m.id)
                            disabled=m.in_catalog
                            prop:checked=move || m.in_catalog || checked()
                            on:change=toggle />
                    </td>
                    <td><code>{m.id.clone()}</code></td>
                    <td>{m.owned_by.clone().unwrap_or_else(|| "–".into())}</td>
                    <td>{m.in_catalog.then(|| view! { <span class="badge ok">"in the pool"</span> })}</td>
                </tr>
            }
        })
        .collect();
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="discovered">
                <thead><tr><th><span class="sr-only">"Add"</span></th><th>"Model"</th><th>"Owned by"</th><th>"Status"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}
