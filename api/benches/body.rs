//! A chat request on its way through: parsed once and forwarded from the bytes the client
//! sent, against a round trip through `serde_json::Value` (what forwarding cost before: parse
//! into values, copy, set the model, serialise). A coding agent's request: a 4 KB system
//! prompt, 40 turns of 2 KB, and 20 tool definitions.
//! Run with `cargo bench -p freeway --bench body`.

use bytes::Bytes;
use freeway::openai::types::ChatRequest;
use serde_json::{Value, json};

fn main() {
    divan::main();
}

fn agent_request() -> Bytes {
    let turn = "lorem ipsum dolor sit amet ".repeat(75);
    let mut messages = vec![json!({"role": "system", "content": "x".repeat(4096)})];
    for i in 0..40 {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        messages.push(json!({"role": role, "content": turn}));
    }
    let tools: Vec<Value> = (0..20)
        .map(|i| {
            json!({"type": "function", "function": {"name": format!("tool_{i}"),
                "description": "does a thing with a path and some options",
                "parameters": {"type": "object", "properties": {
                    "path": {"type": "string"}, "recursive": {"type": "boolean"}}}}})
        })
        .collect();
    let body = json!({"model": "auto", "messages": messages, "tools": tools,
        "temperature": 0.2, "max_tokens": 1024, "stream": true});
    Bytes::from(body.to_string())
}

#[divan::bench]
fn parse_once_and_forward_raw(bencher: divan::Bencher) {
    let body = agent_request();
    bencher.bench(|| {
        let request = ChatRequest::parse(divan::black_box(body.clone())).ok()?;
        Some(request.upstream_body("llama-3.3-70b-versatile", None).len())
    });
}

#[divan::bench]
fn value_round_trip(bencher: divan::Bencher) {
    let body = agent_request();
    bencher.bench(|| {
        let value: Value = serde_json::from_slice(divan::black_box(&body)).ok()?;
        let mut copy = value.clone();
        copy["model"] = json!("llama-3.3-70b-versatile");
        copy["stream_options"] = json!({"include_usage": true});
        Some(serde_json::to_vec(&copy).ok()?.len())
    });
}
