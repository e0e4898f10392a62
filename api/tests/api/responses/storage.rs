//! Stored responses: `previous_response_id`, `GET`, `store: false`, what other keys and
//! tenants see, bad input and the usage event.

use freeway::mock::Behavior;
use serde_json::{Value, json};

use super::*;

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
        owned_pairs(&[
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
        owned_pairs(&[
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
    let whole_id = uuid::Uuid::parse_str(header(&whole, "x-request-id")).unwrap();
    assert_eq!(whole.status(), 200);
    let streamed = create(
        &app,
        &app.api_key,
        json!({"model": "mock-chat", "input": "hi", "stream": true}),
    )
    .await;
    let streamed_id = uuid::Uuid::parse_str(header(&streamed, "x-request-id")).unwrap();
    events(streamed).await;
    let rows = rows(&app, 2).await;
    for (endpoint, status, error, _, prompt, completion, trail) in &rows {
        assert_eq!(
            (endpoint.as_str(), *status, error.as_deref()),
            ("responses", 200, None)
        );
        assert_eq!((*prompt, *completion), (Some(10), Some(7)));
        assert_eq!(trail_outcomes(trail), ["mock0:ok"]);
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
