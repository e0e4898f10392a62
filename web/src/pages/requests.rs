//! The request log: every `/v1` request the viewer may see, newest first, filtered on the
//! server. Every filter, the page and the open request live in the URL, so a view can be
//! shared and survives a reload; the form is filled from the URL.
//!
//! Pages: `cursor=` is the page shown, `back=` the cursors of the pages between the first and
//! it (comma-separated, at most [`nav::BACK_MAX`]); Next pushes the current cursor onto
//! `back`, Previous pops it, and each is a history entry, so the browser's Back works too.

mod drawer;
mod filters;
pub(super) mod nav;

use freeway_wire::Page;
use freeway_wire::auth::Role;
use freeway_wire::usage::{RequestEntry, RequestsQuery};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use uuid::Uuid;

use self::nav::{Cursors, Navigator, Shape, UrlPager, param};
use crate::api::{self, ApiError};
use crate::prefs::{self, use_prefs};
use crate::session;
use crate::time;
use crate::ui::{Empty, ErrorBanner, Loading, PageHead, thousands};

const PATH: &str = "/requests";
const LIMIT: u32 = 50;
/// Fields of the form with their own error line (wire names, as the server's `field`).
const FIELDS: &[&str] = &[
    "from",
    "to",
    "status",
    "model",
    "provider",
    "tenant_id",
    "member_id",
    "api_key_id",
    "id",
];

/// What the URL says: filters as written there (times in UTC), the page, the open request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    pub from: Option<String>,
    pub to: Option<String>,
    pub status: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    /// A tenant id, `all`, or none for the tenant switcher's.
    pub tenant: Option<String>,
    pub member: Option<String>,
    pub key: Option<String>,
    pub id: Option<String>,
    pub cursors: Cursors,
}

impl View {
    fn from_query(map: &leptos_router::params::ParamsMap) -> View {
        View {
            from: param(map, "from"),
            to: param(map, "to"),
            status: param(map, "status"),
            model: param(map, "model"),
            provider: param(map, "provider"),
            tenant: param(map, "tenant"),
            member: param(map, "member"),
            key: param(map, "key"),
            id: param(map, "id"),
            cursors: Cursors::from_query(map),
        }
    }

    pub fn href(&self) -> String {
        let [cursor, back] = self.cursors.pairs();
        nav::href(
            PATH,
            &[
                ("from", self.from.clone()),
                ("to", self.to.clone()),
                ("status", self.status.clone()),
                ("model", self.model.clone()),
                ("provider", self.provider.clone()),
                ("tenant", self.tenant.clone()),
                ("member", self.member.clone()),
                ("key", self.key.clone()),
                cursor,
                back,
                ("id", self.id.clone()),
            ],
        )
    }

    /// The server's query: the switcher's tenant unless the URL names one (instance admins;
    /// the server scopes everyone else).
    fn query(&self, admin: bool, switcher: Option<Uuid>) -> RequestsQuery {
        let uuid = |v: &Option<String>| v.as_deref().and_then(|v| v.parse().ok());
        let tenant_id = match (admin, self.tenant.as_deref()) {
            (false, _) | (true, Some("all")) => None,
            (true, Some(t)) => t.parse().ok(),
            (true, None) => switcher,
        };
        RequestsQuery {
            tenant_id,
            member_id: uuid(&self.member),
            api_key_id: uuid(&self.key),
            model: self.model.clone(),
            provider: self.provider.clone(),
            status: self.status.as_deref().and_then(|s| s.parse().ok()),
            from: nav::time_param(self.from.as_deref()),
            to: nav::time_param(self.to.as_deref()),
            limit: Some(LIMIT),
            cursor: self.cursors.cursor,
        }
    }
}

pub fn status_class(status: i16) -> &'static str {
    match status {
        200..=399 => "badge ok",
        400..=499 => "badge warn",
        _ => "badge bad",
    }
}
#[component]
pub fn Requests() -> impl IntoView {
    let me = session::me();
    let admin = me.as_ref().is_some_and(|m| m.role == Role::InstanceAdmin);
    let member = me.as_ref().is_some_and(|m| m.role == Role::Member);
    let prefs = use_prefs();
    let query = use_query_map();
    let view = Memo::new(move |_| query.with(View::from_query));
    let navigator = Navigator::new();
    let version = RwSignal::new(0u32);
    let rows = RwSignal::new(None::<Page<RequestEntry>>);
    let error = RwSignal::new(None::<ApiError>);
    let list = LocalResource::new(move || {
        version.track();
        let q = view.with(|v| v.query(admin, prefs.tenant.get()));
        async move { api::get::<Page<RequestEntry>>(&api::with_query("/admin/v1/requests", &q)).await }
    });
    Effect::new(move |_| match list.get() {
        Some(Ok(page)) => {
            rows.set(Some(page));
            error.set(None);
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });

    // The switcher in the top bar picks the tenant of the log, like the overview's.
    Effect::new(move |previous: Option<Option<Uuid>>| {
        let tenant = prefs.tenant.get();
        if admin && previous.is_some_and(|p| p != tenant) {
            let mut v = view.get_untracked();
            v.tenant = Some(
                tenant
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "all".into()),
            );
            v.cursors = Cursors::default();
            navigator.go(&v.href(), true);
        }
        tenant
    });

    let close = move || {
        let mut v = view.get_untracked();
        let Some(id) = v.id.take() else { return };
        navigator.go(&v.href(), true);
        focus_row(&id);
    };
    let open = move |id: Uuid| {
        let mut v = view.get_untracked();
        v.id = Some(id.to_string());
        navigator.go(&v.href(), true);
    };
    let handle = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" && view.with_untracked(|v| v.id.is_some()) {
            close();
        }
    });
    on_cleanup(move || handle.remove());

    let go_page = move |c: Cursors| {
        let mut v = view.get_untracked();
        v.cursors = c;
        v.id = None;
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
    let drawer_id =
        Memo::new(move |_| view.with(|v| v.id.as_deref().and_then(|i| i.parse::<Uuid>().ok())));
    view! {
        <PageHead title="Requests">
            <button type="button" data-testid="requests-refresh" on:click=move |_| version.update(|v| *v = v.wrapping_add(1))>
                "Refresh"
            </button>
        </PageHead>
        <filters::Filters view navigator admin member server=error />
        <ErrorBanner error fields=FIELDS />
        {move || match shape.get() {
            Shape::Loading => view! { <Loading /> }.into_any(),
            Shape::Failed => ().into_any(),
            Shape::Empty => view! { <Empty text="No request matches these filters." /> }.into_any(),
            Shape::Rows => view! { <Table rows open /> }.into_any(),
        }}
        <UrlPager cursors next go=go_page />
        {move || drawer_id.get().map(|id| view! { <drawer::Drawer id rows view on_close=close /> })}
    }
}

