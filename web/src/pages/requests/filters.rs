//! The filter form of the request log: drafts typed apart from the URL, written to it as
//! one types (replacing the history entry) or at once with Apply (a new entry).

use chrono_tz::Tz;
use leptos::prelude::*;
use uuid::Uuid;

use super::View;
use super::nav::{self, Cursors, Debounce, Navigator, TenantSelect};
use crate::api::ApiError;
use crate::api::invalid;
use crate::prefs::{self, use_prefs};
use crate::ui::FieldError;

/// The form's drafts, apart from what the URL says until applied.
#[derive(Clone, Copy)]
struct Drafts {
    from: RwSignal<String>,
    to: RwSignal<String>,
    status: RwSignal<String>,
    model: RwSignal<String>,
    provider: RwSignal<String>,
    tenant: RwSignal<String>,
    member: RwSignal<String>,
    key: RwSignal<String>,
    id: RwSignal<String>,
}

impl Drafts {
    fn new() -> Drafts {
        Drafts {
            from: RwSignal::new(String::new()),
            to: RwSignal::new(String::new()),
            status: RwSignal::new(String::new()),
            model: RwSignal::new(String::new()),
            provider: RwSignal::new(String::new()),
            tenant: RwSignal::new(String::new()),
            member: RwSignal::new(String::new()),
            key: RwSignal::new(String::new()),
            id: RwSignal::new(String::new()),
        }
    }

    fn load(&self, view: &View, tz: Tz, switcher: Option<Uuid>) {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        self.from.set(nav::local_input(view.from.as_deref(), tz));
        self.to.set(nav::local_input(view.to.as_deref(), tz));
        self.status.set(text(&view.status));
        self.model.set(text(&view.model));
        self.provider.set(text(&view.provider));
        self.tenant.set(view.tenant.clone().unwrap_or_else(|| {
            switcher
                .map(|t| t.to_string())
                .unwrap_or_else(|| "all".into())
        }));
        self.member.set(text(&view.member));
        self.key.set(text(&view.key));
        self.id.set(text(&view.id));
    }

    /// The view the form describes, on the first page; or what is wrong with it.
    fn view(&self, tz: Tz, admin: bool) -> Result<View, ApiError> {
        let trimmed = |s: RwSignal<String>| {
            let v = s.get_untracked().trim().to_string();
            (!v.is_empty()).then_some(v)
        };
        let uuid = |s: RwSignal<String>, field: &str, what: &str| match trimmed(s) {
            Some(v) if v.parse::<Uuid>().is_err() => {
                Err(invalid(field, format!("`{v}` is not {what} id")))
            }
            other => Ok(other),
        };
        let status = match trimmed(self.status) {
            Some(s) if !s.parse::<u16>().is_ok_and(|s| (100..=999).contains(&s)) => {
                return Err(invalid("status", format!("`{s}` is not an HTTP status")));
            }
            other => other,
        };
        let from =
            nav::utc_param(&self.from.get_untracked(), tz).map_err(|m| invalid("from", m))?;
        let to = nav::utc_param(&self.to.get_untracked(), tz).map_err(|m| invalid("to", m))?;
        nav::ordered(from.as_deref(), to.as_deref()).map_err(|m| invalid("to", m))?;
        Ok(View {
            from,
            to,
            status,
            model: trimmed(self.model),
            provider: trimmed(self.provider),
            tenant: if admin { trimmed(self.tenant) } else { None },
            member: uuid(self.member, "member_id", "a member")?,
            key: uuid(self.key, "api_key_id", "an api key")?,
            id: uuid(self.id, "id", "a request")?,
            cursors: Cursors::default(),
        })
    }
}

