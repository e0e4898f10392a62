//! The pool as the admin API edits it: whole rows with their origin, read-merge-write
//! updates under a row lock with before and after in the audit log, deletes, cooldowns.
//! Secrets never pass through here except sealed.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{AssertSqlSafe, FromRow, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::audit::{self, AuditEntry};
use super::pool::{LimitColumns, MODEL_COLUMNS, PROVIDER_COLUMNS};
/// The rows of `store::pool`, which the admin API reads in full.
pub use super::pool::{ModelRow as ModelRecord, ProviderRow as ProviderRecord};
use super::{StoreError, notify_change};
use crate::crypto::SealedSecret;

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    Missing,
    /// A row of the shipped catalog: the next start would bring it back, so it is disabled
    /// instead of deleted.
    Builtin,
}

async fn record(
    tx: &mut Transaction<'_, Postgres>,
    actor: &str,
    action: &str,
    kind: &str,
    id: Uuid,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<(), StoreError> {
    audit::record(
        &mut **tx,
        AuditEntry {
            actor,
            action,
            target_kind: kind,
            target_id: Some(id.to_string()),
            tenant_id: None,
            before,
            after,
        },
    )
    .await?;
    notify_change(&mut **tx, "pool").await
}

fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

// Providers ------------------------------------------------------------------------------

/// The columns an admin sets on a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderFields {
    pub name: String,
    pub display_name: String,
    pub base_url: String,
    pub keyless: bool,
    pub enabled: bool,
    pub priority: i32,
    pub timeout_ms: i32,
    pub limits: LimitColumns,
    pub daily_reset_tz: String,
}

impl ProviderRecord {
    pub fn limits(&self) -> LimitColumns {
        LimitColumns {
            rpm: self.rpm,
            rph: self.rph,
            rpd: self.rpd,
            tpm: self.tpm,
            tpd: self.tpd,
        }
    }

    pub fn fields(&self) -> ProviderFields {
        ProviderFields {
            name: self.name.clone(),
            display_name: self.display_name.clone(),
            base_url: self.base_url.clone(),
            keyless: self.keyless,
            enabled: self.enabled,
            priority: self.priority,
            timeout_ms: self.timeout_ms,
            limits: self.limits(),
            daily_reset_tz: self.daily_reset_tz.clone(),
        }
    }
}

fn provider_conflict(name: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!("provider {name:?}")),
        other => other,
    }
}

/// Providers in creation order (ids are UUIDv7), after `after`, at most `limit`.
pub async fn list_providers(
    pool: &PgPool,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ProviderRecord>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {PROVIDER_COLUMNS} FROM providers WHERE ($1::uuid IS NULL OR id > $1)
         ORDER BY id LIMIT $2"
    )))
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// A provider by id, or by name when `key` is not a UUID (or no provider has that id).
pub async fn find_provider(pool: &PgPool, key: &str) -> Result<Option<ProviderRecord>, StoreError> {
    let id = key.parse::<Uuid>().ok();
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {PROVIDER_COLUMNS} FROM providers WHERE id = $1 OR name = $2
         ORDER BY (id = $1) DESC NULLS LAST LIMIT 1"
    )))
    .bind(id)
    .bind(key)
    .fetch_optional(pool)
    .await?)
}