/// Back on the row whose drawer closed, for keyboard users.
fn focus_row(id: &str) {
    let Ok(id) = id.parse::<Uuid>() else { return };
    let selector = format!("[data-testid=\"request-row\"][data-id=\"{id}\"]");
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector(&selector).ok().flatten())
    {
        use wasm_bindgen::JsCast;
        if let Ok(el) = el.dyn_into::<web_sys::HtmlElement>() {
            let _ = el.focus();
        }
    }
}

#[component]
fn Table(
    rows: RwSignal<Option<Page<RequestEntry>>>,
    open: impl Fn(Uuid) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let each = move || rows.with(|p| p.as_ref().map(|p| p.data.clone()).unwrap_or_default());
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="requests">
                <thead>
                    <tr>
                        <th scope="col">{move || format!("Time ({})", prefs::tz().name())}</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Model (requested → served)"</th>
                        <th scope="col">"Provider"</th>
                        <th scope="col" class="num">"Tokens"</th>
                        <th scope="col" class="num">"Latency"</th>
                        <th scope="col" class="num">"TTFT"</th>
                        <th scope="col" class="num">"Attempts"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each key=|r| r.id children=move |r| view! { <Row r open /> } />
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn Row(r: RequestEntry, open: impl Fn(Uuid) + Copy + Send + Sync + 'static) -> impl IntoView {
    let id = r.id;
    let tokens = match (r.prompt_tokens, r.completion_tokens) {
        (None, None) => "—".to_string(),
        (p, c) => thousands(i64::from(p.unwrap_or(0)).saturating_add(i64::from(c.unwrap_or(0)))),
    };
    let tokens_title = format!(
        "{} prompt, {} completion",
        r.prompt_tokens.unwrap_or(0),
        r.completion_tokens.unwrap_or(0)
    );
    let requested = r.requested_model.clone().unwrap_or_else(|| "—".into());
    let served = r.model.clone().unwrap_or_else(|| "—".into());
    let model = if requested == served {
        served
    } else {
        format!("{requested} → {served}")
    };
    let ms = |n: Option<i32>| {
        n.map(|n| format!("{} ms", thousands(i64::from(n))))
            .unwrap_or_else(|| "—".into())
    };
    view! {
        <tr class="clickable" tabindex="0" data-testid="request-row" data-id=id.to_string()
            data-status=r.status.to_string()
            aria-label=format!("Request {id}, status {}", r.status)
            on:click=move |_| open(id)
            on:keydown=move |ev| if ev.key() == "Enter" { ev.prevent_default(); open(id) }>
            <td>{move || time::format_secs(r.created_at, prefs::tz())}</td>
            <td>
                <span class=status_class(r.status)>{r.status}</span>
                {r.error_code.clone().map(|c| view! { " " <small class="muted">{c}</small> })}
            </td>
            <td>{model} {r.stream.then(|| view! { " " <small class="muted">"stream"</small> })}</td>
            <td>{r.provider.clone().unwrap_or_else(|| "—".into())}</td>
            <td class="num" title=tokens_title>{tokens}</td>
            <td class="num">{ms(Some(r.latency_ms))}</td>
            <td class="num">{ms(r.ttft_ms)}</td>
            <td class="num">{r.attempts}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_is_written_to_the_url_in_one_order() {
        let v = View {
            status: Some("429".into()),
            model: Some("llama 3".into()),
            from: Some("2026-03-01T11:00:00Z".into()),
            id: Some("0193a5b1-0000-7000-8000-000000000001".into()),
            ..View::default()
        };
        assert_eq!(
            v.href(),
            "/requests?from=2026-03-01T11%3A00%3A00Z&status=429&model=llama%203&id=0193a5b1-0000-7000-8000-000000000001"
        );
        assert_eq!(View::default().href(), "/requests");
    }

    #[test]
    fn the_switcher_chooses_the_tenant_unless_the_url_does() {
        let switcher = Some(Uuid::from_u128(7));
        let mut v = View::default();
        assert_eq!(v.query(true, switcher).tenant_id, switcher);
        assert_eq!(v.query(false, switcher).tenant_id, None);
        v.tenant = Some("all".into());
        assert_eq!(v.query(true, switcher).tenant_id, None);
        v.tenant = Some(Uuid::from_u128(9).to_string());
        assert_eq!(v.query(true, switcher).tenant_id, Some(Uuid::from_u128(9)));
    }
}
