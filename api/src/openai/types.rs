//! The request side of the OpenAI wire format: the fields Freeway acts on are typed; every
//! other field is kept in `extra` and forwarded untouched.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::ApiError;
use super::raw::{RawBody, compact_len};

/// OpenAI's chat completion request; fields Freeway does not act on are forwarded as sent.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"model": "llama-3.1-8b-instant", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}], "stream": false, "temperature": 0.2}))]
pub struct ChatCompletionRequest {
    /// A model id from `GET /v1/models`, or `provider/model` to pin one provider.
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Everything else (tools, response_format, temperature, ...), forwarded as sent.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

/// One message of a conversation.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"role": "user", "content": "Hello"}))]
pub struct ChatMessage {
    pub role: String,
    /// A string, or an array of content parts (text, image_url, ...).
    // An explicit `null` (assistant messages with tool calls) is kept and forwarded as sent.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<serde_json::Value>)]
    pub content: Option<Value>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StreamOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

/// `Some` whenever the field is present, `null` included: plain `Option` would read `null`
/// as absent and drop it from the forwarded body.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// An integer field and its smallest value.
const INTEGERS: [(&str, u64); 3] = [("max_tokens", 1), ("max_completion_tokens", 1), ("n", 1)];
/// The largest `max_tokens` worth forwarding: no model answers more.
const MAX_TOKENS: u64 = 100_000_000;
/// A number field and its range.
const RANGES: [(&str, f64, f64); 4] = [
    ("temperature", 0.0, 2.0),
    ("top_p", 0.0, 1.0),
    ("presence_penalty", -2.0, 2.0),
    ("frequency_penalty", -2.0, 2.0),
];

/// The sampling numbers OpenAI bounds, checked before they reach a provider (which may take
/// `-1` or `"10"` for something else, or fail in a way that costs a route). `null` is absent.
pub(crate) fn check_numbers(object: &Map<String, Value>) -> Result<(), ApiError> {
    for (name, least) in INTEGERS {
        match object.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n))
                if n.as_u64()
                    .is_some_and(|v| (least..=MAX_TOKENS).contains(&v)) => {}
            Some(other) => {
                return Err(ApiError::invalid(
                    "invalid_value",
                    format!(
                        "`{name}` must be an integer from {least} to {MAX_TOKENS}, not {other}."
                    ),
                )
                .with_param(name));
            }
        }
    }
    for (name, low, high) in RANGES {
        match object.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.as_f64().is_some_and(|v| (low..=high).contains(&v)) => {}
            Some(other) => {
                return Err(ApiError::invalid(
                    "invalid_value",
                    format!("`{name}` must be a number from {low} to {high}, not {other}."),
                )
                .with_param(name));
            }
        }
    }
    Ok(())
}

/// A chat completion request as the pipeline reads it: parsed once, checked like the
/// [`ChatCompletionRequest`] it documents, with the fields routing needs read out, and
/// forwarded from the bytes the client sent (see [`RawBody`]).
pub struct ChatRequest {
    raw: RawBody,
    pub model: String,
    pub messages: Vec<Value>,
    stream: bool,
    stream_options: Option<Map<String, Value>>,
    /// `tools` or `functions` is a non-empty list.
    pub tools: bool,
    /// The compact length of `tools`, for the token estimate.
    pub tools_len: usize,
    /// `response_format` asks for JSON.
    pub json: bool,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<u64>,
}

fn invalid_body(detail: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(
        "invalid_request",
        format!("Invalid request body: {detail}."),
    )
}

