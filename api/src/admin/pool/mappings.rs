//! Model-name mappings: names nothing in the pool answers to (`claude-sonnet-4-5-20250929`)
//! resolve as the target of the most specific pattern they fit (`claude-*` → `auto`).

use actix_web::{HttpResponse, web};
use freeway_wire::mappings::{MappingBody, MappingView};

use super::List;
use crate::admin::AdminState;
use crate::admin::auth::Principal;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminJson};
use crate::providers::mappings::precedence;
use crate::store::mappings::{self, MappingRow};

fn view(row: MappingRow) -> MappingView {
    MappingView {
        pattern: row.pattern,
        target: row.target,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// List model-name mappings
///
/// Most specific first, the order in which a requested name that nothing in the pool
/// answers to is tried against them.
#[utoipa::path(get, path = "/admin/v1/routing/mappings", tag = "routing", operation_id = "mappings_list",
    responses(
        (status = 200, description = "Every mapping, most specific first: exact names, then patterns with more characters other than `*`, then alphabetically", body = List<MappingView>),
        (status = 403, description = "Only instance admins manage the pool", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn list(
    principal: Principal,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let mut rows = mappings::list(&state.db).await?;
    rows.sort_by(|a, b| precedence(&a.pattern, &b.pattern));
    let data: Vec<MappingView> = rows.into_iter().map(view).collect();
    Ok(HttpResponse::Ok().json(List { data }))
}

/// Set a model-name mapping
///
/// A requested name that fits `pattern` (where `*` is any run of characters) and that
/// nothing in the pool answers to directly is served as `target` would be. Of several
/// patterns a name fits, the most specific wins. Every instance follows within a second.
#[utoipa::path(put, path = "/admin/v1/routing/mappings/{pattern}", tag = "routing", operation_id = "mappings_put",
    params(("pattern" = String, Path, description = "A model name in which `*` is any run of characters, such as `claude-*`; percent-encode `/`", pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,200}$")),
    request_body = MappingBody,
    responses(
        (status = 200, description = "Created or replaced", body = MappingView),
        (status = 403, description = "Only instance admins manage the pool", body = AdminErrorEnvelope),
        (status = 422, description = "A bad `pattern` or `target`; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn put(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    body: AdminJson<MappingBody>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let row = mappings::put(
        &state.db,
        &principal.actor(),
        &path,
        &body.into_inner().target,
    )
    .await?;
    Ok(HttpResponse::Ok().json(view(row)))
}

/// Delete a model-name mapping
#[utoipa::path(delete, path = "/admin/v1/routing/mappings/{pattern}", tag = "routing", operation_id = "mappings_delete",
    params(("pattern" = String, Path, description = "The mapping's pattern, as listed", pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,200}$")),
    responses(
        (status = 204, description = "Deleted; names it matched now resolve through the next most specific pattern, if any"),
        (status = 403, description = "Only instance admins manage the pool", body = AdminErrorEnvelope),
        (status = 404, description = "No mapping of that pattern", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn delete(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    if mappings::delete(&state.db, &principal.actor(), &path).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AdminError::not_found("model mapping"))
    }
}
