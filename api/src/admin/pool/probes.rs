//! Discovery per credential, catalog rows for discovered models, health probes on demand,
//! and the models a credential cannot use.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use freeway_wire::discovery::{
    AddDiscovered, ClearUnavailableQuery, CredentialDiscovery, ProbeReport, Unavailable,
};
use freeway_wire::pool::ModelView;

use super::{List, models, provider, row_id};
use crate::admin::AdminState;
use crate::admin::auth::Principal;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminJson, AdminQuery};
use crate::probes::discovery::{self, DiscoveryError};
use crate::store::{Cursor, availability, credentials};

/// Discover a credential's models
///
/// Lists the provider's models with this credential and diffs them against the provider's
/// catalog: `new` (listed, not in the catalog), `missing` (in the catalog, not listed) and
/// `known` (both). Catalog models missing upstream are marked unavailable for this credential
/// and skipped by the router; those listed again are taken back. When the provider gives no
/// list, nothing changes.
#[utoipa::path(get, path = "/admin/v1/credentials/{credential}/discover", tag = "models", operation_id = "credentials_discover",
    params(("credential" = Uuid, Path, description = "The credential's id")),
    responses(
        (status = 200, description = "The diff between the provider's listing and its catalog", body = CredentialDiscovery),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, description = "No such credential", body = AdminErrorEnvelope),
        (status = 502, description = "The provider did not answer this credential with a model list (`upstream_failed`); nothing was changed", body = AdminErrorEnvelope),
        (status = 503, description = "The master key cannot open the credential's secret", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn discover(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let id = row_id(&path, "credential")?;
    match discovery::discover(&state.db, &state.http, &state.keyring, id).await {
        Ok(found) => Ok(HttpResponse::Ok().json(found)),
        Err(DiscoveryError::Store(error)) => Err(error.into()),
        Err(DiscoveryError::Upstream(error)) => Err(AdminError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_failed",
            format!("Credential {id}: {}", error.message),
        )),
    }
}

/// Add discovered models
///
/// Adds catalog rows for models the provider lists, with the capabilities given; what is not
/// given is inferred from each id (modality: `embed` → embedding, `whisper` → transcription,
/// `tts` → speech, `flux`/`dall-e` → image, else chat; vision: `vision`, `-vl`, `llava`) or
/// takes a new model's defaults (tools and JSON mode for chat models). None is added when one
/// is already in the catalog.
#[utoipa::path(post, path = "/admin/v1/providers/{provider}/discovered-models", tag = "models", operation_id = "models_add_discovered",
    params(("provider" = String, Path, description = "The provider's id or name")),
    request_body = AddDiscovered,
    responses(
        (status = 201, description = "The models added, in the order given", body = List<ModelView>),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 409, description = "A model is already in the provider's catalog (`conflict`); none was added", body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn add_discovered(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    body: AdminJson<AddDiscovered>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let provider = provider(&state.db, &path).await?;
    let added = discovery::add(&state.db, &principal.actor(), &provider, &body).await?;
    let data: Vec<ModelView> = added
        .into_iter()
        .map(|row| models::view(&provider.name, row))
        .collect();
    Ok(HttpResponse::Created().json(List { data }))
}

/// Probe a credential now
///
/// Checks the credential as the periodic probe does (its provider's `GET /models`, or a
/// 1-token completion where that proves nothing) and records the result on it; then
/// re-probes, with a 1-token completion each, its routes cooling down for a transient cause
/// or refused: those that answer are back at once. Each call upstream is one usage event of
/// kind `probe`, counted against no member's quota.
#[utoipa::path(post, path = "/admin/v1/credentials/{credential}/probe", tag = "credentials", operation_id = "credentials_probe",
    params(("credential" = Uuid, Path, description = "The credential's id")),
    responses(
        (status = 200, description = "The probe's result and the routes re-probed", body = ProbeReport),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, description = "No such credential", body = AdminErrorEnvelope),
        (status = 503, description = "The master key cannot open the credential's secret", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn probe(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let id = row_id(&path, "credential")?;
    let report = state.probes.probe_credential(id, true).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// List the models a credential cannot use
#[utoipa::path(get, path = "/admin/v1/credentials/{credential}/unavailable", tag = "credentials", operation_id = "credentials_unavailable_list",
    params(("credential" = Uuid, Path, description = "The credential's id")),
    responses(
        (status = 200, description = "The catalog models the router skips with this credential, and why", body = List<Unavailable>),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, description = "No such credential", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn unavailable(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let id = row_id(&path, "credential")?;
    let credential = credentials::find_by_id(&state.db, id)
        .await?
        .ok_or_else(|| AdminError::not_found("credential"))?;
    let provider = provider(&state.db, &credential.provider_id.to_string()).await?;
    let names: HashMap<_, _> =
        crate::store::models::list(&state.db, Some(provider.id), Cursor::ALL)
            .await?
            .into_iter()
            .map(|m| (m.id, format!("{}/{}", provider.name, m.model_id)))
            .collect();
    let data: Vec<Unavailable> = availability::list(&state.db)
        .await?
        .into_iter()
        .filter(|row| row.credential_id == id)
        .map(|row| Unavailable {
            credential_id: row.credential_id,
            model: names.get(&row.model_id).cloned().unwrap_or_default(),
            model_id: row.model_id,
            cause: row.cause,
            reason: row.reason,
            since: row.since,
        })
        .collect();
    Ok(HttpResponse::Ok().json(List { data }))
}

/// Make a credential's models available again
///
/// Clears the marks that make the router skip this credential's routes to models it was found
/// unable to serve: every one, or one model's.
#[utoipa::path(delete, path = "/admin/v1/credentials/{credential}/unavailable", tag = "credentials", operation_id = "credentials_unavailable_clear",
    params(("credential" = Uuid, Path, description = "The credential's id"), ClearUnavailableQuery),
    responses(
        (status = 204, description = "Cleared; the routes are tried again"),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, description = "No such credential", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn clear_unavailable(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    query: AdminQuery<ClearUnavailableQuery>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let id = row_id(&path, "credential")?;
    credentials::find_by_id(&state.db, id)
        .await?
        .ok_or_else(|| AdminError::not_found("credential"))?;
    availability::clear(&state.db, id, query.model_id, None).await?;
    Ok(HttpResponse::NoContent().finish())
}
