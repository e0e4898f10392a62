//! Anthropic's Messages API at `/v1/messages`: translated to the pool's OpenAI-compatible
//! providers and back, through the same pipeline as chat (failover before the first token,
//! an error event after it, usage events, sessions), with Anthropic's errors.

use freeway::mock::Behavior;
use serde_json::{Value, json};

use crate::helpers::{Spawn, TestApp, header, spawn_with, trail_outcomes};

async fn app(providers: usize) -> TestApp {
    spawn_with(Spawn {
        providers,
        model: "mock-chat".into(),
        provider_timeout_ms: 2_000,
        ..Spawn::default()
    })
    .await
}

/// Posts to `/v1/messages` as Claude Code does: `x-api-key`, `anthropic-version` and
/// `anthropic-beta`, `?beta=true`.
async fn messages(app: &TestApp, body: Value) -> reqwest::Response {
    app.client
        .post(format!("{}/v1/messages?beta=true", app.address))
        .header("x-api-key", &app.api_key)
        .header("anthropic-version", "2023-06-01")
        .header(
            "anthropic-beta",
            "claude-code-20250219,interleaved-thinking-2025-05-14",
        )
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The events of an Anthropic stream, as (event name, data); each data's `type` is its name.
async fn events(response: reqwest::Response) -> Vec<(String, Value)> {
    let text = response.text().await.unwrap();
    assert!(
        text.ends_with("\n\n"),
        "the stream ends mid-event: {text:?}"
    );
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, data) = e
                .split_once('\n')
                .unwrap_or_else(|| panic!("not an event: {e:?}"));
            let name = name.strip_prefix("event: ").unwrap().to_string();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(data["type"], name.as_str(), "{data}");
            (name, data)
        })
        .collect()
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

fn text(events: &[(String, Value)]) -> String {
    events
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect()
}

/// A request as Claude Code sends it: system blocks, tools, a streamed answer.
fn claude_code_request() -> Value {
    json!({
        "model": "mock-chat",
        "max_tokens": 32000,
        "stream": true,
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
            {"type": "text", "text": "Answer briefly.", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "<system-reminder>Today is Saturday.</system-reminder>"},
            {"type": "text", "text": "What files are here?", "cache_control": {"type": "ephemeral"}}
        ]}],
        "tools": [{"name": "Bash", "description": "Runs a shell command",
                   "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}],
        "metadata": {"user_id": "user_abc_account_def_session_ghi"},
        "temperature": 1
    })
}

/// The one usage event: (endpoint, status, error code, stream, prompt, completion, provider,
/// outcomes of the attempts, session).
type Row = (
    String,
    i16,
    Option<String>,
    bool,
    Option<i32>,
    Option<i32>,
    Option<String>,
    Value,
    Option<String>,
);

async fn rows(app: &TestApp, n: i64) -> Vec<Row> {
    app.wait_for_usage(n).await;
    sqlx::query_as(
        "SELECT endpoint, status, error_code, stream, prompt_tokens, completion_tokens, provider,
                attempt_trail, session_id
         FROM usage_events ORDER BY id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_claude_code_style_stream_goes_through_the_pool_and_is_recorded() {
    let app = app(1).await;
    app.mock(0)
        .set_default(Behavior::ok().with_chunks(["Two", " files", "."]));
    let response = messages(&app, claude_code_request()).await;
    assert_eq!(response.status(), 200);
    assert!(header(&response, "content-type").starts_with("text/event-stream"));
    assert_eq!(header(&response, "x-freeway-route"), "mock0/mock-chat");
    assert_eq!(header(&response, "x-freeway-attempts"), "1");
    assert_eq!(
        header(&response, "request-id"),
        header(&response, "x-request-id")
    );
    let session = header(&response, "x-freeway-session").to_string();
    let events = events(response).await;
    assert_eq!(
        names(&events),
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(text(&events), "Two files.");
    let start = &events[0].1["message"];
    assert_eq!(start["model"], "mock-chat");
    assert!(start["id"].as_str().unwrap().starts_with("msg_"));
    let delta = &events[7].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["input_tokens"], 10);
    assert_eq!(delta["usage"]["output_tokens"], 7);

    // The provider got an OpenAI chat request.
    let sent = &app.mock(0).requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some("Bearer secret-0"));
    let body = &sent.body;
    assert_eq!(body["model"], "mock-chat");
    assert_eq!(body["max_tokens"], 32000);
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You are Claude Code, Anthropic's official CLI for Claude.\n\nAnswer briefly."},
            {"role": "user", "content": "<system-reminder>Today is Saturday.</system-reminder>\n\nWhat files are here?"}
        ])
    );
    assert_eq!(body["tools"][0]["function"]["name"], "Bash");
    assert_eq!(
        body["tools"][0]["function"]["parameters"]["required"],
        json!(["command"])
    );
    assert_eq!(body["user"], "user_abc_account_def_session_ghi");
    assert!(body.get("metadata").is_none() && body.get("system").is_none());

    let rows = rows(&app, 1).await;
    let (endpoint, status, error, stream, prompt, completion, provider, trail, recorded) = &rows[0];
    assert_eq!(endpoint, "messages");
    assert_eq!((*status, error.as_deref(), *stream), (200, None, true));
    assert_eq!((*prompt, *completion), (Some(10), Some(7)));
    assert_eq!(provider.as_deref(), Some("mock0"));
    assert_eq!(trail_outcomes(trail), ["mock0:ok"]);
    assert_eq!(recorded.as_deref(), Some(session.as_str()));

    // The next turn of the same conversation keeps its session.
    let mut next = claude_code_request();
    next["stream"] = json!(false);
    next["messages"].as_array_mut().unwrap().extend([
        json!({"role": "assistant", "content": "Two files."}),
        json!({"role": "user", "content": "Thanks"}),
    ]);
    let response = messages(&app, next).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-freeway-session"), session);
    let message: freeway_wire::anthropic::Message = response.json().await.unwrap();
    assert_eq!(message.stop_reason.as_deref(), Some("end_turn"));
    app.stop().await;
}

