//! What the admin API needs of tenants, members, api keys and quotas beyond `tenancy`:
//! lookups by id within their parent, cursor pages, updates, deletes and key rotation.
//! Every change is audited and announced in the same transaction.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

use super::audit::{self, AuditEntry};
use super::tenancy::{Member, NewKeyRow, QuotaRow, Tenant};
use super::{StoreError, notify_change};
use crate::crypto::api_key::NewApiKey;

use super::tenancy::{KEY_INFO_COLUMNS as KEY_COLUMNS, MEMBER_COLUMNS, TENANT_COLUMNS};
const QUOTA_COLUMNS: &str = "id, scope, scope_id, rpm, rpd, tpm, tpd, tokens_per_month,
    allowed_models, expires_at, created_at, updated_at";

/// An api key as the admin API shows it: no secret, no digest.
pub use super::tenancy::ApiKeyInfo as KeyRow;

fn tenant_json(t: &Tenant) -> serde_json::Value {
    json!({ "name": t.name, "disabled": t.disabled })
}

fn member_json(m: &Member) -> serde_json::Value {
    json!({ "name": m.name, "email": m.email, "role": m.role, "disabled": m.disabled })
}

fn key_json(k: &KeyRow) -> serde_json::Value {
    json!({
        "member_id": k.member_id,
        "name": k.name,
        "display_prefix": k.display_prefix,
        "allowed_models": k.allowed_models,
        "expires_at": k.expires_at,
        "revoked_at": k.revoked_at,
        "replaced_by": k.replaced_by,
    })
}

fn quota_json(row: &QuotaRow) -> serde_json::Value {
    json!({
        "scope": row.scope, "scope_id": row.scope_id, "rpm": row.rpm, "rpd": row.rpd,
        "tpm": row.tpm, "tpd": row.tpd, "tokens_per_month": row.tokens_per_month,
        "allowed_models": row.allowed_models, "expires_at": row.expires_at,
    })
}

fn conflict_as(error: sqlx::Error, what: String) -> StoreError {
    match StoreError::from(error) {
        StoreError::Conflict(_) => StoreError::Conflict(what),
        other => other,
    }
}

// Tenants ------------------------------------------------------------------------------

/// Tenants in id (creation) order after `cursor`; `limit` rows at most.
pub async fn list_tenants(
    pool: &PgPool,
    cursor: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Tenant>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {TENANT_COLUMNS} FROM tenants WHERE ($1::uuid IS NULL OR id > $1)
         ORDER BY id LIMIT $2"
    )))
    .bind(cursor)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub async fn get_tenant(pool: &PgPool, id: Uuid) -> Result<Option<Tenant>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// Renames or disables a tenant; `None` leaves a field as it is.
pub async fn update_tenant(
    pool: &PgPool,
    actor: &str,
    id: Uuid,
    name: Option<&str>,
    disabled: Option<bool>,
) -> Result<Tenant, StoreError> {
    let mut tx = pool.begin().await?;
    let before: Tenant = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::NotFound("tenant".into()))?;
    let after: Tenant = sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE tenants SET name = coalesce($2, name), disabled = coalesce($3, disabled),
             updated_at = now()
         WHERE id = $1 RETURNING {TENANT_COLUMNS}"
    )))
    .bind(id)
    .bind(name)
    .bind(disabled)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| conflict_as(e, format!("tenant {:?}", name.unwrap_or_default())))?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "tenant.update",
            target_kind: "tenant",
            target_id: Some(id.to_string()),
            tenant_id: Some(id),
            before: Some(tenant_json(&before)),
            after: Some(tenant_json(&after)),
        },
    )
    .await?;
    // A disabled tenant's keys stop working.
    notify_change(&mut *tx, "api_keys").await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes a tenant with its members, keys, admin users and quotas. `false` when it was
/// already gone.
pub async fn delete_tenant(pool: &PgPool, actor: &str, id: Uuid) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    let before: Option<Tenant> = sqlx::query_as(AssertSqlSafe(format!(
        "DELETE FROM tenants WHERE id = $1 RETURNING {TENANT_COLUMNS}"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before else {
        return Ok(false);
    };
    // Members and keys went with the tenant (ON DELETE CASCADE); their quotas have no
    // foreign key, so they go here: those whose owner no longer exists.
    sqlx::query(
        "DELETE FROM quotas q WHERE (q.scope = 'tenant' AND q.scope_id = $1)
            OR (q.scope = 'member' AND NOT EXISTS (SELECT 1 FROM members m WHERE m.id = q.scope_id))
            OR (q.scope = 'api_key' AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.id = q.scope_id))",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "tenant.delete",
            target_kind: "tenant",
            target_id: Some(id.to_string()),
            tenant_id: Some(id),
            before: Some(tenant_json(&before)),
            after: None,
        },
    )
    .await?;
    notify_change(&mut *tx, "api_keys").await?;
    notify_change(&mut *tx, "quotas").await?;
    tx.commit().await?;
    Ok(true)
}

// Members ------------------------------------------------------------------------------

