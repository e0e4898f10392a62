//! Bad input: every mistake is answered in OpenAI's error shape with the right status,
//! never a 500, never reaches an upstream, and is still recorded as one usage event.

use futures_util::stream;
use serde_json::{Value, json};

use crate::helpers::{Spawn, TestApp, chat_body, spawn_app, spawn_with};

/// Asserts that `response` is an OpenAI-shaped error (`{"error":{"message","type","param",
/// "code"}}` and nothing else) with `status` and `code`, and returns the `error` object.
pub async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    let actual = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "unexpected status; body: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "error content type is {content_type:?}; body: {text}"
    );
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {text}"));
    let envelope = body.as_object().expect("error body is an object");
    assert_eq!(
        envelope.keys().collect::<Vec<_>>(),
        ["error"],
        "only `error` at the top: {text}"
    );
    let error = &body["error"];
    let mut keys: Vec<&str> = error
        .as_object()
        .expect("`error` is an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "message", "param", "type"], "{text}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message is a non-empty string: {text}"
    );
    assert!(
        error["type"].as_str().is_some_and(|t| !t.is_empty()),
        "{text}"
    );
    assert!(
        error["param"].is_null() || error["param"].is_string(),
        "{text}"
    );
    assert_eq!(error["code"], code, "{text}");
    error.clone()
}

/// POSTs raw bytes to `/v1/chat/completions` with the member key.
async fn post_raw(app: &TestApp, content_type: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.api_key)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.unwrap()
}

async fn post_json_text(app: &TestApp, body: &str) -> reqwest::Response {
    post_raw(app, Some("application/json"), body.as_bytes().to_vec()).await
}

