//! The shared pool, for instance admins: every provider (built-in and custom) with its
//! on/off switch, and one provider's settings, credentials and models.

mod catalog;
mod credentials;
mod discover;
mod models;
mod settings;

use freeway_wire::auth::Role;
use freeway_wire::page::{Page, PageQuery};
use freeway_wire::pool::{LimitSet, NewProvider, Origin, ProviderPatch, ProviderView};
use leptos::prelude::*;

use crate::ui::{bump, keep};
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

use crate::api::{self, ApiError};
use crate::session;
use crate::ui::{Empty, ErrorBanner, FieldError, Loading, PageHead, Pager, PagerState, opt_number};

/// Rows per page of every list here.
pub(super) const PAGE: u32 = 50;

/// `path?limit=50&cursor=…`.
pub(super) fn page_url(path: &str, cursor: Option<Uuid>) -> String {
    api::with_query(
        path,
        &PageQuery {
            limit: Some(PAGE),
            cursor,
        },
    )
}

/// Puts `row` in place of the row with its id, so a change shows before the refetch (and a
/// keyed row is rebuilt once, not twice).
pub(super) fn replace_row<T>(data: RwSignal<Option<Page<T>>>, row: T, id: impl Fn(&T) -> Uuid)
where
    T: Send + Sync + 'static,
{
    let key = id(&row);
    data.update(|d| {
        if let Some(slot) = d
            .as_mut()
            .and_then(|page| page.data.iter_mut().find(|r| id(r) == key))
        {
            *slot = row;
        }
    });
}

/// Is the element with id `id` the focused one?
pub(super) fn has_focus(id: &str) -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element())
        .is_some_and(|e| e.id() == id)
}

/// Focuses the element with id `id` once the view has caught up (a row rebuilt, a tab
/// switched).
pub(super) fn focus_later(id: String) {
    use wasm_bindgen::JsCast;
    request_animation_frame(move || {
        if let Some(el) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(&id))
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    });
}

/// An optional whole number in `[min, max]` from a text field, or a message for `field`.
pub(super) fn opt_in_range<T: TryFrom<i64>>(
    text: &str,
    field: &str,
    min: i64,
    max: i64,
) -> Result<Option<T>, ApiError> {
    let number = opt_number(text).map_err(|m| crate::api::invalid(field, m))?;
    match number {
        None => Ok(None),
        Some(n) if n >= min && n <= max => T::try_from(n)
            .map(Some)
            .map_err(|_| crate::api::invalid(field, format!("`{field}` is out of range."))),
        Some(_) => Err(crate::api::invalid(
            field,
            format!("`{field}` must be between {min} and {max}."),
        )),
    }
}

pub(super) fn provider_path(key: &str) -> String {
    format!("/admin/v1/providers/{}", api::enc(key))
}

pub(super) fn is_instance_admin() -> bool {
    session::me().is_some_and(|m| m.role == Role::InstanceAdmin)
}

#[component]
pub(super) fn NotAdmin() -> impl IntoView {
    view! { <p class="error" role="alert" data-testid="not-admin">"Only instance admins manage the shared pool."</p> }
}

/// Where to sign up for a built-in provider's key. From the reference catalog; to move to the
/// server's catalog when it carries the URL.
fn signup_url(name: &str) -> Option<&'static str> {
    Some(match name {
        "groq" => "https://console.groq.com/keys",
        "cerebras" => "https://cloud.cerebras.ai",
        "gemini" => "https://aistudio.google.com/apikey",
        "mistral" => "https://console.mistral.ai/api-keys/",
        "github" => "https://github.com/settings/tokens",
        "openrouter" => "https://openrouter.ai/keys",
        "cohere" => "https://dashboard.cohere.com/api-keys",
        "nvidia" => "https://build.nvidia.com/settings/api-keys",
        "cloudflare" => "https://dash.cloudflare.com",
        // The built-in base URL is the domestic host, whose keys differ from z.ai's.
        "zhipu" => "https://open.bigmodel.cn",
        "huggingface" => "https://huggingface.co/settings/tokens",
        "ollama-cloud" => "https://ollama.com/settings/keys",
        "opencode-zen" => "https://opencode.ai/auth",
        "llm7" => "https://token.llm7.io",
        // Keyless, but a key raises its priority.
        "pollinations" => "https://enter.pollinations.ai",
        _ => return None,
    })
}

