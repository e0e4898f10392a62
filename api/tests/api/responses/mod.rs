//! OpenAI's Responses API at `/v1/responses`: translated to a chat request for the pool's
//! providers and back, through the same pipeline as chat (failover before the first token,
//! `response.failed` after it, usage events), stored per api key for `GET /v1/responses/{id}`
//! and `previous_response_id`, with OpenAI's errors.

use serde_json::{Value, json};

use crate::helpers::{
    Spawn, TestApp, add_member, create_key, eventually, header, owned_pairs, spawn_with,
    trail_outcomes,
};

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

mod answers;
mod sdk;
mod storage;
