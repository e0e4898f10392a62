//! A member's api keys: searched on the server, one page at a time; created and rotated with
//! the secret shown once; revoked after typing the key's name.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use freeway_wire::Page;
use freeway_wire::tenants::{CreatedKey, KeyView, MAX_OVERLAP_SECONDS, NewKey, Rotate, RotatedKey};
use leptos::prelude::*;

use crate::ui::{bump, keep};

use crate::api::invalid;
use crate::api::{self, ApiError};
use crate::pages::tenants::shared::{self, SearchBox, opt_text};
use crate::prefs::use_prefs;
use crate::time;
use crate::ui::{
    ConfirmButton, Empty, ErrorBanner, FieldError, Loading, Pager, PagerState, ShowOnce,
};

/// Longest expiry offered in days: 100 years.
const MAX_DAYS: i64 = 36_500;

/// How long a rotated key keeps working, as offered.
const OVERLAPS: [(i64, &str); 5] = [
    (0, "no overlap: the old key stops now"),
    (3_600, "1 hour"),
    (86_400, "1 day"),
    (604_800, "7 days"),
    (MAX_OVERLAP_SECONDS, "30 days"),
];

/// The key's name, or its prefix when it has none.
pub fn key_label(key: &KeyView) -> String {
    if key.name.trim().is_empty() {
        key.prefix.clone()
    } else {
        key.name.clone()
    }
}

/// `expires_at` from "in this many days" or "on this date" (00:00 in `tz`); never when both
/// are empty.
fn expiry(
    days: &str,
    date: &str,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    let field = "expires_at";
    match (opt_text(days), opt_text(date)) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(invalid(field, "Give a number of days or a date, not both.")),
        (Some(days), None) => {
            let n = days
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_DAYS).contains(n))
                .ok_or_else(|| {
                    invalid(field, format!("Days: a whole number from 1 to {MAX_DAYS}."))
                })?;
            Duration::try_days(n)
                .and_then(|d| now.checked_add_signed(d))
                .map(Some)
                .ok_or_else(|| invalid(field, "Too far in the future."))
        }
        (None, Some(date)) => {
            let date = shared::parse_date(&date).ok_or_else(|| invalid(field, "Not a date."))?;
            let at = time::local_midnight(date, tz);
            if at <= now {
                return Err(invalid(field, "The date must be in the future."));
            }
            Ok(Some(at))
        }
    }
}

/// A secret to show once: the dialog's title and the key.
type Secret = (String, String);

/// What the rows' actions need.
#[derive(Clone, Copy)]
struct Actions {
    base: StoredValue<String>,
    version: RwSignal<u32>,
    secret: RwSignal<Option<Secret>>,
    overlap: RwSignal<i64>,
    error: RwSignal<Option<ApiError>>,
    quota_for: RwSignal<Option<KeyView>>,
}

impl Actions {
    fn rotate(self, key: KeyView) {
        let path = format!("{}/{}/rotate", self.base.get_value(), key.id);
        let body = Rotate {
            overlap_seconds: self.overlap.get_untracked(),
        };
        leptos::task::spawn_local(async move {
            match api::post::<RotatedKey>(&path, &body).await {
                Ok(rotated) => {
                    self.error.set(None);
                    self.secret.set(Some((
                        format!("New key replacing “{}”", key_label(&key)),
                        rotated.new.key,
                    )));
                    bump(self.version);
                }
                Err(e) => self.error.set(Some(e)),
            }
        });
    }

    fn revoke(self, key: KeyView) {
        let path = format!("{}/{}", self.base.get_value(), key.id);
        leptos::task::spawn_local(async move {
            match api::delete(&path).await {
                Ok(()) => {
                    self.error.set(None);
                    let open = self
                        .quota_for
                        .try_with_untracked(|k| k.as_ref().is_some_and(|k| k.id == key.id));
                    if open == Some(true) {
                        self.quota_for.set(None);
                    }
                    bump(self.version);
                }
                Err(e) => self.error.set(Some(e)),
            }
        });
    }
}

