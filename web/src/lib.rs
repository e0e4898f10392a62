//! Freeway's admin UI, rendered in the browser. For now a shell: the product name, the
//! server's version and a sign-in placeholder; the admin screens arrive with the admin API.

use leptos::prelude::*;
use wasm_bindgen::prelude::wasm_bindgen;

#[component]
fn App() -> impl IntoView {
    view! {
        <main class="shell">
            <header>
                <h1>"Freeway"</h1>
                <p class="tagline">"Your team's pool of free-tier LLM keys, behind one OpenAI-compatible API."</p>
                <p class="version" data-testid="version">"Version " {freeway_wire::VERSION}</p>
            </header>
            <section class="login" data-testid="login">
                <h2>"Sign in"</h2>
                <form on:submit=|ev| ev.prevent_default()>
                    <label>"Username" <input type="text" name="username" autocomplete="username" disabled=true/></label>
                    <label>"Password" <input type="password" name="password" autocomplete="current-password" disabled=true/></label>
                    <button type="submit" disabled=true>"Sign in"</button>
                </form>
                <p class="note">
                    "Admin sign-in arrives with the admin API. Until then, manage tenants, keys and providers with the "
                    <code>"freeway"</code> " command line; " <a href="/admin/v1/openapi.json">"the API document"</a> " is here."
                </p>
            </section>
        </main>
    }
}

/// Called by `index.html` once the module is loaded.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}
