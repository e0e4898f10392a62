//! The binary's log with `FREEWAY_LOG_FORMAT=json`: one JSON object a line, and a request's
//! lines carry its span (request id, tenant, member, requested model).

use std::time::Duration;

use freeway::crypto::{Keyring, Secret};
use freeway::mock::{Behavior, MockUpstream};
use freeway::store::providers::{self, ProviderFields};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::cli::Served;
use crate::helpers::{
    ACTOR, add_credential, add_member, add_model, chat_body, create_key, eventually_within,
    fresh_database, http,
};

#[tokio::test]
async fn json_log_lines_parse_and_carry_the_request_span() {
    let mock = MockUpstream::start().await.unwrap();
    // The only route fails once: the gateway logs the failed attempt within the request.
    mock.push(Behavior::status(500));
    let database_url = fresh_database().await;
    freeway::store::migrate::run(&database_url).await.unwrap();
    let db = PgPool::connect(&database_url).await.unwrap();
    let dir = std::env::temp_dir().join(format!("freeway-logs-{}", Uuid::new_v4().simple()));
    let key_file = dir.join("master.key");
    Keyring::generate_file(&key_file).unwrap();
    let keyring = Keyring::load_file(&key_file).unwrap();
    let provider = providers::create(
        &db,
        ACTOR,
        ProviderFields {
            keyless: false,
            ..ProviderFields::new("mock", &mock.base_url())
        },
    )
    .await
    .unwrap();
    add_model(&db, &provider, "mock-model").await;
    add_credential(&db, &keyring, &provider, &Secret::new("secret-for-logs")).await;
    let (tenant, member) = add_member(&db, "team", "alice").await;
    let key = create_key(&db, &member, None, None).await;

    let served = Served::start(&database_url, &key_file, &[("FREEWAY_LOG_FORMAT", "json")]).await;
    let response = http()
        .post(format!("{}/v1/chat/completions", served.address))
        .bearer_auth(&key)
        .header("x-request-id", "logs-1")
        .json(&chat_body("mock-model"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "logs-1");

    let of_the_request = |log: &str| {
        log.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|line| line["span"]["request_id"] == "logs-1")
    };
    eventually_within(Duration::from_secs(10), "the request's log line", || {
        let found = of_the_request(&served.stderr()).is_some();
        async move { found }
    })
    .await;
    let log = served.stderr();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let parsed: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{}", served.logs()));
        assert!(
            parsed["level"].is_string() && parsed["timestamp"].is_string(),
            "{line}"
        );
    }
    let line = of_the_request(&log).unwrap();
    let span = &line["span"];
    assert_eq!(span["name"], "request", "{line}");
    assert_eq!(span["tenant"], tenant.id.to_string(), "{line}");
    assert_eq!(span["member"], member.id.to_string(), "{line}");
    assert_eq!(span["model"], "mock-model", "{line}");

    drop(served);
    let _ = std::fs::remove_dir_all(dir);
}