#[component]
pub fn KeysCard(
    tenant: String,
    member: String,
    quota_for: RwSignal<Option<KeyView>>,
) -> impl IntoView {
    let q = shared::url_q();
    let pager = PagerState::new();
    let version = RwSignal::new(0u32);
    let base = StoredValue::new(format!(
        "/admin/v1/tenants/{}/members/{}/keys",
        api::enc(&tenant),
        api::enc(&member)
    ));
    let resource = LocalResource::new(move || {
        version.track();
        let path = shared::list_path(&base.get_value(), &q.get(), pager.cursor.get());
        async move { api::get::<Page<KeyView>>(&path).await }
    });
    let (page, load_error) = keep(resource);
    let next = Signal::derive(move || page.with(|p| p.as_ref().and_then(|p| p.next_cursor)));
    let actions = Actions {
        base,
        version,
        secret: RwSignal::new(None),
        overlap: RwSignal::new(86_400),
        error: RwSignal::new(None),
        quota_for,
    };
    let overlaps = OVERLAPS
        .iter()
        .map(|(secs, label)| view! { <option value=secs.to_string()>{*label}</option> })
        .collect::<Vec<_>>();
    let origin = shared::origin();
    view! {
        <section class="card" data-testid="keys">
            <h2>"Api keys"</h2>
            <div class="row">
                <SearchBox testid="key-search" label="Search keys" pager q />
                <label class="inline">"When rotating, the old key keeps working for "
                    <select data-testid="rotate-overlap"
                        prop:value=move || actions.overlap.get().to_string()
                        on:change=move |ev| {
                            if let Ok(secs) = event_target_value(&ev).parse() {
                                actions.overlap.set(secs)
                            }
                        }>
                        {overlaps}
                    </select>
                </label>
            </div>
            <ErrorBanner error=load_error />
            <ErrorBanner error=actions.error />
            <KeyTable page q actions />
            <Pager state=pager next />
            <CreateKey actions />
        </section>
        {move || actions.secret.get().map(|(title, key)| view! {
            <ShowOnce title secret=key env_var="OPENAI_API_KEY"
                env_extra=vec![("OPENAI_BASE_URL".to_string(), format!("{origin}/v1"))]
                on_close=move || actions.secret.set(None) />
        })}
    }
}

#[component]
fn KeyTable(
    page: RwSignal<Option<Page<KeyView>>>,
    q: Memo<String>,
    actions: Actions,
) -> impl IntoView {
    let prefs = use_prefs();
    move || match page.get() {
        None => view! { <Loading /> }.into_any(),
        Some(p) if p.data.is_empty() => {
            let text = if q.get().trim().is_empty() {
                "No api keys yet.".to_string()
            } else {
                format!("No key matches “{}”.", q.get().trim())
            };
            view! { <Empty text /> }.into_any()
        }
        Some(p) => {
            let tz = prefs.tz.get();
            let rows = p
                .data
                .into_iter()
                .map(|key| view! { <KeyRow key actions tz /> })
                .collect::<Vec<_>>();
            view! {
                <div class="table-wrap">
                    <table class="table">
                        <thead><tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Prefix"</th>
                            <th scope="col">"Models"</th>
                            <th scope="col">"Expires"</th>
                            <th scope="col">"Last used"</th>
                            <th scope="col">"State"</th>
                            <th scope="col"><span class="sr-only">"Actions"</span></th>
                        </tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            }
            .into_any()
        }
    }
}

#[component]
fn KeyRow(key: KeyView, actions: Actions, tz: Tz) -> impl IntoView {
    let now = Utc::now();
    let never = || view! { <span class="muted">"never"</span> }.into_any();
    let expired = key.expires_at.is_some_and(|at| at <= now);
    let (state, class, text) = if key.revoked {
        let at = key
            .revoked_at
            .map(|at| format!(" {}", time::format(at, tz)))
            .unwrap_or_default();
        ("revoked", "badge bad", format!("revoked{at}"))
    } else if key.replaced_by.is_some() {
        let until = key
            .expires_at
            .map(|at| format!(", works until {}", time::format(at, tz)))
            .unwrap_or_default();
        let state = if expired {
            "replaced-expired"
        } else {
            "replaced"
        };
        (state, "badge warn", format!("replaced{until}"))
    } else if expired {
        ("expired", "badge bad", "expired".to_string())
    } else {
        ("active", "badge ok", "active".to_string())
    };
    let name = if key.name.trim().is_empty() {
        view! { <span class="muted">"(unnamed)"</span> }.into_any()
    } else {
        view! { <span>{key.name.clone()}</span> }.into_any()
    };
    let models = match &key.allowed_models {
        Some(m) => view! { <span data-testid="key-models">{m.join(", ")}</span> }.into_any(),
        None => {
            view! { <span class="muted" data-testid="key-models">"every model"</span> }.into_any()
        }
    };
    let expires = key
        .expires_at
        .map(|at| view! { <span>{time::format(at, tz)}</span> }.into_any())
        .unwrap_or_else(never);
    let last_used = key
        .last_used_at
        .map(|at| view! { <span>{time::format(at, tz)}</span> }.into_any())
        .unwrap_or_else(never);
    let can_rotate = !key.revoked && key.replaced_by.is_none();
    let word = key_label(&key);
    let stored = StoredValue::new(key.clone());
    view! {
        <tr data-testid="key-row" data-id=key.id.to_string() data-name=key.name.clone() data-state=state>
            <td>{name}</td>
            <td><code data-testid="key-prefix">{key.prefix.clone()}</code></td>
            <td>{models}</td>
            <td>{expires}</td>
            <td>{last_used}</td>
            <td><span class=class data-testid="key-state">{text}</span></td>
            <td>
                <div class="row">
                    <button type="button" data-testid="key-quota" aria-label=format!("Quota of {word}")
                        on:click=move |_| actions.quota_for.set(Some(stored.get_value()))>"Quota"</button>
                    {can_rotate.then(|| view! {
                        <button type="button" data-testid="key-rotate" aria-label=format!("Rotate {}", word.clone())
                            on:click=move |_| actions.rotate(stored.get_value())>"Rotate"</button>
                    })}
                    {(!key.revoked).then(|| view! {
                        <ConfirmButton label="Revoke" testid="key-revoke" word=word.clone()
                            what=format!("Revoke the key “{word}”? It stops working within a second.")
                            on_confirm=move || actions.revoke(stored.get_value()) />
                    })}
                </div>
            </td>
        </tr>
    }
}

