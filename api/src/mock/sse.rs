use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use futures_util::stream;
use serde_json::{Value, json};

use super::behavior::Behavior;

/// How long a stalled stream stays silent before giving up; far beyond any
/// client timeout a test would configure.
const STALL: Duration = Duration::from_secs(3600);

/// Identity shared by every chunk of one streamed completion.
pub(crate) struct Completion {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub include_usage: bool,
    /// Legacy `/v1/completions` chunks (`text_completion`, `choices[].text`).
    pub legacy: bool,
}

enum Step {
    Event(Bytes),
    /// End the body with an error so the client sees a truncated response.
    Disconnect,
    Stall,
}

struct Plan {
    steps: VecDeque<Step>,
    delay: Duration,
    started: bool,
}

/// The SSE body for a streamed chat (or legacy text) completion under `behavior`.
pub(crate) fn chat_stream(
    behavior: &Behavior,
    completion: &Completion,
) -> impl Stream<Item = Result<Bytes, io::Error>> + 'static {
    let plan = Plan {
        steps: plan_steps(behavior, completion),
        delay: behavior.chunk_delay,
        started: false,
    };
    stream::unfold(plan, |mut plan| async move {
        let step = plan.steps.pop_front()?;
        if plan.started && !plan.delay.is_zero() {
            tokio::time::sleep(plan.delay).await;
        }
        plan.started = true;
        match step {
            Step::Event(bytes) => Some((Ok(bytes), plan)),
            Step::Disconnect => {
                // actix drops its unflushed write buffer when the body
                // errors; yielding once lets the chunks already produced
                // reach the socket first.
                tokio::task::yield_now().await;
                plan.steps.clear();
                Some((Err(disconnect_error()), plan))
            }
            Step::Stall => {
                tokio::time::sleep(STALL).await;
                plan.steps.clear();
                Some((Err(disconnect_error()), plan))
            }
        }
    })
}

fn disconnect_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "mock upstream: simulated disconnect",
    )
}

fn plan_steps(behavior: &Behavior, completion: &Completion) -> VecDeque<Step> {
    let mut steps = VecDeque::new();
    if behavior.empty_stream {
        steps.push_back(done());
        return steps;
    }
    if behavior.in_band_error {
        steps.push_back(event(&behavior.error_json(500)));
        return steps;
    }

    if !completion.legacy {
        steps.push_back(chunk(
            completion,
            json!({"role": "assistant", "content": ""}),
            None,
        ));
    }
    if let Some((name, arguments)) = behavior.tool_call.as_ref().filter(|_| !completion.legacy) {
        steps.push_back(chunk(
            completion,
            json!({"tool_calls": [{"index": 0, "id": "call_mock_1", "type": "function",
                                   "function": {"name": name, "arguments": ""}}]}),
            None,
        ));
        let characters: Vec<char> = arguments.chars().collect();
        for piece in characters.chunks(8) {
            let piece: String = piece.iter().collect();
            steps.push_back(chunk(
                completion,
                json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                None,
            ));
        }
        steps.push_back(chunk(completion, json!({}), Some("tool_calls")));
        steps.push_back(done());
        return steps;
    }
    let pieces = behavior.pieces();
    // The earliest interruption wins.
    let cut = [
        behavior
            .disconnect_after_chunks
            .map(|n| (n, Step::Disconnect)),
        behavior.stall_after_chunks.map(|n| (n, Step::Stall)),
        behavior
            .error_after_chunks
            .map(|n| (n, event(&behavior.error_json(500)))),
    ]
    .into_iter()
    .flatten()
    .min_by_key(|(n, _)| *n);
    let sent = cut
        .as_ref()
        .map_or(pieces.len(), |(n, _)| (*n).min(pieces.len()));
    for piece in &pieces[..sent] {
        steps.push_back(chunk(completion, json!({"content": piece}), None));
    }
    if let Some((_, interruption)) = cut {
        steps.push_back(interruption);
        return steps;
    }

    steps.push_back(chunk(completion, json!({}), Some("stop")));
    if completion.include_usage
        && let Some((prompt, completion_tokens)) = behavior.usage
    {
        let mut usage_chunk = envelope(completion, json!([]));
        usage_chunk["usage"] = usage_json(prompt, completion_tokens);
        steps.push_back(event(&usage_chunk));
    }
    steps.push_back(done());
    steps
}

fn chunk(completion: &Completion, delta: Value, finish_reason: Option<&str>) -> Step {
    let choices = if completion.legacy {
        json!([{
            "index": 0,
            "text": delta.get("content").and_then(Value::as_str).unwrap_or(""),
            "logprobs": null,
            "finish_reason": finish_reason,
        }])
    } else {
        json!([{
            "index": 0,
            "delta": delta,
            "finish_reason": finish_reason,
        }])
    };
    let mut body = envelope(completion, choices);
    // OpenAI sends an explicit null usage on every chunk but the last once
    // usage was requested; gateways must cope with it.
    if completion.include_usage {
        body["usage"] = Value::Null;
    }
    event(&body)
}

fn envelope(completion: &Completion, choices: Value) -> Value {
    json!({
        "id": completion.id,
        "object": if completion.legacy { "text_completion" } else { "chat.completion.chunk" },
        "created": completion.created,
        "model": completion.model,
        "choices": choices,
    })
}

pub(crate) fn usage_json(prompt: u32, completion: u32) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": u64::from(prompt) + u64::from(completion),
    })
}

fn event(body: &Value) -> Step {
    Step::Event(Bytes::from(format!("data: {body}\n\n")))
}

fn done() -> Step {
    Step::Event(Bytes::from_static(b"data: [DONE]\n\n"))
}
