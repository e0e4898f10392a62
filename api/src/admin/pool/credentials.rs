//! A provider's credentials. The secret is write-only: it is sealed on arrival, and
//! responses and the audit log show only its last four characters.

use freeway_wire::pool::Modality;
use freeway_wire::pool::{CredentialPatch, CredentialTest, CredentialView, NewCredential};
use std::time::Instant;

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use uuid::Uuid;

use super::LimitColumnsExt;
use super::{LimitSet, check_priority, deleted, provider, row_id, upstream};
use crate::admin::AdminState;
use crate::admin::auth::Principal;
use crate::admin::error::AdminQuery;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminJson};
use crate::admin::page::{Page, PageQuery};
use crate::crypto::Secret;
use crate::providers::{CredentialInfo, openai_compat};
use crate::store::credentials::{
    self, CredentialFields, CredentialRow as CredentialRecord, SealedCredential,
};
use crate::store::providers::ProviderRow as ProviderRecord;
use crate::store::{Cursor, models, validate};

fn view(provider: &str, row: CredentialRecord) -> CredentialView {
    CredentialView {
        limits: LimitSet::from_columns(row.limits()),
        id: row.id,
        provider_id: row.provider_id,
        provider: provider.to_string(),
        name: row.name,
        last4: row.last4,
        enabled: row.enabled,
        priority: row.priority,
        key_version: row.sealed.key_version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        probe: row.probe.result(),
    }
}

fn check_name(name: &str) -> Result<String, AdminError> {
    Ok(validate::label("name", name, 100)?)
}

fn check_secret(secret: &str) -> Result<Secret, AdminError> {
    // Never echo the value.
    Ok(validate::secret(secret)?)
}