pub async fn create_provider(
    pool: &PgPool,
    actor: &str,
    fields: &ProviderFields,
) -> Result<ProviderRecord, StoreError> {
    let mut tx = pool.begin().await?;
    let row: ProviderRecord = sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO providers (id, name, display_name, base_url, keyless, enabled, priority,
                                timeout_ms, rpm, rph, rpd, tpm, tpd, daily_reset_tz)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         RETURNING {PROVIDER_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(&fields.name)
    .bind(&fields.display_name)
    .bind(&fields.base_url)
    .bind(fields.keyless)
    .bind(fields.enabled)
    .bind(fields.priority)
    .bind(fields.timeout_ms)
    .bind(fields.limits.rpm)
    .bind(fields.limits.rph)
    .bind(fields.limits.rpd)
    .bind(fields.limits.tpm)
    .bind(fields.limits.tpd)
    .bind(&fields.daily_reset_tz)
    .fetch_one(&mut *tx)
    .await
    .map_err(provider_conflict(&fields.name))?;
    let after = to_json(&row.fields());
    record(
        &mut tx,
        actor,
        "provider.create",
        "provider",
        row.id,
        None,
        Some(after),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// Reads the provider under a row lock, lets `apply` change its fields (and refuse), and
/// writes them back. An edit of a built-in row marks it `edited`, so catalog upgrades keep it.
pub async fn update_provider<E: From<StoreError>>(
    pool: &PgPool,
    actor: &str,
    id: Uuid,
    apply: impl FnOnce(&ProviderRecord, &mut ProviderFields) -> Result<(), E>,
) -> Result<Option<ProviderRecord>, E> {
    let mut tx = pool.begin().await.map_err(StoreError::from)?;
    let current: Option<ProviderRecord> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {PROVIDER_COLUMNS} FROM providers WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    let Some(current) = current else {
        return Ok(None);
    };
    let before = current.fields();
    let mut fields = before.clone();
    apply(&current, &mut fields)?;
    if fields == before {
        return Ok(Some(current));
    }
    let row: ProviderRecord = sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE providers SET name = $2, display_name = $3, base_url = $4, keyless = $5,
            enabled = $6, priority = $7, timeout_ms = $8, rpm = $9, rph = $10, rpd = $11,
            tpm = $12, tpd = $13, daily_reset_tz = $14,
            edited = edited OR origin = 'builtin', updated_at = now()
         WHERE id = $1 RETURNING {PROVIDER_COLUMNS}"
    )))
    .bind(id)
    .bind(&fields.name)
    .bind(&fields.display_name)
    .bind(&fields.base_url)
    .bind(fields.keyless)
    .bind(fields.enabled)
    .bind(fields.priority)
    .bind(fields.timeout_ms)
    .bind(fields.limits.rpm)
    .bind(fields.limits.rph)
    .bind(fields.limits.rpd)
    .bind(fields.limits.tpm)
    .bind(fields.limits.tpd)
    .bind(&fields.daily_reset_tz)
    .fetch_one(&mut *tx)
    .await
    .map_err(provider_conflict(&fields.name))?;
    record(
        &mut tx,
        actor,
        "provider.update",
        "provider",
        id,
        Some(to_json(&before)),
        Some(to_json(&fields)),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Some(row))
}

/// Deletes a custom provider with its models and credentials.
pub async fn delete_provider(pool: &PgPool, actor: &str, id: Uuid) -> Result<Deleted, StoreError> {
    let mut tx = pool.begin().await?;
    let current: Option<ProviderRecord> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {PROVIDER_COLUMNS} FROM providers WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(current) = current else {
        return Ok(Deleted::Missing);
    };
    if current.origin == "builtin" {
        return Ok(Deleted::Builtin);
    }
    sqlx::query("DELETE FROM providers WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let before = to_json(&current.fields());
    record(
        &mut tx,
        actor,
        "provider.delete",
        "provider",
        id,
        Some(before),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Deleted::Deleted)
}

// Models ---------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelFields {
    pub model_id: String,
    pub modality: String,
    pub supports_tools: bool,
    pub supports_vision: bool,
    pub supports_json: bool,
    pub context_window: Option<i32>,
    pub embedding_family: Option<String>,
    pub embedding_dimensions: Option<i32>,
    pub limits: LimitColumns,
    pub enabled: bool,
    pub priority: i32,
}

impl ModelRecord {
    pub fn limits(&self) -> LimitColumns {
        LimitColumns {
            rpm: self.rpm,
            rph: self.rph,
            rpd: self.rpd,
            tpm: self.tpm,
            tpd: self.tpd,
        }
    }

    pub fn fields(&self) -> ModelFields {
        ModelFields {
            model_id: self.model_id.clone(),
            modality: self.modality.clone(),
            supports_tools: self.supports_tools,
            supports_vision: self.supports_vision,
            supports_json: self.supports_json,
            context_window: self.context_window,
            embedding_family: self.embedding_family.clone(),
            embedding_dimensions: self.embedding_dimensions,
            limits: self.limits(),
            enabled: self.enabled,
            priority: self.priority,
        }
    }
}

