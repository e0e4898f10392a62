//! A provider's models: the list with inline edit, adding one, and discovery.

use freeway_wire::page::Page;
use freeway_wire::pool::{Modality, ModelPatch, ModelView, NewModel, Origin};
use leptos::prelude::*;

use crate::ui::{bump, keep};
use leptos::task::spawn_local;
use uuid::Uuid;

use super::discover::Discover;
use super::{
    LimitDraft, LimitFields, focus_later, has_focus, limits_text, opt_in_range, page_url,
    provider_path, replace_row,
};
use crate::api::{self, ApiError};
use crate::ui::{
    ConfirmButton, Empty, ErrorBanner, FieldError, Loading, Pager, PagerState, thousands,
};

const CONTEXT_MAX: i64 = i32::MAX as i64;

#[component]
pub(super) fn Models(provider: String, provider_name: String) -> impl IntoView {
    let base = StoredValue::new(format!("{}/models", provider_path(&provider)));
    let pager = PagerState::new();
    let version = RwSignal::new(0u32);
    let res = LocalResource::new(move || {
        version.track();
        let url = page_url(&base.get_value(), pager.cursor.get());
        async move { api::get::<Page<ModelView>>(&url).await }
    });
    let (data, load_error) = keep(res);
    let action_error = RwSignal::new(None::<ApiError>);
    let editing = RwSignal::new(None::<Uuid>);
    let rows = move || data.with(|d| d.as_ref().map(|p| p.data.clone()).unwrap_or_default());
    let next = Signal::derive(move || data.with(|d| d.as_ref().and_then(|p| p.next_cursor)));
    let empty = move || data.with(|d| d.as_ref().is_some_and(|p| p.data.is_empty()));
    view! {
        <ErrorBanner error=load_error />
        <ErrorBanner error=action_error />
        <Show when=move || data.with(Option::is_some) fallback=move || load_error.with(Option::is_none).then(|| view! { <Loading /> })>
            <Show when=move || !empty() fallback=|| view! { <Empty text="No models yet: add one, or discover what the provider lists." /> }>
                <div class="table-wrap">
                    <table class="table" data-testid="models">
                        <thead>
                            <tr>
                                <th>"Model"</th>
                                <th>"Modality"</th>
                                <th>"Enabled"</th>
                                <th>"Context"</th>
                                <th>"Capabilities"</th>
                                <th>"Limits per route"</th>
                                <th>"Priority"</th>
                                <th><span class="sr-only">"Actions"</span></th>
                            </tr>
                        </thead>
                        <tbody>
                            <For each=rows key=|m| (m.id, m.updated_at)
                                children=move |m| view! { <ModelRow m data base version error=action_error editing /> } />
                        </tbody>
                    </table>
                </div>
            </Show>
        </Show>
        <Pager state=pager next />
        <section class="card">
            <h3>"Add a model"</h3>
            <AddModel base version />
        </section>
        <Discover provider provider_name models_version=version />
    }
}

