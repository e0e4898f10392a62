//! The signed-in admin: the JWT (or admin token) in `localStorage`, and who it belongs to.

use freeway_wire::auth::Me;
use leptos::prelude::*;

const TOKEN: &str = "freeway.token";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

pub fn token() -> Option<String> {
    storage()?
        .get_item(TOKEN)
        .ok()
        .flatten()
        .filter(|t| !t.is_empty())
}

pub fn store(token: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(TOKEN, token);
    }
}

pub fn clear() {
    if let Some(s) = storage() {
        let _ = s.remove_item(TOKEN);
    }
}

/// The session ended under us (an expired or revoked token): back to sign-in, with a
/// message, and back to this page afterwards.
pub fn expired() {
    clear();
    let Some(window) = web_sys::window() else {
        return;
    };
    let location = window.location();
    let here = format!(
        "{}{}",
        location.pathname().unwrap_or_default(),
        location.search().unwrap_or_default()
    );
    if here.starts_with("/login") {
        return;
    }
    let target = format!("/login?expired=1&next={}", crate::api::enc(&here));
    let _ = location.set_href(&target);
}

/// Who is signed in, shared by every page.
#[derive(Clone, Copy)]
pub struct Session {
    pub me: RwSignal<Option<Me>>,
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}

/// The signed-in admin; pages render only inside the signed-in shell, where it is set.
pub fn me() -> Option<Me> {
    use_session().me.get()
}
