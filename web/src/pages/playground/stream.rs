//! `/v1` from the browser with the pasted api key (never the admin session's token): the
//! model list, and a streamed chat completion read chunk by chunk from the response body.

use freeway_wire::OpenAiErrorEnvelope;
use freeway_wire::openai::ModelList;
use gloo_net::http::{Request, Response};
use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// How an answer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum State {
    /// Sent; the gateway holds the answer until the first content (its commit point).
    #[default]
    Waiting,
    Streaming,
    Done,
    Stopped,
    Failed,
}

impl State {
    pub fn slug(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Streaming => "streaming",
            State::Done => "done",
            State::Stopped => "stopped",
            State::Failed => "failed",
        }
    }
}

/// The latest answer: its text so far, how it stands, and what the gateway said about it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub text: String,
    pub state: State,
    pub error: Option<String>,
    pub status: Option<u16>,
    /// `x-freeway-*` and `x-request-id`, sorted by name.
    pub headers: Vec<(String, String)>,
    /// The body that was sent, for "Copy as curl / Python".
    pub request: Value,
    /// Which send this is: a stream still running for an earlier one writes nothing here.
    pub seq: u64,
}

/// Server-sent events, fed bytes as they arrive; yields each event's `data` (lines joined).
#[derive(Debug, Default)]
pub struct Sse {
    buf: Vec<u8>,
    data: Vec<String>,
}

impl Sse {
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=end).collect();
            // A line ends at `\n`, which is never inside a UTF-8 sequence.
            let line = String::from_utf8_lossy(&line);
            self.line(line.trim_end_matches(['\n', '\r']), &mut events);
        }
        events
    }

    /// The end of the body: a last event without its blank line still counts.
    pub fn finish(&mut self) -> Vec<String> {
        let mut events = Vec::new();
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            let line = String::from_utf8_lossy(&rest).to_string();
            self.line(line.trim_end_matches('\r'), &mut events);
        }
        self.line("", &mut events);
        events
    }

    fn line(&mut self, line: &str, events: &mut Vec<String>) {
        if line.is_empty() {
            if !self.data.is_empty() {
                events.push(self.data.join("\n"));
                self.data.clear();
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        if field == "data" {
            self.data.push(value.to_string());
        }
    }
}

/// What one `data:` event says.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Delta(String),
    Done,
    /// A stream that broke after it began ends with an error event.
    Error(String),
    Other,
}

pub fn event(data: &str) -> Event {
    if data.trim() == "[DONE]" {
        return Event::Done;
    }
    let Ok(value) = serde_json::from_str::<Value>(data) else {
        return Event::Other;
    };
    if let Some(error) = value.get("error") {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| error.to_string());
        return Event::Error(message);
    }
    match value
        .pointer("/choices/0/delta/content")
        .and_then(Value::as_str)
    {
        Some(text) => Event::Delta(text.to_string()),
        None => Event::Other,
    }
}

/// The message of a `/v1` error body, in OpenAI's shape, or a plain description.
pub fn error_text(status: u16, body: &str) -> String {
    match serde_json::from_str::<OpenAiErrorEnvelope>(body) {
        Ok(e) => format!("{} ({}, {status})", e.error.message, e.error.code),
        Err(_) if body.trim().is_empty() => format!("The gateway answered {status}."),
        Err(_) => format!("The gateway answered {status}: {}", body.trim()),
    }
}

fn bearer(key: &str) -> String {
    format!("Bearer {}", key.trim())
}

/// The models this key may use.
pub async fn models(key: &str) -> Result<Vec<String>, String> {
    let response = Request::get("/v1/models")
        .header("Authorization", &bearer(key))
        .send()
        .await
        .map_err(|e| format!("The gateway did not answer: {e}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !response.ok() {
        return Err(error_text(status, &text));
    }
    let mut ids: Vec<String> = serde_json::from_str::<ModelList>(&text)
        .map_err(|e| format!("The model list was not understood: {e}"))?
        .data
        .into_iter()
        // A mapping's pattern (`claude-*`) is not a name to pick.
        .filter(|m| m.kind.as_deref() != Some("mapping"))
        .map(|m| m.id)
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// The gateway's own headers of an answer.
pub fn gateway_headers(response: &Response) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = response
        .headers()
        .entries()
        .filter(|(name, _)| name.starts_with("x-freeway-") || name == "x-request-id")
        .collect();
    headers.sort();
    headers
}

/// Where a streamed answer goes, chunk by chunk; `false` when the page is gone.
pub trait Sink {
    fn update(&self, f: impl FnOnce(&mut Answer)) -> bool;
    /// Stop was pressed (the read then fails with an abort).
    fn stopping(&self) -> bool;
}

/// Sends `body` and streams the answer into `sink`.
pub async fn chat(
    key: &str,
    body: &Value,
    signal: Option<&web_sys::AbortSignal>,
    sink: &impl Sink,
) {
    let request = Request::post("/v1/chat/completions")
        .header("Authorization", &bearer(key))
        .header("Accept", "text/event-stream")
        .abort_signal(signal)
        .json(body);
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            sink.update(|a| failed(a, format!("The request could not be built: {e}")));
            return;
        }
    };
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            let stopped = sink.stopping();
            sink.update(|a| {
                if stopped {
                    a.state = State::Stopped;
                } else {
                    failed(a, format!("The gateway did not answer: {e}"));
                }
            });
            return;
        }
    };
    let status = response.status();
    let headers = gateway_headers(&response);
    if !sink.update(|a| {
        a.status = Some(status);
        a.headers = headers;
    }) {
        return;
    }
    if !response.ok() {
        let text = response.text().await.unwrap_or_default();
        sink.update(|a| failed(a, error_text(status, &text)));
        return;
    }
    let streamed = response
        .headers()
        .get("content-type")
        .is_some_and(|t| t.contains("event-stream"));
    if !streamed {
        // An answer that is not a stream: read it whole.
        let text = response.text().await.unwrap_or_default();
        let content = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                v.pointer("/choices/0/message/content")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or(text);
        sink.update(|a| {
            a.text.push_str(&content);
            a.state = State::Done;
        });
        return;
    }
    read_stream(response, sink).await;
}