pub async fn list_members(
    pool: &PgPool,
    tenant_id: Uuid,
    cursor: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Member>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {MEMBER_COLUMNS} FROM members
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
    )))
    .bind(tenant_id)
    .bind(cursor)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// The member `id` of tenant `tenant_id`: a member of another tenant is not found.
pub async fn get_member(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<Member>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {MEMBER_COLUMNS} FROM members WHERE tenant_id = $1 AND id = $2"
    )))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// Changes to a member; `None` leaves a field as it is, `email: Some(None)` clears it.
#[derive(Debug, Default)]
pub struct MemberPatch<'a> {
    pub name: Option<&'a str>,
    pub email: Option<Option<&'a str>>,
    pub role: Option<&'a str>,
    pub disabled: Option<bool>,
}

pub async fn update_member(
    pool: &PgPool,
    actor: &str,
    tenant_id: Uuid,
    id: Uuid,
    patch: MemberPatch<'_>,
) -> Result<Member, StoreError> {
    let mut tx = pool.begin().await?;
    let before: Member = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {MEMBER_COLUMNS} FROM members WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    )))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::NotFound("member".into()))?;
    let email = match patch.email {
        Some(email) => email.map(str::to_string),
        None => before.email.clone(),
    };
    let after: Member = sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE members SET name = coalesce($3, name), email = $4, role = coalesce($5, role),
             disabled = coalesce($6, disabled), updated_at = now()
         WHERE tenant_id = $1 AND id = $2 RETURNING {MEMBER_COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(id)
    .bind(patch.name)
    .bind(email)
    .bind(patch.role)
    .bind(patch.disabled)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| conflict_as(e, format!("member {:?}", patch.name.unwrap_or_default())))?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "member.update",
            target_kind: "member",
            target_id: Some(id.to_string()),
            tenant_id: Some(tenant_id),
            before: Some(member_json(&before)),
            after: Some(member_json(&after)),
        },
    )
    .await?;
    notify_change(&mut *tx, "api_keys").await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes a member with their keys, admin user and quotas; `false` when already gone.
pub async fn delete_member(
    pool: &PgPool,
    actor: &str,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "DELETE FROM quotas WHERE (scope = 'member' AND scope_id = $2)
            OR (scope = 'api_key' AND scope_id IN
                (SELECT id FROM api_keys WHERE tenant_id = $1 AND member_id = $2))",
    )
    .bind(tenant_id)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let before: Option<Member> = sqlx::query_as(AssertSqlSafe(format!(
        "DELETE FROM members WHERE tenant_id = $1 AND id = $2 RETURNING {MEMBER_COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before else {
        // Nothing to delete; dropping the transaction undoes the quota delete above.
        return Ok(false);
    };
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "member.delete",
            target_kind: "member",
            target_id: Some(id.to_string()),
            tenant_id: Some(tenant_id),
            before: Some(member_json(&before)),
            after: None,
        },
    )
    .await?;
    notify_change(&mut *tx, "api_keys").await?;
    notify_change(&mut *tx, "quotas").await?;
    tx.commit().await?;
    Ok(true)
}

// Api keys -----------------------------------------------------------------------------

pub async fn list_keys(
    pool: &PgPool,
    member: &Member,
    cursor: Option<Uuid>,
    limit: i64,
) -> Result<Vec<KeyRow>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys
         WHERE tenant_id = $1 AND member_id = $2 AND ($3::uuid IS NULL OR id > $3)
         ORDER BY id LIMIT $4"
    )))
    .bind(member.tenant_id)
    .bind(member.id)
    .bind(cursor)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// The key `id` of `member`: another member's key is not found.
pub async fn get_key(
    pool: &PgPool,
    member: &Member,
    id: Uuid,
) -> Result<Option<KeyRow>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND member_id = $2 AND id = $3"
    )))
    .bind(member.tenant_id)
    .bind(member.id)
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// Revokes the key `id` of `member`; revoking a revoked key changes nothing. `None` when
/// the member has no such key.
pub async fn revoke_key(
    pool: &PgPool,
    actor: &str,
    member: &Member,
    id: Uuid,
) -> Result<Option<KeyRow>, StoreError> {
    let mut tx = pool.begin().await?;
    let before: Option<KeyRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys
         WHERE tenant_id = $1 AND member_id = $2 AND id = $3 FOR UPDATE"
    )))
    .bind(member.tenant_id)
    .bind(member.id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before else {
        return Ok(None);
    };
    if before.revoked_at.is_some() {
        return Ok(Some(before));
    }
    let after: KeyRow = sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 RETURNING {KEY_COLUMNS}"
    )))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "api_key.revoke",
            target_kind: "api_key",
            target_id: Some(id.to_string()),
            tenant_id: Some(member.tenant_id),
            before: Some(key_json(&before)),
            after: Some(key_json(&after)),
        },
    )
    .await?;
    notify_change(&mut *tx, "api_keys").await?;
    tx.commit().await?;
    Ok(Some(after))
}

