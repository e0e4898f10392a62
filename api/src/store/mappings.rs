//! Model-name mappings: patterns (`claude-*`) whose matching names resolve as a target
//! (`auto`) when nothing in the pool answers to them directly.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{FromRow, PgPool};

use super::audit::{self, Audit, Outcome, audited};
use super::{StoreError, validate};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct MappingRow {
    pub pattern: String,
    pub target: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Every mapping, by pattern (the catalog orders them by how specific they are).
pub async fn list(pool: &PgPool) -> Result<Vec<MappingRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT pattern, target, created_at, updated_at FROM model_mappings ORDER BY pattern",
    )
    .fetch_all(pool)
    .await?)
}

/// Creates the mapping of `pattern`, or points it at `target` instead; every instance
/// reloads its catalog. Setting the target it already has changes nothing.
pub async fn put(
    pool: &PgPool,
    actor: &str,
    pattern: &str,
    target: &str,
) -> Result<MappingRow, StoreError> {
    let pattern = validate::mapping_pattern(pattern)?;
    let target = validate::mapping_target(target)?;
    audited(pool, actor, async |conn| {
        let before: Option<MappingRow> = sqlx::query_as(
            "SELECT pattern, target, created_at, updated_at FROM model_mappings
             WHERE pattern = $1 FOR UPDATE",
        )
        .bind(pattern)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = before.as_ref().filter(|row| row.target == target) {
            return Ok(Outcome::Unchanged(row.clone()));
        }
        let row: MappingRow = sqlx::query_as(
            "INSERT INTO model_mappings (pattern, target) VALUES ($1, $2)
             ON CONFLICT (pattern) DO UPDATE SET target = $2, updated_at = now()
             RETURNING pattern, target, created_at, updated_at",
        )
        .bind(pattern)
        .bind(target)
        .fetch_one(&mut *conn)
        .await?;
        let mut audit = Audit::new("model_mapping.put", "model_mapping", pattern)
            .after(json!({ "pattern": pattern, "target": target }));
        if let Some(before) = before {
            audit = audit.before(json!({ "pattern": pattern, "target": before.target }));
        }
        Ok(Outcome::Changed(row, audit.notify(audit::POOL)))
    })
    .await
}

/// Deletes the mapping of `pattern`; `false` when there was none.
pub async fn delete(pool: &PgPool, actor: &str, pattern: &str) -> Result<bool, StoreError> {
    audited(pool, actor, async |conn| {
        let target: Option<String> =
            sqlx::query_scalar("DELETE FROM model_mappings WHERE pattern = $1 RETURNING target")
                .bind(validate::text("pattern", pattern)?)
                .fetch_optional(&mut *conn)
                .await?;
        let Some(target) = target else {
            return Ok(Outcome::Unchanged(false));
        };
        let audit = Audit::new("model_mapping.delete", "model_mapping", pattern)
            .before(json!({ "pattern": pattern, "target": target }));
        Ok(Outcome::Changed(true, audit.notify(audit::POOL)))
    })
    .await
}
