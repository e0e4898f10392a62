//! Admission, before any route is tried: who is calling, whether the key may use the
//! model, and the caller's quotas.

use actix_web::HttpRequest;
use chrono::Utc;

use super::Gateway;
use super::error::ApiError;
use crate::providers::Modality;
use crate::routing::now_millis;
use crate::tenancy::{Caller, QuotaError, QuotaReservation};
use crate::usage::{Recorder, UsageEvent};

/// The header Anthropic's SDKs carry the key in.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Authenticates the request and fills the usage event's caller fields. The key comes as
/// `Authorization: Bearer` (OpenAI's SDKs) or, without that header, as `x-api-key`
/// (Anthropic's).
pub(crate) fn authenticate(
    req: &HttpRequest,
    gw: &Gateway,
    recorder: &mut Recorder,
) -> Result<Caller, ApiError> {
    let headers = req.headers();
    let authorization = headers
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let bearer;
    let authorization = match authorization {
        Some(authorization) => Some(authorization),
        None => match headers.get(API_KEY_HEADER).and_then(|v| v.to_str().ok()) {
            Some(key) => {
                bearer = format!("Bearer {}", key.trim());
                Some(bearer.as_str())
            }
            None => None,
        },
    };
    let caller = gw.keys.authenticate(authorization, Utc::now())?;
    let span = recorder.span();
    span.record("tenant", tracing::field::display(caller.tenant_id));
    span.record("member", tracing::field::display(caller.member_id));
    let event = recorder.event();
    event.tenant_id = Some(caller.tenant_id);
    event.member_id = Some(caller.member_id);
    event.api_key_id = Some(caller.api_key_id);
    Ok(caller)
}

pub(crate) fn check_allowed(caller: &Caller, model: &str) -> Result<(), ApiError> {
    if caller.may_use(model) {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "model_not_allowed",
        format!("This API key may not use the model `{model}`."),
    )
    .with_param("model"))
}

/// Checks and counts the caller's tenant, member and api key quotas, with the same estimate
/// the pool reservation uses; before routing, so a refused request reaches no provider.
pub(crate) fn reserve_quota(
    gw: &Gateway,
    caller: &Caller,
    model: &str,
    tokens: u64,
) -> Result<QuotaReservation, ApiError> {
    let reserved = match &gw.shared {
        None => gw.quotas.reserve(caller, model, tokens, now_millis()),
        // In a fleet, counted with the first route, in one round trip to Redis
        // (`steps::reserve_shared`).
        Some(_) => gw
            .quotas
            .reserve_pending(caller, model, tokens, now_millis()),
    };
    reserved.map_err(|refused| quota_error(refused, model))
}

pub(crate) fn quota_error(refused: QuotaError, model: &str) -> ApiError {
    let message = refused.message(model);
    match refused {
        QuotaError::Exceeded {
            retry_after_secs, ..
        } => ApiError::QuotaExceeded {
            message,
            retry_after: retry_after_secs,
        },
        QuotaError::ModelNotAllowed { .. } => {
            ApiError::forbidden("model_not_allowed", message).with_param("model")
        }
        QuotaError::Expired { .. } => ApiError::forbidden("quota_expired", message),
    }
}

/// Ends a quota reservation when the request is over: a served request counts with its
/// real tokens (the estimate when the provider reported none); anything else is given back.
pub(crate) fn settle_quota(quota: QuotaReservation, event: &UsageEvent) {
    if !(200..300).contains(&event.status) {
        return;
    }
    let tokens = match (event.prompt_tokens, event.completion_tokens) {
        (None, None) => quota.tokens(),
        (prompt, completion) => prompt.unwrap_or(0) + completion.unwrap_or(0),
    };
    quota.settle(tokens);
}

pub(crate) fn unknown_model(model: &str, modality: Modality) -> ApiError {
    let kind = match modality {
        Modality::Chat => "",
        Modality::Embedding => " embedding",
        Modality::Image => " image",
        Modality::Speech => " speech",
        Modality::Transcription => " transcription",
    };
    if model.starts_with("auto:") && modality == Modality::Chat {
        let valid = freeway_wire::routing::Strategy::AUTO_NAMES.join("`, `");
        return ApiError::ModelNotFound {
            message: format!(
                "The model `{model}` names no routing strategy; use one of `{valid}`."
            ),
        };
    }
    ApiError::ModelNotFound {
        message: format!(
            "The{kind} model `{model}` does not exist on this Freeway. GET /v1/models lists the models you can use."
        ),
    }
}
