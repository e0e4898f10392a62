//! Admin users and their API tokens.

use chrono::{DateTime, Utc};
use freeway_wire::auth::Role;
use serde_json::json;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use super::audit::{Audit, Outcome, audited};
use super::{ResultExt, StoreError, validate};

#[derive(Debug, Clone, FromRow)]
pub struct AdminUser {
    pub id: Uuid,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
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
    pub role: Role,
    pub tenant_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
    pub must_change_password: bool,
}

pub async fn count(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM admin_users")
        .fetch_one(pool)
        .await?)
}

/// `instance_admin`, `tenant_admin` or `member`; the latter two belong to a tenant.
fn check(new: &NewAdminUser<'_>) -> Result<(), StoreError> {
    validate::name("username", new.username, 200)?;
    if new.role != Role::InstanceAdmin && new.tenant_id.is_none() {
        return Err(StoreError::invalid(
            "tenant",
            format!("A {} belongs to a tenant.", new.role.as_str()),
        ));
    }
    Ok(())
}

async fn insert(conn: &mut PgConnection, new: &NewAdminUser<'_>) -> Result<AdminUser, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
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
    .fetch_one(conn)
    .await
    .on_constraint("admin_users_username_key", || {
        StoreError::Conflict(format!("admin user {:?}", new.username))
    })?)
}

pub async fn create(
    pool: &PgPool,
    actor: &str,
    new: NewAdminUser<'_>,
) -> Result<AdminUser, StoreError> {
    check(&new)?;
    audited(pool, actor, async |conn| {
        let user = insert(conn, &new).await?;
        let after =
            json!({ "username": user.username, "role": user.role, "password": "<redacted>" });
        let audit = Audit {
            tenant_id: user.tenant_id,
            ..Audit::new("admin_user.create", "admin_user", user.id).after(after)
        };
        Ok(Outcome::Changed(user, audit))
    })
    .await
}

/// Creates the first instance admin unless one exists; `None` when one did. Two instances
/// starting together create at most one (the advisory lock).
pub async fn create_first(
    pool: &PgPool,
    username: &str,
    password_hash: &str,
) -> Result<Option<AdminUser>, StoreError> {
    audited(pool, "system", async |conn| {
        sqlx::query("SELECT pg_advisory_xact_lock(7301)")
            .execute(&mut *conn)
            .await?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM admin_users)")
            .fetch_one(&mut *conn)
            .await?;
        if exists {
            return Ok(Outcome::Unchanged(None));
        }
        let new = NewAdminUser {
            username,
            password_hash,
            role: Role::InstanceAdmin,
            tenant_id: None,
            member_id: None,
            must_change_password: true,
        };
        let user = insert(conn, &new).await?;
        let after = json!({ "username": user.username, "role": user.role });
        let audit = Audit::new("admin_user.bootstrap", "admin_user", user.id).after(after);
        Ok(Outcome::Changed(Some(user), audit))
    })
    .await
}

pub async fn find_by_name(pool: &PgPool, username: &str) -> Result<Option<AdminUser>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM admin_users WHERE username = $1"
    )))
    .bind(validate::text("username", username)?)
    .fetch_optional(pool)
    .await?)
}

pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<AdminUser>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM admin_users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

pub async fn set_password(pool: &PgPool, id: Uuid, password_hash: &str) -> Result<(), StoreError> {
    audited(pool, &format!("admin:{id}"), async |conn| {
        sqlx::query(
            "UPDATE admin_users SET password_hash = $2, must_change_password = false, updated_at = now() WHERE id = $1",
        )
        .bind(id)
        .bind(password_hash)
        .execute(&mut *conn)
        .await?;
        let audit = Audit::new("admin_user.password", "admin_user", id)
            .after(json!({ "password": "<redacted>" }));
        Ok(Outcome::Changed((), audit))
    })
    .await
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
    let name = validate::name("name", name, freeway_wire::auth::TOKEN_NAME_MAX_CHARS)?;
    validate::timestamp("expires_at", expires_at)?;
    audited(pool, &format!("admin:{}", user.id), async |conn| {
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
        .fetch_one(&mut *conn)
        .await?;
        let after = json!({ "name": name, "expires_at": expires_at, "secret": "<redacted>" });
        let audit = Audit {
            tenant_id: user.tenant_id,
            ..Audit::new("admin_token.create", "admin_token", token.id).after(after)
        };
        Ok(Outcome::Changed(token, audit))
    })
    .await
}

pub async fn find_token(pool: &PgPool, public_id: &str) -> Result<Option<AdminToken>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TOKEN_COLUMNS} FROM admin_tokens WHERE public_id = $1"
    )))
    .bind(validate::text("token", public_id)?)
    .fetch_optional(pool)
    .await?)
}

/// The tokens of `user` in id (creation) order, whose name matches `search`.
pub async fn list_tokens(
    pool: &PgPool,
    user: Uuid,
    cursor: super::Cursor,
    search: &super::Search,
) -> Result<Vec<AdminToken>, StoreError> {
    let select = format!(
        "SELECT {TOKEN_COLUMNS} FROM admin_tokens WHERE admin_user_id = $3 AND {}",
        super::Search::sql(4, &["name"])
    );
    Ok(super::paged(&select, cursor)
        .bind(user)
        .bind(search.pattern())
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
