//! A tenant's members: searched on the server, one page at a time, and (for its admins and
//! the instance admin) a form to add one. A member sees only themselves.

use freeway_wire::Page;
use freeway_wire::tenants::{MemberRole, MemberView, NewMember};
use leptos::prelude::*;

use crate::ui::{bump, keep};

use super::shared::{self, SearchBox, opt_text};
use crate::api::{self, ApiError};
use crate::prefs::use_prefs;
use crate::time;
use crate::ui::{Empty, ErrorBanner, FieldError, Loading, Pager, PagerState};

pub(crate) fn role_label(role: MemberRole) -> &'static str {
    match role {
        MemberRole::Member => "member",
        MemberRole::TenantAdmin => "tenant admin",
    }
}

#[component]
pub fn MembersCard(tenant: String, manages: bool) -> impl IntoView {
    let q = shared::url_q();
    let pager = PagerState::new();
    let version = RwSignal::new(0u32);
    let base = StoredValue::new(format!("/admin/v1/tenants/{}/members", api::enc(&tenant)));
    let resource = LocalResource::new(move || {
        version.track();
        let path = shared::list_path(&base.get_value(), &q.get(), pager.cursor.get());
        async move { api::get::<Page<MemberView>>(&path).await }
    });
    let (page, error) = keep(resource);
    let next = Signal::derive(move || page.with(|p| p.as_ref().and_then(|p| p.next_cursor)));
    let tenant = StoredValue::new(tenant);
    view! {
        <section class="card" data-testid="members">
            <h2>"Members"</h2>
            <SearchBox testid="member-search" label="Search members" pager q />
            <ErrorBanner error />
            <MemberTable page q tenant />
            <Pager state=pager next />
            {manages.then(|| view! { <CreateMember base tenant on_created=move || bump(version) /> })}
        </section>
    }
}

#[component]
fn MemberTable(
    page: RwSignal<Option<Page<MemberView>>>,
    q: Memo<String>,
    tenant: StoredValue<String>,
) -> impl IntoView {
    let prefs = use_prefs();
    move || match page.get() {
        None => view! { <Loading /> }.into_any(),
        Some(p) if p.data.is_empty() => {
            let text = if q.get().trim().is_empty() {
                "No members yet.".to_string()
            } else {
                format!("No member matches “{}”.", q.get().trim())
            };
            view! { <Empty text /> }.into_any()
        }
        Some(p) => {
            let tz = prefs.tz.get();
            let tenant = tenant.get_value();
            let rows = p
                .data
                .into_iter()
                .map(|m| {
                    let href = format!("/tenants/{}/members/{}", tenant, m.id);
                    view! {
                        <tr data-testid="member-row" data-id=m.id.to_string() data-name=m.name.clone()>
                            <td><a href=href>{m.name.clone()}</a></td>
                            <td>{m.email.clone().unwrap_or_default()}</td>
                            <td><span class="badge" data-testid="member-role" data-role=m.role.as_str()>{role_label(m.role)}</span></td>
                            <td>{super::disabled_badge(m.disabled)}</td>
                            <td>{time::format(m.created_at, tz)}</td>
                        </tr>
                    }
                })
                .collect::<Vec<_>>();
            view! {
                <div class="table-wrap">
                    <table class="table">
                        <thead><tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Email"</th>
                            <th scope="col">"Role"</th>
                            <th scope="col">"State"</th>
                            <th scope="col">"Added"</th>
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
fn CreateMember(
    base: StoredValue<String>,
    tenant: StoredValue<String>,
    on_created: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let role = RwSignal::new(MemberRole::Member);
    let error = RwSignal::new(None::<ApiError>);
    let created = RwSignal::new(None::<MemberView>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let body = NewMember {
            name: name.get_untracked().trim().to_string(),
            email: opt_text(&email.get_untracked()),
            role: Some(role.get_untracked()),
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = api::post::<MemberView>(&base.get_value(), &body).await;
            busy.set(false);
            match answer {
                Ok(m) => {
                    error.set(None);
                    name.set(String::new());
                    email.set(String::new());
                    role.set(MemberRole::Member);
                    created.set(Some(m));
                    on_created();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <h3>"Add a member"</h3>
        <form class="grid" on:submit=submit data-testid="member-create-form">
            <label>"Name"
                <input type="text" required=true maxlength="200" data-testid="member-create-name"
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                <FieldError error field="name" />
            </label>
            <label>"Email (optional)"
                <input type="email" maxlength="320" data-testid="member-create-email"
                    prop:value=move || email.get() on:input=move |ev| email.set(event_target_value(&ev)) />
                <FieldError error field="email" />
            </label>
            <label>"Role"
                <select data-testid="member-create-role"
                    prop:value=move || role.get().as_str()
                    on:change=move |ev| role.set(MemberRole::parse(&event_target_value(&ev)).unwrap_or_default())>
                    <option value="member">"Member: uses their own keys"</option>
                    <option value="tenant_admin">"Tenant admin: also manages members, keys and quotas"</option>
                </select>
                <FieldError error field="role" />
            </label>
            <button type="submit" class="primary" data-testid="member-create" disabled=move || busy.get()>"Add member"</button>
        </form>
        <ErrorBanner error fields=&["name", "email", "role"] />
        {move || created.get().map(|m| view! {
            <p class="ok" role="status">
                "Added " <a data-testid="member-created" href=format!("/tenants/{}/members/{}", tenant.get_value(), m.id)>{m.name}</a> "."
            </p>
        })}
    }
}
