//! Streaming chat completions: SSE relayed as it comes, failover up to the first content
//! chunk (the commit point), an explicit error event after it.

use freeway::mock::Behavior;
use serde_json::{Value, json};

use crate::helpers::{Spawn, TestApp, header, owned_pairs, spawn_app, spawn_with};

fn stream_body(model: &str) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": "tell me something"}],
        "stream": true
    })
}

/// The `data:` payloads of an SSE body, in order. Every event must be a single `data:` line.
async fn sse_events(response: reqwest::Response) -> Vec<String> {
    let text = response.text().await.unwrap();
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "the stream ends mid-event: {text:?}"
    );
    text.split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {event:?}"))
                .to_string()
        })
        .collect()
}

/// The JSON chunks before `[DONE]` (which must be last, once) and their content.
fn chunks_and_content(events: &[String]) -> (Vec<Value>, String) {
    let done: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.as_str() == "[DONE]")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(done, [events.len() - 1], "one [DONE], last: {events:?}");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap_or_else(|_| panic!("chunk is not JSON: {e}")))
        .collect();
    for chunk in &chunks {
        assert!(
            chunk.get("error").is_none(),
            "error in a clean stream: {chunk}"
        );
    }
    let content = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    (chunks, content)
}

/// The one chat usage event: (status, error_code, stream, prompt, completion, provider, trail).
type StreamRow = (
    i16,
    Option<String>,
    bool,
    Option<i32>,
    Option<i32>,
    Option<String>,
    Value,
);

async fn usage_row(app: &TestApp) -> StreamRow {
    app.wait_for_usage(1).await;
    sqlx::query_as(
        "SELECT status, error_code, stream, prompt_tokens, completion_tokens, provider,
                attempt_trail
         FROM usage_events",
    )
    .fetch_one(&app.db)
    .await
    .unwrap()
}

fn outcomes(trail: &Value) -> Vec<(String, String)> {
    trail
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["provider"].as_str().unwrap().to_string(),
                a["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_stream_is_relayed_and_ends_with_done() {
    let app = spawn_app().await;
    app.mock(0)
        .set_default(Behavior::ok().with_chunks(["The", " quick", " brown", " fox", "."]));
    let response = app.chat(stream_body("mock-model")).await;
    assert_eq!(response.status(), 200);
    assert!(
        header(&response, "content-type").starts_with("text/event-stream"),
        "{:?}",
        response.headers()
    );
    assert_eq!(header(&response, "x-freeway-route"), "mock0/mock-model");
    assert_eq!(header(&response, "x-freeway-attempts"), "1");
    uuid::Uuid::parse_str(header(&response, "x-request-id")).unwrap();
    let events = sse_events(response).await;
    let (chunks, content) = chunks_and_content(&events);
    assert_eq!(content, "The quick brown fox.");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk"),
        "{chunks:?}"
    );
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop"),
        "the finish chunk is relayed"
    );
    app.stop().await;
}