/// A limit set's five fields as text, for editing.
#[derive(Clone, Copy)]
struct LimitDraft {
    rpm: RwSignal<String>,
    rph: RwSignal<String>,
    rpd: RwSignal<String>,
    tpm: RwSignal<String>,
    tpd: RwSignal<String>,
}

fn limit_text(value: Option<u64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

const REQUESTS_MAX: i64 = i32::MAX as i64;

impl LimitDraft {
    pub(super) fn new(limits: &LimitSet) -> LimitDraft {
        LimitDraft {
            rpm: RwSignal::new(limit_text(limits.rpm)),
            rph: RwSignal::new(limit_text(limits.rph)),
            rpd: RwSignal::new(limit_text(limits.rpd)),
            tpm: RwSignal::new(limit_text(limits.tpm)),
            tpd: RwSignal::new(limit_text(limits.tpd)),
        }
    }

    pub(super) fn set(&self, limits: &LimitSet) {
        self.rpm.set(limit_text(limits.rpm));
        self.rph.set(limit_text(limits.rph));
        self.rpd.set(limit_text(limits.rpd));
        self.tpm.set(limit_text(limits.tpm));
        self.tpd.set(limit_text(limits.tpd));
    }

    /// The limits typed; an empty field is no limit.
    pub(super) fn read(&self) -> Result<LimitSet, ApiError> {
        let field = |signal: RwSignal<String>, name: &str, max: i64| {
            opt_in_range::<u64>(&signal.get_untracked(), &format!("limits.{name}"), 1, max)
        };
        Ok(LimitSet {
            rpm: field(self.rpm, "rpm", REQUESTS_MAX)?,
            rph: field(self.rph, "rph", REQUESTS_MAX)?,
            rpd: field(self.rpd, "rpd", REQUESTS_MAX)?,
            tpm: field(self.tpm, "tpm", i64::MAX)?,
            tpd: field(self.tpd, "tpd", i64::MAX)?,
        })
    }
}

/// The five limit fields, each with the server's message about it.
#[component]
fn LimitFields(draft: LimitDraft, #[prop(into)] error: Signal<Option<ApiError>>) -> impl IntoView {
    let one = move |label: &'static str,
                    hint: &'static str,
                    signal: RwSignal<String>,
                    field: &'static str| {
        view! {
            <label title=hint>{label}
                <input type="text" inputmode="numeric" name=field placeholder="no limit"
                    data-testid=format!("limit-{}", field.trim_start_matches("limits."))
                    prop:value=move || signal.get()
                    on:input=move |ev| signal.set(event_target_value(&ev)) />
                <FieldError error field />
            </label>
        }
    };
    view! {
        {one("Requests / minute", "RPM; empty is no limit", draft.rpm, "limits.rpm")}
        {one("Requests / hour", "RPH; empty is no limit", draft.rph, "limits.rph")}
        {one("Requests / day", "RPD; empty is no limit", draft.rpd, "limits.rpd")}
        {one("Tokens / minute", "TPM; empty is no limit", draft.tpm, "limits.tpm")}
        {one("Tokens / day", "TPD; empty is no limit", draft.tpd, "limits.tpd")}
    }
}

/// `30 rpm · 1,000 rpd`, or `none`.
pub(super) fn limits_text(limits: &LimitSet) -> String {
    let parts: Vec<String> = [
        (limits.rpm, "rpm"),
        (limits.rph, "rph"),
        (limits.rpd, "rpd"),
        (limits.tpm, "tpm"),
        (limits.tpd, "tpd"),
    ]
    .into_iter()
    .filter_map(|(v, unit)| {
        v.map(|v| {
            format!(
                "{} {unit}",
                crate::ui::thousands(i64::try_from(v).unwrap_or(i64::MAX))
            )
        })
    })
    .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" · ")
    }
}

