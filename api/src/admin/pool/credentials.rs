//! A provider's credentials. The secret is write-only: it is sealed on arrival, and
//! responses and the audit log show only its last four characters.

use freeway_wire::pool::Modality;
use freeway_wire::pool::{CredentialPatch, CredentialTest, CredentialView, NewCredential};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use uuid::Uuid;

use super::LimitColumnsExt;
use super::{LimitSet, check_priority, deleted, provider, row_id};
use crate::admin::auth::Principal;
use crate::admin::error::AdminQuery;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminJson};
use crate::admin::page::{Page, PageQuery};
use crate::crypto::{self, Secret};
use crate::providers::{CredentialInfo, ModelInfo, ProviderInfo, Route, openai_compat};
use crate::routing::pool::RouteSlots;
use crate::state::AppState;
use crate::store::StoreError;
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
    state: web::Data<AppState>,
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
    state: web::Data<AppState>,
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
    state: web::Data<AppState>,
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
    state: web::Data<AppState>,
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
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let provider = provider(&state.db, &path.0).await?;
    let id = row_id(&path.1, "credential")?;
    let sealed = credentials::find(&state.db, provider.id, id)
        .await?
        .map(|c| c.sealed)
        .ok_or_else(|| AdminError::not_found("credential"))?;
    let secret = {
        let keyring = state.keyring.read().unwrap_or_else(|p| p.into_inner());
        crypto::open(&keyring, id, &sealed).map_err(StoreError::from)?
    };
    let models = models::list(&state.db, Some(provider.id), Cursor::ALL).await?;
    let chat_model = models
        .iter()
        .filter(|m| m.enabled && m.modality == Modality::Chat)
        .min_by_key(|m| (m.priority, m.id));
    let result = probe(
        &state.http,
        &provider,
        chat_model.map(|m| (m.id, m.model_id.as_str())),
        CredentialInfo { id, secret },
    )
    .await;
    Ok(HttpResponse::Ok().json(result))
}

/// One call with the credential, bounded by the provider's timeout (at most 30 s).
async fn probe(
    client: &reqwest::Client,
    provider: &ProviderRecord,
    chat_model: Option<(Uuid, &str)>,
    credential: CredentialInfo,
) -> CredentialTest {
    let timeout = Duration::from_millis(u64::try_from(provider.timeout_ms).unwrap_or(30_000))
        .min(Duration::from_secs(30));
    let secret = credential.secret.clone();
    let slots = RouteSlots {
        route: 0,
        credential: None,
        provider: 0,
        model: 0,
    };
    let (model_row, model_id) = chat_model.unwrap_or((Uuid::nil(), ""));
    let mut route = Route::detached(&provider.name, model_id, ModelInfo::chat(model_row), slots);
    route.provider = Arc::new(ProviderInfo {
        id: provider.id,
        name: provider.name.clone(),
        base_url: provider.base_url.clone(),
        timeout,
    });
    route.credential = Some(Arc::new(credential));
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
        None => models_request(client, &provider.base_url, &secret),
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
            (Some(status.as_u16()), describe(status.is_success(), &body))
        }
        Err(error) if error.is_timeout() => (
            None,
            format!("No answer within {} ms.", timeout.as_millis()),
        ),
        Err(error) if error.is_connect() => (None, "Could not connect to the provider.".into()),
        Err(_) => (None, "The request to the provider failed.".into()),
    };
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    CredentialTest {
        ok: status.is_some_and(|s| (200..300).contains(&s)),
        status,
        latency_ms,
        probe: probe.into(),
        model: chat_model.map(|(_, m)| m.to_string()),
        message: redact(&message, &secret),
    }
}

/// `GET {base}/models`; a base URL with `{account_id}` takes a secret `account_id:token`.
fn models_request(
    client: &reqwest::Client,
    base: &str,
    secret: &Secret,
) -> reqwest::RequestBuilder {
    let secret = secret.expose();
    let (url, token) = match secret.split_once(':') {
        Some((account, token)) if base.contains("{account_id}") => {
            (base.replace("{account_id}", account), token)
        }
        _ => (base.to_string(), secret),
    };
    client.get(format!("{url}/models")).bearer_auth(token)
}

fn describe(success: bool, body: &Value) -> String {
    let text = if success {
        if let Some(content) = body["choices"][0]["message"]["content"].as_str() {
            content.to_string()
        } else if let Some(models) = body["data"].as_array() {
            format!("{} models listed.", models.len())
        } else {
            "The provider answered.".to_string()
        }
    } else {
        body["error"]["message"]
            .as_str()
            .or_else(|| body["message"].as_str())
            .or_else(|| body["error"].as_str())
            .unwrap_or("The provider refused the call.")
            .to_string()
    };
    text.chars().take(300).collect()
}

/// A provider may quote the key it was sent; it is never passed on.
fn redact(message: &str, secret: &Secret) -> String {
    let mut text = message.to_string();
    let whole = secret.expose();
    let parts = whole.split(':').chain(std::iter::once(whole));
    for part in parts.filter(|p| p.len() >= 4) {
        text = text.replace(part, "<redacted>");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_checked_without_being_echoed_and_redacted_from_messages() {
        let error = check_secret("short")
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(!error.contains("short"));
        assert!(check_secret("  gsk_0123456789  ").is_ok());
        let secret = Secret::new("acct:tok_0123456789");
        assert_eq!(
            redact("bad key tok_0123456789 for acct", &secret),
            "bad key <redacted> for <redacted>"
        );
        assert_eq!(
            describe(false, &json!({"error": {"message": "Invalid API key"}})),
            "Invalid API key"
        );
    }
}
