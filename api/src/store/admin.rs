//! Admin users and their API tokens.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use super::StoreError;
use super::audit::{self, AuditEntry};

#[derive(Debug, Clone, FromRow)]
pub struct AdminUser {
    pub id: Uuid,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub tenant_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
    pub must_change_password: bool,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

const USER_COLUMNS: &str = "id, username, password_hash, role, tenant_id, member_id, must_change_password, disabled, created_at";

pub struct NewAdminUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub tenant_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
    pub must_change_password: bool,
}

pub async fn count_users(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM admin_users")
        .fetch_one(pool)
        .await?)
}

pub async fn create_user(
    pool: &PgPool,
    actor: &str,
    new: NewAdminUser<'_>,
) -> Result<AdminUser, StoreError> {
    let mut tx = pool.begin().await?;
    let user: AdminUser = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO admin_users (id, username, password_hash, role, tenant_id, member_id, must_change_password)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {USER_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(new.username)
    .bind(new.password_hash)
    .bind(new.role)
    .bind(new.tenant_id)
    .bind(new.member_id)
    .bind(new.must_change_password)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!("admin user {:?}", new.username)),
        other => other,
    })?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor,
            action: "admin_user.create",
            target_kind: "admin_user",
            target_id: Some(user.id.to_string()),
            tenant_id: user.tenant_id,
            before: None,
            after: Some(
                json!({ "username": user.username, "role": user.role, "password": "<redacted>" }),
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// Creates the first instance admin unless one exists; `None` when one did. Two instances
/// starting together create at most one (the advisory lock).
pub async fn create_first_admin(
    pool: &PgPool,
    username: &str,
    password_hash: &str,
) -> Result<Option<AdminUser>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(7301)")
        .execute(&mut *tx)
        .await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM admin_users)")
        .fetch_one(&mut *tx)
        .await?;
    if exists {
        return Ok(None);
    }
    let user: AdminUser = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO admin_users (id, username, password_hash, role, must_change_password)
         VALUES ($1, $2, $3, 'instance_admin', true) RETURNING {USER_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(username)
    .bind(password_hash)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor: "system",
            action: "admin_user.bootstrap",
            target_kind: "admin_user",
            target_id: Some(user.id.to_string()),
            tenant_id: None,
            before: None,
            after: Some(json!({ "username": user.username, "role": user.role })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some(user))
}

pub async fn find_user_by_name(
    pool: &PgPool,
    username: &str,
) -> Result<Option<AdminUser>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM admin_users WHERE username = $1"
    )))
    .bind(username)
    .fetch_optional(pool)
    .await?)
}

pub async fn find_user(pool: &PgPool, id: Uuid) -> Result<Option<AdminUser>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM admin_users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

pub async fn set_password(pool: &PgPool, id: Uuid, password_hash: &str) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE admin_users SET password_hash = $2, must_change_password = false, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(password_hash)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor: &format!("admin:{id}"),
            action: "admin_user.password",
            target_kind: "admin_user",
            target_id: Some(id.to_string()),
            tenant_id: None,
            before: None,
            after: Some(json!({ "password": "<redacted>" })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct AdminToken {
    pub id: Uuid,
    pub admin_user_id: Uuid,
    pub name: String,
    pub public_id: String,
    pub secret_sha256: Vec<u8>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const TOKEN_COLUMNS: &str = "id, admin_user_id, name, public_id, secret_sha256, expires_at, revoked_at, last_used_at, created_at";

pub async fn create_token(
    pool: &PgPool,
    user: &AdminUser,
    name: &str,
    public_id: &str,
    secret_sha256: &[u8],
    expires_at: Option<DateTime<Utc>>,
) -> Result<AdminToken, StoreError> {
    let mut tx = pool.begin().await?;
    let token: AdminToken = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO admin_tokens (id, admin_user_id, name, public_id, secret_sha256, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TOKEN_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(user.id)
    .bind(name)
    .bind(public_id)
    .bind(secret_sha256)
    .bind(expires_at)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            actor: &format!("admin:{}", user.id),
            action: "admin_token.create",
            target_kind: "admin_token",
            target_id: Some(token.id.to_string()),
            tenant_id: user.tenant_id,
            before: None,
            after: Some(json!({ "name": name, "expires_at": expires_at, "secret": "<redacted>" })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

pub async fn find_token(pool: &PgPool, public_id: &str) -> Result<Option<AdminToken>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TOKEN_COLUMNS} FROM admin_tokens WHERE public_id = $1"
    )))
    .bind(public_id)
    .fetch_optional(pool)
    .await?)
}

pub async fn list_tokens(pool: &PgPool, user: Uuid) -> Result<Vec<AdminToken>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TOKEN_COLUMNS} FROM admin_tokens WHERE admin_user_id = $1 ORDER BY created_at"
    )))
    .bind(user)
    .fetch_all(pool)
    .await?)
}

/// Revokes a token of `user`; revoking twice changes nothing and succeeds.
pub async fn revoke_token(pool: &PgPool, user: Uuid, id: Uuid) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE admin_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND admin_user_id = $2",
    )
    .bind(id)
    .bind(user)
    .execute(pool)
    .await?;
    Ok(result.rows_affected() > 0)
}

pub async fn touch_token(pool: &PgPool, id: Uuid) -> Result<(), StoreError> {
    sqlx::query("UPDATE admin_tokens SET last_used_at = now() WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}
