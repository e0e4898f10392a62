//! The shared pool: providers, their models and credentials.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{AssertSqlSafe, FromRow, PgPool};
use uuid::Uuid;

use super::audit::{self, AuditEntry};
use super::{StoreError, notify_change};
use crate::crypto::{self, Keyring, SealedSecret, Secret};

#[derive(Debug, Clone, FromRow)]
pub struct ProviderRow {
    pub id: Uuid,
    pub name: String,
    pub base_url: String,
    pub keyless: bool,
    pub enabled: bool,
    pub priority: i32,
    pub timeout_ms: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow)]
pub struct ModelRow {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub model_id: String,
    pub modality: String,
    pub supports_tools: bool,
    pub supports_vision: bool,
    pub supports_json: bool,
    pub context_window: Option<i32>,
    pub enabled: bool,
    pub priority: i32,
    pub created_at: DateTime<Utc>,
}

/// A credential as stored: sealed. `Debug` shows no key material.
#[derive(Debug, Clone)]
pub struct CredentialRow {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub name: String,
    pub sealed: SealedSecret,
    pub last4: String,
    pub enabled: bool,
    pub priority: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct CredentialDbRow {
    id: Uuid,
    provider_id: Uuid,
    name: String,
    ciphertext: Vec<u8>,
    wrapped_key: Vec<u8>,
    key_version: i32,
    last4: String,
    enabled: bool,
    priority: i32,
    created_at: DateTime<Utc>,
}

impl From<CredentialDbRow> for CredentialRow {
    fn from(row: CredentialDbRow) -> Self {
        CredentialRow {
            id: row.id,
            provider_id: row.provider_id,
            name: row.name,
            sealed: SealedSecret {
                ciphertext: row.ciphertext,
                wrapped_key: row.wrapped_key,
                key_version: row.key_version,
            },
            last4: row.last4,
            enabled: row.enabled,
            priority: row.priority,
            created_at: row.created_at,
        }
    }
}

const PROVIDER_COLUMNS: &str =
    "id, name, base_url, keyless, enabled, priority, timeout_ms, created_at";
const MODEL_COLUMNS: &str = "id, provider_id, model_id, modality, supports_tools, supports_vision,
    supports_json, context_window, enabled, priority, created_at";
const CREDENTIAL_COLUMNS: &str = "id, provider_id, name, ciphertext, wrapped_key, key_version,
    last4, enabled, priority, created_at";

pub struct NewProvider<'a> {
    pub name: &'a str,
    pub base_url: &'a str,
    pub keyless: bool,
    pub priority: i32,
    pub timeout_ms: i32,
}

pub async fn create_provider(
    pool: &PgPool,
    actor: &str,
    new: NewProvider<'_>,
) -> Result<ProviderRow, StoreError> {
    let base_url = validate_base_url(new.base_url)?;
    let mut tx = pool.begin().await?;
    let row: ProviderRow = sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO providers (id, name, base_url, keyless, priority, timeout_ms)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {PROVIDER_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(new.name)
    .bind(&base_url)
    .bind(new.keyless)
    .bind(new.priority)
    .bind(new.timeout_ms)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!("provider {:?}", new.name)),
        StoreError::Invalid(_) => StoreError::Invalid(format!(
            "provider name {:?}: use lowercase letters, digits, '.', '_' or '-'",
            new.name
        )),
        other => other,
    })?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "provider.create",
            target_kind: "provider",
            target_id: Some(row.id.to_string()),
            tenant_id: None,
            before: None,
            after: Some(json!({
                "name": row.name, "base_url": row.base_url, "keyless": row.keyless,
                "priority": row.priority, "timeout_ms": row.timeout_ms,
            })),
        },
    )
    .await?;
    notify_change(&mut *tx, "pool").await?;
    tx.commit().await?;
    Ok(row)
}

/// A base URL must be http(s) with a host; the trailing slash is dropped so that
/// `{base}/chat/completions` is well formed.
pub fn validate_base_url(url: &str) -> Result<String, StoreError> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| {
            StoreError::Invalid(format!(
                "base URL {url:?} must start with http:// or https://"
            ))
        })?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(StoreError::Invalid(format!("base URL {url:?} has no host")));
    }
    Ok(trimmed.to_string())
}

pub async fn find_provider(pool: &PgPool, name: &str) -> Result<ProviderRow, StoreError> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {PROVIDER_COLUMNS} FROM providers WHERE name = $1"
    )))
    .bind(name)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("provider {name:?}")))
}

pub async fn list_providers(pool: &PgPool) -> Result<Vec<ProviderRow>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {PROVIDER_COLUMNS} FROM providers ORDER BY priority, name"
    )))
    .fetch_all(pool)
    .await?)
}

pub struct NewModel<'a> {
    pub model_id: &'a str,
    pub modality: &'a str,
    pub supports_tools: bool,
    pub supports_vision: bool,
    pub supports_json: bool,
    pub context_window: Option<i32>,
    pub priority: i32,
}

