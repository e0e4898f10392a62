//! The request log: one row per `/v1` request with its attempt trail, newest first.

use actix_web::{HttpResponse, web};
use freeway_wire::usage::{AttemptEntry, RequestEntry, RequestsQuery};
use uuid::Uuid;

use super::{FilterParams, page_limit, scope};
use crate::admin::AdminState;
use crate::admin::auth::{Principal, Role};
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminQuery};
use crate::admin::page::Page;
use crate::store::analytics::{self, EventFilter, EventRow};
use crate::telemetry::request_id_well_formed as well_formed;

impl From<EventRow> for RequestEntry {
    fn from(row: EventRow) -> Self {
        RequestEntry {
            id: row.id,
            created_at: row.created_at,
            endpoint: row.endpoint,
            tenant_id: row.tenant_id,
            member_id: row.member_id,
            api_key_id: row.api_key_id,
            requested_model: row.requested_model,
            provider: row.provider,
            model: row.model,
            credential_id: row.credential_id,
            status: row.status,
            error_code: row.error_code,
            stream: row.stream,
            prompt_tokens: row.prompt_tokens,
            completion_tokens: row.completion_tokens,
            latency_ms: row.latency_ms,
            ttft_ms: row.ttft_ms,
            attempts: row.attempts,
            attempt_trail: serde_json::from_value::<Vec<AttemptEntry>>(row.attempt_trail)
                .unwrap_or_default(),
            request_id: row.request_id.unwrap_or_else(|| row.id.to_string()),
            session_id: row.session_id,
        }
    }
}

/// List requests
///
/// The request log, newest first, with filters; scoped to what you may see.
#[utoipa::path(get, path = "/admin/v1/requests", tag = "requests", operation_id = "requests_list",
    params(RequestsQuery),
    responses(
        (status = 200, description = "A page of requests, newest first", body = Page<RequestEntry>),
        (status = 404, description = "Another tenant or member", body = AdminErrorEnvelope),
        (status = 422, description = "A parameter is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn list(
    principal: Principal,
    state: web::Data<AdminState>,
    query: AdminQuery<RequestsQuery>,
) -> Result<HttpResponse, AdminError> {
    let (limit, cursor) = (page_limit(query.limit)?, query.cursor);
    let status = match query.status {
        Some(status) if status > 999 => {
            return Err(AdminError::invalid(
                "status",
                "`status` must be an HTTP status.",
            ));
        }
        other => other.and_then(|s| i16::try_from(s).ok()),
    };
    let filter = EventFilter {
        usage: scope(
            &principal,
            FilterParams {
                tenant_id: query.tenant_id,
                member_id: query.member_id,
                api_key_id: query.api_key_id,
                model: &query.model,
                provider: &query.provider,
            }
            .parse()?,
        )?,
        status,
        from: query.from.map(|t| t.0),
        to: query.to.map(|t| t.0),
    };
    let rows = analytics::list_events(&state.db, &filter, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    Ok(HttpResponse::Ok().json(Page {
        data: page.data.into_iter().map(RequestEntry::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Get a request
///
/// One usage event with its attempt trail, by its id or by the client's own request id (the
/// newest request that carried it).
#[utoipa::path(get, path = "/admin/v1/requests/{id}", tag = "requests", operation_id = "requests_get",
    params(("id" = String, Path, min_length = 1, max_length = 128, pattern = r"^[A-Za-z0-9._:-]+$", description = "The request's id, as answered in its `x-request-id` header: the event's id, or the client's own `x-request-id`")),
    responses(
        (status = 200, description = "One request with its attempt trail", body = RequestEntry),
        (status = 404, description = "No such request, or not yours to see", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn get(
    principal: Principal,
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let missing = || AdminError::not_found("request");
    let by_event_id = match Uuid::parse_str(&id) {
        Ok(event_id) => analytics::find_event(&state.db, event_id).await?,
        Err(_) => None,
    };
    let row = match by_event_id {
        Some(row) => Some(row),
        None if well_formed(id.as_bytes()) => {
            let (tenant, member) = match principal.role {
                Role::InstanceAdmin => (None, None),
                Role::TenantAdmin => (principal.tenant_id, None),
                Role::Member => (None, principal.member_id),
            };
            analytics::find_event_by_request_id(&state.db, &id, tenant, member).await?
        }
        None => None,
    };
    let row = row.ok_or_else(missing)?;
    let visible = match principal.role {
        Role::InstanceAdmin => true,
        Role::TenantAdmin => principal.tenant_id.is_some() && row.tenant_id == principal.tenant_id,
        Role::Member => principal.member_id.is_some() && row.member_id == principal.member_id,
    };
    if !visible {
        return Err(missing());
    }
    Ok(HttpResponse::Ok().json(RequestEntry::from(row)))
}
