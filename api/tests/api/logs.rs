//! The binary's log with `FREEWAY_LOG_FORMAT=json`: one JSON object a line, and a request's
//! lines carry its span (request id, tenant, member, requested model).

use std::time::Duration;

use freeway::mock::{Behavior, MockUpstream};
use serde_json::Value;

use crate::cli::{Served, ServedPool};
use crate::helpers::{chat_body, eventually_within, http};

#[tokio::test]
async fn json_log_lines_parse_and_carry_the_request_span() {
    let mock = MockUpstream::start().await.unwrap();
    // The only route fails once: the gateway logs the failed attempt within the request.
    mock.push(Behavior::status(500));
    let pool = ServedPool::with(&mock, "logs").await;

    let served = Served::start(
        &pool.database_url,
        &pool.key_file,
        &[("FREEWAY_LOG_FORMAT", "json")],
    )
    .await;
    let response = http()
        .post(format!("{}/v1/chat/completions", served.address))
        .bearer_auth(&pool.key)
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
    assert_eq!(span["tenant"], pool.tenant.id.to_string(), "{line}");
    assert_eq!(span["member"], pool.member.id.to_string(), "{line}");
    assert_eq!(span["model"], "mock-model", "{line}");

    drop(served);
}
