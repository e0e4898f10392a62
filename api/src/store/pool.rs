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
    pub display_name: String,
    pub base_url: String,
    pub keyless: bool,
    pub enabled: bool,
    pub priority: i32,
    pub timeout_ms: i32,
    pub rpm: Option<i32>,
    pub rph: Option<i32>,
    pub rpd: Option<i32>,
    pub tpm: Option<i64>,
    pub tpd: Option<i64>,
    pub daily_reset_tz: String,
    /// `builtin` (from the shipped catalog) or `custom`.
    pub origin: String,
    /// An admin changed this built-in row; catalog upgrades leave it alone.
    pub edited: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
    pub embedding_family: Option<String>,
    pub embedding_dimensions: Option<i32>,
    pub rpm: Option<i32>,
    pub rph: Option<i32>,
    pub rpd: Option<i32>,
    pub tpm: Option<i64>,
    pub tpd: Option<i64>,
    pub enabled: bool,
    pub priority: i32,
    pub origin: String,
    pub edited: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
    pub limits: [Option<i64>; 5],
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
    rpm: Option<i32>,
    rph: Option<i32>,
    rpd: Option<i32>,
    tpm: Option<i64>,
    tpd: Option<i64>,
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
            limits: [
                row.rpm.map(i64::from),
                row.rph.map(i64::from),
                row.rpd.map(i64::from),
                row.tpm,
                row.tpd,
            ],
            created_at: row.created_at,
        }
    }
}

pub(crate) const PROVIDER_COLUMNS: &str =
    "id, name, display_name, base_url, keyless, enabled, priority,
    timeout_ms, rpm, rph, rpd, tpm, tpd, daily_reset_tz, origin, edited, created_at, updated_at";
pub(crate) const MODEL_COLUMNS: &str =
    "id, provider_id, model_id, modality, supports_tools, supports_vision,
    supports_json, context_window, embedding_family, embedding_dimensions,
    rpm, rph, rpd, tpm, tpd, enabled, priority, origin, edited, created_at, updated_at";
const CREDENTIAL_COLUMNS: &str = "id, provider_id, name, ciphertext, wrapped_key, key_version,
    last4, enabled, priority, rpm, rph, rpd, tpm, tpd, created_at";

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

/// Limit overrides on single routes.
#[derive(Debug, Clone, FromRow)]
pub struct RouteLimitRow {
    pub model_id: Uuid,
    pub credential_id: Uuid,
    pub rpm: Option<i32>,
    pub rph: Option<i32>,
    pub rpd: Option<i32>,
    pub tpm: Option<i64>,
    pub tpd: Option<i64>,
}

pub async fn list_route_limits(pool: &PgPool) -> Result<Vec<RouteLimitRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT model_id, credential_id, rpm, rph, rpd, tpm, tpd FROM route_limits")
            .fetch_all(pool)
            .await?,
    )
}

/// A routing profile (an alias such as `auto`) and its models in order.
#[derive(Debug, Clone)]
pub struct ProfileRow {
    pub name: String,
    pub context_handoff: bool,
    pub models: Vec<Uuid>,
}

pub async fn list_profiles(pool: &PgPool) -> Result<Vec<ProfileRow>, StoreError> {
    let rows: Vec<(String, bool, Option<Uuid>)> = sqlx::query_as(
        "SELECT p.name, p.context_handoff, e.model_id
         FROM routing_profiles p LEFT JOIN routing_profile_entries e ON e.profile_id = p.id
         ORDER BY p.name, e.position",
    )
    .fetch_all(pool)
    .await?;
    let mut profiles: Vec<ProfileRow> = Vec::new();
    for (name, handoff, model) in rows {
        if profiles.last().is_none_or(|p| p.name != name) {
            profiles.push(ProfileRow {
                name: name.clone(),
                context_handoff: handoff,
                models: Vec::new(),
            });
        }
        if let (Some(profile), Some(model)) = (profiles.last_mut(), model) {
            profile.models.push(model);
        }
    }
    Ok(profiles)
}

/// Creates or replaces a routing profile with `models` (their row ids) in order.
pub async fn put_profile(
    pool: &PgPool,
    actor: &str,
    name: &str,
    context_handoff: bool,
    models: &[Uuid],
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO routing_profiles (id, name, context_handoff) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET context_handoff = $3, updated_at = now()
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(context_handoff)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM routing_profile_entries WHERE profile_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    for (position, model) in models.iter().enumerate() {
        sqlx::query(
            "INSERT INTO routing_profile_entries (profile_id, position, model_id) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(i32::try_from(position).unwrap_or(i32::MAX))
        .bind(model)
        .execute(&mut *tx)
        .await?;
    }
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "routing_profile.put",
            target_kind: "routing_profile",
            target_id: Some(id.to_string()),
            tenant_id: None,
            before: None,
            after: Some(
                json!({ "name": name, "context_handoff": context_handoff, "models": models }),
            ),
        },
    )
    .await?;
    notify_change(&mut *tx, "pool").await?;
    tx.commit().await?;
    Ok(())
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

/// Limit columns as stored: `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LimitColumns {
    pub rpm: Option<i32>,
    pub rph: Option<i32>,
    pub rpd: Option<i32>,
    pub tpm: Option<i64>,
    pub tpd: Option<i64>,
}

/// Which rows carry limits.
#[derive(Debug, Clone, Copy)]
pub enum LimitTarget {
    Provider(Uuid),
    Model(Uuid),
    Credential(Uuid),
    Route { model: Uuid, credential: Uuid },
}