pub async fn list_models(
    pool: &PgPool,
    provider: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ModelRecord>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {MODEL_COLUMNS} FROM models
         WHERE provider_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
    )))
    .bind(provider)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub async fn create_model(
    pool: &PgPool,
    actor: &str,
    provider: &ProviderRecord,
    fields: &ModelFields,
) -> Result<ModelRecord, StoreError> {
    let mut tx = pool.begin().await?;
    let row: ModelRecord = sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO models (id, provider_id, model_id, modality, supports_tools, supports_vision,
                             supports_json, context_window, embedding_family,
                             embedding_dimensions, rpm, rph, rpd, tpm, tpd, enabled, priority)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         RETURNING {MODEL_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(provider.id)
    .bind(&fields.model_id)
    .bind(&fields.modality)
    .bind(fields.supports_tools)
    .bind(fields.supports_vision)
    .bind(fields.supports_json)
    .bind(fields.context_window)
    .bind(&fields.embedding_family)
    .bind(fields.embedding_dimensions)
    .bind(fields.limits.rpm)
    .bind(fields.limits.rph)
    .bind(fields.limits.rpd)
    .bind(fields.limits.tpm)
    .bind(fields.limits.tpd)
    .bind(fields.enabled)
    .bind(fields.priority)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "model {:?} of provider {:?}",
            fields.model_id, provider.name
        )),
        other => other,
    })?;
    let mut after = to_json(&row.fields());
    after["provider"] = json!(provider.name);
    record(
        &mut tx,
        actor,
        "model.create",
        "model",
        row.id,
        None,
        Some(after),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// As [`update_provider`], for a model of `provider`.
pub async fn update_model<E: From<StoreError>>(
    pool: &PgPool,
    actor: &str,
    provider: Uuid,
    id: Uuid,
    apply: impl FnOnce(&ModelRecord, &mut ModelFields) -> Result<(), E>,
) -> Result<Option<ModelRecord>, E> {
    let mut tx = pool.begin().await.map_err(StoreError::from)?;
    let current: Option<ModelRecord> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {MODEL_COLUMNS} FROM models WHERE id = $1 AND provider_id = $2 FOR UPDATE"
    )))
    .bind(id)
    .bind(provider)
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    let Some(current) = current else {
        return Ok(None);
    };
    let before = current.fields();
    let mut fields = before.clone();
    apply(&current, &mut fields)?;
    if fields == before {
        return Ok(Some(current));
    }
    let row: ModelRecord = sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE models SET modality = $2, supports_tools = $3, supports_vision = $4,
            supports_json = $5, context_window = $6, embedding_family = $7,
            embedding_dimensions = $8, rpm = $9, rph = $10, rpd = $11, tpm = $12, tpd = $13,
            enabled = $14, priority = $15,
            edited = edited OR origin = 'builtin', updated_at = now()
         WHERE id = $1 RETURNING {MODEL_COLUMNS}"
    )))
    .bind(id)
    .bind(&fields.modality)
    .bind(fields.supports_tools)
    .bind(fields.supports_vision)
    .bind(fields.supports_json)
    .bind(fields.context_window)
    .bind(&fields.embedding_family)
    .bind(fields.embedding_dimensions)
    .bind(fields.limits.rpm)
    .bind(fields.limits.rph)
    .bind(fields.limits.rpd)
    .bind(fields.limits.tpm)
    .bind(fields.limits.tpd)
    .bind(fields.enabled)
    .bind(fields.priority)
    .fetch_one(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    record(
        &mut tx,
        actor,
        "model.update",
        "model",
        id,
        Some(to_json(&before)),
        Some(to_json(&fields)),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Some(row))
}

pub async fn delete_model(
    pool: &PgPool,
    actor: &str,
    provider: Uuid,
    id: Uuid,
) -> Result<Deleted, StoreError> {
    let mut tx = pool.begin().await?;
    let current: Option<ModelRecord> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {MODEL_COLUMNS} FROM models WHERE id = $1 AND provider_id = $2 FOR UPDATE"
    )))
    .bind(id)
    .bind(provider)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(current) = current else {
        return Ok(Deleted::Missing);
    };
    if current.origin == "builtin" {
        return Ok(Deleted::Builtin);
    }
    sqlx::query("DELETE FROM models WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let before = to_json(&current.fields());
    record(
        &mut tx,
        actor,
        "model.delete",
        "model",
        id,
        Some(before),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Deleted::Deleted)
}

// Credentials ----------------------------------------------------------------------------

