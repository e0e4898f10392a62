//! A Responses request, checked and translated into the chat request the pipeline serves.
//! Mistakes are a 400 in OpenAI's shape whose `param` names the field (`input[2].type`).

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use crate::gateway::ApiError;

fn invalid(param: impl Into<String>, message: impl Into<String>) -> ApiError {
    ApiError::invalid("invalid_value", message).with_param(param.into())
}

/// Tools that run on OpenAI's servers, which Freeway cannot run.
const BUILT_IN_TOOLS: &[&str] = &[
    "web_search",
    "web_search_preview",
    "web_search_preview_2025_03_11",
    "web_search_2025_08_26",
    "file_search",
    "computer_use_preview",
    "computer_use",
    "code_interpreter",
    "image_generation",
    "mcp",
    "local_shell",
    "shell",
    "apply_patch",
];

/// What the Response object repeats of the request.
#[derive(Debug, Clone)]
pub(super) struct Echo {
    pub model: String,
    pub instructions: Option<String>,
    pub previous_response_id: Option<String>,
    pub tools: Value,
    pub tool_choice: Value,
    pub parallel_tool_calls: bool,
    pub temperature: Value,
    pub top_p: Value,
    pub max_output_tokens: Value,
    pub store: bool,
    pub metadata: Value,
    pub text: Value,
}

pub(super) struct Parsed {
    pub echo: Echo,
    /// The chat request without its messages.
    pub chat: Map<String, Value>,
    /// The input as chat messages (without the instructions).
    pub input: Vec<Value>,
    /// Call ids of `function_call_output` items whose call is not in this input: the
    /// previous response must have made them.
    pub answers_earlier_calls: Vec<String>,
}

pub(super) fn parse(body: &[u8]) -> Result<Parsed, ApiError> {
    let value: Value = crate::gateway::body::parse_json(body)?;
    let Value::Object(request) = value else {
        return Err(invalid("body", "The request body must be a JSON object."));
    };
    let model = match request.get("model") {
        Some(Value::String(model)) if !model.trim().is_empty() => model.clone(),
        Some(_) => return Err(invalid("model", "`model` must be a non-empty string.")),
        None => {
            return Err(ApiError::invalid(
                "missing_required_parameter",
                "Missing required parameter: 'model'.",
            )
            .with_param("model"));
        }
    };
    let string = |name: &str| -> Result<Option<String>, ApiError> {
        match request.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(name, format!("`{name}` must be a string."))),
        }
    };
    let instructions = string("instructions")?;
    let previous_response_id = string("previous_response_id")?;
    let flag = |name: &str, default: bool| -> Result<bool, ApiError> {
        match request.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(invalid(name, format!("`{name}` must be a boolean."))),
        }
    };
    let stream = flag("stream", false)?;
    let store = flag("store", true)?;
    let parallel_tool_calls = flag("parallel_tool_calls", true)?;

    let mut chat = Map::new();
    chat.insert("model".into(), Value::String(model.clone()));
    let max_output_tokens = request
        .get("max_output_tokens")
        .cloned()
        .unwrap_or(Value::Null);
    match &max_output_tokens {
        Value::Null => {}
        n if n.as_u64().is_some_and(|n| n >= 1) => {
            chat.insert("max_tokens".into(), n.clone());
        }
        _ => {
            return Err(invalid(
                "max_output_tokens",
                "`max_output_tokens` must be an integer of at least 1.",
            ));
        }
    }
    for name in ["temperature", "top_p"] {
        match request.get(name) {
            None | Some(Value::Null) => {}
            Some(n @ Value::Number(_)) => {
                chat.insert(name.into(), n.clone());
            }
            Some(_) => return Err(invalid(name, format!("`{name}` must be a number."))),
        }
    }
    if let Some(user) = string("user")? {
        chat.insert("user".into(), Value::String(user));
    }
    if stream {
        chat.insert("stream".into(), Value::Bool(true));
    }

    let tools = match request.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => tools.clone(),
        Some(_) => return Err(invalid("tools", "`tools` must be a list.")),
    };
    let functions = tools
        .iter()
        .enumerate()
        .map(|(i, tool)| function_tool(i, tool))
        .collect::<Result<Vec<_>, _>>()?;
    let tool_choice = request.get("tool_choice").cloned().unwrap_or(json!("auto"));
    if !functions.is_empty() {
        chat.insert("tools".into(), Value::Array(functions));
        chat.insert("tool_choice".into(), chat_tool_choice(&tool_choice)?);
        if !parallel_tool_calls {
            chat.insert("parallel_tool_calls".into(), Value::Bool(false));
        }
    }
    let text = request
        .get("text")
        .cloned()
        .unwrap_or_else(|| json!({"format": {"type": "text"}}));
    if let Some(format) = response_format(&text)? {
        chat.insert("response_format".into(), format);
    }

    let (input, answers_earlier_calls) = match request.get("input") {
        Some(Value::String(text)) => (vec![json!({"role": "user", "content": text})], Vec::new()),
        Some(Value::Array(items)) => input_items(items)?,
        Some(_) => {
            return Err(invalid(
                "input",
                "`input` must be a string or a list of items.",
            ));
        }
        None => {
            return Err(ApiError::invalid(
                "missing_required_parameter",
                "Missing required parameter: 'input'.",
            )
            .with_param("input"));
        }
    };
    Ok(Parsed {
        echo: Echo {
            model,
            instructions,
            previous_response_id,
            tools: Value::Array(tools),
            tool_choice,
            parallel_tool_calls,
            temperature: request.get("temperature").cloned().unwrap_or(Value::Null),
            top_p: request.get("top_p").cloned().unwrap_or(Value::Null),
            max_output_tokens,
            store,
            metadata: request
                .get("metadata")
                .cloned()
                .unwrap_or_else(|| json!({})),
            text,
        },
        chat,
        input,
        answers_earlier_calls,
    })
}

