//! Instance settings: named JSON values. Each is edited with the input its type calls for
//! (text, number, switch, or JSON), saved on its own, and reset (deleted, so the built-in
//! default applies) after confirmation. Instance admins only.

use freeway_wire::usage::{SettingEntry, SettingValue};
use leptos::prelude::*;
use serde_json::Value;

use super::requests::nav::Shape;
use crate::api::invalid;
use crate::api::{self, ApiError};
use crate::prefs;
use crate::time;
use crate::ui::{ConfirmButton, Empty, ErrorBanner, FieldError, Loading, PageHead};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Switch,
    Json,
}

impl Kind {
    fn of(value: &Value) -> Kind {
        match value {
            Value::String(_) => Kind::Text,
            Value::Number(_) => Kind::Number,
            Value::Bool(_) => Kind::Switch,
            _ => Kind::Json,
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Number => "number",
            Kind::Switch => "boolean",
            Kind::Json => "json",
        }
    }

    fn parse(slug: &str) -> Kind {
        match slug {
            "number" => Kind::Number,
            "boolean" => Kind::Switch,
            "json" => Kind::Json,
            _ => Kind::Text,
        }
    }
}

/// The text an input shows for `value`.
fn draft_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => serde_json::to_string_pretty(other).unwrap_or_else(|_| other.to_string()),
    }
}

/// The value an input's text stands for.
fn value_of(kind: Kind, draft: &str) -> Result<Value, String> {
    match kind {
        Kind::Text => Ok(Value::String(draft.to_string())),
        Kind::Switch => Ok(Value::Bool(draft == "true")),
        Kind::Number => {
            let text = draft.trim();
            if let Ok(n) = text.parse::<i64>() {
                return Ok(Value::from(n));
            }
            text.parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("`{text}` is not a number"))
        }
        Kind::Json => match serde_json::from_str::<Value>(draft) {
            Ok(Value::Null) => Err("A setting cannot be null; reset it instead.".into()),
            Ok(v) => Ok(v),
            Err(e) => Err(format!("Not JSON: {e}")),
        },
    }
}

/// The input for a value of `kind`.
#[component]
fn ValueInput(
    #[prop(into)] kind: Signal<Kind>,
    draft: RwSignal<String>,
    label: String,
    testid: &'static str,
) -> impl IntoView {
    move || {
        let label = label.clone();
        match kind.get() {
            Kind::Switch => view! {
                <input type="checkbox" aria-label=label data-testid=testid
                    prop:checked=move || draft.get() == "true"
                    on:change=move |ev| draft.set(event_target_checked(&ev).to_string()) />
            }
            .into_any(),
            Kind::Number => view! {
                <input type="text" inputmode="decimal" aria-label=label data-testid=testid
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev)) />
            }
            .into_any(),
            Kind::Text => view! {
                <input type="text" aria-label=label data-testid=testid
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev)) />
            }
            .into_any(),
            Kind::Json => view! {
                <textarea rows="4" class="mono" aria-label=label data-testid=testid
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))></textarea>
            }
            .into_any(),
        }
    }
}

