//! The official openai SDKs, Python and Node, against `/v1/responses`.

use serde_json::Value;

use super::*;

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
            == owned_pairs(&[
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