#[component]
fn CreateKey(actions: Actions) -> impl IntoView {
    let prefs = use_prefs();
    let name = RwSignal::new(String::new());
    let models = RwSignal::new(String::new());
    let days = RwSignal::new(String::new());
    let date = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let expires_at = match expiry(
            &days.get_untracked(),
            &date.get_untracked(),
            prefs.tz.get_untracked(),
            Utc::now(),
        ) {
            Ok(at) => at,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        let body = NewKey {
            name: opt_text(&name.get_untracked()),
            allowed_models: shared::model_list(&models.get_untracked()),
            expires_at,
        };
        let path = actions.base.get_value();
        busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = api::post::<CreatedKey>(&path, &body).await;
            busy.set(false);
            match answer {
                Ok(created) => {
                    error.set(None);
                    name.set(String::new());
                    models.set(String::new());
                    days.set(String::new());
                    date.set(String::new());
                    let title = format!("New key “{}”", key_label(&created.info));
                    actions.secret.set(Some((title, created.key)));
                    bump(actions.version);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <h3>"Create a key"</h3>
        <form class="grid" on:submit=submit data-testid="key-create-form">
            <label>"Name (optional)"
                <input type="text" maxlength="100" data-testid="key-create-name"
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                <FieldError error field="name" />
            </label>
            <label>"Allowed models (comma-separated; empty for every model)"
                <input type="text" data-testid="key-create-models" placeholder="every model"
                    prop:value=move || models.get() on:input=move |ev| models.set(event_target_value(&ev)) />
                <FieldError error field="allowed_models" />
            </label>
            <label>"Expires in days (empty for never)"
                <input type="number" min="1" max=MAX_DAYS.to_string() step="1" data-testid="key-create-days"
                    prop:value=move || days.get() on:input=move |ev| days.set(event_target_value(&ev)) />
            </label>
            <label>{move || format!("Or expires on (00:00, {})", prefs.tz.get().name())}
                <input type="date" data-testid="key-create-date"
                    prop:value=move || date.get() on:input=move |ev| date.set(event_target_value(&ev)) />
                <FieldError error field="expires_at" />
            </label>
            <button type="submit" class="primary" data-testid="key-create" disabled=move || busy.get()>"Create key"</button>
        </form>
        <ErrorBanner error fields=&["name", "allowed_models", "expires_at"] />
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_days_from_now_or_a_local_midnight() {
        let tz: Tz = "Asia/Tokyo".parse().unwrap();
        let now: DateTime<Utc> = "2026-03-01T12:00:00Z".parse().unwrap();
        assert_eq!(expiry("", " ", tz, now).unwrap(), None);
        assert_eq!(
            expiry("2", "", tz, now).unwrap(),
            Some("2026-03-03T12:00:00Z".parse().unwrap())
        );
        assert_eq!(
            expiry("", "2026-03-05", tz, now).unwrap(),
            Some("2026-03-04T15:00:00Z".parse().unwrap())
        );
        assert!(expiry("2", "2026-03-05", tz, now).is_err());
        assert!(expiry("0", "", tz, now).is_err());
        assert!(expiry("", "2026-02-01", tz, now).is_err());
        assert_eq!(
            expiry("x", "", tz, now).unwrap_err().field.as_deref(),
            Some("expires_at")
        );
    }
}
