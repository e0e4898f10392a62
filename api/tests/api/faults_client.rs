//! What clients do: leave before the answer, upload slowly or not at all, send wrong methods,
//! preflights and bad numbers; and a SIGTERM while requests are in flight.

use std::time::{Duration, Instant};

use freeway::mock::Behavior;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Spawn, TestApp, chat_body, spawn_with};

fn stream_body() -> Value {
    json!({"model": "mock-model", "stream": true,
           "messages": [{"role": "user", "content": "tell me something"}]})
}

/// Status, error code and attempt outcomes of every usage event, oldest first.
async fn events(app: &TestApp) -> Vec<(i16, Option<String>, Vec<String>)> {
    let rows: Vec<(i16, Option<String>, Value)> = sqlx::query_as(
        "SELECT status, error_code, attempt_trail FROM usage_events ORDER BY created_at",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(status, code, trail)| {
            let outcomes = trail
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["outcome"].as_str().unwrap().to_string())
                .collect();
            (status, code, outcomes)
        })
        .collect()
}

#[tokio::test]
async fn a_client_that_leaves_is_noticed_at_once_and_costs_no_route() {
    let app = spawn_with(Spawn {
        provider_timeout_ms: 60_000,
        configure: Box::new(|config| config.request_budget_secs = 120),
        ..Spawn::default()
    })
    .await;
    // Before the first byte (a hanging provider), streamed or not, and a slow JSON answer.
    let cases = [
        (Behavior::hang(), stream_body()),
        (Behavior::hang(), chat_body("mock-model")),
        (
            Behavior::ok().with_latency(Duration::from_secs(3)),
            chat_body("mock-model"),
        ),
        // After the first byte: a stream that trickles.
        (
            Behavior::ok()
                .with_chunks(["a", " b", " c", " d", " e", " f"])
                .with_chunk_delay(Duration::from_millis(700)),
            stream_body(),
        ),
    ];
    let started = Instant::now();
    for (n, (behavior, body)) in cases.into_iter().enumerate() {
        app.mock(0).push(behavior);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(1_000))
            .build()
            .unwrap();
        let sent = client
            .post(format!("{}/v1/chat/completions", app.address))
            .bearer_auth(&app.api_key)
            .json(&body)
            .send()
            .await;
        if let Ok(response) = sent {
            // Streamed: the head came; the client leaves mid-stream.
            assert!(response.text().await.is_err());
        }
        app.wait_for_usage(i64::try_from(n).unwrap() + 1).await;
    }
    // Four abandoned requests noticed within seconds, not after the 60 s provider timeout.
    println!(
        "DISCONNECT four abandoned requests recorded after {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let recorded = events(&app).await;
    for (status, code, _) in &recorded {
        assert_eq!(
            (*status, code.as_deref()),
            (499, Some("client_disconnected"))
        );
    }
    // No route was blamed: the next request goes to the same provider.
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(response.status(), 200);
    let cooled: i64 = sqlx::query_scalar("SELECT count(*) FROM cooldowns")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(cooled, 0);
    app.stop().await;
}

