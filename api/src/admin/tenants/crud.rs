//! Tenants: the instance admin creates, renames, disables and deletes them; a tenant's own
//! admins and members may read it.

use actix_web::{HttpResponse, web};
use freeway_wire::tenants::{NewTenant, TenantPatch, TenantView};

use super::{fetch_limit, parse_id, visible_tenant};
use crate::admin::AdminState;
use crate::admin::auth::{Principal, Role};
use crate::admin::error::AdminQuery;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminJson};
use crate::admin::page::{Page, PageQuery, SearchQuery};
use crate::store::tenants::{self, Tenant};
use crate::store::{Cursor, Search};

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        TenantView {
            id: t.id,
            name: t.name,
            disabled: t.disabled,
            created_at: t.created_at,
        }
    }
}

/// List tenants
///
/// Tenants in creation order; `q` searches their names. A tenant admin or member sees only
/// their own.
#[utoipa::path(get, path = "/admin/v1/tenants", tag = "tenants", operation_id = "tenants_list",
    params(PageQuery, SearchQuery),
    responses(
        (status = 200, description = "Tenants in creation order, those whose name contains `q` when given; others than the instance admin see only their own", body = Page<TenantView>),
        (status = 422, description = "`limit` or `q` out of range", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn list(
    principal: Principal,
    state: web::Data<AdminState>,
    query: AdminQuery<PageQuery>,
    search: AdminQuery<SearchQuery>,
) -> Result<HttpResponse, AdminError> {
    let (limit, fetch) = fetch_limit(&query)?;
    let search = Search::new(search.q.as_deref())?;
    let cursor = Cursor::page(query.cursor, fetch);
    let rows = match (principal.role, principal.tenant_id) {
        (Role::InstanceAdmin, _) => tenants::list(&state.db, cursor, None, &search).await?,
        (_, Some(own)) => tenants::list(&state.db, cursor, Some(own), &search).await?,
        (_, None) => Vec::new(),
    };
    let rows = rows.into_iter().map(TenantView::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(rows, limit, |t: &TenantView| t.id)))
}

/// Create a tenant
///
/// Instance admins only.
#[utoipa::path(post, path = "/admin/v1/tenants", tag = "tenants", operation_id = "tenants_create",
    request_body = NewTenant,
    responses(
        (status = 201, description = "Created", body = TenantView),
        (status = 403, description = "Only the instance admin creates tenants", body = AdminErrorEnvelope),
        (status = 409, description = "A tenant of that name exists", body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn create(
    principal: Principal,
    state: web::Data<AdminState>,
    body: AdminJson<NewTenant>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let tenant = tenants::create(&state.db, &principal.actor(), &body.name).await?;
    Ok(HttpResponse::Created().json(TenantView::from(tenant)))
}

/// Get a tenant
#[utoipa::path(get, path = "/admin/v1/tenants/{id}", tag = "tenants", operation_id = "tenants_get",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = TenantView),
        (status = 404, description = "No such tenant, or not yours", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn get(
    principal: Principal,
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let tenant = visible_tenant(&state, &principal, &id).await?;
    Ok(HttpResponse::Ok().json(TenantView::from(tenant)))
}

/// Rename, disable or enable a tenant
///
/// Instance admins only. A disabled tenant's api keys are refused on every instance within a second.
#[utoipa::path(patch, path = "/admin/v1/tenants/{id}", tag = "tenants", operation_id = "tenants_update",
    params(("id" = Uuid, Path)),
    request_body = TenantPatch,
    responses(
        (status = 200, description = "Updated", body = TenantView),
        (status = 403, description = "Only the instance admin changes tenants", body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 409, description = "A tenant of that name exists", body = AdminErrorEnvelope),
        (status = 422, body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn update(
    principal: Principal,
    state: web::Data<AdminState>,
    id: web::Path<String>,
    body: AdminJson<TenantPatch>,
) -> Result<HttpResponse, AdminError> {
    let tenant = visible_tenant(&state, &principal, &id).await?;
    principal.require_instance_admin()?;
    let tenant = tenants::update(
        &state.db,
        &principal.actor(),
        tenant.id,
        body.name.as_deref(),
        body.disabled,
    )
    .await?;
    Ok(HttpResponse::Ok().json(TenantView::from(tenant)))
}

/// Delete a tenant
///
/// Deletes its members, api keys and quotas too. Instance admins only.
#[utoipa::path(delete, path = "/admin/v1/tenants/{id}", tag = "tenants", operation_id = "tenants_delete",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted with its members, keys and quotas"),
        (status = 403, description = "Only the instance admin deletes tenants", body = AdminErrorEnvelope),
        (status = 404, description = "No such tenant, or another tenant than yours", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn delete(
    principal: Principal,
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let id = parse_id(&id, "tenant")?;
    principal.tenant_scope(id)?;
    principal.require_instance_admin()?;
    if tenants::delete(&state.db, &principal.actor(), id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AdminError::not_found("tenant"))
    }
}