/// The usage row of the only event.
async fn only_usage_row(app: &TestApp) -> (i16, Option<String>, String) {
    sqlx::query_as("SELECT status, error_code, endpoint FROM usage_events")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn malformed_json_is_400_invalid_json() {
    let app = spawn_app().await;
    let response = post_json_text(&app, r#"{"model": "mock-model", "messages": ["#).await;
    let error = expect_error(response, 400, "invalid_json").await;
    assert_eq!(error["type"], "invalid_request_error");
    app.wait_for_usage(1).await;
    let (status, code, endpoint) = only_usage_row(&app).await;
    assert_eq!(status, 400);
    assert_eq!(code.as_deref(), Some("invalid_json"));
    assert_eq!(endpoint, "chat.completions");
    assert_eq!(app.mock(0).request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_400() {
    let app = spawn_app().await;
    let response = post_json_text(&app, r#"["mock-model"]"#).await;
    expect_error(response, 400, "invalid_request").await;
    app.wait_for_usage(1).await;
    assert_eq!(app.mock(0).request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn missing_model_is_400_naming_the_param() {
    let app = spawn_app().await;
    let response = app
        .chat(json!({"messages": [{"role": "user", "content": "hi"}]}))
        .await;
    let error = expect_error(response, 400, "missing_required_parameter").await;
    assert_eq!(error["param"], "model");
    assert_eq!(error["type"], "invalid_request_error");
    app.wait_for_usage(1).await;
    assert_eq!(app.mock(0).request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn missing_messages_is_400_naming_the_param() {
    let app = spawn_app().await;
    let response = app.chat(json!({"model": "mock-model"})).await;
    let error = expect_error(response, 400, "missing_required_parameter").await;
    assert_eq!(error["param"], "messages");
    app.wait_for_usage(1).await;
    assert_eq!(app.mock(0).request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn empty_messages_is_400() {
    let app = spawn_app().await;
    let response = app
        .chat(json!({"model": "mock-model", "messages": []}))
        .await;
    let error = expect_error(response, 400, "invalid_messages").await;
    assert_eq!(error["param"], "messages");
    app.wait_for_usage(1).await;
    assert_eq!(app.mock(0).request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_the_configured_limit_is_413() {
    let app = spawn_with(Spawn {
        configure: Box::new(|c| c.max_body_bytes = 4096),
        ..Spawn::default()
    })
    .await;
    // Valid JSON, so nothing but the size can be the reason.
    let mut body = chat_body("mock-model");
    body["padding"] = json!("x".repeat(8 * 1024));
    let response = app.chat(body).await;
    let error = expect_error(response, 413, "request_too_large").await;
    assert!(
        error["message"].as_str().unwrap().contains("4096"),
        "{error}"
    );
    app.wait_for_usage(1).await;
    let (status, code, _) = only_usage_row(&app).await;
    assert_eq!(status, 413);
    assert_eq!(code.as_deref(), Some("request_too_large"));
    assert_eq!(app.mock(0).request_count(), 0);

    // Under the limit the same server answers normally.
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(response.status(), 200);
    app.wait_for_usage(2).await;
    app.stop().await;
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413() {
    let app = spawn_with(Spawn {
        configure: Box::new(|c| c.max_body_bytes = 4096),
        ..Spawn::default()
    })
    .await;
    // No Content-Length: the limit must hold while reading, not only on the header.
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = std::iter::once(Ok(
        br#"{"model":"mock-model","messages":[{"role":"user","content":"hi"}],"padding":""#
            .to_vec(),
    ))
    .chain((0..8).map(|_| Ok(vec![b'x'; 1024])))
    .chain(std::iter::once(Ok(br#""}"#.to_vec())))
    .collect();
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.api_key)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream::iter(pieces)))
        .send()
        .await
        .unwrap();
    expect_error(response, 413, "request_too_large").await;
    app.wait_for_usage(1).await;
    assert_eq!(app.mock(0).request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_the_default_10_mib_limit_is_413() {
    let app = spawn_app().await;
    assert_eq!(app.config.max_body_bytes, 10 * 1024 * 1024);
    let mut body = chat_body("mock-model");
    body["padding"] = json!("x".repeat(11 * 1024 * 1024));
    let response = app.chat(body).await;
    let error = expect_error(response, 413, "request_too_large").await;
    assert!(
        error["message"].as_str().unwrap().contains("10485760"),
        "{error}"
    );
    app.wait_for_usage(1).await;
    assert_eq!(app.mock(0).request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn text_plain_is_415() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&chat_body("mock-model")).unwrap();
    let response = post_raw(&app, Some("text/plain"), body).await;
    let error = expect_error(response, 415, "unsupported_media_type").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("application/json"),
        "{error}"
    );
    app.wait_for_usage(1).await;
    let (status, _, _) = only_usage_row(&app).await;
    assert_eq!(status, 415);
    assert_eq!(app.mock(0).request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn json_with_a_charset_is_accepted() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&chat_body("mock-model")).unwrap();
    let response = post_raw(&app, Some("application/json; charset=utf-8"), body).await;
    assert_eq!(response.status(), 200);
    app.wait_for_usage(1).await;
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_model_is_404_pointing_at_the_model_list() {
    let app = spawn_app().await;
    let response = app.chat(chat_body("no-such-model")).await;
    let error = expect_error(response, 404, "model_not_found").await;
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("/v1/models"), "{message}");
    assert!(message.contains("no-such-model"), "{message}");
    assert_eq!(error["param"], "model");
    app.wait_for_usage(1).await;
    let requested: Option<String> = sqlx::query_scalar("SELECT requested_model FROM usage_events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(requested.as_deref(), Some("no-such-model"));
    assert_eq!(app.mock(0).request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_v1_path_is_a_json_404() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/v1/nope", app.address))
        .bearer_auth(&app.api_key)
        .json(&chat_body("mock-model"))
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 404, "unknown_url").await;
    assert!(
        error["message"].as_str().unwrap().contains("/v1/nope"),
        "{error}"
    );
    app.wait_for_usage(1).await;
    let (status, code, _) = only_usage_row(&app).await;
    assert_eq!(status, 404);
    assert_eq!(code.as_deref(), Some("unknown_url"));
    assert_eq!(app.mock(0).request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn the_wrong_method_is_a_json_404_or_405() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!(
        status == 404 || status == 405,
        "GET /v1/chat/completions answered {status}"
    );
    let code = if status == 404 {
        "unknown_url"
    } else {
        "method_not_allowed"
    };
    expect_error(response, status, code).await;
    app.wait_for_usage(1).await;
    let (recorded, _, _) = only_usage_row(&app).await;
    assert_eq!(recorded, i16::try_from(status).unwrap());
    assert_eq!(app.mock(0).request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn each_bad_request_is_one_usage_event_and_none_is_a_500() {
    let app = spawn_app().await;
    let cases: Vec<(&str, Option<&str>, Vec<u8>, u16)> = vec![
        ("truncated", Some("application/json"), b"{".to_vec(), 400),
        ("empty body", Some("application/json"), Vec::new(), 400),
        ("not json", Some("application/json"), b"hello".to_vec(), 400),
        ("null", Some("application/json"), b"null".to_vec(), 400),
        (
            "model is a number",
            Some("application/json"),
            br#"{"model":7,"messages":[{"role":"user","content":"x"}]}"#.to_vec(),
            400,
        ),
        (
            "messages is a string",
            Some("application/json"),
            br#"{"model":"mock-model","messages":"hi"}"#.to_vec(),
            400,
        ),
        (
            "message without role",
            Some("application/json"),
            br#"{"model":"mock-model","messages":[{"content":"x"}]}"#.to_vec(),
            400,
        ),
        (
            "stream is a string",
            Some("application/json"),
            br#"{"model":"mock-model","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#
                .to_vec(),
            400,
        ),
        (
            "invalid utf-8",
            Some("application/json"),
            b"{\"model\":\"\xff\xfe\"}".to_vec(),
            400,
        ),
        (
            "form encoded",
            Some("application/x-www-form-urlencoded"),
            b"model=mock-model".to_vec(),
            415,
        ),
    ];
    for (index, (what, content_type, body, status)) in cases.into_iter().enumerate() {
        let response = post_raw(&app, content_type, body).await;
        let actual = response.status().as_u16();
        assert_eq!(actual, status, "{what}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{what}: {body}");
        assert!(body["error"]["message"].is_string(), "{what}: {body}");
        app.wait_for_usage(i64::try_from(index).unwrap() + 1).await;
    }
    assert_eq!(app.mock(0).request_count(), 0);
    app.stop().await;
}
