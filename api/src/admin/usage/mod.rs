//! `/admin/v1` usage: analytics from the rollups, the request log, the audit log and
//! instance settings. Every read is scoped to the caller: an instance admin sees everything,
//! a tenant admin their tenant, a member their own requests.

mod analytics;
mod audit;
mod requests;
mod settings;

use actix_web::web;
use chrono::{DateTime, Utc};
use freeway_wire::usage::{FILTER_MAX_CHARS, TimeParam};
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

/// A text filter: 1 to 300 characters without NUL.
fn text_filter(field: &str, text: &Option<String>) -> Result<Option<String>, AdminError> {
    match text {
        None => Ok(None),
        Some(t) if !t.is_empty() && freeway_wire::text::text(t, FILTER_MAX_CHARS).is_ok() => {
            Ok(Some(t.clone()))
        }
        Some(_) => Err(AdminError::invalid(
            field,
            format!("`{field}` must be 1 to {FILTER_MAX_CHARS} characters without NUL."),
        )),
    }
}

/// `limit` of a paged query, checked.
fn page_limit(limit: Option<u32>) -> Result<u32, AdminError> {
    super::page::limit(&PageQuery {
        limit,
        cursor: None,
    })
}

/// The `from`/`to` window, `to` defaulting to now and `from` to `default_span` before it.
fn window(
    from: Option<TimeParam>,
    to: Option<TimeParam>,
    default_span: chrono::TimeDelta,
) -> Result<(DateTime<Utc>, DateTime<Utc>), AdminError> {
    let to = to.map_or_else(Utc::now, |t| t.0);
    let from = match from {
        Some(from) => from.0,
        None => to
            .checked_sub_signed(default_span)
            .ok_or_else(|| AdminError::invalid("to", "`to` is too early."))?,
    };
    if from > to {
        return Err(AdminError::invalid(
            "from",
            "`from` must not be after `to`.",
        ));
    }
    Ok((from, to))
}

/// The usage filters of a query string.
struct FilterParams<'a> {
    tenant_id: Option<Uuid>,
    member_id: Option<Uuid>,
    api_key_id: Option<Uuid>,
    model: &'a Option<String>,
    provider: &'a Option<String>,
}

impl FilterParams<'_> {
    fn parse(&self) -> Result<UsageFilter, AdminError> {
        Ok(UsageFilter {
            tenant_id: self.tenant_id,
            member_id: self.member_id,
            api_key_id: self.api_key_id,
            model: text_filter("model", self.model)?,
            provider: text_filter("provider", self.provider)?,
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
            must_change_password: false,
        }
    }

    #[test]
    fn windows_default_and_must_not_be_empty() {
        let at = |t: &str| TimeParam::parse(t);
        let (from, to) = window(
            at("2025-03-01"),
            at("2025-03-02"),
            chrono::TimeDelta::zero(),
        )
        .unwrap();
        assert_eq!((to - from).num_hours(), 24);
        let error = window(
            at("2025-03-02"),
            at("2025-03-01"),
            chrono::TimeDelta::zero(),
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("from"));
        assert_eq!(
            page_limit(Some(0)).unwrap_err().field.as_deref(),
            Some("limit")
        );
        assert_eq!(
            text_filter("model", &Some("a\0".into()))
                .unwrap_err()
                .field
                .as_deref(),
            Some("model")
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
