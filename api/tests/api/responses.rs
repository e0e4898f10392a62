//! OpenAI's Responses API at `/v1/responses`: translated to a chat request for the pool's
//! providers and back, through the same pipeline as chat (failover before the first token,
//! `response.failed` after it, usage events), stored per api key for `GET /v1/responses/{id}`
//! and `previous_response_id`, with OpenAI's errors.

use freeway::mock::Behavior;
use serde_json::{Value, json};

use crate::helpers::{Spawn, TestApp, add_member, create_key, eventually, spawn_with};

const REPLY: &str = "Hello from the mock upstream.";

async fn app(providers: usize) -> TestApp {
    spawn_with(Spawn {
        providers,
        model: "mock-chat".into(),
        provider_timeout_ms: 2_000,
        ..Spawn::default()
    })
    .await
}

async fn create(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.client
        .post(format!("{}/v1/responses", app.address))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A request that must succeed; its Response object.
async fn create_ok(app: &TestApp, body: Value) -> Value {
    let response = create(app, &app.api_key, body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn retrieve(app: &TestApp, key: &str, id: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/v1/responses/{id}", app.address))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_string()
}

/// A new key (created in the database) once the server knows it.
async fn known_key(app: &TestApp, member: &freeway::store::members::Member) -> String {
    let key = create_key(&app.db, member, None, None).await;
    eventually("the new key is known", || {
        let key = key.clone();
        async move {
            let models = app
                .client
                .get(format!("{}/v1/models", app.address))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            models.status() == 200
        }
    })
    .await;
    key
}

/// The events of a Responses stream, as (event name, data): each data's `type` is its name,
/// sequence numbers increase, and there is no `[DONE]`.
async fn events(response: reqwest::Response) -> Vec<(String, Value)> {
    assert_eq!(response.status(), 200);
    assert!(header(&response, "content-type").starts_with("text/event-stream"));
    let text = response.text().await.unwrap();
    assert!(!text.contains("[DONE]"), "a Responses stream has no [DONE]");
    assert!(
        text.ends_with("\n\n"),
        "the stream ends mid-event: {text:?}"
    );
    let events: Vec<(String, Value)> = text
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, data) = e
                .split_once('\n')
                .unwrap_or_else(|| panic!("not an event: {e:?}"));
            let name = name
                .strip_prefix("event: ")
                .unwrap_or_else(|| panic!("no event line: {e:?}"))
                .to_string();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(data["type"], name.as_str(), "{data}");
            (name, data)
        })
        .collect();
    let numbers: Vec<i64> = events
        .iter()
        .map(|(_, d)| d["sequence_number"].as_i64().expect("a sequence_number"))
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "sequence numbers increase: {numbers:?}"
    );
    events
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

/// The joined deltas of events named `name`.
fn deltas(events: &[(String, Value)], name: &str) -> String {
    events
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect()
}

fn event<'a>(events: &'a [(String, Value)], name: &str) -> &'a Value {
    &events
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", names(events)))
        .1
}

/// A chat message's text, whether the translation sent a string or text parts.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p["type"] == "text")
            .map(|p| p["text"].as_str().unwrap())
            .collect(),
        other => panic!("not chat content: {other}"),
    }
}

/// The upstream request's messages but the system ones, as (role, text).
fn conversation(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .map(|m| {
            let text = if m["content"].is_null() {
                String::new()
            } else {
                text_of(&m["content"])
            };
            (m["role"].as_str().unwrap().to_string(), text)
        })
        .collect()
}

fn turns(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(r, t)| ((*r).to_string(), (*t).to_string()))
        .collect()
}

/// The text of a Response object's output messages.
fn output_text(response: &Value) -> String {
    response["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().unwrap())
        .filter(|c| c["type"] == "output_text")
        .map(|c| c["text"].as_str().unwrap())
        .collect()
}

/// The one usage event: (endpoint, status, error code, stream, prompt, completion, trail).
type Row = (
    String,
    i16,
    Option<String>,
    bool,
    Option<i32>,
    Option<i32>,
    Value,
);

async fn rows(app: &TestApp, n: i64) -> Vec<Row> {
    app.wait_for_usage(n).await;
    sqlx::query_as(
        "SELECT endpoint, status, error_code, stream, prompt_tokens, completion_tokens,
                attempt_trail
         FROM usage_events ORDER BY created_at, id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

fn outcomes(trail: &Value) -> Vec<String> {
    trail
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}:{}",
                a["provider"].as_str().unwrap(),
                a["outcome"].as_str().unwrap()
            )
        })
        .collect()
}

