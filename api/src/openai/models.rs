//! `GET /v1/models` and `GET /v1/models/{model}`.

use actix_web::{HttpRequest, HttpResponse, web};
use freeway_wire::openai::{ModelList, ModelObject};

use super::respond;
use crate::gateway::{Gateway, admit};
use crate::providers::Modality;

/// List models
///
/// The models this api key may use.
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "openai",
    operation_id = "openai_models_list",
    responses(
        (status = 200, description = "The models this api key may use", body = ModelList),
        (status = 401, description = "Missing or bad api key", body = super::error::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
pub async fn list_models(req: HttpRequest, gw: web::Data<Gateway>) -> HttpResponse {
    respond("models", &gw, async |recorder| {
        let caller = admit::authenticate(&req, &gw, recorder)?;
        recorder.event().status = 200;
        let catalog = gw.catalog.get();
        let data = catalog
            .listed_models()
            .iter()
            .filter(|m| caller.may_use(&m.id))
            .map(|m| ModelObject {
                id: m.id.clone(),
                object: "model".into(),
                created: m.created,
                owned_by: m.owned_by.clone(),
            })
            .collect();
        Ok(HttpResponse::Ok().json(ModelList {
            object: "list".into(),
            data,
        }))
    })
    .await
}

/// Retrieve a model
///
/// One model this api key may use, as `GET /v1/models` lists it.
#[utoipa::path(
    get,
    path = "/v1/models/{model}",
    tag = "openai",
    operation_id = "openai_models_retrieve",
    params(("model" = String, Path, description = "A model id from `GET /v1/models`; it may contain `/`")),
    responses(
        (status = 200, description = "The model", body = ModelObject),
        (status = 401, description = "Missing or bad api key", body = super::error::ErrorEnvelope),
        (status = 404, description = "No model of that id that this key may use", body = super::error::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
pub async fn get_model(req: HttpRequest, gw: web::Data<Gateway>) -> HttpResponse {
    respond("models", &gw, async |recorder| {
        let caller = admit::authenticate(&req, &gw, recorder)?;
        let id = req.match_info().get("model").unwrap_or_default();
        let catalog = gw.catalog.get();
        let model = catalog
            .listed_models()
            .iter()
            .find(|m| m.id == id && caller.may_use(&m.id))
            .ok_or_else(|| admit::unknown_model(id, Modality::Chat))?;
        recorder.event().status = 200;
        Ok(HttpResponse::Ok().json(ModelObject {
            id: model.id.clone(),
            object: "model".into(),
            created: model.created,
            owned_by: model.owned_by.clone(),
        }))
    })
    .await
}
