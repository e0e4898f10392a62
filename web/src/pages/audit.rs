//! The audit log: every admin change, who made it and when, with the object before and after
//! (secrets redacted by the server). Filters and the page live in the URL, as in the request
//! log (`cursor=` and the `back=` stack).

use chrono_tz::Tz;
use freeway_wire::Page;
use freeway_wire::auth::Role;
use freeway_wire::usage::{AuditQuery, AuditRecord};
use leptos::prelude::*;

use crate::api::invalid;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;
use serde_json::Value;

use super::requests::nav::{
    self, Cursors, Debounce, Navigator, Shape, TenantSelect, UrlPager, param,
};
use crate::api::{self, ApiError};
use crate::prefs;
use crate::session;
use crate::time;
use crate::ui::{Empty, ErrorBanner, FieldError, Loading, PageHead};

const PATH: &str = "/audit";
const LIMIT: u32 = 50;
const FIELDS: &[&str] = &["action", "target_kind", "tenant_id", "from", "to"];

/// Actions the server records, offered as suggestions (any text is accepted).
const ACTIONS: &[&str] = &[
    "admin_token.create",
    "admin_user.create",
    "admin_user.password",
    "api_key.create",
    "api_key.revoke",
    "api_key.rotate",
    "catalog.seed",
    "cooldowns.clear",
    "credential.create",
    "limits.set",
    "master_key.rotate",
    "member.create",
    "member.delete",
    "member.update",
    "model.create",
    "model_mapping.delete",
    "model_mapping.put",
    "provider.create",
    "quota.delete",
    "quota.set",
    "routing_profile.delete",
    "routing_profile.put",
    "setting.delete",
    "setting.put",
    "tenant.create",
    "tenant.delete",
    "tenant.update",
];

