//! Member api keys on `/v1`: every way a key can be wrong has its own answer, each in
//! OpenAI's error shape, and a rejected request never reaches an upstream.

use chrono::{Duration, Utc};
use freeway::crypto::api_key;
use serde_json::Value;

use crate::errors::expect_error;
use crate::helpers::{ACTOR, TestApp, chat_body, create_key, eventually, spawn_app};

/// POSTs a chat body with `authorization` as the raw header value (or none).
async fn chat_with_header(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/v1/chat/completions", app.address))
        .json(&chat_body("mock-model"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

/// A 401 with `WWW-Authenticate: Bearer` and the OpenAI error shape.
async fn expect_401(response: reqwest::Response, code: &str) -> Value {
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let error = expect_error(response, 401, code).await;
    let challenge = challenge.unwrap_or_else(|| panic!("401 {code} without WWW-Authenticate"));
    assert!(
        challenge.to_ascii_lowercase().starts_with("bearer"),
        "WWW-Authenticate is {challenge:?}"
    );
    assert_eq!(error["type"], "authentication_error");
    error
}

/// The `fw-<public id>` display prefix of a full token.
fn prefix_of(token: &str) -> &str {
    &token[..token.rfind('-').unwrap()]
}

#[tokio::test]
async fn a_missing_key_is_401_missing_api_key() {
    let app = spawn_app().await;
    let error = expect_401(chat_with_header(&app, None).await, "missing_api_key").await;
    assert!(
        error["message"].as_str().unwrap().contains("Bearer"),
        "{error}"
    );
    // An empty header is as good as none.
    expect_401(chat_with_header(&app, Some("")).await, "missing_api_key").await;
    assert_eq!(app.mock(0).request_count(), 0);
    app.wait_for_usage(2).await;
    app.stop().await;
}

#[tokio::test]
async fn malformed_keys_are_401_invalid_api_key() {
    let app = spawn_app().await;
    let cases = [
        "Bearer sk-123".to_string(),
        "Bearer ".to_string(),
        "Bearer fw-short-key".to_string(),
        // The right token without the Bearer scheme.
        app.api_key.clone(),
        format!("Basic {}", app.api_key),
        // One character too many.
        format!("Bearer {}x", app.api_key),
    ];
    for header in &cases {
        let response = chat_with_header(&app, Some(header)).await;
        expect_401(response, "invalid_api_key").await;
    }
    assert_eq!(app.mock(0).request_count(), 0);
    app.wait_for_usage(i64::try_from(cases.len()).unwrap())
        .await;
    // The same key, presented properly, works: the rejections were about the form.
    assert_eq!(app.chat(chat_body("mock-model")).await.status(), 200);
    assert_eq!(app.mock(0).request_count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_well_formed_key_is_401_invalid_api_key() {
    let app = spawn_app().await;
    let unknown = api_key::generate();
    let response = app
        .chat_with_key(unknown.token.expose(), chat_body("mock-model"))
        .await;
    expect_401(response, "invalid_api_key").await;

    // A real key's public id with a wrong secret is just as unknown.
    let forged = format!("{}-{}", prefix_of(&app.api_key), "A".repeat(40));
    assert_ne!(forged, app.api_key);
    let response = app.chat_with_key(&forged, chat_body("mock-model")).await;
    expect_401(response, "invalid_api_key").await;

    assert_eq!(app.mock(0).request_count(), 0);
    app.wait_for_usage(2).await;
    let unattributed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM usage_events WHERE api_key_id IS NULL")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        unattributed, 2,
        "a rejected key is not attributed to anyone"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_key_is_401_api_key_revoked_within_seconds() {
    let app = spawn_app().await;
    let key = create_key(&app.db, &app.member, None, None).await;
    // The server learns of new keys through NOTIFY too.
    {
        let (app, key) = (&app, key.as_str());
        eventually("the new key works", move || async move {
            app.chat_with_key(key, chat_body("mock-model"))
                .await
                .status()
                == 200
        })
        .await;
    }

    let revoked = freeway::store::api_keys::KeyRef::Prefix {
        tenant: None,
        prefix: prefix_of(&key),
    };
    freeway::store::api_keys::revoke(&app.db, ACTOR, revoked)
        .await
        .unwrap();
    {
        let (app, key) = (&app, key.as_str());
        eventually("the revocation reaches the server", move || async move {
            app.chat_with_key(key, chat_body("mock-model"))
                .await
                .status()
                == 401
        })
        .await;
    }

    let before = app.mock(0).request_count();
    let response = app.chat_with_key(&key, chat_body("mock-model")).await;
    expect_401(response, "api_key_revoked").await;
    assert_eq!(
        app.mock(0).request_count(),
        before,
        "a revoked key reached the upstream"
    );

    // Only that key was revoked.
    assert_eq!(app.chat(chat_body("mock-model")).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn an_expired_key_is_401_api_key_expired() {
    let app = spawn_app().await;
    let expired = create_key(
        &app.db,
        &app.member,
        None,
        Some(Utc::now() - Duration::minutes(5)),
    )
    .await;
    let current = create_key(
        &app.db,
        &app.member,
        None,
        Some(Utc::now() + Duration::hours(1)),
    )
    .await;
    {
        let (app, current) = (&app, current.as_str());
        eventually("the keys are loaded", move || async move {
            app.chat_with_key(current, chat_body("mock-model"))
                .await
                .status()
                == 200
        })
        .await;
    }
    let before = app.mock(0).request_count();
    let response = app.chat_with_key(&expired, chat_body("mock-model")).await;
    expect_401(response, "api_key_expired").await;
    assert_eq!(app.mock(0).request_count(), before);
    app.stop().await;
}

#[tokio::test]
async fn a_key_restricted_to_other_models_is_403_model_not_allowed() {
    let app = spawn_app().await;
    let restricted = create_key(&app.db, &app.member, Some(vec!["other-model".into()]), None).await;
    let allowed = create_key(&app.db, &app.member, Some(vec!["mock-model".into()]), None).await;
    {
        let (app, allowed) = (&app, allowed.as_str());
        eventually("the keys are loaded", move || async move {
            app.chat_with_key(allowed, chat_body("mock-model"))
                .await
                .status()
                == 200
        })
        .await;
    }
    let before = app.mock(0).request_count();

    let response = app
        .chat_with_key(&restricted, chat_body("mock-model"))
        .await;
    assert!(response.headers().get("www-authenticate").is_none());
    let error = expect_error(response, 403, "model_not_allowed").await;
    assert_eq!(error["type"], "permission_error");
    assert_eq!(error["param"], "model");
    assert!(
        error["message"].as_str().unwrap().contains("mock-model"),
        "{error}"
    );
    // Pinning a provider does not get around the restriction.
    let response = app
        .chat_with_key(&restricted, chat_body("mock0/mock-model"))
        .await;
    expect_error(response, 403, "model_not_allowed").await;
    assert_eq!(app.mock(0).request_count(), before);

    // The restricted key's model list leaves out what it may not use.
    let models: Value = app
        .client
        .get(format!("{}/v1/models", app.address))
        .bearer_auth(&restricted)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"], serde_json::json!([]));
    app.stop().await;
}

#[tokio::test]
async fn models_requires_a_key_and_lists_the_pool() {
    let app = spawn_app().await;
    let url = format!("{}/v1/models", app.address);

    let response = app.client.get(&url).send().await.unwrap();
    expect_401(response, "missing_api_key").await;
    let response = app
        .client
        .get(&url)
        .header("authorization", "Bearer sk-123")
        .send()
        .await
        .unwrap();
    expect_401(response, "invalid_api_key").await;
    let response = app
        .client
        .get(&url)
        .bearer_auth(api_key::generate().token.expose())
        .send()
        .await
        .unwrap();
    expect_401(response, "invalid_api_key").await;

    let response = app
        .client
        .get(&url)
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let models: Value = response.json().await.unwrap();
    assert_eq!(models["object"], "list");
    let data = models["data"].as_array().unwrap();
    let ids: Vec<&str> = data.iter().map(|m| m["id"].as_str().unwrap()).collect();
    // The pool's model, then the names standing for it: `auto` (and `auto:<strategy>`) and
    // the seeded `claude-*`.
    let autos = freeway_wire::routing::Strategy::AUTO_NAMES;
    let mut expected = vec!["mock-model", "auto"];
    let mut sorted = autos.to_vec();
    sorted.sort_unstable();
    expected.extend(sorted);
    expected.push("claude-*");
    assert_eq!(ids, expected, "{models}");
    assert_eq!(data[0]["object"], "model");
    assert_eq!(data[0]["owned_by"], "mock0");
    assert!(data[0]["created"].is_i64(), "{models}");

    // The list comes from the catalog; no upstream is asked.
    assert_eq!(app.mock(0).request_count(), 0);
    app.wait_for_usage(4).await;
    app.stop().await;
}
