//! A provider's heading facts, its editable settings, and deleting a custom one.

use freeway_wire::pool::{Origin, ProviderPatch, ProviderView};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;

use super::{
    EnabledToggle, LimitDraft, LimitFields, limits_text, opt_in_range, provider_path, signup_url,
};
use crate::api::{self, ApiError};
use crate::prefs::use_prefs;
use crate::time;
use crate::ui::{ConfirmButton, ErrorBanner, FieldError};

/// Name, origin, keyless, the enabled switch, and where to get a key.
#[component]
pub(super) fn Summary(
    data: RwSignal<Option<ProviderView>>,
    version: RwSignal<u32>,
) -> impl IntoView {
    let prefs = use_prefs();
    let error = RwSignal::new(None::<ApiError>);
    let Some(p) = data.get_untracked() else {
        return ().into_any();
    };
    let signup = (p.origin == Origin::Builtin)
        .then(|| signup_url(&p.name))
        .flatten()
        .map(|url| view! { <a href=url target="_blank" rel="noopener noreferrer" data-testid="signup">"Get a key ↗"</a> });
    let facts = move || {
        data.get().map(|p| {
            let origin = match (p.origin, p.edited) {
                (Origin::Builtin, true) => "built-in, edited (catalog upgrades leave it alone)",
                (Origin::Builtin, false) => "built-in",
                (Origin::Custom, _) => "custom",
            };
            view! {
                <code>{p.name.clone()}</code>
                " · " {origin}
                {p.keyless.then(|| view! { " " <span class="badge warn" data-testid="keyless">"keyless"</span> })}
                " · updated " {time::format(p.updated_at, prefs.tz.get())}
            }
        })
    };
    view! {
        <div class="card" data-testid="provider-summary">
            <p class="row">{facts}</p>
            <div class="row">
                <EnabledToggle p=p.clone() version error single=data />
                {signup}
            </div>
            <ErrorBanner error />
        </div>
    }
    .into_any()
}

