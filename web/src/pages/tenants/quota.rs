//! The quota of a tenant, a member or an api key: each limit next to what is used of it now.
//!
//! The quota counts requests and tokens per minute, per UTC day and per UTC calendar month
//! (`api/src/tenancy/quota.rs`); the usage shown beside the day and month limits is the
//! usage summary over the same UTC windows. Per-minute use is not kept in the hourly
//! rollups, so it is not shown. Saving replaces the whole quota (`PUT`), every cleared
//! field sent as `null`; "Remove quota" deletes it.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use freeway_wire::tenants::{QuotaBody, QuotaScope, QuotaView};
use freeway_wire::usage::{SummaryQuery, TimeParam, UsageSummary, UsageTotals};
use leptos::prelude::*;

use crate::ui::{bump, keep};
use uuid::Uuid;

use super::shared::{self, opt_text};
use crate::api::invalid;
use crate::api::{self, ApiError, ApiResult};
use crate::prefs::use_prefs;
use crate::time;
use crate::ui::{ErrorBanner, FieldError, Loading, opt_number, thousands};

/// One numeric limit of a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    Rpm,
    Rpd,
    Tpm,
    Tpd,
    Month,
}

const LIMITS: [Limit; 5] = [Limit::Rpm, Limit::Rpd, Limit::Tpm, Limit::Tpd, Limit::Month];

/// Every field of `QuotaBody`, as the wire spells them.
const FIELDS: [&str; 7] = [
    "rpm",
    "rpd",
    "tpm",
    "tpd",
    "tokens_per_month",
    "allowed_models",
    "expires_at",
];

impl Limit {
    /// The wire field, also the `quota-<field>` test id.
    fn key(self) -> &'static str {
        match self {
            Limit::Rpm => "rpm",
            Limit::Rpd => "rpd",
            Limit::Tpm => "tpm",
            Limit::Tpd => "tpd",
            Limit::Month => "tokens_per_month",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Limit::Rpm => "Requests per minute",
            Limit::Rpd => "Requests per day",
            Limit::Tpm => "Tokens per minute",
            Limit::Tpd => "Tokens per day",
            Limit::Month => "Tokens per month",
        }
    }

    fn window(self) -> &'static str {
        match self {
            Limit::Rpm | Limit::Tpm => "sliding minute",
            Limit::Rpd | Limit::Tpd => "UTC day",
            Limit::Month => "UTC calendar month",
        }
    }

    fn max(self) -> i64 {
        match self {
            Limit::Rpm | Limit::Rpd => i64::from(i32::MAX),
            _ => i64::MAX,
        }
    }

    fn of(self, q: &QuotaView) -> Option<i64> {
        match self {
            Limit::Rpm => q.rpm.map(i64::from),
            Limit::Rpd => q.rpd.map(i64::from),
            Limit::Tpm => q.tpm,
            Limit::Tpd => q.tpd,
            Limit::Month => q.tokens_per_month,
        }
    }

    /// Is its current use shown? Not per minute: the rollups are hourly.
    fn has_use(self) -> bool {
        !matches!(self, Limit::Rpm | Limit::Tpm)
    }

    /// What is used of it now; none for the per-minute limits.
    fn used(self, usage: &Usage) -> Option<i64> {
        match self {
            Limit::Rpm | Limit::Tpm => None,
            Limit::Rpd => Some(usage.today.requests),
            Limit::Tpd => Some(usage.today.total_tokens),
            Limit::Month => Some(usage.month.total_tokens),
        }
    }
}

/// Whose quota, where it lives, and the usage filter of the same scope.
#[derive(Debug, Clone)]
pub struct QuotaTarget {
    pub scope: QuotaScope,
    /// `/admin/v1/.../quota`.
    pub path: String,
    pub tenant_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
}

