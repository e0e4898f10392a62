//! The signed-in user's admin tokens: long-lived bearer tokens for automation that act as
//! this user. Created with a name and an optional lifetime, shown once; revoked after typing
//! the token's name.

use chrono::Utc;
use freeway_wire::Page;
use freeway_wire::auth::{CreatedToken, NewToken, TOKEN_MAX_DAYS, TOKEN_NAME_MAX_CHARS, TokenInfo};
use leptos::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use super::requests::nav::{Debounce, Shape};
use crate::api::invalid;
use crate::api::{self, ApiError};
use crate::prefs;
use crate::time;
use crate::ui::{
    ConfirmButton, Empty, ErrorBanner, FieldError, Loading, PageHead, Pager, PagerState, ShowOnce,
};

const LIMIT: u32 = 50;

/// `?limit=&cursor=&q=` of the list.
#[derive(Serialize)]
struct TokensQuery {
    limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    q: Option<String>,
}

fn origin() -> String {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}

#[component]
pub fn Tokens() -> impl IntoView {
    let pager = PagerState::new();
    let q = RwSignal::new(String::new());
    let search = RwSignal::new(String::new());
    let debounce = Debounce::new();
    let version = RwSignal::new(0u32);
    let tokens = RwSignal::new(None::<Page<TokenInfo>>);
    let error = RwSignal::new(None::<ApiError>);
    let list = LocalResource::new(move || {
        version.track();
        let query = TokensQuery {
            limit: LIMIT,
            cursor: pager.cursor.get(),
            q: Some(q.get().trim().to_string()).filter(|q| !q.is_empty()),
        };
        async move { api::get::<Page<TokenInfo>>(&api::with_query("/admin/v1/tokens", &query)).await }
    });
    Effect::new(move |_| match list.get() {
        Some(Ok(page)) => {
            tokens.set(Some(page));
            error.set(None);
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    let changed = move || version.update(|v| *v = v.wrapping_add(1));
    let shape = Memo::new(move |_| {
        Shape::of(
            tokens.with(|t| t.as_ref().map(|p| p.data.is_empty())),
            error.with(Option::is_some),
        )
    });
    let next = Signal::derive(move || tokens.with(|p| p.as_ref().and_then(|p| p.next_cursor)));
    let each = move || tokens.with(|p| p.as_ref().map(|p| p.data.clone()).unwrap_or_default());
    view! {
        <PageHead title="Admin tokens" />
        <p class="muted">
            "A token acts as you on " <code>"/admin/v1"</code> " (" <code>"Authorization: Bearer fwa-…"</code>
            "), for scripts and CI. It is shown once, when created."
        </p>
        <CreateToken on_created=changed />
        <h2>"Your tokens"</h2>
        <div class="row">
            <label class="inline">
                <span class="sr-only">"Search tokens"</span>
                <input type="search" data-testid="token-search" placeholder="Search by name" aria-label="Search tokens"
                    prop:value=move || search.get()
                    on:input=move |ev| {
                        search.set(event_target_value(&ev));
                        debounce.run(300, move || {
                            pager.reset();
                            q.set(search.get_untracked());
                        });
                    } />
            </label>
        </div>
        <ErrorBanner error />
        {move || match shape.get() {
            Shape::Loading => view! { <Loading /> }.into_any(),
            Shape::Failed => ().into_any(),
            Shape::Empty => {
                let text = if q.with(|q| q.trim().is_empty()) {
                    "No admin token yet."
                } else {
                    "No token matches this search."
                };
                view! { <Empty text=text /> }.into_any()
            }
            Shape::Rows => view! {
                <div class="table-wrap">
                    <table class="table" data-testid="tokens">
                        <thead>
                            <tr>
                                <th scope="col">"Name"</th>
                                <th scope="col">"Prefix"</th>
                                <th scope="col">"Created"</th>
                                <th scope="col">"Expires"</th>
                                <th scope="col">"Last used"</th>
                                <th scope="col">"Status"</th>
                                <th scope="col"><span class="sr-only">"Actions"</span></th>
                            </tr>
                        </thead>
                        <tbody>
                            <For each key=|t| (t.id, t.revoked) children=move |t| view! { <Row t on_revoked=changed error /> } />
                        </tbody>
                    </table>
                </div>
            }.into_any(),
        }}
        <Pager state=pager next />
    }
}

#[component]
fn CreateToken(on_created: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let days = RwSignal::new(String::from("90"));
    let error = RwSignal::new(None::<ApiError>);
    let created = RwSignal::new(None::<CreatedToken>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let expires_in_days = match days.get_untracked().trim() {
            "" => None,
            d => match d.parse::<u32>() {
                Ok(d) => Some(d),
                Err(_) => {
                    error.set(Some(invalid(
                        "expires_in_days",
                        format!("`{d}` is not a number of days"),
                    )));
                    return;
                }
            },
        };
        let body = NewToken {
            name: name.get_untracked(),
            expires_in_days,
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = api::post::<CreatedToken>("/admin/v1/tokens", &body).await;
            busy.set(false);
            match answer {
                Ok(token) => {
                    error.set(None);
                    name.set(String::new());
                    created.set(Some(token));
                    on_created();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="grid card" data-testid="token-form" on:submit=submit aria-label="New admin token">
            <label>"Name"
                <input type="text" data-testid="token-create-name" required=true placeholder="ci"
                    maxlength=TOKEN_NAME_MAX_CHARS.to_string()
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                <FieldError error field="name" />
            </label>
            <label>{format!("Expires in days (1 to {TOKEN_MAX_DAYS}; empty for never)")}
                <input type="text" inputmode="numeric" data-testid="token-create-days" placeholder="never"
                    prop:value=move || days.get() on:input=move |ev| days.set(event_target_value(&ev)) />
                <FieldError error field="expires_in_days" />
            </label>
            <div class="row">
                <button type="submit" class="primary" data-testid="token-create" disabled=move || busy.get()>
                    "Create token"
                </button>
            </div>
            <ErrorBanner error fields=&["name", "expires_in_days"] />
        </form>
        {move || created.get().map(|token| view! {
            <ShowOnce title=format!("Admin token “{}”", token.info.name) secret=token.token
                env_var="FREEWAY_ADMIN_TOKEN"
                env_extra=vec![("FREEWAY_URL".to_string(), origin())]
                on_close=move || created.set(None) />
        })}
    }
}

#[component]
fn Row(
    t: TokenInfo,
    on_revoked: impl Fn() + Copy + Send + Sync + 'static,
    error: RwSignal<Option<ApiError>>,
) -> impl IntoView {
    let now = Utc::now();
    let expired = t.expires_at.is_some_and(|e| e <= now);
    let (status, class) = match (t.revoked, expired) {
        (true, _) => ("revoked", "badge bad"),
        (false, true) => ("expired", "badge warn"),
        (false, false) => ("active", "badge ok"),
    };
    let TokenInfo {
        id,
        name,
        prefix,
        created_at,
        expires_at,
        last_used_at,
        revoked,
    } = t;
    let revoke = move || {
        leptos::task::spawn_local(async move {
            match api::delete(&format!("/admin/v1/tokens/{id}")).await {
                Ok(()) => {
                    error.set(None);
                    on_revoked();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <tr data-testid="token-row" data-id=id.to_string() data-name=name.clone() data-status=status>
            <td>{name.clone()}</td>
            <td><code>{prefix}</code></td>
            <td>{move || time::format(created_at, prefs::tz())}</td>
            <td>{move || expires_at.map(|e| time::format(e, prefs::tz())).unwrap_or_else(|| "never".into())}</td>
            <td>{move || last_used_at.map(|e| time::format(e, prefs::tz())).unwrap_or_else(|| "never".into())}</td>
            <td><span class=class>{status}</span></td>
            <td>
                {(!revoked).then(|| view! {
                    <ConfirmButton label="Revoke" testid="token-revoke"
                        what=format!("Revoke the admin token “{name}”? Whatever uses it stops working at once.")
                        word=name.clone() on_confirm=revoke />
                })}
            </td>
        </tr>
    }
}