/// Creates a key for `member`.
pub async fn create_key(
    pool: &PgPool,
    actor: &str,
    new: NewKeyRow<'_>,
) -> Result<KeyRow, StoreError> {
    let info = super::tenancy::create_api_key(pool, actor, new).await?;
    Ok(KeyRow {
        id: info.id,
        tenant_id: info.tenant_id,
        member_id: info.member_id,
        name: info.name,
        display_prefix: info.display_prefix,
        allowed_models: info.allowed_models,
        expires_at: info.expires_at,
        revoked_at: info.revoked_at,
        replaced_by: None,
        last_used_at: info.last_used_at,
        created_at: info.created_at,
    })
}

/// Why a key cannot be rotated.
#[derive(Debug, PartialEq, Eq)]
pub enum RotateRefusal {
    NotFound,
    Revoked,
    AlreadyReplaced,
}

/// Replaces key `id` of `member` by `new` (same name, models and expiry); the old key
/// keeps working until `old_expires_at` (never later than its own expiry).
pub async fn rotate_key(
    pool: &PgPool,
    actor: &str,
    member: &Member,
    id: Uuid,
    new: &NewApiKey,
    old_expires_at: DateTime<Utc>,
) -> Result<Result<(KeyRow, KeyRow), RotateRefusal>, StoreError> {
    let mut tx = pool.begin().await?;
    let old: Option<KeyRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys
         WHERE tenant_id = $1 AND member_id = $2 AND id = $3 FOR UPDATE"
    )))
    .bind(member.tenant_id)
    .bind(member.id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let old = match old {
        None => return Ok(Err(RotateRefusal::NotFound)),
        Some(k) if k.revoked_at.is_some() => return Ok(Err(RotateRefusal::Revoked)),
        Some(k) if k.replaced_by.is_some() => return Ok(Err(RotateRefusal::AlreadyReplaced)),
        Some(k) => k,
    };
    let created: KeyRow = sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO api_keys (id, tenant_id, member_id, name, public_id, secret_sha256,
                               display_prefix, allowed_models, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING {KEY_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(member.tenant_id)
    .bind(member.id)
    .bind(&old.name)
    .bind(&new.public_id)
    .bind(&new.secret_sha256[..])
    .bind(new.display_prefix())
    .bind(&old.allowed_models)
    .bind(old.expires_at)
    .fetch_one(&mut *tx)
    .await?;
    // The replacement inherits the old key's quota, so rotating never lifts a limit.
    let copied = sqlx::query(
        "INSERT INTO quotas (id, scope, scope_id, rpm, rpd, tpm, tpd, tokens_per_month,
                             allowed_models, expires_at)
         SELECT $3, 'api_key', $2, rpm, rpd, tpm, tpd, tokens_per_month, allowed_models,
                expires_at
         FROM quotas WHERE scope = 'api_key' AND scope_id = $1",
    )
    .bind(id)
    .bind(created.id)
    .bind(Uuid::now_v7())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let until = old
        .expires_at
        .map_or(old_expires_at, |at| at.min(old_expires_at));
    let replaced: KeyRow = sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE api_keys SET expires_at = $2, replaced_by = $3 WHERE id = $1
         RETURNING {KEY_COLUMNS}"
    )))
    .bind(id)
    .bind(until)
    .bind(created.id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "api_key.rotate",
            target_kind: "api_key",
            target_id: Some(id.to_string()),
            tenant_id: Some(member.tenant_id),
            before: Some(key_json(&old)),
            after: Some(json!({ "old": key_json(&replaced), "new": key_json(&created) })),
        },
    )
    .await?;
    notify_change(&mut *tx, "api_keys").await?;
    if copied > 0 {
        notify_change(&mut *tx, "quotas").await?;
    }
    tx.commit().await?;
    Ok(Ok((replaced, created)))
}

// Quotas -------------------------------------------------------------------------------

pub async fn get_quota(
    pool: &PgPool,
    scope: &str,
    scope_id: Uuid,
) -> Result<Option<QuotaRow>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {QUOTA_COLUMNS} FROM quotas WHERE scope = $1 AND scope_id = $2"
    )))
    .bind(scope)
    .bind(scope_id)
    .fetch_optional(pool)
    .await?)
}

/// Removes the quota of a scope (no limits left); `false` when it had none.
pub async fn delete_quota(
    pool: &PgPool,
    actor: &str,
    tenant_id: Uuid,
    scope: &str,
    scope_id: Uuid,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    let before: Option<QuotaRow> = sqlx::query_as(AssertSqlSafe(format!(
        "DELETE FROM quotas WHERE scope = $1 AND scope_id = $2 RETURNING {QUOTA_COLUMNS}"
    )))
    .bind(scope)
    .bind(scope_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before else {
        return Ok(false);
    };
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "quota.delete",
            target_kind: "quota",
            target_id: Some(before.id.to_string()),
            tenant_id: Some(tenant_id),
            before: Some(quota_json(&before)),
            after: None,
        },
    )
    .await?;
    notify_change(&mut *tx, "quotas").await?;
    tx.commit().await?;
    Ok(true)
}
