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

const KEY_INFO_COLUMNS: &str = "id, tenant_id, member_id, name, display_prefix, allowed_models,
    expires_at, revoked_at, last_used_at, created_at";

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

fn conflict_as(error: sqlx::Error, what: String) -> StoreError {
    match StoreError::from(error) {
        StoreError::Conflict(_) => StoreError::Conflict(what),
        other => other,
    }
}