impl QuotaTarget {
    fn summary(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
        api::with_query(
            "/admin/v1/usage/summary",
            &SummaryQuery {
                from: Some(TimeParam(from)),
                to: Some(TimeParam(to)),
                tenant_id: self.tenant_id,
                member_id: self.member_id,
                api_key_id: self.api_key_id,
                ..SummaryQuery::default()
            },
        )
    }
}

/// Usage over the quota's UTC day and month.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Usage {
    today: UsageTotals,
    month: UsageTotals,
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// `[start, end)`.
type Span = (DateTime<Utc>, DateTime<Utc>);

/// The UTC day and the UTC calendar month holding `now`.
fn windows(now: DateTime<Utc>) -> (Span, Span) {
    let today = now.date_naive();
    let tomorrow = today.succ_opt().unwrap_or(today);
    let first = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    (
        (midnight(today), midnight(tomorrow)),
        (midnight(first), midnight(next)),
    )
}

async fn usage(target: QuotaTarget) -> ApiResult<Usage> {
    let ((day_from, day_to), (month_from, month_to)) = windows(Utc::now());
    let today = api::get::<UsageSummary>(&target.summary(day_from, day_to)).await?;
    let month = api::get::<UsageSummary>(&target.summary(month_from, month_to)).await?;
    Ok(Usage {
        today: today.total,
        month: month.total,
    })
}

/// The body as sent: every cleared field as an explicit `null`, so nothing is left over.
fn with_nulls(body: &QuotaBody) -> serde_json::Value {
    let mut value = serde_json::to_value(body).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        for field in FIELDS {
            map.entry(field).or_insert(serde_json::Value::Null);
        }
    }
    value
}

/// The editor's text, apart from the fetched quota.
#[derive(Clone, Copy)]
struct Drafts {
    limits: [RwSignal<String>; 5],
    models: RwSignal<String>,
    expires: RwSignal<String>,
}

impl Drafts {
    fn new() -> Drafts {
        Drafts {
            limits: std::array::from_fn(|_| RwSignal::new(String::new())),
            models: RwSignal::new(String::new()),
            expires: RwSignal::new(String::new()),
        }
    }

    fn load(&self, quota: Option<&QuotaView>, tz: Tz) {
        for (limit, draft) in LIMITS.iter().zip(self.limits.iter()) {
            draft.set(
                quota
                    .and_then(|q| limit.of(q))
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            );
        }
        self.models.set(
            quota
                .map(|q| shared::models_text(&q.allowed_models))
                .unwrap_or_default(),
        );
        self.expires.set(
            quota
                .and_then(|q| q.expires_at)
                .map(|at| shared::local_input(at, tz))
                .unwrap_or_default(),
        );
    }

    fn body(&self, tz: Tz) -> Result<QuotaBody, ApiError> {
        let mut values = [None::<i64>; 5];
        for ((limit, draft), slot) in LIMITS.iter().zip(self.limits.iter()).zip(values.iter_mut()) {
            let value = opt_number(&draft.get_untracked()).map_err(|m| invalid(limit.key(), m))?;
            if let Some(v) = value
                && !(0..=limit.max()).contains(&v)
            {
                return Err(invalid(
                    limit.key(),
                    format!("Between 0 and {}.", thousands(limit.max())),
                ));
            }
            *slot = value;
        }
        let [rpm, rpd, tpm, tpd, tokens_per_month] = values;
        let expires_at = match opt_text(&self.expires.get_untracked()) {
            None => None,
            Some(text) => Some(
                shared::parse_local(&text, tz)
                    .ok_or_else(|| invalid("expires_at", "Not a date and time."))?,
            ),
        };
        Ok(QuotaBody {
            rpm,
            rpd,
            tpm,
            tpd,
            tokens_per_month,
            allowed_models: shared::model_list(&self.models.get_untracked()),
            expires_at,
        })
    }
}

