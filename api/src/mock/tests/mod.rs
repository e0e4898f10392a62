#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod streaming;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::behavior::split_words;
use super::handlers::embed;
use super::{Behavior, MockUpstream};

/// reqwest is built without a default TLS provider; it insists on one even
/// for plain-http clients.
fn client_builder() -> reqwest::ClientBuilder {
    // Err only means another test installed it first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

fn client() -> reqwest::Client {
    client_builder().build().unwrap()
}

async fn chat(mock: &MockUpstream, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/chat/completions", mock.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn non_streaming_reply_and_usage() {
    let mock = MockUpstream::start().await.unwrap();
    mock.push(Behavior::reply("Custom answer").with_usage(Some((3, 4))));
    let resp = chat(&mock, json!({"model": "gpt-test", "messages": []})).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-mock-"));
    assert!(body["created"].as_u64().unwrap() > 0);
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], "Custom answer");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7})
    );

    mock.push(Behavior::ok().with_usage(None));
    let body: Value = chat(&mock, json!({"messages": []}))
        .await
        .json()
        .await
        .unwrap();
    assert!(body.get("usage").is_none());
    assert_eq!(body["model"], "mock-model");
    mock.stop().await;
}

#[tokio::test]
async fn queue_is_fifo_then_default() {
    let mock = MockUpstream::start().await.unwrap();
    mock.set_default(Behavior::reply("default"));
    mock.push(Behavior::reply("first"));
    mock.push(Behavior::status(503));
    mock.push(Behavior::reply("third"));
    let mut seen = Vec::new();
    for _ in 0..5 {
        let resp = chat(&mock, json!({"messages": []})).await;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        let content = body["choices"][0]["message"]["content"].clone();
        seen.push((status, content));
    }
    assert_eq!(
        seen,
        vec![
            (200, json!("first")),
            (503, Value::Null),
            (200, json!("third")),
            (200, json!("default")),
            (200, json!("default")),
        ]
    );
    assert_eq!(mock.request_count(), 5);
    mock.stop().await;
}

#[tokio::test]
async fn error_status_has_openai_body() {
    let mock = MockUpstream::start().await.unwrap();
    mock.push(Behavior::status(500));
    mock.push(Behavior::status(400).with_error_body(json!({"error": {"message": "custom"}})));
    let resp = chat(&mock, json!({})).await;
    assert_eq!(resp.status(), 500);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "server_error");
    assert!(body["error"]["message"].is_string());
    let resp = chat(&mock, json!({})).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"error": {"message": "custom"}})
    );
    mock.stop().await;
}

#[tokio::test]
async fn rate_limited_sends_retry_after() {
    let mock = MockUpstream::start().await.unwrap();
    mock.push(Behavior::rate_limited(7));
    let resp = chat(&mock, json!({"messages": []})).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {
            "message": "Rate limit reached",
            "type": "rate_limit_error",
            "code": "rate_limit_exceeded",
        }})
    );
    mock.stop().await;
}

#[tokio::test]
async fn latency_delays_the_response() {
    let mock = MockUpstream::start().await.unwrap();
    mock.push(Behavior::ok().with_latency(Duration::from_millis(200)));
    let started = Instant::now();
    let resp = chat(&mock, json!({})).await;
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    mock.stop().await;
}

