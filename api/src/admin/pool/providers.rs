//! Providers: base URL, keyless or not, account-wide limits, the zone whose midnight resets
//! daily limits.

use actix_web::{HttpResponse, web};
use freeway_wire::pool::{NewProvider, Origin, ProviderPatch, ProviderView};

use super::LimitColumnsExt;
use super::{LimitSet, check_priority, deleted, provider};
use crate::admin::AdminState;
use crate::admin::auth::Principal;
use crate::admin::error::AdminQuery;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminJson};
use crate::admin::page::{Page, PageQuery};
use crate::store::providers::{self, ProviderFields, ProviderRow as ProviderRecord};
use crate::store::{Cursor, validate};

impl From<ProviderRecord> for ProviderView {
    fn from(row: ProviderRecord) -> Self {
        ProviderView {
            limits: LimitSet::from_columns(row.limits()),
            id: row.id,
            name: row.name,
            display_name: row.display_name,
            base_url: row.base_url,
            keyless: row.keyless,
            enabled: row.enabled,
            priority: row.priority,
            timeout_ms: row.timeout_ms,
            daily_reset_tz: row.daily_reset_tz,
            origin: row.origin,
            edited: row.edited,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

fn check_name(name: &str) -> Result<String, AdminError> {
    Ok(validate::provider_name(name)?)
}

fn check_display_name(name: &str) -> Result<String, AdminError> {
    Ok(validate::label("display_name", name, 100)?)
}

fn check_base_url(url: &str) -> Result<String, AdminError> {
    Ok(validate::base_url(url)?)
}

fn check_timeout(ms: u32) -> Result<i32, AdminError> {
    Ok(validate::timeout_ms(i64::from(ms))?)
}

fn check_tz(tz: &str) -> Result<String, AdminError> {
    Ok(validate::time_zone(tz)?)
}

/// List providers
///
/// Built-in and custom, by priority.
#[utoipa::path(get, path = "/admin/v1/providers", tag = "providers", operation_id = "providers_list",
    params(PageQuery),
    responses(
        (status = 200, description = "Providers in creation order", body = Page<ProviderView>),
        (status = 403, description = "Not an instance admin", body = AdminErrorEnvelope),
        (status = 422, body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn list(
    principal: Principal,
    state: web::Data<AdminState>,
    query: AdminQuery<PageQuery>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let limit = crate::admin::page::limit(&query)?;
    let rows = providers::list(&state.db, Cursor::page(query.cursor, i64::from(limit) + 1)).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    Ok(HttpResponse::Ok().json(Page {
        data: page
            .data
            .into_iter()
            .map(ProviderView::from)
            .collect::<Vec<_>>(),
        next_cursor: page.next_cursor,
    }))
}

/// Add a custom provider
///
/// Any OpenAI-compatible server (llama.cpp, vLLM, Ollama, ...).
#[utoipa::path(post, path = "/admin/v1/providers", tag = "providers", operation_id = "providers_create",
    request_body = NewProvider,
    responses(
        (status = 201, description = "Created", body = ProviderView),
        (status = 403, body = AdminErrorEnvelope),
        (status = 409, description = "A provider of that name exists", body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn create(
    principal: Principal,
    state: web::Data<AdminState>,
    body: AdminJson<NewProvider>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let body = body.into_inner();
    let fields = ProviderFields {
        name: check_name(&body.name)?,
        display_name: check_display_name(body.display_name.as_deref().unwrap_or_default())?,
        base_url: check_base_url(&body.base_url)?,
        keyless: body.keyless,
        enabled: body.enabled.unwrap_or(true),
        priority: check_priority(body.priority.unwrap_or(100))?,
        timeout_ms: check_timeout(body.timeout_ms.unwrap_or(60_000))?,
        limits: body.limits.unwrap_or_default().columns("limits")?,
        daily_reset_tz: check_tz(body.daily_reset_tz.as_deref().unwrap_or("UTC"))?,
    };
    let row = providers::create(&state.db, &principal.actor(), fields).await?;
    Ok(HttpResponse::Created().json(ProviderView::from(row)))
}

/// Get a provider
#[utoipa::path(get, path = "/admin/v1/providers/{provider}", tag = "providers", operation_id = "providers_get",
    params(("provider" = String, Path, description = "The provider's id or name")),
    responses(
        (status = 200, body = ProviderView),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn get(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let row = provider(&state.db, &path).await?;
    Ok(HttpResponse::Ok().json(ProviderView::from(row)))
}

/// Change a provider
///
/// A changed built-in provider is no longer updated by catalog upgrades.
#[utoipa::path(patch, path = "/admin/v1/providers/{provider}", tag = "providers", operation_id = "providers_update",
    params(("provider" = String, Path, description = "The provider's id or name")),
    request_body = ProviderPatch,
    responses(
        (status = 200, description = "The provider as it is now", body = ProviderView),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 409, description = "The new name is taken, or the provider is built in and keeps its name", body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn update(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    body: AdminJson<ProviderPatch>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let id = provider(&state.db, &path).await?.id;
    let patch = body.into_inner();
    let row = providers::update(&state.db, &principal.actor(), id, |row, f| {
        if let Some(name) = &patch.name {
            let name = check_name(name)?;
            if row.origin == Origin::Builtin && name != row.name {
                return Err(AdminError {
                    field: Some("name".into()),
                    ..AdminError::new(
                        actix_web::http::StatusCode::CONFLICT,
                        "conflict",
                        "A built-in provider keeps its name.",
                    )
                });
            }
            f.name = name;
        }
        if let Some(name) = &patch.display_name {
            f.display_name = check_display_name(name)?;
        }
        if let Some(url) = &patch.base_url {
            f.base_url = check_base_url(url)?;
        }
        if let Some(keyless) = patch.keyless {
            f.keyless = keyless;
        }
        if let Some(enabled) = patch.enabled {
            f.enabled = enabled;
        }
        if let Some(priority) = patch.priority {
            f.priority = check_priority(priority)?;
        }
        if let Some(ms) = patch.timeout_ms {
            f.timeout_ms = check_timeout(ms)?;
        }
        if let Some(limits) = &patch.limits {
            f.limits = limits.columns("limits")?;
        }
        if let Some(tz) = &patch.daily_reset_tz {
            f.daily_reset_tz = check_tz(tz)?;
        }
        Ok(())
    })
    .await?
    .ok_or_else(|| AdminError::not_found("provider"))?;
    Ok(HttpResponse::Ok().json(ProviderView::from(row)))
}

/// Delete a custom provider
///
/// With its models and credentials. Built-in providers are disabled instead (409).
#[utoipa::path(delete, path = "/admin/v1/providers/{provider}", tag = "providers", operation_id = "providers_delete",
    params(("provider" = String, Path, description = "The provider's id or name")),
    responses(
        (status = 204, description = "Deleted with its models and credentials"),
        (status = 403, body = AdminErrorEnvelope),
        (status = 409, description = "A built-in provider: disable it instead", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn delete(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let Some(row) = providers::find(&state.db, &path).await? else {
        return Err(AdminError::not_found("provider"));
    };
    let result = providers::delete(&state.db, &principal.actor(), row.id).await?;
    deleted(result, "provider")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_database_rule() {
        for good in ["groq", "my-vllm", "a", "0.x_y-z"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Groq", "-x", "a/b", "a b", &"x".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_tz("Europe/Paris").is_ok());
        assert!(check_tz("Mars/Olympus").is_err());
        assert!(check_timeout(0).is_err());
    }
}