#[tokio::test]
async fn sigterm_lets_every_in_flight_request_finish_on_every_worker() {
    let app = spawn_with(Spawn {
        configure: Box::new(|config| {
            config.workers = 3;
            config.shutdown_grace_secs = 1;
            config.shutdown_timeout_secs = 20;
        }),
        ..Spawn::default()
    })
    .await;
    // Warm every worker's upstream connections, then hold requests in flight.
    for _ in 0..12 {
        assert_eq!(app.chat(chat_body("mock-model")).await.status(), 200);
    }
    app.mock(0).set_default(
        Behavior::ok()
            .with_latency(Duration::from_millis(1_500))
            .with_chunk_delay(Duration::from_millis(50)),
    );
    let mut in_flight = Vec::new();
    for n in 0..24 {
        let body = if n % 2 == 0 {
            stream_body()
        } else {
            chat_body("mock-model")
        };
        let request = app
            .client
            .post(format!("{}/v1/chat/completions", app.address))
            .bearer_auth(&app.api_key)
            .json(&body)
            .send();
        in_flight.push(tokio::spawn(async move {
            let response = request.await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopper = app.stopper.clone();
    let stopping = tokio::spawn(async move { stopper.stop().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Shutdown has begun: a load balancer is told to stop sending.
    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    for request in in_flight {
        let (status, text) = request.await.unwrap();
        assert_eq!(status, 200, "{text}");
        assert!(!text.contains("\"error\""), "{text}");
    }
    stopping.await.unwrap();
    let (db, stats) = app.stopped().await;
    let written: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_events WHERE status = 200")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(written, 36, "every request's event written before the exit");
    assert_eq!(stats.dropped.load(std::sync::atomic::Ordering::Relaxed), 0);
}

/// Writes `head` (and `body`) on a raw connection; returns the answer's status line and how
/// long it took to come.
async fn raw(app: &TestApp, head: &str, body: &[u8]) -> (String, Duration) {
    let address = app.address.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(body).await.unwrap();
    let started = Instant::now();
    let mut answer = vec![0_u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut answer))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..read]).to_string();
    (
        text.lines().next().unwrap_or_default().to_string(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn stalled_uploads_get_a_408_and_let_go() {
    let app = spawn_with(Spawn {
        configure: Box::new(|config| {
            config.body_timeout_secs = 1;
            config.header_timeout_ms = 500;
        }),
        ..Spawn::default()
    })
    .await;
    let post = |auth: &str| {
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{auth}Content-Length: 100\r\n\r\n"
        )
    };
    // A body shorter than its Content-Length, from a member.
    let auth = format!("Authorization: Bearer {}\r\n", app.api_key);
    let (status, took) = raw(&app, &post(&auth), b"{\"model\":").await;
    assert!(status.contains(" 408 "), "{status}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // Unauthenticated: refused without waiting for the body.
    let (status, took) = raw(&app, &post(""), b"{").await;
    assert!(status.contains(" 401 "), "{status}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    // Headers that never end.
    let (status, _) = raw(
        &app,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n",
        b"",
    )
    .await;
    assert!(status.contains(" 408 "), "{status}");
    // Many at once do not pin the server: it still answers.
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let address = app.address.trim_start_matches("http://").to_string();
        let head = post(&auth);
        stalled.push(tokio::spawn(async move {
            let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
            socket.write_all(head.as_bytes()).await.unwrap();
            let mut answer = Vec::new();
            // The server answers 408 and closes the connection.
            tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer))
                .await
                .expect("closed within 10 s")
                .ok();
            String::from_utf8_lossy(&answer).contains(" 408 ")
        }));
    }
    assert_eq!(app.chat(chat_body("mock-model")).await.status(), 200);
    for socket in stalled {
        assert!(socket.await.unwrap());
    }
    app.stop().await;
}

#[tokio::test]
async fn v1_follows_http_conventions() {
    let app = spawn_with(Spawn {
        configure: Box::new(|config| config.cors_origins = "https://app.example".into()),
        ..Spawn::default()
    })
    .await;
    let url = |path: &str| format!("{}/v1{path}", app.address);
    // models.retrieve
    let model: Value = app
        .client
        .get(url("/models/mock-model"))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(model["id"], "mock-model");
    assert_eq!(model["object"], "model");
    let missing = app
        .client
        .get(url("/models/nope"))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // HEAD where GET exists.
    let head = app
        .client
        .head(url("/models"))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.bytes().await.unwrap().is_empty());
    // A wrong method: 405 with Allow.
    let wrong = app
        .client
        .delete(url("/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 405);
    assert_eq!(wrong.headers()["allow"], "POST, OPTIONS");
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
    // CORS: the configured origin's preflight, and an answer it may read.
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, url("/chat/completions"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let other = app
        .client
        .request(reqwest::Method::OPTIONS, url("/chat/completions"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let answer = app
        .client
        .post(url("/chat/completions"))
        .header("origin", "https://app.example")
        .bearer_auth(&app.api_key)
        .json(&chat_body("mock-model"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    // Numbers are checked before anything is forwarded.
    for (field, value) in [
        ("max_tokens", json!(-1)),
        ("max_tokens", json!(1e308)),
        ("max_tokens", json!("10")),
        ("temperature", json!(9)),
        ("n", json!(0)),
    ] {
        let mut body = chat_body("mock-model");
        body[field] = value;
        let response = app.chat(body).await;
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["param"], field);
    }
    assert_eq!(
        app.mock(0).request_count(),
        1,
        "only the valid chat reached it"
    );
    app.stop().await;
}