/// Base URL, priority, timeout, account limits and the daily reset zone.
#[component]
pub(super) fn ProviderSettings(
    p: ProviderView,
    data: RwSignal<Option<ProviderView>>,
) -> impl IntoView {
    let custom = p.origin == Origin::Custom;
    let display_name = RwSignal::new(p.display_name.clone());
    let base_url = RwSignal::new(p.base_url.clone());
    let priority = RwSignal::new(p.priority.to_string());
    let timeout = RwSignal::new(p.timeout_ms.to_string());
    let tz = RwSignal::new(p.daily_reset_tz.clone());
    let keyless = RwSignal::new(p.keyless);
    let limits = LimitDraft::new(&p.limits);
    let error = RwSignal::new(None::<ApiError>);
    let saved = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let reset = move |p: &ProviderView| {
        display_name.set(p.display_name.clone());
        base_url.set(p.base_url.clone());
        priority.set(p.priority.to_string());
        timeout.set(p.timeout_ms.to_string());
        tz.set(p.daily_reset_tz.clone());
        keyless.set(p.keyless);
        limits.set(&p.limits);
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saved.set(false);
        let Some(current) = data.get_untracked() else {
            return;
        };
        let patch = match patch_of(
            &current,
            display_name,
            base_url,
            priority,
            timeout,
            tz,
            keyless,
            limits,
        ) {
            Ok(patch) => patch,
            Err(e) => return error.set(Some(e)),
        };
        if patch == ProviderPatch::default() {
            error.set(None);
            saved.set(true);
            return;
        }
        busy.set(true);
        let path = provider_path(&current.id.to_string());
        spawn_local(async move {
            let result = api::patch::<ProviderView>(&path, &patch).await;
            busy.set(false);
            match result {
                Ok(view) => {
                    error.set(None);
                    reset(&view);
                    saved.set(true);
                    data.set(Some(view));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let revert = move |_| {
        if let Some(p) = data.get_untracked() {
            reset(&p);
            error.set(None);
            saved.set(false);
        }
    };
    let zones: Vec<_> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|z| view! { <option value=z.name()></option> })
        .collect();
    let text = move |label: &'static str, field: &'static str, signal: RwSignal<String>| {
        view! {
            <label>{label}
                <input type="text" name=field data-testid=format!("provider-{field}")
                    prop:value=move || signal.get()
                    on:input=move |ev| signal.set(event_target_value(&ev)) />
                <FieldError error field />
            </label>
        }
    };
    view! {
        <form class="card" on:submit=submit data-testid="provider-settings">
            <div class="grid">
                {text("Display name", "display_name", display_name)}
                {text("Base URL", "base_url", base_url)}
                {text("Priority (lower is tried first)", "priority", priority)}
                {text("Timeout, ms", "timeout_ms", timeout)}
                <label>"Daily limits reset at midnight in"
                    <input type="text" name="daily_reset_tz" list="reset-zones" data-testid="provider-daily_reset_tz"
                        prop:value=move || tz.get()
                        on:input=move |ev| tz.set(event_target_value(&ev)) />
                    <datalist id="reset-zones">{zones}</datalist>
                    <FieldError error field="daily_reset_tz" />
                </label>
                {custom.then(|| view! {
                    <label class="inline">
                        <input type="checkbox" data-testid="provider-keyless"
                            prop:checked=move || keyless.get()
                            on:change=move |ev| keyless.set(event_target_checked(&ev)) />
                        "Keyless"
                    </label>
                })}
            </div>
            <fieldset>
                <legend>"Account limits, shared by every credential (empty is no limit)"</legend>
                <div class="grid"><LimitFields draft=limits error /></div>
            </fieldset>
            <ErrorBanner error fields=&["display_name", "base_url", "priority", "timeout_ms", "daily_reset_tz", "limits"] />
            {move || saved.get().then(|| view! { <p class="ok" role="status" data-testid="provider-saved">"Saved."</p> })}
            <div class="row">
                <button type="submit" class="primary" data-testid="provider-save" disabled=move || busy.get()>"Save settings"</button>
                <button type="button" data-testid="provider-revert" on:click=revert>"Revert"</button>
                <span class="muted">
                    {move || data.with(|d| d.as_ref().map(|p| format!("Saved limits: {}", limits_text(&p.limits))))}
                </span>
            </div>
        </form>
    }
}

/// The fields that differ from `current`, checked.
#[allow(clippy::too_many_arguments)]
fn patch_of(
    current: &ProviderView,
    display_name: RwSignal<String>,
    base_url: RwSignal<String>,
    priority: RwSignal<String>,
    timeout: RwSignal<String>,
    tz: RwSignal<String>,
    keyless: RwSignal<bool>,
    limits: LimitDraft,
) -> Result<ProviderPatch, ApiError> {
    let priority = opt_in_range::<i32>(&priority.get_untracked(), "priority", 0, 1_000_000)?
        .ok_or_else(|| crate::api::invalid("priority", "A priority is needed."))?;
    let timeout = opt_in_range::<u32>(&timeout.get_untracked(), "timeout_ms", 1, 600_000)?
        .ok_or_else(|| crate::api::invalid("timeout_ms", "A timeout is needed."))?;
    let limits = limits.read()?;
    let display_name = display_name.get_untracked().trim().to_string();
    let base_url = base_url.get_untracked().trim().to_string();
    let tz = tz.get_untracked().trim().to_string();
    let keyless = keyless.get_untracked();
    Ok(ProviderPatch {
        name: None,
        display_name: (display_name != current.display_name).then_some(display_name),
        base_url: (base_url != current.base_url).then_some(base_url),
        keyless: (keyless != current.keyless).then_some(keyless),
        enabled: None,
        priority: (priority != current.priority).then_some(priority),
        timeout_ms: (i32::try_from(timeout).ok() != Some(current.timeout_ms)).then_some(timeout),
        limits: (limits != current.limits).then_some(limits),
        daily_reset_tz: (tz != current.daily_reset_tz).then_some(tz),
    })
}

/// Deleting a custom provider (with its models and credentials); built-in ones are disabled.
#[component]
pub(super) fn DeleteProvider(p: ProviderView) -> impl IntoView {
    if p.origin == Origin::Builtin {
        return view! {
            <p class="muted">"A built-in provider cannot be deleted (the catalog would bring it back): turn it off instead."</p>
        }
        .into_any();
    }
    let error = RwSignal::new(None::<ApiError>);
    let navigate = StoredValue::new(use_navigate());
    let path = StoredValue::new(provider_path(&p.id.to_string()));
    let on_confirm = move || {
        let path = path.get_value();
        let navigate = navigate.get_value();
        spawn_local(async move {
            match api::delete(&path).await {
                Ok(()) => navigate("/pool", Default::default()),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <h2>"Delete"</h2>
        <div class="card">
            <p>"Deleting a custom provider deletes its models and credentials too."</p>
            <ConfirmButton label="Delete provider" testid="provider-delete"
                what=format!("Delete {} with its models and credentials?", p.display_name)
                word=p.name.clone() on_confirm />
            <ErrorBanner error />
        </div>
    }
    .into_any()
}