#[tokio::test]
async fn freeway_asks_for_usage_but_a_client_that_did_not_gets_no_usage_chunk() {
    let app = spawn_app().await;
    let sent = stream_body("mock-model");
    let response = app.chat(sent.clone()).await;
    assert_eq!(response.status(), 200);
    let events = sse_events(response).await;
    let (chunks, content) = chunks_and_content(&events);
    assert_eq!(content, "Hello from the mock upstream.");
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"].as_array().is_some_and(|a| !a.is_empty())),
        "a usage-only chunk reached a client that did not ask: {chunks:?}"
    );

    let requests = app.mock(0).requests();
    assert_eq!(requests.len(), 1);
    let mut expected = sent;
    expected["stream_options"] = json!({"include_usage": true});
    assert_eq!(requests[0].body, expected);
    assert_eq!(requests[0].header("accept"), Some("text/event-stream"));

    // Freeway still counted the tokens from the chunk it kept to itself.
    let (status, error, stream, prompt, completion, provider, trail) = usage_row(&app).await;
    assert_eq!(status, 200);
    assert_eq!(error, None);
    assert!(stream);
    assert_eq!((prompt, completion), (Some(10), Some(7)));
    assert_eq!(provider.as_deref(), Some("mock0"));
    assert_eq!(outcomes(&trail), owned_pairs(&[("mock0", "ok")]));
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_asks_for_usage_gets_the_usage_chunk() {
    let app = spawn_app().await;
    let mut sent = stream_body("mock-model");
    sent["stream_options"] = json!({"include_usage": true, "x_other": 1});
    let response = app.chat(sent.clone()).await;
    assert_eq!(response.status(), 200);
    let events = sse_events(response).await;
    let (chunks, content) = chunks_and_content(&events);
    assert_eq!(content, "Hello from the mock upstream.");
    let usage: Vec<&Value> = chunks
        .iter()
        .filter(|c| c["choices"].as_array().is_some_and(Vec::is_empty))
        .collect();
    assert_eq!(usage.len(), 1, "{chunks:?}");
    assert_eq!(
        usage[0]["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17})
    );
    // The client's own stream options went up untouched.
    assert_eq!(app.mock(0).requests()[0].body, sent);

    let (_, _, stream, prompt, completion, _, _) = usage_row(&app).await;
    assert!(stream);
    assert_eq!((prompt, completion), (Some(10), Some(7)));
    app.stop().await;
}

/// The first provider fails before any content in some way; the client must see only the
/// second provider's clean stream.
async fn fails_over_before_the_commit_point(first: Behavior, timeout_ms: i32, outcome: &str) {
    let app = spawn_with(Spawn {
        providers: 2,
        provider_timeout_ms: timeout_ms,
        ..Spawn::default()
    })
    .await;
    app.mock(0).push(first.with_reply("FIRST PROVIDER"));
    app.mock(1)
        .set_default(Behavior::reply("answer from the second"));
    let response = app.chat(stream_body("mock-model")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-freeway-route"), "mock1/mock-model");
    assert_eq!(header(&response, "x-freeway-attempts"), "2");
    let events = sse_events(response).await;
    let (_, content) = chunks_and_content(&events);
    assert_eq!(content, "answer from the second");
    assert_eq!(app.mock(0).request_count(), 1);
    assert_eq!(app.mock(1).request_count(), 1);

    let (status, error, _, prompt, completion, provider, trail) = usage_row(&app).await;
    assert_eq!(status, 200);
    assert_eq!(error, None);
    assert_eq!(provider.as_deref(), Some("mock1"));
    assert_eq!((prompt, completion), (Some(10), Some(7)));
    assert_eq!(
        outcomes(&trail),
        owned_pairs(&[("mock0", outcome), ("mock1", "ok")])
    );
    app.stop().await;
}

#[tokio::test]
async fn an_empty_stream_fails_over() {
    fails_over_before_the_commit_point(Behavior::empty_stream(), 5_000, "empty_stream").await;
}

#[tokio::test]
async fn an_in_band_error_before_content_fails_over() {
    fails_over_before_the_commit_point(Behavior::in_band_error(), 5_000, "in_band_error").await;
}

#[tokio::test]
async fn a_stall_before_content_fails_over() {
    fails_over_before_the_commit_point(Behavior::ok().stall_after(0), 500, "timeout").await;
}

#[tokio::test]
async fn a_disconnect_before_content_fails_over() {
    fails_over_before_the_commit_point(Behavior::ok().disconnect_after(0), 5_000, "stream_broken")
        .await;
}

#[tokio::test]
async fn a_rate_limited_stream_fails_over() {
    fails_over_before_the_commit_point(Behavior::rate_limited(3), 5_000, "rate_limited").await;
}

/// After the commit point: the last event is an explicit error, never `[DONE]`.
fn ends_with_error(events: &[String], code: &str) -> String {
    assert!(
        !events.iter().any(|e| e == "[DONE]"),
        "a broken stream must not end cleanly: {events:?}"
    );
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    let error = &last["error"];
    assert_eq!(error["code"], code, "{last}");
    assert!(error["message"].is_string(), "{last}");
    assert!(error["type"].is_string(), "{last}");
    events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).unwrap())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn a_disconnect_after_content_ends_with_an_error_event() {
    let app = spawn_with(Spawn {
        providers: 2,
        ..Spawn::default()
    })
    .await;
    app.mock(0).push(Behavior::ok().disconnect_after(2));
    let response = app.chat(stream_body("mock-model")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-freeway-route"), "mock0/mock-model");
    let events = sse_events(response).await;
    let content = ends_with_error(&events, "stream_interrupted");
    assert_eq!(content, "Hello from");
    // Committed: the client already has content, so there is no second provider.
    assert_eq!(app.mock(1).request_count(), 0);

    let (_, error, stream, _, _, provider, trail) = usage_row(&app).await;
    assert_eq!(error.as_deref(), Some("stream_interrupted"));
    assert!(stream);
    assert_eq!(provider.as_deref(), Some("mock0"));
    // A stream broken after its commit point is a failure of its route.
    assert_eq!(outcomes(&trail), owned_pairs(&[("mock0", "stream_broken")]));
    let next = app.chat(stream_body("mock-model")).await;
    assert_eq!(header(&next, "x-freeway-route"), "mock1/mock-model");
    assert_eq!(app.mock(0).request_count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_stall_after_content_ends_with_an_error_event() {
    let app = spawn_with(Spawn {
        providers: 2,
        provider_timeout_ms: 500,
        ..Spawn::default()
    })
    .await;
    app.mock(0).push(Behavior::ok().stall_after(1));
    let response = app.chat(stream_body("mock-model")).await;
    assert_eq!(response.status(), 200);
    let events = sse_events(response).await;
    let content = ends_with_error(&events, "stream_stalled");
    assert_eq!(content, "Hello");
    assert_eq!(app.mock(1).request_count(), 0);

    let (_, error, _, _, _, _, trail) = usage_row(&app).await;
    assert_eq!(error.as_deref(), Some("stream_stalled"));
    assert_eq!(outcomes(&trail), owned_pairs(&[("mock0", "timeout")]));
    let next = app.chat(stream_body("mock-model")).await;
    assert_eq!(header(&next, "x-freeway-route"), "mock1/mock-model");
    app.stop().await;
}

#[tokio::test]
async fn an_upstream_400_on_a_stream_is_passed_on_as_json() {
    let app = spawn_with(Spawn {
        providers: 2,
        ..Spawn::default()
    })
    .await;
    let upstream_error = json!({"error": {"message": "bad tools", "type": "invalid_request_error",
        "param": "tools", "code": "invalid_value"}});
    app.mock(0)
        .push(Behavior::status(400).with_error_body(upstream_error.clone()));
    let response = app.chat(stream_body("mock-model")).await;
    assert_eq!(response.status(), 400);
    assert!(header(&response, "content-type").starts_with("application/json"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, upstream_error);
    assert_eq!(app.mock(1).request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_streamed_tool_call_is_relayed_whole() {
    let app = spawn_with(Spawn::default()).await;
    let arguments = r#"{"city":"Paris","unit":"celsius"}"#;
    // Programmed from outside, as a user trying Freeway would.
    let push = format!(
        "{}/__mock/push?tool=get_weather&tool_args={}",
        app.mock(0).base_url().trim_end_matches("/v1"),
        form_urlencoded::byte_serialize(arguments.as_bytes()).collect::<String>()
    );
    assert_eq!(app.client.post(&push).send().await.unwrap().status(), 204);
    let response = app.chat(stream_body("mock-model")).await;
    assert_eq!(response.status(), 200);
    let events = sse_events(response).await;
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let mut streamed = String::new();
    let mut finish = None;
    for event in &events[..events.len() - 1] {
        let chunk: Value = serde_json::from_str(event).unwrap();
        let choice = &chunk["choices"][0];
        if let Some(piece) = choice["delta"]["tool_calls"][0]["function"]["arguments"].as_str() {
            streamed.push_str(piece);
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            finish = Some(reason.to_string());
        }
    }
    assert_eq!(streamed, arguments);
    assert_eq!(finish.as_deref(), Some("tool_calls"));
    app.stop().await;
}
