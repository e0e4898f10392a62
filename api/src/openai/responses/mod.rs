//! OpenAI's Responses API: `POST /v1/responses` and `GET /v1/responses/{id}`, for Codex and
//! the OpenAI SDKs' `client.responses`. A request is translated into the chat request the
//! pipeline serves (the same quotas, sessions, ledger and usage event as chat); the answer,
//! whole or streamed as typed events, is translated back into a Response object.
//!
//! Responses are stored (unless `store: false`) with the api key that made them: a later
//! request of that key continues one with `previous_response_id`, and no other key or tenant
//! can tell it exists. A stored response is kept in memory until its row is written, so a
//! follow-up that arrives at once still finds it.

mod output;
mod request;
mod stream;

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use chrono::Utc;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use super::types::ChatRequest;
use super::{Answering, respond, serve};
use crate::gateway::body::read_json;
use crate::gateway::relay::Transcode;
use crate::gateway::{Answer, ApiError, Gateway, Whole, admit};
use crate::providers::Route;
use crate::store::responses::{self as stored, StoredResponse};

/// Responses whose rows are being written: id → (api key, response).
static WRITING: LazyLock<Mutex<HashMap<String, (Uuid, StoredResponse)>>> =
    LazyLock::new(Default::default);

fn writing() -> std::sync::MutexGuard<'static, HashMap<String, (Uuid, StoredResponse)>> {
    WRITING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What storing a response needs: where, for whom, and the conversation before it.
#[derive(Clone)]
struct Keep {
    db: PgPool,
    api_key_id: Uuid,
    context: Vec<Value>,
}

impl Keep {
    /// Stores `response` and the conversation it ends, off the request's path.
    fn remember(self, response: &Value) {
        let Some(id) = response["id"].as_str().map(str::to_string) else {
            return;
        };
        let mut context = self.context;
        let output = response["output"].as_array().cloned().unwrap_or_default();
        context.push(output::assistant_message(&output));
        let kept = StoredResponse {
            body: response.clone(),
            context: Value::Array(context),
        };
        writing().insert(id.clone(), (self.api_key_id, kept.clone()));
        tokio::spawn(async move {
            let written =
                stored::insert(&self.db, &id, self.api_key_id, &kept.body, &kept.context).await;
            if let Err(error) = written {
                tracing::warn!(%error, response = %id, "response not stored");
            }
            writing().remove(&id);
        });
    }
}

/// The response `id` if `api_key_id` made it and it was stored.
async fn lookup(
    db: &PgPool,
    id: &str,
    api_key_id: Uuid,
) -> Result<Option<StoredResponse>, ApiError> {
    let pending = writing()
        .get(id)
        .filter(|(key, _)| *key == api_key_id)
        .map(|(_, kept)| kept.clone());
    if pending.is_some() {
        return Ok(pending);
    }
    stored::get(db, id, api_key_id).await.map_err(|error| {
        tracing::warn!(%error, "stored responses unreachable");
        ApiError::exhausted(&crate::gateway::Exhausted {
            status: 503,
            code: "store_unavailable",
            message: "Stored responses cannot be read right now; try again.".into(),
            retry_after: Some(1),
        })
    })
}

