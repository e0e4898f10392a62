//! A provider's chat completion as Anthropic's message.

use freeway_wire::anthropic::{ContentBlock, Message, MessageUsage};
use serde_json::{Value, json};
use uuid::Uuid;

/// What the answer is translated for.
#[derive(Debug, Clone)]
pub(super) struct Context {
    /// The model as requested (Anthropic echoes it).
    pub model: String,
    pub stop_sequences: Vec<String>,
}

pub(super) fn message_id() -> String {
    format!("msg_{}", Uuid::now_v7().simple())
}

pub(super) fn tool_use_id() -> String {
    format!("toolu_{}", Uuid::now_v7().simple())
}

/// Anthropic's `stop_reason` and `stop_sequence` for a choice's `finish_reason`. OpenAI says
/// `stop` for a stop sequence too; some providers (vLLM's) name the sequence in
/// `stop_reason`, and only then is it `stop_sequence`.
pub(super) fn stop_reason(
    choice: &Value,
    stop_sequences: &[String],
) -> Option<(&'static str, Option<String>)> {
    let reason = match choice.get("finish_reason")?.as_str()? {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => {
            let matched = choice
                .get("stop_reason")
                .and_then(Value::as_str)
                .filter(|s| stop_sequences.iter().any(|q| q == s));
            if let Some(sequence) = matched {
                return Some(("stop_sequence", Some(sequence.to_string())));
            }
            "end_turn"
        }
    };
    Some((reason, None))
}

/// Anthropic's usage from OpenAI's: `input_tokens` excludes the tokens read from a cache.
pub(super) fn usage(usage: &Value) -> MessageUsage {
    let count = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    let prompt = count(usage.get("prompt_tokens"));
    let cached = count(usage.pointer("/prompt_tokens_details/cached_tokens")).min(prompt);
    MessageUsage {
        input_tokens: prompt.saturating_sub(cached),
        output_tokens: count(usage.get("completion_tokens")),
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: cached,
    }
}

/// The tool's input: its arguments as an object; arguments that are not one (a provider's
/// broken JSON) are kept whole rather than lost.
pub(super) fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(input @ Value::Object(_)) => input,
        _ => json!({ "arguments": arguments }),
    }
}

/// The message for a completion the gateway judged usable (JSON with `choices`).
pub(super) fn message(completion: &Value, context: &Context) -> Message {
    let choice = completion
        .get("choices")
        .and_then(|c| c.get(0))
        .unwrap_or(&Value::Null);
    let said = choice.get("message").unwrap_or(&Value::Null);
    let mut content = Vec::new();
    let text = match said.get("content") {
        Some(Value::String(text)) => text.clone(),
        // Content parts: their text, in order.
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    };
    if !text.is_empty() {
        content.push(ContentBlock::Text { text });
    }
    for call in said
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let function = call.get("function").unwrap_or(&Value::Null);
        let field = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).map(str::to_string);
        content.push(ContentBlock::ToolUse {
            id: field(call, "id").unwrap_or_else(tool_use_id),
            name: field(function, "name").unwrap_or_default(),
            input: tool_input(&field(function, "arguments").unwrap_or_default()),
        });
    }
    let (stop_reason, stop_sequence) = match stop_reason(choice, &context.stop_sequences) {
        Some((reason, sequence)) => (Some(reason.to_string()), sequence),
        None => (Some("end_turn".to_string()), None),
    };
    Message {
        id: message_id(),
        kind: "message".into(),
        role: "assistant".into(),
        model: context.model.clone(),
        content,
        stop_reason,
        stop_sequence,
        usage: completion.get("usage").map(usage).unwrap_or_default(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn context() -> Context {
        Context {
            model: "claude-x".into(),
            stop_sequences: vec!["END".into()],
        }
    }

    #[test]
    fn text_tool_calls_usage_and_stop_reasons() {
        let completion = json!({"id": "c1", "choices": [{"index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "broken", "arguments": "{oops"}}]}}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 10}}});
        let message = message(&completion, &context());
        assert_eq!(message.model, "claude-x");
        assert!(message.id.starts_with("msg_"));
        assert_eq!(message.stop_reason.as_deref(), Some("tool_use"));
        assert_eq!(
            message.content,
            vec![
                ContentBlock::Text {
                    text: "Checking.".into()
                },
                ContentBlock::ToolUse {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    input: json!({"city": "Paris"})
                },
                ContentBlock::ToolUse {
                    id: "call_2".into(),
                    name: "broken".into(),
                    input: json!({"arguments": "{oops"})
                },
            ]
        );
        assert_eq!(
            message.usage,
            MessageUsage {
                input_tokens: 20,
                output_tokens: 9,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 10
            }
        );
        let reason = |choice: Value| stop_reason(&choice, &context().stop_sequences);
        assert_eq!(
            reason(json!({"finish_reason": "length"})),
            Some(("max_tokens", None))
        );
        assert_eq!(
            reason(json!({"finish_reason": "stop"})),
            Some(("end_turn", None))
        );
        assert_eq!(
            reason(json!({"finish_reason": "stop", "stop_reason": "END"})),
            Some(("stop_sequence", Some("END".into())))
        );
        assert_eq!(
            reason(json!({"finish_reason": "content_filter"})),
            Some(("refusal", None))
        );
        assert_eq!(reason(json!({"finish_reason": null})), None);
    }
}
