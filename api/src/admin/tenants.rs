//! `/admin/v1` endpoints: tenants (being built).

use utoipa::OpenApi;

/// Adds this module's routes to the `/admin/v1` scope.
pub fn routes(scope: actix_web::Scope) -> actix_web::Scope {
    scope
}

/// This module's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi()]
pub struct Doc;
