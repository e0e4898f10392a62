//! `POST /v1/embeddings`.
//!
//! A name resolves to the routes of one embedding family, and only that family: vectors of
//! different families live in different spaces and must never be mixed, so every 2xx answer
//! is checked against the family's dimensions before the client sees it.

use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::body::{read_limited, require_json};
use super::dispatch::{authenticate, reserve_quota, settle_quota, unknown_model};
use super::error::ApiError;
use super::passthrough::{self, Answer, Verdict, allow, estimate};
use crate::providers::{Modality, Route, openai_compat};
use crate::routing::chain::Needs;
use crate::state::AppState;

/// The embedding family that produced the vectors.
pub const FAMILY_HEADER: &str = "x-freeway-embedding-family";

/// An embedding request; other fields are forwarded as sent.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"model": "bge-m3", "input": ["first text", "second text"]}))]
pub struct EmbeddingRequest {
    /// An embedding model id, `provider/model`, or an embedding family such as `bge-m3`.
    pub model: String,
    /// A string, an array of strings, or token arrays.
    #[schema(value_type = serde_json::Value)]
    pub input: Value,
    /// `float` (the default) or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    /// Everything else (`dimensions`, `user`, ...), forwarded as sent.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

impl EmbeddingRequest {
    fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::invalid(
                "invalid_json",
                format!("The request body is not valid JSON: {e}."),
            )
        })?;
        require_model(&value)?;
        let Some(input) = value.get("input") else {
            return Err(missing("input"));
        };
        if inputs(input).is_none() {
            return Err(ApiError::invalid(
                "invalid_input",
                "`input` must be a non-empty string, an array of strings, or token arrays.",
            )
            .with_param("input"));
        }
        serde_json::from_value(value).map_err(|e| {
            ApiError::invalid("invalid_request", format!("Invalid request body: {e}."))
        })
    }

    fn upstream_body(&self, upstream_model: &str) -> Result<Vec<u8>, ApiError> {
        let mut request = self.clone();
        request.model = upstream_model.to_string();
        serde_json::to_vec(&request).map_err(|e| {
            ApiError::invalid("invalid_request", format!("Invalid request body: {e}."))
        })
    }
}

pub(crate) fn missing(field: &'static str) -> ApiError {
    ApiError::invalid(
        "missing_required_parameter",
        format!("Missing required parameter: `{field}`."),
    )
    .with_param(field)
}

/// The body must be an object whose `model` is a non-empty string.
pub(crate) fn require_model(value: &Value) -> Result<String, ApiError> {
    let Value::Object(object) = value else {
        return Err(ApiError::invalid(
            "invalid_request",
            "The request body must be a JSON object.",
        ));
    };
    match object.get("model") {
        Some(Value::String(model)) if !model.trim().is_empty() => Ok(model.clone()),
        Some(_) => Err(
            ApiError::invalid("invalid_model", "`model` must be a non-empty string.")
                .with_param("model"),
        ),
        None => Err(missing("model")),
    }
}

/// How many inputs there are and their estimated tokens; `None` for a malformed `input`.
fn inputs(input: &Value) -> Option<(usize, u64)> {
    let tokens = |item: &Value| match item {
        Value::Array(ids) if !ids.is_empty() && ids.iter().all(Value::is_u64) => {
            Some(ids.len() as u64)
        }
        _ => None,
    };
    match input {
        Value::String(text) if !text.is_empty() => Some((1, estimate(text.chars().count()))),
        Value::Array(items) if items.is_empty() => None,
        // One token array.
        Value::Array(items) if items.iter().all(Value::is_u64) => Some((1, items.len() as u64)),
        Value::Array(items) => {
            let mut total = 0;
            for item in items {
                total += match item {
                    Value::String(text) => estimate(text.chars().count()),
                    other => tokens(other)?,
                };
            }
            Some((items.len(), total))
        }
        _ => None,
    }
}

