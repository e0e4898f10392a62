//! Model discovery: asks the provider's `GET {base}/models` what it serves, and says which
//! of those the pool's catalog already has.

use std::collections::{BTreeMap, HashSet};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use freeway_wire::discovery::{DiscoverQuery, DiscoveredModel};

use super::{List, provider, upstream};
use crate::admin::AdminState;
use crate::admin::auth::Principal;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminQuery};
use crate::probes::listing;
use crate::providers::CredentialInfo;
use crate::store::providers::ProviderRow as ProviderRecord;
use crate::store::{Cursor, credentials, models};

fn upstream_failed(message: String) -> AdminError {
    AdminError::new(StatusCode::BAD_GATEWAY, "upstream_failed", message)
}

/// Discover a provider's models
///
/// Calls the provider's `GET {base_url}/models` with one of its credentials and lists what it
/// answers, sorted by id, each marked with whether the catalog has it. Nothing is stored.
#[utoipa::path(get, path = "/admin/v1/providers/{provider}/discover", tag = "models", operation_id = "providers_discover",
    params(("provider" = String, Path, description = "The provider's id or name"), DiscoverQuery),
    responses(
        (status = 200, description = "The provider's models, sorted by id", body = List<DiscoveredModel>),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, description = "No such provider, or no such credential of it", body = AdminErrorEnvelope),
        (status = 409, description = "The provider needs a key and has no enabled credential (`no_credential`)", body = AdminErrorEnvelope),
        (status = 502, description = "The provider did not answer with a model list (`upstream_failed`); the message says its status or what went wrong", body = AdminErrorEnvelope),
        (status = 503, description = "The master key cannot open the credential's secret", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn discover(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    query: AdminQuery<DiscoverQuery>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let provider = provider(&state.db, &path).await?;
    let credential = credential(&state, &provider, query.credential_id).await?;
    let listed = list_models(&state.http, &provider, credential).await?;
    let known: HashSet<String> = models::list(&state.db, Some(provider.id), Cursor::ALL)
        .await?
        .into_iter()
        .map(|m| m.model_id)
        .collect();
    let data = listed
        .into_iter()
        .map(|(id, owned_by)| DiscoveredModel {
            in_catalog: known.contains(&id),
            id,
            owned_by,
        })
        .collect();
    Ok(HttpResponse::Ok().json(List { data }))
}

/// The credential asked for, else the first enabled one by priority; none for a keyless
/// provider that was not given one.
async fn credential(
    state: &AdminState,
    provider: &ProviderRecord,
    id: Option<uuid::Uuid>,
) -> Result<Option<CredentialInfo>, AdminError> {
    let row = match id {
        Some(id) => Some(
            credentials::find(&state.db, provider.id, id)
                .await?
                .ok_or_else(|| AdminError::not_found("credential"))?,
        ),
        None => credentials::list(&state.db, Some(provider.id), Cursor::ALL)
            .await?
            .into_iter()
            .filter(|c| c.enabled)
            .min_by_key(|c| (c.priority, c.created_at, c.id)),
    };
    match row {
        Some(row) => Ok(Some(upstream::open(state, &row)?)),
        None if provider.keyless => Ok(None),
        None => Err(AdminError::new(
            StatusCode::CONFLICT,
            "no_credential",
            format!(
                "Provider {:?} needs a key and has no enabled credential: add one first.",
                provider.name
            ),
        )),
    }
}

/// `GET {base}/models`: `(id, owned_by)` by id, each id once.
async fn list_models(
    client: &reqwest::Client,
    provider: &ProviderRecord,
    credential: Option<CredentialInfo>,
) -> Result<BTreeMap<String, Option<String>>, AdminError> {
    let route = upstream::route(provider, None, credential);
    let listed = listing::list_models(client, &route, upstream::timeout(provider))
        .await
        .map_err(|error| upstream_failed(error.message))?;
    Ok(listed
        .into_iter()
        .map(|(id, listed)| (id, listed.owned_by))
        .collect())
}
