use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use serde_json::{Value, json};

use super::behavior::{Behavior, default_error_body};
use super::sse::{self, Completion};
use super::{RecordedRequest, Shared};

/// How long a hanging request waits before answering at all; far beyond any
/// client timeout a test would configure.
const HANG: Duration = Duration::from_secs(3600);

const DEFAULT_MODEL: &str = "mock-model";
/// What `/v1/images/generations` answers with.
pub const IMAGE_URL: &str = "https://example.invalid/img.png";
/// What `/v1/audio/speech` answers with (`audio/mpeg`).
pub const SPEECH_BYTES: &[u8] = b"ID3\x04\0\0\0\0\0\0mock-mp3-frames";
/// What `/v1/audio/transcriptions` answers with.
pub const TRANSCRIPT: &str = "hello from the mock";

/// `POST /__mock/push?status=429&retry_after=60` queues an answer for the next request
/// (`count=N`: for the next N); `default=1` makes it the answer while the queue is empty. A
/// script driving the gateway from outside (a browser test, a benchmark, a user trying
/// failover) programs the mock as in-process tests do with [`super::MockUpstream::push`].
/// The keys are [`Behavior::from_query`]'s. Not recorded.
fn control(req: &HttpRequest, shared: &Shared) -> HttpResponse {
    let behavior = match Behavior::from_query(req.query_string()) {
        Ok(behavior) => behavior,
        Err(message) => return HttpResponse::BadRequest().body(message),
    };
    let query =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .map(web::Query::into_inner)
            .unwrap_or_default();
    let count = query
        .get("count")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1);
    let mut state = shared.lock();
    if query.get("default").is_some_and(|v| v != "0") {
        state.default = behavior;
    } else {
        state
            .queue
            .extend(std::iter::repeat_n(behavior, count.min(100_000)));
    }
    HttpResponse::NoContent().finish()
}

/// The behaviour, with its error bodies quoting the request's `Authorization` when asked.
fn echoing(mut behavior: Behavior, recorded: &RecordedRequest) -> Behavior {
    if behavior.echo_authorization {
        let authorization = recorded.header("authorization").unwrap_or_default();
        let mut body = default_error_body(if behavior.status >= 400 {
            behavior.status
        } else {
            500
        });
        body["error"]["message"] = json!(format!(
            "Invalid request header: Authorization: {authorization}"
        ));
        behavior.error_body = Some(body);
    }
    behavior
}

/// Single entry point so every request is recorded, whatever its route.
pub(crate) async fn dispatch(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let recorded = record(&req, &body);
    tracing::debug!(method = %recorded.method, path = %recorded.path, "mock upstream request");
    match (req.method(), req.path()) {
        (&Method::POST, "/__mock/push") => control(&req, &shared),
        (&Method::POST, "/v1/chat/completions") => {
            let body = recorded.body.clone();
            let behavior = echoing(shared.record_and_take(recorded.clone()), &recorded);
            completions(&shared, body, behavior, false).await
        }
        (&Method::POST, "/v1/completions") => {
            let body = recorded.body.clone();
            let behavior = echoing(shared.record_and_take(recorded.clone()), &recorded);
            completions(&shared, body, behavior, true).await
        }
        (&Method::POST, "/v1/embeddings") => {
            let body = recorded.body.clone();
            let behavior = echoing(shared.record_and_take(recorded.clone()), &recorded);
            embeddings(body, behavior).await
        }
        (&Method::POST, "/v1/images/generations") => {
            let behavior = shared.record_and_take(recorded);
            images(behavior).await
        }
        (&Method::POST, "/v1/audio/speech") => {
            let behavior = shared.record_and_take(recorded);
            speech(behavior).await
        }
        (&Method::POST, "/v1/audio/transcriptions") => {
            let mut recorded = recorded;
            recorded.body = form_summary(&req, body).await;
            let behavior = shared.record_and_take(recorded);
            transcription(behavior).await
        }
        (&Method::GET, "/v1/models") => {
            if let Some((status, body)) = shared.record_models(recorded) {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                return HttpResponse::build(status).json(body);
            }
            HttpResponse::Ok().json(json!({
                "object": "list",
                "data": [{
                    "id": DEFAULT_MODEL,
                    "object": "model",
                    "created": 0,
                    "owned_by": "mock",
                }],
            }))
        }
        _ => {
            shared.record(recorded);
            HttpResponse::NotFound().json(default_error_body(404))
        }
    }
}

fn record(req: &HttpRequest, body: &[u8]) -> RecordedRequest {
    RecordedRequest {
        method: req.method().as_str().to_owned(),
        path: req.path().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    }
}

/// Applies the behaviour's hang, latency and error status. `Err` carries the
/// finished error response; `Ok` carries a builder for the success status.
async fn preamble(behavior: &Behavior) -> Result<HttpResponseBuilder, HttpResponse> {
    if behavior.hang {
        tokio::time::sleep(HANG).await;
        return Err(HttpResponse::GatewayTimeout().json(default_error_body(504)));
    }
    if !behavior.latency.is_zero() {
        tokio::time::sleep(behavior.latency).await;
    }
    let status = StatusCode::from_u16(behavior.status).unwrap_or_else(|_| {
        tracing::warn!(
            status = behavior.status,
            "mock behaviour has an invalid status; using 500"
        );
        StatusCode::INTERNAL_SERVER_ERROR
    });
    let mut builder = HttpResponse::build(status);
    if let Some(secs) = behavior.retry_after {
        builder.insert_header((header::RETRY_AFTER, secs.to_string()));
    }
    for (name, value) in &behavior.headers {
        builder.append_header((name.as_str(), value.as_str()));
    }
    if status.is_success() {
        Ok(builder)
    } else {
        Err(builder.json(behavior.error_json(status.as_u16())))
    }
}

