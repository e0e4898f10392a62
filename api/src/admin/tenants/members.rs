//! Members of a tenant: its admins (and the instance admin) manage them; a member reads
//! only themselves.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    fetch_limit, parse_id, require_tenant_admin, valid_name, visible_member, visible_tenant,
};
use crate::admin::auth::{Principal, Role};
use crate::admin::error::{AdminError, AdminErrorEnvelope};
use crate::admin::page::{Page, PageQuery};
use crate::state::AppState;
use crate::store::members::{self, MemberPatch, NewMember as NewMemberRow};
use crate::store::{Cursor, validate};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[schema(example = "alice")]
    pub name: String,
    pub email: Option<String>,
    /// `member` or `tenant_admin`.
    #[schema(example = "member")]
    pub role: String,
    /// A disabled member's api keys are refused.
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// 1 to 200 characters, unique within the tenant.
    #[schema(example = "alice")]
    pub name: String,
    #[schema(example = "alice@example.com")]
    pub email: Option<String>,
    /// `member` (the default) or `tenant_admin`.
    pub role: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberPatchBody {
    pub name: Option<String>,
    /// An empty string removes the email.
    pub email: Option<String>,
    /// `member` or `tenant_admin`.
    pub role: Option<String>,
    pub disabled: Option<bool>,
}

fn valid_role(role: &str) -> Result<&str, AdminError> {
    Ok(members::role(role)?)
}

/// Loosely: something@something, at most 320 characters.
fn valid_email(email: &str) -> Result<&str, AdminError> {
    Ok(validate::email(email)?)
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/members", tag = "admin",
    params(("tenant" = Uuid, Path), PageQuery),
    responses(
        (status = 200, description = "Members in creation order; a member sees only themselves", body = Page<MemberView>),
        (status = 400, body = AdminErrorEnvelope),
        (status = 401, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 422, description = "`limit` out of range", body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    tenant: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AdminError> {
    let (limit, fetch) = fetch_limit(&query)?;
    let tenant = visible_tenant(&state, &principal, &tenant).await?;
    let rows = match (principal.role, principal.member_id) {
        (Role::Member, Some(own)) if query.cursor.is_none_or(|c| c < own) => {
            members::find(&state.db, tenant.id, own)
                .await?
                .into_iter()
                .collect()
        }
        (Role::Member, _) => Vec::new(),
        _ => members::list(&state.db, tenant.id, Cursor::page(query.cursor, fetch)).await?,
    };
    let rows = rows.into_iter().map(MemberView::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(rows, limit, |m: &MemberView| m.id)))
}

#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/members", tag = "admin",
    params(("tenant" = Uuid, Path)),
    request_body = NewMember,
    responses(
        (status = 201, description = "Created", body = MemberView),
        (status = 401, body = AdminErrorEnvelope),
        (status = 403, description = "Members do not add members", body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 409, description = "A member of that name exists in the tenant", body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn create(
    principal: Principal,
    state: web::Data<AppState>,
    tenant: web::Path<String>,
    body: web::Json<NewMember>,
) -> Result<HttpResponse, AdminError> {
    let tenant = visible_tenant(&state, &principal, &tenant).await?;
    require_tenant_admin(&principal)?;
    let name = valid_name("name", &body.name, 200)?;
    let email = body.email.as_deref().map(valid_email).transpose()?;
    let role = valid_role(body.role.as_deref().unwrap_or("member"))?;
    let new = NewMemberRow { name, email, role };
    let member = members::create(&state.db, &principal.actor(), &tenant, new).await?;
    Ok(HttpResponse::Created().json(MemberView::from(member)))
}

#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/members/{member}", tag = "admin",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path)),
    responses(
        (status = 200, body = MemberView),
        (status = 401, body = AdminErrorEnvelope),
        (status = 403, description = "Another member of your tenant", body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (_, member) = visible_member(&state, &principal, &path.0, &path.1).await?;
    Ok(HttpResponse::Ok().json(MemberView::from(member)))
}

#[utoipa::path(patch, path = "/admin/v1/tenants/{tenant}/members/{member}", tag = "admin",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path)),
    request_body = MemberPatchBody,
    responses(
        (status = 200, description = "Updated", body = MemberView),
        (status = 401, body = AdminErrorEnvelope),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 409, body = AdminErrorEnvelope),
        (status = 422, body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn update(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<MemberPatchBody>,
) -> Result<HttpResponse, AdminError> {
    let (tenant, member) = visible_member(&state, &principal, &path.0, &path.1).await?;
    require_tenant_admin(&principal)?;
    let patch = MemberPatch {
        name: body
            .name
            .as_deref()
            .map(|n| valid_name("name", n, 200))
            .transpose()?,
        email: match body.email.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(None),
            Some(email) => Some(Some(valid_email(email)?)),
        },
        role: body.role.as_deref().map(valid_role).transpose()?,
        disabled: body.disabled,
    };
    let member =
        members::update(&state.db, &principal.actor(), tenant.id, member.id, patch).await?;
    Ok(HttpResponse::Ok().json(MemberView::from(member)))
}

#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/members/{member}", tag = "admin",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted with their keys and quotas; also when already gone"),
        (status = 401, body = AdminErrorEnvelope),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, description = "Another tenant than yours", body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn delete(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let tenant = visible_tenant(&state, &principal, &path.0).await?;
    let id = parse_id(&path.1, "member")?;
    require_tenant_admin(&principal)?;
    members::delete(&state.db, &principal.actor(), tenant.id, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
