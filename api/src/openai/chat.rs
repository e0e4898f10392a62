//! `POST /v1/chat/completions`.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::Utc;
use serde_json::Value;

use super::body::{read_limited, require_json};
use super::error::ApiError;
use super::types::{ChatCompletionRequest, usage_of};
use super::{ATTEMPTS_HEADER, ROUTE_HEADER, request_id_header, stream};
use crate::providers::{Route, openai_compat};
use crate::routing::outcome::Disposition;
use crate::routing::{AttemptLog, Failure, classify_status, parse_retry_after};
use crate::state::AppState;
use crate::usage::{Recorder, millis};

/// Upstream bodies larger than this are treated as broken answers.
pub(crate) const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

#[utoipa::path(
    post,
    path = "/v1/chat/completions",
    tag = "openai",
    request_body = ChatCompletionRequest,
    responses(
        (status = 200, description = "The provider's completion, passed through unchanged; `text/event-stream` when `stream` is true"),
        (status = 400, description = "Malformed JSON or a missing field", body = super::error::ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired api key", body = super::error::ErrorEnvelope),
        (status = 403, description = "The key may not use this model", body = super::error::ErrorEnvelope),
        (status = 404, description = "Unknown model", body = super::error::ErrorEnvelope),
        (status = 413, description = "Body over the size limit", body = super::error::ErrorEnvelope),
        (status = 415, description = "Not `application/json`", body = super::error::ErrorEnvelope),
        (status = 429, description = "Every route is rate limited; see `Retry-After`", body = super::error::ErrorEnvelope),
        (status = 502, description = "No upstream answered", body = super::error::ErrorEnvelope),
        (status = 503, description = "No credential can serve the model", body = super::error::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
pub async fn chat_completions(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut recorder = Recorder::start(&state.usage, "chat.completions");
    let request_id = recorder.id();
    let mut response = match handle(&req, payload, &state, &mut recorder).await {
        Ok(response) => response,
        Err(error) => {
            let event = recorder.event();
            event.status = error.status.as_u16();
            event.error_code = Some(error.code.to_string());
            error.error_response()
        }
    };
    request_id_header(&mut response, request_id);
    response
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    recorder: &mut Recorder,
) -> Result<HttpResponse, ApiError> {
    let authorization = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = state.keys.authenticate(authorization, Utc::now())?;
    {
        let event = recorder.event();
        event.tenant_id = Some(caller.tenant_id);
        event.member_id = Some(caller.member_id);
        event.api_key_id = Some(caller.api_key_id);
    }
    require_json(req)?;
    let body = read_limited(req, payload, state.config.max_body_bytes).await?;
    let request = ChatCompletionRequest::parse(&body)?;
    recorder.event().requested_model = Some(request.model.clone());
    recorder.event().stream = request.wants_stream();
    if !caller.may_use(&request.model) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "model_not_allowed",
            format!("This API key may not use the model `{}`.", request.model),
        )
        .with_param("model"));
    }
    let catalog = state.catalog.get();
    let chain: Vec<Route> = catalog
        .routes_for(&request.model)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found_error",
                "model_not_found",
                format!(
                    "The model `{}` does not exist on this Freeway. GET /v1/models lists the models you can use.",
                    request.model
                ),
            )
            .with_param("model")
        })?
        .to_vec();
    let mut log = AttemptLog::new(state.config.request_budget(), state.config.max_attempts);
    let result = if request.wants_stream() {
        stream::run(state, &request, &chain, recorder, &mut log).await
    } else {
        complete(state, &request, &chain, recorder, &mut log).await
    };
    recorder.event().attempts = log.attempts().to_vec();
    result.or_else(|error| match error {
        Outcome::Answer(response) => Ok(response),
        Outcome::Error(error) => Err(error),
        Outcome::Exhausted => {
            let exhausted = log.exhausted(chain.len());
            let kind = if exhausted.status == 429 {
                "rate_limit_error"
            } else {
                "upstream_error"
            };
            let status = StatusCode::from_u16(exhausted.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut error = ApiError::new(status, kind, exhausted.code, exhausted.message);
            error.retry_after = exhausted.retry_after;
            Err(error)
        }
    })
}

/// How an attempt loop ended without a successful answer.
pub(crate) enum Outcome {
    /// An upstream answer that is the client's to see (its request was at fault).
    Answer(HttpResponse),
    Error(ApiError),
    /// Every route failed or the bounds were reached.
    Exhausted,
}

impl From<ApiError> for Outcome {
    fn from(error: ApiError) -> Self {
        Outcome::Error(error)
    }
}

