//! Components every page uses.

pub mod chart;
pub mod dialog;
pub mod list;

use leptos::prelude::*;

use crate::api::ApiError;

pub use chart::{BarChart, Series, Sparkline};
pub use dialog::{ConfirmButton, ShowOnce};
pub use list::{Pager, PagerState};

/// The last good answer of `resource`, kept on screen while it refetches, and its latest
/// error.
pub fn keep<T: Clone + Send + Sync + 'static>(
    resource: LocalResource<crate::api::ApiResult<T>>,
) -> (RwSignal<Option<T>>, RwSignal<Option<ApiError>>) {
    let data = RwSignal::new(None::<T>);
    let error = RwSignal::new(None::<ApiError>);
    Effect::new(move |_| match resource.get() {
        Some(Ok(value)) => {
            data.set(Some(value));
            error.set(None);
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    (data, error)
}

/// Refetches whatever reads `version`.
pub fn bump(version: RwSignal<u32>) {
    version.update(|v| *v = v.wrapping_add(1));
}

/// An error banner for whatever is not about a field shown with its own message.
#[component]
pub fn ErrorBanner(
    #[prop(into)] error: Signal<Option<ApiError>>,
    /// Fields that have their own `FieldError` on this form.
    #[prop(optional)]
    fields: &'static [&'static str],
) -> impl IntoView {
    move || {
        error
            .get()
            .filter(|e| !fields.iter().any(|f| e.is_about(f)))
            .map(|e| {
                view! {
                    <p class="error" role="alert" data-testid="error" data-code=e.code.clone()>
                        {e.message.clone()}
                    </p>
                }
            })
    }
}

/// The server's message, next to the field it names.
#[component]
pub fn FieldError(
    #[prop(into)] error: Signal<Option<ApiError>>,
    field: &'static str,
) -> impl IntoView {
    move || {
        error.get().filter(|e| e.is_about(field)).map(|e| {
            view! { <span class="field-error" role="alert" data-field=field>{e.message.clone()}</span> }
        })
    }
}

#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="loading" aria-busy="true">"Loading…"</p> }
}

#[component]
pub fn Empty(#[prop(into)] text: String) -> impl IntoView {
    view! { <p class="empty" data-testid="empty">{text}</p> }
}

/// A page's heading and its actions.
#[component]
pub fn PageHead(
    #[prop(into)] title: String,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="page-head">
            <h1>{title}</h1>
            <div class="actions">{children.map(|c| c())}</div>
        </div>
    }
}

/// Input value of an event's target.
pub fn value(ev: &leptos::ev::Event) -> String {
    event_target_value(ev)
}

/// An optional number from a text field: empty is none, anything else must parse.
pub fn opt_number(text: &str) -> Result<Option<i64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.replace([',', '_', ' '], "")
        .parse::<i64>()
        .map(Some)
        .map_err(|_| format!("`{text}` is not a whole number"))
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len().saturating_add(digits.len() / 3));
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len().saturating_sub(i)) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_and_print_like_people_write_them() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(thousands(-1000), "-1,000");
        assert_eq!(opt_number(" "), Ok(None));
        assert_eq!(opt_number("10,000"), Ok(Some(10_000)));
        assert!(opt_number("ten").is_err());
    }
}
