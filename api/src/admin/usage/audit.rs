//! The audit log: every admin change, who made it, when, and the row before and after.

use actix_web::{HttpResponse, web};
use freeway_wire::usage::{AuditQuery, AuditRecord};
use serde_json::Value;

use super::{page_limit, text_filter};
use crate::admin::AdminState;
use crate::admin::auth::{Principal, Role};
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminQuery};
use crate::admin::page::Page;
use crate::store::audit::{self, AuditFilter, AuditRow};

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

/// List audit records
///
/// Who changed what, newest first; secrets are redacted.
#[utoipa::path(get, path = "/admin/v1/audit", tag = "audit", operation_id = "audit_list",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of admin changes, newest first", body = Page<AuditRecord>),
        (status = 403, description = "Members have no audit log", body = AdminErrorEnvelope),
        (status = 404, description = "Another tenant", body = AdminErrorEnvelope),
        (status = 422, description = "A parameter is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn list(
    principal: Principal,
    state: web::Data<AdminState>,
    query: AdminQuery<AuditQuery>,
) -> Result<HttpResponse, AdminError> {
    let (limit, cursor) = (page_limit(query.limit)?, query.cursor);
    let mut tenant_id = query.tenant_id;
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
        action: text_filter("action", &query.action)?,
        target_kind: text_filter("target_kind", &query.target_kind)?,
        from: query.from.map(|t| t.0),
        to: query.to.map(|t| t.0),
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