fn weather_tool() -> Value {
    json!({"type": "function", "name": "get_weather", "description": "The weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]},
           "strict": true})
}

/// The answer to an unknown `previous_response_id`, exactly.
fn previous_not_found(id: &str) -> Value {
    json!({"error": {"message": format!("Previous response with id '{id}' not found."),
                     "type": "invalid_request_error", "param": "previous_response_id",
                     "code": "previous_response_not_found"}})
}

/// The answer to an unknown response id on `GET`, exactly (OpenAI's message; Freeway's
/// errors always carry a code).
fn response_not_found(id: &str) -> Value {
    json!({"error": {"message": format!("Response with id '{id}' not found."),
                     "type": "invalid_request_error", "param": null, "code": "not_found"}})
}

/// (status, body text with `id` replaced by `<id>`): what must not differ between an id that
/// exists elsewhere and one that never existed.
async fn answer_without(response: reqwest::Response, id: &str) -> (u16, String) {
    let status = response.status().as_u16();
    (status, response.text().await.unwrap().replace(id, "<id>"))
}

#[tokio::test]
async fn an_agent_style_request_reaches_the_provider_as_a_chat_request() {
    let app = app(1).await;
    let image = "data:image/png;base64,iVBORw0KGgo=";
    let response = create(&app, &app.api_key, json!({
        "model": "mock-chat",
        "instructions": "You are a coding agent.",
        "input": [
            {"role": "user", "content": "hi"},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "Hello! How can I help?"}]},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "What is the weather here?"},
                {"type": "input_image", "image_url": image}]},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "function_call", "id": "fc_1", "call_id": "call_abc", "name": "get_weather",
             "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "call_abc", "output": "18 C, sunny"}
        ],
        "tools": [weather_tool()],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "max_output_tokens": 256,
        "temperature": 0.5,
        "top_p": 0.25,
        "metadata": {"task": "weather"}
    }))
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-freeway-route"), "mock0/mock-chat");
    assert_eq!(header(&response, "x-freeway-attempts"), "1");
    uuid::Uuid::parse_str(&header(&response, "x-request-id")).unwrap();
    let answer: Value = response.json().await.unwrap();

    let requests = app.mock(0).requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/chat/completions");
    let body = &requests[0].body;
    assert_eq!(body["model"], "mock-chat");
    let messages = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "user", "assistant", "tool"],
        "{body}"
    );
    assert_eq!(text_of(&messages[0]["content"]), "You are a coding agent.");
    assert_eq!(text_of(&messages[1]["content"]), "hi");
    assert_eq!(text_of(&messages[2]["content"]), "Hello! How can I help?");
    assert_eq!(
        text_of(&messages[3]["content"]),
        "What is the weather here?"
    );
    let parts = messages[3]["content"]
        .as_array()
        .expect("text and image parts");
    assert!(
        parts
            .iter()
            .any(|p| p["type"] == "image_url" && p["image_url"]["url"] == image),
        "{parts:?}"
    );
    // The reasoning item was skipped; the call and its output are chat's tool call and answer.
    assert_eq!(
        messages[4]["tool_calls"],
        json!([{"id": "call_abc", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}])
    );
    assert_eq!(messages[5]["tool_call_id"], "call_abc");
    assert_eq!(messages[5]["content"], "18 C, sunny");
    let tools = body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0]["type"], "function");
    assert_eq!(tools[0]["function"]["name"], "get_weather");
    assert_eq!(tools[0]["function"]["description"], "The weather in a city");
    assert_eq!(
        tools[0]["function"]["parameters"],
        weather_tool()["parameters"]
    );
    assert_eq!(body["tool_choice"], "auto");
    assert_eq!(body["parallel_tool_calls"], false);
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(
        (&body["temperature"], &body["top_p"]),
        (&json!(0.5), &json!(0.25))
    );
    assert_ne!(body["stream"], true);
    for field in [
        "input",
        "instructions",
        "max_output_tokens",
        "previous_response_id",
        "store",
    ] {
        assert!(body.get(field).is_none(), "`{field}` went upstream: {body}");
    }

    // The answer echoes the request's settings.
    assert_eq!(output_text(&answer), REPLY);
    assert_eq!(answer["instructions"], "You are a coding agent.");
    assert_eq!(answer["tools"][0]["type"], "function");
    assert_eq!(answer["tools"][0]["name"], "get_weather");
    assert_eq!(answer["tool_choice"], "auto");
    assert_eq!(answer["parallel_tool_calls"], false);
    assert_eq!(answer["max_output_tokens"], 256);
    assert_eq!(
        (&answer["temperature"], &answer["top_p"]),
        (&json!(0.5), &json!(0.25))
    );
    assert_eq!(answer["metadata"], json!({"task": "weather"}));
    assert_eq!(answer["store"], true);
    app.stop().await;
}

