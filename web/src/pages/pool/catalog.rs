//! IMPORT A CATALOG: a newer catalog file (and its signature) read in the browser, a dry run
//! that shows the diff, then applying exactly what was previewed. The same
//! `POST /admin/v1/catalog` as `freeway catalog import`.

use freeway_wire::catalog::{CatalogChange, CatalogChangeKind, CatalogDiff, CatalogImport};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use crate::api::{self, ApiError};
use crate::ui::{ErrorBanner, bump};

/// What a preview was made of: applying sends exactly that.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Draft {
    catalog: String,
    signature: String,
    force: bool,
}

#[component]
pub(super) fn CatalogImport(
    /// Bumped once a catalog is applied, so the provider list refetches.
    version: RwSignal<u32>,
) -> impl IntoView {
    let catalog = RwSignal::new(String::new());
    let file_name = RwSignal::new(None::<String>);
    let signature = RwSignal::new(String::new());
    let force = RwSignal::new(false);
    let diff = RwSignal::new(None::<CatalogDiff>);
    let previewed = RwSignal::new(None::<Draft>);
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let draft = move || Draft {
        catalog: catalog.get(),
        signature: signature.get().trim().to_string(),
        force: force.get(),
    };
    let load = move |ev: leptos::ev::Event| {
        let Some(file) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            .and_then(|input| input.files())
            .and_then(|files| files.get(0))
        else {
            return;
        };
        file_name.set(Some(file.name()));
        spawn_local(async move {
            match wasm_bindgen_futures::JsFuture::from(file.text()).await {
                Ok(text) => {
                    catalog.set(text.as_string().unwrap_or_default());
                    diff.set(None);
                    error.set(None);
                }
                Err(_) => error.set(Some(api::invalid(
                    "catalog",
                    "The browser could not read that file.",
                ))),
            }
        });
    };
    let send = move |dry_run: bool| {
        let sent = if dry_run {
            draft()
        } else {
            match previewed.get_untracked() {
                Some(sent) => sent,
                None => return,
            }
        };
        let body = CatalogImport {
            catalog: sent.catalog.clone(),
            signature: (!sent.signature.is_empty()).then(|| sent.signature.clone()),
            dry_run,
            force: sent.force,
        };
        busy.set(true);
        spawn_local(async move {
            let result = api::post::<CatalogDiff>("/admin/v1/catalog", &body).await;
            busy.set(false);
            match result {
                Ok(answer) => {
                    error.set(None);
                    previewed.set(dry_run.then_some(sent));
                    if answer.applied {
                        bump(version);
                    }
                    diff.set(Some(answer));
                }
                Err(e) => {
                    previewed.set(None);
                    diff.set(None);
                    error.set(Some(e));
                }
            }
        });
    };
    // Apply only what the diff on screen was made of.
    let can_apply = move || {
        !busy.get()
            && previewed.with(|p| p.as_ref() == Some(&draft()))
            && diff.with(|d| d.as_ref().is_some_and(|d| !d.applied))
    };
    view! {
        <div class="card" data-testid="catalog-import">
            <p class="muted">
                "A newer catalog of providers and models, as " <code>"freeway catalog import"</code>
                " takes it: preview its diff, then apply it. Rows an admin edited are kept. A \
                 catalog signed with a trusted key is accepted as it is; any other needs the \
                 box below."
            </p>
            <div class="grid">
                <label>"Catalog file (TOML)"
                    <input type="file" accept=".toml,text/plain" data-testid="catalog-file"
                        on:change=load />
                    {move || file_name.get().map(|name| view! {
                        <small class="muted" data-testid="catalog-file-loaded">
                            {format!("{name}: {} bytes", catalog.with(String::len))}
                        </small>
                    })}
                </label>
                <label>"Signature (the .sig file's text; empty: none)"
                    <input type="text" class="mono" data-testid="catalog-signature"
                        prop:value=move || signature.get()
                        on:input=move |ev| signature.set(event_target_value(&ev)) />
                </label>
            </div>
            <label class="inline">
                <input type="checkbox" data-testid="catalog-force"
                    prop:checked=move || force.get()
                    on:change=move |ev| force.set(event_target_checked(&ev)) />
                "Accept it unsigned, signed by an untrusted key, or not newer than the catalog in use"
            </label>
            <div class="row">
                <button type="button" data-testid="catalog-preview"
                    disabled=move || busy.get() || catalog.with(String::is_empty)
                    on:click=move |_| send(true)>"Preview"</button>
                <button type="button" class="primary" data-testid="catalog-apply"
                    disabled=move || !can_apply()
                    on:click=move |_| send(false)>"Apply"</button>
            </div>
            <ErrorBanner error />
            {move || diff.get().map(diff_view)}
        </div>
    }
}

/// The diff: versions, the signature, and each provider and model changed.
fn diff_view(diff: CatalogDiff) -> impl IntoView {
    let signed = match (
        &diff.signature.key,
        diff.signature.verified,
        diff.signature.forced,
    ) {
        (Some(key), true, _) => format!("signed with a trusted key ({key})"),
        (_, _, true) => "not verified: accepted because the box is ticked".to_string(),
        _ => "not verified".to_string(),
    };
    let state = if diff.applied {
        format!("Applied: version {} is in use.", diff.version)
    } else {
        format!(
            "Preview of version {} (in use: {}); nothing changed yet.",
            diff.version, diff.active_version
        )
    };
    let count = diff.providers.len() + diff.models.len();
    let rows: Vec<CatalogChange> = diff.providers.into_iter().chain(diff.models).collect();
    view! {
        <div data-testid="catalog-diff" data-applied=diff.applied.to_string()>
            <p role="status" data-testid="catalog-state">{state} " " <span class="muted">{signed}</span></p>
            {if count == 0 {
                view! { <p class="muted">"No provider or model changes."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table">
                            <thead><tr><th>"Change"</th><th>"Provider or model"</th><th>"Fields"</th></tr></thead>
                            <tbody>
                                {rows.into_iter().map(change_row).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
                .into_any()
            }}
        </div>
    }
}

fn change_row(change: CatalogChange) -> impl IntoView {
    let (word, class) = match change.change {
        CatalogChangeKind::Added => ("added", "badge ok"),
        CatalogChangeKind::Changed => ("changed", "badge"),
        CatalogChangeKind::Removed => ("removed", "badge bad"),
        CatalogChangeKind::Disabled => ("disabled", "badge bad"),
        CatalogChangeKind::KeptEdit => ("edit kept", "badge"),
        CatalogChangeKind::Conflict => ("custom row kept", "badge"),
    };
    let fields: Vec<String> = change
        .fields
        .iter()
        .map(|f| format!("{}: {} → {}", f.field, f.from, f.to))
        .collect();
    let shown = change.id.clone();
    view! {
        <tr data-testid="catalog-change" data-id=change.id data-change=word>
            <td><span class=class>{word}</span></td>
            <td><code>{shown}</code></td>
            <td class="mono"><small>{fields.join("; ")}</small></td>
        </tr>
    }
}
