//! `/admin/v1`: the admin REST API, its one error shape, and the OpenAPI document of every
//! HTTP endpoint.

pub mod address;
pub mod auth;
pub mod doc;
pub mod error;
pub mod page;
pub mod pool;
pub mod session;
mod state;
pub mod tenants;
pub mod usage;

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::{DateTime, Datelike, TimeDelta, Utc};

use error::AdminError;

pub use doc::pretty as openapi_json_pretty;
pub use state::AdminState;

/// This document
///
/// The OpenAPI 3.1 document of every endpoint, `/v1` included; the same as
/// `openapi/openapi.json` in the source tree.
#[utoipa::path(get, path = "/admin/v1/openapi.json", tag = "meta", operation_id = "openapi_get",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object)))]
pub async fn openapi_json() -> HttpResponse {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.get_or_init(doc::pretty).clone())
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

/// Anything else under `/admin/v1`, in the admin error shape: 405 with `Allow` for a path
/// that exists with other methods, else 404.
async fn unknown(req: HttpRequest) -> HttpResponse {
    static OPERATIONS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    let allowed: Vec<&str> = OPERATIONS
        .get_or_init(doc::operations)
        .iter()
        .filter(|(_, template)| doc::matches(template, req.path()))
        .map(|(method, _)| method.as_str())
        .collect();
    if allowed.is_empty() {
        return AdminError::new(
            actix_web::http::StatusCode::NOT_FOUND,
            "not_found",
            format!("No admin endpoint {} {}.", req.method(), req.path()),
        )
        .error_response();
    }
    let mut response = AdminError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} {} is not an admin endpoint; it takes {}.",
            req.method(),
            req.path(),
            allowed.join(", ")
        ),
    )
    .error_response();
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allowed.join(", ")) {
        response
            .headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    response
}

/// `at + delta`, refusing what a timestamp cannot hold instead of panicking: user-supplied
/// durations reach chrono only through here (or `checked_*`).
pub(crate) fn after(
    at: DateTime<Utc>,
    delta: Option<TimeDelta>,
) -> Result<DateTime<Utc>, AdminError> {
    delta
        .and_then(|d| at.checked_add_signed(d))
        .filter(|t| t.year() <= 9999)
        .ok_or_else(|| AdminError::invalid("expires_at", "That is too far in the future."))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    /// The committed document must match the code; regenerate it with
    /// `cargo run -p freeway -- openapi > openapi/openapi.json`.
    #[test]
    fn committed_openapi_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        let current = super::doc::pretty();
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
}
