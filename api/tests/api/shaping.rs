//! Request shaping as catalog data, end to end: a catalog provider's rules shape the body
//! its upstream receives, and its first-byte timeout fails the attempt over.

use std::time::{Duration, Instant};

use freeway::crypto::{Keyring, Secret, signature};
use freeway::mock::{Behavior, MockUpstream};
use freeway::store::builtin::{CATALOG_VERSION, TEXT};
use freeway::store::providers;
use reqwest::Method;
use serde_json::{Value, json};

use freeway::store::quotas::{self, QuotaColumns};
use freeway_wire::tenants::QuotaScope;

use crate::helpers::{ACTOR, Spawn, TestApp, add_credential, spawn_with};

/// An app whose catalog in force is the built-in one plus `extra`, imported as the next
/// version and signed with a key the app trusts; `provider` of `extra` gets a credential.
async fn app_with_catalog(extra: &str, provider: &str) -> TestApp {
    let (private, public) = signature::generate();
    let app = spawn_with(Spawn {
        configure: Box::new(move |c| c.catalog_keys = public),
        ..Spawn::default()
    })
    .await;
    let text = TEXT.replacen(
        &format!("\nversion = {CATALOG_VERSION}\n"),
        &format!("\nversion = {}\n", CATALOG_VERSION + 1),
        1,
    ) + extra;
    let body = json!({
        "catalog": text,
        "signature": signature::sign(text.as_bytes(), &private).unwrap(),
        "dry_run": false,
    });
    let token = app.admin_token().await;
    let (status, answer) = app
        .admin(Method::POST, "/admin/v1/catalog", Some(&token), Some(body))
        .await;
    assert_eq!(status, 200, "{answer}");
    let keyring = Keyring::load_file(&app.key_file).unwrap();
    let row = providers::find(&app.db, provider).await.unwrap().unwrap();
    add_credential(
        &app.db,
        &keyring,
        &row,
        &Secret::new("secret-catalog".to_string()),
    )
    .await;
    app
}

