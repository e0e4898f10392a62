//! `/admin/v1` usage: analytics from the rollups, the request log, the audit log and
//! instance settings. Every read is scoped to the caller: an instance admin sees everything,
//! a tenant admin their tenant, a member their own requests.

mod analytics;
mod audit;
mod requests;
mod settings;

use actix_web::web;
use chrono::{DateTime, NaiveDate, Utc};
use utoipa::OpenApi;
use uuid::Uuid;

use super::auth::{Principal, Role};
use super::error::AdminError;
use super::page::PageQuery;
use crate::store::analytics::UsageFilter;

/// Adds this module's routes to the `/admin/v1` scope.
pub fn routes(scope: actix_web::Scope) -> actix_web::Scope {
    scope
        .route("/usage/summary", web::get().to(analytics::summary))
        .route("/usage/timeseries", web::get().to(analytics::timeseries))
        .route("/requests", web::get().to(requests::list))
        .route("/requests/{id}", web::get().to(requests::get))
        .route("/audit", web::get().to(audit::list))
        .route("/settings", web::get().to(settings::list))
        .route("/settings/{key}", web::put().to(settings::put))
        .route("/settings/{key}", web::delete().to(settings::delete))
}

/// This module's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(
    analytics::summary,
    analytics::timeseries,
    requests::list,
    requests::get,
    audit::list,
    settings::list,
    settings::put,
    settings::delete,
))]
pub struct Doc;

/// A time from a query string: RFC 3339 (`2025-03-01T12:00:00Z`) or a UTC date
/// (`2025-03-01`, its midnight).
fn parse_time(field: &str, text: Option<&str>) -> Result<Option<DateTime<Utc>>, AdminError> {
    let Some(text) = text else { return Ok(None) };
    let text = text.trim();
    // An unencoded `+` in a query string arrives as a space.
    let rfc3339 = |t: &str| DateTime::parse_from_rfc3339(t).map(|at| at.with_timezone(&Utc));
    rfc3339(text)
        .or_else(|_| rfc3339(&text.replace(' ', "+")))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
        .map(Some)
        .ok_or_else(|| {
            AdminError::invalid(
                field,
                format!(
                    "`{field}` must be an RFC 3339 time (2025-03-01T12:00:00Z) or a date (2025-03-01)."
                ),
            )
        })
}

fn parse_uuid(field: &str, text: Option<&str>) -> Result<Option<Uuid>, AdminError> {
    text.map(|t| {
        Uuid::parse_str(t.trim())
            .map_err(|_| AdminError::invalid(field, format!("`{field}` must be a UUID.")))
    })
    .transpose()
}

fn parse_name(field: &str, text: Option<&str>) -> Result<Option<String>, AdminError> {
    match text {
        None => Ok(None),
        Some(t) if (1..=300).contains(&t.len()) => Ok(Some(t.to_string())),
        Some(_) => Err(AdminError::invalid(
            field,
            format!("`{field}` must be 1 to 300 characters."),
        )),
    }
}

/// `limit` and `cursor` from their query-string text.
fn parse_page(
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<(u32, Option<Uuid>), AdminError> {
    let limit = limit
        .map(|l| {
            l.trim().parse::<u32>().map_err(|_| {
                AdminError::invalid("limit", "`limit` must be a whole number from 1 to 200.")
            })
        })
        .transpose()?;
    let limit = PageQuery {
        limit,
        cursor: None,
    }
    .limit()?;
    Ok((limit, parse_uuid("cursor", cursor)?))
}

/// The `from`/`to` window, `to` defaulting to now and `from` to `default_span` before it.
fn window(
    from: Option<&str>,
    to: Option<&str>,
    default_span: chrono::TimeDelta,
) -> Result<(DateTime<Utc>, DateTime<Utc>), AdminError> {
    let to = parse_time("to", to)?.unwrap_or_else(Utc::now);
    let from = parse_time("from", from)?.unwrap_or(to - default_span);
    if from >= to {
        return Err(AdminError::invalid("from", "`from` must be before `to`."));
    }
    Ok((from, to))
}

/// The usage filters in the query string.
struct FilterText<'a> {
    tenant_id: Option<&'a str>,
    member_id: Option<&'a str>,
    api_key_id: Option<&'a str>,
    model: Option<&'a str>,
    provider: Option<&'a str>,
}

