//! The Response object: built from a chat completion, or item by item from a stream.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::request::Echo;

pub(super) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::now_v7().simple())
}

/// The Response object without output and usage, in the given status.
pub(super) fn skeleton(id: &str, created_at: i64, echo: &Echo, status: &str) -> Map<String, Value> {
    let object = json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": null,
        "incomplete_details": null,
        "instructions": echo.instructions,
        "max_output_tokens": echo.max_output_tokens,
        "model": echo.model,
        "output": [],
        "parallel_tool_calls": echo.parallel_tool_calls,
        "previous_response_id": echo.previous_response_id,
        "reasoning": {"effort": null, "summary": null},
        "store": echo.store,
        "temperature": echo.temperature,
        "text": echo.text,
        "tool_choice": echo.tool_choice,
        "tools": echo.tools,
        "top_p": echo.top_p,
        "truncation": "disabled",
        "usage": null,
        "metadata": echo.metadata,
    });
    match object {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The Responses API's usage, from a chat usage object.
pub(super) fn usage(usage: &Value) -> Value {
    let count = |pointer: &str| usage.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    let (input, output) = (count("/prompt_tokens"), count("/completion_tokens"));
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": count("/prompt_tokens_details/cached_tokens")},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": count("/completion_tokens_details/reasoning_tokens")},
        "total_tokens": input + output,
    })
}

pub(super) fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant",
        "content": if status == "in_progress" { json!([]) } else { json!([output_text(text)]) }})
}

pub(super) fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": []})
}

pub(super) fn call_item(
    id: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
    status: &str,
) -> Value {
    json!({"type": "function_call", "id": id, "call_id": call_id, "name": name,
        "arguments": arguments, "status": status})
}

/// The output items as the chat message a later turn sends back.
pub(super) fn assistant_message(output: &[Value]) -> Value {
    let text: String = output
        .iter()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().into_iter().flatten())
        .filter_map(|p| p["text"].as_str())
        .collect();
    let calls: Vec<Value> = output
        .iter()
        .filter(|i| i["type"] == "function_call")
        .map(|i| {
            json!({"id": i["call_id"], "type": "function",
                "function": {"name": i["name"], "arguments": i["arguments"]}})
        })
        .collect();
    let mut message = json!({"role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::String(text) }});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    message
}

/// Completes `response` with its output and usage: `completed`, or `incomplete` when the
/// provider stopped at the token limit.
pub(super) fn finish(
    response: &mut Map<String, Value>,
    output: Vec<Value>,
    usage_of: Option<&Value>,
    length: bool,
) {
    if length {
        response.insert("status".into(), json!("incomplete"));
        response.insert(
            "incomplete_details".into(),
            json!({"reason": "max_output_tokens"}),
        );
    } else {
        response.insert("status".into(), json!("completed"));
    }
    response.insert("output".into(), Value::Array(output));
    response.insert("usage".into(), usage_of.map_or(Value::Null, usage));
}

/// The output items of a chat completion, and whether it stopped for length.
pub(super) fn items_of(completion: &Value) -> (Vec<Value>, bool) {
    let choice = completion.pointer("/choices/0").unwrap_or(&Value::Null);
    let message = choice.get("message").unwrap_or(&Value::Null);
    let mut output = Vec::new();
    let text = match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    };
    if !text.is_empty() {
        output.push(message_item(&new_id("msg"), &text, "completed"));
    }
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let str_of = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let call_id = call
            .get("id")
            .map(str_of)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| new_id("call"));
        output.push(call_item(
            &new_id("fc"),
            &call_id,
            &str_of(&call["function"]["name"]),
            &str_of(&call["function"]["arguments"]),
            "completed",
        ));
    }
    (
        output,
        choice.get("finish_reason").and_then(Value::as_str) == Some("length"),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_completion_with_text_and_a_call_becomes_two_items_and_back() {
        let completion = json!({"choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant",
            "content": "Looking.", "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "shell", "arguments": "{\"cmd\":\"ls\"}"}}]}}]});
        let (items, length) = items_of(&completion);
        assert!(!length);
        assert_eq!(items[0]["type"], "message");
        assert_eq!(items[0]["content"][0], output_text("Looking."));
        assert_eq!(items[1]["type"], "function_call");
        assert_eq!(items[1]["call_id"], "call_1");
        assert!(items[1]["id"].as_str().unwrap().starts_with("fc_"));
        assert_eq!(
            assistant_message(&items),
            json!({"role": "assistant", "content": "Looking.", "tool_calls": [{"id": "call_1",
                "type": "function", "function": {"name": "shell", "arguments": "{\"cmd\":\"ls\"}"}}]})
        );
        assert_eq!(
            usage(&json!({"prompt_tokens": 10, "completion_tokens": 7})),
            json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 7,
                "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 17})
        );
        let (_, length) = items_of(
            &json!({"choices": [{"finish_reason": "length", "message": {"content": "x"}}]}),
        );
        assert!(length);
    }
}
