//! Instance settings: named JSON values, changed by instance admins and audited.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::{FromRow, PgPool};

use super::audit::{self as audits, Audit, Outcome, audited};
use super::{StoreError, validate};
use freeway_wire::routing::Strategy;

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Setting {
    pub key: String,
    pub value: Value,
    pub updated_at: DateTime<Utc>,
}

pub async fn list(pool: &PgPool) -> Result<Vec<Setting>, StoreError> {
    Ok(
        sqlx::query_as("SELECT key, value, updated_at FROM settings ORDER BY key")
            .fetch_all(pool)
            .await?,
    )
}

/// The setting that holds `auto`'s strategy (a JSON string such as `"balanced"`), for when
/// no admin profile is named `auto`. Absent: `priority`.
pub const AUTO_STRATEGY: &str = "routing.auto_strategy";

/// `auto`'s strategy, as the pool's catalog is built with it.
pub async fn auto_strategy(pool: &PgPool) -> Result<Strategy, StoreError> {
    let value: Option<Value> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(AUTO_STRATEGY)
        .fetch_optional(pool)
        .await?;
    Ok(value
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default())
}

/// Settings the router reads: checked when set, and the pool is rebuilt when they change.
fn check_routing(key: &str, value: &Value) -> Result<(), StoreError> {
    if key == AUTO_STRATEGY && serde_json::from_value::<Strategy>(value.clone()).is_err() {
        let valid: Vec<&str> = Strategy::ALL.iter().map(|s| s.as_str()).collect();
        return Err(StoreError::invalid(
            "value",
            format!("`{AUTO_STRATEGY}` is one of {}.", valid.join(", ")),
        ));
    }
    Ok(())
}

fn notify(key: &str) -> &'static [&'static str] {
    if key.starts_with("routing.") {
        audits::POOL
    } else {
        &[]
    }
}

/// Whether a setting's value must stay out of the audit log.
fn secret_setting(key: &str) -> bool {
    ["secret", "password", "token", "api_key", "credential"]
        .iter()
        .any(|word| key.contains(word))
}

fn audited_value(key: &str, value: Option<Value>) -> Option<Value> {
    value.map(|v| {
        if secret_setting(key) {
            json!({ "value": "[redacted]" })
        } else {
            json!({ "value": v })
        }
    })
}

fn audit(action: &'static str, key: &str, before: Option<Value>, after: Option<Value>) -> Audit {
    Audit {
        before: audited_value(key, before),
        after: audited_value(key, after),
        ..Audit::new(action, "setting", key)
    }
}

/// Creates or replaces a setting, audited with its value before and after.
pub async fn put(
    pool: &PgPool,
    actor: &str,
    key: &str,
    value: &Value,
) -> Result<Setting, StoreError> {
    validate::setting_key(key)?;
    if value.is_null() {
        return Err(StoreError::invalid(
            "value",
            "A setting needs a value; delete it to unset it.",
        ));
    }
    validate::json("value", value)?;
    check_routing(key, value)?;
    audited(pool, actor, async |conn| {
        let before: Option<Value> =
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1 FOR UPDATE")
                .bind(key)
                .fetch_optional(&mut *conn)
                .await?;
        let setting: Setting = sqlx::query_as(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, now())
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
             RETURNING key, value, updated_at",
        )
        .bind(key)
        .bind(value)
        .fetch_one(&mut *conn)
        .await?;
        let audit = audit("setting.put", key, before, Some(value.clone())).notify(notify(key));
        Ok(Outcome::Changed(setting, audit))
    })
    .await
}

/// Removes a setting; `false` when there was none (nothing is audited then).
pub async fn delete(pool: &PgPool, actor: &str, key: &str) -> Result<bool, StoreError> {
    validate::setting_key(key)?;
    audited(pool, actor, async |conn| {
        let before: Option<Value> =
            sqlx::query_scalar("DELETE FROM settings WHERE key = $1 RETURNING value")
                .bind(key)
                .fetch_optional(&mut *conn)
                .await?;
        Ok(match before {
            None => Outcome::Unchanged(false),
            before => Outcome::Changed(
                true,
                audit("setting.delete", key, before, None).notify(notify(key)),
            ),
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_settings_are_redacted_in_the_audit_log() {
        assert_eq!(
            audited_value("smtp.password", Some(json!("hunter2"))),
            Some(json!({"value": "[redacted]"}))
        );
        assert_eq!(
            audited_value("ui.title", Some(json!("Freeway"))),
            Some(json!({"value": "Freeway"}))
        );
    }
}