async fn complete(
    state: &AppState,
    request: &ChatCompletionRequest,
    chain: &[Route],
    recorder: &mut Recorder,
    log: &mut AttemptLog,
) -> Result<HttpResponse, Outcome> {
    for route in chain {
        if !log.may_try_another() {
            break;
        }
        let body = upstream_body(request, route)?;
        let started = Instant::now();
        let timeout = route.provider.timeout.min(log.remaining());
        let exchange = tokio::time::timeout(timeout, async {
            let response = openai_compat::chat_request(&state.http, route, body, false)
                .send()
                .await?;
            let status = response.status().as_u16();
            let retry_after = parse_retry_after(
                response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()),
            );
            let bytes = read_upstream(response, MAX_UPSTREAM_BODY).await?;
            Ok::<_, reqwest::Error>((status, retry_after, bytes))
        })
        .await;
        let took = started.elapsed();
        let (status, retry_after, bytes) = match exchange {
            Err(_) => {
                log.failed(route, Failure::Timeout, None, took, None);
                continue;
            }
            Ok(Err(error)) => {
                log.failed(route, transport_failure(&error), None, took, None);
                continue;
            }
            Ok(Ok(exchange)) => exchange,
        };
        if (200..300).contains(&status) {
            let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
            let usable = parsed
                .as_ref()
                .is_some_and(|v| v.get("error").is_none() && v.get("choices").is_some());
            let Some(value) = parsed.filter(|_| usable) else {
                log.failed(route, Failure::BadResponse, Some(status), took, None);
                continue;
            };
            log.succeeded(route, status, took);
            let ttft = millis(recorder.elapsed());
            let event = recorder.event();
            fill_route(event, route);
            event.status = 200;
            if let Some((prompt, completion)) = usage_of(&value) {
                event.prompt_tokens = Some(prompt);
                event.completion_tokens = Some(completion);
            }
            event.ttft_ms = Some(ttft);
            return Ok(HttpResponse::Ok()
                .insert_header((CONTENT_TYPE, "application/json"))
                .insert_header((ROUTE_HEADER, route.label()))
                .insert_header((ATTEMPTS_HEADER, log.attempts().len().to_string()))
                .body(bytes));
        }
        if let Some(answer) = rejected(route, status, retry_after, bytes, took, recorder, log) {
            return Err(Outcome::Answer(answer));
        }
    }
    Err(Outcome::Exhausted)
}

/// A non-2xx answer from `route`. `None`: logged as a failure, try the next route. `Some`:
/// the request itself was at fault, and this is the client's answer.
pub(crate) fn rejected(
    route: &Route,
    status: u16,
    retry_after: Option<std::time::Duration>,
    bytes: web::Bytes,
    took: std::time::Duration,
    recorder: &mut Recorder,
    log: &mut AttemptLog,
) -> Option<HttpResponse> {
    match classify_status(status, retry_after) {
        Disposition::Failover(failure) => {
            let code = upstream_error_code(&bytes);
            log.failed(route, failure, Some(status), took, code);
            None
        }
        Disposition::ClientError => {
            log.client_error(route, status, took);
            let event = recorder.event();
            fill_route(event, route);
            event.status = status;
            event.error_code = Some("upstream_rejected_request".into());
            Some(client_error_answer(route, status, bytes, log))
        }
    }
}

pub(crate) fn upstream_body(
    request: &ChatCompletionRequest,
    route: &Route,
) -> Result<Vec<u8>, ApiError> {
    request
        .upstream_body(&route.model)
        .map_err(|e| ApiError::invalid("invalid_request", format!("Invalid request body: {e}.")))
}

pub(crate) fn fill_route(event: &mut crate::usage::UsageEvent, route: &Route) {
    event.provider = Some(route.provider.name.clone());
    event.model = Some(route.model.clone());
    event.credential_id = route.credential.as_ref().map(|c| c.id);
}

pub(crate) fn transport_failure(error: &reqwest::Error) -> Failure {
    if error.is_timeout() {
        Failure::Timeout
    } else if error.is_connect() {
        Failure::Connect
    } else {
        Failure::StreamBroken
    }
}

/// The provider's own error code, from its structured body, for the attempt trail.
pub(crate) fn upstream_error_code(bytes: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let error = value.get("error")?;
    let code = error.get("code").or_else(|| error.get("type"))?;
    match code {
        Value::String(s) => Some(s.chars().take(100).collect()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A 4xx that is the request's fault: the provider's structured error is passed on; anything
/// else is replaced by our own error in the same shape.
pub(crate) fn client_error_answer(
    route: &Route,
    status: u16,
    bytes: web::Bytes,
    log: &AttemptLog,
) -> HttpResponse {
    let structured = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .is_some_and(|v| v.get("error").is_some_and(Value::is_object));
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = if structured {
        HttpResponse::build(code)
            .insert_header((CONTENT_TYPE, "application/json"))
            .body(bytes)
    } else {
        ApiError::new(
            code,
            "invalid_request_error",
            "upstream_rejected_request",
            format!("The provider rejected the request (HTTP {status})."),
        )
        .error_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = route.label().try_into() {
        headers.insert(
            actix_web::http::header::HeaderName::from_static(ROUTE_HEADER),
            value,
        );
    }
    headers.insert(
        actix_web::http::header::HeaderName::from_static(ATTEMPTS_HEADER),
        log.attempts().len().into(),
    );
    response
}

pub(crate) async fn read_upstream(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<web::Bytes, reqwest::Error> {
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            // Treated like a broken answer by the caller: an empty body is not valid JSON.
            return Ok(web::Bytes::new());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
