//! Freeway's admin UI, rendered in the browser (Leptos, client-side). It talks only to
//! `/admin/v1` and `/v1`, with the server's own `freeway-wire` types.

pub mod access;
pub mod api;
mod pages;
pub mod prefs;
pub mod session;
mod shell;
pub mod time;
pub mod ui;

use leptos::prelude::*;
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;
use wasm_bindgen::prelude::wasm_bindgen;

use crate::pages::*;

#[component]
fn App() -> impl IntoView {
    provide_context(session::Session {
        me: RwSignal::new(None),
    });
    provide_context(prefs::Prefs::load());
    view! {
        <Router>
            <Routes fallback=|| view! { <main class="shell"><h1>"Not found"</h1><a href="/">"Overview"</a></main> }>
                <Route path=path!("/login") view=login::Login />
                <Route path=path!("/password") view=account::ForcedChange />
                <ParentRoute path=path!("") view=shell::Shell>
                    <Route path=path!("") view=overview::Overview />
                    <Route path=path!("tenants") view=tenants::TenantList />
                    <Route path=path!("tenants/:tenant") view=tenants::TenantDetail />
                    <Route path=path!("tenants/:tenant/members/:member") view=members::MemberDetail />
                    <Route path=path!("pool") view=pool::ProviderList />
                    <Route path=path!("pool/:provider") view=pool::ProviderDetail />
                    <Route path=path!("routing") view=routing::Routing />
                    <Route path=path!("requests") view=requests::Requests />
                    <Route path=path!("audit") view=audit::Audit />
                    <Route path=path!("settings") view=settings::Settings />
                    <Route path=path!("tokens") view=tokens::Tokens />
                    <Route path=path!("playground") view=playground::Playground />
                    <Route path=path!("account") view=account::Account />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Called by `index.html` once the module is loaded.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}
