//! A provider's models: modality, capabilities, context window, embedding family, limits.

use actix_web::{HttpResponse, web};
use freeway_wire::pool::{ModelPatch, ModelView, NewModel};

use super::LimitColumnsExt;
use super::{LimitSet, check_priority, deleted, provider, row_id};
use crate::admin::AdminState;
use crate::admin::auth::Principal;
use crate::admin::error::AdminQuery;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminJson};
use crate::admin::page::{Page, PageQuery};
use crate::store::Cursor;
use crate::store::models::{self, ModelFields, ModelRow as ModelRecord};

pub(super) fn view(provider: &str, row: ModelRecord) -> ModelView {
    ModelView {
        limits: LimitSet::from_columns(row.limits()),
        id: row.id,
        provider_id: row.provider_id,
        provider: provider.to_string(),
        model_id: row.model_id,
        modality: row.modality,
        supports_tools: row.supports_tools,
        supports_vision: row.supports_vision,
        supports_json: row.supports_json,
        context_window: row.context_window,
        embedding_family: row.embedding_family,
        embedding_dimensions: row.embedding_dimensions,
        enabled: row.enabled,
        priority: row.priority,
        tier: row.tier,
        origin: row.origin,
        edited: row.edited,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn context_window(value: Option<u32>) -> Result<Option<i32>, AdminError> {
    match value {
        None => Ok(None),
        Some(v) => match i32::try_from(v) {
            Ok(v) if v > 0 => Ok(Some(v)),
            _ => Err(AdminError::invalid(
                "context_window",
                "`context_window` must be a positive number of tokens, or null.",
            )),
        },
    }
}

fn dimensions(value: Option<u32>) -> Result<Option<i32>, AdminError> {
    match value {
        None => Ok(None),
        Some(v @ 1..=65_536) => Ok(i32::try_from(v).ok()),
        Some(_) => Err(AdminError::invalid(
            "embedding_dimensions",
            "`embedding_dimensions` must be between 1 and 65536.",
        )),
    }
}

/// List a provider's models
#[utoipa::path(get, path = "/admin/v1/providers/{provider}/models", tag = "models", operation_id = "models_list",
    params(("provider" = String, Path, description = "The provider's id or name"), PageQuery),
    responses(
        (status = 200, description = "The provider's models in creation order", body = Page<ModelView>),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 422, body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn list(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    query: AdminQuery<PageQuery>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let provider = provider(&state.db, &path).await?;
    let limit = crate::admin::page::limit(&query)?;
    let rows = models::list(
        &state.db,
        Some(provider.id),
        Cursor::page(query.cursor, i64::from(limit) + 1),
    )
    .await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    Ok(HttpResponse::Ok().json(Page {
        data: page
            .data
            .into_iter()
            .map(|r| view(&provider.name, r))
            .collect::<Vec<_>>(),
        next_cursor: page.next_cursor,
    }))
}

/// Add a model to a provider
#[utoipa::path(post, path = "/admin/v1/providers/{provider}/models", tag = "models", operation_id = "models_create",
    params(("provider" = String, Path, description = "The provider's id or name")),
    request_body = NewModel,
    responses(
        (status = 201, description = "Created", body = ModelView),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 409, description = "The provider already has this model", body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn create(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    body: AdminJson<NewModel>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let provider = provider(&state.db, &path).await?;
    let body = body.into_inner();
    let fields = ModelFields {
        model_id: body.model_id,
        modality: body.modality.unwrap_or_default(),
        supports_tools: body.supports_tools,
        supports_vision: body.supports_vision,
        supports_json: body.supports_json,
        context_window: context_window(body.context_window)?,
        embedding_family: body.embedding_family,
        embedding_dimensions: dimensions(body.embedding_dimensions)?,
        limits: body.limits.unwrap_or_default().columns("limits")?,
        enabled: body.enabled.unwrap_or(true),
        priority: check_priority(body.priority.unwrap_or(100))?,
        tier: body.tier,
    };
    let row = models::create(&state.db, &principal.actor(), &provider, &fields).await?;
    Ok(HttpResponse::Created().json(view(&provider.name, row)))
}

/// Change a model
#[utoipa::path(patch, path = "/admin/v1/providers/{provider}/models/{id}", tag = "models", operation_id = "models_update",
    params(
        ("provider" = String, Path, description = "The provider's id or name"),
        ("id" = Uuid, Path, description = "The model's row id"),
    ),
    request_body = ModelPatch,
    responses(
        (status = 200, description = "The model as it is now", body = ModelView),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn update(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String)>,
    body: AdminJson<ModelPatch>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let provider = provider(&state.db, &path.0).await?;
    let id = row_id(&path.1, "model")?;
    let patch = body.into_inner();
    let row = models::update(&state.db, &principal.actor(), provider.id, id, |_, f| {
        if let Some(modality) = &patch.modality {
            f.modality = *modality;
        }
        if let Some(v) = patch.supports_tools {
            f.supports_tools = v;
        }
        if let Some(v) = patch.supports_vision {
            f.supports_vision = v;
        }
        if let Some(v) = patch.supports_json {
            f.supports_json = v;
        }
        if let Some(window) = patch.context_window {
            f.context_window = context_window(window)?;
        }
        if let Some(family) = &patch.embedding_family {
            f.embedding_family = family.clone();
        }
        if let Some(dims) = patch.embedding_dimensions {
            f.embedding_dimensions = dimensions(dims)?;
        }
        if let Some(limits) = &patch.limits {
            f.limits = limits.columns("limits")?;
        }
        if let Some(enabled) = patch.enabled {
            f.enabled = enabled;
        }
        if let Some(priority) = patch.priority {
            f.priority = check_priority(priority)?;
        }
        if let Some(tier) = patch.tier {
            f.tier = tier;
        }
        Ok::<(), AdminError>(())
    })
    .await?
    .ok_or_else(|| AdminError::not_found("model"))?;
    Ok(HttpResponse::Ok().json(view(&provider.name, row)))
}

/// Delete a custom model
///
/// Built-in models are disabled instead (409).
#[utoipa::path(delete, path = "/admin/v1/providers/{provider}/models/{id}", tag = "models", operation_id = "models_delete",
    params(
        ("provider" = String, Path, description = "The provider's id or name"),
        ("id" = Uuid, Path, description = "The model's row id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, description = "No such provider", body = AdminErrorEnvelope),
        (status = 409, description = "A built-in model: disable it instead", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn delete(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let provider = provider(&state.db, &path.0).await?;
    let id = row_id(&path.1, "model")?;
    let result = models::delete(&state.db, &principal.actor(), provider.id, id).await?;
    deleted(result, "model")
}
