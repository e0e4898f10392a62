//! A member's api keys: created with the secret shown once, listed without it, revoked,
//! and rotated with an overlap during which both keys work. Members manage their own.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{Duration, Utc};
use freeway_wire::tenants::{CreatedKey, KeyView, MAX_OVERLAP_SECONDS, NewKey, Rotate, RotatedKey};

use super::{fetch_limit, parse_id, visible_member};
use crate::admin::AdminState;
use crate::admin::auth::Principal;
use crate::admin::error::AdminQuery;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminJson};
use crate::admin::page::{Page, PageQuery, SearchQuery};
use crate::crypto::api_key;
use crate::store::api_keys::{self, ApiKeyInfo as KeyRow, KeyRef, NewKeyRow, RotateRefusal};
use crate::store::{Cursor, Search};

impl From<KeyRow> for KeyView {
    fn from(k: KeyRow) -> Self {
        KeyView {
            id: k.id,
            tenant_id: k.tenant_id,
            member_id: k.member_id,
            name: k.name,
            prefix: k.display_prefix,
            allowed_models: k.allowed_models,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
            revoked: k.revoked_at.is_some(),
            revoked_at: k.revoked_at,
            replaced_by: k.replaced_by,
        }
    }
}

/// List a member's api keys
///
/// Without their secrets, oldest first; `q` searches their names and prefixes.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/members/{member}/keys", tag = "api_keys", operation_id = "member_keys_list",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path), PageQuery, SearchQuery),
    responses(
        (status = 200, description = "The member's keys, without secrets, oldest first; those whose name or prefix contains `q` when given", body = Page<KeyView>),
        (status = 403, description = "Another member's keys", body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 422, description = "`limit` or `q` out of range", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn list(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String)>,
    query: AdminQuery<PageQuery>,
    search: AdminQuery<SearchQuery>,
) -> Result<HttpResponse, AdminError> {
    let (limit, fetch) = fetch_limit(&query)?;
    let search = Search::new(search.q.as_deref())?;
    let (_, member) = visible_member(&state, &principal, &path.0, &path.1).await?;
    let cursor = Cursor::page(query.cursor, fetch);
    let rows = api_keys::list(
        &state.db,
        member.tenant_id,
        Some(member.id),
        cursor,
        &search,
    )
    .await?;
    let rows = rows.into_iter().map(KeyView::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(rows, limit, |k: &KeyView| k.id)))
}

/// Create an api key
///
/// The whole key is in this answer only; Freeway keeps its SHA-256 digest.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/members/{member}/keys", tag = "api_keys", operation_id = "member_keys_create",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path)),
    request_body = NewKey,
    responses(
        (status = 201, description = "The key, with its secret shown once", body = CreatedKey),
        (status = 403, description = "Another member's keys", body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn create(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String)>,
    body: AdminJson<NewKey>,
) -> Result<HttpResponse, AdminError> {
    let (_, member) = visible_member(&state, &principal, &path.0, &path.1).await?;
    // The store checks the name and the model ids, for the CLI too.
    let name = body.name.as_deref().unwrap_or_default();
    if body.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(AdminError::invalid(
            "expires_at",
            "`expires_at` must be in the future.",
        ));
    }
    let generated = api_key::generate();
    let row = api_keys::create(
        &state.db,
        &principal.actor(),
        NewKeyRow {
            member: &member,
            name,
            key: &generated,
            allowed_models: body.allowed_models.clone(),
            expires_at: body.expires_at,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(CreatedKey {
        info: KeyView::from(row),
        key: generated.token.expose().to_string(),
    }))
}

/// Get an api key
///
/// Without its secret.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/members/{member}/keys/{id}", tag = "api_keys", operation_id = "member_keys_get",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 200, body = KeyView),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn get(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (_, member) = visible_member(&state, &principal, &path.0, &path.1).await?;
    let id = parse_id(&path.2, "api key")?;
    let key = api_keys::find(&state.db, &member, id)
        .await?
        .ok_or_else(|| AdminError::not_found("api key"))?;
    Ok(HttpResponse::Ok().json(KeyView::from(key)))
}

/// Revoke an api key
///
/// It stops working on every instance within a second. Revoking a revoked key again is a no-op.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/members/{member}/keys/{id}", tag = "api_keys", operation_id = "member_keys_revoke",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Revoked, on every instance within a second; also when already revoked"),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn revoke(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (_, member) = visible_member(&state, &principal, &path.0, &path.1).await?;
    let id = parse_id(&path.2, "api key")?;
    api_keys::revoke(&state.db, &principal.actor(), KeyRef::of(&member, id))
        .await?
        .ok_or_else(|| AdminError::not_found("api key"))?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate an api key
///
/// Creates its replacement; the old key keeps working for `overlap_seconds`.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/members/{member}/keys/{id}/rotate", tag = "api_keys", operation_id = "member_keys_rotate",
    params(("tenant" = Uuid, Path), ("member" = Uuid, Path), ("id" = Uuid, Path)),
    request_body = Rotate,
    responses(
        (status = 201, description = "The new key, with its secret shown once; the old one expires when the overlap ends", body = RotatedKey),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 409, description = "The key is revoked or was already rotated", body = AdminErrorEnvelope),
        (status = 422, description = "`overlap_seconds` out of range", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn rotate(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String, String)>,
    body: AdminJson<Rotate>,
) -> Result<HttpResponse, AdminError> {
    let (_, member) = visible_member(&state, &principal, &path.0, &path.1).await?;
    let id = parse_id(&path.2, "api key")?;
    if !(0..=MAX_OVERLAP_SECONDS).contains(&body.overlap_seconds) {
        return Err(AdminError::invalid(
            "overlap_seconds",
            format!("`overlap_seconds` must be between 0 and {MAX_OVERLAP_SECONDS}."),
        ));
    }
    let generated = api_key::generate();
    let until = crate::admin::after(Utc::now(), Duration::try_seconds(body.overlap_seconds))?;
    let outcome = api_keys::rotate(
        &state.db,
        &principal.actor(),
        &member,
        id,
        &generated,
        until,
    )
    .await?;
    let conflict = |message: &str| AdminError::new(StatusCode::CONFLICT, "conflict", message);
    let (old, new) = match outcome {
        Ok(pair) => pair,
        Err(RotateRefusal::NotFound) => return Err(AdminError::not_found("api key")),
        Err(RotateRefusal::Revoked) => {
            return Err(conflict("A revoked key cannot be rotated."));
        }
        Err(RotateRefusal::AlreadyReplaced) => {
            return Err(conflict(
                "This key was already rotated; rotate its replacement.",
            ));
        }
    };
    Ok(HttpResponse::Created().json(RotatedKey {
        old: KeyView::from(old),
        new: CreatedKey {
            info: KeyView::from(new),
            key: generated.token.expose().to_string(),
        },
    }))
}