const KINDS: &[&str] = &[
    "admin_token",
    "admin_user",
    "api_key",
    "credential",
    "member",
    "model",
    "model_mapping",
    "provider",
    "quota",
    "routing_profile",
    "setting",
    "tenant",
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct View {
    action: Option<String>,
    target_kind: Option<String>,
    tenant: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursors: Cursors,
}

impl View {
    fn from_query(map: &ParamsMap) -> View {
        View {
            action: param(map, "action"),
            target_kind: param(map, "target_kind"),
            tenant: param(map, "tenant"),
            from: param(map, "from"),
            to: param(map, "to"),
            cursors: Cursors::from_query(map),
        }
    }

    fn href(&self) -> String {
        let [cursor, back] = self.cursors.pairs();
        nav::href(
            PATH,
            &[
                ("action", self.action.clone()),
                ("target_kind", self.target_kind.clone()),
                ("tenant", self.tenant.clone()),
                ("from", self.from.clone()),
                ("to", self.to.clone()),
                cursor,
                back,
            ],
        )
    }

    fn query(&self, admin: bool) -> AuditQuery {
        AuditQuery {
            action: self.action.clone(),
            target_kind: self.target_kind.clone(),
            tenant_id: if admin {
                self.tenant.as_deref().and_then(|t| t.parse().ok())
            } else {
                None
            },
            from: nav::time_param(self.from.as_deref()),
            to: nav::time_param(self.to.as_deref()),
            limit: Some(LIMIT),
            cursor: self.cursors.cursor,
        }
    }
}

#[component]
pub fn Audit() -> impl IntoView {
    let admin = session::me().is_some_and(|m| m.role == Role::InstanceAdmin);
    let query = use_query_map();
    let view = Memo::new(move |_| query.with(View::from_query));
    let navigator = Navigator::new();
    let version = RwSignal::new(0u32);
    let rows = RwSignal::new(None::<Page<AuditRecord>>);
    let error = RwSignal::new(None::<ApiError>);
    let list = LocalResource::new(move || {
        version.track();
        let q = view.with(|v| v.query(admin));
        async move { api::get::<Page<AuditRecord>>(&api::with_query("/admin/v1/audit", &q)).await }
    });
    Effect::new(move |_| match list.get() {
        Some(Ok(page)) => {
            rows.set(Some(page));
            error.set(None);
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    let go_page = move |c: Cursors| {
        let mut v = view.get_untracked();
        v.cursors = c;
        navigator.go(&v.href(), false);
    };
    let shape = Memo::new(move |_| {
        Shape::of(
            rows.with(|r| r.as_ref().map(|p| p.data.is_empty())),
            error.with(Option::is_some),
        )
    });
    let next = Signal::derive(move || rows.with(|p| p.as_ref().and_then(|p| p.next_cursor)));
    let cursors = Signal::derive(move || view.with(|v| v.cursors.clone()));
    view! {
        <PageHead title="Audit log">
            <button type="button" data-testid="audit-refresh" on:click=move |_| version.update(|v| *v = v.wrapping_add(1))>
                "Refresh"
            </button>
        </PageHead>
        <Filters view navigator admin server=error />
        <ErrorBanner error fields=FIELDS />
        {move || match shape.get() {
            Shape::Loading => view! { <Loading /> }.into_any(),
            Shape::Failed => ().into_any(),
            Shape::Empty => view! { <Empty text="No change matches these filters." /> }.into_any(),
            Shape::Rows => view! { <Table rows /> }.into_any(),
        }}
        <UrlPager cursors next go=go_page />
    }
}

#[component]
fn Filters(
    view: Memo<View>,
    navigator: Navigator,
    admin: bool,
    server: RwSignal<Option<ApiError>>,
) -> impl IntoView {
    let prefs = prefs::use_prefs();
    let action = RwSignal::new(String::new());
    let kind = RwSignal::new(String::new());
    let tenant = RwSignal::new(String::from("all"));
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let mistake = RwSignal::new(None::<ApiError>);
    let shown = Signal::derive(move || mistake.get().or_else(|| server.get()));
    let debounce = Debounce::new();
    let typed = StoredValue::new(None::<String>);
    Effect::new(move |previous: Option<Tz>| {
        let v = view.get();
        let tz = prefs::tz();
        let mine = typed.with_value(|t| t.as_deref() == Some(v.href().as_str()));
        if !mine || previous.is_some_and(|p| p != tz) {
            action.set(v.action.clone().unwrap_or_default());
            kind.set(v.target_kind.clone().unwrap_or_default());
            tenant.set(v.tenant.clone().unwrap_or_else(|| "all".into()));
            from.set(nav::local_input(v.from.as_deref(), tz));
            to.set(nav::local_input(v.to.as_deref(), tz));
            mistake.set(None);
        }
        tz
    });
    let build = move || -> Result<View, ApiError> {
        let tz = prefs.tz.get_untracked();
        let trimmed = |s: RwSignal<String>| {
            let v = s.get_untracked().trim().to_string();
            (!v.is_empty()).then_some(v)
        };
        let from = nav::utc_param(&from.get_untracked(), tz).map_err(|m| invalid("from", m))?;
        let to = nav::utc_param(&to.get_untracked(), tz).map_err(|m| invalid("to", m))?;
        nav::ordered(from.as_deref(), to.as_deref()).map_err(|m| invalid("to", m))?;
        Ok(View {
            action: trimmed(action),
            target_kind: trimmed(kind),
            tenant: trimmed(tenant).filter(|t| admin && t != "all"),
            from,
            to,
            cursors: Cursors::default(),
        })
    };
    let apply = move |replace: bool| match build() {
        Ok(v) => {
            mistake.set(None);
            let href = v.href();
            typed.set_value(replace.then(|| href.clone()));
            navigator.go(&href, replace);
        }
        Err(e) => mistake.set(Some(e)),
    };
    let typing = move || debounce.run(400, move || apply(true));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        debounce.cancel();
        apply(false);
    };
    let clear = move |_| {
        debounce.cancel();
        typed.set_value(None);
        navigator.go(PATH, false);
    };
    let zone = move || prefs::tz().name().to_string();
    let suggestions = |id: &'static str, words: &'static [&'static str]| {
        view! {
            <datalist id=id>
                {words.iter().map(|w| view! { <option value=*w></option> }).collect::<Vec<_>>()}
            </datalist>
        }
    };
    view! {
        <form class="grid card" data-testid="audit-filters" on:submit=submit aria-label="Filters">
            <label>"Action"
                <input type="text" data-testid="audit-filter-action" list="audit-actions" placeholder="api_key.create"
                    prop:value=move || action.get()
                    on:input=move |ev| { action.set(event_target_value(&ev)); typing() } />
                {suggestions("audit-actions", ACTIONS)}
                <FieldError error=shown field="action" />
            </label>
            <label>"Target kind"
                <input type="text" data-testid="audit-filter-kind" list="audit-kinds" placeholder="tenant"
                    prop:value=move || kind.get()
                    on:input=move |ev| { kind.set(event_target_value(&ev)); typing() } />
                {suggestions("audit-kinds", KINDS)}
                <FieldError error=shown field="target_kind" />
            </label>
            {admin.then(|| view! {
                <TenantSelect value=tenant testid="audit-filter-tenant"
                    on_change=move |t| { tenant.set(t); debounce.cancel(); apply(true) } />
            })}
            <label>{move || format!("From ({})", zone())}
                <input type="datetime-local" data-testid="audit-filter-from"
                    prop:value=move || from.get()
                    on:change=move |ev| { from.set(event_target_value(&ev)); typing() } />
                <FieldError error=shown field="from" />
            </label>
            <label>{move || format!("To ({})", zone())}
                <input type="datetime-local" data-testid="audit-filter-to"
                    prop:value=move || to.get()
                    on:change=move |ev| { to.set(event_target_value(&ev)); typing() } />
                <FieldError error=shown field="to" />
            </label>
            <div class="row">
                <button type="submit" class="primary" data-testid="audit-filter-apply">"Apply"</button>
                <button type="button" data-testid="audit-filter-clear" on:click=clear>"Clear"</button>
            </div>
        </form>
    }
}

#[component]
fn Table(rows: RwSignal<Option<Page<AuditRecord>>>) -> impl IntoView {
    let each = move || rows.with(|p| p.as_ref().map(|p| p.data.clone()).unwrap_or_default());
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="audit">
                <thead>
                    <tr>
                        <th scope="col">{move || format!("Time ({})", prefs::tz().name())}</th>
                        <th scope="col">"Actor"</th>
                        <th scope="col">"Action"</th>
                        <th scope="col">"Target"</th>
                        <th scope="col"><span class="sr-only">"Detail"</span></th>
                    </tr>
                </thead>
                <For each key=|r| r.id children=move |r| view! { <Row r /> } />
            </table>
        </div>
    }
}

fn pretty(value: &Option<Value>) -> String {
    match value {
        None => "—".into(),
        Some(v) => serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()),
    }
}

/// One change; its detail (the object before and after) unfolds under it.
#[component]
fn Row(r: AuditRecord) -> impl IntoView {
    let open = RwSignal::new(false);
    let detail_id = format!("audit-detail-{}", r.id);
    let target = match &r.target_id {
        Some(id) => format!("{} {id}", r.target_kind),
        None => r.target_kind.clone(),
    };
    let (before, after) = (pretty(&r.before), pretty(&r.after));
    let has_detail = r.before.is_some() || r.after.is_some();
    let at = r.at;
    let controls = detail_id.clone();
    view! {
        <tbody>
            <tr data-testid="audit-row" data-action=r.action.clone() data-id=r.id.to_string()>
                <td>{move || time::format_secs(at, prefs::tz())}</td>
                <td>{r.actor.clone()}</td>
                <td><code>{r.action.clone()}</code></td>
                <td>{target}</td>
                <td>
                    {has_detail.then(|| view! {
                        <button type="button" data-testid="audit-detail-toggle"
                            aria-expanded=move || open.get().to_string() aria-controls=controls.clone()
                            on:click=move |_| open.update(|o| *o = !*o)>
                            {move || if open.get() { "Hide detail" } else { "Detail" }}
                        </button>
                    })}
                </td>
            </tr>
            <Show when=move || open.get()>
                <tr id=detail_id.clone() data-testid="audit-detail">
                    <td colspan="5">
                        <div class="grid" style="align-items: start">
                            <div>
                                <div class="muted">"Before"</div>
                                <pre class="mono" style="white-space: pre-wrap; margin: 0">{before.clone()}</pre>
                            </div>
                            <div>
                                <div class="muted">"After"</div>
                                <pre class="mono" style="white-space: pre-wrap; margin: 0">{after.clone()}</pre>
                            </div>
                        </div>
                    </td>
                </tr>
            </Show>
        </tbody>
    }
}
