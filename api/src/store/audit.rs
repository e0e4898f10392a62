//! The audit log: who changed what, when, with before and after (secrets redacted by the
//! caller: nothing secret is ever passed in). Every audited write goes through [`audited`].

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{StoreError, notify_change};

/// What instances reload on a change; the words sent on [`super::CHANGE_CHANNEL`].
pub const POOL: &[&str] = &["pool"];
pub const API_KEYS: &[&str] = &["api_keys"];
pub const QUOTAS: &[&str] = &["quotas"];
pub const KEYS_AND_QUOTAS: &[&str] = &["api_keys", "quotas"];
/// Its own word: instances clear their in-memory cooldowns on it.
pub const COOLDOWNS: &[&str] = &["cooldowns"];
pub const NOTHING: &[&str] = &[];

/// One audit row, and what to announce when it commits.
#[derive(Debug, Clone)]
pub struct Audit {
    /// `<kind>.<verb>`, e.g. `provider.update`.
    pub action: String,
    pub target_kind: &'static str,
    pub target_id: Option<String>,
    pub tenant_id: Option<Uuid>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub notify: &'static [&'static str],
}

impl Audit {
    pub fn new(
        action: impl Into<String>,
        target_kind: &'static str,
        target_id: impl ToString,
    ) -> Self {
        Audit {
            action: action.into(),
            target_kind,
            target_id: Some(target_id.to_string()),
            tenant_id: None,
            before: None,
            after: None,
            notify: NOTHING,
        }
    }

    pub fn tenant(self, tenant_id: Uuid) -> Self {
        Audit {
            tenant_id: Some(tenant_id),
            ..self
        }
    }

    pub fn before(self, before: Value) -> Self {
        Audit {
            before: Some(before),
            ..self
        }
    }

    pub fn after(self, after: Value) -> Self {
        Audit {
            after: Some(after),
            ..self
        }
    }

    pub fn notify(self, notify: &'static [&'static str]) -> Self {
        Audit { notify, ..self }
    }
}

/// What a change did: something (audited), or nothing (rolled back, not audited).
pub enum Outcome<T> {
    Changed(T, Audit),
    Unchanged(T),
}

/// Runs `change` in a transaction; when it changed something, writes its audit row and
/// announces it on the change channel, and commits. Nothing is announced unless it commits.
pub async fn audited<T, E>(
    pool: &PgPool,
    actor: &str,
    change: impl AsyncFnOnce(&mut PgConnection) -> Result<Outcome<T>, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    let mut tx = pool.begin().await.map_err(StoreError::from)?;
    match change(&mut *tx).await? {
        // Dropping the transaction rolls back whatever the change did before it decided.
        Outcome::Unchanged(value) => Ok(value),
        Outcome::Changed(value, audit) => {
            record(&mut tx, actor, &audit).await?;
            for what in audit.notify {
                notify_change(&mut *tx, what).await?;
            }
            tx.commit().await.map_err(StoreError::from)?;
            Ok(value)
        }
    }
}

async fn record(conn: &mut PgConnection, actor: &str, audit: &Audit) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (id, actor, action, target_kind, target_id, tenant_id, before, after)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::now_v7())
    .bind(actor)
    .bind(&audit.action)
    .bind(audit.target_kind)
    .bind(&audit.target_id)
    .bind(audit.tenant_id)
    .bind(&audit.before)
    .bind(&audit.after)
    .execute(conn)
    .await?;
    Ok(())
}

/// A value as audited JSON.
pub fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[derive(Debug, Clone, FromRow)]
pub struct AuditRow {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    pub tenant_id: Option<Uuid>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub tenant_id: Option<Uuid>,
    pub action: Option<String>,
    pub target_kind: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Newest first; `cursor` is the id of the last row of the previous page. Fetches
/// `limit + 1` rows so that the caller can tell whether there is a next page.
pub async fn list(
    pool: &PgPool,
    filter: &AuditFilter,
    cursor: Option<Uuid>,
    limit: u32,
) -> Result<Vec<AuditRow>, StoreError> {
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(
        "SELECT id, at, actor, action, target_kind, target_id, tenant_id, before, after
         FROM audit_log WHERE true",
    );
    if let Some(tenant) = filter.tenant_id {
        query.push(" AND tenant_id = ");
        query.push_bind(tenant);
    }
    for (column, value) in [
        ("action", &filter.action),
        ("target_kind", &filter.target_kind),
    ] {
        if let Some(value) = value {
            super::validate::text(column, value)?;
            query.push(format!(" AND {column} = "));
            query.push_bind(value.clone());
        }
    }
    if let Some(from) = filter.from {
        query.push(" AND at >= ");
        query.push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" AND at < ");
        query.push_bind(to);
    }
    if let Some(cursor) = cursor {
        query.push(" AND id < ");
        query.push_bind(cursor);
    }
    query.push(" ORDER BY id DESC LIMIT ");
    query.push_bind(i64::from(limit) + 1);
    Ok(query.build_query_as().fetch_all(pool).await?)
}
