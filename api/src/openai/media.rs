//! Images, speech and transcriptions: `POST /v1/images/generations`, `/v1/audio/speech`
//! and `/v1/audio/transcriptions`. Each fails over like chat and passes the provider's
//! answer through; a transcription's upload is buffered once (within the body limit) and
//! sent again, with the route's model id, to each provider tried.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use reqwest::multipart::{Form, Part};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::embeddings::{missing, require_model};
use super::types::usage_of;
use super::{allow, estimate, respond};
use crate::gateway::attempt::{Answer, Build, Call, Shape, Verdict, Whole, drive};
use crate::gateway::body::{read_json, read_limited};
use crate::gateway::chain::Needs;
use crate::gateway::client::ClientSocket;
use crate::gateway::{ApiError, Gateway, admit};
use crate::providers::{Modality, Route, openai_compat};
use crate::usage::Recorder;

/// The body of an image or speech request: `model` is Freeway's, the rest is forwarded.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"model": "flux", "prompt": "a lighthouse at dawn", "size": "1024x1024"}))]
pub struct MediaRequest {
    /// An image or speech model id, or `provider/model`.
    pub model: String,
    /// Everything else (`prompt`, `size`, `input`, `voice`, `response_format`, ...), forwarded
    /// as sent.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

/// The form of a transcription request, as documented; the file is required.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TranscriptionForm {
    /// A transcription model id, or `provider/model`.
    model: String,
    /// The audio file.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// The spoken language (ISO-639-1). Every other field (`prompt`, `response_format`,
    /// `temperature`, ...) is forwarded as sent too.
    #[schema(value_type = Option<String>)]
    language: Option<String>,
}

