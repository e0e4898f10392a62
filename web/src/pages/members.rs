//! One member: their name, email, role and state (changed by their tenant's admins and the
//! instance admin), their api keys (which they manage themselves too), and the quotas of the
//! member and of each key (read by the member, set by the admins).

mod keys;

use freeway_wire::auth::Role;
use freeway_wire::tenants::{KeyView, MemberPatch, MemberRole, MemberView, QuotaScope, TenantView};
use leptos::prelude::*;

use crate::ui::{bump, keep};
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::{self, ApiError};
use crate::pages::tenants::quota::{QuotaEditor, QuotaTarget};
use crate::pages::tenants::{disabled_badge, my_role, role_label};
use crate::prefs::use_prefs;
use crate::time;
use crate::ui::{ConfirmButton, ErrorBanner, FieldError, Loading};
use keys::KeysCard;

#[component]
pub fn MemberDetail() -> impl IntoView {
    let params = use_params_map();
    let ids = Memo::new(move |_| {
        params.with(|p| {
            (
                p.get("tenant").unwrap_or_default(),
                p.get("member").unwrap_or_default(),
            )
        })
    });
    move || {
        let (tenant, member) = ids.get();
        view! { <MemberBody tenant member /> }
    }
}

#[component]
fn MemberBody(tenant: String, member: String) -> impl IntoView {
    let manages = matches!(my_role(), Some(Role::InstanceAdmin | Role::TenantAdmin));
    let version = RwSignal::new(0u32);
    let tenant_path = format!("/admin/v1/tenants/{}", api::enc(&tenant));
    let path = StoredValue::new(format!("{tenant_path}/members/{}", api::enc(&member)));
    let resource = LocalResource::new(move || {
        version.track();
        let path = path.get_value();
        async move { api::get::<MemberView>(&path).await }
    });
    let (person, error) = keep(resource);
    let tenant_path = StoredValue::new(tenant_path);
    let tenant_resource = LocalResource::new(move || {
        let path = tenant_path.get_value();
        async move { api::get::<TenantView>(&path).await.ok() }
    });
    let tenant_name = move || {
        tenant_resource
            .get()
            .flatten()
            .map(|t| t.name)
            .unwrap_or_else(|| "Tenant".into())
    };
    let key_quota = RwSignal::new(None::<KeyView>);
    let back = format!("/tenants/{tenant}");
    let member_quota = QuotaTarget {
        scope: QuotaScope::Member,
        path: format!("{}/quota", path.get_value()),
        tenant_id: tenant.parse().ok(),
        member_id: member.parse().ok(),
        api_key_id: None,
    };
    let member_quota = StoredValue::new(member_quota);
    let title = move || {
        person
            .with(|m| m.as_ref().map(|m| m.name.clone()))
            .unwrap_or_else(|| "Member".into())
    };
    view! {
        <div data-testid="member-detail">
            <p><a href=back.clone() data-testid="member-tenant">"← " {tenant_name}</a></p>
            <div class="page-head">
                <h1 data-testid="member-name">{title}</h1>
                {move || person.get().map(|m| view! {
                    <span class="badge" data-testid="member-role" data-role=m.role.as_str()>{role_label(m.role)}</span>
                    {disabled_badge(m.disabled)}
                })}
                <div class="actions">
                    {manages.then(|| view! { <MemberActions person path back=back.clone() on_change=move || bump(version) /> })}
                </div>
            </div>
            <ErrorBanner error />
            {if manages {
                view! { <EditMember person path on_change=move || bump(version) /> }.into_any()
            } else {
                view! { <MemberFacts person /> }.into_any()
            }}
            <KeysCard tenant=tenant.clone() member=member.clone() quota_for=key_quota />
            <Show when=move || key_quota.with(Option::is_none)>
                <QuotaEditor target=member_quota.get_value() can_edit=manages title="Member quota" testid="quota-member" />
            </Show>
            {move || key_quota.get().map(|k| view! { <KeyQuota key=k path manages close=move || key_quota.set(None) /> })}
        </div>
    }
}

/// The per-key quota, in a dialog (one quota editor on screen at a time).
#[component]
fn KeyQuota(
    key: KeyView,
    path: StoredValue<String>,
    manages: bool,
    close: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let target = QuotaTarget {
        scope: QuotaScope::ApiKey,
        path: format!("{}/keys/{}/quota", path.get_value(), key.id),
        tenant_id: Some(key.tenant_id),
        member_id: Some(key.member_id),
        api_key_id: Some(key.id),
    };
    let name = keys::key_label(&key);
    view! {
        <div class="modal-backdrop">
            <div class="modal" role="dialog" aria-modal="true" aria-label="Api key quota"
                data-testid="key-quota-dialog" style="max-width: 48rem; max-height: 92vh; overflow-y: auto">
                <QuotaEditor target can_edit=manages title=format!("Quota of the key “{name}”") testid="quota-key" />
                <div class="actions">
                    <button type="button" data-testid="key-quota-close" on:click=move |_| close()>"Close"</button>
                </div>
            </div>
        </div>
    }
}

