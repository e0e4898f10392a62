//! Instance settings: named JSON values, changed by instance admins and audited.

use actix_web::{HttpResponse, web};
use freeway_wire::usage::{SettingEntry, SettingValue};

use crate::admin::AdminState;
use crate::admin::auth::Principal;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminJson};
use crate::store::settings::{self, Setting};
use crate::store::validate;

impl From<Setting> for SettingEntry {
    fn from(setting: Setting) -> Self {
        SettingEntry {
            key: setting.key,
            value: setting.value,
            updated_at: setting.updated_at,
        }
    }
}

/// `[a-z0-9_.]{1,64}`.
fn check_key(key: &str) -> Result<(), AdminError> {
    Ok(validate::setting_key(key)?)
}

/// List settings
#[utoipa::path(get, path = "/admin/v1/settings", tag = "settings", operation_id = "settings_list",
    responses(
        (status = 200, description = "Every setting, by key", body = Vec<SettingEntry>),
        (status = 403, description = "Instance admins only", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn list(
    principal: Principal,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let settings: Vec<SettingEntry> = settings::list(&state.db)
        .await?
        .into_iter()
        .map(SettingEntry::from)
        .collect();
    Ok(HttpResponse::Ok().json(settings))
}

/// Set a setting
#[utoipa::path(put, path = "/admin/v1/settings/{key}", tag = "settings", operation_id = "settings_put",
    params(("key" = String, Path, description = "`[a-z0-9_.]{1,64}`", example = "ui.title", pattern = r"^[a-z0-9_.]{1,64}$")),
    request_body = SettingValue,
    responses(
        (status = 200, description = "The setting as stored", body = SettingEntry),
        (status = 403, description = "Instance admins only", body = AdminErrorEnvelope),
        (status = 422, description = "A bad key or value; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn put(
    principal: Principal,
    state: web::Data<AdminState>,
    key: web::Path<String>,
    body: AdminJson<SettingValue>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    check_key(&key)?;
    if body.value.is_null() {
        return Err(AdminError::invalid(
            "value",
            "A setting needs a value; delete it to unset it.",
        ));
    }
    let setting = settings::put(&state.db, &principal.actor(), &key, &body.value).await?;
    Ok(HttpResponse::Ok().json(SettingEntry::from(setting)))
}

/// Remove a setting
#[utoipa::path(delete, path = "/admin/v1/settings/{key}", tag = "settings", operation_id = "settings_delete",
    params(("key" = String, Path, description = "`[a-z0-9_.]{1,64}`", pattern = r"^[a-z0-9_.]{1,64}$")),
    responses(
        (status = 204, description = "Deleted, or there was none (idempotent)"),
        (status = 403, description = "Instance admins only", body = AdminErrorEnvelope),
        (status = 422, description = "A bad key", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn delete(
    principal: Principal,
    state: web::Data<AdminState>,
    key: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    check_key(&key)?;
    settings::delete(&state.db, &principal.actor(), &key).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_lowercase_dotted_names() {
        for good in ["ui.title", "a", "usage.retention_days", &"x".repeat(64)] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in ["", "UI", "a-b", "a b", "ü", &"x".repeat(65)] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }
}
