//! Tenants, members and api keys.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{AssertSqlSafe, FromRow, PgPool};
use uuid::Uuid;

use super::audit::{self, AuditEntry};
use super::{StoreError, notify_change};
use crate::crypto::api_key::NewApiKey;

#[derive(Debug, Clone, FromRow)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow)]
pub struct Member {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub role: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// An api key as the admin sees it: no secret, no digest.
#[derive(Debug, Clone, FromRow)]
pub struct ApiKeyInfo {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub member_id: Uuid,
    pub name: String,
    pub display_prefix: String,
    pub allowed_models: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Set when the key was rotated: it expires at the end of the overlap.
    pub replaced_by: Option<Uuid>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// What authentication needs of a key, loaded into memory at start and on change.
#[derive(Clone, FromRow)]
pub struct ApiKeyAuthRow {
    pub id: Uuid,
    pub public_id: String,
    pub secret_sha256: Vec<u8>,
    pub tenant_id: Uuid,
    pub member_id: Uuid,
    pub allowed_models: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub tenant_disabled: bool,
    pub member_disabled: bool,
}

pub async fn create_tenant(pool: &PgPool, actor: &str, name: &str) -> Result<Tenant, StoreError> {
    let mut tx = pool.begin().await?;
    let tenant: Tenant = sqlx::query_as(
        "INSERT INTO tenants (id, name) VALUES ($1, $2)
         RETURNING id, name, disabled, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(name)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| conflict_as(e, format!("tenant {name:?}")))?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "tenant.create",
            target_kind: "tenant",
            target_id: Some(tenant.id.to_string()),
            tenant_id: Some(tenant.id),
            before: None,
            after: Some(json!({ "name": tenant.name })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(tenant)
}

pub async fn list_tenants(pool: &PgPool) -> Result<Vec<Tenant>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, name, disabled, created_at FROM tenants ORDER BY name")
            .fetch_all(pool)
            .await?,
    )
}

pub async fn count_tenants(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM tenants")
        .fetch_one(pool)
        .await?)
}

pub async fn find_tenant(pool: &PgPool, name: &str) -> Result<Tenant, StoreError> {
    sqlx::query_as("SELECT id, name, disabled, created_at FROM tenants WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("tenant {name:?}")))
}

pub async fn create_member(
    pool: &PgPool,
    actor: &str,
    tenant: &Tenant,
    name: &str,
    email: Option<&str>,
    role: &str,
) -> Result<Member, StoreError> {
    let mut tx = pool.begin().await?;
    let member: Member = sqlx::query_as(
        "INSERT INTO members (id, tenant_id, name, email, role) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, tenant_id, name, email, role, disabled, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(tenant.id)
    .bind(name)
    .bind(email)
    .bind(role)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| conflict_as(e, format!("member {name:?} in tenant {:?}", tenant.name)))?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "member.create",
            target_kind: "member",
            target_id: Some(member.id.to_string()),
            tenant_id: Some(tenant.id),
            before: None,
            after: Some(json!({ "name": member.name, "email": member.email, "role": member.role })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(member)
}

pub async fn find_member(pool: &PgPool, tenant: &Tenant, name: &str) -> Result<Member, StoreError> {
    sqlx::query_as(
        "SELECT id, tenant_id, name, email, role, disabled, created_at
         FROM members WHERE tenant_id = $1 AND name = $2",
    )
    .bind(tenant.id)
    .bind(name)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("member {name:?} in tenant {:?}", tenant.name)))
}

pub async fn list_members(pool: &PgPool, tenant: &Tenant) -> Result<Vec<Member>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, tenant_id, name, email, role, disabled, created_at
         FROM members WHERE tenant_id = $1 ORDER BY name",
    )
    .bind(tenant.id)
    .fetch_all(pool)
    .await?)
}

pub struct NewKeyRow<'a> {
    pub member: &'a Member,
    pub name: &'a str,
    pub key: &'a NewApiKey,
    pub allowed_models: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub(crate) const KEY_INFO_COLUMNS: &str =
    "id, tenant_id, member_id, name, display_prefix, allowed_models,
    expires_at, revoked_at, replaced_by, last_used_at, created_at";
pub(crate) const TENANT_COLUMNS: &str = "id, name, disabled, created_at";
pub(crate) const MEMBER_COLUMNS: &str = "id, tenant_id, name, email, role, disabled, created_at";

pub async fn create_api_key(
    pool: &PgPool,
    actor: &str,
    new: NewKeyRow<'_>,
) -> Result<ApiKeyInfo, StoreError> {
    let mut tx = pool.begin().await?;
    let info: ApiKeyInfo = sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO api_keys (id, tenant_id, member_id, name, public_id, secret_sha256,
                               display_prefix, allowed_models, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING {KEY_INFO_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(new.member.tenant_id)
    .bind(new.member.id)
    .bind(new.name)
    .bind(&new.key.public_id)
    .bind(&new.key.secret_sha256[..])
    .bind(new.key.display_prefix())
    .bind(&new.allowed_models)
    .bind(new.expires_at)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "api_key.create",
            target_kind: "api_key",
            target_id: Some(info.id.to_string()),
            tenant_id: Some(info.tenant_id),
            before: None,
            after: Some(json!({
                "member_id": info.member_id,
                "name": info.name,
                "display_prefix": info.display_prefix,
                "allowed_models": info.allowed_models,
                "expires_at": info.expires_at,
            })),
        },
    )
    .await?;
    notify_change(&mut *tx, "api_keys").await?;
    tx.commit().await?;
    Ok(info)
}