pub async fn add_model(
    pool: &PgPool,
    actor: &str,
    provider: &ProviderRow,
    new: NewModel<'_>,
) -> Result<ModelRow, StoreError> {
    let mut tx = pool.begin().await?;
    let row: ModelRow = sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO models (id, provider_id, model_id, modality, supports_tools,
                             supports_vision, supports_json, context_window, priority)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {MODEL_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(provider.id)
    .bind(new.model_id)
    .bind(new.modality)
    .bind(new.supports_tools)
    .bind(new.supports_vision)
    .bind(new.supports_json)
    .bind(new.context_window)
    .bind(new.priority)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "model {:?} of provider {:?}",
            new.model_id, provider.name
        )),
        other => other,
    })?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "model.create",
            target_kind: "model",
            target_id: Some(row.id.to_string()),
            tenant_id: None,
            before: None,
            after: Some(json!({
                "provider": provider.name, "model_id": row.model_id, "modality": row.modality,
            })),
        },
    )
    .await?;
    notify_change(&mut *tx, "pool").await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn list_models(pool: &PgPool) -> Result<Vec<ModelRow>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {MODEL_COLUMNS} FROM models ORDER BY priority, model_id"
    )))
    .fetch_all(pool)
    .await?)
}

/// Seals `secret` and stores it as a new credential of `provider`.
pub async fn add_credential(
    pool: &PgPool,
    actor: &str,
    keyring: &Keyring,
    provider: &ProviderRow,
    name: &str,
    secret: &Secret,
    priority: i32,
) -> Result<CredentialRow, StoreError> {
    if secret.expose().trim().is_empty() {
        return Err(StoreError::Invalid("the credential secret is empty".into()));
    }
    let id = Uuid::now_v7();
    let sealed = crypto::seal(keyring, id, secret)?;
    let mut tx = pool.begin().await?;
    let row: CredentialDbRow = sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO credentials (id, provider_id, name, ciphertext, wrapped_key, key_version,
                                  last4, priority)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {CREDENTIAL_COLUMNS}"
    )))
    .bind(id)
    .bind(provider.id)
    .bind(name)
    .bind(&sealed.ciphertext)
    .bind(&sealed.wrapped_key)
    .bind(sealed.key_version)
    .bind(secret.last4())
    .bind(priority)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "credential.create",
            target_kind: "credential",
            target_id: Some(id.to_string()),
            tenant_id: None,
            before: None,
            after: Some(json!({
                "provider": provider.name, "name": name, "last4": row.last4,
                "priority": priority, "secret": "<redacted>",
            })),
        },
    )
    .await?;
    notify_change(&mut *tx, "pool").await?;
    tx.commit().await?;
    Ok(row.into())
}

pub async fn list_credentials(pool: &PgPool) -> Result<Vec<CredentialRow>, StoreError> {
    let rows: Vec<CredentialDbRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials ORDER BY priority, created_at"
    )))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Re-wraps every data key not yet under the keyring's current master key, in small
/// transactions so that a running server is never blocked for long. Ciphertexts are not
/// touched. Returns how many credentials were re-wrapped.
pub async fn rewrap_credentials(
    pool: &PgPool,
    actor: &str,
    keyring: &Keyring,
) -> Result<u64, StoreError> {
    let target = keyring.current().version;
    let mut total = 0u64;
    loop {
        let mut tx = pool.begin().await?;
        let rows: Vec<CredentialDbRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE key_version <> $1
             ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED"
        )))
        .bind(target)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.rollback().await?;
            break;
        }
        for row in rows {
            let row = CredentialRow::from(row);
            let (wrapped, version) = crypto::rewrap(keyring, row.id, &row.sealed)?;
            sqlx::query(
                "UPDATE credentials SET wrapped_key = $2, key_version = $3, updated_at = now()
                 WHERE id = $1",
            )
            .bind(row.id)
            .bind(&wrapped)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            total += 1;
        }
        tx.commit().await?;
    }
    let mut tx = pool.begin().await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "master_key.rotate",
            target_kind: "master_key",
            target_id: Some(target.to_string()),
            tenant_id: None,
            before: None,
            after: Some(json!({ "key_version": target, "rewrapped": total })),
        },
    )
    .await?;
    notify_change(&mut *tx, "pool").await?;
    tx.commit().await?;
    Ok(total)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_normalised() {
        assert_eq!(
            validate_base_url("https://api.groq.com/openai/v1/").unwrap(),
            "https://api.groq.com/openai/v1"
        );
        assert!(validate_base_url("http://127.0.0.1:8000/v1").is_ok());
        for bad in [
            "ftp://x",
            "api.groq.com",
            "https://",
            "https:///v1",
            "http://a b",
        ] {
            assert!(validate_base_url(bad).is_err(), "{bad}");
        }
    }
}