/// Sends `body` until the answer is not a 404/503 (the pool reloaded) or 10 s pass.
async fn chat_once_ready(app: &TestApp, body: &Value) -> reqwest::Response {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let response = app.chat(body.clone()).await;
        if !matches!(response.status().as_u16(), 404 | 503) || Instant::now() > until {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_provider_with_rules_receives_the_shaped_body() {
    let upstream = MockUpstream::start().await.unwrap();
    let extra = format!(
        r#"
[[provider]]
id = "shaped"
name = "Shaped"
base_url = "{}"
priority = 1
key_url = "https://shaped.test/keys"

[provider.shaping]
drop = ["logprobs", "top_logprobs"]
rename = {{ seed = "random_seed" }}
response_format = "json_object_only"

[[model]]
provider = "shaped"
id = "mock-model"
json = true
max_output_tokens = 1000
"#,
        upstream.base_url()
    );
    let app = app_with_catalog(&extra, "shaped").await;
    let body = json!({
        "model": "shaped/mock-model",
        "messages": [{"role": "user", "content": "Hi"}],
        "logprobs": true,
        "top_logprobs": 2,
        "seed": 7,
        "max_tokens": 65536,
        "temperature": 0.5,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
    });

    let response = chat_once_ready(&app, &body).await;

    assert_eq!(response.status(), 200);
    let sent = upstream.requests().last().unwrap().body.clone();
    assert_eq!(
        sent,
        json!({
            "model": "mock-model",
            "messages": [{"role": "user", "content": "Hi"}],
            "random_seed": 7,
            "max_tokens": 1000,
            "temperature": 0.5,
            "response_format": {"type": "json_object"},
        })
    );
}

#[tokio::test]
async fn a_first_byte_timeout_from_the_catalog_fails_over() {
    let slow = MockUpstream::start().await.unwrap();
    slow.set_default(Behavior::ok().with_latency(Duration::from_secs(5)));
    let extra = format!(
        r#"
[[provider]]
id = "slow"
name = "Slow"
base_url = "{}"
priority = 1
key_url = "https://slow.test/keys"

[provider.shaping]
first_byte_timeout_ms = 200

[[model]]
provider = "slow"
id = "mock-model"
priority = 1
"#,
        slow.base_url()
    );
    let app = app_with_catalog(&extra, "slow").await;

    // Until the pool holds the slow provider, mock0 answers alone. Each request opens its
    // own conversation, so that no session stays pinned to mock0.
    let until = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    let response = loop {
        n += 1;
        let body = json!({"model": "mock-model", "messages": [{"role": "user", "content": format!("Hi {n}")}]});
        let response = app.chat(body).await;
        if slow.request_count() > 0 || Instant::now() > until {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    assert_eq!(slow.request_count(), 1);
    assert_eq!(response.status(), 200);
    let route = response.headers()["x-freeway-route"].to_str().unwrap();
    assert_eq!(route, "mock0/mock-model");
}

/// An app whose catalog adds provider `capped`, with a credential, serving `capped-model`
/// (at most 100 output tokens; `model_line` adds to the model's table) from a mock of its own.
async fn with_capped_model(model_line: &str) -> (MockUpstream, TestApp) {
    let capped = MockUpstream::start().await.unwrap();
    let extra = format!(
        r#"
[[provider]]
id = "capped"
name = "Capped"
base_url = "{}"
priority = 1
key_url = "https://capped.test/keys"

[[model]]
provider = "capped"
id = "capped-model"
priority = 1
max_output_tokens = 100
{model_line}
"#,
        capped.base_url()
    );
    let app = app_with_catalog(&extra, "capped").await;
    (capped, app)
}

/// A route reserves no more completion than its body is capped to: a `max_tokens` far
/// above the model's output limit, and above its tokens-per-minute limit, is served with
/// `max_tokens` lowered, not refused as a request larger than the limit.
#[tokio::test]
async fn a_route_reserves_no_more_completion_than_its_output_limit() {
    let (capped, app) = with_capped_model("limits = { tpm = 1000 }").await;
    let body = json!({
        "model": "capped-model",
        "max_tokens": 5000,
        "messages": [{"role": "user", "content": "Hi"}],
    });

    let response = chat_once_ready(&app, &body).await;

    let status = response.status();
    assert_eq!(status, 200, "{}", response.text().await.unwrap());
    let sent = capped.requests();
    assert_eq!(sent.last().unwrap().body["max_tokens"], 100);
}

#[tokio::test]
async fn a_token_quota_counts_no_more_completion_than_the_models_output_limit() {
    // Arrange: alice may use 1,000 tokens a minute; capped-model answers at most 100
    // tokens, mock-model has no stated limit.
    let (_capped, app) = with_capped_model("").await;
    quotas::set(
        &app.db,
        ACTOR,
        QuotaScope::Member,
        app.member.id,
        QuotaColumns {
            tpm: Some(1000),
            ..QuotaColumns::default()
        },
    )
    .await
    .unwrap();
    let app = app.restart().await;
    let asking = |model: &str| {
        json!({
            "model": model,
            "max_tokens": 5000,
            "messages": [{"role": "user", "content": "Hi"}],
        })
    };

    // Act
    let capped_answer = chat_once_ready(&app, &asking("capped-model")).await;
    let uncapped_answer = app.chat(asking("mock-model")).await;

    // Assert: 5,000 tokens could never be spent on capped-model; they could on mock-model.
    let status = capped_answer.status();
    assert_eq!(status, 200, "{}", capped_answer.text().await.unwrap());
    assert_eq!(uncapped_answer.status(), 429);
    let refusal: Value = uncapped_answer.json().await.unwrap();
    let message = refusal["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("member quota of 1000 tokens per minute"),
        "{message}"
    );
}