/// Revokes the key whose display prefix (`fw-<public id>`) or public id is given.
/// Revoking a revoked key changes nothing and succeeds.
pub async fn revoke_api_key(
    pool: &PgPool,
    actor: &str,
    prefix_or_id: &str,
) -> Result<ApiKeyInfo, StoreError> {
    let public_id = prefix_or_id
        .strip_prefix(crate::crypto::api_key::PREFIX)
        .and_then(|rest| rest.strip_prefix('-'))
        .unwrap_or(prefix_or_id);
    let mut tx = pool.begin().await?;
    let info: ApiKeyInfo = sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
         WHERE public_id = $1 RETURNING {KEY_INFO_COLUMNS}"
    )))
    .bind(public_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("api key {prefix_or_id:?}")))?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "api_key.revoke",
            target_kind: "api_key",
            target_id: Some(info.id.to_string()),
            tenant_id: Some(info.tenant_id),
            before: None,
            after: Some(json!({ "revoked_at": info.revoked_at })),
        },
    )
    .await?;
    notify_change(&mut *tx, "api_keys").await?;
    tx.commit().await?;
    Ok(info)
}

pub async fn list_api_keys(pool: &PgPool, tenant: &Tenant) -> Result<Vec<ApiKeyInfo>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {KEY_INFO_COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at"
    )))
    .bind(tenant.id)
    .fetch_all(pool)
    .await?)
}

/// The key of `tenant` whose display prefix (`fw-<public id>`) or public id is given.
pub async fn find_api_key(
    pool: &PgPool,
    tenant: &Tenant,
    prefix_or_id: &str,
) -> Result<ApiKeyInfo, StoreError> {
    let public_id = prefix_or_id
        .strip_prefix(crate::crypto::api_key::PREFIX)
        .and_then(|rest| rest.strip_prefix('-'))
        .unwrap_or(prefix_or_id);
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {KEY_INFO_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND public_id = $2"
    )))
    .bind(tenant.id)
    .bind(public_id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| {
        StoreError::NotFound(format!(
            "api key {prefix_or_id:?} in tenant {:?}",
            tenant.name
        ))
    })
}

/// Every key with what authentication needs, revoked ones included so that their holders
/// are told the key was revoked rather than unknown.
pub async fn load_api_keys_for_auth(pool: &PgPool) -> Result<Vec<ApiKeyAuthRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT k.id, k.public_id, k.secret_sha256, k.tenant_id, k.member_id, k.allowed_models,
                k.expires_at, k.revoked_at, t.disabled AS tenant_disabled,
                m.disabled AS member_disabled
         FROM api_keys k
         JOIN tenants t ON t.id = k.tenant_id
         JOIN members m ON m.id = k.member_id",
    )
    .fetch_all(pool)
    .await?)
}

/// The limits of one quota as stored: `None` is no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaColumns {
    pub rpm: Option<i32>,
    pub rpd: Option<i32>,
    pub tpm: Option<i64>,
    pub tpd: Option<i64>,
    pub tokens_per_month: Option<i64>,
    pub allowed_models: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, FromRow)]
