//! Members' api keys for `/v1`: stored as a public id and a SHA-256 digest, never raw.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{AssertSqlSafe, FromRow, PgConnection, PgPool};
use uuid::Uuid;

use super::audit::{self, Audit, Outcome, audited};
use super::members::Member;
use super::{Cursor, Search, StoreError, paged, validate};
use crate::crypto::api_key::{NewApiKey, PREFIX};

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

const COLUMNS: &str = "id, tenant_id, member_id, name, display_prefix, allowed_models,
    expires_at, revoked_at, replaced_by, last_used_at, created_at";

impl ApiKeyInfo {
    fn audit(&self) -> serde_json::Value {
        json!({
            "member_id": self.member_id,
            "name": self.name,
            "display_prefix": self.display_prefix,
            "allowed_models": self.allowed_models,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "replaced_by": self.replaced_by,
        })
    }
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

pub struct NewKeyRow<'a> {
    pub member: &'a Member,
    pub name: &'a str,
    pub key: &'a NewApiKey,
    pub allowed_models: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Which key: by row id within its member, or by its display prefix (`fw-<public id>`) or
/// public id, within a tenant or anywhere.
#[derive(Debug, Clone, Copy)]
pub enum KeyRef<'a> {
    Id {
        member: &'a Member,
        id: Uuid,
    },
    Prefix {
        tenant: Option<Uuid>,
        prefix: &'a str,
    },
}

/// `(tenant, member, id, public id)`, each `None` for "any".
type KeyFilter<'a> = (Option<Uuid>, Option<Uuid>, Option<Uuid>, Option<&'a str>);

impl<'a> KeyRef<'a> {
    /// The key `id` of `member`.
    pub fn of(member: &'a Member, id: Uuid) -> Self {
        KeyRef::Id { member, id }
    }

    fn filter(self) -> Result<KeyFilter<'a>, StoreError> {
        Ok(match self {
            KeyRef::Id { member, id } => (Some(member.tenant_id), Some(member.id), Some(id), None),
            KeyRef::Prefix { tenant, prefix } => {
                let public_id = prefix
                    .strip_prefix(PREFIX)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .unwrap_or(prefix);
                (tenant, None, None, Some(validate::text("key", public_id)?))
            }
        })
    }
}

async fn fetch(
    conn: &mut PgConnection,
    key: KeyRef<'_>,
    lock: &str,
) -> Result<Option<ApiKeyInfo>, StoreError> {
    let (tenant, member, id, public_id) = key.filter()?;
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM api_keys
         WHERE ($1::uuid IS NULL OR tenant_id = $1) AND ($2::uuid IS NULL OR member_id = $2)
           AND ($3::uuid IS NULL OR id = $3) AND ($4::text IS NULL OR public_id = $4) {lock}"
    )))
    .bind(tenant)
    .bind(member)
    .bind(id)
    .bind(public_id)
    .fetch_optional(conn)
    .await?)
}

/// The key `id` of `member`: another member's key is not found.
pub async fn find(
    pool: &PgPool,
    member: &Member,
    id: Uuid,
) -> Result<Option<ApiKeyInfo>, StoreError> {
    fetch(&mut *pool.acquire().await?, KeyRef::of(member, id), "").await
}

/// The key whose display prefix (`fw-<public id>`) or public id is given, in `tenant` or
/// anywhere.
pub async fn find_by_prefix(
    pool: &PgPool,
    tenant: Option<Uuid>,
    prefix: &str,
) -> Result<Option<ApiKeyInfo>, StoreError> {
    fetch(
        &mut *pool.acquire().await?,
        KeyRef::Prefix { tenant, prefix },
        "",
    )
    .await
}

/// The keys of a tenant, or of one of its members, in id (creation) order, whose name or
/// display prefix (`fw-<public id>`) matches `search`.
pub async fn list(
    pool: &PgPool,
    tenant_id: Uuid,
    member_id: Option<Uuid>,
    cursor: Cursor,
    search: &Search,
) -> Result<Vec<ApiKeyInfo>, StoreError> {
    let select = format!(
        "SELECT {COLUMNS} FROM api_keys
         WHERE tenant_id = $3 AND ($4::uuid IS NULL OR member_id = $4) AND {}",
        Search::sql(5, &["name", "display_prefix"])
    );
    Ok(paged(&select, cursor)
        .bind(tenant_id)
        .bind(member_id)
        .bind(search.pattern())
        .fetch_all(pool)
        .await?)
}