/// Create a model response
///
/// OpenAI's Responses API, JSON or streamed as typed events, served by the pool's chat
/// models with failover.
#[utoipa::path(
    post,
    path = "/v1/responses",
    tag = "openai",
    operation_id = "responses_create",
    request_body = freeway_wire::responses::ResponseRequest,
    responses(
        (status = 200, description = "The Response object; `text/event-stream` of typed events (`response.created` ... `response.completed`) when `stream` is true. Headers `x-freeway-route`, `x-freeway-attempts`, `x-freeway-strategy` explain it",
            content((freeway_wire::responses::ResponseObject = "application/json"), (freeway_wire::responses::ResponseObject = "text/event-stream"))),
        (status = 400, description = "Malformed input (`param` names the field), a built-in tool Freeway cannot run (`unsupported_tool`), or a `previous_response_id` this key has not stored (`previous_response_not_found`)", body = super::error::ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired api key", body = super::error::ErrorEnvelope),
        (status = 403, description = "The key or a quota may not use this model", body = super::error::ErrorEnvelope),
        (status = 404, description = "Unknown model", body = super::error::ErrorEnvelope),
        (status = 429, description = "The pool or a quota is exhausted; `Retry-After` is when capacity returns", body = super::error::ErrorEnvelope),
        (status = 502, description = "No upstream answered", body = super::error::ErrorEnvelope),
        (status = 503, description = "No credential can serve the model, or stored responses cannot be read", body = super::error::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
pub async fn create_response(
    req: HttpRequest,
    payload: web::Payload,
    gw: web::Data<Gateway>,
) -> HttpResponse {
    respond(&req, "responses", &gw, async |recorder| {
        let caller = admit::authenticate(&req, &gw, recorder)?;
        let body = read_json(&req, payload, &gw).await?;
        let parsed = request::parse(&body)?;
        // The conversation so far: the previous response's, then this input.
        let mut context = Vec::new();
        if let Some(previous) = &parsed.echo.previous_response_id {
            let Some(found) = lookup(&gw.db, previous, caller.api_key_id).await? else {
                return Err(ApiError::invalid(
                    "previous_response_not_found",
                    format!("Previous response with id '{previous}' not found."),
                )
                .with_param("previous_response_id"));
            };
            context = found.context.as_array().cloned().unwrap_or_default();
        }
        let earlier = Value::Array(context.clone());
        if let Some(call_id) = parsed
            .answers_earlier_calls
            .iter()
            .find(|id| !request::calls(&earlier, id))
        {
            return Err(ApiError::invalid(
                "invalid_value",
                format!("No tool call found for function call output with call_id {call_id}."),
            )
            .with_param("input"));
        }
        context.extend(parsed.input.iter().cloned());
        let mut messages = Vec::with_capacity(context.len() + 1);
        if let Some(instructions) = &parsed.echo.instructions {
            messages.push(json!({"role": "system", "content": instructions}));
        }
        messages.extend(context.iter().cloned());
        let mut chat = parsed.chat;
        chat.insert("messages".into(), Value::Array(messages));
        let chat = ChatRequest::parse(Bytes::from(Value::Object(chat).to_string()))?;

        let echo = parsed.echo;
        let id = output::new_id("resp");
        let created_at = Utc::now().timestamp();
        let keep = echo.store.then(|| Keep {
            db: gw.db.clone(),
            api_key_id: caller.api_key_id,
            context,
        });
        let whole = |_: &Route, answer: Answer| -> Result<HttpResponse, ApiError> {
            let completion: Value = serde_json::from_slice(&answer.bytes).unwrap_or(Value::Null);
            let mut response = output::skeleton(&id, created_at, &echo, "completed");
            let (items, length) = output::items_of(&completion);
            output::finish(&mut response, items, completion.get("usage"), length);
            let response = Value::Object(response);
            if let Some(keep) = keep.clone() {
                keep.remember(&response);
            }
            Ok(HttpResponse::Ok().json(response))
        };
        let stream = || -> Box<dyn Transcode> {
            let response = output::skeleton(&id, created_at, &echo, "in_progress");
            Box::new(stream::ResponseStream::new(response, keep.clone()))
        };
        let answering = Answering {
            whole: Whole {
                check: &super::types::completion,
                answer: &whole,
            },
            stream: &stream,
        };
        serve(&req, &gw, recorder, &caller, chat, answering).await
    })
    .await
}

/// Retrieve a model response
///
/// A stored response, for the api key that made it.
#[utoipa::path(
    get,
    path = "/v1/responses/{id}",
    tag = "openai",
    operation_id = "responses_retrieve",
    params(("id" = String, Path, description = "A response id, `resp_…`")),
    responses(
        (status = 200, description = "The Response object as it was answered", body = freeway_wire::responses::ResponseObject),
        (status = 401, description = "Missing or bad api key", body = super::error::ErrorEnvelope),
        (status = 404, description = "No response of that id stored for this api key", body = super::error::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
pub async fn get_response(req: HttpRequest, gw: web::Data<Gateway>) -> HttpResponse {
    respond(&req, "responses", &gw, async |recorder| {
        let caller = admit::authenticate(&req, &gw, recorder)?;
        let id = req.match_info().get("id").unwrap_or_default();
        let found = lookup(&gw.db, id, caller.api_key_id).await?;
        let found = found.ok_or_else(|| ApiError::NotFound {
            message: format!("Response with id '{id}' not found."),
        })?;
        recorder.event().status = 200;
        Ok(HttpResponse::Ok().json(found.body))
    })
    .await
}

/// How often stored responses past their retention are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Deletes stored responses older than `days`, at start and every hour, until `stop`.
pub async fn purge_expired(db: PgPool, days: u32, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(PURGE_EVERY);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {
                let Some(before) = chrono::TimeDelta::try_days(i64::from(days))
                    .and_then(|age| Utc::now().checked_sub_signed(age))
                else {
                    continue;
                };
                match stored::purge(&db, before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "stored responses past retention deleted"),
                    Err(error) => tracing::warn!(%error, "stored responses not purged"),
                }
            }
        }
    }
}
