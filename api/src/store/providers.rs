//! Providers: base URL, keyless or not, account-wide limits, the zone whose midnight resets
//! daily limits. Read-merge-write updates under a row lock, before and after in the audit log.

use chrono::{DateTime, Utc};
use freeway_wire::pool::Origin;
use serde::Serialize;
use sqlx::{AssertSqlSafe, FromRow, PgConnection, PgPool};
use uuid::Uuid;

use super::audit::{self, Audit, Outcome, audited, to_json};
use super::edit::{self, Deleted, Edit};
use super::limits::LimitColumns;
use super::{Cursor, ResultExt, StoreError, paged, validate};

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
    #[sqlx(flatten)]
    pub limits: LimitColumns,
    pub daily_reset_tz: String,
    /// `builtin` (from the shipped catalog) or `custom`.
    pub origin: Origin,
    /// An admin changed this built-in row; catalog upgrades leave it alone.
    pub edited: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, display_name, base_url, keyless, enabled, priority,
    timeout_ms, rpm, rph, rpd, tpm, tpd, daily_reset_tz, origin, edited, created_at, updated_at";

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

impl ProviderFields {
    /// An enabled provider with the defaults: priority 100, a 60 s timeout, no limits, UTC.
    pub fn new(name: &str, base_url: &str) -> Self {
        ProviderFields {
            name: name.to_string(),
            display_name: String::new(),
            base_url: base_url.to_string(),
            keyless: false,
            enabled: true,
            priority: 100,
            timeout_ms: 60_000,
            limits: LimitColumns::default(),
            daily_reset_tz: "UTC".into(),
        }
    }

    /// Checked, and as stored (trimmed, the base URL without its trailing slash).
    fn checked(mut self) -> Result<Self, StoreError> {
        self.name = validate::provider_name(&self.name)?;
        self.display_name = validate::label("display_name", &self.display_name, 100)?;
        self.base_url = validate::base_url(&self.base_url)?;
        validate::priority(self.priority)?;
        validate::timeout_ms(i64::from(self.timeout_ms))?;
        validate::pool_limits("limits", &self.limits)?;
        self.daily_reset_tz = validate::time_zone(&self.daily_reset_tz)?;
        Ok(self)
    }
}

impl ProviderRow {
    pub fn limits(&self) -> LimitColumns {
        self.limits
    }
}

impl Edit for ProviderRow {
    type Key = Uuid;
    type Fields = ProviderFields;
    const KIND: &'static str = "provider";
    const TABLE: &'static str = "providers";

    fn id(key: Uuid) -> Uuid {
        key
    }

    async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<Self>, StoreError> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM providers WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(conn)
        .await?)
    }

    /// An edit of a built-in row marks it `edited`, so catalog upgrades keep it.
    async fn save(
        conn: &mut PgConnection,
        id: Uuid,
        fields: &ProviderFields,
    ) -> Result<Self, StoreError> {
        let sql = "UPDATE providers SET name = $2, display_name = $3, base_url = $4,
                keyless = $5, enabled = $6, priority = $7, timeout_ms = $8, rpm = $9,
                rph = $10, rpd = $11, tpm = $12, tpd = $13, daily_reset_tz = $14,
                edited = edited OR origin = 'builtin', updated_at = now()
            WHERE id = $1";
        write(conn, sql, id, fields).await
    }

    fn fields(&self) -> ProviderFields {
        ProviderFields {
            name: self.name.clone(),
            display_name: self.display_name.clone(),
            base_url: self.base_url.clone(),
            keyless: self.keyless,
            enabled: self.enabled,
            priority: self.priority,
            timeout_ms: self.timeout_ms,
            limits: self.limits,
            daily_reset_tz: self.daily_reset_tz.clone(),
        }
    }

    fn checked(fields: ProviderFields) -> Result<ProviderFields, StoreError> {
        fields.checked()
    }

    fn builtin(&self) -> bool {
        self.origin == Origin::Builtin
    }
}

/// Providers in creation order (ids are UUIDv7).
pub async fn list(pool: &PgPool, cursor: Cursor) -> Result<Vec<ProviderRow>, StoreError> {
    let select = format!("SELECT {COLUMNS} FROM providers WHERE true");
    Ok(paged(&select, cursor).fetch_all(pool).await?)
}

/// A provider by id, or by name when `key` is not a UUID (or no provider has that id).
pub async fn find(pool: &PgPool, key: &str) -> Result<Option<ProviderRow>, StoreError> {
    let id = key.parse::<Uuid>().ok();
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM providers WHERE id = $1 OR name = $2
         ORDER BY (id = $1) DESC NULLS LAST LIMIT 1"
    )))
    .bind(id)
    .bind(validate::text("provider", key)?)
    .fetch_optional(pool)
    .await?)
}

async fn write(
    conn: &mut PgConnection,
    sql: &str,
    id: Uuid,
    fields: &ProviderFields,
) -> Result<ProviderRow, StoreError> {
    Ok(
        sqlx::query_as(AssertSqlSafe(format!("{sql} RETURNING {COLUMNS}")))
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
            .fetch_one(conn)
            .await
            .on_constraint("providers_name_key", || {
                StoreError::Conflict(format!("provider {:?}", fields.name))
            })?,
    )
}

pub async fn create(
    pool: &PgPool,
    actor: &str,
    fields: ProviderFields,
) -> Result<ProviderRow, StoreError> {
    let fields = fields.checked()?;
    audited(pool, actor, async |conn| {
        let row = write(
            conn,
            "INSERT INTO providers (id, name, display_name, base_url, keyless, enabled, priority,
                                    timeout_ms, rpm, rph, rpd, tpm, tpd, daily_reset_tz)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            Uuid::now_v7(),
            &fields,
        )
        .await?;
        let audit = Audit::new("provider.create", "provider", row.id).after(to_json(&fields));
        Ok(Outcome::Changed(row, audit.notify(audit::POOL)))
    })
    .await
}

/// Reads the provider under a row lock, lets `apply` change its fields (and refuse), and
/// writes them back. An edit of a built-in row marks it `edited`, so catalog upgrades keep it.
pub async fn update<E: From<StoreError>>(
    pool: &PgPool,
    actor: &str,
    id: Uuid,
    apply: impl FnOnce(&ProviderRow, &mut ProviderFields) -> Result<(), E>,
) -> Result<Option<ProviderRow>, E> {
    edit::update(pool, actor, id, apply).await
}

/// Deletes a custom provider with its models and credentials.
pub async fn delete(pool: &PgPool, actor: &str, id: Uuid) -> Result<Deleted, StoreError> {
    edit::delete::<ProviderRow>(pool, actor, id).await
}
