//! A provider's credentials, stored sealed. The secret never passes through here in the
//! clear: callers seal it first, and the audit log shows only its last four characters.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{AssertSqlSafe, FromRow, PgConnection, PgPool};
use uuid::Uuid;

use super::audit::{self, Audit, Outcome, audited, to_json};
use super::edit::{self, Deleted, Edit};
use super::limits::LimitColumns;
use super::probes::ProbeColumns;
use super::providers::ProviderRow;
use super::{Cursor, StoreError, paged, validate};
use crate::crypto::{self, Keyring, SealedSecret};

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
    pub limits: LimitColumns,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Its last health probe (`super::probes`).
    pub probe: ProbeColumns,
}

#[derive(FromRow)]
struct DbRow {
    id: Uuid,
    provider_id: Uuid,
    name: String,
    ciphertext: Vec<u8>,
    wrapped_key: Vec<u8>,
    key_version: i32,
    last4: String,
    enabled: bool,
    priority: i32,
    #[sqlx(flatten)]
    limits: LimitColumns,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[sqlx(flatten)]
    probe: ProbeColumns,
}

impl From<DbRow> for CredentialRow {
    fn from(row: DbRow) -> Self {
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
            limits: row.limits,
            created_at: row.created_at,
            updated_at: row.updated_at,
            probe: row.probe,
        }
    }
}

const COLUMNS: &str = "id, provider_id, name, ciphertext, wrapped_key, key_version,
    last4, enabled, priority, rpm, rph, rpd, tpm, tpd, created_at, updated_at,
    probed_at, probe_ok, probe_latency_ms, probe_error";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialFields {
    pub name: String,
    pub enabled: bool,
    pub priority: i32,
    pub limits: LimitColumns,
}

impl CredentialFields {
    /// Checked, and as stored (the name trimmed).
    fn checked(mut self) -> Result<Self, StoreError> {
        self.name = validate::label("name", &self.name, 100)?;
        validate::priority(self.priority)?;
        validate::pool_limits("limits", &self.limits)?;
        Ok(self)
    }
}

impl CredentialRow {
    pub fn limits(&self) -> LimitColumns {
        self.limits
    }
}

impl Edit for CredentialRow {
    /// The provider and the credential's id.
    type Key = (Uuid, Uuid);
    type Fields = CredentialFields;
    const KIND: &'static str = "credential";
    const TABLE: &'static str = "credentials";

    fn id((_, id): (Uuid, Uuid)) -> Uuid {
        id
    }

    async fn lock(conn: &mut PgConnection, key: (Uuid, Uuid)) -> Result<Option<Self>, StoreError> {
        fetch(conn, key, "FOR UPDATE").await
    }

    /// The secret is not touched.
    async fn save(
        conn: &mut PgConnection,
        (_, id): (Uuid, Uuid),
        fields: &CredentialFields,
    ) -> Result<Self, StoreError> {
        let sql = "UPDATE credentials SET name = $2, enabled = $3, priority = $4, rpm = $5,
                rph = $6, rpd = $7, tpm = $8, tpd = $9, updated_at = now()
            WHERE id = $1";
        write(conn, sql, id, fields, None).await
    }

    fn fields(&self) -> CredentialFields {
        CredentialFields {
            name: self.name.clone(),
            enabled: self.enabled,
            priority: self.priority,
            limits: self.limits,
        }
    }

    fn checked(fields: CredentialFields) -> Result<CredentialFields, StoreError> {
        fields.checked()
    }

    fn builtin(&self) -> bool {
        false
    }

    /// The secret is never there, and says so.
    fn audited(&self, fields: &CredentialFields) -> serde_json::Value {
        let mut value = to_json(fields);
        value["last4"] = json!(self.last4);
        value["secret"] = json!("<redacted>");
        value
    }
}

/// A secret sealed for the row it will be stored in.
pub struct SealedCredential {
    pub id: Uuid,
    pub sealed: SealedSecret,
    pub last4: String,
}

impl SealedCredential {
    /// Checks and seals `secret` under the keyring's current master key. No lock on the
    /// keyring is held while waiting on the database: seal first, then [`create`].
    pub fn seal(keyring: &Keyring, secret: &str) -> Result<Self, StoreError> {
        let secret = validate::secret(secret)?;
        let id = Uuid::now_v7();
        Ok(SealedCredential {
            id,
            sealed: crypto::seal(keyring, id, &secret)?,
            last4: secret.last4(),
        })
    }
}