/// Create embeddings
///
/// By model or embedding family; failover never leaves the family.
#[utoipa::path(
    post,
    path = "/v1/embeddings",
    tag = "openai",
    operation_id = "embeddings_create",
    request_body = EmbeddingRequest,
    responses(
        (status = 200, description = "The provider's embeddings, passed through unchanged once every vector is checked against the family's dimensions. Headers `x-freeway-route`, `x-freeway-attempts`, `x-freeway-embedding-family` explain it", body = freeway_wire::openai::EmbeddingList),
        (status = 400, description = "Malformed JSON or a missing or malformed `model` or `input`", body = super::error::ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired api key", body = super::error::ErrorEnvelope),
        (status = 403, description = "The key or a quota may not use this model (`model_not_allowed`), or a quota has expired (`quota_expired`)", body = super::error::ErrorEnvelope),
        (status = 404, description = "No embedding model or family of that name", body = super::error::ErrorEnvelope),
        (status = 413, description = "Body over the size limit", body = super::error::ErrorEnvelope),
        (status = 429, description = "The family's routes are exhausted, or a tenant, member or api key quota is used up (`quota_exceeded`, the message names the quota); `Retry-After` is when capacity returns", body = super::error::ErrorEnvelope),
        (status = 502, description = "No upstream of the family answered with vectors of its dimensions", body = super::error::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
pub async fn embeddings(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    passthrough::respond("embeddings", &state, async |recorder| {
        let caller = authenticate(&req, &state, recorder)?;
        require_json(&req)?;
        let body = read_limited(&req, payload, state.config.max_body_bytes).await?;
        let request = EmbeddingRequest::parse(&body)?;
        allow(&caller, recorder, &request.model)?;
        let catalog = state.catalog.get();
        let resolved = catalog
            .resolve(Modality::Embedding, &request.model)
            .ok_or_else(|| unknown_model(&request.model, Modality::Embedding))?;
        // An alias that is no family name takes the family of its first route.
        let family = resolved.family.clone().or_else(|| {
            let info = &resolved.routes.first()?.info;
            Some((info.family.clone()?, info.dimensions?))
        });
        let family_name = family.as_ref().map(|(name, _)| name.as_str());
        // The catalog keeps a name within one family; a route that strays is never used.
        let routes: Vec<Route> = resolved
            .routes
            .iter()
            .filter(|route| {
                let same = route.info.family.as_deref() == family_name;
                if !same {
                    tracing::warn!(route = %route.label(), "left out: not of the embedding family");
                }
                same
            })
            .cloned()
            .collect();
        let (count, tokens) = inputs(&request.input).unwrap_or((1, 1));
        let needs = Needs {
            prompt_tokens: tokens,
            reserve_tokens: tokens,
            ..Needs::default()
        };
        let base64 = request.encoding_format.as_deref() == Some("base64");
        // A client may ask for shortened vectors (`dimensions`), still of the family.
        let dimensions = match request.extra.get("dimensions").and_then(Value::as_u64) {
            Some(asked) => Some(asked),
            None => family.as_ref().map(|(_, d)| *d),
        };
        let quota = reserve_quota(&state, &caller, &request.model, needs.reserve_tokens)?;
        let result = passthrough::run(
            &state,
            &routes,
            &needs,
            recorder,
            |route| {
                let body = request.upstream_body(&route.model)?;
                Ok(openai_compat::post_json(
                    &state.http,
                    route,
                    "/embeddings",
                    body,
                    "application/json",
                ))
            },
            |answer| check(answer, count, dimensions, base64),
            |_, answer| {
                let mut response = HttpResponse::Ok()
                    .insert_header((CONTENT_TYPE, "application/json"))
                    .body(answer.bytes);
                if let Some((name, _)) = &family
                    && let Ok(value) = HeaderValue::from_str(name)
                {
                    response
                        .headers_mut()
                        .insert(HeaderName::from_static(FAMILY_HEADER), value);
                }
                response
            },
        )
        .await;
        settle_quota(quota, recorder.event());
        result
    })
    .await
}

/// A 2xx answer is usable when it holds one vector per input, each of the family's
/// dimensions (without a known family: all of one length).
fn check(answer: &Answer, count: usize, dimensions: Option<u64>, base64: bool) -> Verdict {
    let value: Value = serde_json::from_slice(&answer.bytes).map_err(|_| "not_json")?;
    if value.get("error").is_some() {
        return Err("error_in_body");
    }
    let data = value
        .get("data")
        .and_then(Value::as_array)
        .ok_or("no_data")?;
    if data.len() != count {
        return Err("vector_count");
    }
    let mut expected = dimensions;
    for item in data {
        let length = match item.get("embedding") {
            Some(Value::Array(numbers)) if !base64 && numbers.iter().all(Value::is_number) => {
                numbers.len() as u64
            }
            Some(Value::String(encoded)) if base64 => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|_| "bad_base64")?;
                if bytes.len() % 4 != 0 {
                    return Err("dimensions");
                }
                bytes.len() as u64 / 4
            }
            _ => return Err("bad_vector"),
        };
        if *expected.get_or_insert(length) != length {
            return Err("dimensions");
        }
    }
    let prompt = value
        .pointer("/usage/prompt_tokens")
        .and_then(Value::as_u64);
    Ok(prompt.map(|p| (p, 0)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(body: Value) -> Answer {
        Answer {
            headers: reqwest::header::HeaderMap::new(),
            bytes: web::Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn inputs_are_counted_and_estimated() {
        assert_eq!(inputs(&json!("abcdefgh")), Some((1, 2)));
        assert_eq!(inputs(&json!(["abcd", "abcdefghi"])), Some((2, 4)));
        assert_eq!(inputs(&json!([1, 2, 3])), Some((1, 3)));
        assert_eq!(inputs(&json!([[1, 2], [3]])), Some((2, 3)));
        assert_eq!(inputs(&json!("")), None);
        assert_eq!(inputs(&json!([])), None);
        assert_eq!(inputs(&json!(7)), None);
        assert_eq!(inputs(&json!([{"a": 1}])), None);
    }

    #[test]
    fn vectors_must_have_the_family_dimensions() {
        let ok = json!({"data": [{"embedding": [0.1, 0.2, 0.3]}], "usage": {"prompt_tokens": 4}});
        assert_eq!(
            check(&answer(ok.clone()), 1, Some(3), false),
            Ok(Some((4, 0)))
        );
        assert_eq!(
            check(&answer(ok.clone()), 1, Some(4), false),
            Err("dimensions")
        );
        assert_eq!(
            check(&answer(ok.clone()), 2, Some(3), false),
            Err("vector_count")
        );
        // Without a family, vectors only have to agree with each other.
        let mixed = json!({"data": [{"embedding": [0.1]}, {"embedding": [0.1, 0.2]}]});
        assert_eq!(check(&answer(mixed), 2, None, false), Err("dimensions"));
        assert_eq!(
            check(&answer(json!({"error": {}})), 1, Some(3), false),
            Err("error_in_body")
        );
    }

    #[test]
    fn base64_vectors_are_measured_in_floats() {
        let engine = base64::engine::general_purpose::STANDARD;
        let three = engine.encode([0_u8; 12]);
        let body = json!({"data": [{"embedding": three}]});
        assert_eq!(check(&answer(body.clone()), 1, Some(3), true), Ok(None));
        assert_eq!(
            check(&answer(body.clone()), 1, Some(4), true),
            Err("dimensions")
        );
        assert_eq!(check(&answer(body), 1, Some(3), false), Err("bad_vector"));
    }
}