fn capabilities(m: &ModelView) -> Vec<&'static str> {
    [
        (m.supports_tools, "tools"),
        (m.supports_vision, "vision"),
        (m.supports_json, "json"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect()
}

#[component]
fn ModelRow(
    m: ModelView,
    data: RwSignal<Option<Page<ModelView>>>,
    base: StoredValue<String>,
    version: RwSignal<u32>,
    error: RwSignal<Option<ApiError>>,
    editing: RwSignal<Option<Uuid>>,
) -> impl IntoView {
    let id = m.id;
    let model = StoredValue::new(m);
    let is_editing = Memo::new(move |_| editing.get() == Some(id));
    move || {
        if is_editing.get() {
            view! { <ModelEdit m=model.get_value() data base version editing /> }.into_any()
        } else {
            view! { <ModelLine m=model.get_value() data base version error editing /> }.into_any()
        }
    }
}

#[component]
fn ModelLine(
    m: ModelView,
    data: RwSignal<Option<Page<ModelView>>>,
    base: StoredValue<String>,
    version: RwSignal<u32>,
    error: RwSignal<Option<ApiError>>,
    editing: RwSignal<Option<Uuid>>,
) -> impl IntoView {
    let id = m.id;
    let path = StoredValue::new(format!("{}/{}", base.get_value(), id));
    let enabled = RwSignal::new(m.enabled);
    let busy = RwSignal::new(false);
    let element_id = StoredValue::new(format!("model-enabled-{id}"));
    let toggle = move |ev: leptos::ev::Event| {
        let want = event_target_checked(&ev);
        let focused = element_id.with_value(|e| has_focus(e));
        let element_id = element_id.get_value();
        enabled.set(want);
        busy.set(true);
        let path = path.get_value();
        spawn_local(async move {
            let body = ModelPatch {
                enabled: Some(want),
                ..ModelPatch::default()
            };
            let result = api::patch::<ModelView>(&path, &body).await;
            busy.set(false);
            match result {
                Ok(view) => {
                    error.set(None);
                    replace_row(data, view, |m| m.id);
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
    let delete = move || {
        let path = path.get_value();
        spawn_local(async move {
            match api::delete(&path).await {
                Ok(()) => error.set(None),
                Err(e) => error.set(Some(e)),
            }
            bump(version);
        });
    };
    let caps: Vec<_> = capabilities(&m)
        .into_iter()
        .map(|c| view! { <span class="badge" data-capability=c>{c}</span> " " })
        .collect();
    let embedding = m.embedding_family.clone().map(|family| {
        let dims = m
            .embedding_dimensions
            .map(|d| format!(", {d} dimensions"))
            .unwrap_or_default();
        view! { <br /><small class="muted">{format!("family {family}{dims}")}</small> }
    });
    let delete_button = (m.origin == Origin::Custom).then(|| {
        view! {
            <ConfirmButton label="Delete" testid="model-delete"
                what=format!("Delete the model {} of this provider?", m.model_id)
                word=m.model_id.clone() on_confirm=delete />
        }
    });
    view! {
        <tr data-testid="model-row" data-model=m.model_id.clone() data-modality=m.modality.as_str()>
            <td>
                <code>{m.model_id.clone()}</code>
                {m.edited.then(|| view! { " " <span class="badge" title="Edited: catalog upgrades leave it alone">"edited"</span> })}
                {embedding}
            </td>
            <td>{m.modality.as_str()}</td>
            <td>
                <label class="inline">
                    <input type="checkbox" data-testid="model-enabled" id=element_id.get_value()
                        aria-label=format!("{} enabled", m.model_id)
                        prop:checked=move || enabled.get()
                        disabled=move || busy.get()
                        on:change=toggle />
                    {move || if enabled.get() { "On" } else { "Off" }}
                </label>
            </td>
            <td class="num">{m.context_window.map(|c| thousands(i64::from(c))).unwrap_or_else(|| "–".into())}</td>
            <td>{caps}</td>
            <td>{limits_text(&m.limits)}</td>
            <td class="num">{m.priority}</td>
            <td>
                <div class="row">
                    <button type="button" data-testid="model-edit" aria-label=format!("Edit {}", m.model_id)
                        on:click=move |_| editing.set(Some(id))>"Edit"</button>
                    {delete_button}
                </div>
            </td>
        </tr>
    }
}

/// Form fields shared by editing and adding a model.
#[derive(Clone, Copy)]
struct ModelDraft {
    modality: RwSignal<Modality>,
    tools: RwSignal<bool>,
    vision: RwSignal<bool>,
    json: RwSignal<bool>,
    context: RwSignal<String>,
    family: RwSignal<String>,
    dimensions: RwSignal<String>,
    priority: RwSignal<String>,
    enabled: RwSignal<bool>,
    limits: LimitDraft,
}

/// What the form holds, checked.
struct ModelValues {
    modality: Modality,
    tools: bool,
    vision: bool,
    json: bool,
    context: Option<u32>,
    family: Option<String>,
    dimensions: Option<u32>,
    priority: Option<i32>,
    enabled: bool,
    limits: freeway_wire::pool::LimitSet,
}

impl ModelDraft {
    fn new(m: Option<&ModelView>) -> ModelDraft {
        let number = |n: Option<i32>| n.map(|n| n.to_string()).unwrap_or_default();
        ModelDraft {
            modality: RwSignal::new(m.map(|m| m.modality).unwrap_or_default()),
            tools: RwSignal::new(m.is_some_and(|m| m.supports_tools)),
            vision: RwSignal::new(m.is_some_and(|m| m.supports_vision)),
            json: RwSignal::new(m.is_some_and(|m| m.supports_json)),
            context: RwSignal::new(number(m.and_then(|m| m.context_window))),
            family: RwSignal::new(
                m.and_then(|m| m.embedding_family.clone())
                    .unwrap_or_default(),
            ),
            dimensions: RwSignal::new(number(m.and_then(|m| m.embedding_dimensions))),
            priority: RwSignal::new(m.map(|m| m.priority.to_string()).unwrap_or_default()),
            enabled: RwSignal::new(m.is_none_or(|m| m.enabled)),
            limits: LimitDraft::new(&m.map(|m| m.limits).unwrap_or_default()),
        }
    }

    fn read(&self) -> Result<ModelValues, ApiError> {
        let family = self.family.get_untracked().trim().to_string();
        Ok(ModelValues {
            modality: self.modality.get_untracked(),
            tools: self.tools.get_untracked(),
            vision: self.vision.get_untracked(),
            json: self.json.get_untracked(),
            context: opt_in_range(
                &self.context.get_untracked(),
                "context_window",
                1,
                CONTEXT_MAX,
            )?,
            family: (!family.is_empty()).then_some(family),
            dimensions: opt_in_range(
                &self.dimensions.get_untracked(),
                "embedding_dimensions",
                1,
                65_536,
            )?,
            priority: opt_in_range(&self.priority.get_untracked(), "priority", 0, 1_000_000)?,
            enabled: self.enabled.get_untracked(),
            limits: self.limits.read()?,
        })
    }
}

#[component]
fn ModelFields(draft: ModelDraft, error: RwSignal<Option<ApiError>>) -> impl IntoView {
    let modalities: Vec<_> = Modality::ALL
        .iter()
        .map(|m| view! { <option value=m.as_str() selected=move || draft.modality.get() == *m>{m.as_str()}</option> })
        .collect();
    let check = move |label: &'static str, signal: RwSignal<bool>, testid: &'static str| {
        view! {
            <label class="inline">
                <input type="checkbox" data-testid=testid
                    prop:checked=move || signal.get()
                    on:change=move |ev| signal.set(event_target_checked(&ev)) />
                {label}
            </label>
        }
    };
    let text = move |label: &'static str, field: &'static str, signal: RwSignal<String>| {
        view! {
            <label>{label}
                <input type="text" name=field data-testid=format!("model-{field}")
                    prop:value=move || signal.get()
                    on:input=move |ev| signal.set(event_target_value(&ev)) />
                <FieldError error field />
            </label>
        }
    };
    view! {
        <label>"Modality"
            <select name="modality" data-testid="model-modality"
                on:change=move |ev| {
                    if let Some(m) = Modality::parse(&event_target_value(&ev)) {
                        draft.modality.set(m)
                    }
                }>
                {modalities}
            </select>
            <FieldError error field="modality" />
        </label>
        {text("Context window, tokens (empty: unknown)", "context_window", draft.context)}
        {text("Priority (default 100)", "priority", draft.priority)}
        {move || (draft.modality.get() == Modality::Embedding).then(|| view! {
            {text("Embedding family", "embedding_family", draft.family)}
            {text("Embedding dimensions", "embedding_dimensions", draft.dimensions)}
        })}
        {check("Tools", draft.tools, "model-tools")}
        {check("Vision", draft.vision, "model-vision")}
        {check("JSON mode", draft.json, "model-json")}
        {check("Enabled", draft.enabled, "model-enabled-edit")}
        <LimitFields draft=draft.limits error />
    }
}

const MODEL_FIELDS: &[&str] = &[
    "model_id",
    "modality",
    "context_window",
    "priority",
    "embedding_family",
    "embedding_dimensions",
    "limits",
];

/// What changed from `m`; a cleared context window or embedding field is sent as `null`.
fn patch_of(m: &ModelView, v: ModelValues) -> ModelPatch {
    let context_now = m.context_window.and_then(|c| u32::try_from(c).ok());
    let dims_now = m.embedding_dimensions.and_then(|d| u32::try_from(d).ok());
    ModelPatch {
        modality: (v.modality != m.modality).then_some(v.modality),
        supports_tools: (v.tools != m.supports_tools).then_some(v.tools),
        supports_vision: (v.vision != m.supports_vision).then_some(v.vision),
        supports_json: (v.json != m.supports_json).then_some(v.json),
        context_window: (v.context != context_now).then_some(v.context),
        embedding_family: (v.family != m.embedding_family).then_some(v.family),
        embedding_dimensions: (v.dimensions != dims_now).then_some(v.dimensions),
        limits: (v.limits != m.limits).then_some(v.limits),
        enabled: (v.enabled != m.enabled).then_some(v.enabled),
        priority: v.priority.filter(|p| *p != m.priority),
        // The tier is set over the API; the form leaves it as it is.
        tier: None,
    }
}

#[component]
fn ModelEdit(
    m: ModelView,
    data: RwSignal<Option<Page<ModelView>>>,
    base: StoredValue<String>,
    version: RwSignal<u32>,
    editing: RwSignal<Option<Uuid>>,
) -> impl IntoView {
    let draft = ModelDraft::new(Some(&m));
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let path = StoredValue::new(format!("{}/{}", base.get_value(), m.id));
    let original = StoredValue::new(m.clone());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let patch = match draft.read() {
            Ok(values) => original.with_value(|m| patch_of(m, values)),
            Err(e) => return error.set(Some(e)),
        };
        if patch == ModelPatch::default() {
            editing.set(None);
            return;
        }
        busy.set(true);
        let path = path.get_value();
        spawn_local(async move {
            let result = api::patch::<ModelView>(&path, &patch).await;
            busy.set(false);
            match result {
                Ok(view) => {
                    editing.set(None);
                    replace_row(data, view, |m| m.id);
                    bump(version);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <tr data-testid="model-row" data-model=m.model_id.clone() data-editing="true">
            <td colspan="8">
                <form on:submit=submit data-testid="model-edit-form"
                    aria-label=format!("Edit {}", m.model_id)>
                    <strong><code>{m.model_id.clone()}</code></strong>
                    <div class="grid"><ModelFields draft error /></div>
                    <ErrorBanner error fields=MODEL_FIELDS />
                    <div class="row">
                        <button type="submit" class="primary" data-testid="model-save" disabled=move || busy.get()>"Save"</button>
                        <button type="button" data-testid="model-cancel" on:click=move |_| editing.set(None)>"Cancel"</button>
                    </div>
                </form>
            </td>
        </tr>
    }
}

#[component]
fn AddModel(base: StoredValue<String>, version: RwSignal<u32>) -> impl IntoView {
    let model_id = RwSignal::new(String::new());
    let draft = ModelDraft::new(None);
    let error = RwSignal::new(None::<ApiError>);
    let added = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let v = match draft.read() {
            Ok(v) => v,
            Err(e) => return error.set(Some(e)),
        };
        let embedding = v.modality == Modality::Embedding;
        let body = NewModel {
            model_id: model_id.get_untracked().trim().to_string(),
            modality: Some(v.modality),
            supports_tools: v.tools,
            supports_vision: v.vision,
            supports_json: v.json,
            context_window: v.context,
            embedding_family: v.family.filter(|_| embedding),
            embedding_dimensions: v.dimensions.filter(|_| embedding),
            limits: Some(v.limits),
            enabled: Some(v.enabled),
            priority: v.priority,
            tier: None,
        };
        busy.set(true);
        let path = base.get_value();
        spawn_local(async move {
            let result = api::post::<ModelView>(&path, &body).await;
            busy.set(false);
            match result {
                Ok(view) => {
                    error.set(None);
                    model_id.set(String::new());
                    added.set(Some(view.model_id));
                    bump(version);
                }
                Err(e) => {
                    added.set(None);
                    error.set(Some(e));
                }
            }
        });
    };
    view! {
        <form on:submit=submit data-testid="model-add-form">
            <div class="grid">
                <label>"Model id (as the provider spells it)"
                    <input type="text" name="model_id" data-testid="model-add-id" required=true
                        prop:value=move || model_id.get()
                        on:input=move |ev| model_id.set(event_target_value(&ev)) />
                    <FieldError error field="model_id" />
                </label>
                <ModelFields draft error />
            </div>
            <ErrorBanner error fields=MODEL_FIELDS />
            {move || added.get().map(|id| view! { <p class="ok" role="status" data-testid="model-added">{format!("Added {id}.")}</p> })}
            <button type="submit" class="primary" data-testid="model-add" disabled=move || busy.get()>"Add model"</button>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelView {
        serde_json::from_value(serde_json::json!({
            "id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e60",
            "provider_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e50",
            "provider": "groq", "model_id": "m", "modality": "chat",
            "supports_tools": true, "supports_vision": false, "supports_json": false,
            "context_window": 8192, "embedding_family": null, "embedding_dimensions": null,
            "limits": {"rpm": 30}, "enabled": true, "priority": 100, "origin": "custom",
            "edited": false, "created_at": "2026-01-05T09:00:00Z", "updated_at": "2026-01-05T09:00:00Z"
        }))
        .unwrap()
    }

    fn values(m: &ModelView) -> ModelValues {
        ModelValues {
            modality: m.modality,
            tools: m.supports_tools,
            vision: m.supports_vision,
            json: m.supports_json,
            context: Some(8192),
            family: None,
            dimensions: None,
            priority: Some(m.priority),
            enabled: m.enabled,
            limits: m.limits,
        }
    }

    #[test]
    fn only_changes_are_sent_and_a_cleared_context_window_is_null() {
        let m = model();
        assert_eq!(patch_of(&m, values(&m)), ModelPatch::default());
        let cleared = ModelValues {
            context: None,
            limits: freeway_wire::pool::LimitSet::default(),
            ..values(&m)
        };
        let body = serde_json::to_value(patch_of(&m, cleared)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"context_window": null, "limits": {}})
        );
    }
}