/// Sets the limits of a provider account, a model (the default for its routes), a
/// credential, or one route.
pub async fn set_limits(
    pool: &PgPool,
    actor: &str,
    target: LimitTarget,
    limits: LimitColumns,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let (kind, id, result) = match target {
        LimitTarget::Route { model, credential } => {
            let result = sqlx::query(
                "INSERT INTO route_limits (model_id, credential_id, rpm, rph, rpd, tpm, tpd)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (model_id, credential_id)
                 DO UPDATE SET rpm = $3, rph = $4, rpd = $5, tpm = $6, tpd = $7",
            )
            .bind(model)
            .bind(credential)
            .bind(limits.rpm)
            .bind(limits.rph)
            .bind(limits.rpd)
            .bind(limits.tpm)
            .bind(limits.tpd)
            .execute(&mut *tx)
            .await?;
            ("route", format!("{model}:{credential}"), result)
        }
        LimitTarget::Provider(id) | LimitTarget::Model(id) | LimitTarget::Credential(id) => {
            let (kind, table) = match target {
                LimitTarget::Provider(_) => ("provider", "providers"),
                LimitTarget::Model(_) => ("model", "models"),
                _ => ("credential", "credentials"),
            };
            let result = sqlx::query(AssertSqlSafe(format!(
                "UPDATE {table} SET rpm = $2, rph = $3, rpd = $4, tpm = $5, tpd = $6,
                    {edited} updated_at = now() WHERE id = $1",
                // An admin's limits on a built-in row survive catalog upgrades.
                edited = if table == "credentials" {
                    ""
                } else {
                    "edited = true,"
                }
            )))
            .bind(id)
            .bind(limits.rpm)
            .bind(limits.rph)
            .bind(limits.rpd)
            .bind(limits.tpm)
            .bind(limits.tpd)
            .execute(&mut *tx)
            .await?;
            (kind, id.to_string(), result)
        }
    };
    if result.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("{kind} {id}")));
    }
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "limits.set",
            target_kind: kind,
            target_id: Some(id),
            tenant_id: None,
            before: None,
            after: Some(json!(limits)),
        },
    )
    .await?;
    notify_change(&mut *tx, "pool").await?;
    tx.commit().await?;
    Ok(())
}

/// Marks a model as an embedding model of `family` with `dimensions`.
pub async fn set_embedding_family(
    pool: &PgPool,
    model: Uuid,
    family: &str,
    dimensions: i32,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE models SET modality = 'embedding', embedding_family = $2,
            embedding_dimensions = $3, edited = true, updated_at = now() WHERE id = $1",
    )
    .bind(model)
    .bind(family)
    .bind(dimensions)
    .execute(&mut *tx)
    .await?;
    notify_change(&mut *tx, "pool").await?;
    tx.commit().await?;
    Ok(())
}

/// Persisted cooldowns, so that a restart does not hammer a benched key.
pub async fn save_cooldown(
    pool: &PgPool,
    scope: &str,
    scope_key: &str,
    until: DateTime<Utc>,
    reason: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO cooldowns (scope, scope_key, until, reason) VALUES ($1, $2, $3, $4)
         ON CONFLICT (scope, scope_key) DO UPDATE
         SET until = greatest(cooldowns.until, $3), reason = $4, strikes = cooldowns.strikes + 1",
    )
    .bind(scope)
    .bind(scope_key)
    .bind(until)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn active_cooldowns(
    pool: &PgPool,
) -> Result<Vec<(String, DateTime<Utc>, String)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT scope_key, until, reason FROM cooldowns WHERE until > now()")
            .fetch_all(pool)
            .await?,
    )
}

/// Requests of the last 24 hours, to rebuild the usage windows after a restart.
#[derive(Debug, Clone, FromRow)]
pub struct RecentUse {
    pub created_at: DateTime<Utc>,
    pub attempt_trail: serde_json::Value,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
}

pub async fn recent_usage(pool: &PgPool) -> Result<Vec<RecentUse>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT created_at, attempt_trail, prompt_tokens, completion_tokens FROM usage_events
         WHERE created_at > now() - interval '24 hours' AND attempts > 0
         ORDER BY created_at",
    )
    .fetch_all(pool)
    .await?)
}

/// Saves what the router learned about a scope's limits.
pub async fn save_learned(
    pool: &PgPool,
    scope: &str,
    scope_key: &str,
    limits: LimitColumns,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO learned_limits (scope, scope_key, rpm, rph, rpd, tpm, tpd) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (scope, scope_key) DO UPDATE
         SET rpm = $3, rph = $4, rpd = $5, tpm = $6, tpd = $7, learned_at = now()",
    )
    .bind(scope)
    .bind(scope_key)
    .bind(limits.rpm)
    .bind(limits.rph)
    .bind(limits.rpd)
    .bind(limits.tpm)
    .bind(limits.tpd)
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct LearnedRow {
    pub scope_key: String,
    pub rpm: Option<i32>,
    pub rph: Option<i32>,
    pub rpd: Option<i32>,
    pub tpm: Option<i64>,
    pub tpd: Option<i64>,
    pub learned_at: DateTime<Utc>,
}

pub async fn learned_limits(pool: &PgPool) -> Result<Vec<LearnedRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT scope_key, rpm, rph, rpd, tpm, tpd, learned_at FROM learned_limits ORDER BY scope_key",
    )
    .fetch_all(pool)
    .await?)
}
