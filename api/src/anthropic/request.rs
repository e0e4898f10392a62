//! A Messages request, checked and translated into the OpenAI chat request the pipeline
//! serves. Mistakes are answered with a 400 whose message starts with the field's path
//! (`messages.1.content.0.type: ...`), as Anthropic names fields.

use std::collections::HashSet;
use std::fmt::Display;

use serde_json::{Map, Value, json};

use crate::gateway::ApiError;

fn invalid(path: impl Display, message: impl Display) -> ApiError {
    ApiError::invalid("invalid_request", format!("{path}: {message}"))
}

fn missing(field: &'static str) -> ApiError {
    ApiError::invalid(
        "missing_required_parameter",
        format!("{field}: Field required"),
    )
    .with_param(field)
}

/// What the surface needs besides the provider's request.
pub(super) struct Translated {
    /// The OpenAI chat request.
    pub chat: Map<String, Value>,
    /// For `stop_reason: stop_sequence`.
    pub stop_sequences: Vec<String>,
}

/// Checks and translates a body. `counting` (`count_tokens`): `max_tokens` is not needed.
pub(super) fn translate(body: &[u8], counting: bool) -> Result<Translated, ApiError> {
    let value: Value = crate::gateway::body::parse_json(body)?;
    let Value::Object(request) = value else {
        return Err(invalid("body", "must be a JSON object"));
    };
    let mut chat = Map::new();
    match request.get("model") {
        Some(Value::String(model)) if !model.trim().is_empty() => {
            chat.insert("model".into(), Value::String(model.clone()));
        }
        Some(_) => return Err(invalid("model", "must be a non-empty string").with_param("model")),
        None => return Err(missing("model")),
    }
    if !counting {
        match request.get("max_tokens") {
            Some(n) if n.as_u64().is_some_and(|n| n >= 1) => {
                chat.insert("max_tokens".into(), n.clone());
            }
            Some(_) => {
                return Err(invalid("max_tokens", "must be an integer of at least 1")
                    .with_param("max_tokens"));
            }
            None => return Err(missing("max_tokens")),
        }
    }

    let mut messages = Vec::new();
    if let Some(system) = request.get("system") {
        let text = text_of(system, "system")?;
        if !text.is_empty() {
            messages.push(json!({"role": "system", "content": text}));
        }
    }
    let turns = match request.get("messages") {
        Some(Value::Array(turns)) if !turns.is_empty() => turns,
        Some(_) => {
            return Err(invalid("messages", "must be a non-empty list").with_param("messages"));
        }
        None => return Err(missing("messages")),
    };
    let mut tool_uses = HashSet::new();
    for (i, turn) in turns.iter().enumerate() {
        translate_turn(i, turn, &mut tool_uses, &mut messages)?;
    }
    chat.insert("messages".into(), Value::Array(messages));

    let tools = match request.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => tools
            .iter()
            .enumerate()
            .map(|(i, tool)| translate_tool(i, tool))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid("tools", "must be a list").with_param("tools")),
    };
    if !tools.is_empty() {
        chat.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = request.get("tool_choice").filter(|c| !c.is_null()) {
            let (choice, parallel) = translate_tool_choice(choice)?;
            chat.insert("tool_choice".into(), choice);
            if !parallel {
                chat.insert("parallel_tool_calls".into(), Value::Bool(false));
            }
        }
    }

    let stop_sequences = match request.get("stop_sequences") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid("stop_sequences", "must be a list of strings"))?,
        Some(_) => return Err(invalid("stop_sequences", "must be a list of strings")),
    };
    if !stop_sequences.is_empty() {
        chat.insert("stop".into(), json!(stop_sequences));
    }
    for field in ["temperature", "top_p"] {
        match request.get(field) {
            None | Some(Value::Null) => {}
            Some(n @ Value::Number(_)) => {
                chat.insert(field.into(), n.clone());
            }
            Some(_) => return Err(invalid(field, "must be a number")),
        }
    }
    if let Some(user) = request
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
    {
        chat.insert("user".into(), Value::String(user.into()));
    }
    let stream = match request.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => return Err(invalid("stream", "must be a boolean")),
    };
    if stream && !counting {
        chat.insert("stream".into(), Value::Bool(true));
    }
    Ok(Translated {
        chat,
        stop_sequences,
    })
}