fn function_tool(i: usize, tool: &Value) -> Result<Value, ApiError> {
    let kind = tool.get("type").and_then(Value::as_str).unwrap_or("");
    if BUILT_IN_TOOLS.contains(&kind) {
        return Err(ApiError::invalid(
            "unsupported_tool",
            format!("The tool `{kind}` runs on OpenAI's servers, which Freeway cannot run; define a function tool instead."),
        )
        .with_param(format!("tools[{i}].type")));
    }
    if kind != "function" {
        return Err(invalid(
            format!("tools[{i}].type"),
            format!("Invalid value: '{kind}'. Supported values are: 'function'."),
        ));
    }
    let name = tool.get("name").and_then(Value::as_str).ok_or_else(|| {
        invalid(
            format!("tools[{i}].name"),
            "Missing required parameter: 'name'.",
        )
    })?;
    let mut function = json!({
        "name": name,
        "parameters": tool.get("parameters").filter(|p| p.is_object()).cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
    });
    for field in ["description", "strict"] {
        if let Some(value) = tool.get(field).filter(|v| !v.is_null()) {
            function[field] = value.clone();
        }
    }
    Ok(json!({"type": "function", "function": function}))
}

fn chat_tool_choice(choice: &Value) -> Result<Value, ApiError> {
    match choice {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => {
            Ok(choice.clone())
        }
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            let name = o.get("name").and_then(Value::as_str).ok_or_else(|| {
                invalid(
                    "tool_choice.name",
                    "Missing required parameter: 'tool_choice.name'.",
                )
            })?;
            Ok(json!({"type": "function", "function": {"name": name}}))
        }
        _ => Err(invalid(
            "tool_choice",
            "`tool_choice` must be 'auto', 'none', 'required' or a function.",
        )),
    }
}

/// `text.format` as chat's `response_format`; `None` for plain text.
fn response_format(text: &Value) -> Result<Option<Value>, ApiError> {
    let Some(format) = text.get("format").filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let mut schema = json!({
                "name": format.get("name").cloned().unwrap_or(json!("response")),
                "schema": format.get("schema").cloned().unwrap_or(json!({})),
            });
            if let Some(strict) = format.get("strict").filter(|s| !s.is_null()) {
                schema["strict"] = strict.clone();
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        _ => Err(invalid(
            "text.format.type",
            "`text.format.type` must be 'text', 'json_object' or 'json_schema'.",
        )),
    }
}

