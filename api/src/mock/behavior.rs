use std::time::Duration;

use serde_json::{Value, json};

/// What the mock does with one request to a behaviour-consuming endpoint
/// (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`,
/// `/v1/images/generations`, `/v1/audio/speech`, `/v1/audio/transcriptions`).
///
/// Build one with a constructor ([`Behavior::ok`], [`Behavior::status`], ...)
/// and refine it with the `with_*` builders; every field is public so tests can
/// also use struct-update syntax.
#[derive(Debug, Clone)]
pub struct Behavior {
    /// HTTP status. Anything outside 2xx is answered with a JSON error body.
    pub status: u16,
    /// Delay before the response head is sent (time to first byte).
    pub latency: Duration,
    /// Seconds, sent as a `Retry-After` header whenever set.
    pub retry_after: Option<u64>,
    /// Body for non-2xx answers and in-band stream errors; `None` picks an
    /// OpenAI-shaped body matching the status.
    pub error_body: Option<Value>,
    /// Assistant content.
    pub reply: String,
    /// `(prompt_tokens, completion_tokens)`; `None` omits usage entirely.
    pub usage: Option<(u32, u32)>,
    /// Pause between consecutive SSE events.
    pub chunk_delay: Duration,
    /// Content pieces for streaming; `None` splits `reply` into words.
    pub chunks: Option<Vec<String>>,
    /// Streaming: break the connection after this many content chunks.
    pub disconnect_after_chunks: Option<usize>,
    /// Never answer (for upstream timeouts).
    pub hang: bool,
    /// Streaming: go silent after this many content chunks, keeping the
    /// connection open.
    pub stall_after_chunks: Option<usize>,
    /// Streaming: send an in-band error event after this many content chunks.
    pub error_after_chunks: Option<usize>,
    /// Streaming: send nothing but `data: [DONE]`.
    pub empty_stream: bool,
    /// Streaming: answer 200, then a single `data: {"error":...}` event.
    pub in_band_error: bool,
    /// Embeddings: the length of each vector (the mock's default is 8).
    pub dimensions: usize,
    /// Extra response headers (rate-limit headers, for instance).
    pub headers: Vec<(String, String)>,
    /// Error answers and in-band stream errors quote the request's `Authorization` header,
    /// as some providers do.
    pub echo_authorization: bool,
    /// Chat: call this tool (name, JSON arguments) instead of answering in text.
    pub tool_call: Option<(String, String)>,
}

pub(crate) const DEFAULT_REPLY: &str = "Hello from the mock upstream.";
pub(crate) const DEFAULT_DIMENSIONS: usize = 8;

impl Default for Behavior {
    fn default() -> Self {
        Self {
            status: 200,
            latency: Duration::ZERO,
            retry_after: None,
            headers: Vec::new(),
            error_body: None,
            reply: DEFAULT_REPLY.to_owned(),
            usage: Some((10, 7)),
            chunk_delay: Duration::ZERO,
            chunks: None,
            disconnect_after_chunks: None,
            hang: false,
            stall_after_chunks: None,
            error_after_chunks: None,
            empty_stream: false,
            in_band_error: false,
            dimensions: DEFAULT_DIMENSIONS,
            echo_authorization: false,
            tool_call: None,
        }
    }
}

