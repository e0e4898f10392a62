//! Tenants: the instance admin's list (searched on the server, one page at a time) and one
//! tenant's page: its name, disabling and deleting it (instance admin), its members (tenant
//! admins add them; a member sees only themselves) and its quota (set by the instance admin).

mod members_card;
pub(crate) mod quota;
pub(crate) mod shared;

use freeway_wire::Page;
use freeway_wire::auth::Role;
use freeway_wire::tenants::{NewTenant, TenantPatch, TenantView};
use leptos::prelude::*;

use crate::ui::{bump, keep};
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::{self, ApiError};
use crate::prefs::use_prefs;
use crate::session::use_session;
use crate::time;
use crate::ui::{
    ConfirmButton, Empty, ErrorBanner, FieldError, Loading, PageHead, Pager, PagerState,
};
use members_card::MembersCard;
pub(crate) use members_card::role_label;
use quota::{QuotaEditor, QuotaTarget};
use shared::SearchBox;

/// The signed-in admin's role; pages render only once it is known.
pub(crate) fn my_role() -> Option<Role> {
    use_session()
        .me
        .with_untracked(|m| m.as_ref().map(|m| m.role))
}

/// A tenant's or member's state as a badge.
pub(crate) fn disabled_badge(disabled: bool) -> impl IntoView {
    disabled.then(|| view! { <span class="badge bad" data-testid="disabled">"disabled"</span> })
}

#[component]
pub fn TenantList() -> impl IntoView {
    let q = shared::url_q();
    let pager = PagerState::new();
    let version = RwSignal::new(0u32);
    let resource = LocalResource::new(move || {
        version.track();
        let path = shared::list_path("/admin/v1/tenants", &q.get(), pager.cursor.get());
        async move { api::get::<Page<TenantView>>(&path).await }
    });
    let (page, error) = keep(resource);
    let next = Signal::derive(move || page.with(|p| p.as_ref().and_then(|p| p.next_cursor)));
    let admin = my_role() == Some(Role::InstanceAdmin);
    view! {
        <PageHead title="Tenants" />
        {admin.then(|| view! { <CreateTenant on_created=move || bump(version) /> })}
        <section class="card">
            <SearchBox testid="tenant-search" label="Search tenants" pager q />
            <ErrorBanner error />
            <TenantTable page q />
            <Pager state=pager next />
        </section>
    }
}

#[component]
fn TenantTable(page: RwSignal<Option<Page<TenantView>>>, q: Memo<String>) -> impl IntoView {
    let prefs = use_prefs();
    move || match page.get() {
        None => view! { <Loading /> }.into_any(),
        Some(p) if p.data.is_empty() => {
            let text = if q.get().trim().is_empty() {
                "No tenants yet.".to_string()
            } else {
                format!("No tenant matches “{}”.", q.get().trim())
            };
            view! { <Empty text /> }.into_any()
        }
        Some(p) => {
            let tz = prefs.tz.get();
            let rows = p
                .data
                .into_iter()
                .map(|t| {
                    view! {
                        <tr data-testid="tenant-row" data-id=t.id.to_string() data-name=t.name.clone()>
                            <td><a href=format!("/tenants/{}", t.id)>{t.name.clone()}</a></td>
                            <td>{disabled_badge(t.disabled)}</td>
                            <td>{time::format(t.created_at, tz)}</td>
                        </tr>
                    }
                })
                .collect::<Vec<_>>();
            view! {
                <div class="table-wrap">
                    <table class="table">
                        <thead><tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"State"</th>
                            <th scope="col">"Created"</th>
                        </tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            }
            .into_any()
        }
    }
}

#[component]
fn CreateTenant(on_created: impl Fn() + Copy + 'static) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let created = RwSignal::new(None::<TenantView>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let body = NewTenant {
            name: name.get_untracked().trim().to_string(),
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = api::post::<TenantView>("/admin/v1/tenants", &body).await;
            busy.set(false);
            match answer {
                Ok(t) => {
                    error.set(None);
                    name.set(String::new());
                    created.set(Some(t));
                    on_created();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="card grid" on:submit=submit data-testid="tenant-create-form">
            <label>"New tenant’s name"
                <input type="text" required=true maxlength="200" data-testid="tenant-create-name"
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                <FieldError error field="name" />
            </label>
            <button type="submit" class="primary" data-testid="tenant-create" disabled=move || busy.get()>"Create tenant"</button>
            <ErrorBanner error fields=&["name"] />
            {move || created.get().map(|t| view! {
                <p class="ok" role="status">
                    "Created " <a data-testid="tenant-created" href=format!("/tenants/{}", t.id)>{t.name}</a> "."
                </p>
            })}
        </form>
    }
}

#[component]
pub fn TenantDetail() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("tenant")).unwrap_or_default());
    move || {
        let id = id.get();
        view! { <TenantBody id /> }
    }
}

