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

use super::{allow, estimate, respond};
use crate::gateway::attempt::{Answer, Call, Shape, Verdict, Whole, drive};
use crate::gateway::body::read_json;
use crate::gateway::chain::Needs;
use crate::gateway::client::ClientSocket;
use crate::gateway::{ApiError, Gateway, admit};
use crate::providers::{Modality, Route, openai_compat};

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
        (status = 200, description = "The provider's embeddings, passed through unchanged once every vector is checked against the family's dimensions. Headers `x-freeway-route`, `x-freeway-attempts`, `x-freeway-strategy`, `x-freeway-embedding-family` explain it", body = freeway_wire::openai::EmbeddingList),
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
    gw: web::Data<Gateway>,
) -> HttpResponse {
    respond(&req, "embeddings", &gw, async |recorder| {
        let caller = admit::authenticate(&req, &gw, recorder)?;
        let body = read_json(&req, payload, &gw).await?;
        let request = EmbeddingRequest::parse(&body)?;
        allow(&caller, recorder, &request.model)?;
        let catalog = gw.catalog.get();
        let resolved = catalog
            .resolve(Modality::Embedding, &request.model)
            .ok_or_else(|| admit::unknown_model(&request.model, Modality::Embedding))?;
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
        let quota = admit::reserve_quota(&gw, &caller, &request.model, needs.reserve_tokens)?;
        let build = |route: &Route| {
            let body = request.upstream_body(&route.model)?;
            Ok(Some(openai_compat::post_json(
                &gw.http,
                route,
                "/embeddings",
                body,
                "application/json",
            )))
        };
        let check = |answer: &Answer| check(answer, count, dimensions);
        let answer = |_: &Route, answer: Answer| {
            let mut response = HttpResponse::Ok()
                .insert_header((CONTENT_TYPE, "application/json"))
                .body(encode_as(answer.bytes, base64)?);
            if let Some((name, _)) = &family
                && let Ok(value) = HeaderValue::from_str(name)
            {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static(FAMILY_HEADER), value);
            }
            Ok(response)
        };
        let call = Call {
            build: &build,
            shape: Shape::Whole(Whole {
                check: &check,
                answer: &answer,
            }),
            needs,
            pin: None,
            fit_context: false,
            on_commit: &|_| {},
            client: ClientSocket::of(&req),
        };
        drive(&gw, &routes, resolved.strategy, call, recorder, quota).await
    })
    .await
}

/// One vector as the provider sent it: floats, or base64 of little-endian `f32`s.
fn vector_of(item: &Value) -> Result<Vector<'_>, &'static str> {
    match item.get("embedding") {
        Some(Value::Array(numbers)) if numbers.iter().all(Value::is_number) => {
            Ok(Vector::Floats(numbers))
        }
        Some(Value::String(encoded)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| "bad_base64")?;
            if bytes.len() % 4 != 0 {
                return Err("dimensions");
            }
            Ok(Vector::Packed(bytes))
        }
        _ => Err("bad_vector"),
    }
}

enum Vector<'a> {
    Floats(&'a Vec<Value>),
    Packed(Vec<u8>),
}

impl Vector<'_> {
    fn len(&self) -> u64 {
        match self {
            Vector::Floats(numbers) => numbers.len() as u64,
            Vector::Packed(bytes) => bytes.len() as u64 / 4,
        }
    }
}

/// A 2xx answer is usable when it holds one vector per input, each of the family's
/// dimensions (without a known family: all of one length), in either encoding: the SDKs ask
/// for base64 by default and many providers answer floats anyway.
fn check(answer: &Answer, count: usize, dimensions: Option<u64>) -> Verdict {
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
        let length = vector_of(item)?.len();
        if *expected.get_or_insert(length) != length {
            return Err("dimensions");
        }
    }
    let prompt = value
        .pointer("/usage/prompt_tokens")
        .and_then(Value::as_u64);
    Ok(prompt.map(|p| (p, 0)))
}

