//! Pieces the tenant, member and key pages share: the server-side search kept in the URL's
//! `?q=`, one page of a list, the last good answer kept on screen, and form parsing.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate, use_query_map};
use serde::Serialize;
use uuid::Uuid;

use crate::api;
use crate::ui::PagerState;

/// Rows per page of every list here.
pub const PAGE_SIZE: u32 = 50;

/// `?q=&limit=&cursor=` of the tenants, members and keys lists.
#[derive(Debug, Clone, Default, Serialize)]
struct ListQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    q: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<Uuid>,
}

/// One page of `path`, searched for `q` (sent only when not empty).
pub fn list_path(path: &str, q: &str, cursor: Option<Uuid>) -> String {
    let q = q.trim();
    api::with_query(
        path,
        &ListQuery {
            q: (!q.is_empty()).then(|| q.to_string()),
            limit: Some(PAGE_SIZE),
            cursor,
        },
    )
}

/// The URL's `q`, reactively.
pub fn url_q() -> Memo<String> {
    let query = use_query_map();
    Memo::new(move |_| query.with(|q| q.get("q")).unwrap_or_default())
}

/// A search box whose text goes to the URL's `?q=` (after a short pause in typing, or on
/// Enter), which the list sends to the server. A new search starts at the first page.
#[component]
pub fn SearchBox(
    testid: &'static str,
    label: &'static str,
    pager: PagerState,
    q: Memo<String>,
) -> impl IntoView {
    let draft = RwSignal::new(q.get_untracked());
    let pushed = StoredValue::new(q.get_untracked());
    let generation = StoredValue::new(0u32);
    let navigate = StoredValue::new_local(use_navigate());
    let pathname = use_location().pathname;
    // Back and forward change the URL under us: follow it.
    Effect::new(move |_| {
        let now = q.get();
        if pushed.try_with_value(|p| *p != now).unwrap_or(false) {
            pushed.set_value(now.clone());
            draft.set(now);
            pager.reset();
        }
    });
    let go = move || {
        let text = draft.get_untracked().trim().to_string();
        if pushed.try_with_value(|p| *p == text).unwrap_or(true) {
            return;
        }
        pushed.set_value(text.clone());
        pager.reset();
        let path = pathname.get_untracked();
        let target = if text.is_empty() {
            path
        } else {
            format!("{path}?q={}", api::enc(&text))
        };
        navigate.with_value(|n| {
            n(
                &target,
                NavigateOptions {
                    replace: true,
                    scroll: false,
                    ..Default::default()
                },
            )
        });
    };
    view! {
        <form class="row search" role="search" on:submit=move |ev| { ev.prevent_default(); go() }>
            <label class="inline">
                <span class="sr-only">{label}</span>
                <input type="search" placeholder=label aria-label=label data-testid=testid
                    prop:value=move || draft.get()
                    on:input=move |ev| {
                        draft.set(event_target_value(&ev));
                        generation.update_value(|g| *g = g.wrapping_add(1));
                        let mine = generation.get_value();
                        leptos::task::spawn_local(async move {
                            gloo_timers::future::TimeoutFuture::new(350).await;
                            if generation.try_get_value() == Some(mine) {
                                go();
                            }
                        });
                    } />
            </label>
            <button type="submit">"Search"</button>
        </form>
    }
}

/// Trimmed text, none when empty.
pub fn opt_text(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// `a, b ,c` as `["a", "b", "c"]`; none (every model) when empty.
pub fn model_list(text: &str) -> Option<Vec<String>> {
    let models: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    (!models.is_empty()).then_some(models)
}

/// Models as the comma list the forms take; empty for every model.
pub fn models_text(models: &Option<Vec<String>>) -> String {
    match models {
        Some(m) => m.join(", "),
        None => String::new(),
    }
}

/// A `datetime-local` value, read in `tz`.
pub fn parse_local(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
}

/// `at` as a `datetime-local` value in `tz`.
pub fn local_input(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string()
}

/// A `date` value (`2026-03-01`).
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

/// `https://host:port` of this page.
pub fn origin() -> String {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_lists_drop_blanks_and_empty_is_every_model() {
        assert_eq!(
            model_list(" a, b ,,c "),
            Some(vec!["a".to_string(), "b".into(), "c".into()])
        );
        assert_eq!(model_list(" , "), None);
        assert_eq!(models_text(&Some(vec!["a".into(), "b".into()])), "a, b");
    }

    #[test]
    fn local_times_round_trip_in_the_viewers_zone() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let at = parse_local("2026-07-10T14:30", berlin).unwrap();
        assert_eq!(at, "2026-07-10T12:30:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(local_input(at, berlin), "2026-07-10T14:30");
        assert!(parse_local("soon", berlin).is_none());
    }

    #[test]
    fn searches_are_sent_only_when_not_blank() {
        assert_eq!(
            list_path("/admin/v1/tenants", "  ", None),
            "/admin/v1/tenants?limit=50"
        );
        assert_eq!(
            list_path("/admin/v1/tenants", "r&d", None),
            "/admin/v1/tenants?q=r%26d&limit=50"
        );
    }
}