#[component]
fn TenantBody(id: String) -> impl IntoView {
    let role = my_role();
    let admin = role == Some(Role::InstanceAdmin);
    let manages = matches!(role, Some(Role::InstanceAdmin | Role::TenantAdmin));
    let version = RwSignal::new(0u32);
    let path = StoredValue::new(format!("/admin/v1/tenants/{}", api::enc(&id)));
    let resource = LocalResource::new(move || {
        version.track();
        let path = path.get_value();
        async move { api::get::<TenantView>(&path).await }
    });
    let (tenant, error) = keep(resource);
    let title = move || {
        tenant
            .with(|t| t.as_ref().map(|t| t.name.clone()))
            .unwrap_or_else(|| "Tenant".into())
    };
    let parsed = id.parse::<uuid::Uuid>().ok();
    let quota_target = QuotaTarget {
        scope: freeway_wire::tenants::QuotaScope::Tenant,
        path: format!("/admin/v1/tenants/{}/quota", api::enc(&id)),
        tenant_id: parsed,
        member_id: None,
        api_key_id: None,
    };
    view! {
        <div data-testid="tenant-detail">
            {admin.then(|| view! { <p><a href="/tenants">"← Tenants"</a></p> })}
            <div class="page-head">
                <h1 data-testid="tenant-name">{title}</h1>
                {move || tenant.with(|t| t.as_ref().map(|t| disabled_badge(t.disabled)))}
                <div class="actions">
                    {admin.then(|| view! { <TenantActions tenant path on_change=move || bump(version) /> })}
                </div>
            </div>
            <ErrorBanner error />
            {admin.then(|| view! { <RenameTenant tenant path on_change=move || bump(version) /> })}
            <MembersCard tenant=id.clone() manages />
            <QuotaEditor target=quota_target can_edit=admin title="Tenant quota" testid="quota-tenant" />
        </div>
    }
}

/// Disable or enable, and delete (typing the name).
#[component]
fn TenantActions(
    tenant: RwSignal<Option<TenantView>>,
    path: StoredValue<String>,
    on_change: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let navigate = StoredValue::new_local(use_navigate());
    let toggle = move |_| {
        let Some(disabled) = tenant.with_untracked(|t| t.as_ref().map(|t| t.disabled)) else {
            return;
        };
        let body = TenantPatch {
            disabled: Some(!disabled),
            ..TenantPatch::default()
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = api::patch::<TenantView>(&path.get_value(), &body).await;
            busy.set(false);
            match answer {
                Ok(t) => {
                    error.set(None);
                    tenant.set(Some(t));
                    on_change();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let delete = move || {
        leptos::task::spawn_local(async move {
            match api::delete(&path.get_value()).await {
                Ok(()) => {
                    navigate.try_with_value(|n| n("/tenants", Default::default()));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    move || {
        tenant.get().map(|t| {
            let (testid, label) = if t.disabled {
                ("tenant-enable", "Enable")
            } else {
                ("tenant-disable", "Disable (suspend)")
            };
            view! {
                <button type="button" data-testid=testid disabled=move || busy.get() on:click=toggle>{label}</button>
                <ConfirmButton label="Delete tenant" testid="tenant-delete" word=t.name.clone()
                    what=format!("Delete the tenant “{}” with all its members, api keys and quotas? This cannot be undone.", t.name)
                    on_confirm=delete />
                <ErrorBanner error />
            }
        })
    }
}

#[component]
fn RenameTenant(
    tenant: RwSignal<Option<TenantView>>,
    path: StoredValue<String>,
    on_change: impl Fn() + Copy + 'static,
) -> impl IntoView {
    // None until edited: shows the fetched name.
    let draft = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<ApiError>);
    let saved = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let shown = move || {
        draft
            .get()
            .or_else(|| tenant.with(|t| t.as_ref().map(|t| t.name.clone())))
            .unwrap_or_default()
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(name) = draft.get_untracked() else {
            return;
        };
        let body = TenantPatch {
            name: Some(name.trim().to_string()),
            ..TenantPatch::default()
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = api::patch::<TenantView>(&path.get_value(), &body).await;
            busy.set(false);
            match answer {
                Ok(t) => {
                    error.set(None);
                    draft.set(None);
                    tenant.set(Some(t));
                    saved.set(true);
                    on_change();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="card grid" on:submit=submit data-testid="tenant-rename-form">
            <label>"Name"
                <input type="text" required=true maxlength="200" data-testid="tenant-rename-name"
                    prop:value=shown
                    on:input=move |ev| { draft.set(Some(event_target_value(&ev))); saved.set(false) } />
                <FieldError error field="name" />
            </label>
            <button type="submit" data-testid="tenant-rename" disabled=move || busy.get() || draft.get().is_none()>"Rename"</button>
            <ErrorBanner error fields=&["name"] />
            {move || saved.get().then(|| view! { <p class="ok" role="status">"Renamed."</p> })}
        </form>
    }
}