/// A credential without its sealed secret.
#[derive(Debug, Clone, FromRow)]
pub struct CredentialRecord {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub name: String,
    pub last4: String,
    pub enabled: bool,
    pub priority: i32,
    pub rpm: Option<i32>,
    pub rph: Option<i32>,
    pub rpd: Option<i32>,
    pub tpm: Option<i64>,
    pub tpd: Option<i64>,
    pub key_version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialFields {
    pub name: String,
    pub enabled: bool,
    pub priority: i32,
    pub limits: LimitColumns,
}

impl CredentialRecord {
    pub fn limits(&self) -> LimitColumns {
        LimitColumns {
            rpm: self.rpm,
            rph: self.rph,
            rpd: self.rpd,
            tpm: self.tpm,
            tpd: self.tpd,
        }
    }

    pub fn fields(&self) -> CredentialFields {
        CredentialFields {
            name: self.name.clone(),
            enabled: self.enabled,
            priority: self.priority,
            limits: self.limits(),
        }
    }

    /// For the audit log: the secret is never there, and says so.
    fn audit(&self, fields: &CredentialFields) -> serde_json::Value {
        let mut value = to_json(fields);
        value["last4"] = json!(self.last4);
        value["secret"] = json!("<redacted>");
        value
    }
}

const CREDENTIAL_COLUMNS: &str = "id, provider_id, name, last4, enabled, priority,
    rpm, rph, rpd, tpm, tpd, key_version, created_at, updated_at";

pub async fn list_credentials(
    pool: &PgPool,
    provider: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<CredentialRecord>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials
         WHERE provider_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
    )))
    .bind(provider)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Stores a credential whose secret the caller sealed for row `id` (so that no lock on the
/// keyring is held while waiting on the database).
pub async fn create_credential(
    pool: &PgPool,
    actor: &str,
    provider: &ProviderRecord,
    id: Uuid,
    sealed: &SealedSecret,
    last4: &str,
    fields: &CredentialFields,
) -> Result<CredentialRecord, StoreError> {
    let mut tx = pool.begin().await?;
    let row: CredentialRecord = sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO credentials (id, provider_id, name, ciphertext, wrapped_key, key_version,
                                  last4, enabled, priority, rpm, rph, rpd, tpm, tpd)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         RETURNING {CREDENTIAL_COLUMNS}"
    )))
    .bind(id)
    .bind(provider.id)
    .bind(&fields.name)
    .bind(&sealed.ciphertext)
    .bind(&sealed.wrapped_key)
    .bind(sealed.key_version)
    .bind(last4)
    .bind(fields.enabled)
    .bind(fields.priority)
    .bind(fields.limits.rpm)
    .bind(fields.limits.rph)
    .bind(fields.limits.rpd)
    .bind(fields.limits.tpm)
    .bind(fields.limits.tpd)
    .fetch_one(&mut *tx)
    .await?;
    let mut after = row.audit(fields);
    after["provider"] = json!(provider.name);
    record(
        &mut tx,
        actor,
        "credential.create",
        "credential",
        id,
        None,
        Some(after),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn find_credential(
    pool: &PgPool,
    provider: Uuid,
    id: Uuid,
) -> Result<Option<CredentialRecord>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE id = $1 AND provider_id = $2"
    )))
    .bind(id)
    .bind(provider)
    .fetch_optional(pool)
    .await?)
}

/// The sealed secret of a credential of `provider`, to open for a test call.
pub async fn sealed_secret(
    pool: &PgPool,
    provider: Uuid,
    id: Uuid,
) -> Result<Option<SealedSecret>, StoreError> {
    let row: Option<(Vec<u8>, Vec<u8>, i32)> = sqlx::query_as(
        "SELECT ciphertext, wrapped_key, key_version FROM credentials
         WHERE id = $1 AND provider_id = $2",
    )
    .bind(id)
    .bind(provider)
    .fetch_optional(pool)
    .await?;
    Ok(
        row.map(|(ciphertext, wrapped_key, key_version)| SealedSecret {
            ciphertext,
            wrapped_key,
            key_version,
        }),
    )
}

