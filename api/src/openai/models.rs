//! `GET /v1/models`.

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::Utc;
use freeway_wire::openai::{ModelList, ModelObject};

use super::request_id_header;
use crate::state::AppState;
use crate::usage::Recorder;

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
pub async fn list_models(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let mut recorder = Recorder::start(&state.usage, "models");
    let authorization = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let mut response = match state.keys.authenticate(authorization, Utc::now()) {
        Ok(caller) => {
            let event = recorder.event();
            event.tenant_id = Some(caller.tenant_id);
            event.member_id = Some(caller.member_id);
            event.api_key_id = Some(caller.api_key_id);
            event.status = 200;
            let catalog = state.catalog.get();
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
            HttpResponse::Ok().json(ModelList {
                object: "list".into(),
                data,
            })
        }
        Err(error) => {
            let error = super::error::ApiError::from(error);
            recorder.event().status = error.status.as_u16();
            recorder.event().error_code = Some(error.code.into());
            error.error_response()
        }
    };
    request_id_header(&mut response, recorder.id());
    response
}