/// Every provider of the pool, a page at a time, and a form to add a custom one.
#[component]
pub fn ProviderList() -> impl IntoView {
    if !is_instance_admin() {
        return view! { <PageHead title="Pool" /><NotAdmin /> }.into_any();
    }
    let pager = PagerState::new();
    let version = RwSignal::new(0u32);
    let res = LocalResource::new(move || {
        version.track();
        let url = page_url("/admin/v1/providers", pager.cursor.get());
        async move { api::get::<Page<ProviderView>>(&url).await }
    });
    let (data, load_error) = keep(res);
    let action_error = RwSignal::new(None::<ApiError>);
    let next = Signal::derive(move || data.with(|d| d.as_ref().and_then(|p| p.next_cursor)));
    view! {
        <PageHead title="Pool" />
        <p class="muted">
            "Providers are tried by priority, lower first. Keyless providers are called without a \
             credential and start disabled: enabling one is the opt-in to send the team's prompts \
             to that service."
        </p>
        <ErrorBanner error=load_error />
        <ErrorBanner error=action_error />
        <ProviderTable data load_error version action_error />
        <Pager state=pager next />
        <h2>"Add a custom provider"</h2>
        <AddProvider version />
        <h2>"Import a catalog"</h2>
        <catalog::CatalogImport version />
    }
    .into_any()
}

#[component]
fn ProviderTable(
    data: RwSignal<Option<Page<ProviderView>>>,
    load_error: RwSignal<Option<ApiError>>,
    version: RwSignal<u32>,
    action_error: RwSignal<Option<ApiError>>,
) -> impl IntoView {
    let rows = move || data.with(|d| d.as_ref().map(|p| p.data.clone()).unwrap_or_default());
    let loaded = move || data.with(Option::is_some);
    let empty = move || data.with(|d| d.as_ref().is_some_and(|p| p.data.is_empty()));
    view! {
        <Show when=loaded fallback=move || load_error.with(Option::is_none).then(|| view! { <Loading /> })>
            <Show when=move || !empty() fallback=|| view! { <Empty text="No providers yet." /> }>
                <div class="table-wrap">
                    <table class="table" data-testid="providers">
                        <thead>
                            <tr>
                                <th>"Provider"</th>
                                <th>"Enabled"</th>
                                <th>"Priority"</th>
                                <th>"Origin"</th>
                                <th>"Account limits"</th>
                                <th>"Key"</th>
                            </tr>
                        </thead>
                        <tbody>
                            <For each=rows key=|p| (p.id, p.updated_at)
                                children=move |p| view! { <ProviderRow p data version error=action_error /> } />
                        </tbody>
                    </table>
                </div>
            </Show>
        </Show>
    }
}