#[component]
pub fn Filters(
    view: Memo<View>,
    navigator: Navigator,
    admin: bool,
    member: bool,
    /// The list's error, whose `field` may name a filter.
    server: RwSignal<Option<ApiError>>,
) -> impl IntoView {
    let prefs = use_prefs();
    let drafts = Drafts::new();
    let mistake = RwSignal::new(None::<ApiError>);
    let local = Signal::derive(move || mistake.get().or_else(|| server.get()));
    let debounce = Debounce::new();
    // The URL last written by typing: the form already shows it, and reloading the drafts
    // from it would undo what was typed since.
    let typed = StoredValue::new(None::<String>);
    Effect::new(move |previous: Option<Tz>| {
        let v = view.get();
        let tz = prefs::tz();
        let switcher = prefs.tenant.get();
        let mine = typed.with_value(|t| t.as_deref() == Some(v.href().as_str()));
        if !mine || previous.is_some_and(|p| p != tz) {
            drafts.load(&v, tz, switcher);
            mistake.set(None);
        }
        tz
    });
    let apply = move |replace: bool| {
        let tz = prefs.tz.get_untracked();
        match drafts.view(tz, admin) {
            Ok(v) => {
                mistake.set(None);
                let href = v.href();
                typed.set_value(replace.then(|| href.clone()));
                navigator.go(&href, replace);
            }
            Err(e) => mistake.set(Some(e)),
        }
    };
    let typing = move || debounce.run(400, move || apply(true));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        debounce.cancel();
        apply(false);
    };
    let clear = move |_| {
        debounce.cancel();
        typed.set_value(None);
        let tenant = view.with_untracked(|v| v.tenant.clone());
        navigator.go(
            &View {
                tenant,
                ..View::default()
            }
            .href(),
            false,
        );
    };
    let zone = move || prefs::tz().name().to_string();
    let text = move |label: &'static str,
                     field: &'static str,
                     testid: &'static str,
                     draft: RwSignal<String>,
                     placeholder: &'static str| {
        view! {
            <label>{label}
                <input type="text" data-testid=testid placeholder=placeholder
                    prop:value=move || draft.get()
                    on:input=move |ev| { draft.set(event_target_value(&ev)); typing() } />
                <FieldError error=local field=field />
            </label>
        }
    };
    view! {
        <form class="grid card" data-testid="request-filters" on:submit=submit aria-label="Filters">
            <label>{move || format!("From ({})", zone())}
                <input type="datetime-local" data-testid="filter-from"
                    prop:value=move || drafts.from.get()
                    on:change=move |ev| { drafts.from.set(event_target_value(&ev)); typing() } />
                <FieldError error=local field="from" />
            </label>
            <label>{move || format!("To ({})", zone())}
                <input type="datetime-local" data-testid="filter-to"
                    prop:value=move || drafts.to.get()
                    on:change=move |ev| { drafts.to.set(event_target_value(&ev)); typing() } />
                <FieldError error=local field="to" />
            </label>
            <label>"Status"
                <input type="text" inputmode="numeric" data-testid="filter-status" placeholder="429"
                    list="request-statuses"
                    prop:value=move || drafts.status.get()
                    on:input=move |ev| { drafts.status.set(event_target_value(&ev)); typing() } />
                <datalist id="request-statuses">
                    {[200, 400, 401, 403, 404, 413, 422, 429, 500, 502, 503, 504]
                        .into_iter()
                        .map(|s| view! { <option value=s.to_string()></option> })
                        .collect::<Vec<_>>()}
                </datalist>
                <FieldError error=local field="status" />
            </label>
            {text("Served model", "model", "filter-model", drafts.model, "llama-3.1-8b-instant")}
            {text("Provider", "provider", "filter-provider", drafts.provider, "groq")}
            {admin.then(|| view! {
                <TenantSelect value=drafts.tenant testid="filter-tenant"
                    on_change=move |t| { drafts.tenant.set(t); debounce.cancel(); apply(true) } />
            })}
            {(!member).then(|| text("Member id", "member_id", "filter-member", drafts.member, "uuid"))}
            {text("Api key id", "api_key_id", "filter-key", drafts.key, "uuid")}
            {text("Request id", "id", "filter-request-id", drafts.id, "x-request-id")}
            <div class="row">
                <button type="submit" class="primary" data-testid="filter-apply">"Apply"</button>
                <button type="button" data-testid="filter-clear" on:click=clear>"Clear"</button>
            </div>
        </form>
    }
}
