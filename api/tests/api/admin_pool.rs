//! The pool through the admin API: providers, models, credentials (write-only secrets and a
//! test call), routing profiles, routing state and cooldowns; instance admins only.

use freeway::admin::auth::hash_password;
use freeway::mock::{Behavior, MockUpstream};
use freeway::store::admin_users::{NewAdminUser, create};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, chat_body, eventually, spawn_app};

const SECRET: &str = "sk-live-very-secret-0123456789";

fn assert_error(status: u16, body: &Value, expected: u16, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
}

fn assert_invalid(status: u16, body: &Value, field: &str) {
    assert_error(status, body, 422, "invalid_field");
    assert_eq!(body["error"]["field"], field, "{body}");
}

async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.admin(method, path, Some(token), body).await
}

#[tokio::test]
async fn a_pool_built_through_the_api_serves_chat_and_never_shows_the_secret() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let mock = MockUpstream::start().await.unwrap();

    // Arrange: provider, model and credential, through plain HTTP.
    let (status, provider) = call(
        &app,
        &token,
        Method::POST,
        "/admin/v1/providers",
        Some(
            json!({"name": "fresh", "base_url": format!("{}/", mock.base_url()),
                    "priority": 1, "limits": {"rpm": 1000}, "daily_reset_tz": "Europe/Paris"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{provider}");
    assert_eq!(
        provider["base_url"],
        mock.base_url(),
        "trailing slash dropped"
    );
    assert_eq!(provider["origin"], "custom");
    assert_eq!(provider["limits"]["rpm"], 1000);
    let provider_id = provider["id"].as_str().unwrap().to_string();

    let (status, model) = call(
        &app,
        &token,
        Method::POST,
        "/admin/v1/providers/fresh/models",
        Some(json!({"model_id": "fresh-model", "supports_tools": true, "context_window": 8192})),
    )
    .await;
    assert_eq!(status, 201, "{model}");
    assert_eq!(model["modality"], "chat");
    let model_id = model["id"].as_str().unwrap().to_string();

    let (status, credential) = call(
        &app,
        &token,
        Method::POST,
        &format!("/admin/v1/providers/{provider_id}/credentials"),
        Some(json!({"name": "ci", "secret": SECRET})),
    )
    .await;
    assert_eq!(status, 201, "{credential}");
    assert_eq!(credential["last4"], "6789");
    let credential_id = credential["id"].as_str().unwrap().to_string();
    let mut seen = vec![provider, model, credential];

    // Act: the member key reaches the new route once every instance reloaded.
    eventually("the new provider serves chat", || async {
        app.chat(chat_body("fresh-model")).await.status() == 200
    })
    .await;
    let upstream = mock.requests();
    let sent = upstream
        .iter()
        .find(|r| r.path == "/v1/chat/completions")
        .unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );

    // The test call answers with what the provider said.
    let (status, tested) = call(
        &app,
        &token,
        Method::POST,
        &format!("/admin/v1/providers/fresh/credentials/{credential_id}/test"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["ok"], true);
    assert_eq!(tested["status"], 200);
    assert_eq!(tested["probe"], "chat_completion");
    assert_eq!(tested["model"], "fresh-model");
    assert_eq!(tested["message"], "Hello from the mock upstream.");
    assert!(tested["latency_ms"].is_u64());
    seen.push(tested);

    // Reads and edits.
    for path in [
        "/admin/v1/providers".to_string(),
        format!("/admin/v1/providers/{provider_id}"),
        "/admin/v1/providers/fresh/models".into(),
        "/admin/v1/providers/fresh/credentials".into(),
        "/admin/v1/routing/state".into(),
    ] {
        let (status, body) = call(&app, &token, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        seen.push(body);
    }
    let (_, listed) = call(
        &app,
        &token,
        Method::GET,
        "/admin/v1/providers/fresh/credentials",
        None,
    )
    .await;
    assert_eq!(listed["data"][0]["id"], credential_id.as_str());
    assert!(listed["data"][0].get("secret").is_none());
    let (_, state) = call(&app, &token, Method::GET, "/admin/v1/routing/state", None).await;
    assert!(
        state["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["label"] == "fresh/fresh-model via …6789"
                && s["requests_last_minute"].as_u64() >= Some(1)),
        "{state}"
    );

    let (status, patched) = call(
        &app,
        &token,
        Method::PATCH,
        "/admin/v1/providers/fresh",
        Some(json!({"priority": 5, "timeout_ms": 10000, "limits": {"tpm": 50000}})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["priority"], 5);
    assert_eq!(
        patched["limits"]["rpm"],
        Value::Null,
        "limits are replaced whole"
    );
    assert_eq!(patched["limits"]["tpm"], 50000);
    assert_eq!(patched["edited"], false, "custom rows are not marked");

    let model_path = format!("/admin/v1/providers/fresh/models/{model_id}");
    let (status, patched) = call(
        &app,
        &token,
        Method::PATCH,
        &model_path,
        Some(json!({"context_window": null, "supports_vision": true, "limits": {"rpd": 10}})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["context_window"], Value::Null);
    assert_eq!(patched["supports_vision"], true);
    assert_eq!(patched["supports_tools"], true, "untouched fields stay");

    let credential_path = format!("/admin/v1/providers/fresh/credentials/{credential_id}");
    let (status, patched) = call(
        &app,
        &token,
        Method::PATCH,
        &credential_path,
        Some(json!({"enabled": false, "limits": {"rpm": 3}})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["limits"]["rpm"], 3);
    seen.push(patched);
    // A disabled credential leaves the pool: the model has no route any more.
    eventually("the disabled credential stops serving", || async {
        app.chat(chat_body("fresh-model")).await.status() != 200
    })
    .await;

    // The secret is nowhere: not in a response, not in the audit log.
    for body in &seen {
        assert!(!body.to_string().contains(SECRET), "secret leaked: {body}");
    }
    let audit: Vec<(String, Option<Value>, Option<Value>)> =
        sqlx::query_as("SELECT action, before, after FROM audit_log ORDER BY at")
            .fetch_all(&app.db)
            .await
            .unwrap();
    for (action, before, after) in &audit {
        let text = format!("{before:?} {after:?}");
        assert!(
            !text.contains(SECRET),
            "secret in the audit log: {action} {text}"
        );
    }
    let created = audit
        .iter()
        .find(|(action, _, after)| {
            action == "credential.create" && after.as_ref().is_some_and(|a| a["name"] == "ci")
        })
        .unwrap();
    assert_eq!(created.2.as_ref().unwrap()["secret"], "<redacted>");
    assert!(
        audit
            .iter()
            .any(|(action, before, _)| action == "provider.update"
                && before.as_ref().is_some_and(|b| b["priority"] == 1))
    );
    let actors: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT actor FROM audit_log WHERE action LIKE 'provider.%'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(actors.contains(&"admin:admin".to_string()), "{actors:?}");

    // A delete deletes once; again, there is nothing of that id: 404.
    for path in [
        &credential_path,
        &model_path,
        &format!("/admin/v1/providers/{provider_id}"),
    ] {
        let (status, body) = call(&app, &token, Method::DELETE, path, None).await;
        assert_eq!(status, 204, "{path}: {body}");
        let (status, body) = call(&app, &token, Method::DELETE, path, None).await;
        assert_error(status, &body, 404, "not_found");
    }
    let (status, body) = call(&app, &token, Method::GET, "/admin/v1/providers/fresh", None).await;
    assert_error(status, &body, 404, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn bad_input_is_named_duplicates_conflict_and_unknown_ids_are_not_found() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let post = |body: Value| {
        let token = token.clone();
        let app = &app;
        async move { call(app, &token, Method::POST, "/admin/v1/providers", Some(body)).await }
    };
    let base = "http://127.0.0.1:9/v1";
    for (body, field) in [
        (json!({"name": "Bad Name", "base_url": base}), "name"),
        (json!({"name": "ok", "base_url": "ftp://x"}), "base_url"),
        (
            json!({"name": "ok", "base_url": base, "daily_reset_tz": "Mars/Base"}),
            "daily_reset_tz",
        ),
        (
            json!({"name": "ok", "base_url": base, "limits": {"rpm": 0}}),
            "limits.rpm",
        ),
        (
            json!({"name": "ok", "base_url": base, "timeout_ms": 0}),
            "timeout_ms",
        ),
        (json!({"name": "ok", "base_url": base, "extra": 1}), "extra"),
        (json!({"base_url": base}), "name"),
    ] {
        let (status, response) = post(body.clone()).await;
        assert_invalid(status, &response, field);
    }
    let (status, body) = post(json!({"name": "mock0", "base_url": base})).await;
    assert_error(status, &body, 409, "conflict");

    let models = "/admin/v1/providers/mock0/models";
    let (status, body) = call(
        &app,
        &token,
        Method::POST,
        models,
        Some(json!({"model_id": "mock-model"})),
    )
    .await;
    assert_error(status, &body, 409, "conflict");
    for (body, field) in [
        (
            json!({"model_id": "e", "modality": "embedding", "embedding_family": "f"}),
            "embedding_dimensions",
        ),
        (
            json!({"model_id": "e", "modality": "embedding", "embedding_dimensions": 8}),
            "embedding_family",
        ),
        (
            json!({"model_id": "e", "embedding_family": "f", "embedding_dimensions": 8}),
            "embedding_family",
        ),
        (json!({"model_id": "e", "modality": "video"}), "modality"),
        (json!({"model_id": ""}), "model_id"),
        (
            json!({"model_id": "e", "context_window": 0}),
            "context_window",
        ),
    ] {
        let (status, response) = call(&app, &token, Method::POST, models, Some(body)).await;
        assert_invalid(status, &response, field);
    }
    let (status, embedding) = call(
        &app,
        &token,
        Method::POST,
        models,
        Some(json!({"model_id": "e", "modality": "embedding", "embedding_family": "f", "embedding_dimensions": 8})),
    )
    .await;
    assert_eq!(status, 201, "{embedding}");

    let (status, body) = call(
        &app,
        &token,
        Method::POST,
        "/admin/v1/providers/mock0/credentials",
        Some(json!({"secret": "tiny"})),
    )
    .await;
    assert_invalid(status, &body, "secret");
    assert!(!body.to_string().contains("tiny"));

    // Unknown ids, and ids of the wrong kind, answer 404.
    let credential = app.credential_row("mock0").await;
    let model = app.model_row("mock0", "mock-model").await;
    for (method, path) in [
        (
            Method::GET,
            format!("/admin/v1/providers/{}", Uuid::now_v7()),
        ),
        (Method::GET, format!("/admin/v1/providers/{model}")),
        (Method::GET, "/admin/v1/providers/nope/models".into()),
        (
            Method::PATCH,
            format!("/admin/v1/providers/mock0/models/{credential}"),
        ),
        (
            Method::PATCH,
            "/admin/v1/providers/mock0/models/not-a-uuid".into(),
        ),
        (
            Method::PATCH,
            format!("/admin/v1/providers/mock0/credentials/{model}"),
        ),
        (
            Method::POST,
            format!("/admin/v1/providers/mock0/credentials/{model}/test"),
        ),
        (
            Method::DELETE,
            format!("/admin/v1/providers/nope/models/{model}"),
        ),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"enabled": true}));
        let (status, response) = call(&app, &token, method.clone(), &path, body).await;
        assert_error(status, &response, 404, "not_found");
    }

    // Profiles name real models.
    let profile = "/admin/v1/routing/profiles/fast";
    let (status, body) = call(
        &app,
        &token,
        Method::PUT,
        profile,
        Some(json!({"models": ["mock0/nope"]})),
    )
    .await;
    // Well-formed, but naming a model the pool does not have.
    assert_error(status, &body, 409, "unknown_model");
    assert_eq!(body["error"]["field"], "models", "{body}");
    let (status, body) = call(
        &app,
        &token,
        Method::PUT,
        "/admin/v1/routing/profiles/a%20b",
        Some(json!({"models": ["mock0/mock-model"]})),
    )
    .await;
    assert_invalid(status, &body, "name");
    let (status, body) = call(
        &app,
        &token,
        Method::PUT,
        profile,
        Some(json!({"models": ["mock0/mock-model"], "context_handoff": false})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, listed) = call(
        &app,
        &token,
        Method::GET,
        "/admin/v1/routing/profiles",
        None,
    )
    .await;
    assert_eq!(
        listed["data"],
        json!([{"name": "fast", "models": ["mock0/mock-model"], "context_handoff": false, "strategy": "priority"}])
    );
    eventually("the profile serves chat", || async {
        app.chat(chat_body("fast")).await.status() == 200
    })
    .await;
    let (status, _) = call(&app, &token, Method::DELETE, profile, None).await;
    assert_eq!(status, 204);
    let (status, body) = call(&app, &token, Method::DELETE, profile, None).await;
    assert_error(status, &body, 404, "not_found");
    let (_, listed) = call(
        &app,
        &token,
        Method::GET,
        "/admin/v1/routing/profiles",
        None,
    )
    .await;
    assert_eq!(listed["data"], json!([]));

    // A built-in row: an edit marks it, a delete is refused (the catalog would restore it).
    let builtin: String = sqlx::query_scalar(
        "SELECT name FROM providers WHERE origin = 'builtin' ORDER BY name LIMIT 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let path = format!("/admin/v1/providers/{builtin}");
    let (status, body) = call(
        &app,
        &token,
        Method::PATCH,
        &path,
        Some(json!({"priority": 7})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["origin"].as_str(), body["edited"].as_bool()),
        (Some("builtin"), Some(true))
    );
    let (status, body) = call(
        &app,
        &token,
        Method::PATCH,
        &path,
        Some(json!({"name": "renamed"})),
    )
    .await;
    assert_error(status, &body, 409, "conflict");
    assert_eq!(body["error"]["field"], "name", "{body}");
    let (status, body) = call(&app, &token, Method::DELETE, &path, None).await;
    assert_error(status, &body, 409, "conflict");
    app.stop().await;
}

#[tokio::test]
async fn tenant_admins_and_members_are_forbidden_the_pool() {
    let app = spawn_app().await;
    let hash = hash_password("a long enough password").unwrap();
    for (username, role, member) in [
        ("lead", "tenant_admin", None),
        ("bob", "member", Some(app.member.id)),
    ] {
        create(
            &app.db,
            "test",
            NewAdminUser {
                username,
                password_hash: &hash,
                role: freeway_wire::auth::Role::parse(role).unwrap(),
                tenant_id: Some(app.tenant.id),
                member_id: member,
                must_change_password: false,
            },
        )
        .await
        .unwrap();
    }
    let model = app.model_row("mock0", "mock-model").await;
    let credential = app.credential_row("mock0").await;
    let provider_body = json!({"name": "x", "base_url": "http://127.0.0.1:9/v1"});
    let endpoints: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/admin/v1/providers".into(), None),
        (
            Method::POST,
            "/admin/v1/providers".into(),
            Some(provider_body),
        ),
        (Method::GET, "/admin/v1/providers/mock0".into(), None),
        (
            Method::PATCH,
            "/admin/v1/providers/mock0".into(),
            Some(json!({"enabled": false})),
        ),
        (Method::DELETE, "/admin/v1/providers/mock0".into(), None),
        (Method::GET, "/admin/v1/providers/mock0/models".into(), None),
        (
            Method::POST,
            "/admin/v1/providers/mock0/models".into(),
            Some(json!({"model_id": "m"})),
        ),
        (
            Method::PATCH,
            format!("/admin/v1/providers/mock0/models/{model}"),
            Some(json!({"enabled": false})),
        ),
        (
            Method::DELETE,
            format!("/admin/v1/providers/mock0/models/{model}"),
            None,
        ),
        (
            Method::GET,
            "/admin/v1/providers/mock0/credentials".into(),
            None,
        ),
        (
            Method::POST,
            "/admin/v1/providers/mock0/credentials".into(),
            Some(json!({"secret": SECRET})),
        ),
        (
            Method::PATCH,
            format!("/admin/v1/providers/mock0/credentials/{credential}"),
            Some(json!({"enabled": false})),
        ),
        (
            Method::DELETE,
            format!("/admin/v1/providers/mock0/credentials/{credential}"),
            None,
        ),
        (
            Method::POST,
            format!("/admin/v1/providers/mock0/credentials/{credential}/test"),
            None,
        ),
        (Method::GET, "/admin/v1/routing/profiles".into(), None),
        (
            Method::PUT,
            "/admin/v1/routing/profiles/p".into(),
            Some(json!({"models": ["mock0/mock-model"]})),
        ),
        (Method::DELETE, "/admin/v1/routing/profiles/p".into(), None),
        (Method::GET, "/admin/v1/routing/state".into(), None),
        (Method::GET, "/admin/v1/cooldowns".into(), None),
        (Method::DELETE, "/admin/v1/cooldowns".into(), None),
    ];
    for username in ["lead", "bob"] {
        let token = app.login(username, "a long enough password").await;
        for (method, path, body) in &endpoints {
            let (status, response) = call(&app, &token, method.clone(), path, body.clone()).await;
            assert_error(status, &response, 403, "forbidden");
        }
        let (status, _) = app
            .admin(Method::GET, "/admin/v1/providers", None, None)
            .await;
        assert_eq!(status, 401);
    }
    // Nothing changed: the pool still serves.
    assert_eq!(app.chat(chat_body("mock-model")).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn clearing_cooldowns_sends_the_next_request_to_the_benched_route_at_once() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    app.mock(0).push(Behavior::rate_limited(300));
    assert_ne!(app.chat(chat_body("mock-model")).await.status(), 200);
    assert_eq!(app.mock(0).request_count(), 1);
    // Benched: the next request does not reach mock0.
    assert_ne!(app.chat(chat_body("mock-model")).await.status(), 200);
    assert_eq!(app.mock(0).request_count(), 1);

    let (status, state) = call(&app, &token, Method::GET, "/admin/v1/routing/state", None).await;
    assert_eq!(status, 200);
    assert!(
        state["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["cooldown"].is_object()),
        "{state}"
    );
    eventually("the cooldown is persisted", || {
        let token = token.clone();
        let app = &app;
        async move {
            let (_, body) = call(app, &token, Method::GET, "/admin/v1/cooldowns", None).await;
            body["data"].as_array().is_some_and(|d| !d.is_empty())
        }
    })
    .await;
    let (_, listed) = call(&app, &token, Method::GET, "/admin/v1/cooldowns", None).await;
    assert!(listed["data"][0]["reason"].is_string(), "{listed}");

    let (status, _) = call(&app, &token, Method::DELETE, "/admin/v1/cooldowns", None).await;
    assert_eq!(status, 204);
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.mock(0).request_count(), 2);
    let (_, body) = call(&app, &token, Method::GET, "/admin/v1/cooldowns", None).await;
    assert_eq!(body["data"], json!([]));
    let cleared: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'cooldowns.clear' AND actor = 'admin:admin'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(cleared, 1);
    app.stop().await;
}
