//! A provider's models: modality, capabilities, context window, embedding family, limits.

use actix_web::{HttpResponse, web};
use freeway_wire::pool::{Modality, ModelPatch, ModelView, NewModel, Origin};

use super::LimitColumnsExt;
use super::{LimitSet, check_priority, deleted, provider, row_id};
use crate::admin::auth::Principal;
use crate::admin::error::AdminQuery;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminJson};
use crate::admin::page::{Page, PageQuery};
use crate::state::AppState;
use crate::store::admin_pool::{self, ModelFields, ModelRecord};

fn view(provider: &str, row: ModelRecord) -> ModelView {
    ModelView {
        limits: LimitSet::from_columns(row.limits()),
        id: row.id,
        provider_id: row.provider_id,
        provider: provider.to_string(),
        model_id: row.model_id,
        modality: Modality::parse(&row.modality).unwrap_or_default(),
        supports_tools: row.supports_tools,
        supports_vision: row.supports_vision,
        supports_json: row.supports_json,
        context_window: row.context_window,
        embedding_family: row.embedding_family,
        embedding_dimensions: row.embedding_dimensions,
        enabled: row.enabled,
        priority: row.priority,
        origin: Origin::parse(&row.origin).unwrap_or(Origin::Custom),
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

/// Checks a model as a whole, after a create or a patch.
fn check(fields: &ModelFields) -> Result<(), AdminError> {
    let id = &fields.model_id;
    if id.is_empty() || id.chars().count() > 300 || id.chars().any(char::is_control) {
        return Err(AdminError::invalid(
            "model_id",
            "`model_id` is 1 to 300 printable characters.",
        ));
    }
    if Modality::parse(&fields.modality).is_none() {
        return Err(AdminError::invalid(
            "modality",
            "`modality` must be chat, completion, embedding, image, speech or transcription.",
        ));
    }
    match (&fields.embedding_family, fields.embedding_dimensions) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(AdminError::invalid(
            "embedding_dimensions",
            "`embedding_family` and `embedding_dimensions` go together.",
        )),
        (None, Some(_)) => Err(AdminError::invalid(
            "embedding_family",
            "`embedding_family` and `embedding_dimensions` go together.",
        )),
        (Some(family), Some(_)) => {
            if family.trim().is_empty() || family.chars().count() > 100 {
                Err(AdminError::invalid(
                    "embedding_family",
                    "`embedding_family` is 1 to 100 characters.",
                ))
            } else if fields.modality != "embedding" {
                Err(AdminError::invalid(
                    "embedding_family",
                    "Only models of modality `embedding` have an embedding family.",
                ))
            } else {
                Ok(())
            }
        }
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
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: AdminQuery<PageQuery>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let provider = provider(&state.db, &path).await?;
    let limit = crate::admin::page::limit(&query)?;
    let rows =
        admin_pool::list_models(&state.db, provider.id, query.cursor, i64::from(limit) + 1).await?;
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
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: AdminJson<NewModel>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let provider = provider(&state.db, &path).await?;
    let body = body.into_inner();
    let fields = ModelFields {
        model_id: body.model_id,
        modality: body.modality.unwrap_or_default().as_str().to_string(),
        supports_tools: body.supports_tools,
        supports_vision: body.supports_vision,
        supports_json: body.supports_json,
        context_window: context_window(body.context_window)?,
        embedding_family: body.embedding_family,
        embedding_dimensions: dimensions(body.embedding_dimensions)?,
        limits: body.limits.unwrap_or_default().columns("limits")?,
        enabled: body.enabled.unwrap_or(true),
        priority: check_priority(body.priority.unwrap_or(100))?,
    };
    check(&fields)?;
    let row = admin_pool::create_model(&state.db, &principal.actor(), &provider, &fields).await?;
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
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: AdminJson<ModelPatch>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let provider = provider(&state.db, &path.0).await?;
    let id = row_id(&path.1, "model")?;
    let patch = body.into_inner();
    let row = admin_pool::update_model(&state.db, &principal.actor(), provider.id, id, |_, f| {
        if let Some(modality) = &patch.modality {
            f.modality = modality.as_str().to_string();
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
        check(f)
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
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let provider = provider(&state.db, &path.0).await?;
    let Ok(id) = row_id(&path.1, "model") else {
        return Ok(HttpResponse::NoContent().finish());
    };
    let result = admin_pool::delete_model(&state.db, &principal.actor(), provider.id, id).await?;
    deleted(result, "model")
}
