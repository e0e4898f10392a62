//! Changing one's own password: forced after a one-time password, or from the account page.

use freeway_wire::auth::{PASSWORD_MIN_CHARS, PasswordChange};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{self, ApiError};
use crate::session;
use crate::ui::{ErrorBanner, FieldError, PageHead};

#[component]
fn PasswordForm(on_done: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let again = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let local = RwSignal::new(None::<String>);
    let done = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if new.get_untracked() != again.get_untracked() {
            local.set(Some("The two new passwords differ.".into()));
            return;
        }
        local.set(None);
        let body = PasswordChange {
            current_password: current.get_untracked(),
            new_password: new.get_untracked(),
        };
        let on_done = on_done.clone();
        leptos::task::spawn_local(async move {
            match api::post_empty("/admin/v1/auth/password", &body).await {
                Ok(()) => {
                    error.set(None);
                    done.set(true);
                    on_done();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="card narrow" on:submit=submit data-testid="password-form">
            <label>"Current password"
                <input type="password" name="current_password" autocomplete="current-password" required=true
                    on:input=move |ev| current.set(event_target_value(&ev)) />
                <FieldError error=error field="current_password" />
            </label>
            <label>{format!("New password (at least {PASSWORD_MIN_CHARS} characters)")}
                <input type="password" name="new_password" autocomplete="new-password" required=true
                    minlength=PASSWORD_MIN_CHARS.to_string()
                    on:input=move |ev| new.set(event_target_value(&ev)) />
                <FieldError error=error field="new_password" />
            </label>
            <label>"New password again"
                <input type="password" name="new_password_again" autocomplete="new-password" required=true
                    on:input=move |ev| again.set(event_target_value(&ev)) />
            </label>
            {move || local.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
            <ErrorBanner error=error fields=&["current_password", "new_password"] />
            {move || done.get().then(|| view! { <p class="ok" role="status" data-testid="password-changed">"Password changed."</p> })}
            <button type="submit" class="primary">"Change password"</button>
        </form>
    }
}

/// After a one-time password: nothing else until it is changed.
#[component]
pub fn ForcedChange() -> impl IntoView {
    let navigate = use_navigate();
    let next = use_query_map()
        .with_untracked(|q| q.get("next"))
        .filter(|n| n.starts_with('/') && !n.starts_with("//"));
    if session::token().is_none() {
        navigate("/login", Default::default());
    }
    let go = move || navigate(next.as_deref().unwrap_or("/"), Default::default());
    view! {
        <main class="login-page">
            <section class="card" data-testid="forced-change">
                <h1>"Choose your password"</h1>
                <p>"You signed in with a one-time password. Choose your own before going on."</p>
                <PasswordForm on_done=go />
            </section>
        </main>
    }
}

#[component]
pub fn Account() -> impl IntoView {
    view! {
        <PageHead title="Account" />
        <h2>"Change your password"</h2>
        <PasswordForm on_done=|| {} />
    }
}
