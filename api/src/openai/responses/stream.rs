//! Chat completion chunks as the Responses API's typed events: `response.created`,
//! `response.in_progress`, per item `response.output_item.added`, its deltas
//! (`response.output_text.delta`, `response.function_call_arguments.delta`), their `.done`
//! events and `response.output_item.done`, then `response.completed` with usage (or
//! `response.incomplete` at the token limit). A stream that breaks after the commit point
//! ends with `response.failed`.

use std::fmt::Write as _;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::Keep;
use super::output::{self, call_item, message_item, new_id, output_text};
use crate::gateway::relay::{Transcode, first_choice};

/// The item being streamed.
enum Open {
    Text {
        id: String,
        text: String,
    },
    Call {
        index: u64,
        id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
}

pub(super) struct ResponseStream {
    response: Map<String, Value>,
    sequence: u64,
    started: bool,
    output: Vec<Value>,
    open: Option<Open>,
    length: bool,
    usage: Option<Value>,
    keep: Option<Keep>,
}

impl ResponseStream {
    pub(super) fn new(response: Map<String, Value>, keep: Option<Keep>) -> Self {
        ResponseStream {
            response,
            sequence: 0,
            started: false,
            output: Vec::new(),
            open: None,
            length: false,
            usage: None,
            keep,
        }
    }

    fn event(&mut self, out: &mut String, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        let _ = write!(out, "event: {kind}\ndata: {data}\n\n");
    }

    fn start(&mut self, out: &mut String) {
        if self.started {
            return;
        }
        self.started = true;
        let response = Value::Object(self.response.clone());
        self.event(out, "response.created", json!({"response": response}));
        self.event(out, "response.in_progress", json!({"response": response}));
    }

    fn close(&mut self, out: &mut String) {
        let index = self.output.len();
        match self.open.take() {
            None => {}
            Some(Open::Text { id, text }) => {
                let at = json!({"item_id": id, "output_index": index, "content_index": 0});
                let mut done = at.clone();
                done["text"] = json!(text);
                self.event(out, "response.output_text.done", done);
                let mut part = at;
                part["part"] = output_text(&text);
                self.event(out, "response.content_part.done", part);
                let item = message_item(&id, &text, "completed");
                self.event(
                    out,
                    "response.output_item.done",
                    json!({"output_index": index, "item": item}),
                );
                self.output.push(item);
            }
            Some(Open::Call {
                id,
                call_id,
                name,
                arguments,
                ..
            }) => {
                self.event(
                    out,
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index, "arguments": arguments}),
                );
                let item = call_item(&id, &call_id, &name, &arguments, "completed");
                self.event(
                    out,
                    "response.output_item.done",
                    json!({"output_index": index, "item": item}),
                );
                self.output.push(item);
            }
        }
    }

    fn text(&mut self, out: &mut String, delta: &str) {
        let index = self.output.len();
        if !matches!(self.open, Some(Open::Text { .. })) {
            self.close(out);
            let id = new_id("msg");
            let index = self.output.len();
            self.event(
                out,
                "response.output_item.added",
                json!({"output_index": index, "item": message_item(&id, "", "in_progress")}),
            );
            self.event(out, "response.content_part.added",
                json!({"item_id": id, "output_index": index, "content_index": 0, "part": output_text("")}));
            self.open = Some(Open::Text {
                id,
                text: String::new(),
            });
        }
        if let Some(Open::Text { id, text }) = &mut self.open {
            text.push_str(delta);
            let id = id.clone();
            self.event(
                out,
                "response.output_text.delta",
                json!({"item_id": id, "output_index": index, "content_index": 0, "delta": delta}),
            );
        }
    }

    fn call(&mut self, out: &mut String, call: &Value) {
        let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
        let given = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let function = call.get("function").unwrap_or(&Value::Null);
        let same = matches!(&self.open, Some(Open::Call { index: i, call_id, .. })
            if *i == index && given.is_none_or(|g| g == call_id));
        if !same {
            self.close(out);
            let id = new_id("fc");
            let call_id = given.map_or_else(|| new_id("call"), str::to_string);
            let name = function
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let output_index = self.output.len();
            self.event(out, "response.output_item.added",
                json!({"output_index": output_index, "item": call_item(&id, &call_id, &name, "", "in_progress")}));
            self.open = Some(Open::Call {
                index,
                id,
                call_id,
                name,
                arguments: String::new(),
            });
        }
        let delta = function
            .get("arguments")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty());
        if let (Some(delta), Some(Open::Call { id, arguments, .. })) = (delta, &mut self.open) {
            arguments.push_str(delta);
            let id = id.clone();
            let output_index = self.output.len();
            self.event(
                out,
                "response.function_call_arguments.delta",
                json!({"item_id": id, "output_index": output_index, "delta": delta}),
            );
        }
    }
}