/// The checked answer in the encoding the client asked for; untouched when it already is.
fn encode_as(bytes: bytes::Bytes, base64: bool) -> Result<bytes::Bytes, ApiError> {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid("bad_response", format!("Unreadable embeddings: {e}.")))?;
    let Some(data) = value.get_mut("data").and_then(Value::as_array_mut) else {
        return Ok(bytes);
    };
    let mut changed = false;
    for item in data.iter_mut() {
        let converted = match (vector_of(item), base64) {
            (Ok(Vector::Floats(numbers)), true) => {
                let packed: Vec<u8> = numbers
                    .iter()
                    .flat_map(|n| (n.as_f64().unwrap_or(0.0) as f32).to_le_bytes())
                    .collect();
                Value::String(engine.encode(packed))
            }
            (Ok(Vector::Packed(bytes)), false) => Value::Array(
                bytes
                    .chunks_exact(4)
                    .map(|c| {
                        let float = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                        serde_json::Number::from_f64(f64::from(float))
                            .map_or(Value::Null, Value::Number)
                    })
                    .collect(),
            ),
            _ => continue,
        };
        if let Some(object) = item.as_object_mut() {
            object.insert("embedding".into(), converted);
            changed = true;
        }
    }
    if !changed {
        return Ok(bytes);
    }
    serde_json::to_vec(&value)
        .map(bytes::Bytes::from)
        .map_err(|e| ApiError::invalid("bad_response", format!("Unwritable embeddings: {e}.")))
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
        assert_eq!(check(&answer(ok.clone()), 1, Some(3)), Ok(Some((4, 0))));
        assert_eq!(check(&answer(ok.clone()), 1, Some(4)), Err("dimensions"));
        assert_eq!(check(&answer(ok.clone()), 2, Some(3)), Err("vector_count"));
        // Without a family, vectors only have to agree with each other.
        let mixed = json!({"data": [{"embedding": [0.1]}, {"embedding": [0.1, 0.2]}]});
        assert_eq!(check(&answer(mixed), 2, None), Err("dimensions"));
        assert_eq!(
            check(&answer(json!({"error": {}})), 1, Some(3)),
            Err("error_in_body")
        );
    }

    #[test]
    fn either_encoding_is_accepted_and_given_as_asked() {
        let engine = base64::engine::general_purpose::STANDARD;
        let floats = [0.5_f32, -1.0, 2.25];
        let packed = engine.encode(
            floats
                .iter()
                .flat_map(|f| f.to_le_bytes())
                .collect::<Vec<u8>>(),
        );
        let as_base64 = json!({"data": [{"embedding": packed, "index": 0}]});
        let as_floats = json!({"data": [{"embedding": [0.5, -1.0, 2.25], "index": 0}]});
        assert_eq!(check(&answer(as_base64.clone()), 1, Some(3)), Ok(None));
        assert_eq!(
            check(&answer(as_base64.clone()), 1, Some(4)),
            Err("dimensions")
        );
        assert_eq!(check(&answer(as_floats.clone()), 1, Some(3)), Ok(None));
        let read = |b: bytes::Bytes| serde_json::from_slice::<Value>(&b).unwrap();
        // Floats asked for as base64, and base64 asked for as floats.
        let encoded = encode_as(answer(as_floats.clone()).bytes, true).unwrap();
        assert_eq!(read(encoded), as_base64);
        let decoded = encode_as(answer(as_base64.clone()).bytes, false).unwrap();
        assert_eq!(read(decoded), as_floats);
        // Already as asked: the provider's bytes, untouched.
        let same = answer(as_floats.clone()).bytes;
        assert_eq!(encode_as(same.clone(), false).unwrap(), same);
        assert_eq!(
            check(
                &answer(json!({"data": [{"embedding": "not base64!"}]})),
                1,
                None
            ),
            Err("bad_base64")
        );
    }
}