async fn insert(conn: &mut PgConnection, new: &NewKeyRow<'_>) -> Result<ApiKeyInfo, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO api_keys (id, tenant_id, member_id, name, public_id, secret_sha256,
                               display_prefix, allowed_models, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING {COLUMNS}"
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
    .fetch_one(conn)
    .await?)
}

/// Creates a key for `new.member`. An empty or blank name leaves the key unnamed.
pub async fn create(
    pool: &PgPool,
    actor: &str,
    new: NewKeyRow<'_>,
) -> Result<ApiKeyInfo, StoreError> {
    let name = match new.name.trim() {
        "" => "",
        _ => validate::name("name", new.name, freeway_wire::tenants::KEY_NAME_MAX_CHARS)?,
    };
    validate::model_ids("allowed_models", new.allowed_models.as_deref())?;
    // A time in the past is stored as given (an expired key); the admin API refuses it.
    validate::timestamp("expires_at", new.expires_at)?;
    let new = NewKeyRow { name, ..new };
    audited(pool, actor, async |conn| {
        let info = insert(conn, &new).await?;
        let audit = Audit::new("api_key.create", "api_key", info.id)
            .tenant(info.tenant_id)
            .after(info.audit());
        Ok(Outcome::Changed(info, audit.notify(audit::API_KEYS)))
    })
    .await
}

/// Revokes a key; revoking a revoked key changes nothing and succeeds. `None` when there
/// is no such key.
pub async fn revoke(
    pool: &PgPool,
    actor: &str,
    key: KeyRef<'_>,
) -> Result<Option<ApiKeyInfo>, StoreError> {
    audited(pool, actor, async |conn| {
        let before = match fetch(conn, key, "FOR UPDATE").await? {
            Some(before) if before.revoked_at.is_none() => before,
            unchanged => return Ok(Outcome::Unchanged(unchanged)),
        };
        let after: ApiKeyInfo = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE api_keys SET revoked_at = now() WHERE id = $1 RETURNING {COLUMNS}"
        )))
        .bind(before.id)
        .fetch_one(&mut *conn)
        .await?;
        let audit = Audit::new("api_key.revoke", "api_key", after.id)
            .tenant(after.tenant_id)
            .before(before.audit())
            .after(after.audit());
        Ok(Outcome::Changed(Some(after), audit.notify(audit::API_KEYS)))
    })
    .await
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
pub async fn rotate(
    pool: &PgPool,
    actor: &str,
    member: &Member,
    id: Uuid,
    new: &NewApiKey,
    old_expires_at: DateTime<Utc>,
) -> Result<Result<(ApiKeyInfo, ApiKeyInfo), RotateRefusal>, StoreError> {
    audited(pool, actor, async |conn| {
        let old = match fetch(conn, KeyRef::of(member, id), "FOR UPDATE").await? {
            None => return Ok(Outcome::Unchanged(Err(RotateRefusal::NotFound))),
            Some(k) if k.revoked_at.is_some() => {
                return Ok(Outcome::Unchanged(Err(RotateRefusal::Revoked)));
            }
            Some(k) if k.replaced_by.is_some() => {
                return Ok(Outcome::Unchanged(Err(RotateRefusal::AlreadyReplaced)));
            }
            Some(k) => k,
        };
        let replacement = NewKeyRow {
            member,
            name: &old.name,
            key: new,
            allowed_models: old.allowed_models.clone(),
            expires_at: old.expires_at,
        };
        let created = insert(conn, &replacement).await?;
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
        .execute(&mut *conn)
        .await?
        .rows_affected();
        let until = old
            .expires_at
            .map_or(old_expires_at, |at| at.min(old_expires_at));
        let replaced: ApiKeyInfo = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE api_keys SET expires_at = $2, replaced_by = $3 WHERE id = $1
             RETURNING {COLUMNS}"
        )))
        .bind(id)
        .bind(until)
        .bind(created.id)
        .fetch_one(&mut *conn)
        .await?;
        let audit = Audit::new("api_key.rotate", "api_key", id)
            .tenant(member.tenant_id)
            .before(old.audit())
            .after(json!({ "old": replaced.audit(), "new": created.audit() }))
            .notify(if copied > 0 {
                audit::KEYS_AND_QUOTAS
            } else {
                audit::API_KEYS
            });
        Ok(Outcome::Changed(Ok((replaced, created)), audit))
    })
    .await
}

/// Every key with what authentication needs, revoked ones included so that their holders
/// are told the key was revoked rather than unknown.
pub async fn load_for_auth(pool: &PgPool) -> Result<Vec<ApiKeyAuthRow>, StoreError> {
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
