//! The request side of the OpenAI wire format: the fields Freeway acts on are typed; every
//! other field is kept in `extra` and forwarded untouched.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::ApiError;

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

impl ChatCompletionRequest {
    /// Parses a body, answering the mistakes people make with a message naming the field.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::invalid(
                "invalid_json",
                format!("The request body is not valid JSON: {e}."),
            )
        })?;
        let Value::Object(object) = &value else {
            return Err(ApiError::invalid(
                "invalid_request",
                "The request body must be a JSON object.",
            ));
        };
        match object.get("model") {
            Some(Value::String(model)) if !model.trim().is_empty() => {}
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
        }
        match object.get("messages") {
            Some(Value::Array(messages)) if !messages.is_empty() => {}
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
        }
        check_numbers(object)?;
        serde_json::from_value(value).map_err(|e| {
            ApiError::invalid("invalid_request", format!("Invalid request body: {e}."))
        })
    }

    pub fn wants_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    pub fn wants_usage_chunk(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    /// The body sent to one route: its model id, and for streams a request for the usage
    /// chunk so token counts are exact.
    pub fn upstream_body(&self, upstream_model: &str) -> Result<Vec<u8>, serde_json::Error> {
        let mut request = self.clone();
        request.model = upstream_model.to_string();
        if request.wants_stream() {
            let options = request.stream_options.get_or_insert_with(Default::default);
            options.include_usage = Some(true);
        }
        serde_json::to_vec(&request)
    }
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
        .insert_header((actix_web::http::header::CONTENT_TYPE, "application/json"))
        .body(answer.bytes))
}

/// A usable chat or text completion is JSON with `choices` and no `error`.
pub(crate) fn completion(answer: &crate::gateway::Answer) -> crate::gateway::Verdict {
    let value: Value = serde_json::from_slice(&answer.bytes).map_err(|_| "not_json")?;
    if value.get("error").is_some() {
        return Err("error_in_body");
    }
    if !value.get("choices").is_some_and(Value::is_array) {
        return Err("no_choices");
    }
    Ok(usage_of(&value))
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
        let request = ChatCompletionRequest::parse(body.to_string().as_bytes()).unwrap();
        let forwarded: Value =
            serde_json::from_slice(&request.upstream_body("upstream-m").unwrap()).unwrap();
        let mut expected = body.clone();
        expected["model"] = json!("upstream-m");
        assert_eq!(forwarded, expected);
    }

    #[test]
    fn streams_ask_for_usage_and_keep_other_options() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "stream": true, "stream_options": {"other": 1}});
        let request = ChatCompletionRequest::parse(body.to_string().as_bytes()).unwrap();
        assert!(!request.wants_usage_chunk());
        let forwarded: Value =
            serde_json::from_slice(&request.upstream_body("m").unwrap()).unwrap();
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
            let error = ChatCompletionRequest::parse(body.as_bytes()).unwrap_err();
            assert_eq!(error.code(), *code, "{body}");
            assert_eq!(error.status(), 400);
        }
    }

    #[test]
    fn numbers_are_checked_before_forwarding() {
        let parse = |extra: &str| {
            let body =
                format!(r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}]{extra}}}"#);
            ChatCompletionRequest::parse(body.as_bytes())
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
            let error = parse(extra).unwrap_err();
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
    fn usage_is_read_when_present() {
        assert_eq!(
            usage_of(&json!({"usage": {"prompt_tokens": 3, "completion_tokens": 4}})),
            Some((3, 4))
        );
        assert_eq!(usage_of(&json!({"usage": null})), None);
        assert_eq!(usage_of(&json!({})), None);
    }
}
