//! `/admin/v1` endpoints for the shared pool: providers, their models and credentials,
//! routing profiles, model-name mappings, the live routing state and cooldowns. Instance
//! admins only.

mod catalog;
mod credentials;
mod discover;
pub mod import;
mod mappings;
mod models;
mod probes;
mod providers;
mod routing;
mod simulate;
mod upstream;

use actix_web::web;
pub use freeway_wire::page::List;
pub use freeway_wire::pool::LimitSet;
use utoipa::OpenApi;
use uuid::Uuid;

use super::error::AdminError;
use crate::store::Deleted;
use crate::store::limits::LimitColumns;
use crate::store::providers::ProviderRow as ProviderRecord;
use crate::store::validate;

/// Adds this module's routes to the `/admin/v1` scope.
pub fn routes(scope: actix_web::Scope) -> actix_web::Scope {
    scope
        .route("/providers", web::get().to(providers::list))
        .route("/providers", web::post().to(providers::create))
        .route("/providers/{provider}", web::get().to(providers::get))
        .route("/providers/{provider}", web::patch().to(providers::update))
        .route("/providers/{provider}", web::delete().to(providers::delete))
        .route("/providers/{provider}/models", web::get().to(models::list))
        .route(
            "/providers/{provider}/discover",
            web::get().to(discover::discover),
        )
        .route(
            "/providers/{provider}/models",
            web::post().to(models::create),
        )
        .route(
            "/providers/{provider}/models/{id}",
            web::patch().to(models::update),
        )
        .route(
            "/providers/{provider}/models/{id}",
            web::delete().to(models::delete),
        )
        .route(
            "/providers/{provider}/credentials",
            web::get().to(credentials::list),
        )
        .route(
            "/providers/{provider}/credentials",
            web::post().to(credentials::create),
        )
        .route(
            "/providers/{provider}/credentials/{id}",
            web::patch().to(credentials::update),
        )
        .route(
            "/providers/{provider}/credentials/{id}",
            web::delete().to(credentials::delete),
        )
        .route(
            "/providers/{provider}/credentials/{id}/test",
            web::post().to(credentials::test),
        )
        .route("/credentials/import", web::post().to(import::import))
        .route("/catalog", web::post().to(catalog::import))
        .route(
            "/credentials/{credential}/discover",
            web::get().to(probes::discover),
        )
        .route(
            "/credentials/{credential}/probe",
            web::post().to(probes::probe),
        )
        .route(
            "/credentials/{credential}/unavailable",
            web::get().to(probes::unavailable),
        )
        .route(
            "/credentials/{credential}/unavailable",
            web::delete().to(probes::clear_unavailable),
        )
        .route(
            "/providers/{provider}/discovered-models",
            web::post().to(probes::add_discovered),
        )
        .route("/routing/profiles", web::get().to(routing::list_profiles))
        .route(
            "/routing/profiles/{name}",
            web::put().to(routing::put_profile),
        )
        .route(
            "/routing/profiles/{name}",
            web::delete().to(routing::delete_profile),
        )
        .route("/routing/mappings", web::get().to(mappings::list))
        .route("/routing/mappings/{pattern}", web::put().to(mappings::put))
        .route(
            "/routing/mappings/{pattern}",
            web::delete().to(mappings::delete),
        )
        .route("/routing/state", web::get().to(routing::state))
        .route("/routing/simulate", web::post().to(simulate::simulate))
        .route("/cooldowns", web::get().to(routing::list_cooldowns))
        .route("/cooldowns", web::delete().to(routing::clear_cooldowns))
}

/// This module's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(
    providers::list,
    providers::create,
    providers::get,
    providers::update,
    providers::delete,
    models::list,
    models::create,
    models::update,
    models::delete,
    discover::discover,
    probes::discover,
    probes::add_discovered,
    probes::probe,
    probes::unavailable,
    probes::clear_unavailable,
    credentials::list,
    credentials::create,
    credentials::update,
    credentials::delete,
    credentials::test,
    import::import,
    catalog::import,
    routing::list_profiles,
    routing::put_profile,
    routing::delete_profile,
    mappings::list,
    mappings::put,
    mappings::delete,
    routing::state,
    simulate::simulate,
    routing::list_cooldowns,
    routing::clear_cooldowns,
))]
pub struct Doc;

/// Limits as the store keeps them.
pub(super) trait LimitColumnsExt: Sized {
    fn columns(&self, field: &str) -> Result<LimitColumns, AdminError>;
    fn from_columns(c: LimitColumns) -> Self;
}

impl LimitColumnsExt for LimitSet {
    /// Checked and as stored; errors name `{field}.rpm` and so on.
    fn columns(&self, field: &str) -> Result<LimitColumns, AdminError> {
        let check = |name: &str, value: Option<u64>, max: u64| match value {
            Some(v) if v == 0 || v > max => Err(AdminError::invalid(
                &format!("{field}.{name}"),
                format!("`{field}.{name}` must be between 1 and {max}, or null for no limit."),
            )),
            other => Ok(other),
        };
        let small = |name: &str, value: Option<u64>| {
            check(name, value, i32::MAX as u64).map(|v| v.and_then(|v| i32::try_from(v).ok()))
        };
        let big = |name: &str, value: Option<u64>| {
            check(name, value, i64::MAX as u64).map(|v| v.and_then(|v| i64::try_from(v).ok()))
        };
        Ok(LimitColumns {
            rpm: small("rpm", self.rpm)?,
            rph: small("rph", self.rph)?,
            rpd: small("rpd", self.rpd)?,
            tpm: big("tpm", self.tpm)?,
            tpd: big("tpd", self.tpd)?,
        })
    }

    fn from_columns(c: LimitColumns) -> LimitSet {
        let small = |v: Option<i32>| v.and_then(|v| u64::try_from(v).ok());
        let big = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
        LimitSet {
            rpm: small(c.rpm),
            rph: small(c.rph),
            rpd: small(c.rpd),
            tpm: big(c.tpm),
            tpd: big(c.tpd),
        }
    }
}

/// The provider named by the path: its id, or its name.
async fn provider(db: &sqlx::PgPool, key: &str) -> Result<ProviderRecord, AdminError> {
    crate::store::providers::find(db, key)
        .await?
        .ok_or_else(|| AdminError::not_found("provider"))
}

/// A row id from the path; anything that is not a UUID names no row.
fn row_id(text: &str, what: &str) -> Result<Uuid, AdminError> {
    text.parse().map_err(|_| AdminError::not_found(what))
}

fn deleted(result: Deleted, what: &str) -> Result<actix_web::HttpResponse, AdminError> {
    match result {
        Deleted::Deleted => Ok(actix_web::HttpResponse::NoContent().finish()),
        Deleted::Missing => Err(AdminError::not_found(what)),
        Deleted::Builtin => Err(AdminError::new(
            actix_web::http::StatusCode::CONFLICT,
            "conflict",
            format!(
                "This {what} comes from the built-in catalog, which would bring it back at the \
                 next start; disable it with PATCH {{\"enabled\": false}} instead."
            ),
        )),
    }
}

pub const MAX_PRIORITY: i32 = 1_000_000;
pub use crate::store::validate::BASE_URL_PATTERN;

/// A priority: lower is tried first.
fn check_priority(priority: i32) -> Result<i32, AdminError> {
    Ok(validate::priority(priority)?)
}