/// The text of content parts (`input_text`, `output_text`, `refusal`) and, for user turns,
/// images as chat's `image_url` parts.
fn content_parts(path: &str, parts: &[Value]) -> Result<Vec<Value>, ApiError> {
    parts
        .iter()
        .enumerate()
        .map(|(j, part)| {
            let path = format!("{path}[{j}]");
            let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
            let text = |field: &str| {
                part.get(field)
                    .and_then(Value::as_str)
                    .map(|t| json!({"type": "text", "text": t}))
                    .ok_or_else(|| invalid(format!("{path}.{field}"), format!("Missing required parameter: '{field}'.")))
            };
            match kind {
                "input_text" | "output_text" | "text" => text("text"),
                "refusal" => text("refusal"),
                "input_image" => match part.get("image_url").and_then(Value::as_str) {
                    Some(url) => Ok(json!({"type": "image_url", "image_url": {"url": url}})),
                    None => Err(invalid(
                        format!("{path}.image_url"),
                        "Images must come as `image_url` (a URL or a data URL); file ids are not supported.",
                    )),
                },
                "input_file" | "input_audio" => Err(invalid(
                    format!("{path}.type"),
                    format!("`{kind}` parts are not supported by the pool's providers."),
                )),
                other => Err(invalid(format!("{path}.type"), format!("Invalid value: '{other}'."))),
            }
        })
        .collect()
}

/// Chat content: one string when it is all text (every provider takes that), else parts.
fn chat_content(parts: Vec<Value>) -> Value {
    if parts.iter().all(|p| p["type"] == "text") {
        let texts: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
        Value::String(texts.concat())
    } else {
        Value::Array(parts)
    }
}

/// The input items as chat messages, and the call ids answered here but called earlier.
fn input_items(items: &[Value]) -> Result<(Vec<Value>, Vec<String>), ApiError> {
    let mut messages: Vec<Value> = Vec::with_capacity(items.len());
    let mut calls = HashSet::new();
    let mut earlier = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("input[{i}]");
        let field = |name: &str| {
            item.get(name).and_then(Value::as_str).ok_or_else(|| {
                invalid(
                    format!("{path}.{name}"),
                    format!("Missing required parameter: '{path}.{name}'."),
                )
            })
        };
        let kind = item.get("type").and_then(Value::as_str);
        match kind {
            None | Some("message") => {
                let role = match field("role")? {
                    "developer" | "system" => "system",
                    role @ ("user" | "assistant") => role,
                    other => {
                        return Err(invalid(
                            format!("{path}.role"),
                            format!(
                                "Invalid value: '{other}'. Supported values are: 'user', 'assistant', 'system' and 'developer'."
                            ),
                        ));
                    }
                };
                let content = match item.get("content") {
                    Some(Value::String(text)) => Value::String(text.clone()),
                    Some(Value::Array(parts)) => {
                        chat_content(content_parts(&format!("{path}.content"), parts)?)
                    }
                    _ => {
                        return Err(invalid(
                            format!("{path}.content"),
                            "`content` must be a string or a list of parts.",
                        ));
                    }
                };
                messages.push(json!({"role": role, "content": content}));
            }
            Some("function_call") => {
                let (call_id, name) = (field("call_id")?, field("name")?);
                let arguments = item
                    .get("arguments")
                    .and_then(Value::as_str)
                    .unwrap_or("{}");
                calls.insert(call_id.to_string());
                let call = json!({"id": call_id, "type": "function",
                    "function": {"name": name, "arguments": arguments}});
                // Calls of one turn go on one assistant message, as chat wants them.
                match messages.last_mut() {
                    Some(last)
                        if last["role"] == "assistant" && last.get("tool_calls").is_some() =>
                    {
                        if let Some(list) = last["tool_calls"].as_array_mut() {
                            list.push(call);
                        }
                    }
                    Some(last) if last["role"] == "assistant" => {
                        last["tool_calls"] = json!([call]);
                    }
                    _ => messages
                        .push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
            }
            Some("function_call_output") => {
                let call_id = field("call_id")?;
                let output = match item.get("output") {
                    Some(Value::String(text)) => text.clone(),
                    Some(Value::Array(parts)) => {
                        let parts = content_parts(&format!("{path}.output"), parts)?;
                        parts.iter().filter_map(|p| p["text"].as_str()).collect()
                    }
                    _ => {
                        return Err(invalid(
                            format!("{path}.output"),
                            "Missing required parameter: 'output'.",
                        ));
                    }
                };
                if !calls.contains(call_id) {
                    earlier.push(call_id.to_string());
                }
                messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": output}));
            }
            // The model's own reasoning is not sent back to another.
            Some("reasoning") => {}
            Some(other) => {
                return Err(invalid(
                    format!("{path}.type"),
                    format!(
                        "Invalid value: '{other}'. Supported values are: 'message', 'function_call', 'function_call_output' and 'reasoning'."
                    ),
                ));
            }
        }
    }
    Ok((messages, earlier))
}

