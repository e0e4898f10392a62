//! Quotas of a tenant, a member and an api key. The instance admin sets any; a tenant
//! admin sets member and key quotas no higher than the tenant's own; members read.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{parse_id, require_tenant_admin, valid_models, visible_member, visible_tenant};
use crate::admin::auth::{Principal, Role};
use crate::admin::error::{AdminError, AdminErrorEnvelope};
use crate::state::AppState;
use crate::store::api_keys;
use crate::store::quotas::{self, QuotaColumns, QuotaRow};
use crate::store::tenants::Tenant;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuotaView {
    /// `tenant`, `member` or `api_key`.
    pub scope: String,
    pub scope_id: Uuid,
    /// Requests per minute; no limit when absent.
    pub rpm: Option<i32>,
    /// Requests per UTC day.
    pub rpd: Option<i32>,
    /// Tokens per minute.
    pub tpm: Option<i64>,
    /// Tokens per UTC day.
    pub tpd: Option<i64>,
    /// Tokens per UTC calendar month.
    pub tokens_per_month: Option<i64>,
    /// Models that may be used; every model when absent.
    pub allowed_models: Option<Vec<String>>,
    /// When the quota stops allowing requests; never when absent.
    pub expires_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl From<QuotaRow> for QuotaView {
    fn from(q: QuotaRow) -> Self {
        QuotaView {
            scope: q.scope,
            scope_id: q.scope_id,
            rpm: q.rpm,
            rpd: q.rpd,
            tpm: q.tpm,
            tpd: q.tpd,
            tokens_per_month: q.tokens_per_month,
            allowed_models: q.allowed_models,
            expires_at: q.expires_at,
            updated_at: q.updated_at,
        }
    }
}

/// A whole quota: it replaces the one set before. Absent fields are no limit.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaBody {
    #[schema(example = 60)]
    pub rpm: Option<i64>,
    pub rpd: Option<i64>,
    #[schema(example = 100000)]
    pub tpm: Option<i64>,
    pub tpd: Option<i64>,
    pub tokens_per_month: Option<i64>,
    pub allowed_models: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn count(field: &str, value: Option<i64>, max: i64) -> Result<Option<i64>, AdminError> {
    Ok(crate::store::validate::count(field, value, max)?)
}

fn columns(body: &QuotaBody) -> Result<QuotaColumns, AdminError> {
    let small = i64::from(i32::MAX);
    valid_models("allowed_models", &body.allowed_models)?;
    Ok(QuotaColumns {
        rpm: count("rpm", body.rpm, small)?.and_then(|v| i32::try_from(v).ok()),
        rpd: count("rpd", body.rpd, small)?.and_then(|v| i32::try_from(v).ok()),
        tpm: count("tpm", body.tpm, i64::MAX)?,
        tpd: count("tpd", body.tpd, i64::MAX)?,
        tokens_per_month: count("tokens_per_month", body.tokens_per_month, i64::MAX)?,
        allowed_models: body.allowed_models.clone(),
        expires_at: body.expires_at,
    })
}

/// A tenant admin may not give a member or key more than the tenant has.
fn within(tenant: &QuotaRow, wanted: &QuotaColumns) -> Result<(), AdminError> {
    let above = |field: &str, cap: Option<i64>, value: Option<i64>| match (cap, value) {
        (Some(cap), Some(value)) if value > cap => Err(AdminError::invalid(
            field,
            format!("`{field}` may not exceed the tenant's quota of {cap}."),
        )),
        _ => Ok(()),
    };
    above("rpm", tenant.rpm.map(i64::from), wanted.rpm.map(i64::from))?;
    above("rpd", tenant.rpd.map(i64::from), wanted.rpd.map(i64::from))?;
    above("tpm", tenant.tpm, wanted.tpm)?;
    above("tpd", tenant.tpd, wanted.tpd)?;
    above(
        "tokens_per_month",
        tenant.tokens_per_month,
        wanted.tokens_per_month,
    )?;
    if let (Some(cap), Some(wanted)) = (&tenant.allowed_models, &wanted.allowed_models)
        && wanted.iter().any(|m| !cap.contains(m))
    {
        return Err(AdminError::invalid(
            "allowed_models",
            "`allowed_models` may list only models the tenant's quota allows.",
        ));
    }
    if let (Some(cap), Some(wanted)) = (tenant.expires_at, wanted.expires_at)
        && wanted > cap
    {
        return Err(AdminError::invalid(
            "expires_at",
            "`expires_at` may not be later than the tenant quota's.",
        ));
    }
    Ok(())
}

async fn show(state: &AppState, scope: &str, id: Uuid) -> Result<HttpResponse, AdminError> {
    let row = quotas::find(&state.db, scope, id)
        .await?
        .ok_or_else(|| AdminError::not_found("quota"))?;
    Ok(HttpResponse::Ok().json(QuotaView::from(row)))
}

/// Sets a member's or key's quota, capped for tenant admins.
async fn put_capped(
    state: &AppState,
    principal: &Principal,
    tenant: &Tenant,
    scope: &str,
    id: Uuid,
    body: &QuotaBody,
) -> Result<HttpResponse, AdminError> {
    require_tenant_admin(principal)?;
    let wanted = columns(body)?;
    if principal.role == Role::TenantAdmin
        && let Some(cap) = quotas::find(&state.db, "tenant", tenant.id).await?
    {
        within(&cap, &wanted)?;
    }
    let row = quotas::set(&state.db, &principal.actor(), scope, id, wanted).await?;
    Ok(HttpResponse::Ok().json(QuotaView::from(row)))
}

async fn remove(
    state: &AppState,
    principal: &Principal,
    tenant: &Tenant,
    scope: &str,
    id: Uuid,
) -> Result<HttpResponse, AdminError> {
    quotas::delete(&state.db, &principal.actor(), tenant.id, scope, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/quota", tag = "admin",
    params(("tenant" = Uuid, Path)),
    responses(
        (status = 200, body = QuotaView),
        (status = 401, body = AdminErrorEnvelope),
        (status = 404, description = "No such tenant, or it has no quota", body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn get_tenant(
    principal: Principal,
    state: web::Data<AppState>,
    tenant: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let tenant = visible_tenant(&state, &principal, &tenant).await?;
    show(&state, "tenant", tenant.id).await
}

#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}/quota", tag = "admin",
    params(("tenant" = Uuid, Path)),
    request_body = QuotaBody,
    responses(
        (status = 200, description = "Set; every instance applies it within a second", body = QuotaView),
        (status = 401, body = AdminErrorEnvelope),
        (status = 403, description = "Only the instance admin sets a tenant's quota", body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn put_tenant(
    principal: Principal,
    state: web::Data<AppState>,
    tenant: web::Path<String>,
    body: web::Json<QuotaBody>,
) -> Result<HttpResponse, AdminError> {
    let tenant = visible_tenant(&state, &principal, &tenant).await?;
    principal.require_instance_admin()?;
    let wanted = columns(&body)?;
    let row = quotas::set(&state.db, &principal.actor(), "tenant", tenant.id, wanted).await?;
    Ok(HttpResponse::Ok().json(QuotaView::from(row)))
}

#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/quota", tag = "admin",
    params(("tenant" = Uuid, Path)),
    responses(
        (status = 204, description = "Removed (no limits); also when there was none"),
        (status = 401, body = AdminErrorEnvelope),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn delete_tenant(
    principal: Principal,
    state: web::Data<AppState>,
    tenant: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let tenant = visible_tenant(&state, &principal, &tenant).await?;
    principal.require_instance_admin()?;
    remove(&state, &principal, &tenant, "tenant", tenant.id).await
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/members/{member}/quota", tag = "admin",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path)),
    responses(
        (status = 200, body = QuotaView),
        (status = 401, body = AdminErrorEnvelope),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, description = "No such member, or no quota", body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn get_member(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (_, member) = visible_member(&state, &principal, &path.0, &path.1).await?;
    show(&state, "member", member.id).await
}

#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}/members/{member}/quota", tag = "admin",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path)),
    request_body = QuotaBody,
    responses(
        (status = 200, description = "Set", body = QuotaView),
        (status = 401, body = AdminErrorEnvelope),
        (status = 403, description = "Members do not set quotas", body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid or, for a tenant admin, above the tenant's quota", body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn put_member(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<QuotaBody>,
) -> Result<HttpResponse, AdminError> {
    let (tenant, member) = visible_member(&state, &principal, &path.0, &path.1).await?;
    put_capped(&state, &principal, &tenant, "member", member.id, &body).await
}

#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/members/{member}/quota", tag = "admin",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path)),
    responses(
        (status = 204, description = "Removed; also when there was none"),
        (status = 401, body = AdminErrorEnvelope),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn delete_member(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (tenant, member) = visible_member(&state, &principal, &path.0, &path.1).await?;
    require_tenant_admin(&principal)?;
    remove(&state, &principal, &tenant, "member", member.id).await
}

/// The key `id` of the member, for its quota.
async fn key_scope(
    state: &AppState,
    principal: &Principal,
    path: &(String, String, String),
) -> Result<(Tenant, Uuid), AdminError> {
    let (tenant, member) = visible_member(state, principal, &path.0, &path.1).await?;
    let id = parse_id(&path.2, "api key")?;
    let key = api_keys::find(&state.db, &member, id)
        .await?
        .ok_or_else(|| AdminError::not_found("api key"))?;
    Ok((tenant, key.id))
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/members/{member}/keys/{id}/quota", tag = "admin",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 200, body = QuotaView),
        (status = 401, body = AdminErrorEnvelope),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, description = "No such key, or no quota", body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn get_key(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (_, key) = key_scope(&state, &principal, &path).await?;
    show(&state, "api_key", key).await
}

#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}/members/{member}/keys/{id}/quota", tag = "admin",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path), ("id" = Uuid, Path)),
    request_body = QuotaBody,
    responses(
        (status = 200, description = "Set", body = QuotaView),
        (status = 401, body = AdminErrorEnvelope),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid or, for a tenant admin, above the tenant's quota", body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn put_key(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    body: web::Json<QuotaBody>,
) -> Result<HttpResponse, AdminError> {
    let (tenant, key) = key_scope(&state, &principal, &path).await?;
    put_capped(&state, &principal, &tenant, "api_key", key, &body).await
}

#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/members/{member}/keys/{id}/quota", tag = "admin",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Removed; also when there was none"),
        (status = 401, body = AdminErrorEnvelope),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn delete_key(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (tenant, key) = key_scope(&state, &principal, &path).await?;
    require_tenant_admin(&principal)?;
    remove(&state, &principal, &tenant, "api_key", key).await
}
