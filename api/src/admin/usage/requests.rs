//! The request log: one row per `/v1` request with its attempt trail, newest first.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{FilterText, parse_page, parse_time, scope};
use crate::admin::auth::{Principal, Role};
use crate::admin::error::{AdminError, AdminErrorEnvelope};
use crate::admin::page::Page;
use crate::state::AppState;
use crate::store::analytics::{self, EventFilter, EventRow};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RequestsQuery {
    #[param(value_type = Option<uuid::Uuid>)]
    pub tenant_id: Option<String>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub member_id: Option<String>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub api_key_id: Option<String>,
    /// The model that served the request.
    pub model: Option<String>,
    pub provider: Option<String>,
    /// The HTTP status answered, such as 200 or 429.
    #[param(value_type = Option<u16>)]
    pub status: Option<String>,
    /// Requests at or after: RFC 3339 time or UTC date.
    #[param(value_type = Option<String>)]
    pub from: Option<String>,
    /// Requests before: RFC 3339 time or UTC date.
    #[param(value_type = Option<String>)]
    pub to: Option<String>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// One `/v1` request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestEntry {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// `chat.completions`, `embeddings`, ...
    pub endpoint: String,
    pub tenant_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    /// The model name the client asked for (possibly an alias).
    pub requested_model: Option<String>,
    pub provider: Option<String>,
    /// The model that served it.
    pub model: Option<String>,
    pub credential_id: Option<Uuid>,
    pub status: i16,
    pub error_code: Option<String>,
    pub stream: bool,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub latency_ms: i32,
    /// Time to the first streamed token.
    pub ttft_ms: Option<i32>,
    pub attempts: i16,
    /// Every candidate tried, in order: provider, model, credential_id, outcome, status,
    /// latency_ms, detail.
    #[schema(value_type = Vec<Object>)]
    pub attempt_trail: serde_json::Value,
    pub session_id: Option<String>,
}

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
            attempt_trail: row.attempt_trail,
            session_id: row.session_id,
        }
    }
}

#[utoipa::path(get, path = "/admin/v1/requests", tag = "admin",
    params(RequestsQuery),
    responses(
        (status = 200, description = "A page of requests, newest first", body = Page<RequestEntry>),
        (status = 401, body = AdminErrorEnvelope),
        (status = 404, description = "Another tenant or member", body = AdminErrorEnvelope),
        (status = 422, description = "A parameter is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<RequestsQuery>,
) -> Result<HttpResponse, AdminError> {
    let (limit, cursor) = parse_page(query.limit.as_deref(), query.cursor.as_deref())?;
    let status = query
        .status
        .as_deref()
        .map(|s| {
            s.trim()
                .parse::<i16>()
                .ok()
                .filter(|s| (0..=999).contains(s))
                .ok_or_else(|| AdminError::invalid("status", "`status` must be an HTTP status."))
        })
        .transpose()?;
    let filter = EventFilter {
        usage: scope(
            &principal,
            FilterText {
                tenant_id: query.tenant_id.as_deref(),
                member_id: query.member_id.as_deref(),
                api_key_id: query.api_key_id.as_deref(),
                model: query.model.as_deref(),
                provider: query.provider.as_deref(),
            }
            .parse()?,
        )?,
        status,
        from: parse_time("from", query.from.as_deref())?,
        to: parse_time("to", query.to.as_deref())?,
    };
    let rows = analytics::list_events(&state.db, &filter, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    Ok(HttpResponse::Ok().json(Page {
        data: page.data.into_iter().map(RequestEntry::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/admin/v1/requests/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "The request's id, as answered in its `x-request-id` header")),
    responses(
        (status = 200, description = "One request with its attempt trail", body = RequestEntry),
        (status = 401, body = AdminErrorEnvelope),
        (status = 404, description = "No such request, or not yours to see", body = AdminErrorEnvelope),
    ),
    security(("admin" = [])))]
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let missing = || AdminError::not_found("request");
    let id = Uuid::parse_str(&id).map_err(|_| missing())?;
    let row = analytics::find_event(&state.db, id)
        .await?
        .ok_or_else(missing)?;
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