pub struct QuotaRow {
    pub id: Uuid,
    pub scope: String,
    pub scope_id: Uuid,
    pub rpm: Option<i32>,
    pub rpd: Option<i32>,
    pub tpm: Option<i64>,
    pub tpd: Option<i64>,
    pub tokens_per_month: Option<i64>,
    pub allowed_models: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const QUOTA_COLUMNS: &str = "id, scope, scope_id, rpm, rpd, tpm, tpd, tokens_per_month,
    allowed_models, expires_at, created_at, updated_at";

fn quota_json(row: &QuotaRow) -> serde_json::Value {
    json!({
        "scope": row.scope,
        "scope_id": row.scope_id,
        "rpm": row.rpm,
        "rpd": row.rpd,
        "tpm": row.tpm,
        "tpd": row.tpd,
        "tokens_per_month": row.tokens_per_month,
        "allowed_models": row.allowed_models,
        "expires_at": row.expires_at,
    })
}

/// Sets the quota of a tenant, member or api key (`scope` is `tenant`, `member` or
/// `api_key`), replacing any it had. Every instance applies it within a second.
pub async fn set_quota(
    pool: &PgPool,
    actor: &str,
    scope: &str,
    scope_id: Uuid,
    columns: QuotaColumns,
) -> Result<QuotaRow, StoreError> {
    let mut tx = pool.begin().await?;
    // The tenant the scope belongs to, which also proves the scope exists.
    let tenant_id: Option<Uuid> = sqlx::query_scalar(
        "SELECT CASE $1
             WHEN 'tenant' THEN (SELECT id FROM tenants WHERE id = $2)
             WHEN 'member' THEN (SELECT tenant_id FROM members WHERE id = $2)
             WHEN 'api_key' THEN (SELECT tenant_id FROM api_keys WHERE id = $2)
         END",
    )
    .bind(scope)
    .bind(scope_id)
    .fetch_one(&mut *tx)
    .await?;
    let Some(tenant_id) = tenant_id else {
        return Err(StoreError::NotFound(format!("{scope} {scope_id}")));
    };
    let before: Option<QuotaRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {QUOTA_COLUMNS} FROM quotas WHERE scope = $1 AND scope_id = $2 FOR UPDATE"
    )))
    .bind(scope)
    .bind(scope_id)
    .fetch_optional(&mut *tx)
    .await?;
    let row: QuotaRow = sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO quotas (id, scope, scope_id, rpm, rpd, tpm, tpd, tokens_per_month,
                             allowed_models, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (scope, scope_id) DO UPDATE
         SET rpm = $4, rpd = $5, tpm = $6, tpd = $7, tokens_per_month = $8,
             allowed_models = $9, expires_at = $10, updated_at = now()
         RETURNING {QUOTA_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(scope)
    .bind(scope_id)
    .bind(columns.rpm)
    .bind(columns.rpd)
    .bind(columns.tpm)
    .bind(columns.tpd)
    .bind(columns.tokens_per_month)
    .bind(&columns.allowed_models)
    .bind(columns.expires_at)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "quota.set",
            target_kind: "quota",
            target_id: Some(row.id.to_string()),
            tenant_id: Some(tenant_id),
            before: before.as_ref().map(quota_json),
            after: Some(quota_json(&row)),
        },
    )
    .await?;
    notify_change(&mut *tx, "quotas").await?;
    tx.commit().await?;
    Ok(row)
}

/// The quotas of a tenant, its members and their api keys.
pub async fn list_quotas(pool: &PgPool, tenant: &Tenant) -> Result<Vec<QuotaRow>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {QUOTA_COLUMNS} FROM quotas
         WHERE (scope = 'tenant' AND scope_id = $1)
            OR (scope = 'member' AND scope_id IN (SELECT id FROM members WHERE tenant_id = $1))
            OR (scope = 'api_key' AND scope_id IN (SELECT id FROM api_keys WHERE tenant_id = $1))
         ORDER BY CASE scope WHEN 'tenant' THEN 0 WHEN 'member' THEN 1 ELSE 2 END, created_at"
    )))
    .bind(tenant.id)
    .fetch_all(pool)
    .await?)
}

/// Every quota, for the in-memory ledger.
pub async fn load_quotas(pool: &PgPool) -> Result<Vec<QuotaRow>, StoreError> {
    Ok(
        sqlx::query_as(AssertSqlSafe(format!("SELECT {QUOTA_COLUMNS} FROM quotas")))
            .fetch_all(pool)
            .await?,
    )
}

/// What one tenant, member or api key used of the current UTC day and month.
#[derive(Debug, Clone, FromRow)]
pub struct QuotaUsageRow {
    pub scope: String,
    pub scope_id: Uuid,
    pub day_requests: i64,
    pub day_tokens: i64,
    pub month_tokens: i64,
}

/// Usage per scope since the start of the UTC month, aggregated by Postgres: what the quota
/// ledger replays after a restart. Only requests that were served count, as in the ledger.
pub async fn quota_usage(pool: &PgPool) -> Result<Vec<QuotaUsageRow>, StoreError> {
    Ok(sqlx::query_as(
        "WITH bounds AS (
             SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month,
                    date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day
         ), served AS (
             SELECT e.tenant_id, e.member_id, e.api_key_id, e.created_at >= b.day AS today,
                    coalesce(e.prompt_tokens, 0)::bigint
                        + coalesce(e.completion_tokens, 0)::bigint AS tokens
             FROM usage_events e, bounds b
             WHERE e.created_at >= b.month AND e.status BETWEEN 200 AND 299
         ), scoped AS (
             SELECT 'tenant' AS scope, tenant_id AS scope_id, today, tokens FROM served
             UNION ALL SELECT 'member', member_id, today, tokens FROM served
             UNION ALL SELECT 'api_key', api_key_id, today, tokens FROM served
         )
         SELECT scope, scope_id,
                count(*) FILTER (WHERE today) AS day_requests,
                coalesce(sum(tokens) FILTER (WHERE today), 0)::bigint AS day_tokens,
                coalesce(sum(tokens), 0)::bigint AS month_tokens
         FROM scoped WHERE scope_id IS NOT NULL
         GROUP BY scope, scope_id",
    )
    .fetch_all(pool)
    .await?)
}

fn conflict_as(error: sqlx::Error, what: String) -> StoreError {
    match StoreError::from(error) {
        StoreError::Conflict(_) => StoreError::Conflict(what),
        other => other,
    }
}
