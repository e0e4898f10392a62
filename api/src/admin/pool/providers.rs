//! Providers: base URL, keyless or not, account-wide limits, the zone whose midnight resets
//! daily limits.

use actix_web::{HttpResponse, web};
use freeway_wire::pool::{NewProvider, Origin, ProviderPatch, ProviderView};

use super::LimitColumnsExt;
use super::{LimitSet, check_priority, deleted, provider};
use crate::admin::auth::Principal;
use crate::admin::error::AdminQuery;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminJson};
use crate::admin::page::{Page, PageQuery};
use crate::state::AppState;
use crate::store::admin_pool::{self, ProviderFields, ProviderRecord};

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
            origin: Origin::parse(&row.origin).unwrap_or(Origin::Custom),
            edited: row.edited,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

fn check_name(name: &str) -> Result<String, AdminError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if first_ok && rest_ok && name.len() <= 63 {
        Ok(name.to_string())
    } else {
        Err(AdminError::invalid(
            "name",
            "A provider name is 1 to 63 lowercase letters, digits, '.', '_' or '-', starting \
             with a letter or digit.",
        ))
    }
}

fn check_display_name(name: &str) -> Result<String, AdminError> {
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AdminError::invalid(
            "display_name",
            "`display_name` is at most 100 printable characters.",
        ));
    }
    Ok(name.trim().to_string())
}

/// What `base_url` must look like: http(s), a host of letters, digits, `.`, `-` and an
/// optional port, then any path without spaces or control characters.
pub const BASE_URL_PATTERN: &str =
    r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s\x00-\x1f\x7f-\x9f?#]*)?$";

/// [`BASE_URL_PATTERN`], checked without a regex engine.
fn fits_base_url_pattern(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        && !path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
}

fn check_base_url(url: &str) -> Result<String, AdminError> {
    let checked = if fits_base_url_pattern(url) {
        crate::store::pool::validate_base_url(url).ok()
    } else {
        None
    };
    checked.ok_or_else(|| {
        AdminError::invalid(
            "base_url",
            "`base_url` must be an http:// or https:// URL with a host.",
        )
    })
}

fn check_timeout(ms: u32) -> Result<i32, AdminError> {
    match i32::try_from(ms) {
        Ok(ms) if (1..=600_000).contains(&ms) => Ok(ms),
        _ => Err(AdminError::invalid(
            "timeout_ms",
            "`timeout_ms` must be between 1 and 600000.",
        )),
    }
}

fn check_tz(tz: &str) -> Result<String, AdminError> {
    tz.parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_string())
        .map_err(|_| {
            AdminError::invalid(
                "daily_reset_tz",
                "`daily_reset_tz` must be an IANA time zone such as `UTC` or `America/Los_Angeles`.",
            )
        })
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
    state: web::Data<AppState>,
    query: AdminQuery<PageQuery>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let limit = crate::admin::page::limit(&query)?;
    let rows = admin_pool::list_providers(&state.db, query.cursor, i64::from(limit) + 1).await?;
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
    state: web::Data<AppState>,
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
    let row = admin_pool::create_provider(&state.db, &principal.actor(), &fields).await?;
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
    state: web::Data<AppState>,
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
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: AdminJson<ProviderPatch>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let id = provider(&state.db, &path).await?.id;
    let patch = body.into_inner();
    let row = admin_pool::update_provider(&state.db, &principal.actor(), id, |row, f| {
        if let Some(name) = &patch.name {
            let name = check_name(name)?;
            if row.origin == "builtin" && name != row.name {
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
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let Some(row) = admin_pool::find_provider(&state.db, &path).await? else {
        return Err(AdminError::not_found("provider"));
    };
    let result = admin_pool::delete_provider(&state.db, &principal.actor(), row.id).await?;
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
