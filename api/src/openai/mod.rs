//! The OpenAI-compatible surface: `/v1`.

mod body;
mod chat;
mod completions;
mod dispatch;
mod embeddings;
pub mod error;
mod media;
mod models;
mod passthrough;
mod stream;
pub mod types;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use uuid::Uuid;

pub use chat::__path_chat_completions;
pub use completions::__path_completions;
pub use embeddings::{__path_embeddings, FAMILY_HEADER};
pub use media::{__path_image_generations, __path_speech, __path_transcriptions};
pub use models::__path_list_models;

use crate::state::AppState;
use crate::usage::Recorder;
use error::ApiError;

/// `provider/model` of the route that answered.
pub const ROUTE_HEADER: &str = "x-freeway-route";
/// How many routes were tried, the answering one included.
pub const ATTEMPTS_HEADER: &str = "x-freeway-attempts";
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The conversation's session id (sent by the client, or derived and returned).
pub const SESSION_HEADER: &str = "x-freeway-session";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .route("/chat/completions", web::post().to(chat::chat_completions))
            .route("/completions", web::post().to(completions::completions))
            .route("/embeddings", web::post().to(embeddings::embeddings))
            .route(
                "/images/generations",
                web::post().to(media::image_generations),
            )
            .route("/audio/speech", web::post().to(media::speech))
            .route(
                "/audio/transcriptions",
                web::post().to(media::transcriptions),
            )
            .route("/models", web::get().to(models::list_models))
            .default_service(web::to(unknown)),
    );
}

/// Anything else under `/v1` (wrong path or method): an OpenAI-shaped 404, recorded like
/// every other `/v1` request.
async fn unknown(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let mut recorder = Recorder::start(&state.usage, "unknown");
    let error = ApiError::not_found_route(req.path());
    recorder.event().status = error.status.as_u16();
    recorder.event().error_code = Some(error.code.into());
    let mut response = error.error_response();
    request_id_header(&mut response, recorder.id());
    response
}

pub(crate) fn request_id_header(response: &mut HttpResponse, id: Uuid) {
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
}