#[tokio::test]
async fn a_messages_stream_fails_over_before_its_first_token() {
    let app = app(2).await;
    app.mock(0).push(Behavior::empty_stream());
    app.mock(1).set_default(Behavior::reply("from the second"));
    let response = messages(&app, claude_code_request()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-freeway-route"), "mock1/mock-chat");
    assert_eq!(header(&response, "x-freeway-attempts"), "2");
    let events = events(response).await;
    assert_eq!(text(&events), "from the second");
    // One message, started once, by the route that served it.
    assert_eq!(
        names(&events)
            .iter()
            .filter(|n| **n == "message_start")
            .count(),
        1
    );
    assert_eq!(names(&events).last(), Some(&"message_stop"));
    let rows = rows(&app, 1).await;
    assert_eq!(
        trail_outcomes(&rows[0].7),
        ["mock0:empty_stream", "mock1:ok"]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_messages_stream_broken_after_its_first_token_ends_with_an_error_event() {
    let app = app(2).await;
    app.mock(0).push(Behavior::ok().disconnect_after(2));
    let response = messages(&app, claude_code_request()).await;
    assert_eq!(response.status(), 200);
    let events = events(response).await;
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "error");
    assert_eq!(data["error"]["type"], "api_error");
    assert!(!names(&events).contains(&"message_stop"));
    assert_eq!(text(&events), "Hello from");
    assert_eq!(app.mock(1).request_count(), 0);
    let rows = rows(&app, 1).await;
    assert_eq!(rows[0].2.as_deref(), Some("stream_interrupted"));
    assert_eq!(trail_outcomes(&rows[0].7), ["mock0:stream_broken"]);
    app.stop().await;
}

#[tokio::test]
async fn a_streamed_tool_call_becomes_a_tool_use_block() {
    let app = app(1).await;
    app.mock(0)
        .push(Behavior::ok().with_tool_call("Bash", r#"{"command":"ls -la"}"#));
    let response = messages(&app, claude_code_request()).await;
    let events = events(response).await;
    let start = events
        .iter()
        .find(|(n, d)| n == "content_block_start" && d["content_block"]["type"] == "tool_use")
        .unwrap();
    assert_eq!(start.1["content_block"]["name"], "Bash");
    assert_eq!(start.1["content_block"]["id"], "call_mock_1");
    let json: String = events
        .iter()
        .filter_map(|(_, d)| d["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&json).unwrap(),
        json!({"command": "ls -la"})
    );
    let delta = events.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
    app.stop().await;
}

#[tokio::test]
async fn bad_messages_requests_get_anthropic_errors_naming_the_field() {
    let app = app(1).await;
    let base = json!({"model": "mock-chat", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
    let mut no_max = base.clone();
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let mut unknown_block = base.clone();
    unknown_block["messages"][0]["content"] = json!([{"type": "hologram"}]);
    let mut orphan_result = base.clone();
    orphan_result["messages"][0]["content"] =
        json!([{"type": "tool_result", "tool_use_id": "toolu_x", "content": "42"}]);
    let mut server_tool = base.clone();
    server_tool["tools"] = json!([{"type": "web_search_20250305", "name": "web_search"}]);
    let cases = [
        (
            no_max,
            400,
            "invalid_request_error",
            "max_tokens: Field required",
        ),
        (
            unknown_block,
            400,
            "invalid_request_error",
            "messages.0.content.0.type: unknown content block type `hologram`",
        ),
        (
            orphan_result,
            400,
            "invalid_request_error",
            "messages.0.content.0.tool_use_id:",
        ),
        (
            server_tool,
            400,
            "invalid_request_error",
            "tools.0.type: the tool `web_search`",
        ),
        (
            json!({"model": "nope", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}),
            404,
            "not_found_error",
            "",
        ),
    ];
    for (body, status, kind, message) in cases {
        let response = messages(&app, body).await;
        assert_eq!(response.status(), status);
        let request_id = header(&response, "request-id").to_string();
        let error: freeway_wire::anthropic::ErrorEnvelope = response.json().await.unwrap();
        assert_eq!(error.kind, "error");
        assert_eq!(error.error.kind, kind);
        assert!(
            error.error.message.starts_with(message),
            "{}",
            error.error.message
        );
        assert_eq!(error.request_id.as_deref(), Some(request_id.as_str()));
    }
    let response = app
        .client
        .post(format!("{}/v1/messages", app.address))
        .header("x-api-key", "fw-bad-key")
        .json(&base)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "authentication_error");
    // A provider's own 400 reaches the client in Anthropic's shape.
    app.mock(0).push(Behavior::status(400).with_error_body(
        json!({"error": {"message": "context too long", "type": "invalid_request_error", "code": "context_length_exceeded"}}),
    ));
    let response = messages(&app, base).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["message"], "context too long");
    // Only that last request reached a provider.
    assert_eq!(app.mock(0).request_count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn count_tokens_answers_the_routers_estimate() {
    let app = app(1).await;
    let count = |body: Value| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(format!("{}/v1/messages/count_tokens", app.address))
                .bearer_auth(&app.api_key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response
                .json::<freeway_wire::anthropic::TokenCount>()
                .await
                .unwrap()
                .input_tokens
        }
    };
    let short =
        count(json!({"model": "mock-chat", "messages": [{"role": "user", "content": "hi"}]})).await;
    let long = count(json!({"model": "mock-chat", "system": "x".repeat(400), "messages": [{"role": "user", "content": "hi"}]})).await;
    assert!(short >= 1);
    // 400 more characters are about 100 more tokens, as the router counts them.
    assert!((95..=105).contains(&(long - short)), "{short} {long}");
    assert_eq!(app.mock(0).request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn the_official_anthropic_sdk_creates_streams_calls_tools_and_counts() {
    let app = app(1).await;
    let mock_url = app.mock(0).base_url();
    let (ok, output) = crate::contract::run(
        "the official anthropic SDK",
        "\"$FREEWAY_TOOLS_VENV/bin/python\" scripts/contract/anthropic_sdk.py",
        &[
            ("FREEWAY_URL", app.address.as_str()),
            ("FREEWAY_API_KEY", app.api_key.as_str()),
            ("FREEWAY_MOCK_URL", mock_url.trim_end_matches("/v1")),
        ],
    )
    .await;
    assert!(ok, "{output}");
    // The tool_result went to the provider as a tool message after the assistant's call.
    let sent: Vec<Value> = app.mock(0).requests().into_iter().map(|r| r.body).collect();
    let round_trip = sent
        .iter()
        .find(|b| b["messages"].as_array().is_some_and(|m| m.len() == 3))
        .unwrap();
    assert_eq!(
        round_trip["messages"][1]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    assert_eq!(round_trip["messages"][2]["role"], "tool");
    assert_eq!(round_trip["messages"][2]["content"], "18 C, sunny");
    assert_eq!(
        round_trip["messages"][2]["tool_call_id"],
        round_trip["messages"][1]["tool_calls"][0]["id"]
    );
    app.stop().await;
}

#[tokio::test]
async fn claude_model_names_reach_the_pool_through_the_seeded_mapping() {
    let app = app(1).await;
    let ask = |key: String| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/v1/messages", app.address))
                .header("x-api-key", key)
                .header("anthropic-version", "2023-06-01")
                .json(
                    &json!({"model": "claude-sonnet-4-5-20250929", "max_tokens": 16,
                    "messages": [{"role": "user", "content": "hi"}]}),
                )
                .send()
                .await
                .unwrap()
        }
    };
    let response = ask(app.api_key.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-freeway-route"), "mock0/mock-chat");
    let message: freeway_wire::anthropic::Message = response.json().await.unwrap();
    // Anthropic echoes the model asked for; the provider was asked for its own.
    assert_eq!(message.model, "claude-sonnet-4-5-20250929");
    assert_eq!(app.mock(0).requests()[0].body["model"], "mock-chat");

    // A key that may use `auto` may use the names mapped to it; one that may not, may not.
    let auto_only =
        crate::helpers::create_key(&app.db, &app.member, Some(vec!["auto".into()]), None).await;
    let chat_only =
        crate::helpers::create_key(&app.db, &app.member, Some(vec!["mock-chat".into()]), None)
            .await;
    crate::helpers::eventually("the new keys are known", || {
        let ask = &ask;
        let key = chat_only.clone();
        async move { ask(key).await.status() != 401 }
    })
    .await;
    assert_eq!(ask(auto_only).await.status(), 200);
    let refused = ask(chat_only).await;
    assert_eq!(refused.status(), 403);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["type"], "permission_error");
    app.stop().await;
}