impl ChatRequest {
    /// Parses a body, answering the mistakes people make with a message naming the field.
    pub fn parse(body: bytes::Bytes) -> Result<Self, ApiError> {
        let raw = RawBody::parse(body)?;
        let model = match raw.get::<Value>("model").map_err(invalid_body)? {
            Some(Value::String(model)) if !model.trim().is_empty() => model,
            Some(_) => {
                return Err(ApiError::invalid(
                    "invalid_model",
                    "`model` must be a non-empty string.",
                )
                .with_param("model"));
            }
            None => {
                return Err(ApiError::invalid(
                    "missing_required_parameter",
                    "Missing required parameter: `model`.",
                )
                .with_param("model"));
            }
        };
        let messages = match raw.get::<Value>("messages").map_err(invalid_body)? {
            Some(Value::Array(messages)) if !messages.is_empty() => messages,
            Some(Value::Array(_)) => {
                return Err(ApiError::invalid(
                    "invalid_messages",
                    "`messages` must contain at least one message.",
                )
                .with_param("messages"));
            }
            Some(_) => {
                return Err(ApiError::invalid(
                    "invalid_messages",
                    "`messages` must be an array of messages.",
                )
                .with_param("messages"));
            }
            None => {
                return Err(ApiError::invalid(
                    "missing_required_parameter",
                    "Missing required parameter: `messages`.",
                )
                .with_param("messages"));
            }
        };
        if let Some(i) = messages
            .iter()
            .position(|m| !m.get("role").is_some_and(Value::is_string))
        {
            return Err(invalid_body(format_args!(
                "messages[{i}] must be an object with a string `role`"
            )));
        }
        // Only the fields `check_numbers` bounds are parsed into values.
        let checked = INTEGERS.iter().map(|(name, _)| *name);
        let mut numbers = Map::new();
        for name in checked.chain(RANGES.iter().map(|(name, ..)| *name)) {
            if let Some(value) = raw.get::<Value>(name).map_err(invalid_body)? {
                numbers.insert(name.to_string(), value);
            }
        }
        check_numbers(&numbers)?;
        let stream = raw
            .get::<Option<bool>>("stream")
            .map_err(|e| invalid_body(format_args!("stream: {e}")))?
            .flatten()
            .unwrap_or(false);
        let stream_options = raw
            .get::<Option<StreamOptions>>("stream_options")
            .map_err(|e| invalid_body(format_args!("stream_options: {e}")))?
            .flatten();
        let stream_options = match stream_options {
            Some(options) => {
                let mut map = options.extra;
                if let Some(include) = options.include_usage {
                    map.insert("include_usage".into(), Value::Bool(include));
                }
                Some(map)
            }
            None => None,
        };
        let listed = |name: &str| {
            raw.raw(name)
                .is_some_and(|v| !matches!(compact_bytes(v).as_slice(), b"null" | b"[]"))
        };
        let tools = listed("tools") || listed("functions");
        let tools_len = raw.raw("tools").map_or(0, compact_len);
        let json = raw
            .get::<Value>("response_format")
            .ok()
            .flatten()
            .is_some_and(|f| {
                matches!(
                    f.get("type").and_then(Value::as_str),
                    Some("json_object" | "json_schema")
                )
            });
        let max_tokens = ["max_completion_tokens", "max_tokens"]
            .iter()
            .find_map(|k| numbers.get(*k).and_then(Value::as_u64));
        Ok(ChatRequest {
            raw,
            model,
            messages,
            stream,
            stream_options,
            tools,
            tools_len,
            json,
            max_tokens,
        })
    }

    pub fn wants_stream(&self) -> bool {
        self.stream
    }

    pub fn wants_usage_chunk(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// The body sent to one route: its model id, `messages` when a handoff rewrote them, and
    /// for streams a request for the usage chunk so token counts are exact. Every other
    /// field goes as the client sent it.
    pub fn upstream_body(&self, upstream_model: &str, messages: Option<&[Value]>) -> Vec<u8> {
        let model = serde_json::to_string(upstream_model).unwrap_or_default();
        let mut set: Vec<(&str, &[u8])> = vec![("model", model.as_bytes())];
        let messages = messages.map(|m| serde_json::to_vec(m).unwrap_or_default());
        if let Some(messages) = &messages {
            set.push(("messages", messages));
        }
        let options = self.stream.then(|| {
            let mut options = self.stream_options.clone().unwrap_or_default();
            options.insert("include_usage".into(), Value::Bool(true));
            Value::Object(options).to_string()
        });
        if let Some(options) = &options {
            set.push(("stream_options", options.as_bytes()));
        }
        self.raw.write(&set)
    }
}

/// `json` without whitespace, for comparing a short value (`[ ]` is `[]`).
fn compact_bytes(json: &[u8]) -> Vec<u8> {
    json.iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .take(8)
        .collect()
}

pub use crate::providers::openai_compat::usage_of;

/// A chat or text completion, judged by [`completion`] and passed on as the provider sent it.
pub(crate) const COMPLETION: crate::gateway::Whole<'static> = crate::gateway::Whole {
    check: &completion,
    answer: &json_answer,
};

fn json_answer(
    _: &crate::providers::Route,
    answer: crate::gateway::Answer,
) -> Result<actix_web::HttpResponse, ApiError> {
    Ok(actix_web::HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::HeaderValue::from_static("application/json"),
        ))
        .body(answer.bytes))
}

/// A usable chat or text completion is JSON with `choices` and no `error`. Read without
/// building the answer's tree: only `usage` is parsed into values.
pub(crate) fn completion(answer: &crate::gateway::Answer) -> crate::gateway::Verdict {
    let bytes = &answer.bytes;
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        // JSON that is not an object has no `choices`.
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|_| "not_json")?;
        return Err("no_choices");
    }
    let shape: CompletionShape = serde_json::from_slice(bytes).map_err(|_| "not_json")?;
    if shape.error.0 {
        return Err("error_in_body");
    }
    if !shape.choices.0 {
        return Err("no_choices");
    }
    Ok(shape.usage.0.and_then(|usage| {
        let prompt = usage.prompt_tokens.0?;
        Some((prompt, usage.completion_tokens.0.unwrap_or(0)))
    }))
}

