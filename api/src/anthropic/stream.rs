//! A provider's chat completion chunks as Anthropic's stream: `message_start`, `ping`, then
//! per block `content_block_start`, its `content_block_delta`s (`text_delta`,
//! `input_json_delta`) and `content_block_stop`, and at the end `message_delta` (stop
//! reason and usage) and `message_stop`. A stream that breaks after the commit point ends
//! with an `error` event, never with `message_stop`.

use std::fmt::Write as _;

use bytes::Bytes;
use serde_json::{Value, json};

use super::answer::{Context, message_id, stop_reason, tool_use_id, usage};
use crate::gateway::relay::{Transcode, first_choice};

/// The block being streamed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Open {
    Text,
    /// A tool call: the provider's index for it, and its id when it sent one.
    Tool {
        index: u64,
        id: Option<String>,
    },
}

pub(super) struct MessageStream {
    context: Context,
    id: String,
    /// The prompt's estimate, for `message_start` (the real count comes at the end).
    estimated_input: u64,
    started: bool,
    /// Blocks started so far; the open one is the last.
    blocks: usize,
    open: Option<Open>,
    stop: Option<(&'static str, Option<String>)>,
    usage: Option<Value>,
}

impl MessageStream {
    pub(super) fn new(context: Context, estimated_input: u64) -> Self {
        MessageStream {
            context,
            id: message_id(),
            estimated_input,
            started: false,
            blocks: 0,
            open: None,
            stop: None,
            usage: None,
        }
    }

    fn start(&mut self, out: &mut String) {
        if self.started {
            return;
        }
        self.started = true;
        event(
            out,
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": self.id, "type": "message", "role": "assistant", "content": [],
                "model": self.context.model, "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": self.estimated_input, "output_tokens": 0}}}),
        );
        event(out, "ping", &json!({"type": "ping"}));
    }

    fn close(&mut self, out: &mut String) {
        if self.open.take().is_some() {
            let index = self.blocks.saturating_sub(1);
            event(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            );
        }
    }

    fn open(&mut self, out: &mut String, open: Open, block: Value) {
        self.close(out);
        event(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": self.blocks, "content_block": block}),
        );
        self.blocks += 1;
        self.open = Some(open);
    }

    fn delta(&self, out: &mut String, delta: Value) {
        let index = self.blocks.saturating_sub(1);
        event(
            out,
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        );
    }

    fn text(&mut self, out: &mut String, text: &str) {
        if self.open != Some(Open::Text) {
            self.open(out, Open::Text, json!({"type": "text", "text": ""}));
        }
        self.delta(out, json!({"type": "text_delta", "text": text}));
    }

    fn tool_call(&mut self, out: &mut String, call: &Value) {
        let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let function = call.get("function").unwrap_or(&Value::Null);
        let same = match &self.open {
            // A new id under the same index is a new call (some providers number every
            // call 0).
            Some(Open::Tool {
                index: open,
                id: open_id,
            }) => *open == index && (id.is_none() || open_id.as_deref() == id),
            _ => false,
        };
        if !same {
            let name = function.get("name").and_then(Value::as_str).unwrap_or("");
            let id = id.map(str::to_string);
            let block = json!({"type": "tool_use", "id": id.clone().unwrap_or_else(tool_use_id),
                "name": name, "input": {}});
            self.open(out, Open::Tool { index, id }, block);
        }
        if let Some(arguments) = function
            .get("arguments")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        {
            self.delta(
                out,
                json!({"type": "input_json_delta", "partial_json": arguments}),
            );
        }
    }

    fn error_event(&mut self, kind: &str, message: &str) -> Bytes {
        let mut out = String::new();
        event(
            &mut out,
            "error",
            &json!({"type": "error", "error": {"type": kind, "message": message}}),
        );
        Bytes::from(out)
    }
}

fn event(out: &mut String, name: &str, data: &Value) {
    let _ = write!(out, "event: {name}\ndata: {data}\n\n");
}