/// List a provider's credentials
///
/// Never with their secrets.
#[utoipa::path(get, path = "/admin/v1/providers/{provider}/credentials", tag = "credentials", operation_id = "credentials_list",
    params(("provider" = String, Path, description = "The provider's id or name"), PageQuery),
    responses(
        (status = 200, description = "The provider's credentials in creation order, without secrets", body = Page<CredentialView>),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 422, body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn list(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    query: AdminQuery<PageQuery>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let provider = provider(&state.db, &path).await?;
    let limit = crate::admin::page::limit(&query)?;
    let rows = credentials::list(
        &state.db,
        Some(provider.id),
        Cursor::page(query.cursor, i64::from(limit) + 1),
    )
    .await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    Ok(HttpResponse::Ok().json(Page {
        data: page
            .data
            .into_iter()
            .map(|r| view(&provider.name, r))
            .collect::<Vec<_>>(),
        next_cursor: page.next_cursor,
    }))
}

/// Add a credential
///
/// The secret is sealed with its own data key and never shown again.
#[utoipa::path(post, path = "/admin/v1/providers/{provider}/credentials", tag = "credentials", operation_id = "credentials_create",
    params(("provider" = String, Path, description = "The provider's id or name")),
    request_body = NewCredential,
    responses(
        (status = 201, description = "Sealed and stored; only the last four characters are shown", body = CredentialView),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid; `field` names it", body = AdminErrorEnvelope),
        (status = 503, description = "The master key is unavailable", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn create(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    body: AdminJson<NewCredential>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let provider = provider(&state.db, &path).await?;
    let body = body.into_inner();
    let secret = check_secret(&body.secret)?;
    let fields = CredentialFields {
        name: check_name(&body.name)?,
        enabled: body.enabled.unwrap_or(true),
        priority: check_priority(body.priority.unwrap_or(100))?,
        limits: body.limits.unwrap_or_default().columns("limits")?,
    };
    let sealed = {
        let keyring = state.keyring.read().unwrap_or_else(|p| p.into_inner());
        SealedCredential::seal(&keyring, secret.expose())?
    };
    let row =
        credentials::create(&state.db, &principal.actor(), &provider, &sealed, fields).await?;
    Ok(HttpResponse::Created().json(view(&provider.name, row)))
}

/// Change a credential
///
/// A new `secret` replaces the old one.
#[utoipa::path(patch, path = "/admin/v1/providers/{provider}/credentials/{id}", tag = "credentials", operation_id = "credentials_update",
    params(
        ("provider" = String, Path, description = "The provider's id or name"),
        ("id" = Uuid, Path, description = "The credential's id"),
    ),
    request_body = CredentialPatch,
    responses(
        (status = 200, description = "The credential as it is now", body = CredentialView),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn update(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String)>,
    body: AdminJson<CredentialPatch>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let provider = provider(&state.db, &path.0).await?;
    let id = row_id(&path.1, "credential")?;
    let patch = body.into_inner();
    let row = credentials::update(&state.db, &principal.actor(), provider.id, id, |_, f| {
        if let Some(name) = &patch.name {
            f.name = check_name(name)?;
        }
        if let Some(enabled) = patch.enabled {
            f.enabled = enabled;
        }
        if let Some(priority) = patch.priority {
            f.priority = check_priority(priority)?;
        }
        if let Some(limits) = &patch.limits {
            f.limits = limits.columns("limits")?;
        }
        Ok::<(), AdminError>(())
    })
    .await?
    .ok_or_else(|| AdminError::not_found("credential"))?;
    Ok(HttpResponse::Ok().json(view(&provider.name, row)))
}

/// Delete a credential
#[utoipa::path(delete, path = "/admin/v1/providers/{provider}/credentials/{id}", tag = "credentials", operation_id = "credentials_delete",
    params(
        ("provider" = String, Path, description = "The provider's id or name"),
        ("id" = Uuid, Path, description = "The credential's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, description = "No such provider", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn delete(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let provider = provider(&state.db, &path.0).await?;
    let id = row_id(&path.1, "credential")?;
    let result = credentials::delete(&state.db, &principal.actor(), provider.id, id).await?;
    deleted(result, "credential")
}

/// Test a credential
///
/// Makes one small call to the provider with it and says how it went.
#[utoipa::path(post, path = "/admin/v1/providers/{provider}/credentials/{id}/test", tag = "credentials", operation_id = "credentials_test",
    params(
        ("provider" = String, Path, description = "The provider's id or name"),
        ("id" = Uuid, Path, description = "The credential's id"),
    ),
    responses(
        (status = 200, description = "What the provider answered to one minimal call (a one-token chat completion, or `GET /models` when the provider has no chat model)", body = CredentialTest),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 503, description = "The master key cannot open the secret", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn test(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let provider = provider(&state.db, &path.0).await?;
    let id = row_id(&path.1, "credential")?;
    let row = credentials::find(&state.db, provider.id, id)
        .await?
        .ok_or_else(|| AdminError::not_found("credential"))?;
    let credential = upstream::open(&state, &row)?;
    let models = models::list(&state.db, Some(provider.id), Cursor::ALL).await?;
    let chat_model = models
        .iter()
        .filter(|m| m.enabled && m.modality == Modality::Chat)
        .min_by_key(|m| (m.priority, m.id));
    let result = probe(
        &state.http,
        &provider,
        chat_model.map(|m| (m.id, m.model_id.as_str())),
        credential,
        upstream::timeout(&provider),
    )
    .await;
    Ok(HttpResponse::Ok().json(result))
}

/// One call with the credential, bounded by `timeout` (for a single test, the provider's
/// own, at most 30 s; shorter for an import's many).
pub(super) async fn probe(
    client: &reqwest::Client,
    provider: &ProviderRecord,
    chat_model: Option<(Uuid, &str)>,
    credential: CredentialInfo,
    timeout: std::time::Duration,
) -> CredentialTest {
    let secret = credential.secret.clone();
    let route = upstream::route(provider, chat_model, Some(credential));
    let request = match chat_model {
        Some((_, model)) => {
            let body = json!({
                "model": model,
                "messages": [{"role": "user", "content": "Reply with one word."}],
                "max_tokens": 1,
                "stream": false,
            });
            openai_compat::chat_request(client, &route, body.to_string().into_bytes(), false)
        }
        None => openai_compat::get(client, &route, "/models"),
    };
    let probe = if chat_model.is_some() {
        "chat_completion"
    } else {
        "list_models"
    };
    let started = Instant::now();
    let outcome = request.timeout(timeout).send().await;
    let (status, message) = match outcome {
        Ok(response) => {
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (
                Some(status.as_u16()),
                upstream::describe(status.is_success(), &body),
            )
        }
        Err(error) => (None, upstream::transport_error(&error.into(), timeout)),
    };
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    CredentialTest {
        ok: status.is_some_and(|s| (200..300).contains(&s)),
        status,
        latency_ms,
        probe: probe.into(),
        model: chat_model.map(|(_, m)| m.to_string()),
        message: upstream::redact(&message, Some(&secret)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_checked_without_being_echoed() {
        let error = check_secret("short")
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(!error.contains("short"));
        assert!(check_secret("  gsk_0123456789  ").is_ok());
    }
}
