//! A list whose filters and page live in the URL, so a view can be shared and survives a
//! reload: the query string read and written, local date-time inputs as UTC times, cursor
//! pagination with the cursors of the pages before kept in `&back=`, and a debounce for
//! filters that apply as one types. Used by the requests log and the audit log.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use freeway_wire::Page;
use freeway_wire::tenants::TenantView;
use freeway_wire::usage::TimeParam;
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::params::ParamsMap;
use uuid::Uuid;

use crate::api;

/// The most cursors `&back=` keeps; older ones are dropped (Previous then ends on the first
/// page sooner), so the URL stays short.
pub const BACK_MAX: usize = 40;

/// `path?k=v&...` from the pairs that have a non-empty value, in order, values encoded.
pub fn href(path: &str, pairs: &[(&str, Option<String>)]) -> String {
    let query: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", crate::api::enc(v)))
        })
        .collect();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// A query parameter, trimmed, empty as none.
pub fn param(map: &ParamsMap, key: &str) -> Option<String> {
    map.get_str(key)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Where a paged list is: the cursor of the page shown (none on the first page) and those of
/// the pages between the first and this one, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursors {
    pub cursor: Option<Uuid>,
    pub back: Vec<Uuid>,
}

impl Cursors {
    /// From `cursor=` and `back=` (comma-separated); unreadable cursors are dropped.
    pub fn from_query(map: &ParamsMap) -> Cursors {
        Cursors::from_parts(map.get_str("cursor"), map.get_str("back"))
    }

    pub fn from_parts(cursor: Option<&str>, back: Option<&str>) -> Cursors {
        let cursor = cursor.and_then(|c| c.trim().parse().ok());
        let back = match (cursor, back) {
            (Some(_), Some(b)) => b.split(',').filter_map(|c| c.trim().parse().ok()).collect(),
            _ => Vec::new(),
        };
        Cursors { cursor, back }
    }

    /// The page after this one, which starts after `next`.
    pub fn next(&self, next: Uuid) -> Cursors {
        let mut back = self.back.clone();
        if let Some(here) = self.cursor {
            back.push(here);
        }
        if back.len() > BACK_MAX {
            back.drain(..back.len().saturating_sub(BACK_MAX));
        }
        Cursors {
            cursor: Some(next),
            back,
        }
    }

    /// The page before this one: the last cursor of `back`, or the first page.
    pub fn previous(&self) -> Cursors {
        let mut back = self.back.clone();
        let cursor = back.pop();
        Cursors { cursor, back }
    }

    pub fn has_previous(&self) -> bool {
        self.cursor.is_some()
    }

    /// `cursor=` and `back=`, for [`href`].
    pub fn pairs(&self) -> [(&'static str, Option<String>); 2] {
        let back = (!self.back.is_empty()).then(|| {
            self.back
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(",")
        });
        [
            ("cursor", self.cursor.map(|c| c.to_string())),
            ("back", back),
        ]
    }
}

/// A UTC time of the URL (`2026-03-01T11:00:00Z`) as a `datetime-local` value in `tz`.
pub fn local_input(utc: Option<&str>, tz: Tz) -> String {
    utc.and_then(TimeParam::parse)
        .map(|t| t.0.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

/// A `datetime-local` value, read in `tz`, as the URL's and the server's UTC time; empty is
/// none. A local time that a DST change skips is read an hour later.
pub fn utc_param(local: &str, tz: Tz) -> Result<Option<String>, String> {
    let local = local.trim();
    if local.is_empty() {
        return Ok(None);
    }
    let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| format!("`{local}` is not a date and time"))?;
    let mut at = naive;
    for _ in 0..3 {
        if let Some(t) = tz.from_local_datetime(&at).earliest() {
            return Ok(Some(
                t.with_timezone(&Utc)
                    .to_rfc3339_opts(SecondsFormat::Secs, true),
            ));
        }
        at = at
            .checked_add_signed(crate::time::hours(1))
            .ok_or("out of range")?;
    }
    Err(format!("`{local}` does not exist in {}", tz.name()))
}

/// The URL's time as the server's.
pub fn time_param(utc: Option<&str>) -> Option<TimeParam> {
    utc.and_then(TimeParam::parse)
}

pub fn parse_time(utc: &str) -> Option<DateTime<Utc>> {
    TimeParam::parse(utc).map(|t| t.0)
}

/// A window ends after it starts.
pub fn ordered(from: Option<&str>, to: Option<&str>) -> Result<(), String> {
    match (from.and_then(parse_time), to.and_then(parse_time)) {
        (Some(f), Some(t)) if f >= t => Err("`To` must be after `From`".into()),
        _ => Ok(()),
    }
}

type Navigate = Box<dyn Fn(&str, NavigateOptions)>;

/// Navigates within the app, from closures that outlive the component's setup.
#[derive(Clone, Copy)]
pub struct Navigator {
    navigate: StoredValue<Navigate, LocalStorage>,
}

impl Navigator {
    pub fn new() -> Navigator {
        let navigate = leptos_router::hooks::use_navigate();
        Navigator {
            navigate: StoredValue::new_local(Box::new(navigate)),
        }
    }

    /// To `url`, replacing the history entry (typing, the drawer) or adding one (pages).
    pub fn go(&self, url: &str, replace: bool) {
        let here = web_sys::window()
            .and_then(|w| {
                let l = w.location();
                Some(format!("{}{}", l.pathname().ok()?, l.search().ok()?))
            })
            .unwrap_or_default();
        if here == url {
            return;
        }
        self.navigate.with_value(|n| {
            n(
                url,
                NavigateOptions {
                    replace,
                    scroll: !replace,
                    ..Default::default()
                },
            )
        });
    }
}

/// Runs `f` once `ms` have passed without another call (typing into a filter).
#[derive(Clone, Copy)]
pub struct Debounce {
    generation: StoredValue<u64>,
}

impl Debounce {
    pub fn new() -> Debounce {
        Debounce {
            generation: StoredValue::new(0),
        }
    }

    pub fn run(&self, ms: u32, f: impl FnOnce() + 'static) {
        let generation = self.generation;
        let mine = generation
            .try_update_value(|g| {
                *g = g.wrapping_add(1);
                *g
            })
            .unwrap_or_default();
        leptos::task::spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(ms).await;
            if generation.try_get_value() == Some(mine) {
                f();
            }
        });
    }

