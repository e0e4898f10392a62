use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::chat;
use crate::mock::{Behavior, MockUpstream};

fn stream_request(include_usage: bool) -> Value {
    let mut body = json!({
        "model": "gpt-test",
        "stream": true,
        "messages": [{"role": "user", "content": "hi"}],
    });
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

/// Parses `data:` payloads; `[DONE]` is kept as a JSON string.
fn sse_events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap_or_else(|_| json!(data)))
        .collect()
}

fn content_of(events: &[Value]) -> String {
    events
        .iter()
        .filter_map(|e| {
            e.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect()
}

#[tokio::test]
async fn streaming_concatenates_to_reply_with_usage_only_on_request() {
    let mock = MockUpstream::start().await.unwrap();
    let resp = chat(&mock, stream_request(false)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let events = sse_events(&resp.text().await.unwrap());
    assert_eq!(
        events[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(events[1]["object"], "chat.completion.chunk");
    assert_eq!(events[1]["model"], "gpt-test");
    assert_eq!(content_of(&events), "Hello from the mock upstream.");
    // role chunk + 5 words + finish chunk + [DONE]
    assert_eq!(events.len(), 8);
    let finish = &events[events.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    assert!(events.iter().all(|e| e.get("usage").is_none()));
    assert_eq!(events.last().unwrap(), "[DONE]");
    let ids: Vec<&Value> = events[..events.len() - 1]
        .iter()
        .map(|e| &e["id"])
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]));

    mock.push(
        Behavior::ok()
            .with_chunks(["a", "b", "c"])
            .with_usage(Some((5, 3))),
    );
    let events = sse_events(
        &chat(&mock, stream_request(true))
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(content_of(&events), "abc");
    let usage_chunk = &events[events.len() - 2];
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(
        usage_chunk["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8})
    );
    assert_eq!(events.last().unwrap(), "[DONE]");

    // Usage requested but the behaviour has none: no usage chunk.
    mock.push(Behavior::ok().with_usage(None));
    let events = sse_events(
        &chat(&mock, stream_request(true))
            .await
            .text()
            .await
            .unwrap(),
    );
    assert!(events.iter().all(|e| e["choices"] != json!([])));
    mock.stop().await;
}

#[tokio::test]
async fn chunk_delay_paces_events() {
    let mock = MockUpstream::start().await.unwrap();
    mock.push(
        Behavior::ok()
            .with_chunks(["x", "y"])
            .with_chunk_delay(Duration::from_millis(50)),
    );
    let started = Instant::now();
    let text = chat(&mock, stream_request(false))
        .await
        .text()
        .await
        .unwrap();
    // role, x, y, finish, [DONE]: four gaps.
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(content_of(&sse_events(&text)), "xy");
    mock.stop().await;
}

/// Reads a streaming body until it ends, errors or goes quiet for `idle`.
async fn read_stream(resp: reqwest::Response, idle: Duration) -> (String, Option<String>) {
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    loop {
        match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(Ok(bytes))) => text.push_str(std::str::from_utf8(&bytes).unwrap()),
            Ok(Some(Err(e))) => return (text, Some(format!("error: {e:?}"))),
            Ok(None) => return (text, None),
            Err(_) => return (text, Some("idle".to_owned())),
        }
    }
}

#[tokio::test]
async fn disconnect_after_breaks_the_body() {
    let mock = MockUpstream::start().await.unwrap();
    mock.push(Behavior::ok().disconnect_after(2));
    let resp = chat(&mock, stream_request(true)).await;
    assert_eq!(resp.status(), 200);
    let (text, end) = read_stream(resp, Duration::from_secs(5)).await;
    assert!(end.as_deref().unwrap().starts_with("error"), "{end:?}");
    let events = sse_events(&text);
    assert_eq!(content_of(&events), "Hello from");
    assert!(!text.contains("[DONE]"));
    mock.stop().await;
}

#[tokio::test]
async fn stall_after_keeps_the_connection_silent() {
    let mock = MockUpstream::start().await.unwrap();
    mock.push(Behavior::ok().stall_after(1));
    let resp = chat(&mock, stream_request(false)).await;
    let (text, end) = read_stream(resp, Duration::from_millis(300)).await;
    assert_eq!(end.as_deref(), Some("idle"));
    assert_eq!(content_of(&sse_events(&text)), "Hello");
    let stopped = tokio::time::timeout(Duration::from_secs(5), mock.stop()).await;
    assert!(stopped.is_ok(), "stop must not wait for stalled streams");
}

#[tokio::test]
async fn empty_stream_and_in_band_error() {
    let mock = MockUpstream::start().await.unwrap();
    mock.push(Behavior::empty_stream());
    mock.push(Behavior::in_band_error());
    let text = chat(&mock, stream_request(true))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(text, "data: [DONE]\n\n");
    let resp = chat(&mock, stream_request(false)).await;
    assert_eq!(resp.status(), 200);
    let events = sse_events(&resp.text().await.unwrap());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["error"]["type"], "server_error");
    mock.stop().await;
}
