//! Trace export (`OTEL_EXPORTER_OTLP_*`): the binary sends each request's span to a
//! collector of the test's own, in the caller's trace; a collector that fails or is absent
//! costs the request nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer, web};
use freeway::mock::MockUpstream;
use serde_json::Value;

use crate::cli::{Served, ServedPool, free_port};
use crate::helpers::{chat_body, eventually_within, http};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// An OTLP/HTTP collector: stores what is POSTed to `/v1/traces`, answers `status`.
struct Collector {
    url: String,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Collector {
    async fn start(status: u16) -> Collector {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let stored = bodies.clone();
        let server = HttpServer::new(move || {
            let stored = stored.clone();
            App::new()
                .app_data(web::PayloadConfig::new(16 << 20))
                .route(
                    "/v1/traces",
                    web::post().to(move |body: web::Bytes| {
                        stored.lock().unwrap().push(body.to_vec());
                        async move {
                            HttpResponse::build(StatusCode::from_u16(status).unwrap())
                                .content_type("application/json")
                                .body("{}")
                        }
                    }),
                )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Collector {
            url,
            bodies,
            handle,
        }
    }

    /// Every body received, parsed (`http/json`).
    fn exports(&self) -> Vec<Value> {
        let bodies = self.bodies.lock().unwrap();
        bodies
            .iter()
            .map(|body| serde_json::from_slice(body).unwrap())
            .collect()
    }
}

/// The exported span carrying `request_id`, with its resource.
fn span_of(exports: &[Value], request_id: &str) -> Option<(Value, Value)> {
    for export in exports {
        for resource_spans in export["resourceSpans"].as_array()? {
            for scope_spans in resource_spans["scopeSpans"].as_array()? {
                for span in scope_spans["spans"].as_array()? {
                    if attribute(span, "request_id") == Some(request_id.into()) {
                        return Some((resource_spans["resource"].clone(), span.clone()));
                    }
                }
            }
        }
    }
    None
}

/// An attribute's value as text (OTLP/JSON writes integers as strings too).
fn attribute(item: &Value, key: &str) -> Option<String> {
    let value = &item["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)?["value"];
    let value = value.as_object()?.values().next()?;
    Some(match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    })
}

impl ServedPool {
    /// `freeway serve` exporting to `endpoint` as JSON, a batch every 100 ms.
    async fn serve(&self, endpoint: &str) -> Served {
        self.serve_every(endpoint, "100").await
    }

    async fn serve_every(&self, endpoint: &str, schedule_delay_ms: &str) -> Served {
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_BSP_SCHEDULE_DELAY", schedule_delay_ms),
        ];
        Served::start(&self.database_url, &self.key_file, &env).await
    }

    async fn chat(&self, served: &Served, request_id: &str) -> reqwest::Response {
        http()
            .post(format!("{}/v1/chat/completions", served.address))
            .bearer_auth(&self.key)
            .header("x-request-id", request_id)
            .header("traceparent", format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01"))
            .json(&chat_body("mock-model"))
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_request_span_is_exported_in_the_callers_trace() {
    let mock = MockUpstream::start().await.unwrap();
    let pool = ServedPool::with(&mock, "otlp").await;
    let collector = Collector::start(200).await;
    let served = pool.serve(&collector.url).await;
    // Health checks before the request: answered with their ids, never exported.
    for (path, id) in [("/healthz", "otlp-health"), ("/readyz", "otlp-ready")] {
        let probe = http()
            .get(format!("{}{path}", served.address))
            .header("x-request-id", id)
            .send()
            .await
            .unwrap();
        assert_eq!(probe.status(), 200);
        assert_eq!(probe.headers()["x-request-id"], id);
    }

    let response = pool.chat(&served, "otlp-1").await;

    assert_eq!(response.status(), 200);
    eventually_within(Duration::from_secs(20), "the request's span", || {
        let found = span_of(&collector.exports(), "otlp-1").is_some();
        async move { found }
    })
    .await;
    let (resource, span) = span_of(&collector.exports(), "otlp-1").unwrap();
    assert_eq!(
        attribute(&resource, "service.name").as_deref(),
        Some("freeway")
    );
    assert_eq!(span["traceId"], TRACE_ID, "{span}");
    assert_eq!(span["parentSpanId"], PARENT_SPAN_ID, "{span}");
    assert_eq!(span["name"], "POST /v1/chat/completions", "{span}");
    // SPAN_KIND_SERVER
    assert_eq!(span["kind"], 2, "{span}");
    assert_eq!(attribute(&span, "model").as_deref(), Some("mock-model"));
    assert_eq!(
        attribute(&span, "route").as_deref(),
        Some("mock/mock-model")
    );
    assert_eq!(attribute(&span, "tenant"), Some(pool.tenant.id.to_string()));
    assert_eq!(attribute(&span, "member"), Some(pool.member.id.to_string()));
    assert_eq!(attribute(&span, "status").as_deref(), Some("200"));
    // Exported in batches every 100 ms: had the health checks made spans, they would have
    // gone out with or before the request's.
    let exports = collector.exports();
    assert!(span_of(&exports, "otlp-health").is_none(), "{exports:?}");
    assert!(span_of(&exports, "otlp-ready").is_none(), "{exports:?}");
    // The trace stays Freeway's: providers are third parties.
    let upstream = mock.requests();
    assert!(upstream.iter().all(|r| r.header("traceparent").is_none()));
    collector.handle.stop(false).await;
}

#[tokio::test]
async fn spans_still_queued_are_sent_on_a_graceful_stop() {
    let mock = MockUpstream::start().await.unwrap();
    let pool = ServedPool::with(&mock, "otlp").await;
    let collector = Collector::start(200).await;
    // No batch is due for an hour: only the shutdown sends it.
    let mut served = pool.serve_every(&collector.url, "3600000").await;
    let response = pool.chat(&served, "otlp-last").await;
    assert_eq!(response.status(), 200);

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &served.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = served.wait_for_exit(Duration::from_secs(30)).await;

    assert!(status.success(), "{status}: {}", served.logs());
    assert!(
        span_of(&collector.exports(), "otlp-last").is_some(),
        "{}",
        served.logs()
    );
    collector.handle.stop(false).await;
}

#[tokio::test]
async fn a_failing_or_absent_collector_does_not_fail_requests() {
    let mock = MockUpstream::start().await.unwrap();
    let pool = ServedPool::with(&mock, "otlp").await;
    let failing = Collector::start(500).await;
    let absent = format!("http://127.0.0.1:{}", free_port());

    for endpoint in [failing.url.as_str(), absent.as_str()] {
        let served = pool.serve(endpoint).await;
        let first = pool.chat(&served, "otlp-down-1").await;
        eventually_within(Duration::from_secs(20), "a failed export", || {
            let logged = served.stderr().contains("trace export failed");
            async move { logged }
        })
        .await;
        let second = pool.chat(&served, "otlp-down-2").await;

        assert_eq!(first.status(), 200, "{endpoint}");
        assert_eq!(second.status(), 200, "{endpoint}");
        if endpoint == failing.url {
            // The collector was reached, and refused. The failure logged above may be an
            // earlier batch's (the readiness checks' spans): wait for the request's own.
            eventually_within(
                Duration::from_secs(20),
                "the request's refused span",
                || {
                    let sent = span_of(&failing.exports(), "otlp-down-1").is_some();
                    async move { sent }
                },
            )
            .await;
        }
    }
    failing.handle.stop(false).await;
}
