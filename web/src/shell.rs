//! The signed-in frame: who you are, the navigation your role may use, the time zone, theme
//! and (instance admins) tenant, and the page.

use freeway_wire::Page;
use freeway_wire::auth::{Me, Role};
use freeway_wire::tenants::TenantView;
use leptos::prelude::*;
use leptos_router::components::Outlet;
use leptos_router::hooks::{use_location, use_navigate};

use crate::access::navigation;
use crate::prefs::use_prefs;
use crate::session::{self, use_session};
use crate::{api, ui};

fn here() -> String {
    let location = use_location();
    format!(
        "{}{}",
        location.pathname.get_untracked(),
        location.search.get_untracked()
    )
}

#[component]
pub fn Shell() -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    if session::token().is_none() {
        let next = api::enc(&here());
        navigate(&format!("/login?next={next}"), Default::default());
    }
    let me = LocalResource::new(move || async move {
        session::token()?;
        api::get::<Me>("/admin/v1/me").await.ok()
    });
    let navigate_change = navigate.clone();
    Effect::new(move |_| {
        if let Some(Some(me)) = me.get() {
            // The server's word, so a reload cannot skip the change.
            if me.must_change_password {
                navigate_change("/password", Default::default());
            }
            session.me.set(Some(me));
        }
    });
    view! {
        {move || match session.me.get() {
            None => view! { <main class="shell"><ui::Loading /></main> }.into_any(),
            Some(me) => view! { <Frame me /> }.into_any(),
        }}
    }
}

#[component]
fn Frame(me: Me) -> impl IntoView {
    let prefs = use_prefs();
    let tenant = me.tenant_id.map(|t| t.to_string());
    let member = me.member_id.map(|m| m.to_string());
    let pages = navigation(me.role, me.member_id.is_some());
    let location = use_location();
    let menu_open = RwSignal::new(false);
    let links = pages
        .into_iter()
        .map(|page| {
            let href = page.href(tenant.as_deref(), member.as_deref());
            let target = href.clone();
            let current = move || {
                let path = location.pathname.get();
                if target == "/" {
                    path == "/"
                } else {
                    path.starts_with(&target)
                }
            };
            view! {
                <li>
                    <a href=href data-testid=format!("nav-{}", page.slug())
                        aria-current=move || current().then_some("page")
                        on:click=move |_| menu_open.set(false)>{page.label()}</a>
                </li>
            }
        })
        .collect::<Vec<_>>();
    let role = match me.role {
        Role::InstanceAdmin => "instance admin",
        Role::TenantAdmin => "tenant admin",
        Role::Member => "member",
    };
    let sign_out = move |_| {
        session::clear();
        if let Some(w) = web_sys::window() {
            let _ = w.location().set_href("/login");
        }
    };
    view! {
        <div class="app">
            <header class="topbar">
                <button type="button" class="menu" aria-label="Menu" aria-expanded=move || menu_open.get().to_string()
                    on:click=move |_| menu_open.update(|o| *o = !*o)>"☰"</button>
                <a class="brand" href="/">"Freeway"</a>
                <div class="prefs">
                    {(me.role == Role::InstanceAdmin).then(|| view! { <TenantSwitcher /> })}
                    <ZonePicker />
                    <label class="theme">
                        <span class="sr-only">"Theme"</span>
                        <select aria-label="Theme" on:change=move |ev| prefs.theme.set(event_target_value(&ev))
                            prop:value=move || prefs.theme.get()>
                            <option value="">"System theme"</option>
                            <option value="light">"Light"</option>
                            <option value="dark">"Dark"</option>
                        </select>
                    </label>
                    <span class="whoami" data-testid="whoami" data-role=me.role.as_str()>{me.username.clone()} " · " {role}</span>
                    <button type="button" data-testid="sign-out" on:click=sign_out>"Sign out"</button>
                </div>
            </header>
            <nav class="side" class:open=move || menu_open.get() aria-label="Main">
                <ul data-testid="nav">{links}</ul>
            </nav>
            <main class="content"><Outlet /></main>
        </div>
    }
}

/// Every chart and timestamp is in this zone; the choice is remembered.
#[component]
fn ZonePicker() -> impl IntoView {
    let prefs = use_prefs();
    let zones: Vec<_> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|z| view! { <option value=z.name()>{z.name()}</option> })
        .collect();
    view! {
        <label class="zone">
            <span class="sr-only">"Time zone"</span>
            <select aria-label="Time zone" data-testid="zone"
                prop:value=move || prefs.tz.get().name().to_string()
                on:change=move |ev| {
                    if let Some(z) = crate::time::parse_zone(&event_target_value(&ev)) {
                        prefs.tz.set(z)
                    }
                }>
                {zones}
            </select>
        </label>
    }
}

/// The instance admin's tenant: scopes the overview and the requests log; "All tenants" for
/// the whole instance. One page of tenants, searched on the server.
#[component]
fn TenantSwitcher() -> impl IntoView {
    let prefs = use_prefs();
    let tenants = LocalResource::new(|| async {
        api::get::<Page<TenantView>>("/admin/v1/tenants?limit=100")
            .await
            .map(|p| p.data)
            .unwrap_or_default()
    });
    view! {
        <label class="tenant">
            <span class="sr-only">"Tenant"</span>
            <select aria-label="Tenant" data-testid="tenant-switcher"
                prop:value=move || prefs.tenant.get().map(|t| t.to_string()).unwrap_or_default()
                on:change=move |ev| prefs.tenant.set(event_target_value(&ev).parse().ok())>
                <option value="">"All tenants"</option>
                // `selected` per option: the list arrives after the select's value was set.
                {move || tenants.get().unwrap_or_default().into_iter().map(|t| {
                    let id = t.id;
                    view! {
                        <option value=id.to_string() prop:selected=move || prefs.tenant.get() == Some(id)>{t.name}</option>
                    }
                }).collect::<Vec<_>>()}
            </select>
        </label>
    }
}