impl Behavior {
    /// A behaviour from a query string, as `/__mock/push` and `freeway mock-upstream
    /// --default` take it: `status=429&retry_after=30`, `hang=1`, `latency_ms=200`,
    /// `cut_after=1`, `stall_after=1`, `error_after=1`, `empty=1`, `in_band_error=1`, `echo_auth=1`,
    /// `chunk_delay_ms=10`, `reply=text`, `usage=0` (no usage), `dimensions=8`,
    /// `tool=get_weather&tool_args={"city":"Paris"}` (a tool call instead of text).
    pub fn from_query(query: &str) -> Result<Behavior, String> {
        let mut behavior = Behavior::ok();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|_| format!("`{key}` must be a number, not {value:?}"))
            };
            let flag = || value != "0" && value != "false";
            let count = || number().map(|n| usize::try_from(n).unwrap_or(usize::MAX));
            match key.as_ref() {
                "status" => {
                    behavior.status =
                        u16::try_from(number()?).map_err(|_| "bad status".to_string())?;
                    if behavior.status == 429 && behavior.retry_after.is_none() {
                        behavior = Behavior {
                            retry_after: None,
                            ..Behavior::rate_limited(0)
                        };
                    }
                }
                "retry_after" => behavior.retry_after = Some(number()?),
                "latency_ms" => behavior.latency = Duration::from_millis(number()?),
                "chunk_delay_ms" => behavior.chunk_delay = Duration::from_millis(number()?),
                "hang" => behavior.hang = flag(),
                "cut_after" => behavior.disconnect_after_chunks = Some(count()?),
                "stall_after" => behavior.stall_after_chunks = Some(count()?),
                "error_after" => behavior.error_after_chunks = Some(count()?),
                "empty" => behavior.empty_stream = flag(),
                "in_band_error" => behavior.in_band_error = flag(),
                "echo_auth" => behavior.echo_authorization = flag(),
                "tool" => {
                    let arguments = behavior
                        .tool_call
                        .take()
                        .map_or_else(|| "{}".to_string(), |(_, arguments)| arguments);
                    behavior = behavior.with_tool_call(value.as_ref(), &arguments);
                }
                "tool_args" => {
                    let name = behavior
                        .tool_call
                        .take()
                        .map(|(name, _)| name)
                        .unwrap_or_else(|| "tool".into());
                    behavior = behavior.with_tool_call(&name, value.as_ref());
                }
                "reply" => behavior = behavior.with_reply(value.as_ref()),
                "usage" if !flag() => behavior.usage = None,
                "usage" => {}
                "dimensions" => behavior.dimensions = count()?,
                "count" | "default" => {}
                other => return Err(format!("unknown behaviour `{other}`")),
            }
        }
        Ok(behavior)
    }

    /// A successful answer with the default reply and usage.
    pub fn ok() -> Self {
        Self::default()
    }

    pub fn reply(text: impl Into<String>) -> Self {
        Self::default().with_reply(text)
    }

    /// An error answer with the default OpenAI-shaped body for `code`.
    pub fn status(code: u16) -> Self {
        Self::default().with_status(code)
    }

    /// 429 with `Retry-After` and OpenAI's rate-limit body.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::status(429)
            .with_retry_after(retry_after_secs)
            .with_error_body(json!({
                "error": {
                    "message": "Rate limit reached",
                    "type": "rate_limit_error",
                    "code": "rate_limit_exceeded",
                }
            }))
    }

    pub fn hang() -> Self {
        Self {
            hang: true,
            ..Self::default()
        }
    }

    pub fn empty_stream() -> Self {
        Self {
            empty_stream: true,
            ..Self::default()
        }
    }

    pub fn in_band_error() -> Self {
        Self {
            in_band_error: true,
            ..Self::default()
        }
    }

    /// Sets the reply and forgets explicit chunks, so streaming and
    /// non-streaming answers keep agreeing on the content.
    pub fn with_reply(mut self, text: impl Into<String>) -> Self {
        self.reply = text.into();
        self.chunks = None;
        self
    }

    pub fn with_status(mut self, code: u16) -> Self {
        self.status = code;
        self
    }

    pub fn with_latency(mut self, d: Duration) -> Self {
        self.latency = d;
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn with_error_body(mut self, body: Value) -> Self {
        self.error_body = Some(body);
        self
    }

    pub fn with_usage(mut self, usage: Option<(u32, u32)>) -> Self {
        self.usage = usage;
        self
    }

    /// Sets the streaming pieces; the reply becomes their concatenation so a
    /// non-streaming request sees the same content.
    pub fn with_chunks<I>(mut self, chunks: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let chunks: Vec<String> = chunks.into_iter().map(Into::into).collect();
        self.reply = chunks.concat();
        self.chunks = Some(chunks);
        self
    }

    pub fn with_chunk_delay(mut self, d: Duration) -> Self {
        self.chunk_delay = d;
        self
    }

    /// Breaks the stream after `n` content chunks; if the reply has fewer,
    /// the break replaces the finish chunk.
    pub fn disconnect_after(mut self, n: usize) -> Self {
        self.disconnect_after_chunks = Some(n);
        self
    }

    /// Stalls the stream after `n` content chunks; if the reply has fewer,
    /// the stall replaces the finish chunk.
    pub fn stall_after(mut self, n: usize) -> Self {
        self.stall_after_chunks = Some(n);
        self
    }

    /// Answers with a call of tool `name` with `arguments` (JSON text), streamed in pieces.
    pub fn with_tool_call(mut self, name: &str, arguments: &str) -> Self {
        self.tool_call = Some((name.to_string(), arguments.to_string()));
        self
    }

    /// Error answers quote the request's `Authorization` header.
    pub fn with_echo_authorization(mut self) -> Self {
        self.echo_authorization = true;
        self
    }

    /// Sends an in-band error event after `n` content chunks, ending the stream.
    pub fn error_after(mut self, n: usize) -> Self {
        self.error_after_chunks = Some(n);
        self
    }

    /// Embeddings of `n` dimensions, e.g. the wrong size for the family a test declares.
    pub fn with_dimensions(mut self, n: usize) -> Self {
        self.dimensions = n;
        self
    }

    /// The streaming pieces: explicit chunks, or the reply split into words.
    pub(crate) fn pieces(&self) -> Vec<String> {
        match &self.chunks {
            Some(chunks) => chunks.clone(),
            None => split_words(&self.reply),
        }
    }

    pub(crate) fn error_json(&self, status: u16) -> Value {
        self.error_body
            .clone()
            .unwrap_or_else(|| default_error_body(status))
    }
}

