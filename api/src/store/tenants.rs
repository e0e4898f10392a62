//! Tenants: the teams that share this Freeway.

use chrono::{DateTime, Utc};
use freeway_wire::tenants::NAME_MAX_CHARS;
use serde_json::json;
use sqlx::{AssertSqlSafe, FromRow, PgPool};
use uuid::Uuid;

use super::audit::{self, Audit, Outcome, audited};
use super::{Cursor, ResultExt, Search, StoreError, paged, validate};

#[derive(Debug, Clone, FromRow)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, disabled, created_at";

impl Tenant {
    fn audit(&self) -> serde_json::Value {
        json!({ "name": self.name, "disabled": self.disabled })
    }
}

fn conflict(name: &str) -> impl FnOnce() -> StoreError + '_ {
    move || StoreError::Conflict(format!("tenant {name:?}"))
}

pub async fn create(pool: &PgPool, actor: &str, name: &str) -> Result<Tenant, StoreError> {
    let name = validate::name("name", name, NAME_MAX_CHARS)?;
    audited(pool, actor, async |conn| {
        let tenant: Tenant = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO tenants (id, name) VALUES ($1, $2) RETURNING {COLUMNS}"
        )))
        .bind(Uuid::now_v7())
        .bind(name)
        .fetch_one(&mut *conn)
        .await
        .on_constraint("tenants_name_key", conflict(name))?;
        let audit = Audit::new("tenant.create", "tenant", tenant.id)
            .tenant(tenant.id)
            .after(json!({ "name": tenant.name }));
        Ok(Outcome::Changed(tenant, audit))
    })
    .await
}

/// Tenants in id (creation) order, only `only` when given, whose name matches `search`.
pub async fn list(
    pool: &PgPool,
    cursor: Cursor,
    only: Option<Uuid>,
    search: &Search,
) -> Result<Vec<Tenant>, StoreError> {
    let select = format!(
        "SELECT {COLUMNS} FROM tenants WHERE ($3::uuid IS NULL OR id = $3) AND {}",
        Search::sql(4, &["name"])
    );
    Ok(paged(&select, cursor)
        .bind(only)
        .bind(search.pattern())
        .fetch_all(pool)
        .await?)
}

pub async fn count(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM tenants")
        .fetch_one(pool)
        .await?)
}

pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<Tenant>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tenants WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

pub async fn find_by_name(pool: &PgPool, name: &str) -> Result<Option<Tenant>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tenants WHERE name = $1"
    )))
    .bind(validate::text("tenant", name)?)
    .fetch_optional(pool)
    .await?)
}

/// Renames or disables a tenant; `None` leaves a field as it is.
pub async fn update(
    pool: &PgPool,
    actor: &str,
    id: Uuid,
    name: Option<&str>,
    disabled: Option<bool>,
) -> Result<Tenant, StoreError> {
    let name = name
        .map(|n| validate::name("name", n, NAME_MAX_CHARS))
        .transpose()?;
    audited(pool, actor, async |conn| {
        let before: Tenant = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM tenants WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound("tenant".into()))?;
        let after: Tenant = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE tenants SET name = coalesce($2, name), disabled = coalesce($3, disabled),
                 updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        )))
        .bind(id)
        .bind(name)
        .bind(disabled)
        .fetch_one(&mut *conn)
        .await
        .on_constraint("tenants_name_key", conflict(name.unwrap_or_default()))?;
        let audit = Audit::new("tenant.update", "tenant", id)
            .tenant(id)
            .before(before.audit())
            .after(after.audit());
        // A disabled tenant's keys stop working.
        Ok(Outcome::Changed(after, audit.notify(audit::API_KEYS)))
    })
    .await
}

/// Deletes a tenant with its members, keys, admin users and quotas. `false` when it was
/// already gone.
pub async fn delete(pool: &PgPool, actor: &str, id: Uuid) -> Result<bool, StoreError> {
    audited(pool, actor, async |conn| {
        let before: Option<Tenant> = sqlx::query_as(AssertSqlSafe(format!(
            "DELETE FROM tenants WHERE id = $1 RETURNING {COLUMNS}"
        )))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(before) = before else {
            return Ok(Outcome::Unchanged(false));
        };
        // Members and keys went with the tenant (ON DELETE CASCADE); their quotas have no
        // foreign key, so they go here: those whose owner no longer exists.
        sqlx::query(
            "DELETE FROM quotas q WHERE (q.scope = 'tenant' AND q.scope_id = $1)
                OR (q.scope = 'member' AND NOT EXISTS (SELECT 1 FROM members m WHERE m.id = q.scope_id))
                OR (q.scope = 'api_key' AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.id = q.scope_id))",
        )
        .bind(id)
        .execute(&mut *conn)
        .await?;
        let audit = Audit::new("tenant.delete", "tenant", id)
            .tenant(id)
            .before(before.audit());
        Ok(Outcome::Changed(true, audit.notify(audit::KEYS_AND_QUOTAS)))
    })
    .await
}
