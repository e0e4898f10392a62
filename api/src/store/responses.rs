//! Stored responses of `/v1/responses`: each readable only with the api key that made it,
//! and deleted past the retention setting.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;

/// A stored response: the object answered, and the conversation it ends.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    pub body: Value,
    pub context: Value,
}

pub async fn insert(
    pool: &PgPool,
    id: &str,
    api_key_id: Uuid,
    body: &Value,
    context: &Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO responses (id, api_key_id, body, context) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(api_key_id)
    .bind(body)
    .bind(context)
    .execute(pool)
    .await?;
    Ok(())
}

/// The response `id` if `api_key_id` made it; any other key sees nothing, exactly as for an
/// id that never existed.
pub async fn get(
    pool: &PgPool,
    id: &str,
    api_key_id: Uuid,
) -> Result<Option<StoredResponse>, StoreError> {
    let row: Option<(Value, Value)> =
        sqlx::query_as("SELECT body, context FROM responses WHERE id = $1 AND api_key_id = $2")
            .bind(id)
            .bind(api_key_id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(body, context)| StoredResponse { body, context }))
}

/// Deletes the responses made before `before`; returns how many.
pub async fn purge(pool: &PgPool, before: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM responses WHERE created_at < $1")
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected())
}