/// As [`update_provider`], for a credential of `provider`; the secret is not touched.
pub async fn update_credential<E: From<StoreError>>(
    pool: &PgPool,
    actor: &str,
    provider: Uuid,
    id: Uuid,
    apply: impl FnOnce(&CredentialRecord, &mut CredentialFields) -> Result<(), E>,
) -> Result<Option<CredentialRecord>, E> {
    let mut tx = pool.begin().await.map_err(StoreError::from)?;
    let current: Option<CredentialRecord> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE id = $1 AND provider_id = $2
         FOR UPDATE"
    )))
    .bind(id)
    .bind(provider)
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    let Some(current) = current else {
        return Ok(None);
    };
    let before = current.fields();
    let mut fields = before.clone();
    apply(&current, &mut fields)?;
    if fields == before {
        return Ok(Some(current));
    }
    let row: CredentialRecord = sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE credentials SET name = $2, enabled = $3, priority = $4, rpm = $5, rph = $6,
            rpd = $7, tpm = $8, tpd = $9, updated_at = now()
         WHERE id = $1 RETURNING {CREDENTIAL_COLUMNS}"
    )))
    .bind(id)
    .bind(&fields.name)
    .bind(fields.enabled)
    .bind(fields.priority)
    .bind(fields.limits.rpm)
    .bind(fields.limits.rph)
    .bind(fields.limits.rpd)
    .bind(fields.limits.tpm)
    .bind(fields.limits.tpd)
    .fetch_one(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    record(
        &mut tx,
        actor,
        "credential.update",
        "credential",
        id,
        Some(current.audit(&before)),
        Some(current.audit(&fields)),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Some(row))
}

pub async fn delete_credential(
    pool: &PgPool,
    actor: &str,
    provider: Uuid,
    id: Uuid,
) -> Result<Deleted, StoreError> {
    let mut tx = pool.begin().await?;
    let current: Option<CredentialRecord> = sqlx::query_as(AssertSqlSafe(format!(
        "DELETE FROM credentials WHERE id = $1 AND provider_id = $2
         RETURNING {CREDENTIAL_COLUMNS}"
    )))
    .bind(id)
    .bind(provider)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(current) = current else {
        return Ok(Deleted::Missing);
    };
    let before = current.audit(&current.fields());
    record(
        &mut tx,
        actor,
        "credential.delete",
        "credential",
        id,
        Some(before),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Deleted::Deleted)
}

// Routing profiles -----------------------------------------------------------------------

/// Deletes a routing profile; `false` when there was none.
pub async fn delete_profile(pool: &PgPool, actor: &str, name: &str) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    let deleted: Option<(Uuid, bool)> = sqlx::query_as(
        "DELETE FROM routing_profiles WHERE name = $1 RETURNING id, context_handoff",
    )
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, handoff)) = deleted else {
        return Ok(false);
    };
    record(
        &mut tx,
        actor,
        "routing_profile.delete",
        "routing_profile",
        id,
        Some(json!({ "name": name, "context_handoff": handoff })),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

// Cooldowns ------------------------------------------------------------------------------

#[derive(Debug, Clone, FromRow)]
pub struct CooldownRecord {
    pub scope: String,
    pub scope_key: String,
    pub until: DateTime<Utc>,
    pub reason: String,
    pub strikes: i32,
    pub created_at: DateTime<Utc>,
}

pub async fn active_cooldowns(pool: &PgPool) -> Result<Vec<CooldownRecord>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT scope, scope_key, until, reason, strikes, created_at FROM cooldowns
         WHERE until > now() ORDER BY until DESC, scope_key",
    )
    .fetch_all(pool)
    .await?)
}

/// Deletes every persisted cooldown; returns how many were still running.
pub async fn clear_cooldowns(pool: &PgPool, actor: &str) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    let active: i64 = sqlx::query_scalar("SELECT count(*) FROM cooldowns WHERE until > now()")
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM cooldowns")
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "cooldowns.clear",
            target_kind: "cooldown",
            target_id: None,
            tenant_id: None,
            before: Some(json!({ "active": active })),
            after: Some(json!({ "active": 0 })),
        },
    )
    .await?;
    // Its own word: instances that learn to clear their in-memory cooldowns on it can tell
    // it from a catalog change; until then it triggers an ordinary reload.
    notify_change(&mut *tx, "cooldowns").await?;
    tx.commit().await?;
    Ok(u64::try_from(active).unwrap_or(0))
}
