//! The audit log: every admin change, who made it, when, and the row before and after.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{parse_name, parse_page, parse_time, parse_uuid};
use crate::admin::auth::{Principal, Role};
use crate::admin::error::{AdminError, AdminErrorEnvelope};
use crate::admin::page::Page;
use crate::state::AppState;
use crate::store::audit::{self, AuditFilter, AuditRow};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Such as `api_key.create` or `setting.put`.
    pub action: Option<String>,
    /// Such as `api_key`, `tenant`, `credential`, `setting`.
    pub target_kind: Option<String>,
    /// Only this tenant's changes (instance admins; a tenant admin always sees only theirs).
    #[param(value_type = Option<uuid::Uuid>)]
    pub tenant_id: Option<String>,
    /// Changes at or after: RFC 3339 time or UTC date.
    #[param(value_type = Option<String>)]
    pub from: Option<String>,
    /// Changes before: RFC 3339 time or UTC date.
    #[param(value_type = Option<String>)]
    pub to: Option<String>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// `admin:<username>`, `cli:<os user>`, or `system`.
    pub actor: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    pub tenant_id: Option<Uuid>,
    /// The object before the change; secrets are never included.
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    /// The object after the change; secrets are never included.
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

/// Field names whose values are never shown, whatever wrote them.
const SECRET_FIELDS: &[&str] = &[
    "secret",
    "password",
    "password_hash",
    "token",
    "api_key",
    "ciphertext",
    "wrapped_key",
    "secret_sha256",
];

/// A second line of defence: writers redact secrets before they reach the log, and this
/// hides any field named like one that slipped through.
fn redact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    if SECRET_FIELDS.contains(&k.as_str()) && !v.is_null() {
                        (k, Value::String("[redacted]".into()))
                    } else {
                        (k, redact(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

impl From<AuditRow> for AuditRecord {
    fn from(row: AuditRow) -> Self {
        AuditRecord {
            id: row.id,
            at: row.at,
            actor: row.actor,
            action: row.action,
            target_kind: row.target_kind,
            target_id: row.target_id,
            tenant_id: row.tenant_id,
            before: row.before.map(redact),
            after: row.after.map(redact),
        }
    }
}

#[utoipa::path(get, path = "/admin/v1/audit", tag = "admin",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of admin changes, newest first", body = Page<AuditRecord>),
        (status = 401, body = AdminErrorEnvelope),
        (status = 403, description = "Members have no audit log", body = AdminErrorEnvelope),
        (status = 404, description = "Another tenant", body = AdminErrorEnvelope),
        (status = 422, description = "A parameter is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AdminError> {
    let (limit, cursor) = parse_page(query.limit.as_deref(), query.cursor.as_deref())?;
    let mut tenant_id = parse_uuid("tenant_id", query.tenant_id.as_deref())?;
    match principal.role {
        Role::InstanceAdmin => {}
        Role::TenantAdmin => {
            let own = principal.tenant_id.ok_or_else(AdminError::forbidden)?;
            if tenant_id.is_some_and(|t| t != own) {
                return Err(AdminError::not_found("tenant"));
            }
            tenant_id = Some(own);
        }
        Role::Member => return Err(AdminError::forbidden()),
    }
    let filter = AuditFilter {
        tenant_id,
        action: parse_name("action", query.action.as_deref())?,
        target_kind: parse_name("target_kind", query.target_kind.as_deref())?,
        from: parse_time("from", query.from.as_deref())?,
        to: parse_time("to", query.to.as_deref())?,
    };
    let rows = audit::list(&state.db, &filter, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    Ok(HttpResponse::Ok().json(Page {
        data: page.data.into_iter().map(AuditRecord::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_fields_are_hidden_at_any_depth() {
        let value =
            json!({"name": "k", "secret": "s3", "nested": [{"password": "p"}], "token": null});
        assert_eq!(
            redact(value),
            json!({"name": "k", "secret": "[redacted]", "nested": [{"password": "[redacted]"}], "token": null})
        );
    }
}