fn failed(answer: &mut Answer, message: String) {
    answer.state = State::Failed;
    answer.error = Some(message);
}

/// Applies events: `Some(true)` once the stream said it is over, `None` when the page is gone.
fn apply(events: Vec<String>, sink: &impl Sink) -> Option<bool> {
    for data in events {
        let alive = match event(&data) {
            Event::Delta(text) => sink.update(|a| {
                a.state = State::Streaming;
                a.text.push_str(&text);
            }),
            Event::Done => {
                sink.update(|a| a.state = State::Done);
                return Some(true);
            }
            Event::Error(message) => {
                sink.update(|a| failed(a, format!("The stream broke: {message}")));
                return Some(true);
            }
            Event::Other => true,
        };
        if !alive {
            return None;
        }
    }
    Some(false)
}

async fn read_stream(response: Response, sink: &impl Sink) {
    let Some(body) = response.body() else {
        sink.update(|a| failed(a, "The answer has no body.".into()));
        return;
    };
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut sse = Sse::default();
    loop {
        let chunk = match JsFuture::from(reader.read()).await {
            Ok(chunk) => chunk,
            Err(e) => {
                let stopped = sink.stopping();
                sink.update(|a| {
                    if stopped {
                        a.state = State::Stopped;
                    } else {
                        failed(a, format!("The stream broke: {}", describe(&e)));
                    }
                });
                return;
            }
        };
        let done = js_sys::Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            break;
        }
        let Ok(value) = js_sys::Reflect::get(&chunk, &"value".into()) else {
            break;
        };
        let bytes = js_sys::Uint8Array::new(&value).to_vec();
        if apply(sse.push(&bytes), sink) != Some(false) {
            // Over, or the page is gone: stop reading.
            let _ = reader.cancel();
            return;
        }
    }
    if apply(sse.finish(), sink) == Some(false) {
        // The body ended without `[DONE]`.
        sink.update(|a| {
            if a.state == State::Waiting || a.state == State::Streaming {
                a.state = State::Done;
            }
        });
    }
}

fn describe(error: &wasm_bindgen::JsValue) -> String {
    error
        .as_string()
        .or_else(|| {
            js_sys::Reflect::get(error, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| "the connection ended".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_cut_where_the_chunks_fall_anywhere() {
        let body = "data: {\"choices\":[{\"delta\":{\"content\":\"Hél\"}}]}\n\n: keep-alive\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\r\n\r\ndata: [DONE]\n\n";
        let bytes = body.as_bytes();
        for cut in 1..bytes.len() {
            let mut sse = Sse::default();
            let (a, b) = bytes.split_at(cut);
            let mut events = sse.push(a);
            events.extend(sse.push(b));
            events.extend(sse.finish());
            let text: String = events
                .iter()
                .filter_map(|d| match event(d) {
                    Event::Delta(t) => Some(t),
                    _ => None,
                })
                .collect();
            assert_eq!(text, "Héllo", "cut at {cut}");
            assert_eq!(events.last().map(|d| event(d)), Some(Event::Done));
        }
    }

    #[test]
    fn a_broken_stream_says_why() {
        assert_eq!(
            event(
                r#"{"error":{"message":"upstream closed","type":"upstream_error","param":null,"code":"stream_broken"}}"#
            ),
            Event::Error("upstream closed".into())
        );
        assert_eq!(
            event(r#"{"choices":[{"delta":{"role":"assistant"}}]}"#),
            Event::Other
        );
        let mut sse = Sse::default();
        assert!(sse.push(b"data: [DONE]").is_empty());
        assert_eq!(sse.finish(), vec!["[DONE]".to_string()]);
    }

    #[test]
    fn errors_read_in_openais_shape() {
        let body = r#"{"error":{"message":"Invalid api key.","type":"authentication_error","param":null,"code":"invalid_api_key"}}"#;
        assert_eq!(
            error_text(401, body),
            "Invalid api key. (invalid_api_key, 401)"
        );
        assert_eq!(error_text(502, ""), "The gateway answered 502.");
    }
}