/// Credentials in creation order: of one provider, or of all.
pub async fn list(
    pool: &PgPool,
    provider: Option<Uuid>,
    cursor: Cursor,
) -> Result<Vec<CredentialRow>, StoreError> {
    let select =
        format!("SELECT {COLUMNS} FROM credentials WHERE ($3::uuid IS NULL OR provider_id = $3)");
    let rows: Vec<DbRow> = paged(&select, cursor)
        .bind(provider)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

async fn fetch(
    conn: &mut PgConnection,
    (provider, id): (Uuid, Uuid),
    lock: &str,
) -> Result<Option<CredentialRow>, StoreError> {
    let row: Option<DbRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM credentials WHERE id = $1 AND provider_id = $2 {lock}"
    )))
    .bind(id)
    .bind(provider)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Into::into))
}

pub async fn find(
    pool: &PgPool,
    provider: Uuid,
    id: Uuid,
) -> Result<Option<CredentialRow>, StoreError> {
    fetch(&mut *pool.acquire().await?, (provider, id), "").await
}

/// A credential by its id alone, whatever its provider.
pub async fn find_by_id(pool: &PgPool, id: Uuid) -> Result<Option<CredentialRow>, StoreError> {
    let row: Option<DbRow> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM credentials WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Into::into))
}

pub async fn create(
    pool: &PgPool,
    actor: &str,
    provider: &ProviderRow,
    secret: &SealedCredential,
    fields: CredentialFields,
) -> Result<CredentialRow, StoreError> {
    let fields = fields.checked()?;
    audited(pool, actor, async |conn| {
        let sql = "INSERT INTO credentials (id, name, enabled, priority, rpm, rph, rpd, tpm, tpd,
                                 provider_id, ciphertext, wrapped_key, key_version, last4)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
        let row = write(conn, sql, secret.id, &fields, Some((provider, secret))).await?;
        let mut after = row.audited(&fields);
        after["provider"] = json!(provider.name);
        let audit = Audit::new("credential.create", "credential", row.id).after(after);
        Ok(Outcome::Changed(row, audit.notify(audit::POOL)))
    })
    .await
}

/// Binds the fields as `$2` to `$9` after the id, then for an insert the provider and the
/// sealed secret.
async fn write(
    conn: &mut PgConnection,
    sql: &str,
    id: Uuid,
    fields: &CredentialFields,
    new: Option<(&ProviderRow, &SealedCredential)>,
) -> Result<CredentialRow, StoreError> {
    let query = sqlx::query_as(AssertSqlSafe(format!("{sql} RETURNING {COLUMNS}")))
        .bind(id)
        .bind(&fields.name)
        .bind(fields.enabled)
        .bind(fields.priority)
        .bind(fields.limits.rpm)
        .bind(fields.limits.rph)
        .bind(fields.limits.rpd)
        .bind(fields.limits.tpm)
        .bind(fields.limits.tpd);
    let query = match new {
        Some((provider, secret)) => query
            .bind(provider.id)
            .bind(&secret.sealed.ciphertext)
            .bind(&secret.sealed.wrapped_key)
            .bind(secret.sealed.key_version)
            .bind(&secret.last4),
        None => query,
    };
    let row: DbRow = query.fetch_one(conn).await?;
    Ok(row.into())
}

/// As [`super::providers::update`], for a credential of `provider`; the secret is not
/// touched.
pub async fn update<E: From<StoreError>>(
    pool: &PgPool,
    actor: &str,
    provider: Uuid,
    id: Uuid,
    apply: impl FnOnce(&CredentialRow, &mut CredentialFields) -> Result<(), E>,
) -> Result<Option<CredentialRow>, E> {
    edit::update(pool, actor, (provider, id), apply).await
}

pub async fn delete(
    pool: &PgPool,
    actor: &str,
    provider: Uuid,
    id: Uuid,
) -> Result<Deleted, StoreError> {
    edit::delete::<CredentialRow>(pool, actor, (provider, id)).await
}

/// Re-wraps every data key not yet under the keyring's current master key, in small
/// transactions so that a running server is never blocked for long. Ciphertexts are not
/// touched. Returns how many credentials were re-wrapped.
pub async fn rewrap(pool: &PgPool, actor: &str, keyring: &Keyring) -> Result<u64, StoreError> {
    let target = keyring.current().version;
    let mut total = 0u64;
    loop {
        let mut tx = pool.begin().await?;
        let rows: Vec<DbRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM credentials WHERE key_version <> $1
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
    audited(pool, actor, async |_| {
        let audit = Audit::new("master_key.rotate", "master_key", target)
            .after(json!({ "key_version": target, "rewrapped": total }));
        Ok(Outcome::Changed(total, audit.notify(audit::POOL)))
    })
    .await
}