/// A chat completion, or with `legacy` a text completion (`/v1/completions`).
async fn completions(
    shared: &Shared,
    body: Value,
    behavior: Behavior,
    legacy: bool,
) -> HttpResponse {
    let mut builder = match preamble(&behavior).await {
        Ok(builder) => builder,
        Err(response) => return response,
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_MODEL)
        .to_owned();
    let prefix = if legacy { "cmpl" } else { "chatcmpl" };
    let id = format!("{prefix}-mock-{}", shared.next_id());
    let created = unix_now();

    if body.get("stream").and_then(Value::as_bool).unwrap_or(false) {
        let include_usage = body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let completion = Completion {
            id,
            created,
            model,
            include_usage,
            legacy,
        };
        return builder
            .insert_header((header::CONTENT_TYPE, "text/event-stream"))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .streaming(sse::chat_stream(&behavior, &completion));
    }

    let mut response = if legacy {
        json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "text": behavior.reply,
                "logprobs": null,
                "finish_reason": "stop",
            }],
        })
    } else {
        json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [match &behavior.tool_call {
                Some((name, arguments)) => json!({
                    "index": 0,
                    "message": {"role": "assistant", "content": null, "tool_calls": [{
                        "id": "call_mock_1", "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    }]},
                    "finish_reason": "tool_calls",
                }),
                None => json!({
                    "index": 0,
                    "message": {"role": "assistant", "content": behavior.reply},
                    "finish_reason": "stop",
                }),
            }],
        })
    };
    if let Some((prompt, completion)) = behavior.usage {
        response["usage"] = sse::usage_json(prompt, completion);
    }
    if body.get("mock_echo").and_then(Value::as_bool) == Some(true) {
        response["echo"] = body;
    }
    builder.json(response)
}

async fn embeddings(body: Value, behavior: Behavior) -> HttpResponse {
    let mut builder = match preamble(&behavior).await {
        Ok(builder) => builder,
        Err(response) => return response,
    };
    let inputs: Vec<&str> = match body.get("input") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => match items.iter().map(Value::as_str).collect() {
            Some(inputs) => inputs,
            None => return invalid_input(),
        },
        _ => return invalid_input(),
    };
    let tokens: usize = inputs.iter().map(|s| s.split_whitespace().count()).sum();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            json!({
                "object": "embedding",
                "index": index,
                "embedding": embed(input, behavior.dimensions),
            })
        })
        .collect();
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_MODEL);
    builder.json(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
}

async fn images(behavior: Behavior) -> HttpResponse {
    match preamble(&behavior).await {
        Ok(mut builder) => builder.json(json!({
            "created": unix_now(),
            "data": [{"url": IMAGE_URL}],
        })),
        Err(response) => response,
    }
}

async fn speech(behavior: Behavior) -> HttpResponse {
    match preamble(&behavior).await {
        Ok(mut builder) => builder
            .insert_header((header::CONTENT_TYPE, "audio/mpeg"))
            .body(SPEECH_BYTES),
        Err(response) => response,
    }
}

async fn transcription(behavior: Behavior) -> HttpResponse {
    match preamble(&behavior).await {
        Ok(mut builder) => builder.json(json!({"text": TRANSCRIPT})),
        Err(response) => response,
    }
}

/// A multipart form as JSON: each text field by name, and each file as
/// `{"filename", "content_type", "size"}`; `Null` when the body is no form.
async fn form_summary(req: &HttpRequest, body: web::Bytes) -> Value {
    let boundary = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok());
    let Some(boundary) = boundary else {
        return Value::Null;
    };
    let whole = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(whole, boundary);
    let mut summary = serde_json::Map::new();
    while let Ok(Some(field)) = multipart.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(ToString::to_string);
        let Ok(data) = field.bytes().await else {
            return Value::Null;
        };
        let value = match filename {
            Some(filename) => json!({
                "filename": filename,
                "content_type": content_type,
                "size": data.len(),
            }),
            None => Value::String(String::from_utf8_lossy(&data).into_owned()),
        };
        summary.insert(name, value);
    }
    Value::Object(summary)
}

fn invalid_input() -> HttpResponse {
    let mut body = default_error_body(400);
    body["error"]["message"] = json!("'input' must be a string or an array of strings.");
    body["error"]["param"] = json!("input");
    HttpResponse::BadRequest().json(body)
}

/// A unit vector seeded by FNV-1a of the input and expanded with splitmix64:
/// stable across runs and platforms, so tests can compare exact values.
pub(crate) fn embed(input: &str, dimensions: usize) -> Vec<f64> {
    let mut state = input.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let raw: Vec<f64> = (0..dimensions)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            // The top 53 bits map exactly onto [0, 1) in an f64.
            (z >> 11) as f64 / (1_u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        raw.iter().map(|x| x / norm).collect()
    } else {
        raw
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
