//! `/admin/v1` endpoints for tenants, their members, the members' api keys and the quotas
//! of all three.
//!
//! Who may do what: the instance admin anything; a tenant admin their own tenant's members,
//! keys and member or key quotas (within the tenant's quota); a member reads themselves and
//! manages their own keys. Anything in another tenant, and any id under the wrong parent,
//! answers 404 as if it did not exist; a disallowed action in one's own tenant answers 403.

mod crud;
mod keys;
mod members;
mod quotas;

use actix_web::web;
use uuid::Uuid;

use super::auth::{Principal, Role};
use super::error::AdminError;
use crate::admin::AdminState;
use crate::store::members::Member;
use crate::store::tenants::{self, Tenant};
use crate::store::validate;

/// Adds this module's routes to the `/admin/v1` scope.
pub fn routes(scope: actix_web::Scope) -> actix_web::Scope {
    const MEMBER: &str = "/tenants/{tenant}/members/{member}";
    const KEY: &str = "/tenants/{tenant}/members/{member}/keys/{id}";
    scope
        .route("/tenants", web::get().to(crud::list))
        .route("/tenants", web::post().to(crud::create))
        .route("/tenants/{id}", web::get().to(crud::get))
        .route("/tenants/{id}", web::patch().to(crud::update))
        .route("/tenants/{id}", web::delete().to(crud::delete))
        .route("/tenants/{tenant}/quota", web::get().to(quotas::get_tenant))
        .route("/tenants/{tenant}/quota", web::put().to(quotas::put_tenant))
        .route(
            "/tenants/{tenant}/quota",
            web::delete().to(quotas::delete_tenant),
        )
        .route("/tenants/{tenant}/members", web::get().to(members::list))
        .route("/tenants/{tenant}/members", web::post().to(members::create))
        .route(MEMBER, web::get().to(members::get))
        .route(MEMBER, web::patch().to(members::update))
        .route(MEMBER, web::delete().to(members::delete))
        .route(
            "/tenants/{tenant}/members/{member}/quota",
            web::get().to(quotas::get_member),
        )
        .route(
            "/tenants/{tenant}/members/{member}/quota",
            web::put().to(quotas::put_member),
        )
        .route(
            "/tenants/{tenant}/members/{member}/quota",
            web::delete().to(quotas::delete_member),
        )
        .route(
            "/tenants/{tenant}/members/{member}/keys",
            web::get().to(keys::list),
        )
        .route(
            "/tenants/{tenant}/members/{member}/keys",
            web::post().to(keys::create),
        )
        .route(KEY, web::get().to(keys::get))
        .route(KEY, web::delete().to(keys::revoke))
        .route(
            "/tenants/{tenant}/members/{member}/keys/{id}/rotate",
            web::post().to(keys::rotate),
        )
        .route(
            "/tenants/{tenant}/members/{member}/keys/{id}/quota",
            web::get().to(quotas::get_key),
        )
        .route(
            "/tenants/{tenant}/members/{member}/keys/{id}/quota",
            web::put().to(quotas::put_key),
        )
        .route(
            "/tenants/{tenant}/members/{member}/keys/{id}/quota",
            web::delete().to(quotas::delete_key),
        )
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    crud::list,
    crud::create,
    crud::get,
    crud::update,
    crud::delete,
    members::list,
    members::create,
    members::get,
    members::update,
    members::delete,
    keys::list,
    keys::create,
    keys::get,
    keys::revoke,
    keys::rotate,
    quotas::get_tenant,
    quotas::put_tenant,
    quotas::delete_tenant,
    quotas::get_member,
    quotas::put_member,
    quotas::delete_member,
    quotas::get_key,
    quotas::put_key,
    quotas::delete_key,
))]
pub struct Doc;

/// A path segment that must be an id; anything else names nothing, so 404.
fn parse_id(text: &str, what: &str) -> Result<Uuid, AdminError> {
    Uuid::parse_str(text).map_err(|_| AdminError::not_found(what))
}

/// The tenant `id`, if the caller may see it.
async fn visible_tenant(
    state: &AdminState,
    principal: &Principal,
    id: &str,
) -> Result<Tenant, AdminError> {
    let id = parse_id(id, "tenant")?;
    principal.tenant_scope(id)?;
    tenants::find(&state.db, id)
        .await?
        .ok_or_else(|| AdminError::not_found("tenant"))
}

/// The member `member` of tenant `tenant`, if the caller may see it. Members see only
/// themselves: another member of their tenant is 403.
async fn visible_member(
    state: &AdminState,
    principal: &Principal,
    tenant: &str,
    member: &str,
) -> Result<(Tenant, Member), AdminError> {
    let tenant = visible_tenant(state, principal, tenant).await?;
    let id = parse_id(member, "member")?;
    let member = crate::store::members::find(&state.db, tenant.id, id)
        .await?
        .ok_or_else(|| AdminError::not_found("member"))?;
    if principal.role == Role::Member && principal.member_id != Some(member.id) {
        return Err(AdminError::forbidden());
    }
    Ok((tenant, member))
}

/// Instance admins and the tenant's own admins manage its members and their quotas.
fn require_tenant_admin(principal: &Principal) -> Result<(), AdminError> {
    match principal.role {
        Role::InstanceAdmin | Role::TenantAdmin => Ok(()),
        Role::Member => Err(AdminError::forbidden()),
    }
}

/// A list of model ids: at most 100, each a name of at most 200 characters.
fn valid_models(field: &str, models: &Option<Vec<String>>) -> Result<(), AdminError> {
    Ok(validate::model_ids(field, models.as_deref())?)
}

/// Rows per page and the `limit + 1` to fetch.
fn fetch_limit(query: &super::page::PageQuery) -> Result<(u32, i64), AdminError> {
    let limit = crate::admin::page::limit(query)?;
    Ok((limit, i64::from(limit) + 1))
}