    /// Forgets a pending call (the form was applied at once).
    pub fn cancel(&self) {
        self.generation.try_update_value(|g| *g = g.wrapping_add(1));
    }
}

/// What a list shows. Kept in a `Memo`, so a refetch that changes only the rows leaves the
/// table (and what its rows hold: drafts, focus, unfolded detail) in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Loading,
    /// Nothing to show but the error.
    Failed,
    Empty,
    Rows,
}

impl Shape {
    /// From whether the last good answer was empty (none yet) and whether the last failed.
    pub fn of(empty: Option<bool>, failed: bool) -> Shape {
        match (empty, failed) {
            (None, false) => Shape::Loading,
            (None, true) => Shape::Failed,
            (Some(true), _) => Shape::Empty,
            (Some(false), _) => Shape::Rows,
        }
    }
}

/// Previous / Next of a list paged in the URL; `go` receives the new position.
#[component]
pub fn UrlPager(
    #[prop(into)] cursors: Signal<Cursors>,
    #[prop(into)] next: Signal<Option<Uuid>>,
    go: impl Fn(Cursors) + Clone + 'static,
) -> impl IntoView {
    let go_back = go.clone();
    view! {
        <nav class="pager" aria-label="Pages">
            <button type="button" data-testid="previous"
                disabled=move || !cursors.with(Cursors::has_previous)
                on:click=move |_| go_back(cursors.with_untracked(Cursors::previous))>
                "← Previous"
            </button>
            <button type="button" data-testid="next"
                disabled=move || next.get().is_none()
                on:click=move |_| {
                    if let Some(n) = next.get_untracked() {
                        go(cursors.with_untracked(|c| c.next(n)))
                    }
                }>
                "Next →"
            </button>
        </nav>
    }
}

/// An instance admin's tenant filter: every tenant (or, beyond the first page of them, the
/// one chosen, by id). `all` is the value of "All tenants".
#[component]
pub fn TenantSelect(
    #[prop(into)] value: Signal<String>,
    on_change: impl Fn(String) + 'static,
    testid: &'static str,
) -> impl IntoView {
    let tenants = LocalResource::new(|| async {
        api::get::<Page<TenantView>>("/admin/v1/tenants?limit=50")
            .await
            .map(|p| p.data)
            .unwrap_or_default()
    });
    // Each option says whether it is chosen, so the choice shows once the tenants arrive.
    let option = move |id: String, name: String| {
        let chosen = id.clone();
        view! { <option value=id prop:selected=move || value.with(|v| *v == chosen)>{name}</option> }
    };
    let options = move || {
        let list = tenants.get().unwrap_or_default();
        let chosen = value.get();
        let known = chosen == "all" || list.iter().any(|t| t.id.to_string() == chosen);
        let mut options = vec![option("all".into(), "All tenants".into())];
        if !known {
            options.push(option(chosen.clone(), chosen));
        }
        options.extend(list.into_iter().map(|t| option(t.id.to_string(), t.name)));
        options
    };
    view! {
        <label>"Tenant"
            <select data-testid=testid on:change=move |ev| on_change(event_target_value(&ev))>
                {options}
            </select>
        </label>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn previous_walks_back_through_the_pages_seen() {
        let first = Cursors::default();
        assert!(!first.has_previous());
        let second = first.next(id(1));
        assert!(second.back.is_empty());
        let third = second.next(id(2));
        assert_eq!(third.back, vec![id(1)]);
        let fourth = third.next(id(3));
        assert_eq!(fourth.previous(), third);
        assert_eq!(third.previous(), second);
        assert_eq!(second.previous(), first);
    }

    #[test]
    fn the_back_stack_is_bounded_and_round_trips_through_the_url() {
        let mut at = Cursors::default();
        for n in 1..=(BACK_MAX as u128 + 10) {
            at = at.next(id(n));
        }
        assert_eq!(at.back.len(), BACK_MAX);
        let url = href("/requests", &at.pairs());
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let value = |key: &str| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.replace("%2C", ","))
        };
        let back = Cursors::from_parts(value("cursor").as_deref(), value("back").as_deref());
        assert_eq!(back, at);
    }

    #[test]
    fn local_times_are_read_in_the_viewers_zone() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            utc_param("2026-07-01T12:30", berlin),
            Ok(Some("2026-07-01T10:30:00Z".into()))
        );
        assert_eq!(utc_param("", berlin), Ok(None));
        assert!(utc_param("yesterday", berlin).is_err());
        // 02:30 does not exist on the last Sunday of March in Berlin.
        assert_eq!(
            utc_param("2026-03-29T02:30", berlin),
            Ok(Some("2026-03-29T01:30:00Z".into()))
        );
        assert_eq!(
            local_input(Some("2026-07-01T10:30:00Z"), berlin),
            "2026-07-01T12:30"
        );
    }
}