/// What a member sees of themselves.
#[component]
fn MemberFacts(person: RwSignal<Option<MemberView>>) -> impl IntoView {
    let prefs = use_prefs();
    move || {
        match person.get() {
        None => view! { <Loading /> }.into_any(),
        Some(m) => view! {
            <section class="card">
                <dl>
                    <dt>"Email"</dt><dd data-testid="member-email">{m.email.unwrap_or_else(|| "—".into())}</dd>
                    <dt>"Role"</dt><dd>{role_label(m.role)}</dd>
                    <dt>"Added"</dt><dd>{time::format(m.created_at, prefs.tz.get())}</dd>
                </dl>
            </section>
        }
        .into_any(),
    }
    }
}

/// Disable or enable, and remove (typing the name).
#[component]
fn MemberActions(
    person: RwSignal<Option<MemberView>>,
    path: StoredValue<String>,
    back: String,
    on_change: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let navigate = StoredValue::new_local(use_navigate());
    let back = StoredValue::new(back);
    let toggle = move |_| {
        let Some(disabled) = person.with_untracked(|m| m.as_ref().map(|m| m.disabled)) else {
            return;
        };
        let body = MemberPatch {
            disabled: Some(!disabled),
            ..MemberPatch::default()
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = api::patch::<MemberView>(&path.get_value(), &body).await;
            busy.set(false);
            match answer {
                Ok(m) => {
                    error.set(None);
                    person.set(Some(m));
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
                    if let Some(back) = back.try_get_value() {
                        navigate.try_with_value(|n| n(&back, Default::default()));
                    }
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    move || {
        person.get().map(|m| {
            let (testid, label) = if m.disabled {
                ("member-enable", "Enable")
            } else {
                ("member-disable", "Disable")
            };
            view! {
                <button type="button" data-testid=testid disabled=move || busy.get() on:click=toggle>{label}</button>
                <ConfirmButton label="Remove member" testid="member-delete" word=m.name.clone()
                    what=format!("Remove “{}” with all their api keys and quotas? This cannot be undone.", m.name)
                    on_confirm=delete />
                <ErrorBanner error />
            }
        })
    }
}

/// Name, email and role; only what was edited is sent.
#[component]
fn EditMember(
    person: RwSignal<Option<MemberView>>,
    path: StoredValue<String>,
    on_change: impl Fn() + Copy + 'static,
) -> impl IntoView {
    // None until edited: the fetched value shows.
    let name = RwSignal::new(None::<String>);
    let email = RwSignal::new(None::<String>);
    let role = RwSignal::new(None::<MemberRole>);
    let error = RwSignal::new(None::<ApiError>);
    let saved = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let fetched =
        move |f: fn(&MemberView) -> String| person.with(|m| m.as_ref().map(f)).unwrap_or_default();
    let edited = move || {
        name.with(Option::is_some) || email.with(Option::is_some) || role.with(Option::is_some)
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let body = MemberPatch {
            name: name.get_untracked().map(|n| n.trim().to_string()),
            // An empty email removes it.
            email: email.get_untracked().map(|e| e.trim().to_string()),
            role: role.get_untracked(),
            disabled: None,
        };
        if body == MemberPatch::default() {
            return;
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = api::patch::<MemberView>(&path.get_value(), &body).await;
            busy.set(false);
            match answer {
                Ok(m) => {
                    error.set(None);
                    name.set(None);
                    email.set(None);
                    role.set(None);
                    person.set(Some(m));
                    saved.set(true);
                    on_change();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="card grid" on:submit=submit data-testid="member-edit-form">
            <label>"Name"
                <input type="text" required=true maxlength="200" data-testid="member-edit-name"
                    prop:value=move || name.get().unwrap_or_else(|| fetched(|m| m.name.clone()))
                    on:input=move |ev| { name.set(Some(event_target_value(&ev))); saved.set(false) } />
                <FieldError error field="name" />
            </label>
            <label>"Email (empty for none)"
                <input type="email" maxlength="320" data-testid="member-edit-email"
                    prop:value=move || email.get().unwrap_or_else(|| fetched(|m| m.email.clone().unwrap_or_default()))
                    on:input=move |ev| { email.set(Some(event_target_value(&ev))); saved.set(false) } />
                <FieldError error field="email" />
            </label>
            <label>"Role"
                <select data-testid="member-edit-role"
                    prop:value=move || role.get().map(|r| r.as_str().to_string()).unwrap_or_else(|| fetched(|m| m.role.as_str().to_string()))
                    on:change=move |ev| { role.set(MemberRole::parse(&event_target_value(&ev))); saved.set(false) }>
                    <option value="member">"Member"</option>
                    <option value="tenant_admin">"Tenant admin"</option>
                </select>
                <FieldError error field="role" />
            </label>
            <button type="submit" class="primary" data-testid="member-save" disabled=move || busy.get() || !edited()>"Save"</button>
            <ErrorBanner error fields=&["name", "email", "role"] />
            {move || saved.get().then(|| view! { <p class="ok" role="status" data-testid="member-saved">"Saved."</p> })}
        </form>
    }
}
