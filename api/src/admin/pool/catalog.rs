//! `POST /admin/v1/catalog`: load a newer provider catalog on a running server, showing the
//! diff first (`dry_run`, the default), as `freeway catalog import` does.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use freeway_wire::catalog::{CatalogDiff, CatalogImport};

use crate::admin::AdminState;
use crate::admin::auth::Principal;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminJson};
use crate::store::catalog::{self, ImportError, ImportRequest};

impl From<ImportError> for AdminError {
    fn from(error: ImportError) -> Self {
        match (error.field(), error) {
            (_, ImportError::Store(e)) => e.into(),
            (field, error) => AdminError {
                field: field.map(str::to_string),
                ..AdminError::new(StatusCode::BAD_REQUEST, error.code(), error.to_string())
            },
        }
    }
}

/// Load a provider catalog
///
/// Compares the catalog file (`catalog`, TOML, byte for byte as signed) with the pool and
/// answers the diff: providers and models added, changed (field by field), removed or
/// disabled, and the admin's edits that are kept. With `dry_run` (the default) nothing is
/// written; `false` applies it through the audited change path, and every replica reloads.
/// The catalog must be newer than the active one and carry an ed25519 `signature` that a
/// trusted key (the project's, or one of `FREEWAY_CATALOG_KEYS`) verifies, unless `force`.
/// A catalog that cannot be read, or that would drop a provider still holding credentials,
/// changes nothing.
#[utoipa::path(post, path = "/admin/v1/catalog", tag = "providers", operation_id = "catalog_import",
    request_body = CatalogImport,
    responses(
        (status = 200, description = "The diff, applied unless `dry_run`", body = CatalogDiff),
        (status = 400, description = "The catalog is malformed (the message names the entry and line), unsigned, wrongly signed, not newer than the active one, or drops a provider that holds credentials: nothing changed", body = AdminErrorEnvelope),
        (status = 403, description = "Instance admins only", body = AdminErrorEnvelope),
        (status = 422, description = "The body is invalid", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn import(
    principal: Principal,
    state: web::Data<AdminState>,
    body: AdminJson<CatalogImport>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let body = body.into_inner();
    let keys = state.config.catalog_keys().map_err(|e| {
        AdminError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "catalog_keys",
            e.to_string(),
        )
    })?;
    let request = ImportRequest {
        text: &body.catalog,
        signature: body.signature.as_deref(),
        keys: &keys,
        dry_run: body.dry_run,
        force: body.force,
    };
    let diff = catalog::import(&state.db, &principal.actor(), request).await?;
    Ok(HttpResponse::Ok().json(diff))
}
