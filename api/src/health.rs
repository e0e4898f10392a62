//! `/healthz`: the process is alive. `/readyz`: the database answers and every migration
//! embedded in this binary is applied, and the process is not shutting down.

use actix_web::{HttpResponse, web};

use crate::gateway::Gateway;
use crate::store;
use freeway_wire::{Health, VERSION};

/// Liveness
///
/// Answers while the process runs, whatever the database does.
#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = "health_live",
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
        version: VERSION.into(),
        database: None,
        migrations: None,
    })
}

/// Readiness
///
/// Whether the database answers and every migration is applied.
#[utoipa::path(get, path = "/readyz", tag = "health", operation_id = "health_ready",
    responses(
        (status = 200, description = "Ready to serve", body = Health),
        (status = 503, description = "The database is unreachable, migrations are missing, or the process is shutting down", body = Health),
    ))]
pub async fn readyz(gw: web::Data<Gateway>) -> HttpResponse {
    if gw.lifecycle.draining() {
        return HttpResponse::ServiceUnavailable().json(Health {
            status: "shutting down".into(),
            version: VERSION.into(),
            database: None,
            migrations: None,
        });
    }
    let applied = store::migrate::applied_version(&gw.db).await;
    let database = applied.is_ok();
    let migrations = matches!(applied, Ok(Some(v)) if v >= store::migrate::latest_version());
    let body = Health {
        status: match (database, migrations) {
            (true, true) => "ok",
            (false, _) => "database unreachable",
            (true, false) => "migrations pending",
        }
        .into(),
        version: VERSION.into(),
        database: Some(database),
        migrations: Some(migrations),
    };
    if database && migrations {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