/// A string, or `text` blocks joined by blank lines.
fn text_of(value: &Value, path: &str) -> Result<String, ApiError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Array(blocks) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for (j, block) in blocks.iter().enumerate() {
                match block_type(block, &format!("{path}.{j}"))? {
                    "text" => texts.push(block_text(block, &format!("{path}.{j}"))?),
                    other => {
                        return Err(invalid(
                            format!("{path}.{j}.type"),
                            format!("expected a `text` block, not `{other}`"),
                        ));
                    }
                }
            }
            Ok(texts.join("\n\n"))
        }
        _ => Err(invalid(path, "must be a string or a list of text blocks")),
    }
}

fn block_type<'b>(block: &'b Value, path: &str) -> Result<&'b str, ApiError> {
    block
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{path}.type"), "Field required"))
}

fn block_text(block: &Value, path: &str) -> Result<String, ApiError> {
    block
        .get("text")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| invalid(format!("{path}.text"), "must be a string"))
}

/// An `image` block as OpenAI's `image_url` part.
fn image_part(block: &Value, path: &str) -> Result<Value, ApiError> {
    let source = block
        .get("source")
        .ok_or_else(|| invalid(format!("{path}.source"), "Field required"))?;
    let field = |name: &str| source.get(name).and_then(Value::as_str);
    let url = match field("type") {
        Some("base64") => {
            let media = field("media_type")
                .ok_or_else(|| invalid(format!("{path}.source.media_type"), "Field required"))?;
            let data = field("data")
                .ok_or_else(|| invalid(format!("{path}.source.data"), "Field required"))?;
            format!("data:{media};base64,{data}")
        }
        Some("url") => field("url")
            .ok_or_else(|| invalid(format!("{path}.source.url"), "Field required"))?
            .to_string(),
        Some(other) => {
            return Err(invalid(
                format!("{path}.source.type"),
                format!("`{other}` is not supported; use `base64` or `url`"),
            ));
        }
        None => return Err(invalid(format!("{path}.source.type"), "Field required")),
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

fn unsupported_block(kind: &str, path: &str) -> ApiError {
    let why = match kind {
        "document" | "search_result" | "container_upload" => {
            format!("`{kind}` blocks are not supported by the pool's providers")
        }
        "server_tool_use"
        | "web_search_tool_result"
        | "web_fetch_tool_result"
        | "code_execution_tool_result"
        | "mcp_tool_use"
        | "mcp_tool_result" => {
            format!(
                "`{kind}` blocks come from tools that run on Anthropic's servers, which Freeway cannot run"
            )
        }
        other => format!("unknown content block type `{other}`"),
    };
    invalid(format!("{path}.type"), why)
}

fn translate_turn(
    i: usize,
    turn: &Value,
    tool_uses: &mut HashSet<String>,
    out: &mut Vec<Value>,
) -> Result<(), ApiError> {
    let path = format!("messages.{i}");
    let role = turn
        .get("role")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{path}.role"), "Field required"))?;
    let content = turn
        .get("content")
        .ok_or_else(|| invalid(format!("{path}.content"), "Field required"))?;
    let blocks = match content {
        Value::String(text) => {
            if !matches!(role, "user" | "assistant") {
                return Err(invalid(
                    format!("{path}.role"),
                    "must be `user` or `assistant`",
                ));
            }
            out.push(json!({"role": role, "content": text}));
            return Ok(());
        }
        Value::Array(blocks) => blocks,
        _ => {
            return Err(invalid(
                format!("{path}.content"),
                "must be a string or a list of blocks",
            ));
        }
    };
    match role {
        "user" => user_turn(&path, blocks, tool_uses, out),
        "assistant" => assistant_turn(&path, blocks, tool_uses, out),
        _ => Err(invalid(
            format!("{path}.role"),
            "must be `user` or `assistant`",
        )),
    }
}

/// A user turn: its `tool_result` blocks become `tool` messages (OpenAI wants them right
/// after the assistant's calls), the rest one user message.
fn user_turn(
    path: &str,
    blocks: &[Value],
    tool_uses: &HashSet<String>,
    out: &mut Vec<Value>,
) -> Result<(), ApiError> {
    let mut parts = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let path = format!("{path}.content.{j}");
        match block_type(block, &path)? {
            "text" => parts.push(json!({"type": "text", "text": block_text(block, &path)?})),
            "image" => parts.push(image_part(block, &path)?),
            "tool_result" => {
                let id = block
                    .get("tool_use_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("{path}.tool_use_id"), "Field required"))?;
                if !tool_uses.contains(id) {
                    return Err(invalid(
                        format!("{path}.tool_use_id"),
                        format!("no earlier `tool_use` block has the id `{id}`"),
                    ));
                }
                let mut text = String::new();
                match block.get("content") {
                    None | Some(Value::Null) => {}
                    Some(Value::String(s)) => text.push_str(s),
                    Some(Value::Array(inner)) => {
                        for (k, item) in inner.iter().enumerate() {
                            let path = format!("{path}.content.{k}");
                            match block_type(item, &path)? {
                                "text" => {
                                    if !text.is_empty() {
                                        text.push_str("\n\n");
                                    }
                                    text.push_str(&block_text(item, &path)?);
                                }
                                // OpenAI's tool messages hold text: the image follows in the
                                // user message.
                                "image" => parts.push(image_part(item, &path)?),
                                other => return Err(unsupported_block(other, &path)),
                            }
                        }
                    }
                    Some(_) => {
                        return Err(invalid(
                            format!("{path}.content"),
                            "must be a string or a list of blocks",
                        ));
                    }
                }
                if block.get("is_error").and_then(Value::as_bool) == Some(true) {
                    text.insert_str(0, "Error: ");
                }
                out.push(json!({"role": "tool", "tool_call_id": id, "content": text}));
            }
            // Thinking is the model's own; it is not sent back to another.
            "thinking" | "redacted_thinking" => {}
            other => return Err(unsupported_block(other, &path)),
        }
    }
    if parts.is_empty() {
        return Ok(());
    }
    // Text alone goes as one string, which every provider takes.
    let content = if parts.iter().all(|p| p["type"] == "text") {
        let texts: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
        Value::String(texts.join("\n\n"))
    } else {
        Value::Array(parts)
    };
    out.push(json!({"role": "user", "content": content}));
    Ok(())
}

fn assistant_turn(
    path: &str,
    blocks: &[Value],
    tool_uses: &mut HashSet<String>,
    out: &mut Vec<Value>,
) -> Result<(), ApiError> {
    let mut texts = Vec::new();
    let mut calls = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let path = format!("{path}.content.{j}");
        match block_type(block, &path)? {
            "text" => texts.push(block_text(block, &path)?),
            "tool_use" => {
                let field = |name: &str| {
                    block
                        .get(name)
                        .and_then(Value::as_str)
                        .ok_or_else(|| invalid(format!("{path}.{name}"), "Field required"))
                };
                let (id, name) = (field("id")?, field("name")?);
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                tool_uses.insert(id.to_string());
                calls.push(json!({"id": id, "type": "function",
                    "function": {"name": name, "arguments": input.to_string()}}));
            }
            "thinking" | "redacted_thinking" => {}
            other => return Err(unsupported_block(other, &path)),
        }
    }
    let mut message = json!({"role": "assistant", "content": if texts.is_empty() && !calls.is_empty() {
        Value::Null
    } else {
        Value::String(texts.join("\n\n"))
    }});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    out.push(message);
    Ok(())
}

fn translate_tool(i: usize, tool: &Value) -> Result<Value, ApiError> {
    let path = format!("tools.{i}");
    let name = tool
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{path}.name"), "Field required"))?;
    match tool.get("type").and_then(Value::as_str) {
        None | Some("custom") => {}
        Some(kind) => {
            return Err(invalid(
                format!("{path}.type"),
                format!(
                    "the tool `{name}` (`{kind}`) runs on Anthropic's servers, which Freeway cannot run; define it as a client tool with an `input_schema`"
                ),
            ));
        }
    }
    let schema = tool
        .get("input_schema")
        .filter(|s| s.is_object())
        .ok_or_else(|| invalid(format!("{path}.input_schema"), "Field required"))?;
    let mut function = json!({"name": name, "parameters": schema});
    if let Some(description) = tool.get("description").and_then(Value::as_str) {
        function["description"] = Value::String(description.into());
    }
    Ok(json!({"type": "function", "function": function}))
}

/// OpenAI's `tool_choice`, and whether parallel calls stay allowed.
fn translate_tool_choice(choice: &Value) -> Result<(Value, bool), ApiError> {
    let parallel = choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        != Some(true);
    let choice = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => {
            let name = choice
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("tool_choice.name", "Field required"))?;
            json!({"type": "function", "function": {"name": name}})
        }
        Some(other) => {
            return Err(invalid(
                "tool_choice.type",
                format!("must be `auto`, `any`, `tool` or `none`, not `{other}`"),
            ));
        }
        None => return Err(invalid("tool_choice.type", "Field required")),
    };
    Ok((choice, parallel))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn chat(body: Value) -> Value {
        Value::Object(translate(body.to_string().as_bytes(), false).unwrap().chat)
    }

    fn error(body: Value) -> String {
        translate(body.to_string().as_bytes(), false)
            .err()
            .unwrap()
            .message()
    }

    #[test]
    fn a_claude_code_style_request_becomes_an_openai_chat_request() {
        let body = json!({
            "model": "claude-sonnet-4-5", "max_tokens": 512, "stream": true,
            "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
                       {"type": "text", "text": "Be brief."}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"},
                                              {"type": "text", "text": "list files"}]},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"},
                                                   {"type": "text", "text": "Listing."},
                                                   {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "a.txt"}]},
                                              {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}
            ],
            "tools": [{"name": "Bash", "description": "Run a command", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "stop_sequences": ["END"], "temperature": 0.2, "top_k": 5, "thinking": {"type": "enabled", "budget_tokens": 1024},
            "metadata": {"user_id": "u1"}
        });
        let chat = chat(body);
        assert_eq!(chat["model"], "claude-sonnet-4-5");
        assert_eq!(chat["max_tokens"], 512);
        assert_eq!(chat["stream"], true);
        assert_eq!(chat["stop"], json!(["END"]));
        assert_eq!(chat["temperature"], 0.2);
        assert_eq!(chat["user"], "u1");
        assert_eq!(chat["tool_choice"], "required");
        assert_eq!(chat["parallel_tool_calls"], false);
        assert!(chat.get("top_k").is_none() && chat.get("thinking").is_none());
        assert_eq!(
            chat["tools"],
            json!([{"type": "function", "function": {"name": "Bash", "description": "Run a command", "parameters": {"type": "object"}}}])
        );
        let messages = chat["messages"].as_array().unwrap();
        assert_eq!(
            messages[0],
            json!({"role": "system", "content": "You are Claude Code.\n\nBe brief."})
        );
        assert_eq!(
            messages[1],
            json!({"role": "user", "content": "<system-reminder>x</system-reminder>\n\nlist files"})
        );
        assert_eq!(
            messages[2],
            json!({"role": "assistant", "content": "Listing.", "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}}]})
        );
        assert_eq!(
            messages[3],
            json!({"role": "tool", "tool_call_id": "toolu_1", "content": "a.txt"})
        );
        assert_eq!(
            messages[4],
            json!({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]})
        );
        assert_eq!(messages.len(), 5);
    }

    #[test]
    fn bad_input_is_refused_naming_the_field() {
        let base = || json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
        let without = |field: &str| {
            let mut body = base();
            body.as_object_mut().unwrap().remove(field);
            error(body)
        };
        assert_eq!(without("max_tokens"), "max_tokens: Field required");
        assert_eq!(without("model"), "model: Field required");
        assert!(without("messages").starts_with("messages:"));
        let mut body = base();
        body["messages"][0]["content"] = json!([{"type": "video", "url": "x"}]);
        assert_eq!(
            error(body),
            "messages.0.content.0.type: unknown content block type `video`"
        );
        let mut body = base();
        body["messages"][0]["content"] =
            json!([{"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}]);
        assert_eq!(
            error(body),
            "messages.0.content.0.tool_use_id: no earlier `tool_use` block has the id `toolu_9`"
        );
        let mut body = base();
        body["tools"] = json!([{"type": "web_search_20250305", "name": "web_search"}]);
        assert!(error(body).starts_with("tools.0.type: the tool `web_search`"));
        let mut body = base();
        body["max_tokens"] = json!(0);
        assert!(error(body).starts_with("max_tokens:"));
        let mut body = base();
        body["messages"][0]["role"] = json!("system");
        assert!(error(body).starts_with("messages.0.role:"));
        // count_tokens needs no max_tokens.
        let mut body = base();
        body.as_object_mut().unwrap().remove("max_tokens");
        assert!(translate(body.to_string().as_bytes(), true).is_ok());
    }

    #[test]
    fn tool_choices_and_errors_in_tool_results() {
        let body = |choice: Value| {
            json!({"model": "m", "max_tokens": 8, "tool_choice": choice,
                "tools": [{"name": "t", "input_schema": {"type": "object"}}],
                "messages": [{"role": "user", "content": "hi"}]})
        };
        assert_eq!(chat(body(json!({"type": "auto"})))["tool_choice"], "auto");
        assert_eq!(chat(body(json!({"type": "none"})))["tool_choice"], "none");
        assert_eq!(
            chat(body(json!({"type": "tool", "name": "t"})))["tool_choice"],
            json!({"type": "function", "function": {"name": "t"}})
        );
        assert!(
            chat(body(json!({"type": "auto"})))
                .get("parallel_tool_calls")
                .is_none()
        );
        let failed = chat(json!({"model": "m", "max_tokens": 8, "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "t", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "is_error": true, "content": "boom"}]}
        ]}));
        assert_eq!(failed["messages"][1]["content"], Value::Null);
        assert_eq!(failed["messages"][2]["content"], "Error: boom");
    }
}