/// The enabled switch of a provider, saved at once. The answer replaces the provider in
/// `list` (a page of the list) or `single` (the detail page).
#[component]
fn EnabledToggle(
    p: ProviderView,
    version: RwSignal<u32>,
    error: RwSignal<Option<ApiError>>,
    #[prop(optional)] list: Option<RwSignal<Option<Page<ProviderView>>>>,
    #[prop(optional)] single: Option<RwSignal<Option<ProviderView>>>,
) -> impl IntoView {
    let enabled = RwSignal::new(p.enabled);
    let busy = RwSignal::new(false);
    let path = StoredValue::new(provider_path(&p.id.to_string()));
    let element_id = StoredValue::new(format!("provider-enabled-{}", p.id));
    let toggle = move |ev: leptos::ev::Event| {
        let want = event_target_checked(&ev);
        let focused = element_id.with_value(|id| has_focus(id));
        let element_id = element_id.get_value();
        enabled.set(want);
        busy.set(true);
        let path = path.get_value();
        spawn_local(async move {
            let body = ProviderPatch {
                enabled: Some(want),
                ..ProviderPatch::default()
            };
            let result = api::patch::<ProviderView>(&path, &body).await;
            busy.set(false);
            match result {
                Ok(view) => {
                    error.set(None);
                    if let Some(list) = list {
                        replace_row(list, view.clone(), |p| p.id);
                    }
                    if let Some(single) = single {
                        single.set(Some(view));
                    }
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
    let note = p.keyless.then(|| {
        view! {
            <small class="muted" data-testid="keyless-note">
                {format!(
                    "Keyless: enabling it is the opt-in to send prompts to {} without an account.",
                    p.display_name
                )}
            </small>
        }
    });
    view! {
        <label class="inline">
            <input type="checkbox" data-testid="provider-enabled" id=element_id.get_value()
                aria-label=format!("{} enabled", p.display_name)
                prop:checked=move || enabled.get()
                disabled=move || busy.get()
                on:change=toggle />
            {move || if enabled.get() { "On" } else { "Off" }}
        </label>
        {note}
    }
}

#[component]
fn ProviderRow(
    p: ProviderView,
    data: RwSignal<Option<Page<ProviderView>>>,
    version: RwSignal<u32>,
    error: RwSignal<Option<ApiError>>,
) -> impl IntoView {
    let href = format!("/pool/{}", api::enc(&p.name));
    // A custom provider added without a display name is known by its name.
    let title = if p.display_name.trim().is_empty() {
        p.name.clone()
    } else {
        p.display_name.clone()
    };
    let key_cell = match (p.origin, signup_url(&p.name)) {
        (Origin::Builtin, Some(url)) => view! {
            <a href=url target="_blank" rel="noopener noreferrer" data-testid="signup">
                {if p.keyless { "Optional key ↗" } else { "Get a key ↗" }}
            </a>
        }
        .into_any(),
        _ if p.keyless => view! { <span class="muted">"None needed"</span> }.into_any(),
        _ => view! { <span class="muted">"–"</span> }.into_any(),
    };
    let origin = match (p.origin, p.edited) {
        (Origin::Builtin, true) => "built-in, edited",
        (Origin::Builtin, false) => "built-in",
        (Origin::Custom, _) => "custom",
    };
    view! {
        <tr data-testid="provider-row" data-name=p.name.clone()>
            <td>
                <a href=href>{title.clone()}</a>
                {(title != p.name).then(|| view! { " " <code class="muted">{p.name.clone()}</code> })}
                {p.keyless.then(|| view! { " " <span class="badge warn" data-testid="keyless">"keyless"</span> })}
            </td>
            <td><EnabledToggle p=p.clone() version error list=data /></td>
            <td class="num">{p.priority}</td>
            <td>{origin}</td>
            <td>{limits_text(&p.limits)}</td>
            <td>{key_cell}</td>
        </tr>
    }
}

#[component]
fn AddProvider(version: RwSignal<u32>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let base_url = RwSignal::new(String::new());
    let display_name = RwSignal::new(String::new());
    let keyless = RwSignal::new(false);
    let priority = RwSignal::new(String::new());
    let timeout = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let added = RwSignal::new(None::<ProviderView>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let numbers = opt_in_range::<i32>(&priority.get_untracked(), "priority", 0, 1_000_000)
            .and_then(|p| {
                opt_in_range::<u32>(&timeout.get_untracked(), "timeout_ms", 1, 600_000)
                    .map(|t| (p, t))
            });
        let (priority_value, timeout_value) = match numbers {
            Ok(v) => v,
            Err(e) => return error.set(Some(e)),
        };
        let display = display_name.get_untracked().trim().to_string();
        let body = NewProvider {
            name: name.get_untracked().trim().to_string(),
            display_name: (!display.is_empty()).then_some(display),
            base_url: base_url.get_untracked().trim().to_string(),
            keyless: keyless.get_untracked(),
            enabled: None,
            priority: priority_value,
            timeout_ms: timeout_value,
            limits: None,
            daily_reset_tz: None,
        };
        busy.set(true);
        spawn_local(async move {
            let result = api::post::<ProviderView>("/admin/v1/providers", &body).await;
            busy.set(false);
            match result {
                Ok(view) => {
                    error.set(None);
                    name.set(String::new());
                    base_url.set(String::new());
                    display_name.set(String::new());
                    keyless.set(false);
                    priority.set(String::new());
                    timeout.set(String::new());
                    added.set(Some(view));
                    bump(version);
                }
                Err(e) => {
                    added.set(None);
                    error.set(Some(e));
                }
            }
        });
    };
    let text = move |label: &'static str,
                     field: &'static str,
                     signal: RwSignal<String>,
                     testid: &'static str,
                     placeholder: &'static str| {
        view! {
            <label>{label}
                <input type="text" name=field data-testid=testid placeholder=placeholder
                    prop:value=move || signal.get()
                    on:input=move |ev| signal.set(event_target_value(&ev)) />
                <FieldError error field />
            </label>
        }
    };
    view! {
        <form class="card grid" on:submit=submit data-testid="provider-add-form">
            {text("Name", "name", name, "provider-add-name", "my-vllm")}
            {text("Base URL", "base_url", base_url, "provider-add-url", "http://10.0.0.5:8000/v1")}
            {text("Display name (optional)", "display_name", display_name, "provider-add-display", "")}
            {text("Priority (default 100)", "priority", priority, "provider-add-priority", "100")}
            {text("Timeout, ms (default 60000)", "timeout_ms", timeout, "provider-add-timeout", "60000")}
            <label class="inline">
                <input type="checkbox" data-testid="provider-add-keyless"
                    prop:checked=move || keyless.get()
                    on:change=move |ev| keyless.set(event_target_checked(&ev)) />
                "Keyless (called without a credential)"
            </label>
            <button type="submit" class="primary" data-testid="provider-add" disabled=move || busy.get()>
                "Add provider"
            </button>
        </form>
        <ErrorBanner error fields=&["name", "base_url", "display_name", "priority", "timeout_ms"] />
        {move || added.get().map(|p| view! {
            <p class="ok" role="status" data-testid="provider-added">
                "Added " <a href=format!("/pool/{}", api::enc(&p.name))>{p.display_name.clone()}</a>
                ": add its models and, unless it is keyless, a credential."
            </p>
        })}
    }
}

/// One provider: its settings, credentials and models.
#[component]
pub fn ProviderDetail() -> impl IntoView {
    if !is_instance_admin() {
        return view! { <PageHead title="Provider" /><NotAdmin /> }.into_any();
    }
    let params = use_params_map();
    let key = Memo::new(move |_| params.with(|p| p.get("provider").unwrap_or_default()));
    let version = RwSignal::new(0u32);
    let res = LocalResource::new(move || {
        version.track();
        let path = provider_path(&key.get());
        async move { api::get::<ProviderView>(&path).await }
    });
    let (data, load_error) = keep(res);
    // Only a different provider rebuilds the sections: drafts survive refetches.
    let id = Memo::new(move |_| {
        data.with(|d| {
            d.as_ref()
                .filter(|p| p.name == key.get() || p.id.to_string() == key.get())
                .map(|p| p.id)
        })
    });
    let title = move || {
        data.with(|d| d.as_ref().map(|p| p.display_name.clone()))
            .unwrap_or_else(|| key.get())
    };
    view! {
        <p><a href="/pool" data-testid="back">"← Pool"</a></p>
        {move || view! { <PageHead title=title() /> }}
        <ErrorBanner error=load_error />
        {move || match id.get() {
            None => load_error.with(Option::is_none).then(|| view! { <Loading /> }).into_any(),
            Some(_) => match data.get_untracked() {
                Some(p) => view! { <Sections p data version /> }.into_any(),
                None => ().into_any(),
            },
        }}
    }
    .into_any()
}

#[component]
fn Sections(
    p: ProviderView,
    data: RwSignal<Option<ProviderView>>,
    version: RwSignal<u32>,
) -> impl IntoView {
    let key = p.id.to_string();
    let keyless = p.keyless;
    view! {
        <settings::Summary data version />
        <h2>"Settings"</h2>
        <settings::ProviderSettings p=p.clone() data />
        <h2>"Credentials"</h2>
        {keyless.then(|| view! {
            <p class="muted">"This provider is keyless: it is called without a credential."</p>
        })}
        <credentials::Credentials provider=key.clone() />
        <h2>"Models"</h2>
        <models::Models provider=key.clone() provider_name=p.name.clone() />
        <settings::DeleteProvider p />
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_people_write_them() {
        let limits = LimitSet {
            rpm: Some(30),
            rpd: Some(14_400),
            ..LimitSet::default()
        };
        assert_eq!(limits_text(&limits), "30 rpm · 14,400 rpd");
        assert_eq!(limits_text(&LimitSet::default()), "none");
    }

    #[test]
    fn numbers_are_checked_before_sending_with_the_field_named() {
        assert_eq!(opt_in_range::<u64>("", "limits.rpm", 1, 10), Ok(None));
        assert_eq!(
            opt_in_range::<u64>("1,000", "limits.rpm", 1, 5000),
            Ok(Some(1000))
        );
        let zero = opt_in_range::<u64>("0", "limits.rpm", 1, 10).unwrap_err();
        assert!(zero.is_about("limits.rpm") && zero.is_about("limits"));
        assert!(opt_in_range::<i32>("ten", "priority", 0, 10).is_err());
    }

    #[test]
    fn built_in_providers_with_keys_have_a_sign_up_page() {
        for name in [
            "groq",
            "gemini",
            "mistral",
            "openrouter",
            "nvidia",
            "cloudflare",
        ] {
            assert!(
                signup_url(name).is_some_and(|u| u.starts_with("https://")),
                "{name}"
            );
        }
        assert_eq!(signup_url("kilo"), None);
        assert_eq!(signup_url("my-vllm"), None);
    }
}