#[component]
pub fn Settings() -> impl IntoView {
    let version = RwSignal::new(0u32);
    let settings = RwSignal::new(None::<Vec<SettingEntry>>);
    let error = RwSignal::new(None::<ApiError>);
    let list = LocalResource::new(move || {
        version.track();
        async move { api::get::<Vec<SettingEntry>>("/admin/v1/settings").await }
    });
    Effect::new(move |_| match list.get() {
        Some(Ok(list)) => {
            settings.set(Some(list));
            error.set(None);
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    let changed = move || version.update(|v| *v = v.wrapping_add(1));
    let shape = Memo::new(move |_| {
        Shape::of(
            settings.with(|s| s.as_ref().map(Vec::is_empty)),
            error.with(Option::is_some),
        )
    });
    let each = move || settings.get().unwrap_or_default();
    view! {
        <PageHead title="Settings" />
        <p class="muted">"Instance-wide values. Resetting a setting deletes it, so its built-in default applies again."</p>
        <ErrorBanner error />
        {move || match shape.get() {
            Shape::Loading => view! { <Loading /> }.into_any(),
            Shape::Failed => ().into_any(),
            Shape::Empty => view! { <Empty text="No setting is stored; every default applies." /> }.into_any(),
            Shape::Rows => view! {
                <div class="table-wrap">
                    <table class="table" data-testid="settings">
                        <thead>
                            <tr>
                                <th scope="col">"Key"</th>
                                <th scope="col">"Value"</th>
                                <th scope="col">"Updated"</th>
                                <th scope="col"><span class="sr-only">"Actions"</span></th>
                            </tr>
                        </thead>
                        <tbody>
                            <For each key=|s| s.key.clone() children=move |s| view! { <Row entry=s on_change=changed /> } />
                        </tbody>
                    </table>
                </div>
            }.into_any(),
        }}
        <NewSetting on_change=changed />
    }
}

/// One setting: its draft survives refreshes of the list (rows are keyed by setting key).
#[component]
fn Row(entry: SettingEntry, on_change: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let key = entry.key.clone();
    let kind = Kind::of(&entry.value);
    let stored = RwSignal::new(entry.clone());
    let draft = RwSignal::new(draft_of(&entry.value));
    let error = RwSignal::new(None::<ApiError>);
    let saved = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let dirty = move || stored.with(|s| draft_of(&s.value)) != draft.get();
    let save_key = key.clone();
    let save = move |_| {
        let value = match value_of(kind, &draft.get_untracked()) {
            Ok(v) => v,
            Err(m) => {
                error.set(Some(invalid("value", m)));
                return;
            }
        };
        let path = format!("/admin/v1/settings/{}", api::enc(&save_key));
        busy.set(true);
        saved.set(false);
        leptos::task::spawn_local(async move {
            let answer = api::put::<SettingEntry>(&path, &SettingValue { value }).await;
            busy.set(false);
            match answer {
                Ok(entry) => {
                    draft.set(draft_of(&entry.value));
                    stored.set(entry);
                    error.set(None);
                    saved.set(true);
                    on_change();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let reset_key = key.clone();
    let reset = move || {
        let path = format!("/admin/v1/settings/{}", api::enc(&reset_key));
        leptos::task::spawn_local(async move {
            match api::delete(&path).await {
                Ok(()) => on_change(),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <tr data-testid="setting-row" data-key=key.clone() data-type=kind.slug()>
            <th scope="row"><code>{key.clone()}</code></th>
            <td>
                <ValueInput kind=kind draft label=format!("Value of {key}") testid="setting-value" />
                <FieldError error field="value" />
                {move || dirty().then(|| view! { <small class="notice"> " Unsaved"</small> })}
            </td>
            <td>{move || time::format(stored.get().updated_at, prefs::tz())}</td>
            <td>
                <div class="row">
                    <button type="button" class="primary" data-testid="setting-save"
                        disabled=move || busy.get() on:click=save>"Save"</button>
                    <ConfirmButton label="Reset" testid="setting-reset"
                        what=format!("Reset `{key}`: the stored value is deleted and the built-in default applies.")
                        word=key.clone() on_confirm=reset />
                </div>
                <ErrorBanner error fields=&["value"] />
                {move || saved.get().then(|| view! { <small class="ok" role="status" data-testid="setting-saved">"Saved."</small> })}
            </td>
        </tr>
    }
}

/// A setting that is not stored yet.
#[component]
fn NewSetting(on_change: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let key = RwSignal::new(String::new());
    let kind = RwSignal::new(Kind::Text);
    let draft = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let done = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name = key.get_untracked().trim().to_string();
        let value = match value_of(kind.get_untracked(), &draft.get_untracked()) {
            Ok(v) => v,
            Err(m) => {
                error.set(Some(invalid("value", m)));
                return;
            }
        };
        let path = format!("/admin/v1/settings/{}", api::enc(&name));
        leptos::task::spawn_local(async move {
            match api::put::<SettingEntry>(&path, &SettingValue { value }).await {
                Ok(entry) => {
                    error.set(None);
                    key.set(String::new());
                    draft.set(String::new());
                    done.set(Some(entry.key));
                    on_change();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <h2>"Add a setting"</h2>
        <form class="grid card" data-testid="setting-new" on:submit=submit>
            <label>"Key"
                <input type="text" data-testid="setting-new-key" required=true placeholder="ui.title"
                    pattern="[a-z0-9_.]{1,64}" maxlength="64"
                    prop:value=move || key.get() on:input=move |ev| key.set(event_target_value(&ev)) />
                <FieldError error field="key" />
            </label>
            <label>"Type"
                <select data-testid="setting-new-type" prop:value=move || kind.get().slug()
                    on:change=move |ev| {
                        let k = Kind::parse(&event_target_value(&ev));
                        if k == Kind::Switch { draft.set("false".into()) }
                        kind.set(k)
                    }>
                    <option value="text">"Text"</option>
                    <option value="number">"Number"</option>
                    <option value="boolean">"Yes / no"</option>
                    <option value="json">"JSON"</option>
                </select>
            </label>
            <label>"Value"
                <ValueInput kind draft label="New value".to_string() testid="setting-new-value" />
                <FieldError error field="value" />
            </label>
            <div class="row">
                <button type="submit" class="primary" data-testid="setting-create">"Add"</button>
            </div>
            <ErrorBanner error fields=&["key", "value"] />
            {move || done.get().map(|k| view! { <p class="ok" role="status">"Saved " <code>{k}</code> "."</p> })}
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_type_round_trips_through_its_input() {
        for value in [
            json!("Freeway"),
            json!(30),
            json!(1.5),
            json!(true),
            json!({"a": [1, 2]}),
        ] {
            let kind = Kind::of(&value);
            assert_eq!(value_of(kind, &draft_of(&value)), Ok(value));
        }
        assert!(value_of(Kind::Number, "ten").is_err());
        assert!(value_of(Kind::Json, "null").is_err());
        assert!(value_of(Kind::Json, "{").is_err());
    }
}
