//! `/admin/v1`: the admin REST API, its one error shape, and the OpenAPI document of every
//! HTTP endpoint.

pub mod auth;
pub mod error;
pub mod page;
pub mod pool;
pub mod session;
pub mod tenants;
pub mod usage;

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::openai;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Freeway",
        description = "A self-hosted, multi-tenant, OpenAI-compatible LLM gateway. `/v1` is the OpenAI surface, authenticated by member api keys; `/admin/v1` is the admin API.",
        license(name = "Apache-2.0")
    ),
    paths(
        crate::health::healthz,
        crate::health::readyz,
        openai::chat_completions,
        openai::completions,
        openai::embeddings,
        openai::image_generations,
        openai::speech,
        openai::transcriptions,
        openai::list_models,
        openapi_json,
        session::login,
        session::me,
        session::change_password,
        session::create_token,
        session::list_tokens,
        session::revoke_token,
    ),
    modifiers(&ApiKeyScheme),
    tags(
        (name = "openai", description = "OpenAI-compatible endpoints"),
        (name = "health", description = "Liveness and readiness"),
        (name = "admin", description = "Administration"),
    )
)]
pub struct ApiDoc;

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("fw-<public id>-<secret>")
                    .description(Some(
                        "A member's api key, created with `freeway key create`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format(
                        "JWT from /admin/v1/auth/login, or an admin token fwa-<public id>-<secret>",
                    )
                    .description(Some("An admin's access token or API token."))
                    .build(),
            ),
        );
    }
}

/// The document as committed at `openapi/openapi.json`.
pub fn openapi_json_pretty() -> String {
    let mut doc = ApiDoc::openapi()
        .merge_from(tenants::Doc::openapi())
        .merge_from(pool::Doc::openapi())
        .merge_from(usage::Doc::openapi());
    doc.info.version = crate::wire::VERSION.to_string();
    let mut text = doc.to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

#[utoipa::path(get, path = "/admin/v1/openapi.json", tag = "admin",
    responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi_json_pretty())
}

/// The interactive API browser. Its assets are vendored into the binary: an admin's browser
/// may be offline.
pub const DOCS_PATH: &str = "/admin/docs/";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        utoipa_swagger_ui::SwaggerUi::new("/admin/docs/{_:.*}")
            .config(utoipa_swagger_ui::Config::from("/admin/v1/openapi.json")),
    );
    let scope = web::scope("/admin/v1");
    let scope = usage::routes(pool::routes(tenants::routes(scope)));
    cfg.service(
        scope
            .wrap(actix_web::middleware::from_fn(auth::pre_authenticate))
            .app_data(
                web::JsonConfig::default()
                    .limit(1024 * 1024)
                    .error_handler(error::json_error),
            )
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .route("/openapi.json", web::get().to(openapi_json))
            .route("/auth/login", web::post().to(session::login))
            .route("/auth/password", web::post().to(session::change_password))
            .route("/me", web::get().to(session::me))
            .route("/tokens", web::post().to(session::create_token))
            .route("/tokens", web::get().to(session::list_tokens))
            .route("/tokens/{id}", web::delete().to(session::revoke_token))
            .default_service(web::to(unknown)),
    );
}

/// Anything else under `/admin/v1`, in the admin error shape.
async fn unknown(req: HttpRequest) -> HttpResponse {
    error::AdminError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_found",
        format!("No admin endpoint {} {}.", req.method(), req.path()),
    )
    .error_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The committed document must match the code; regenerate it with
    /// `cargo run -p freeway -- openapi > openapi/openapi.json`.
    #[test]
    fn committed_openapi_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        let current = openapi_json_pretty();
        if std::env::var_os("FREEWAY_UPDATE_OPENAPI").is_some() {
            std::fs::write(path, &current).unwrap();
            return;
        }
        assert!(
            committed == current,
            "openapi/openapi.json is stale: run `cargo run -p freeway -- openapi > openapi/openapi.json` \
             (or FREEWAY_UPDATE_OPENAPI=1 cargo test -p freeway --lib openapi)"
        );
    }

    #[test]
    fn documents_every_route_and_the_security_scheme() {
        let doc: serde_json::Value = serde_json::from_str(&openapi_json_pretty()).unwrap();
        for path in [
            "/v1/chat/completions",
            "/v1/completions",
            "/v1/embeddings",
            "/v1/images/generations",
            "/v1/audio/speech",
            "/v1/audio/transcriptions",
            "/v1/models",
            "/healthz",
            "/readyz",
            "/admin/v1/openapi.json",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} missing");
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["api_key"]["scheme"],
            "bearer"
        );
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    }
}