/// A quota with its current use; editable when `can_edit` (the API decides who may).
#[component]
pub fn QuotaEditor(
    target: QuotaTarget,
    can_edit: bool,
    #[prop(into)] title: String,
    /// Wraps the editor, such as `quota-tenant`.
    testid: &'static str,
) -> impl IntoView {
    let prefs = use_prefs();
    let scope = target.scope.as_str();
    let target = StoredValue::new(target);
    let version = RwSignal::new(0u32);
    let quota_resource = LocalResource::new(move || {
        version.track();
        let path = target.with_value(|t| t.path.clone());
        async move {
            match api::get::<QuotaView>(&path).await {
                Ok(q) => Ok(Some(q)),
                // No quota set: only the pool (and the wider quotas) limit it.
                Err(e) if e.status == 404 && e.code == "not_found" => Ok(None),
                Err(e) => Err(e),
            }
        }
    });
    let usage_resource = LocalResource::new(move || {
        version.track();
        let target = target.get_value();
        async move { usage(target).await }
    });
    let (quota, load_error) = keep(quota_resource);
    let (used, usage_error) = keep(usage_resource);
    let drafts = Drafts::new();
    let dirty = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let saved = RwSignal::new(None::<&'static str>);
    let busy = RwSignal::new(false);
    // Fetched values fill the form, unless it is being edited.
    Effect::new(move |_| {
        let tz = prefs.tz.get();
        quota.with(|q| {
            if let Some(q) = q
                && !dirty.get_untracked()
            {
                drafts.load(q.as_ref(), tz);
            }
        });
    });
    let edited = move || {
        dirty.set(true);
        saved.set(None);
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if !can_edit || busy.get_untracked() {
            return;
        }
        let body = match drafts.body(prefs.tz.get_untracked()) {
            Ok(body) => with_nulls(&body),
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        let path = target.with_value(|t| t.path.clone());
        busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = api::put::<QuotaView>(&path, &body).await;
            busy.set(false);
            match answer {
                Ok(q) => {
                    error.set(None);
                    dirty.set(false);
                    quota.set(Some(Some(q)));
                    saved.set(Some("Quota saved."));
                    bump(version);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let remove = move |_| {
        if !can_edit || busy.get_untracked() {
            return;
        }
        let path = target.with_value(|t| t.path.clone());
        busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = api::delete(&path).await;
            busy.set(false);
            match answer {
                Ok(()) => {
                    error.set(None);
                    dirty.set(false);
                    drafts.load(None, prefs.tz.get_untracked());
                    quota.set(Some(None));
                    saved.set(Some("Quota removed: no limits of its own."));
                    bump(version);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let rows = LIMITS
        .iter()
        .zip(drafts.limits.iter())
        .map(|(limit, draft)| {
            let (limit, draft) = (*limit, *draft);
            view! { <LimitRow limit draft used can_edit on_edit=edited error /> }
        })
        .collect::<Vec<_>>();
    let status = move || {
        match quota.get() {
        None => view! { <Loading /> }.into_any(),
        Some(None) => view! {
            <p class="muted" data-testid="quota-none">"No quota set: only the wider quotas and the pool limit it."</p>
        }
        .into_any(),
        Some(Some(q)) => view! {
            <p class="muted" data-testid="quota-set">"Set; last changed " {time::format(q.updated_at, prefs.tz.get())} "."</p>
        }
        .into_any(),
    }
    };
    view! {
        <section class="card" data-testid=testid data-scope=scope>
            <h2>{title}</h2>
            {status}
            <ErrorBanner error=load_error />
            <ErrorBanner error=usage_error />
            <form on:submit=save>
                <div class="table-wrap">
                    <table class="table">
                        <thead><tr>
                            <th scope="col">"Limit"</th>
                            <th scope="col">"Quota"</th>
                            <th scope="col" class="num">"Used now"</th>
                            <th scope="col">"Window"</th>
                        </tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
                <div class="grid">
                    <label>"Allowed models (comma-separated; empty for every model)"
                        <input type="text" data-testid="quota-allowed_models" disabled=!can_edit
                            placeholder="every model"
                            prop:value=move || drafts.models.get()
                            on:input=move |ev| { drafts.models.set(event_target_value(&ev)); edited() } />
                        <FieldError error field="allowed_models" />
                    </label>
                    <label>{move || format!("Stops allowing requests at ({}; empty for never)", prefs.tz.get().name())}
                        <input type="datetime-local" data-testid="quota-expires_at" disabled=!can_edit
                            prop:value=move || drafts.expires.get()
                            on:input=move |ev| { drafts.expires.set(event_target_value(&ev)); edited() } />
                        <FieldError error field="expires_at" />
                    </label>
                </div>
                <ErrorBanner error fields=&FIELDS />
                {move || saved.get().map(|m| view! { <p class="ok" role="status" data-testid="quota-saved">{m}</p> })}
                {can_edit.then(|| view! {
                    <div class="row">
                        <button type="submit" class="primary" data-testid="quota-save" disabled=move || busy.get()>"Save quota"</button>
                        <button type="button" data-testid="quota-clear" disabled=move || busy.get() || matches!(quota.get(), Some(None))
                            on:click=remove>"Remove quota"</button>
                        <span class="muted">"An empty field is no limit."</span>
                    </div>
                })}
            </form>
        </section>
    }
}

#[component]
fn LimitRow(
    limit: Limit,
    draft: RwSignal<String>,
    used: RwSignal<Option<Usage>>,
    can_edit: bool,
    on_edit: impl Fn() + Copy + Send + Sync + 'static,
    error: RwSignal<Option<ApiError>>,
) -> impl IntoView {
    let key = limit.key();
    let use_cell = move || {
        if !limit.has_use() {
            return view! { <span class="muted" title="Per-minute use is not kept">"—"</span> }
                .into_any();
        }
        match used.get() {
            None => view! { <span class="muted" data-testid=format!("quota-use-{key}")>"…"</span> }
                .into_any(),
            Some(usage) => {
                let n = limit.used(&usage).unwrap_or(0);
                view! {
                    <span data-testid=format!("quota-use-{key}") data-value=n.to_string()>{thousands(n)}</span>
                }
                .into_any()
            }
        }
    };
    view! {
        <tr data-testid="quota-limit" data-field=key>
            <th scope="row">
                <label for=format!("quota-{key}")>{limit.label()}</label>
            </th>
            <td>
                <input type="text" inputmode="numeric" id=format!("quota-{key}") data-testid=format!("quota-{key}")
                    disabled=!can_edit placeholder="no limit"
                    prop:value=move || draft.get()
                    on:input=move |ev| { draft.set(event_target_value(&ev)); on_edit() } />
                <FieldError error field=key />
            </td>
            <td class="num">{use_cell}</td>
            <td class="muted">{limit.window()}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleared_fields_are_sent_as_null() {
        let body = QuotaBody {
            rpm: Some(60),
            ..QuotaBody::default()
        };
        let value = with_nulls(&body);
        assert_eq!(value["rpm"], serde_json::json!(60));
        for field in FIELDS.iter().skip(1) {
            assert!(value[*field].is_null(), "{field}");
            assert!(value.as_object().unwrap().contains_key(*field));
        }
        // The server reads it back as the same quota.
        let back: QuotaBody = serde_json::from_value(value).unwrap();
        assert_eq!(back, body);
    }

    #[test]
    fn windows_are_the_utc_day_and_calendar_month() {
        let now: DateTime<Utc> = "2026-02-28T23:30:00Z".parse().unwrap();
        let ((day_from, day_to), (month_from, month_to)) = windows(now);
        let at = |t: &str| t.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(day_from, at("2026-02-28T00:00:00Z"));
        assert_eq!(day_to, at("2026-03-01T00:00:00Z"));
        assert_eq!(month_from, at("2026-02-01T00:00:00Z"));
        assert_eq!(month_to, at("2026-03-01T00:00:00Z"));
    }
}