/// Generate images
#[utoipa::path(
    post,
    path = "/v1/images/generations",
    tag = "openai",
    operation_id = "images_generate",
    request_body = MediaRequest,
    responses(
        (status = 200, description = "The provider's images, passed through unchanged. Headers `x-freeway-route`, `x-freeway-attempts`, `x-freeway-strategy` explain it", body = freeway_wire::openai::ImagesResponse),
        (status = 400, description = "Malformed JSON or a missing `model`", body = super::error::ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired api key", body = super::error::ErrorEnvelope),
        (status = 404, description = "Unknown image model", body = super::error::ErrorEnvelope),
        (status = 403, description = "The key or a quota may not use this model (`model_not_allowed`), or a quota has expired (`quota_expired`)", body = super::error::ErrorEnvelope),
        (status = 429, description = "The pool is exhausted, or a tenant, member or api key quota is used up (`quota_exceeded`, the message names the quota); `Retry-After` is when capacity returns", body = super::error::ErrorEnvelope),
        (status = 502, description = "No upstream answered", body = super::error::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
pub async fn image_generations(
    req: HttpRequest,
    payload: web::Payload,
    gw: web::Data<Gateway>,
) -> HttpResponse {
    respond(&req, "images.generations", &gw, async |recorder| {
        json_media(&req, payload, &gw, recorder, &IMAGES).await
    })
    .await
}

/// Synthesize speech
#[utoipa::path(
    post,
    path = "/v1/audio/speech",
    tag = "openai",
    operation_id = "speech_create",
    request_body = MediaRequest,
    responses(
        (status = 200, description = "The provider's audio, passed through with its content type. Headers `x-freeway-route`, `x-freeway-attempts`, `x-freeway-strategy` explain it",
            content((Vec<u8> = "audio/mpeg"), (Vec<u8> = "application/octet-stream"))),
        (status = 400, description = "Malformed JSON or a missing `model`", body = super::error::ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired api key", body = super::error::ErrorEnvelope),
        (status = 404, description = "Unknown speech model", body = super::error::ErrorEnvelope),
        (status = 403, description = "The key or a quota may not use this model (`model_not_allowed`), or a quota has expired (`quota_expired`)", body = super::error::ErrorEnvelope),
        (status = 429, description = "The pool is exhausted, or a tenant, member or api key quota is used up (`quota_exceeded`, the message names the quota); `Retry-After` is when capacity returns", body = super::error::ErrorEnvelope),
        (status = 502, description = "No upstream answered", body = super::error::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
pub async fn speech(
    req: HttpRequest,
    payload: web::Payload,
    gw: web::Data<Gateway>,
) -> HttpResponse {
    respond(&req, "audio.speech", &gw, async |recorder| {
        json_media(&req, payload, &gw, recorder, &SPEECH).await
    })
    .await
}

/// Transcribe audio
///
/// A multipart upload, replayed to each provider tried.
#[utoipa::path(
    post,
    path = "/v1/audio/transcriptions",
    tag = "openai",
    operation_id = "transcriptions_create",
    request_body(content = TranscriptionForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The provider's transcription (JSON or text, per `response_format`), passed through. Headers `x-freeway-route`, `x-freeway-attempts`, `x-freeway-strategy` explain it",
            content((freeway_wire::openai::Transcription = "application/json"), (String = "text/plain"))),
        (status = 400, description = "Not a readable form, or a missing `model` or `file`", body = super::error::ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired api key", body = super::error::ErrorEnvelope),
        (status = 404, description = "Unknown transcription model", body = super::error::ErrorEnvelope),
        (status = 413, description = "Upload over the size limit", body = super::error::ErrorEnvelope),
        (status = 415, description = "Not `multipart/form-data`", body = super::error::ErrorEnvelope),
        (status = 403, description = "The key or a quota may not use this model (`model_not_allowed`), or a quota has expired (`quota_expired`)", body = super::error::ErrorEnvelope),
        (status = 429, description = "The pool is exhausted, or a tenant, member or api key quota is used up (`quota_exceeded`, the message names the quota); `Retry-After` is when capacity returns", body = super::error::ErrorEnvelope),
        (status = 502, description = "No upstream answered", body = super::error::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
pub async fn transcriptions(
    req: HttpRequest,
    payload: web::Payload,
    gw: web::Data<Gateway>,
) -> HttpResponse {
    respond(&req, "audio.transcriptions", &gw, async |recorder| {
        let caller = admit::authenticate(&req, &gw, recorder)?;
        let boundary = boundary(&req)?;
        let limit = gw.config.max_body_bytes;
        let body = read_limited(&req, payload, limit, gw.config.body_timeout()).await?;
        let upload = Upload::parse(body, boundary).await?;
        allow(&caller, recorder, &upload.model)?;
        let catalog = gw.catalog.get();
        let resolved = catalog
            .resolve(Modality::Transcription, &upload.model)
            .ok_or_else(|| admit::unknown_model(&upload.model, Modality::Transcription))?;
        let needs = Needs {
            reserve_tokens: 1,
            ..Needs::default()
        };
        let quota = admit::reserve_quota(&gw, &caller, &upload.model, needs.reserve_tokens)?;
        let build = |route: &Route| {
            let form = upload.form_for(&route.model);
            Ok(Some(openai_compat::post_multipart(
                &gw.http,
                route,
                "/audio/transcriptions",
                form,
            )))
        };
        let pass = |_: &Route, answer: Answer| Ok(pass(answer, "application/json"));
        let call = media_call(&req, &build, &not_empty, &pass, needs);
        drive(
            &gw,
            resolved.routes,
            resolved.strategy,
            call,
            recorder,
            quota,
        )
        .await
    })
    .await
}

/// A call whose answer is the provider's body, passed through.
fn media_call<'a>(
    req: &HttpRequest,
    build: &'a Build<'a>,
    check: &'a dyn Fn(&Answer) -> Verdict,
    answer: &'a dyn Fn(&Route, Answer) -> Result<HttpResponse, ApiError>,
    needs: Needs,
) -> Call<'a> {
    Call {
        build,
        shape: Shape::Whole(Whole { check, answer }),
        needs,
        pin: None,
        fit_context: false,
        on_commit: &|_| {},
        client: ClientSocket::of(req),
    }
}

/// What differs between the JSON media endpoints.
struct Kind {
    modality: Modality,
    path: &'static str,
    /// The content type assumed when the provider sends none.
    content_type: &'static str,
    check: fn(&Answer) -> Verdict,
}

const IMAGES: Kind = Kind {
    modality: Modality::Image,
    path: "/images/generations",
    content_type: "application/json",
    check: images,
};

const SPEECH: Kind = Kind {
    modality: Modality::Speech,
    path: "/audio/speech",
    content_type: "audio/mpeg",
    check: not_empty,
};

async fn json_media(
    req: &HttpRequest,
    payload: web::Payload,
    gw: &Gateway,
    recorder: &mut Recorder,
    kind: &Kind,
) -> Result<HttpResponse, ApiError> {
    let caller = admit::authenticate(req, gw, recorder)?;
    let body = read_json(req, payload, gw).await?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(
            "invalid_json",
            format!("The request body is not valid JSON: {e}."),
        )
    })?;
    require_model(&value)?;
    let request: MediaRequest = serde_json::from_value(value)
        .map_err(|e| ApiError::invalid("invalid_request", format!("Invalid request body: {e}.")))?;
    allow(&caller, recorder, &request.model)?;
    let catalog = gw.catalog.get();
    let resolved = catalog
        .resolve(kind.modality, &request.model)
        .ok_or_else(|| admit::unknown_model(&request.model, kind.modality))?;
    // Speech is priced by its input text; an image by the picture, counted as one.
    let tokens = match request.extra.get("input") {
        Some(Value::String(text)) => estimate(text.chars().count()),
        _ => 1,
    };
    let needs = Needs {
        reserve_tokens: tokens,
        ..Needs::default()
    };
    let quota = admit::reserve_quota(gw, &caller, &request.model, needs.reserve_tokens)?;
    let build = |route: &Route| {
        let mut copy = request.clone();
        copy.model = route.model.clone();
        let body = serde_json::to_vec(&copy).map_err(|e| {
            ApiError::invalid("invalid_request", format!("Invalid request body: {e}."))
        })?;
        Ok(Some(openai_compat::post_json(
            &gw.http, route, kind.path, body, "*/*",
        )))
    };
    let pass = |_: &Route, answer: Answer| Ok(pass(answer, kind.content_type));
    let call = media_call(req, &build, &kind.check, &pass, needs);
    drive(
        gw,
        resolved.routes,
        resolved.strategy,
        call,
        recorder,
        quota,
    )
    .await
}

fn pass(answer: Answer, fallback: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, answer.content_type(fallback)))
        .body(answer.bytes)
}

/// An image answer is JSON with a `data` array.
fn images(answer: &Answer) -> Verdict {
    let value: Value = serde_json::from_slice(&answer.bytes).map_err(|_| "not_json")?;
    if value.get("error").is_some() {
        return Err("error_in_body");
    }
    if !value.get("data").is_some_and(Value::is_array) {
        return Err("no_data");
    }
    Ok(usage_of(&value))
}

/// Audio or a transcription: anything but an empty body or a JSON error.
fn not_empty(answer: &Answer) -> Verdict {
    if answer.bytes.is_empty() {
        return Err("empty_body");
    }
    match serde_json::from_slice::<Value>(&answer.bytes) {
        Ok(value) if value.get("error").is_some() => Err("error_in_body"),
        Ok(value) => Ok(usage_of(&value)),
        Err(_) => Ok(None),
    }
}

fn boundary(req: &HttpRequest) -> Result<String, ApiError> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    multer::parse_boundary(content_type).map_err(|_| ApiError::UnsupportedMediaType {
        message: "Send the upload as `Content-Type: multipart/form-data` with a boundary.".into(),
    })
}

/// One part of the client's form, kept to be sent again to each provider tried.
struct FormField {
    name: String,
    file_name: Option<String>,
    content_type: Option<String>,
    data: Bytes,
}

struct Upload {
    model: String,
    fields: Vec<FormField>,
}

impl Upload {
    async fn parse(body: Bytes, boundary: String) -> Result<Upload, ApiError> {
        let unreadable = |e: multer::Error| {
            ApiError::invalid(
                "invalid_multipart",
                format!("The form could not be read: {e}."),
            )
        };
        let whole =
            futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
        let mut multipart = multer::Multipart::new(whole, boundary);
        let mut fields = Vec::new();
        while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
            let name = field.name().unwrap_or_default().to_string();
            let file_name = field.file_name().map(str::to_string);
            let content_type = field.content_type().map(ToString::to_string);
            let data = field.bytes().await.map_err(unreadable)?;
            fields.push(FormField {
                name,
                file_name,
                content_type,
                data,
            });
        }
        let model = fields
            .iter()
            .find(|f| f.name == "model")
            .map(|f| String::from_utf8_lossy(&f.data).trim().to_string())
            .filter(|m| !m.is_empty())
            .ok_or_else(|| missing("model"))?;
        if !fields
            .iter()
            .any(|f| f.name == "file" && !f.data.is_empty())
        {
            return Err(missing("file"));
        }
        Ok(Upload { model, fields })
    }

    /// The client's form with the route's model id; the buffered parts are shared, not copied.
    fn form_for(&self, upstream_model: &str) -> Form {
        self.fields.iter().fold(Form::new(), |form, field| {
            if field.name == "model" {
                return form.text("model", upstream_model.to_string());
            }
            let part = || {
                let part = Part::stream_with_length(field.data.clone(), field.data.len() as u64);
                match &field.file_name {
                    Some(name) => part.file_name(name.clone()),
                    None => part,
                }
            };
            let part = match &field.content_type {
                // A type multer parsed always parses again; should it not, it is left out.
                Some(mime) => part().mime_str(mime).unwrap_or_else(|_| part()),
                None => part(),
            };
            form.part(field.name.clone(), part)
        })
    }
}
