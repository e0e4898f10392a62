//! Non-streaming chat completions: what goes up is what the client sent (model id aside),
//! what comes down is what the provider answered, byte for byte.

use freeway::mock::Behavior;
use freeway::store::providers::{self, ProviderFields};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::helpers::{
    ACTOR, Spawn, TestApp, add_model, chat_body, eventually, header, spawn_app, spawn_with,
};

/// A request using most of what the API offers, plus fields Freeway has never heard of.
fn rich_body(model: &str) -> Value {
    json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "Answer in JSON."},
            {"role": "user", "name": "ann", "content": [
                {"type": "text", "text": "What is in this picture, and what's the weather there?"},
                {"type": "image_url", "image_url": {
                    "url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
                    "detail": "low"
                }}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}
            }]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp_c\": 21}"}
        ],
        "tools": [{
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                    "additionalProperties": false
                },
                "strict": true
            }
        }],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": false,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "answer",
                "strict": true,
                "schema": {
                    "type": "object",
                    "properties": {
                        "description": {"type": "string"},
                        "temp_c": {"type": ["number", "null"]}
                    },
                    "required": ["description", "temp_c"],
                    "additionalProperties": false
                }
            }
        },
        "temperature": 0.2,
        "top_p": 0.95,
        "max_tokens": 256,
        "seed": 42,
        "stop": ["\n\n"],
        "logit_bias": {"50256": -100},
        "user": "user-1234",
        "metadata": {"trace": "abc"},
        "x_vendor_options": {"nested": [1, "two", null, {"three": 3.5}], "flag": true},
        "mock_echo": true
    })
}

/// provider, model, requested_model, prompt_tokens, completion_tokens, status.
type UsageRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i32>,
    Option<i32>,
    i16,
);

