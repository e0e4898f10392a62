//! The audit log: who changed what, when, with before and after (secrets redacted by the
//! caller: nothing secret is ever passed in).

use serde_json::Value;
use uuid::Uuid;

use super::StoreError;

pub struct AuditEntry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target_kind: &'a str,
    pub target_id: Option<String>,
    pub tenant_id: Option<Uuid>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

pub async fn record<'e, E>(executor: E, entry: AuditEntry<'_>) -> Result<(), StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    sqlx::query(
        "INSERT INTO audit_log (id, actor, action, target_kind, target_id, tenant_id, before, after)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::now_v7())
    .bind(entry.actor)
    .bind(entry.action)
    .bind(entry.target_kind)
    .bind(entry.target_id)
    .bind(entry.tenant_id)
    .bind(entry.before)
    .bind(entry.after)
    .execute(executor)
    .await?;
    Ok(())
}
