//! `/v1/models` describes every model and every name standing for several: context window,
//! modality, capabilities, providers, families, and the aliases and mappings a key may use.

use serde_json::{Value, json};

use crate::helpers::{Spawn, TestApp, create_key, eventually, spawn_with};

async fn app() -> TestApp {
    let app = spawn_with(Spawn {
        providers: 2,
        model: "mock-chat".into(),
        ..Spawn::default()
    })
    .await;
    // The second provider's copy says less: the model's own description is the first's.
    app.restart_after(async |db| {
        sqlx::query(
            "UPDATE models SET context_window = CASE WHEN m.provider_id = p.id AND p.name = 'mock0'
                THEN 32768 ELSE 8192 END, supports_tools = (p.name = 'mock0')
             FROM models m JOIN providers p ON p.id = m.provider_id WHERE models.id = m.id",
        )
        .execute(db)
        .await
        .unwrap();
    })
    .await
}

async fn get(app: &TestApp, path: &str, key: &str, anthropic: bool) -> (u16, Value) {
    let mut request = app
        .client
        .get(format!("{}{path}", app.address))
        .bearer_auth(key);
    if anthropic {
        request = request.header("anthropic-version", "2023-06-01");
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn entry<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not listed: {list}"))
}

#[tokio::test]
async fn models_aliases_and_mappings_describe_themselves() {
    let app = app().await;
    let (status, list) = get(&app, "/v1/models", &app.api_key, false).await;
    assert_eq!(status, 200);
    assert_eq!(list["object"], "list");

    let model = entry(&list, "mock-chat");
    assert_eq!(model["object"], "model");
    assert_eq!(model["owned_by"], "mock0");
    assert_eq!(model["kind"], "model");
    assert_eq!(model["modality"], "chat");
    assert_eq!(model["context_window"], 32768);
    assert_eq!(model["context_length"], 32768);
    assert_eq!(
        model["capabilities"],
        json!({"tools": true, "vision": true, "json": true})
    );
    assert_eq!(model["providers"], json!(["mock0", "mock1"]));

    let auto = entry(&list, "auto");
    assert_eq!(auto["kind"], "auto");
    assert_eq!(auto["owned_by"], "freeway");
    assert_eq!(auto["models"], json!(["mock-chat"]));
    assert_eq!(auto["providers"], json!(["mock0", "mock1"]));
    assert_eq!(auto["context_window"], 32768);
    assert_eq!(auto["capabilities"]["tools"], true);
    assert_eq!(auto["created"], model["created"]);

    let mapping = entry(&list, "claude-*");
    assert_eq!(mapping["kind"], "mapping");
    assert_eq!(mapping["target"], "auto");
    assert_eq!(mapping["context_window"], 32768);

    // Each answers on its own, and so does a name a mapping serves.
    for (id, kind) in [
        ("mock-chat", "model"),
        ("auto", "auto"),
        ("claude-*", "mapping"),
    ] {
        let (status, one) = get(&app, &format!("/v1/models/{id}"), &app.api_key, false).await;
        assert_eq!(status, 200, "{id}");
        assert_eq!(&one, entry(&list, id), "{id}");
        assert_eq!(one["kind"], kind);
    }
    let (status, claude) = get(&app, "/v1/models/claude-sonnet-4-5", &app.api_key, false).await;
    assert_eq!(status, 200);
    assert_eq!(claude["id"], "claude-sonnet-4-5");
    assert_eq!(
        (&claude["kind"], &claude["target"]),
        (&json!("mapping"), &json!("auto"))
    );
    assert_eq!(claude["context_length"], 32768);
    let (status, missing) = get(&app, "/v1/models/gpt-nope", &app.api_key, false).await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["code"], "model_not_found");
    app.stop().await;
}

#[tokio::test]
async fn with_an_anthropic_version_header_models_come_in_anthropics_shape() {
    let app = app().await;
    let (status, page) = get(&app, "/v1/models", &app.api_key, true).await;
    assert_eq!(status, 200);
    assert_eq!(page["has_more"], false);
    let ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let autos = ids.iter().filter(|id| id.starts_with("auto:")).count();
    assert_eq!(autos, freeway_wire::routing::Strategy::AUTO_NAMES.len());
    let others: Vec<&str> = ids
        .into_iter()
        .filter(|id| !id.starts_with("auto:"))
        .collect();
    assert_eq!(others, ["mock-chat", "auto", "claude-*"]);
    assert_eq!(page["first_id"], "mock-chat");
    assert_eq!(page["last_id"], "claude-*");
    let first = &page["data"][0];
    assert_eq!(first["type"], "model");
    assert_eq!(first["display_name"], "mock-chat");
    assert!(chrono::DateTime::parse_from_rfc3339(first["created_at"].as_str().unwrap()).is_ok());
    let (status, one) = get(&app, "/v1/models/claude-opus-4-1", &app.api_key, true).await;
    assert_eq!(status, 200);
    assert_eq!(
        one,
        json!({"type": "model", "id": "claude-opus-4-1", "display_name": "claude-opus-4-1",
        "created_at": first["created_at"]})
    );
    app.stop().await;
}

#[tokio::test]
async fn a_key_sees_only_the_names_it_may_use() {
    let app = app().await;
    let auto_only = create_key(&app.db, &app.member, Some(vec!["auto".into()]), None).await;
    let model_only = create_key(&app.db, &app.member, Some(vec!["mock-chat".into()]), None).await;
    eventually("the keys are known", || {
        let app = &app;
        let key = model_only.clone();
        async move { get(app, "/v1/models", &key, false).await.0 == 200 }
    })
    .await;
    let ids = |list: Value| -> Vec<String> {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    // A key that may use `auto` may use the names mapped to it.
    assert_eq!(
        ids(get(&app, "/v1/models", &auto_only, false).await.1),
        ["auto", "claude-*"]
    );
    assert_eq!(
        ids(get(&app, "/v1/models", &model_only, false).await.1),
        ["mock-chat"]
    );
    assert_eq!(
        get(&app, "/v1/models/claude-x", &model_only, false).await.0,
        404
    );
    assert_eq!(
        get(&app, "/v1/models/claude-x", &auto_only, false).await.0,
        200
    );
    assert_eq!(
        get(&app, "/v1/models/mock-chat", &auto_only, false).await.0,
        404
    );
    app.stop().await;
}
