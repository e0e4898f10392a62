//! The OpenAI-compatible surface: `/v1`. Each endpoint turns its request into a
//! [`gateway::Call`] and the pipeline's answer back into OpenAI's shapes.

mod chat;
mod completions;
mod embeddings;
mod media;
mod models;
mod raw;
pub mod responses;
pub mod types;

use actix_web::http::header::ALLOW;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

pub use chat::__path_chat_completions;
pub(crate) use chat::{Answering, prompt_estimate, serve};
pub use completions::__path_completions;
pub use embeddings::{__path_embeddings, FAMILY_HEADER};
pub use media::{__path_image_generations, __path_speech, __path_transcriptions};
pub use models::{__path_get_model, __path_list_models};
pub use responses::{__path_create_response, __path_get_response};

pub use crate::gateway::error;
pub use crate::gateway::steps::{ATTEMPTS_HEADER, ROUTE_HEADER, STRATEGY_HEADER};
use crate::gateway::{ApiError, Gateway, admit};
pub use crate::telemetry::REQUEST_ID_HEADER;
use crate::telemetry::RequestId;
use crate::tenancy::Caller;
use crate::usage::Recorder;

/// The conversation's session id (sent by the client, or derived and returned).
pub const SESSION_HEADER: &str = "x-freeway-session";

/// The methods of one `/v1` resource.
#[derive(Clone, Copy)]
struct Methods(&'static str);

const POST: Methods = Methods("POST, OPTIONS");
const GET: Methods = Methods("GET, HEAD, OPTIONS");

/// A `POST` resource: `OPTIONS` says what it accepts, other methods get a 405.
pub(crate) fn post(path: &'static str, route: actix_web::Route) -> actix_web::Resource {
    web::resource(path)
        .route(route)
        .route(web::method(actix_web::http::Method::OPTIONS).to(options(POST)))
        .default_service(web::to(wrong_method(POST)))
}

pub fn configure(cfg: &mut web::ServiceConfig, cors: Vec<String>) {
    let scope = web::scope("/v1")
        .service(post(
            "/chat/completions",
            web::post().to(chat::chat_completions),
        ))
        .service(post(
            "/completions",
            web::post().to(completions::completions),
        ))
        .service(post("/embeddings", web::post().to(embeddings::embeddings)))
        .service(post(
            "/images/generations",
            web::post().to(media::image_generations),
        ))
        .service(post("/audio/speech", web::post().to(media::speech)))
        .service(post(
            "/audio/transcriptions",
            web::post().to(media::transcriptions),
        ))
        .service(post(
            "/responses",
            web::post().to(responses::create_response),
        ))
        .service(get("/responses/{id}", responses::get_response))
        .service(get("/models", models::list_models))
        .service(get("/models/{model:.+}", models::get_model))
        .default_service(web::to(unknown));
    if cors.is_empty() {
        cfg.service(scope);
    } else {
        cfg.service(scope.wrap(cors_for(&cors)));
    }
}

/// A `GET` resource; `HEAD` answers what `GET` would, without the body (actix drops it).
fn get<F, Args>(path: &'static str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args> + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
        .route(web::method(actix_web::http::Method::OPTIONS).to(options(GET)))
        .default_service(web::to(wrong_method(GET)))
}

/// Browsers on the configured origins may call `/v1` with an api key.
pub(crate) fn cors_for(origins: &[String]) -> actix_cors::Cors {
    let cors = origins
        .iter()
        .fold(actix_cors::Cors::default(), |cors, origin| {
            cors.allowed_origin(origin)
        });
    cors.allowed_methods(["GET", "HEAD", "POST", "OPTIONS"])
        .allow_any_header()
        .expose_headers([
            ROUTE_HEADER,
            ATTEMPTS_HEADER,
            STRATEGY_HEADER,
            REQUEST_ID_HEADER,
            SESSION_HEADER,
            FAMILY_HEADER,
            "retry-after",
        ])
        .max_age(3600)
}

/// `OPTIONS` without CORS (or from an origin CORS does not know): what the URL accepts.
fn options(methods: Methods) -> impl Fn() -> std::future::Ready<HttpResponse> + Clone {
    move || {
        std::future::ready(
            HttpResponse::NoContent()
                .insert_header((ALLOW, methods.0))
                .finish(),
        )
    }
}

fn wrong_method(
    methods: Methods,
) -> impl Fn(HttpRequest, web::Data<Gateway>) -> std::future::Ready<HttpResponse> + Clone {
    move |req, gw| {
        let error = ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            allow: methods.0,
        };
        std::future::ready(refuse(&req, &gw, error))
    }
}

/// Anything else under `/v1`: an OpenAI-shaped 404, recorded like every other request.
async fn unknown(req: HttpRequest, gw: web::Data<Gateway>) -> HttpResponse {
    refuse(&req, &gw, ApiError::not_found_route(req.path()))
}

fn refuse(req: &HttpRequest, gw: &Gateway, error: ApiError) -> HttpResponse {
    let mut recorder = Recorder::start(&gw.usage, "unknown", RequestId::of(req));
    recorder.event().status = error.status().as_u16();
    recorder.event().error_code = Some(error.code().into());
    error.error_response()
}

/// Runs one handler and turns its error into the OpenAI-shaped answer, recorded on the usage
/// event of the request's id (which `telemetry::RequestSpan` answers in `x-request-id`).
pub(crate) async fn respond<F>(
    req: &HttpRequest,
    endpoint: &'static str,
    gw: &Gateway,
    handle: F,
) -> HttpResponse
where
    F: AsyncFnOnce(&mut Recorder) -> Result<HttpResponse, ApiError>,
{
    let mut recorder = Recorder::start(&gw.usage, endpoint, RequestId::of(req));
    match handle(&mut recorder).await {
        Ok(response) => response,
        Err(error) => {
            let event = recorder.event();
            event.status = error.status().as_u16();
            event.error_code = Some(error.code().to_string());
            error.error_response()
        }
    }
}

/// Notes the requested model on the usage event and checks the key may use it.
pub(crate) fn allow(caller: &Caller, recorder: &mut Recorder, model: &str) -> Result<(), ApiError> {
    allow_mapped(caller, recorder, model, None)
}

/// [`allow`] for a name an admin mapping may serve: a key that may use the mapping's target
/// (`auto`, say) may use the names mapped to it.
pub(crate) fn allow_mapped(
    caller: &Caller,
    recorder: &mut Recorder,
    model: &str,
    mapped_to: Option<&str>,
) -> Result<(), ApiError> {
    recorder.event().requested_model = Some(model.to_string());
    recorder.span().record("model", model);
    match mapped_to {
        Some(target) if caller.may_use(target) => Ok(()),
        _ => admit::check_allowed(caller, model),
    }
}

/// Roughly four characters a token, at least one.
pub(crate) fn estimate(chars: usize) -> u64 {
    (chars as u64).div_ceil(4).max(1)
}