/// Whether the chat messages of a stored conversation made a tool call of this id.
pub(super) fn calls(context: &Value, call_id: &str) -> bool {
    context.as_array().into_iter().flatten().any(|m| {
        m.get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| c.get("id").and_then(Value::as_str) == Some(call_id))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse_json(body: Value) -> Result<Parsed, ApiError> {
        parse(body.to_string().as_bytes())
    }

    #[test]
    fn a_codex_style_request_becomes_a_chat_request() {
        let parsed = parse_json(json!({
            "model": "gpt-5-codex", "instructions": "You are Codex.", "stream": true, "store": false,
            "max_output_tokens": 256, "parallel_tool_calls": false,
            "tools": [{"type": "function", "name": "shell", "description": "Run", "parameters": {"type": "object"}, "strict": false}],
            "tool_choice": "auto", "reasoning": {"effort": "medium"}, "include": ["reasoning.encrypted_content"],
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "<env/>"}]},
                {"role": "user", "content": [{"type": "input_text", "text": "ls"}, {"type": "input_image", "image_url": "data:image/png;base64,AA"}]},
                {"type": "reasoning", "summary": []},
                {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{\"cmd\":\"ls\"}"},
                {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
                {"type": "function_call_output", "call_id": "c0", "output": "old"}
            ]
        }))
        .unwrap();
        assert!(parsed.chat["stream"] == true && !parsed.echo.store);
        assert_eq!(parsed.chat["max_tokens"], 256);
        assert_eq!(parsed.chat["parallel_tool_calls"], false);
        assert_eq!(
            parsed.chat["tools"],
            json!([{"type": "function", "function": {"name": "shell", "description": "Run", "parameters": {"type": "object"}, "strict": false}}])
        );
        assert_eq!(
            parsed.input,
            vec![
                json!({"role": "system", "content": "<env/>"}),
                json!({"role": "user", "content": [{"type": "text", "text": "ls"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}),
                json!({"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "shell", "arguments": "{\"cmd\":\"ls\"}"}}]}),
                json!({"role": "tool", "tool_call_id": "c1", "content": "a.txt"}),
                json!({"role": "tool", "tool_call_id": "c0", "content": "old"}),
            ]
        );
        assert_eq!(parsed.answers_earlier_calls, ["c0"]);
        assert_eq!(parsed.echo.instructions.as_deref(), Some("You are Codex."));
    }

    #[test]
    fn bad_input_names_the_field() {
        let param = |body: Value| parse_json(body).err().unwrap().param().map(str::to_string);
        assert_eq!(param(json!({"input": "hi"})).as_deref(), Some("model"));
        assert_eq!(
            param(json!({"model": "m", "input": [{"type": "telepathy"}]})).as_deref(),
            Some("input[0].type")
        );
        let builtin =
            parse_json(json!({"model": "m", "input": "hi", "tools": [{"type": "web_search"}]}))
                .err()
                .unwrap();
        assert_eq!(builtin.code(), "unsupported_tool");
        assert_eq!(builtin.param(), Some("tools[0].type"));
        assert!(builtin.message().contains("`web_search`"));
        assert_eq!(
            param(json!({"model": "m", "input": "hi", "max_output_tokens": 0})).as_deref(),
            Some("max_output_tokens")
        );
        assert_eq!(
            param(json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]})).as_deref(),
            Some("input[0].content[0].type")
        );
        let schema = parse_json(json!({"model": "m", "input": "hi",
            "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}, "strict": true}}}))
        .unwrap();
        assert_eq!(
            schema.chat["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}, "strict": true}})
        );
    }
}