impl Transcode for ResponseStream {
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
                self.call(&mut out, call);
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.length = reason == "length";
                self.close(&mut out);
            }
        }
        (!out.is_empty()).then(|| Bytes::from(out))
    }

    fn finish(&mut self) -> Bytes {
        let mut out = String::new();
        self.start(&mut out);
        self.close(&mut out);
        let output = std::mem::take(&mut self.output);
        output::finish(&mut self.response, output, self.usage.as_ref(), self.length);
        let kind = if self.length {
            "response.incomplete"
        } else {
            "response.completed"
        };
        let response = Value::Object(self.response.clone());
        if let Some(keep) = self.keep.take() {
            keep.remember(&response);
        }
        self.event(&mut out, kind, json!({"response": response}));
        Bytes::from(out)
    }

    fn error(&mut self, code: &str, message: &str) -> Bytes {
        let mut out = String::new();
        self.start(&mut out);
        self.response.insert("status".into(), json!("failed"));
        self.response
            .insert("output".into(), Value::Array(self.output.clone()));
        self.response
            .insert("error".into(), json!({"code": code, "message": message}));
        let response = Value::Object(self.response.clone());
        self.event(&mut out, "response.failed", json!({"response": response}));
        Bytes::from(out)
    }

    fn upstream_error(&mut self, _: &str, event: &Value) -> Bytes {
        let message = event
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("The provider sent an error.")
            .to_string();
        self.error("upstream_error", &message)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn events(bytes: &[Bytes]) -> Vec<Value> {
        let text: String = bytes
            .iter()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect();
        text.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (name, data) = e.split_once('\n').unwrap();
                let data: Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(
                    Some(data["type"].as_str().unwrap()),
                    name.strip_prefix("event: ")
                );
                data
            })
            .collect()
    }

    #[test]
    fn text_and_a_call_stream_as_typed_events_numbered_in_order() {
        let mut stream = ResponseStream::new(
            [
                ("id".to_string(), json!("resp_1")),
                ("status".into(), json!("in_progress")),
            ]
            .into_iter()
            .collect(),
            None,
        );
        let chunks = [
            json!({"choices": [{"delta": {"role": "assistant", "content": ""}}]}),
            json!({"choices": [{"delta": {"content": "Hi"}}]}),
            json!({"choices": [{"delta": {"content": " there"}}]}),
            json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "shell", "arguments": "{\"a\""}}]}}]}),
            json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}}]}),
            json!({"choices": [{"delta": {}, "finish_reason": "tool_calls"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}),
        ];
        let mut out: Vec<Bytes> = chunks.iter().filter_map(|c| stream.chunk("", c)).collect();
        out.push(stream.finish());
        let all = events(&out);
        let kinds: Vec<&str> = all.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let numbers: Vec<u64> = all
            .iter()
            .map(|e| e["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, (0..15).collect::<Vec<_>>());
        assert_eq!(all[6]["text"], "Hi there");
        assert_eq!(all[12]["arguments"], "{\"a\":1}");
        assert_eq!(all[12]["output_index"], 1);
        let done = &all[14]["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["usage"]["total_tokens"], 7);
        assert_eq!(done["output"][1]["call_id"], "call_1");
        let failed = events(&[stream.error("stream_interrupted", "broke")]);
        assert_eq!(failed[0]["type"], "response.failed");
        assert_eq!(failed[0]["response"]["error"]["code"], "stream_interrupted");
    }
}
