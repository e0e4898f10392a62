//! Quotas of a tenant, a member and an api key. The instance admin sets any; a tenant
//! admin sets member and key quotas no higher than the tenant's own; members read.

use actix_web::{HttpResponse, web};
use freeway_wire::tenants::{QuotaBody, QuotaScope, QuotaView};
use uuid::Uuid;

use super::{parse_id, require_tenant_admin, valid_models, visible_member, visible_tenant};
use crate::admin::AdminState;
use crate::admin::auth::{Principal, Role};
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminJson};
use crate::store::api_keys;
use crate::store::quotas::{self, QuotaColumns, QuotaRow};
use crate::store::tenants::Tenant;

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

async fn show(state: &AdminState, scope: QuotaScope, id: Uuid) -> Result<HttpResponse, AdminError> {
    let row = quotas::find(&state.db, scope, id)
        .await?
        .ok_or_else(|| AdminError::not_found("quota"))?;
    Ok(HttpResponse::Ok().json(QuotaView::from(row)))
}

/// Sets a member's or key's quota, capped for tenant admins.
async fn put_capped(
    state: &AdminState,
    principal: &Principal,
    tenant: &Tenant,
    scope: QuotaScope,
    id: Uuid,
    body: &QuotaBody,
) -> Result<HttpResponse, AdminError> {
    require_tenant_admin(principal)?;
    let wanted = columns(body)?;
    if principal.role == Role::TenantAdmin
        && let Some(cap) = quotas::find(&state.db, QuotaScope::Tenant, tenant.id).await?
    {
        within(&cap, &wanted)?;
    }
    let row = quotas::set(&state.db, &principal.actor(), scope, id, wanted).await?;
    Ok(HttpResponse::Ok().json(QuotaView::from(row)))
}

async fn remove(
    state: &AdminState,
    principal: &Principal,
    tenant: &Tenant,
    scope: QuotaScope,
    id: Uuid,
) -> Result<HttpResponse, AdminError> {
    quotas::delete(&state.db, &principal.actor(), tenant.id, scope, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Get a tenant's quota
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/quota", tag = "quotas", operation_id = "tenant_quota_get",
    params(("tenant" = Uuid, Path)),
    responses(
        (status = 200, body = QuotaView),
        (status = 404, description = "No such tenant, or it has no quota", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn get_tenant(
    principal: Principal,
    state: web::Data<AdminState>,
    tenant: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let tenant = visible_tenant(&state, &principal, &tenant).await?;
    show(&state, QuotaScope::Tenant, tenant.id).await
}

/// Set a tenant's quota
///
/// Replaces the whole quota. Instance admins only.
#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}/quota", tag = "quotas", operation_id = "tenant_quota_put",
    params(("tenant" = Uuid, Path)),
    request_body = QuotaBody,
    responses(
        (status = 200, description = "Set; every instance applies it within a second", body = QuotaView),
        (status = 403, description = "Only the instance admin sets a tenant's quota", body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn put_tenant(
    principal: Principal,
    state: web::Data<AdminState>,
    tenant: web::Path<String>,
    body: AdminJson<QuotaBody>,
) -> Result<HttpResponse, AdminError> {
    let tenant = visible_tenant(&state, &principal, &tenant).await?;
    principal.require_instance_admin()?;
    let wanted = columns(&body)?;
    let row = quotas::set(
        &state.db,
        &principal.actor(),
        QuotaScope::Tenant,
        tenant.id,
        wanted,
    )
    .await?;
    Ok(HttpResponse::Ok().json(QuotaView::from(row)))
}

/// Remove a tenant's quota
///
/// The tenant is then limited only by the pool. Instance admins only.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/quota", tag = "quotas", operation_id = "tenant_quota_delete",
    params(("tenant" = Uuid, Path)),
    responses(
        (status = 204, description = "Removed (no limits); also when there was none"),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn delete_tenant(
    principal: Principal,
    state: web::Data<AdminState>,
    tenant: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let tenant = visible_tenant(&state, &principal, &tenant).await?;
    principal.require_instance_admin()?;
    remove(&state, &principal, &tenant, QuotaScope::Tenant, tenant.id).await
}

/// Get a member's quota
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/members/{member}/quota", tag = "quotas", operation_id = "member_quota_get",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path)),
    responses(
        (status = 200, body = QuotaView),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, description = "No such member, or no quota", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn get_member(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (_, member) = visible_member(&state, &principal, &path.0, &path.1).await?;
    show(&state, QuotaScope::Member, member.id).await
}

/// Set a member's quota
///
/// Replaces the whole quota; a tenant admin may not exceed the tenant's own.
#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}/members/{member}/quota", tag = "quotas", operation_id = "member_quota_put",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path)),
    request_body = QuotaBody,
    responses(
        (status = 200, description = "Set", body = QuotaView),
        (status = 403, description = "Members do not set quotas", body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid or, for a tenant admin, above the tenant's quota", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn put_member(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String)>,
    body: AdminJson<QuotaBody>,
) -> Result<HttpResponse, AdminError> {
    let (tenant, member) = visible_member(&state, &principal, &path.0, &path.1).await?;
    put_capped(
        &state,
        &principal,
        &tenant,
        QuotaScope::Member,
        member.id,
        &body,
    )
    .await
}

/// Remove a member's quota
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/members/{member}/quota", tag = "quotas", operation_id = "member_quota_delete",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path)),
    responses(
        (status = 204, description = "Removed; also when there was none"),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn delete_member(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (tenant, member) = visible_member(&state, &principal, &path.0, &path.1).await?;
    require_tenant_admin(&principal)?;
    remove(&state, &principal, &tenant, QuotaScope::Member, member.id).await
}

/// The key `id` of the member, for its quota.
async fn key_scope(
    state: &AdminState,
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

/// Get an api key's quota
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/members/{member}/keys/{id}/quota", tag = "quotas", operation_id = "key_quota_get",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 200, body = QuotaView),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, description = "No such key, or no quota", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn get_key(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (_, key) = key_scope(&state, &principal, &path).await?;
    show(&state, QuotaScope::ApiKey, key).await
}

/// Set an api key's quota
///
/// Replaces the whole quota; a tenant admin may not exceed the tenant's own.
#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}/members/{member}/keys/{id}/quota", tag = "quotas", operation_id = "key_quota_put",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path), ("id" = Uuid, Path)),
    request_body = QuotaBody,
    responses(
        (status = 200, description = "Set", body = QuotaView),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid or, for a tenant admin, above the tenant's quota", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn put_key(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String, String)>,
    body: AdminJson<QuotaBody>,
) -> Result<HttpResponse, AdminError> {
    let (tenant, key) = key_scope(&state, &principal, &path).await?;
    put_capped(&state, &principal, &tenant, QuotaScope::ApiKey, key, &body).await
}

/// Remove an api key's quota
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/members/{member}/keys/{id}/quota", tag = "quotas", operation_id = "key_quota_delete",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Removed; also when there was none"),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn delete_key(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (tenant, key) = key_scope(&state, &principal, &path).await?;
    require_tenant_admin(&principal)?;
    remove(&state, &principal, &tenant, QuotaScope::ApiKey, key).await
}
