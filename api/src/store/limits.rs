//! Limits of the pool: what admins set on providers, models, credentials and single routes
//! (`route_limits`), and what the router learned from providers (`learned_limits`).

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{AssertSqlSafe, FromRow, PgPool};
use uuid::Uuid;

use super::audit::{self, Audit, Outcome, audited};
use super::{ResultExt, StoreError, validate};

/// Limit columns as stored: `None` is no limit.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, FromRow,
)]
#[serde(deny_unknown_fields)]
pub struct LimitColumns {
    pub rpm: Option<i32>,
    pub rph: Option<i32>,
    pub rpd: Option<i32>,
    pub tpm: Option<i64>,
    pub tpd: Option<i64>,
}

impl LimitColumns {
    /// RPM, RPH, RPD, TPM and TPD, in that order.
    pub fn values(self) -> [Option<i64>; 5] {
        [
            self.rpm.map(i64::from),
            self.rph.map(i64::from),
            self.rpd.map(i64::from),
            self.tpm,
            self.tpd,
        ]
    }
}

/// Which rows carry limits.
#[derive(Debug, Clone, Copy)]
pub enum LimitTarget {
    Provider(Uuid),
    Model(Uuid),
    Credential(Uuid),
    Route { model: Uuid, credential: Uuid },
}

/// Sets the limits of a provider account, a model (the default for its routes), a
/// credential, or one route.
pub async fn set(
    pool: &PgPool,
    actor: &str,
    target: LimitTarget,
    limits: LimitColumns,
) -> Result<(), StoreError> {
    validate::pool_limits("limits", &limits)?;
    audited(pool, actor, async |conn| {
        let (kind, id, query) = match target {
            LimitTarget::Route { model, credential } => (
                "route",
                format!("{model}:{credential}"),
                sqlx::query(
                    "INSERT INTO route_limits (model_id, credential_id, rpm, rph, rpd, tpm, tpd)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (model_id, credential_id)
                     DO UPDATE SET rpm = $3, rph = $4, rpd = $5, tpm = $6, tpd = $7",
                )
                .bind(model)
                .bind(credential),
            ),
            LimitTarget::Provider(id) | LimitTarget::Model(id) | LimitTarget::Credential(id) => {
                let (kind, table) = match target {
                    LimitTarget::Provider(_) => ("provider", "providers"),
                    LimitTarget::Model(_) => ("model", "models"),
                    _ => ("credential", "credentials"),
                };
                // An admin's limits on a built-in row survive catalog upgrades.
                let edited = if table == "credentials" {
                    ""
                } else {
                    "edited = true,"
                };
                let sql = format!(
                    "UPDATE {table} SET rpm = $2, rph = $3, rpd = $4, tpm = $5, tpd = $6,
                        {edited} updated_at = now() WHERE id = $1"
                );
                (
                    kind,
                    id.to_string(),
                    sqlx::query(AssertSqlSafe(sql)).bind(id),
                )
            }
        };
        let result = query
            .bind(limits.rpm)
            .bind(limits.rph)
            .bind(limits.rpd)
            .bind(limits.tpm)
            .bind(limits.tpd)
            .execute(&mut *conn)
            .await
            // A route names a model and a credential that must exist.
            .on_constraint("route_limits_model_id_fkey", || {
                StoreError::NotFound(format!("model of route {id}"))
            })
            .on_constraint("route_limits_credential_id_fkey", || {
                StoreError::NotFound(format!("credential of route {id}"))
            })?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("{kind} {id}")));
        }
        let audit = Audit::new("limits.set", kind, id).after(json!(limits));
        Ok(Outcome::Changed((), audit.notify(audit::POOL)))
    })
    .await
}

/// Limit overrides on single routes.
#[derive(Debug, Clone, FromRow)]
pub struct RouteLimitRow {
    pub model_id: Uuid,
    pub credential_id: Uuid,
    #[sqlx(flatten)]
    pub limits: LimitColumns,
}

pub async fn list_routes(pool: &PgPool) -> Result<Vec<RouteLimitRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT model_id, credential_id, rpm, rph, rpd, tpm, tpd FROM route_limits")
            .fetch_all(pool)
            .await?,
    )
}

/// Saves what the router learned about a scope's limits.
pub async fn save_learned(
    pool: &PgPool,
    scope: freeway_wire::pool::ScopeKind,
    scope_key: &str,
    limits: LimitColumns,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO learned_limits (scope, scope_key, rpm, rph, rpd, tpm, tpd) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (scope, scope_key) DO UPDATE
         SET rpm = $3, rph = $4, rpd = $5, tpm = $6, tpd = $7, learned_at = now()",
    )
    .bind(scope)
    .bind(scope_key)
    .bind(limits.rpm)
    .bind(limits.rph)
    .bind(limits.rpd)
    .bind(limits.tpm)
    .bind(limits.tpd)
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct LearnedRow {
    pub scope_key: String,
    #[sqlx(flatten)]
    pub limits: LimitColumns,
    pub learned_at: DateTime<Utc>,
}

pub async fn list_learned(pool: &PgPool) -> Result<Vec<LearnedRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT scope_key, rpm, rph, rpd, tpm, tpd, learned_at FROM learned_limits ORDER BY scope_key",
    )
    .fetch_all(pool)
    .await?)
}
