//! Answers: the request the provider gets, the Response object, the stream's events,
//! failover before the first token and `response.failed` after it.

use freeway::mock::Behavior;
use serde_json::{Value, json};

use super::*;

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
    uuid::Uuid::parse_str(header(&response, "x-request-id")).unwrap();
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
    assert_eq!(conversation(sent), owned_pairs(&[("user", "Say hello.")]));
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
        trail_outcomes(trail),
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
    assert_eq!(trail_outcomes(&rows[0].6), ["mock0:stream_broken"]);
    app.stop().await;
}