impl Transcode for MessageStream {
    fn chunk(&mut self, _: &str, chunk: &Value) -> Option<Bytes> {
        let mut out = String::new();
        self.start(&mut out);
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        if let Some((text, calls, choice)) = first_choice(chunk) {
            if let Some(text) = text {
                self.text(&mut out, text);
            }
            for call in calls {
                self.tool_call(&mut out, call);
            }
            if let Some(stop) = stop_reason(choice, &self.context.stop_sequences) {
                self.stop = Some(stop);
                self.close(&mut out);
            }
        }
        (!out.is_empty()).then(|| Bytes::from(out))
    }

    fn finish(&mut self) -> Bytes {
        let mut out = String::new();
        self.start(&mut out);
        self.close(&mut out);
        let (reason, sequence) = self.stop.take().unwrap_or(("end_turn", None));
        let usage = self.usage.as_ref().map(usage).unwrap_or_default();
        event(
            &mut out,
            "message_delta",
            &json!({"type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": sequence},
                "usage": usage}),
        );
        event(&mut out, "message_stop", &json!({"type": "message_stop"}));
        Bytes::from(out)
    }

    fn error(&mut self, code: &str, message: &str) -> Bytes {
        let kind = if code == "stream_stalled" {
            "overloaded_error"
        } else {
            "api_error"
        };
        self.error_event(kind, message)
    }

    fn upstream_error(&mut self, _: &str, event: &Value) -> Bytes {
        let message = event
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("The provider sent an error.");
        self.error_event("api_error", message)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The events a client reads, as (name, data).
    fn events(bytes: &[Bytes]) -> Vec<(String, Value)> {
        let text: String = bytes
            .iter()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect();
        text.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (name, data) = e.split_once('\n').unwrap();
                let name = name.strip_prefix("event: ").unwrap().to_string();
                let data = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                (name, data)
            })
            .collect()
    }

    fn stream() -> MessageStream {
        MessageStream::new(
            Context {
                model: "claude-x".into(),
                stop_sequences: vec![],
            },
            12,
        )
    }

    #[test]
    fn text_then_a_tool_call_stream_as_anthropic_events() {
        let mut s = stream();
        let chunks = [
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
            json!({"choices": [{"index": 0, "delta": {"content": "Let me "}}]}),
            json!({"choices": [{"index": 0, "delta": {"content": "check."}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 5}}),
        ];
        let mut out: Vec<Bytes> = chunks.iter().filter_map(|c| s.chunk("", c)).collect();
        out.push(s.finish());
        let events = events(&out);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        for (name, data) in &events {
            assert_eq!(data["type"], name.as_str());
        }
        assert_eq!(events[0].1["message"]["usage"]["input_tokens"], 12);
        assert_eq!(events[0].1["message"]["model"], "claude-x");
        assert_eq!(
            events[3].1["delta"],
            json!({"type": "text_delta", "text": "Let me "})
        );
        assert_eq!(
            events[6].1,
            json!({"type": "content_block_start", "index": 1, "content_block":
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}})
        );
        let json: String = events[7..9]
            .iter()
            .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap())
            .collect();
        assert_eq!(json, "{\"city\":\"Paris\"}");
        assert_eq!(events[9].1["index"], 1);
        assert_eq!(events[10].1["delta"]["stop_reason"], "tool_use");
        assert_eq!(events[10].1["usage"]["input_tokens"], 20);
        assert_eq!(events[10].1["usage"]["output_tokens"], 5);
    }

    #[test]
    fn two_calls_under_one_index_are_two_blocks_and_a_break_is_an_error_event() {
        let mut s = stream();
        let call = |id: &str| json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": id, "function": {"name": "t", "arguments": "{}"}}]}}]});
        let out = vec![
            s.chunk("", &call("a")).unwrap(),
            s.chunk("", &call("b")).unwrap(),
        ];
        let starts: Vec<Value> = events(&out)
            .into_iter()
            .filter(|(n, _)| n == "content_block_start")
            .map(|(_, d)| d["content_block"]["id"].clone())
            .collect();
        assert_eq!(starts, [json!("a"), json!("b")]);
        let broken = events(&[s.error("stream_interrupted", "The provider's stream broke off.")]);
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].0, "error");
        assert_eq!(broken[0].1["error"]["type"], "api_error");
        let upstream = events(&[s.upstream_error("", &json!({"error": {"message": "boom"}}))]);
        assert_eq!(upstream[0].1["error"]["message"], "boom");
    }
}