#[derive(Deserialize)]
struct CompletionShape {
    #[serde(default)]
    error: Present,
    #[serde(default)]
    choices: IsArray,
    /// What [`usage_of`] reads of a `usage` object, read in place: any other value counts
    /// as no usage, as there.
    #[serde(default)]
    usage: UsageShape,
}

/// A `usage` field: its token counts when it is an object, `None` when it is anything else.
#[derive(Default)]
struct UsageShape(Option<Counts>);

#[derive(Default)]
struct Counts {
    prompt_tokens: Count,
    completion_tokens: Count,
}

/// A key of `usage`; only the two counted ones are told apart.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum CountKey {
    PromptTokens,
    CompletionTokens,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for UsageShape {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UsageShape;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                // A repeated key keeps its last value, as `Value` does.
                let mut counts = Counts::default();
                while let Some(key) = map.next_key::<CountKey>()? {
                    match key {
                        CountKey::PromptTokens => counts.prompt_tokens = map.next_value()?,
                        CountKey::CompletionTokens => {
                            counts.completion_tokens = map.next_value()?
                        }
                        CountKey::Other => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(UsageShape(Some(counts)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(UsageShape(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(UsageShape(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(UsageShape(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(UsageShape(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(UsageShape(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(UsageShape(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(UsageShape(None))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A token count: a non-negative integer, or `None` for any other value (as
/// `Value::as_u64` reads it).
#[derive(Default)]
struct Count(Option<u64>);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Count(Value::deserialize(deserializer)?.as_u64()))
    }
}

/// Whether a field is there at all, `null` included; its value is skipped.
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| Present(true))
    }
}

/// Whether a field is an array; any value is skipped.
#[derive(Default)]
struct IsArray(bool);

impl<'de> Deserialize<'de> for IsArray {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = IsArray;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<IsArray, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(IsArray(true))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<IsArray, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(IsArray(false))
            }
            fn visit_bool<E>(self, _: bool) -> Result<IsArray, E> {
                Ok(IsArray(false))
            }
            fn visit_i64<E>(self, _: i64) -> Result<IsArray, E> {
                Ok(IsArray(false))
            }
            fn visit_u64<E>(self, _: u64) -> Result<IsArray, E> {
                Ok(IsArray(false))
            }
            fn visit_f64<E>(self, _: f64) -> Result<IsArray, E> {
                Ok(IsArray(false))
            }
            fn visit_str<E>(self, _: &str) -> Result<IsArray, E> {
                Ok(IsArray(false))
            }
            fn visit_unit<E>(self) -> Result<IsArray, E> {
                Ok(IsArray(false))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_survive_the_round_trip() {
        let body = json!({
            "model": "m",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
            ], "name": "ann"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "response_format": {"type": "json_object"},
            "temperature": 0.25,
            "x_vendor_flag": {"nested": [1, 2, 3]}
        });
        let request = ChatRequest::parse(body.to_string().into()).unwrap();
        let forwarded: Value =
            serde_json::from_slice(&request.upstream_body("upstream-m", None)).unwrap();
        let mut expected = body.clone();
        expected["model"] = json!("upstream-m");
        assert_eq!(forwarded, expected);
    }

    #[test]
    fn streams_ask_for_usage_and_keep_other_options() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "stream": true, "stream_options": {"other": 1}});
        let request = ChatRequest::parse(body.to_string().into()).unwrap();
        assert!(!request.wants_usage_chunk());
        let forwarded: Value = serde_json::from_slice(&request.upstream_body("m", None)).unwrap();
        assert_eq!(
            forwarded["stream_options"],
            json!({"include_usage": true, "other": 1})
        );
    }

    #[test]
    fn bad_bodies_name_the_problem() {
        let cases: &[(&str, &str)] = &[
            ("{", "invalid_json"),
            ("[]", "invalid_request"),
            (
                r#"{"messages":[{"role":"user","content":"x"}]}"#,
                "missing_required_parameter",
            ),
            (
                r#"{"model":"","messages":[{"role":"user"}]}"#,
                "invalid_model",
            ),
            (r#"{"model":"m"}"#, "missing_required_parameter"),
            (r#"{"model":"m","messages":[]}"#, "invalid_messages"),
            (r#"{"model":"m","messages":"hi"}"#, "invalid_messages"),
            (
                r#"{"model":"m","messages":[{"content":"no role"}]}"#,
                "invalid_request",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user"}],"stream":"yes"}"#,
                "invalid_request",
            ),
        ];
        for (body, code) in cases {
            let error = ChatRequest::parse(bytes::Bytes::from_static(body.as_bytes()))
                .err()
                .unwrap();
            assert_eq!(error.code(), *code, "{body}");
            assert_eq!(error.status(), 400);
        }
    }

    #[test]
    fn numbers_are_checked_before_forwarding() {
        let parse = |extra: &str| {
            let body =
                format!(r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}]{extra}}}"#);
            ChatRequest::parse(body.into_bytes().into())
        };
        for (extra, param) in [
            (r#","max_tokens":-1"#, "max_tokens"),
            (r#","max_tokens":0"#, "max_tokens"),
            (r#","max_tokens":1e308"#, "max_tokens"),
            (r#","max_tokens":"10""#, "max_tokens"),
            (r#","max_tokens":2.5"#, "max_tokens"),
            (r#","max_completion_tokens":-3"#, "max_completion_tokens"),
            (r#","temperature":3"#, "temperature"),
            (r#","temperature":"hot""#, "temperature"),
            (r#","top_p":1.5"#, "top_p"),
            (r#","n":0"#, "n"),
            (r#","presence_penalty":-2.5"#, "presence_penalty"),
        ] {
            let error = parse(extra).err().unwrap();
            assert_eq!(
                (error.code(), error.param()),
                ("invalid_value", Some(param)),
                "{extra}"
            );
        }
        for extra in [
            r#","max_tokens":16"#,
            r#","max_tokens":null"#,
            r#","temperature":0,"top_p":1,"n":2"#,
            r#","temperature":1.7,"frequency_penalty":-2"#,
        ] {
            assert!(parse(extra).is_ok(), "{extra}");
        }
    }

    #[test]
    fn completions_are_judged_without_reading_them_whole() {
        let judge = |body: Value| {
            completion(&crate::gateway::Answer {
                headers: Default::default(),
                bytes: body.to_string().into(),
            })
        };
        assert_eq!(
            judge(json!({"choices": [{"message": {"content": "x"}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 4}})),
            Ok(Some((3, 4)))
        );
        assert_eq!(judge(json!({"choices": []})), Ok(None));
        assert_eq!(
            judge(json!({"choices": [], "error": null})),
            Err("error_in_body")
        );
        assert_eq!(judge(json!({"choices": {}})), Err("no_choices"));
        assert_eq!(judge(json!({"id": "x"})), Err("no_choices"));
        assert_eq!(judge(json!([1])), Err("no_choices"));
        let broken = completion(&crate::gateway::Answer {
            headers: Default::default(),
            bytes: "{\"choices\": [".into(),
        });
        assert_eq!(broken, Err("not_json"));
    }

    #[test]
    fn a_completion_s_usage_is_read_in_place_as_usage_of_reads_it() {
        let usages = [
            json!({"prompt_tokens": 3, "completion_tokens": 4}),
            json!({"prompt_tokens": 3}),
            json!({"completion_tokens": 4}),
            json!({"prompt_tokens": -1, "completion_tokens": 4}),
            json!({"prompt_tokens": 2.5, "completion_tokens": 4}),
            json!({"prompt_tokens": "3", "completion_tokens": 4}),
            json!({"prompt_tokens": 3, "completion_tokens": null}),
            json!({"prompt_tokens": 3, "completion_tokens": {"n": 1}}),
            json!({"total_tokens": 7, "prompt_tokens_details": {"cached_tokens": 1},
                "prompt_tokens": 3, "completion_tokens": 4}),
            json!(null),
            json!([1, 2]),
            json!("usage"),
            json!(7),
            json!(true),
            json!({}),
        ];
        for usage in usages {
            let body = json!({"choices": [], "usage": usage});
            let answer = crate::gateway::Answer {
                headers: Default::default(),
                bytes: body.to_string().into(),
            };
            assert_eq!(completion(&answer), Ok(usage_of(&body)), "{usage}");
        }
        // A repeated key keeps its last value, as a parsed `Value` does.
        let answer = crate::gateway::Answer {
            headers: Default::default(),
            bytes: r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"prompt_tokens":5}}"#.into(),
        };
        assert_eq!(completion(&answer), Ok(Some((5, 2))));
    }

    #[test]
    fn usage_is_read_when_present() {
        assert_eq!(
            usage_of(&json!({"usage": {"prompt_tokens": 3, "completion_tokens": 4}})),
            Some((3, 4))
        );
        assert_eq!(usage_of(&json!({"usage": null})), None);
        assert_eq!(usage_of(&json!({})), None);
    }
}
