//! `x-request-id` on every surface: a well-formed id from the client is kept (answered,
//! recorded, sent to the provider, named in error bodies); a malformed or missing one is
//! replaced by an id of Freeway's own, which on `/v1` is the usage event's id.

use freeway::mock::Behavior;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Spawn, TestApp, chat_body, spawn_app, spawn_with};

const CLIENT_ID: &str = "client-req.42:a_b";

fn answered(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .unwrap_or_else(|| panic!("no x-request-id on {}", response.url()))
        .to_str()
        .unwrap()
        .to_string()
}

async fn send(app: &TestApp, method: Method, path: &str, id: Option<&str>) -> reqwest::Response {
    let mut request = app.client.request(method, format!("{}{path}", app.address));
    if let Some(id) = id {
        request = request.header("x-request-id", id);
    }
    request.send().await.unwrap()
}

async fn chat_with_id(app: &TestApp, body: Value, id: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/v1/chat/completions", app.address))
        .bearer_auth(&app.api_key)
        .header("x-request-id", id)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The usage event's `(id, request_id)` of the only event written.
async fn only_event(app: &TestApp) -> (Uuid, Option<String>) {
    app.wait_for_usage(1).await;
    sqlx::query_as("SELECT id, request_id FROM usage_events")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_id_is_kept_on_a_json_answer_recorded_and_sent_on_every_attempt() {
    let app = spawn_with(Spawn {
        providers: 2,
        ..Spawn::default()
    })
    .await;
    app.mock(0).push(Behavior::status(500));
    let response = chat_with_id(&app, chat_body("mock-model"), CLIENT_ID).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-freeway-attempts"], "2");
    assert_eq!(answered(&response), CLIENT_ID);
    for mock in [0, 1] {
        let requests = app.mock(mock).requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(
            requests[0].header("x-request-id"),
            Some(CLIENT_ID),
            "mock{mock}"
        );
    }

    let (event_id, request_id) = only_event(&app).await;
    assert_eq!(request_id.as_deref(), Some(CLIENT_ID));
    // The admin's request log finds the event by the id the client knows.
    let token = app.admin_token().await;
    let entry: freeway_wire::usage::RequestEntry = app
        .admin_ok(
            Method::GET,
            &format!("/admin/v1/requests/{CLIENT_ID}"),
            &token,
            None,
        )
        .await;
    assert_eq!(entry.id, event_id);
    assert_eq!(entry.request_id, CLIENT_ID);
    app.stop().await;
}

#[tokio::test]
async fn a_client_id_is_kept_on_a_stream_and_sent_upstream() {
    let app = spawn_app().await;
    app.mock(0)
        .set_default(Behavior::ok().with_chunks(["a", "b"]));
    let mut body = chat_body("mock-model");
    body["stream"] = json!(true);
    let response = chat_with_id(&app, body, CLIENT_ID).await;
    assert_eq!(response.status(), 200);
    assert_eq!(answered(&response), CLIENT_ID);
    assert!(response.text().await.unwrap().contains("[DONE]"));
    assert_eq!(
        app.mock(0).requests()[0].header("x-request-id"),
        Some(CLIENT_ID)
    );
    assert_eq!(only_event(&app).await.1.as_deref(), Some(CLIENT_ID));
    app.stop().await;
}

#[tokio::test]
async fn a_client_id_is_kept_on_errors_and_named_in_anthropic_error_bodies() {
    let app = spawn_app().await;
    // No key: a 401 in OpenAI's shape.
    let response = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .header("x-request-id", CLIENT_ID)
        .json(&chat_body("mock-model"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(answered(&response), CLIENT_ID);
    // An unknown /v1 path.
    let response = send(&app, Method::GET, "/v1/nothing-here", Some(CLIENT_ID)).await;
    assert_eq!(response.status(), 404);
    assert_eq!(answered(&response), CLIENT_ID);
    // Anthropic's error shape carries the id in its body and in `request-id`.
    let response = app
        .client
        .post(format!("{}/v1/messages", app.address))
        .header("x-api-key", &app.api_key)
        .header("anthropic-version", "2023-06-01")
        .header("x-request-id", CLIENT_ID)
        .json(&json!({"model": "mock-model", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(answered(&response), CLIENT_ID);
    assert_eq!(response.headers()["request-id"], CLIENT_ID);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["request_id"], CLIENT_ID, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn every_surface_answers_a_request_id_kept_or_made() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for (method, path) in [
        (Method::GET, "/healthz"),
        (Method::GET, "/readyz"),
        (Method::GET, "/admin/v1/me"),
        (Method::GET, "/admin/v1/openapi.json"),
        (Method::GET, "/"),
        (Method::GET, "/requests"),
        (Method::POST, "/no-such-thing"),
        (Method::GET, "/admin/v1/no-such-thing"),
        (Method::OPTIONS, "/v1/chat/completions"),
    ] {
        let kept = send(&app, method.clone(), path, Some(CLIENT_ID)).await;
        assert_eq!(answered(&kept), CLIENT_ID, "{method} {path}");
        let made = send(&app, method.clone(), path, None).await;
        let made = Uuid::parse_str(&answered(&made))
            .unwrap_or_else(|_| panic!("{method} {path}: not a UUID"));
        assert_eq!(made.get_version_num(), 7, "{method} {path}");
    }
    let me = app
        .client
        .get(format!("{}/admin/v1/me", app.address))
        .bearer_auth(&token)
        .header("x-request-id", CLIENT_ID)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(answered(&me), CLIENT_ID);
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_id_is_replaced_by_the_usage_event_id() {
    let app = spawn_app().await;
    let too_long = "x".repeat(freeway::telemetry::REQUEST_ID_MAX_LEN + 1);
    let malformed = ["has space", "semi;colon", "", too_long.as_str()];
    for (sent, id) in malformed.iter().enumerate() {
        let response = chat_with_id(&app, chat_body("mock-model"), id).await;
        assert_eq!(response.status(), 200);
        let answered = answered(&response);
        assert_ne!(&answered, id);
        let own = Uuid::parse_str(&answered).unwrap();
        let requests = app.mock(0).requests();
        assert_eq!(
            requests[sent].header("x-request-id"),
            Some(answered.as_str()),
            "the provider gets the replacement of {id:?}"
        );
        app.wait_for_usage(sent as i64 + 1).await;
        let request_id: Option<String> =
            sqlx::query_scalar("SELECT request_id FROM usage_events WHERE id = $1")
                .bind(own)
                .fetch_one(&app.db)
                .await
                .expect("the replacement is the usage event's id");
        assert_eq!(request_id, None);
    }
    app.stop().await;
}