#[tokio::test]
async fn the_request_reaches_the_provider_exactly_and_the_answer_comes_back_unchanged() {
    let app = spawn_app().await;
    // Pinned, so the upstream model id (`mock-model`) differs from the requested name.
    let sent = rich_body("mock0/mock-model");
    let response = app.chat(sent.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-freeway-route"), "mock0/mock-model");
    assert_eq!(header(&response, "x-freeway-attempts"), "1");
    assert!(header(&response, "content-type").starts_with("application/json"));
    let request_id =
        Uuid::parse_str(header(&response, "x-request-id")).expect("x-request-id is a UUID");
    let bytes = response.bytes().await.unwrap();

    let requests = app.mock(0).requests();
    assert_eq!(requests.len(), 1);
    let upstream = &requests[0];
    assert_eq!(upstream.method, "POST");
    assert_eq!(upstream.path, "/v1/chat/completions");
    let mut expected = sent.clone();
    expected["model"] = json!("mock-model");
    assert_eq!(
        upstream.body, expected,
        "the provider must receive the client's body with only the model id replaced"
    );

    // The mock echoes what it received; the client gets the mock's JSON unchanged.
    let answer: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(answer["echo"], expected);
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello from the mock upstream."
    );
    assert_eq!(
        answer["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17})
    );
    // The mock writes compact serde_json; any re-encoding on the way would show here.
    assert_eq!(
        std::str::from_utf8(&bytes).unwrap(),
        serde_json::to_string(&answer).unwrap()
    );

    // The usage event carries the request id and the provider's token counts.
    app.wait_for_usage(1).await;
    let (provider, model, requested, prompt, completion, status): UsageRow = sqlx::query_as(
        "SELECT provider, model, requested_model, prompt_tokens, completion_tokens, status
         FROM usage_events WHERE id = $1",
    )
    .bind(request_id)
    .fetch_one(&app.db)
    .await
    .expect("the usage event's id is the x-request-id");
    assert_eq!(provider.as_deref(), Some("mock0"));
    assert_eq!(model.as_deref(), Some("mock-model"));
    assert_eq!(requested.as_deref(), Some("mock0/mock-model"));
    assert_eq!((prompt, completion), (Some(10), Some(7)));
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn the_provider_gets_the_pool_credential_never_the_member_key() {
    let app = spawn_app().await;
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(response.status(), 200);
    let requests = app.mock(0).requests();
    assert_eq!(requests.len(), 1);
    let upstream = &requests[0];
    assert_eq!(upstream.header("authorization"), Some("Bearer secret-0"));
    assert_eq!(upstream.header("content-type"), Some("application/json"));
    assert_eq!(upstream.header("accept"), Some("application/json"));
    assert!(
        upstream
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("freeway/")),
        "{:?}",
        upstream.header("user-agent")
    );
    let member_secret = app.api_key.rsplit('-').next().unwrap();
    for (name, value) in &upstream.headers {
        assert!(
            !value.contains(&app.api_key) && !value.contains(member_secret),
            "the member key leaked upstream in {name}"
        );
    }
    assert!(
        !upstream.body.to_string().contains(member_secret),
        "the member key leaked upstream in the body"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_response_headers_name_the_route_and_the_request() {
    let app = spawn_app().await;
    let first = app.chat(chat_body("mock-model")).await;
    let second = app.chat(chat_body("mock-model")).await;
    for response in [&first, &second] {
        assert_eq!(response.status(), 200);
        assert_eq!(header(response, "x-freeway-route"), "mock0/mock-model");
        assert_eq!(header(response, "x-freeway-attempts"), "1");
        Uuid::parse_str(header(response, "x-request-id")).unwrap();
    }
    assert_ne!(
        header(&first, "x-request-id"),
        header(&second, "x-request-id"),
        "each request has its own id"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_pinned_provider_is_the_only_one_asked() {
    let app = spawn_with(Spawn {
        providers: 2,
        ..Spawn::default()
    })
    .await;
    let response = app.chat(chat_body("mock1/mock-model")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-freeway-route"), "mock1/mock-model");
    assert_eq!(app.mock(0).request_count(), 0);
    let requests = app.mock(1).requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].body["model"], "mock-model");
    assert_eq!(requests[0].header("authorization"), Some("Bearer secret-1"));

    // Unpinned, the first provider by priority answers.
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(header(&response, "x-freeway-route"), "mock0/mock-model");
    assert_eq!(app.mock(0).request_count(), 1);
    assert_eq!(app.mock(1).request_count(), 1);

    // A pinned provider that fails is not replaced by another one.
    app.mock(1).push(Behavior::status(503));
    let response = app.chat(chat_body("mock1/mock-model")).await;
    assert_eq!(response.status(), 502);
    assert_eq!(app.mock(0).request_count(), 1);
    assert_eq!(app.mock(1).request_count(), 2);
    app.stop().await;
}

#[tokio::test]
async fn an_upstream_400_is_passed_on_and_not_failed_over() {
    let app = spawn_with(Spawn {
        providers: 2,
        ..Spawn::default()
    })
    .await;
    let upstream_error = json!({
        "error": {
            "message": "Invalid value for 'response_format': unknown type.",
            "type": "invalid_request_error",
            "param": "response_format",
            "code": "invalid_value"
        }
    });
    app.mock(0)
        .push(Behavior::status(400).with_error_body(upstream_error.clone()));
    let mut body = chat_body("mock-model");
    body["response_format"] = json!({"type": "bogus"});
    let response = app.chat(body).await;
    assert_eq!(response.status(), 400);
    assert_eq!(header(&response, "x-freeway-route"), "mock0/mock-model");
    assert_eq!(header(&response, "x-freeway-attempts"), "1");
    Uuid::parse_str(header(&response, "x-request-id")).unwrap();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer, upstream_error);
    assert_eq!(app.mock(0).request_count(), 1);
    assert_eq!(
        app.mock(1).request_count(),
        0,
        "a request the provider rejected must not be retried elsewhere"
    );

    app.wait_for_usage(1).await;
    let (status, code): (i16, Option<String>) =
        sqlx::query_as("SELECT status, error_code FROM usage_events")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(status, 400);
    assert_eq!(code.as_deref(), Some("upstream_rejected_request"));
    app.stop().await;
}

#[tokio::test]
async fn an_upstream_4xx_without_an_error_body_becomes_an_openai_error() {
    let app = spawn_with(Spawn {
        providers: 2,
        ..Spawn::default()
    })
    .await;
    app.mock(0)
        .push(Behavior::status(422).with_error_body(json!("nope")));
    let response = app.chat(chat_body("mock-model")).await;
    let error = crate::errors::expect_error(response, 422, "upstream_rejected_request").await;
    assert!(
        error["message"].as_str().unwrap().contains("422"),
        "{error}"
    );
    assert_eq!(app.mock(1).request_count(), 0);
    app.stop().await;
}

/// A one-shot upstream on a raw socket that answers every request with `body` as is.
async fn raw_upstream(body: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Read the head, then as much body as it announces.
                let (head_end, length) = loop {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&request[..i]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, length);
                    }
                };
                while request.len() < head_end + length {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}/v1")
}

#[tokio::test]
async fn the_answer_is_relayed_byte_for_byte() {
    // Spacing, key order, escapes and number spellings that any re-encoding would change.
    const RAW: &str = "{ \"object\" : \"chat.completion\",\n  \"id\":\"raw-1\", \"created\": 1.0e9,\n  \"model\":\"raw-model\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"caf\\u00e9 \\/ na\u{ef}ve\"},\"finish_reason\":\"stop\"}],\n  \"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5},\n  \"z_vendor\": 1.50, \"a_vendor\": [ ] }\n";
    let app = spawn_app().await;
    let base_url = raw_upstream(RAW).await;
    let provider = providers::create(
        &app.db,
        ACTOR,
        ProviderFields {
            keyless: true,
            priority: 5,
            timeout_ms: 5_000,
            ..ProviderFields::new("raw", &base_url)
        },
    )
    .await
    .unwrap();
    add_model(&app.db, &provider, "raw-model").await;
    wait_for_model(&app, "raw-model").await;

    let response = app.chat(chat_body("raw-model")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-freeway-route"), "raw/raw-model");
    let bytes = response.bytes().await.unwrap();
    assert_eq!(std::str::from_utf8(&bytes).unwrap(), RAW);

    // `/v1/models` calls are recorded too; look at the chat event only.
    let db = &app.db;
    eventually("the chat usage event is written", move || async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM usage_events WHERE endpoint = 'chat.completions'",
        )
        .fetch_one(db)
        .await
        .unwrap()
            == 1
    })
    .await;
    let tokens: (Option<i32>, Option<i32>) = sqlx::query_as(
        "SELECT prompt_tokens, completion_tokens FROM usage_events
         WHERE endpoint = 'chat.completions'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(tokens, (Some(3), Some(2)));
    app.stop().await;
}

/// Waits until `/v1/models` lists `model` (the server reloads the pool on NOTIFY).
async fn wait_for_model(app: &TestApp, model: &str) {
    eventually("the new model is listed", move || async move {
        let models: Value = app
            .client
            .get(format!("{}/v1/models", app.address))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        models["data"]
            .as_array()
            .is_some_and(|d| d.iter().any(|m| m["id"] == model))
    })
    .await;
}