/// Splits before each whitespace run so every piece after the first starts
/// with its separator, the way real tokenised streams arrive, and the pieces
/// concatenate back to `text` exactly.
pub(crate) fn split_words(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut seen_word = false;
    for c in text.chars() {
        if c.is_whitespace() && seen_word {
            pieces.push(std::mem::take(&mut current));
            seen_word = false;
        }
        if !c.is_whitespace() {
            seen_word = true;
        }
        current.push(c);
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// An OpenAI-shaped error body whose type and code match `status`.
pub fn default_error_body(status: u16) -> Value {
    let (kind, code, message) = match status {
        400 => (
            "invalid_request_error",
            "invalid_request",
            "Invalid request.",
        ),
        401 => (
            "authentication_error",
            "invalid_api_key",
            "Incorrect API key provided.",
        ),
        403 => (
            "permission_error",
            "permission_denied",
            "You are not allowed to access this resource.",
        ),
        404 => (
            "invalid_request_error",
            "not_found",
            "The requested resource does not exist.",
        ),
        408 => ("timeout_error", "timeout", "Request timed out."),
        413 => (
            "invalid_request_error",
            "request_too_large",
            "Request too large.",
        ),
        422 => (
            "invalid_request_error",
            "unprocessable_entity",
            "Unprocessable request.",
        ),
        429 => (
            "rate_limit_error",
            "rate_limit_exceeded",
            "Rate limit reached",
        ),
        502 => ("server_error", "bad_gateway", "Bad gateway."),
        503 => (
            "server_error",
            "service_unavailable",
            "The server is overloaded or not ready yet.",
        ),
        504 => ("server_error", "timeout", "Gateway timeout."),
        500..=599 => (
            "server_error",
            "internal_error",
            "The server had an error while processing your request.",
        ),
        _ => (
            "invalid_request_error",
            "mock_error",
            "Mock upstream error.",
        ),
    };
    json!({
        "error": {
            "message": message,
            "type": kind,
            "param": null,
            "code": code,
        }
    })
}