impl FilterText<'_> {
    fn parse(&self) -> Result<UsageFilter, AdminError> {
        Ok(UsageFilter {
            tenant_id: parse_uuid("tenant_id", self.tenant_id)?,
            member_id: parse_uuid("member_id", self.member_id)?,
            api_key_id: parse_uuid("api_key_id", self.api_key_id)?,
            model: parse_name("model", self.model)?,
            provider: parse_name("provider", self.provider)?,
        })
    }
}

/// Narrows `filter` to what `principal` may see. Asking for another tenant or member answers
/// 404, as if it did not exist; another tenant's api key simply matches nothing.
fn scope(principal: &Principal, mut filter: UsageFilter) -> Result<UsageFilter, AdminError> {
    if principal.role == Role::InstanceAdmin {
        return Ok(filter);
    }
    let tenant = principal.tenant_id.ok_or_else(AdminError::forbidden)?;
    if filter.tenant_id.is_some_and(|t| t != tenant) {
        return Err(AdminError::not_found("tenant"));
    }
    filter.tenant_id = Some(tenant);
    if principal.role == Role::Member {
        let member = principal.member_id.ok_or_else(AdminError::forbidden)?;
        if filter.member_id.is_some_and(|m| m != member) {
            return Err(AdminError::not_found("member"));
        }
        filter.member_id = Some(member);
    }
    Ok(filter)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn principal(role: Role, tenant: Option<Uuid>, member: Option<Uuid>) -> Principal {
        Principal {
            user_id: Uuid::now_v7(),
            username: "u".into(),
            role,
            tenant_id: tenant,
            member_id: member,
        }
    }

    #[test]
    fn times_parse_as_rfc3339_or_dates_and_name_the_field() {
        let at = parse_time("from", Some("2025-03-01")).unwrap().unwrap();
        assert_eq!(at.to_rfc3339(), "2025-03-01T00:00:00+00:00");
        let at = parse_time("from", Some("2025-03-01T12:00:00 02:00"))
            .unwrap()
            .unwrap();
        assert_eq!(at.to_rfc3339(), "2025-03-01T10:00:00+00:00");
        let error = parse_time("to", Some("yesterday")).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("to"));
        assert_eq!(parse_time("to", None).unwrap(), None);
    }

    #[test]
    fn pages_are_bounded() {
        assert_eq!(parse_page(None, None).unwrap().0, 50);
        for bad in ["0", "201", "x", "-1"] {
            let error = parse_page(Some(bad), None).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("limit"), "{bad}");
        }
        assert_eq!(
            parse_page(None, Some("nope")).unwrap_err().field.as_deref(),
            Some("cursor")
        );
    }

    #[test]
    fn scope_narrows_to_the_callers_tenant_and_member() {
        let (tenant, member) = (Uuid::now_v7(), Uuid::now_v7());
        let root = principal(Role::InstanceAdmin, None, None);
        assert_eq!(
            scope(&root, UsageFilter::default()).unwrap(),
            UsageFilter::default()
        );
        let admin = principal(Role::TenantAdmin, Some(tenant), None);
        assert_eq!(
            scope(&admin, UsageFilter::default()).unwrap().tenant_id,
            Some(tenant)
        );
        let other = UsageFilter {
            tenant_id: Some(Uuid::now_v7()),
            ..UsageFilter::default()
        };
        assert_eq!(scope(&admin, other).unwrap_err().status.as_u16(), 404);
        let me = principal(Role::Member, Some(tenant), Some(member));
        let mine = scope(&me, UsageFilter::default()).unwrap();
        assert_eq!(
            (mine.tenant_id, mine.member_id),
            (Some(tenant), Some(member))
        );
        let theirs = UsageFilter {
            member_id: Some(Uuid::now_v7()),
            ..UsageFilter::default()
        };
        assert_eq!(scope(&me, theirs).unwrap_err().status.as_u16(), 404);
    }
}