#[tokio::test]
async fn hang_triggers_client_timeout() {
    let mock = MockUpstream::start().await.unwrap();
    mock.push(Behavior::hang());
    let client = client_builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client
        .post(format!("{}/chat/completions", mock.base_url()))
        .json(&json!({}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(mock.request_count(), 1);
    let stopped = tokio::time::timeout(Duration::from_secs(5), mock.stop()).await;
    assert!(stopped.is_ok(), "stop must not wait for hanging requests");
}

#[tokio::test]
async fn records_headers_and_body() {
    let mock = MockUpstream::start().await.unwrap();
    client()
        .post(format!("{}/chat/completions", mock.base_url()))
        .header("Authorization", "Bearer sk-upstream")
        .header("X-Custom", "yes")
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    client()
        .post(format!("{}/nowhere", mock.base_url()))
        .body("not json")
        .send()
        .await
        .unwrap();
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/v1/chat/completions");
    assert_eq!(first.header("authorization"), Some("Bearer sk-upstream"));
    assert_eq!(first.header("X-CUSTOM"), Some("yes"));
    assert!(first.headers.iter().any(|(n, _)| n == "x-custom"));
    assert_eq!(first.body["messages"][0]["content"], "hi");
    assert_eq!(requests[1].path, "/v1/nowhere");
    assert_eq!(requests[1].body, Value::Null);
    mock.stop().await;
}

#[tokio::test]
async fn echo_returns_the_request_body() {
    let mock = MockUpstream::start().await.unwrap();
    let request = json!({"model": "m", "messages": [], "mock_echo": true, "top_p": 0.5});
    let body: Value = chat(&mock, request.clone()).await.json().await.unwrap();
    assert_eq!(body["echo"], request);
    let body: Value = chat(&mock, json!({"messages": []}))
        .await
        .json()
        .await
        .unwrap();
    assert!(body.get("echo").is_none());
    mock.stop().await;
}

#[tokio::test]
async fn models_and_unknown_paths_do_not_consume_behaviours() {
    let mock = MockUpstream::start().await.unwrap();
    mock.push(Behavior::status(500));
    let resp = client()
        .get(format!("{}/models", mock.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["data"][0]["id"], "mock-model");
    let resp = client()
        .get(format!("{}/unknown", mock.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "not_found"
    );
    assert_eq!(chat(&mock, json!({})).await.status(), 500);
    assert_eq!(mock.request_count(), 3);
    mock.stop().await;
}

#[tokio::test]
async fn embeddings_are_deterministic() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/embeddings", mock.base_url());
    let body: Value = client()
        .post(&url)
        .json(&json!({"model": "emb", "input": ["one two", "three"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "emb");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 3, "total_tokens": 3})
    );
    assert_eq!(body["data"][1]["index"], 1);
    let first = body["data"][0]["embedding"].as_array().unwrap();
    assert_eq!(first.len(), 8);
    assert_eq!(body["data"][0]["embedding"], json!(embed("one two", 8)));
    assert_ne!(embed("one two", 8), embed("three", 8));
    let single: Value = client()
        .post(&url)
        .json(&json!({"input": "three"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(single["data"][0]["embedding"], body["data"][1]["embedding"]);

    mock.push(Behavior::rate_limited(1));
    let resp = client()
        .post(&url)
        .json(&json!({"input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let resp = client()
        .post(&url)
        .json(&json!({"input": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    mock.stop().await;
}

#[tokio::test]
async fn embedding_dimensions_follow_the_behaviour() {
    let mock = MockUpstream::start().await.unwrap();
    mock.push(Behavior::ok().with_dimensions(3));
    let url = format!("{}/embeddings", mock.base_url());
    for expected in [3, 8] {
        let body: Value = client()
            .post(&url)
            .json(&json!({"input": "x"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let vector = body["data"][0]["embedding"].as_array().unwrap();
        assert_eq!(vector.len(), expected);
    }
    mock.stop().await;
}

#[tokio::test]
async fn legacy_completions_plain_and_streamed() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/completions", mock.base_url());
    mock.push(Behavior::reply("Once upon").with_usage(Some((2, 3))));
    let body: Value = client()
        .post(&url)
        .json(&json!({"model": "m", "prompt": "Say"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "text_completion");
    assert!(body["id"].as_str().unwrap().starts_with("cmpl-mock-"));
    assert_eq!(body["choices"][0]["text"], "Once upon");
    assert_eq!(body["usage"]["total_tokens"], 5);

    mock.push(Behavior::ok().with_chunks(["Once", " upon"]));
    let text = client()
        .post(&url)
        .json(&json!({"model": "m", "prompt": "Say", "stream": true}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let chunks: Vec<Value> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let pieces: Vec<&str> = chunks
        .iter()
        .map(|c| c["choices"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(pieces, ["Once", " upon", ""]);
    assert!(chunks.iter().all(|c| c["object"] == "text_completion"));
    assert!(text.ends_with("data: [DONE]\n\n"));
    mock.stop().await;
}

#[tokio::test]
async fn images_speech_and_transcriptions() {
    let mock = MockUpstream::start().await.unwrap();
    let base = mock.base_url();
    let image: Value = client()
        .post(format!("{base}/images/generations"))
        .json(&json!({"model": "img", "prompt": "a cat"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(image["data"][0]["url"], super::IMAGE_URL);

    let audio = client()
        .post(format!("{base}/audio/speech"))
        .json(&json!({"model": "tts", "input": "hi", "voice": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(audio.headers()["content-type"], "audio/mpeg");
    assert_eq!(audio.bytes().await.unwrap(), super::SPEECH_BYTES);

    let form = reqwest::multipart::Form::new()
        .text("model", "whisper")
        .text("language", "en")
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![7_u8; 1000])
                .file_name("clip.mp3")
                .mime_str("audio/mpeg")
                .unwrap(),
        );
    mock.push(Behavior::status(503));
    let failed = client()
        .post(format!("{base}/audio/transcriptions"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 503);
    let recorded = mock.requests().pop().unwrap();
    assert_eq!(
        recorded.body,
        json!({"model": "whisper", "language": "en", "file": {
            "filename": "clip.mp3", "content_type": "audio/mpeg", "size": 1000}})
    );
    let form = reqwest::multipart::Form::new()
        .text("model", "whisper")
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![1_u8; 10]).file_name("a.wav"),
        );
    let text: Value = client()
        .post(format!("{base}/audio/transcriptions"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(text["text"], super::TRANSCRIPT);
    mock.stop().await;
}

#[tokio::test]
async fn stop_closes_the_port() {
    let mock = MockUpstream::start().await.unwrap();
    let url = format!("{}/models", mock.base_url());
    assert!(mock.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(mock.addr().ip().to_string(), "127.0.0.1");
    mock.stop().await;
    assert!(client().get(&url).send().await.is_err());
}

#[test]
fn split_words_keeps_separators() {
    assert_eq!(
        split_words("Hello from  the mock."),
        vec!["Hello", " from", "  the", " mock."]
    );
    assert_eq!(split_words(" lead"), vec![" lead"]);
    assert!(split_words("").is_empty());
    let text = "  a\nb  c ";
    assert_eq!(split_words(text).concat(), text);
}
