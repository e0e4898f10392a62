//! Quotas of a tenant, a member or an api key, enforced on `/v1`.

use chrono::{DateTime, Utc};
use freeway_wire::tenants::QuotaScope;
use serde_json::json;
use sqlx::{AssertSqlSafe, FromRow, PgPool};
use uuid::Uuid;

use super::audit::{self, Audit, Outcome, audited};
use super::{StoreError, validate};

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

impl QuotaColumns {
    fn check(&self) -> Result<(), StoreError> {
        let small = i64::from(i32::MAX);
        validate::count("rpm", self.rpm.map(i64::from), small)?;
        validate::count("rpd", self.rpd.map(i64::from), small)?;
        validate::count("tpm", self.tpm, i64::MAX)?;
        validate::count("tpd", self.tpd, i64::MAX)?;
        validate::count("tokens_per_month", self.tokens_per_month, i64::MAX)?;
        validate::model_ids("allowed_models", self.allowed_models.as_deref())?;
        validate::timestamp("expires_at", self.expires_at)
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct QuotaRow {
    pub id: Uuid,
    pub scope: QuotaScope,
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

const COLUMNS: &str = "id, scope, scope_id, rpm, rpd, tpm, tpd, tokens_per_month,
    allowed_models, expires_at, created_at, updated_at";

impl QuotaRow {
    fn audit(&self) -> serde_json::Value {
        json!({
            "scope": self.scope, "scope_id": self.scope_id, "rpm": self.rpm, "rpd": self.rpd,
            "tpm": self.tpm, "tpd": self.tpd, "tokens_per_month": self.tokens_per_month,
            "allowed_models": self.allowed_models, "expires_at": self.expires_at,
        })
    }
}

/// Sets the quota of a tenant, member or api key (`scope` is `tenant`, `member` or
/// `api_key`), replacing any it had. Every instance applies it within a second.
pub async fn set(
    pool: &PgPool,
    actor: &str,
    scope: QuotaScope,
    scope_id: Uuid,
    columns: QuotaColumns,
) -> Result<QuotaRow, StoreError> {
    columns.check()?;
    audited(pool, actor, async |conn| {
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
        .fetch_one(&mut *conn)
        .await?;
        let Some(tenant_id) = tenant_id else {
            return Err(StoreError::NotFound(format!("{scope} {scope_id}")));
        };
        let before: Option<QuotaRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM quotas WHERE scope = $1 AND scope_id = $2 FOR UPDATE"
        )))
        .bind(scope)
        .bind(scope_id)
        .fetch_optional(&mut *conn)
        .await?;
        let row: QuotaRow = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO quotas (id, scope, scope_id, rpm, rpd, tpm, tpd, tokens_per_month,
                                 allowed_models, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (scope, scope_id) DO UPDATE
             SET rpm = $4, rpd = $5, tpm = $6, tpd = $7, tokens_per_month = $8,
                 allowed_models = $9, expires_at = $10, updated_at = now()
             RETURNING {COLUMNS}"
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
        .fetch_one(&mut *conn)
        .await?;
        let audit = Audit {
            before: before.as_ref().map(QuotaRow::audit),
            ..Audit::new("quota.set", "quota", row.id)
        };
        let audit = audit.tenant(tenant_id).after(row.audit());
        Ok(Outcome::Changed(row, audit.notify(audit::QUOTAS)))
    })
    .await
}

pub async fn find(
    pool: &PgPool,
    scope: QuotaScope,
    scope_id: Uuid,
) -> Result<Option<QuotaRow>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM quotas WHERE scope = $1 AND scope_id = $2"
    )))
    .bind(scope)
    .bind(scope_id)
    .fetch_optional(pool)
    .await?)
}

/// The quotas of a tenant, its members and their api keys; of every tenant when `None`
/// (for the in-memory ledger).
pub async fn list(pool: &PgPool, tenant_id: Option<Uuid>) -> Result<Vec<QuotaRow>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM quotas
         WHERE $1::uuid IS NULL
            OR (scope = 'tenant' AND scope_id = $1)
            OR (scope = 'member' AND scope_id IN (SELECT id FROM members WHERE tenant_id = $1))
            OR (scope = 'api_key' AND scope_id IN (SELECT id FROM api_keys WHERE tenant_id = $1))
         ORDER BY CASE scope WHEN 'tenant' THEN 0 WHEN 'member' THEN 1 ELSE 2 END, created_at"
    )))
    .bind(tenant_id)
    .fetch_all(pool)
    .await?)
}

/// Removes the quota of a scope (no limits left); `false` when it had none.
pub async fn delete(
    pool: &PgPool,
    actor: &str,
    tenant_id: Uuid,
    scope: QuotaScope,
    scope_id: Uuid,
) -> Result<bool, StoreError> {
    audited(pool, actor, async |conn| {
        let before: Option<QuotaRow> = sqlx::query_as(AssertSqlSafe(format!(
            "DELETE FROM quotas WHERE scope = $1 AND scope_id = $2 RETURNING {COLUMNS}"
        )))
        .bind(scope)
        .bind(scope_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(before) = before else {
            return Ok(Outcome::Unchanged(false));
        };
        let audit = Audit::new("quota.delete", "quota", before.id)
            .tenant(tenant_id)
            .before(before.audit());
        Ok(Outcome::Changed(true, audit.notify(audit::QUOTAS)))
    })
    .await
}
