//! Members of a tenant: its admins (and the instance admin) manage them; a member reads
//! only themselves.

use actix_web::{HttpResponse, web};
use freeway_wire::tenants::{MemberPatch as MemberPatchBody, MemberView, NewMember};

use super::{fetch_limit, parse_id, require_tenant_admin, visible_member, visible_tenant};
use crate::admin::AdminState;
use crate::admin::auth::{Principal, Role};
use crate::admin::error::AdminQuery;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminJson};
use crate::admin::page::{Page, PageQuery, SearchQuery};
use crate::store::members::{self, MemberPatch, NewMember as NewMemberRow};
use crate::store::{Cursor, Search};

impl From<members::Member> for MemberView {
    fn from(m: members::Member) -> Self {
        MemberView {
            id: m.id,
            tenant_id: m.tenant_id,
            name: m.name,
            email: m.email,
            role: m.role,
            disabled: m.disabled,
            created_at: m.created_at,
        }
    }
}

/// List a tenant's members
///
/// In creation order; `q` searches their names and emails. A member sees only themselves.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/members", tag = "members", operation_id = "members_list",
    params(("tenant" = Uuid, Path), PageQuery, SearchQuery),
    responses(
        (status = 200, description = "Members in creation order, those whose name or email contains `q` when given; a member sees only themselves", body = Page<MemberView>),
        (status = 404, body = AdminErrorEnvelope),
        (status = 422, description = "`limit` or `q` out of range", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn list(
    principal: Principal,
    state: web::Data<AdminState>,
    tenant: web::Path<String>,
    query: AdminQuery<PageQuery>,
    search: AdminQuery<SearchQuery>,
) -> Result<HttpResponse, AdminError> {
    let (limit, fetch) = fetch_limit(&query)?;
    let search = Search::new(search.q.as_deref())?;
    let tenant = visible_tenant(&state, &principal, &tenant).await?;
    let cursor = Cursor::page(query.cursor, fetch);
    let rows = match (principal.role, principal.member_id) {
        (Role::Member, None) => Vec::new(),
        (Role::Member, own) => members::list(&state.db, tenant.id, cursor, own, &search).await?,
        _ => members::list(&state.db, tenant.id, cursor, None, &search).await?,
    };
    let rows = rows.into_iter().map(MemberView::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(rows, limit, |m: &MemberView| m.id)))
}

/// Add a member
///
/// Tenant admins and the instance admin.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/members", tag = "members", operation_id = "members_create",
    params(("tenant" = Uuid, Path)),
    request_body = NewMember,
    responses(
        (status = 201, description = "Created", body = MemberView),
        (status = 403, description = "Members do not add members", body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 409, description = "A member of that name exists in the tenant", body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn create(
    principal: Principal,
    state: web::Data<AdminState>,
    tenant: web::Path<String>,
    body: AdminJson<NewMember>,
) -> Result<HttpResponse, AdminError> {
    let tenant = visible_tenant(&state, &principal, &tenant).await?;
    require_tenant_admin(&principal)?;
    // The store checks the name and the email, for the CLI too.
    let new = NewMemberRow {
        name: &body.name,
        email: body.email.as_deref(),
        role: body.role.unwrap_or_default(),
    };
    let member = members::create(&state.db, &principal.actor(), &tenant, new).await?;
    Ok(HttpResponse::Created().json(MemberView::from(member)))
}

/// Get a member
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/members/{member}", tag = "members", operation_id = "members_get",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path)),
    responses(
        (status = 200, body = MemberView),
        (status = 403, description = "Another member of your tenant", body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn get(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (_, member) = visible_member(&state, &principal, &path.0, &path.1).await?;
    Ok(HttpResponse::Ok().json(MemberView::from(member)))
}

/// Change a member
///
/// Rename, change the email or role, disable or enable. Tenant admins and the instance admin.
#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}/members/{member}", tag = "members", operation_id = "members_update",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path)),
    request_body = MemberPatchBody,
    responses(
        (status = 200, description = "Updated", body = MemberView),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 409, body = AdminErrorEnvelope),
        (status = 422, body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn update(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String)>,
    body: AdminJson<MemberPatchBody>,
) -> Result<HttpResponse, AdminError> {
    let (tenant, member) = visible_member(&state, &principal, &path.0, &path.1).await?;
    require_tenant_admin(&principal)?;
    let patch = MemberPatch {
        name: body.name.as_deref(),
        email: match body.email.as_deref() {
            None => None,
            Some("") => Some(None),
            Some(email) => Some(Some(email)),
        },
        role: body.role,
        disabled: body.disabled,
    };
    let member =
        members::update(&state.db, &principal.actor(), tenant.id, member.id, patch).await?;
    Ok(HttpResponse::Ok().json(MemberView::from(member)))
}

/// Remove a member
///
/// Deletes their api keys and quotas too. Tenant admins and the instance admin.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/members/{member}", tag = "members", operation_id = "members_delete",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted with their keys and quotas"),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, description = "No such member in the tenant, or another tenant than yours", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn delete(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let tenant = visible_tenant(&state, &principal, &path.0).await?;
    let id = parse_id(&path.1, "member")?;
    require_tenant_admin(&principal)?;
    if members::delete(&state.db, &principal.actor(), tenant.id, id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AdminError::not_found("member"))
    }
}
