//! Sign-in. A throttled attempt (429 + Retry-After) counts down instead of failing vaguely;
//! an expired session says so and returns to the page it was on.

use freeway_wire::auth::{LoginRequest, LoginResponse};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{self, ApiError};
use crate::session;

/// Only same-site paths, so `next` cannot send anyone elsewhere.
fn safe_next(next: Option<String>) -> String {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/login"))
        .unwrap_or_else(|| "/".into())
}

#[component]
pub fn Login() -> impl IntoView {
    let query = use_query_map();
    let expired = query.with_untracked(|q| q.get("expired").is_some());
    let next = safe_next(query.with_untracked(|q| q.get("next")));
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let wait = RwSignal::new(0u64);
    let busy = RwSignal::new(false);
    let navigate = use_navigate();

    let tick = move || {
        leptos::task::spawn_local(async move {
            while wait.get_untracked() > 0 {
                gloo_timers::future::TimeoutFuture::new(1_000).await;
                wait.update(|w| *w = w.saturating_sub(1));
            }
        });
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if wait.get_untracked() > 0 || busy.get_untracked() {
            return;
        }
        let body = LoginRequest {
            username: username.get_untracked(),
            password: password.get_untracked(),
        };
        let navigate = navigate.clone();
        let next = next.clone();
        busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = api::post::<LoginResponse>("/admin/v1/auth/login", &body).await;
            busy.set(false);
            match answer {
                Ok(login) => {
                    session::store(&login.access_token);
                    error.set(None);
                    if login.must_change_password {
                        navigate(
                            &format!("/password?next={}", api::enc(&next)),
                            Default::default(),
                        );
                    } else {
                        navigate(&next, Default::default());
                    }
                }
                Err(e) => {
                    if e.status == 429 {
                        wait.set(e.retry_after.unwrap_or(60));
                        tick();
                    }
                    error.set(Some(e));
                }
            }
        });
    };
    view! {
        <main class="login-page">
            <section class="card login" data-testid="login">
                <h1>"Freeway"</h1>
                <p class="tagline">"Your team's pool of free-tier LLM keys, behind one OpenAI-compatible API."</p>
                {expired.then(|| view! {
                    <p class="notice" role="status" data-testid="expired">"Your session expired. Sign in again to go back where you were."</p>
                })}
                <form on:submit=submit>
                    <label>"Username"
                        <input type="text" name="username" autocomplete="username" required=true
                            prop:value=move || username.get() on:input=move |ev| username.set(event_target_value(&ev)) />
                    </label>
                    <label>"Password"
                        <input type="password" name="password" autocomplete="current-password" required=true
                            prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev)) />
                    </label>
                    <button type="submit" class="primary" disabled=move || { wait.get() > 0 || busy.get() }>
                        {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </form>
                {move || {
                    let w = wait.get();
                    if w > 0 {
                        Some(view! {
                            <p class="error" role="alert" data-testid="throttled">
                                "Too many attempts. Try again in " <b data-testid="countdown">{w}</b> " s."
                            </p>
                        }.into_any())
                    } else {
                        error.get().filter(|e| e.status != 429).map(|e| view! {
                            <p class="error" role="alert" data-testid="error">{e.message}</p>
                        }.into_any())
                    }
                }}
                <p class="version" data-testid="version">"Version " {freeway_wire::VERSION}</p>
            </section>
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(
            safe_next(Some("/requests?status=429".into())),
            "/requests?status=429"
        );
        assert_eq!(safe_next(Some("//evil.example".into())), "/");
        assert_eq!(safe_next(Some("https://evil.example".into())), "/");
        assert_eq!(safe_next(None), "/");
    }
}