#[tokio::test]
async fn a_string_input_is_answered_with_a_completed_response_object() {
    let app = app(1).await;
    let before = chrono::Utc::now().timestamp();
    let answer = create_ok(&app, json!({"model": "mock-chat", "input": "Say hello."})).await;
    let sent = &app.mock(0).requests()[0].body;
    assert_eq!(conversation(sent), turns(&[("user", "Say hello.")]));
    assert_eq!(sent["messages"].as_array().unwrap().len(), 1, "{sent}");

    assert!(
        answer["id"].as_str().unwrap().starts_with("resp_"),
        "{answer}"
    );
    assert_eq!(answer["object"], "response");
    let created_at = answer["created_at"].as_i64().unwrap();
    assert!(
        (before - 5..=before + 60).contains(&created_at),
        "{created_at}"
    );
    assert_eq!(answer["status"], "completed");
    assert_eq!(answer["model"], "mock-chat");
    let output = answer["output"].as_array().unwrap();
    assert_eq!(output.len(), 1, "{answer}");
    assert!(output[0]["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        (&output[0]["type"], &output[0]["status"], &output[0]["role"]),
        (&json!("message"), &json!("completed"), &json!("assistant"))
    );
    assert_eq!(
        output[0]["content"],
        json!([{"type": "output_text", "text": REPLY, "annotations": []}])
    );
    assert_eq!(
        answer["usage"],
        json!({"input_tokens": 10, "output_tokens": 7, "total_tokens": 17,
               "input_tokens_details": {"cached_tokens": 0},
               "output_tokens_details": {"reasoning_tokens": 0}})
    );
    for field in [
        "instructions",
        "previous_response_id",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "temperature",
        "top_p",
        "max_output_tokens",
        "store",
        "metadata",
        "text",
        "error",
        "incomplete_details",
    ] {
        assert!(answer.get(field).is_some(), "no `{field}` in {answer}");
    }
    assert_eq!(
        (
            &answer["error"],
            &answer["incomplete_details"],
            &answer["previous_response_id"]
        ),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    assert_eq!(answer["store"], true);
    app.stop().await;
}

#[tokio::test]
async fn a_stream_sends_the_responses_events_in_order() {
    let app = app(1).await;
    app.mock(0)
        .set_default(Behavior::ok().with_chunks(["Two", " files", "."]));
    let response = create(
        &app,
        &app.api_key,
        json!({"model": "mock-chat", "input": "ls", "stream": true}),
    )
    .await;
    assert_eq!(header(&response, "x-freeway-route"), "mock0/mock-chat");
    assert_eq!(header(&response, "x-freeway-attempts"), "1");
    let events = events(response).await;
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    assert_eq!(deltas(&events, "response.output_text.delta"), "Two files.");
    let created = &event(&events, "response.created")["response"];
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("resp_"));
    assert_eq!(created["status"], "in_progress");
    assert_eq!(created["model"], "mock-chat");
    let item = &event(&events, "response.output_item.added")["item"];
    assert_eq!(
        (&item["type"], &item["role"]),
        (&json!("message"), &json!("assistant"))
    );
    for (name, data) in events.iter().filter(|(n, _)| n.contains("output_text")) {
        assert_eq!(data["item_id"], item["id"], "{name}: {data}");
        assert_eq!(
            (&data["output_index"], &data["content_index"]),
            (&json!(0), &json!(0))
        );
    }
    assert_eq!(
        event(&events, "response.output_text.done")["text"],
        "Two files."
    );
    let done = &event(&events, "response.output_item.done")["item"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["content"][0]["text"], "Two files.");
    let completed = &event(&events, "response.completed")["response"];
    assert_eq!(
        (completed["id"].as_str(), &completed["status"]),
        (Some(id.as_str()), &json!("completed"))
    );
    assert_eq!(output_text(completed), "Two files.");
    assert_eq!(
        (
            &completed["usage"]["input_tokens"],
            &completed["usage"]["output_tokens"],
            &completed["usage"]["total_tokens"]
        ),
        (&json!(10), &json!(7), &json!(17))
    );

    let sent = &app.mock(0).requests()[0].body;
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
    // A streamed response is stored too, once it has completed.
    eventually("the streamed response is stored", || {
        let id = id.clone();
        let app = &app;
        async move { retrieve(app, &app.api_key, &id).await.status() == 200 }
    })
    .await;
    let stored: Value = retrieve(&app, &app.api_key, &id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["status"], "completed");
    assert_eq!(output_text(&stored), "Two files.");
    app.stop().await;
}

#[tokio::test]
async fn a_streamed_tool_call_becomes_a_function_call_item() {
    let app = app(1).await;
    let arguments = r#"{"city":"Paris","unit":"celsius"}"#;
    app.mock(0)
        .push(Behavior::ok().with_tool_call("get_weather", arguments));
    let body = json!({"model": "mock-chat", "input": "Weather?", "tools": [weather_tool()], "stream": true});
    let events = events(create(&app, &app.api_key, body).await).await;
    let shape: Vec<&str> = names(&events)
        .into_iter()
        .filter(|n| *n != "response.function_call_arguments.delta")
        .collect();
    assert_eq!(
        shape,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let item = &event(&events, "response.output_item.added")["item"];
    assert_eq!(item["type"], "function_call");
    assert_eq!(
        (&item["name"], &item["call_id"]),
        (&json!("get_weather"), &json!("call_mock_1"))
    );
    assert!(item["id"].as_str().unwrap().starts_with("fc_"), "{item}");
    assert_eq!(
        deltas(&events, "response.function_call_arguments.delta"),
        arguments
    );
    assert_eq!(
        event(&events, "response.function_call_arguments.done")["arguments"],
        arguments
    );
    let output = &event(&events, "response.completed")["response"]["output"];
    assert_eq!(output.as_array().unwrap().len(), 1, "{output}");
    assert_eq!(output[0]["type"], "function_call");
    assert_eq!(output[0]["arguments"], arguments);
    assert_eq!(output[0]["status"], "completed");
    app.stop().await;
}

/// The first provider fails before any content in some way; the client sees only the second
/// provider's clean stream.
async fn fails_over_before_the_first_token(first: Behavior, outcome: &str) {
    let app = app(2).await;
    app.mock(0).push(first.with_reply("FIRST PROVIDER"));
    app.mock(1).set_default(Behavior::reply("from the second"));
    let response = create(
        &app,
        &app.api_key,
        json!({"model": "mock-chat", "input": "hi", "stream": true}),
    )
    .await;
    assert_eq!(header(&response, "x-freeway-route"), "mock1/mock-chat");
    assert_eq!(header(&response, "x-freeway-attempts"), "2");
    let events = events(response).await;
    assert_eq!(
        deltas(&events, "response.output_text.delta"),
        "from the second"
    );
    // One response, created once, by the route that served it.
    let created = names(&events)
        .iter()
        .filter(|n| **n == "response.created")
        .count();
    assert_eq!(created, 1);
    assert_eq!(names(&events).last(), Some(&"response.completed"));
    let rows = rows(&app, 1).await;
    let (endpoint, status, error, stream, _, _, trail) = &rows[0];
    assert_eq!(
        (endpoint.as_str(), *status, error.as_deref(), *stream),
        ("responses", 200, None, true)
    );
    assert_eq!(
        outcomes(trail),
        [format!("mock0:{outcome}"), "mock1:ok".into()]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_responses_stream_fails_over_an_empty_stream() {
    fails_over_before_the_first_token(Behavior::empty_stream(), "empty_stream").await;
}

#[tokio::test]
async fn a_responses_stream_fails_over_an_in_band_error() {
    fails_over_before_the_first_token(Behavior::in_band_error(), "in_band_error").await;
}

#[tokio::test]
async fn a_responses_stream_fails_over_a_rate_limit() {
    fails_over_before_the_first_token(Behavior::rate_limited(3), "rate_limited").await;
}

#[tokio::test]
async fn a_responses_stream_broken_after_its_first_token_ends_with_response_failed() {
    let app = app(2).await;
    app.mock(0).push(Behavior::ok().disconnect_after(2));
    let response = create(
        &app,
        &app.api_key,
        json!({"model": "mock-chat", "input": "hi", "stream": true}),
    )
    .await;
    assert_eq!(header(&response, "x-freeway-route"), "mock0/mock-chat");
    let events = events(response).await;
    assert_eq!(deltas(&events, "response.output_text.delta"), "Hello from");
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "response.failed");
    let failed = &data["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["id"],
        event(&events, "response.created")["response"]["id"]
    );
    assert!(
        failed["error"]["code"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{failed}"
    );
    assert!(
        failed["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{failed}"
    );
    assert!(!names(&events).contains(&"response.completed"));
    // Committed: the client already had content, so there is no second provider.
    assert_eq!(app.mock(1).request_count(), 0);
    let rows = rows(&app, 1).await;
    assert_eq!(rows[0].2.as_deref(), Some("stream_interrupted"));
    assert_eq!(outcomes(&rows[0].6), ["mock0:stream_broken"]);
    app.stop().await;
}

#[tokio::test]
async fn previous_response_id_prepends_the_stored_conversation() {
    let app = app(1).await;
    let first = create_ok(
        &app,
        json!({"model": "mock-chat", "instructions": "Be brief.", "input": "My name is Ada."}),
    )
    .await;
    let second = create_ok(
        &app,
        json!({"model": "mock-chat", "instructions": "Answer in French.",
        "input": "What is my name?", "previous_response_id": first["id"]}),
    )
    .await;
    assert_eq!(second["previous_response_id"], first["id"]);
    let third = create_ok(
        &app,
        json!({"model": "mock-chat", "previous_response_id": second["id"],
        "input": [{"role": "user", "content": "Thanks"}]}),
    )
    .await;
    assert_eq!(output_text(&third), REPLY);

    let sent: Vec<Value> = app.mock(0).requests().into_iter().map(|r| r.body).collect();
    assert_eq!(
        conversation(&sent[1]),
        turns(&[
            ("user", "My name is Ada."),
            ("assistant", REPLY),
            ("user", "What is my name?")
        ])
    );
    assert!(
        sent[1]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["role"] == "system" && text_of(&m["content"]) == "Answer in French."),
        "the new instructions are the system message: {}",
        sent[1]
    );
    assert_eq!(
        conversation(&sent[2]),
        turns(&[
            ("user", "My name is Ada."),
            ("assistant", REPLY),
            ("user", "What is my name?"),
            ("assistant", REPLY),
            ("user", "Thanks")
        ])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_function_call_round_trip_continues_from_the_stored_response() {
    let app = app(1).await;
    app.mock(0)
        .push(Behavior::ok().with_tool_call("get_weather", r#"{"city":"Paris"}"#));
    let called = create_ok(
        &app,
        json!({"model": "mock-chat", "input": "Weather in Paris?",
        "tools": [weather_tool()]}),
    )
    .await;
    let output = called["output"].as_array().unwrap();
    assert_eq!(output.len(), 1, "{called}");
    let call = &output[0];
    assert!(call["id"].as_str().unwrap().starts_with("fc_"), "{call}");
    assert_eq!(
        json!({"type": call["type"], "call_id": call["call_id"], "name": call["name"],
               "arguments": call["arguments"], "status": call["status"]}),
        json!({"type": "function_call", "call_id": "call_mock_1", "name": "get_weather",
               "arguments": "{\"city\":\"Paris\"}", "status": "completed"})
    );
    let answer = create_ok(&app, json!({"model": "mock-chat", "previous_response_id": called["id"],
        "tools": [weather_tool()],
        "input": [{"type": "function_call_output", "call_id": "call_mock_1", "output": "18 C, sunny"}]}))
    .await;
    assert_eq!(output_text(&answer), REPLY);

    let sent = &app.mock(0).requests()[1].body;
    let messages: Vec<&Value> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .collect();
    assert_eq!(messages.len(), 3, "{sent}");
    assert_eq!(
        (&messages[0]["role"], text_of(&messages[0]["content"])),
        (&json!("user"), "Weather in Paris?".into())
    );
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(
        messages[1]["tool_calls"],
        json!([{"id": "call_mock_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}])
    );
    assert_eq!(
        (
            &messages[2]["role"],
            &messages[2]["tool_call_id"],
            &messages[2]["content"]
        ),
        (&json!("tool"), &json!("call_mock_1"), &json!("18 C, sunny"))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_stored_response_is_retrieved_only_with_the_key_that_made_it() {
    let app = app(1).await;
    let created = create_ok(&app, json!({"model": "mock-chat", "input": "Remember me."})).await;
    let id = created["id"].as_str().unwrap();
    let mine = retrieve(&app, &app.api_key, id).await;
    assert_eq!(mine.status(), 200);
    assert_eq!(mine.json::<Value>().await.unwrap(), created);

    let same_member = known_key(&app, &app.member).await;
    let (_, bob) = add_member(&app.db, "other-team", "bob").await;
    let other_tenant = known_key(&app, &bob).await;
    let unknown = "resp_0123456789abcdef0123456789abcdef";
    let never = answer_without(retrieve(&app, &app.api_key, unknown).await, unknown).await;
    assert_eq!(never.0, 404);
    assert_eq!(
        serde_json::from_str::<Value>(&never.1.replace("<id>", unknown)).unwrap(),
        response_not_found(unknown)
    );
    for key in [&same_member, &other_tenant] {
        let elsewhere = answer_without(retrieve(&app, key, id).await, id).await;
        assert_eq!(elsewhere, never, "a response kept for another key leaks");
    }
    let anonymous = app
        .client
        .get(format!("{}/v1/responses/{id}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn previous_response_id_of_another_key_or_tenant_is_answered_as_unknown() {
    let app = app(1).await;
    let created = create_ok(&app, json!({"model": "mock-chat", "input": "Remember me."})).await;
    let id = created["id"].as_str().unwrap();
    let unstored = create_ok(
        &app,
        json!({"model": "mock-chat", "input": "Forget me.", "store": false}),
    )
    .await;
    let unstored_id = unstored["id"].as_str().unwrap();
    let same_member = known_key(&app, &app.member).await;
    let (_, bob) = add_member(&app.db, "other-team", "bob").await;
    let other_tenant = known_key(&app, &bob).await;
    let go_on = |previous: &str| json!({"model": "mock-chat", "input": "Go on.", "previous_response_id": previous});

    let unknown = "resp_0123456789abcdef0123456789abcdef";
    let never = answer_without(create(&app, &app.api_key, go_on(unknown)).await, unknown).await;
    assert_eq!(never.0, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&never.1.replace("<id>", unknown)).unwrap(),
        previous_not_found(unknown)
    );
    for key in [&same_member, &other_tenant] {
        let elsewhere = answer_without(create(&app, key, go_on(id)).await, id).await;
        assert_eq!(elsewhere, never, "a response kept for another key leaks");
    }
    let forgotten = answer_without(
        create(&app, &app.api_key, go_on(unstored_id)).await,
        unstored_id,
    )
    .await;
    assert_eq!(forgotten, never);
    assert_eq!(
        app.mock(0).request_count(),
        2,
        "a refused continuation reached the provider"
    );
    // The key that made it may continue it.
    assert_eq!(create(&app, &app.api_key, go_on(id)).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_response_made_with_store_false_is_not_kept() {
    let app = app(1).await;
    let kept = create_ok(&app, json!({"model": "mock-chat", "input": "Keep me."})).await;
    let unstored = create_ok(
        &app,
        json!({"model": "mock-chat", "input": "Forget me.", "store": false}),
    )
    .await;
    assert_eq!(unstored["store"], false);
    assert_eq!(output_text(&unstored), REPLY);
    let id = unstored["id"].as_str().unwrap();
    let count = |id: String| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM responses WHERE id = $1")
                .bind(id)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    let kept_id = kept["id"].as_str().unwrap().to_string();
    eventually("the kept response is stored", || {
        let count = &count;
        let kept_id = kept_id.clone();
        async move { count(kept_id).await == 1 }
    })
    .await;
    assert_eq!(count(id.to_string()).await, 0);
    let gone = retrieve(&app, &app.api_key, id).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(gone.json::<Value>().await.unwrap(), response_not_found(id));
    app.stop().await;
}

/// A 400 in OpenAI's shape (`error` with exactly message, type, param, code); its `error`.
async fn bad_request(response: reqwest::Response) -> Value {
    let status = response.status();
    assert!(header(&response, "content-type").starts_with("application/json"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 400, "{body}");
    let mut keys: Vec<&String> = body["error"].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["code", "message", "param", "type"], "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    body["error"].clone()
}

#[tokio::test]
async fn bad_responses_requests_are_refused_naming_the_field_before_any_provider() {
    let app = app(1).await;
    let hi = json!({"role": "user", "content": "hi"});
    // (body, param or its start, code if specified, words of the message)
    let cases = [
        (json!({"input": "hi"}), "model", None, ""),
        (
            json!({"model": "mock-chat", "input": [{"type": "hologram"}]}),
            "input[0]",
            None,
            "",
        ),
        (
            json!({"model": "mock-chat", "input": [hi.clone(), {"type": "hologram", "x": 1}]}),
            "input[1]",
            None,
            "",
        ),
        (
            json!({"model": "mock-chat", "input": "hi", "tools": [{"type": "web_search"}]}),
            "tools[0].type",
            Some("unsupported_tool"),
            "web_search",
        ),
        (
            json!({"model": "mock-chat", "input": "hi", "stream": true, "tools": [{"type": "web_search"}]}),
            "tools[0].type",
            Some("unsupported_tool"),
            "web_search",
        ),
        (
            json!({"model": "mock-chat", "input": "hi",
                "tools": [weather_tool(), {"type": "file_search", "vector_store_ids": ["vs_1"]}]}),
            "tools[1].type",
            Some("unsupported_tool"),
            "file_search",
        ),
        (
            json!({"model": "mock-chat", "input": "hi", "tools": [{"type": "computer_use_preview",
                "display_width": 1024, "display_height": 768, "environment": "browser"}]}),
            "tools[0].type",
            Some("unsupported_tool"),
            "computer_use_preview",
        ),
        (
            json!({"model": "mock-chat", "input": [hi,
                {"type": "function_call_output", "call_id": "call_nowhere", "output": "42"}]}),
            "input",
            None,
            "",
        ),
    ];
    for (body, param, code, words) in cases {
        let error = bad_request(create(&app, &app.api_key, body.clone()).await).await;
        let got = error["param"].as_str().unwrap_or_default();
        if param.ends_with(']') {
            assert!(got.starts_with(param), "param {got:?} for {body}");
        } else {
            assert_eq!(got, param, "{body}: {error}");
        }
        if let Some(code) = code {
            assert_eq!(error["code"], code, "{body}");
        }
        assert!(
            error["message"].as_str().unwrap().contains(words),
            "{error}"
        );
    }
    let anonymous = app
        .client
        .post(format!("{}/v1/responses", app.address))
        .json(&json!({"model": "mock-chat", "input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        app.mock(0).request_count(),
        0,
        "{:?}",
        app.mock(0).requests()
    );
    app.stop().await;
}

#[tokio::test]
async fn each_responses_request_is_one_usage_event() {
    let app = app(1).await;
    let whole = create(
        &app,
        &app.api_key,
        json!({"model": "mock-chat", "input": "hi"}),
    )
    .await;
    let whole_id = uuid::Uuid::parse_str(&header(&whole, "x-request-id")).unwrap();
    assert_eq!(whole.status(), 200);
    let streamed = create(
        &app,
        &app.api_key,
        json!({"model": "mock-chat", "input": "hi", "stream": true}),
    )
    .await;
    let streamed_id = uuid::Uuid::parse_str(&header(&streamed, "x-request-id")).unwrap();
    events(streamed).await;
    let rows = rows(&app, 2).await;
    for (endpoint, status, error, _, prompt, completion, trail) in &rows {
        assert_eq!(
            (endpoint.as_str(), *status, error.as_deref()),
            ("responses", 200, None)
        );
        assert_eq!((*prompt, *completion), (Some(10), Some(7)));
        assert_eq!(outcomes(trail), ["mock0:ok"]);
    }
    for (id, stream) in [(whole_id, false), (streamed_id, true)] {
        let (recorded, requested, key): (bool, Option<String>, Option<uuid::Uuid>) =
            sqlx::query_as(
                "SELECT stream, requested_model, api_key_id FROM usage_events WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&app.db)
            .await
            .expect("the usage event's id is the x-request-id");
        assert_eq!(
            (recorded, requested.as_deref()),
            (stream, Some("mock-chat"))
        );
        assert!(key.is_some());
    }
    app.stop().await;
}

/// The upstream requests' bodies whose messages include a tool answer `content`.
fn tool_round_trips(app: &TestApp, content: &str) -> Vec<Value> {
    app.mock(0)
        .requests()
        .into_iter()
        .map(|r| r.body)
        .filter(|b| {
            b["messages"].as_array().is_some_and(|m| {
                m.iter()
                    .any(|m| m["role"] == "tool" && m["content"] == content)
            })
        })
        .collect()
}

/// The assistant's tool call just before the tool answer is the one the answer names.
fn assert_answers_its_call(body: &Value, content: &str) {
    let messages = body["messages"].as_array().unwrap();
    let at = messages
        .iter()
        .position(|m| m["role"] == "tool" && m["content"] == content)
        .unwrap();
    let call = &messages[at - 1]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather", "{body}");
    assert_eq!(messages[at]["tool_call_id"], call["id"], "{body}");
    assert_eq!(call["id"], "call_mock_1", "{body}");
}

fn sdk_env(app: &TestApp) -> Vec<(&'static str, String)> {
    vec![
        ("FREEWAY_URL", app.address.clone()),
        ("FREEWAY_API_KEY", app.api_key.clone()),
        (
            "FREEWAY_MOCK_URL",
            app.mock(0).base_url().trim_end_matches("/v1").to_string(),
        ),
    ]
}

#[tokio::test]
async fn the_official_openai_python_sdk_creates_streams_calls_functions_and_retrieves() {
    let app = app(1).await;
    let (ok, output) = crate::contract::run(
        "the official openai Python SDK on /v1/responses",
        "\"$FREEWAY_TOOLS_VENV/bin/python\" scripts/contract/openai_responses.py",
        &sdk_env(&app),
    )
    .await;
    assert!(ok, "{output}");
    for answer in ["18 C, sunny", "-3 C, snow"] {
        let round_trips = tool_round_trips(&app, answer);
        assert_eq!(round_trips.len(), 1, "{answer}");
        assert_answers_its_call(&round_trips[0], answer);
    }
    let sent: Vec<Value> = app.mock(0).requests().into_iter().map(|r| r.body).collect();
    assert!(
        sent.iter().any(|b| conversation(b)
            == turns(&[
                ("user", "My name is Ada."),
                ("assistant", REPLY),
                ("user", "What is my name?")
            ])),
        "no request continued the conversation"
    );
    // The refused requests never reached the provider.
    let all = serde_json::to_string(&sent).unwrap();
    assert!(
        !all.contains("Search the web.") && !all.contains("Go on."),
        "{all}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_official_openai_node_sdk_creates_streams_calls_functions_and_retrieves() {
    let app = app(1).await;
    let (ok, output) = crate::contract::run(
        "the official openai npm SDK on /v1/responses",
        "node scripts/contract/responses.mjs",
        &sdk_env(&app),
    )
    .await;
    assert!(ok, "{output}");
    let round_trips = tool_round_trips(&app, "18 C, sunny");
    assert_eq!(round_trips.len(), 1);
    assert_answers_its_call(&round_trips[0], "18 C, sunny");
    let all = serde_json::to_string(
        &app.mock(0)
            .requests()
            .into_iter()
            .map(|r| r.body)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(!all.contains("Go on."), "{all}");
    app.stop().await;
}
