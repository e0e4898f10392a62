//! `GET /metrics` on its own listener (`metrics_listen`): counters rise with traffic, quota
//! refusals and cooldowns are counted, the output is valid Prometheus text, and the main
//! listener does not serve it.

use std::collections::{BTreeMap, BTreeSet};

use freeway::mock::Behavior;
use freeway::store::quotas::{self, QuotaColumns};
use freeway::store::{Cursor, Search, api_keys};
use serde_json::{Value, json};

use crate::helpers::{ACTOR, Spawn, TestApp, chat_body, eventually, spawn_with};

async fn app() -> TestApp {
    spawn_with(Spawn {
        configure: Box::new(|config| {
            config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        }),
        ..Spawn::default()
    })
    .await
}

/// One sample: its name and labels, and its value.
type Samples = BTreeMap<(String, BTreeMap<String, String>), f64>;

async fn scrape(app: &TestApp) -> Samples {
    let address = app.metrics.as_ref().expect("metrics_listen is set");
    let response = app
        .client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    parse(&response.text().await.unwrap())
}

/// The value of `name` with exactly `labels`; 0 when absent (a series not yet seen).
fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .get(&(name.to_string(), labels))
        .copied()
        .unwrap_or(0.0)
}

fn stream_body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": true})
}

#[tokio::test]
async fn requests_latency_attempts_and_usage_written_rise_with_traffic() {
    let app = app().await;
    let before = scrape(&app).await;
    let chat = [
        ("surface", "chat.completions"),
        ("status", "2xx"),
        ("provider", "mock0"),
    ];
    let surface = [("surface", "chat.completions")];
    assert_eq!(value(&before, "freeway_requests_total", &chat), 0.0);

    for _ in 0..5 {
        assert_eq!(app.chat(chat_body("mock-model")).await.status(), 200);
    }
    let stream = app.chat(stream_body("mock-model")).await;
    assert_eq!(stream.status(), 200);
    stream.text().await.unwrap();
    app.wait_for_usage(6).await;
    eventually("the writer's counter to count the 6 events", || async {
        value(
            &scrape(&app).await,
            "freeway_usage_events_written_total",
            &[],
        ) >= 6.0
    })
    .await;

    let after = scrape(&app).await;
    let rose = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert_eq!(rose("freeway_requests_total", &chat), 6.0);
    assert_eq!(
        rose("freeway_request_duration_seconds_count", &surface),
        6.0
    );
    assert!(rose("freeway_request_duration_seconds_sum", &surface) > 0.0);
    assert_eq!(rose("freeway_request_attempts_count", &surface), 6.0);
    assert_eq!(rose("freeway_request_attempts_sum", &surface), 6.0);
    assert_eq!(
        rose("freeway_time_to_first_token_seconds_count", &surface),
        1.0
    );
    assert_eq!(
        rose(
            "freeway_provider_calls_total",
            &[("provider", "mock0"), ("outcome", "ok")]
        ),
        6.0
    );
    assert_eq!(rose("freeway_usage_events_written_total", &[]), 6.0);
    assert_eq!(
        value(&after, "freeway_usage_events_dropped_total", &[]),
        0.0
    );
    assert_eq!(value(&after, "freeway_usage_write_errors_total", &[]), 0.0);
    assert_eq!(value(&after, "freeway_usage_queue_depth", &[]), 0.0);
    assert_eq!(
        value(
            &after,
            "freeway_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    app.stop().await;
}

#[tokio::test]
async fn a_quota_refusal_is_counted_by_scope_and_reason() {
    let app = app().await;
    let key = api_keys::list(&app.db, app.tenant.id, None, Cursor::ALL, &Search::NONE)
        .await
        .unwrap()[0]
        .id;
    let rule = QuotaColumns {
        rpm: Some(1),
        ..QuotaColumns::default()
    };
    quotas::set(
        &app.db,
        ACTOR,
        freeway_wire::tenants::QuotaScope::ApiKey,
        key,
        rule,
    )
    .await
    .unwrap();
    // A restart loads the quota for sure (and starts the counts from zero).
    let app = app.restart().await;

    assert_eq!(app.chat(chat_body("mock-model")).await.status(), 200);
    assert_eq!(app.chat(chat_body("mock-model")).await.status(), 429);

    let samples = scrape(&app).await;
    let refusals = |scope, reason| {
        value(
            &samples,
            "freeway_quota_refusals_total",
            &[("scope", scope), ("reason", reason)],
        )
    };
    assert_eq!(refusals("api_key", "rpm"), 1.0);
    assert_eq!(refusals("member", "rpm"), 0.0);
    // The refused request reached no provider.
    let refused = [
        ("surface", "chat.completions"),
        ("status", "4xx"),
        ("provider", "none"),
    ];
    assert_eq!(value(&samples, "freeway_requests_total", &refused), 1.0);
    app.stop().await;
}

#[tokio::test]
async fn cooldowns_and_a_routes_headroom_are_read_from_the_pool() {
    let app = app().await;
    let token = app.admin_token().await;
    app.set_model_limits(&token, "mock0", "mock-model", json!({"rpm": 100}))
        .await;
    let credential = app.credential_row("mock0").await.to_string();
    let rpm_left = [
        ("provider", "mock0"),
        ("model", "mock-model"),
        ("credential", credential.as_str()),
        ("limit", "rpm"),
    ];
    eventually("the route's rpm limit to be loaded", || async {
        value(&scrape(&app).await, "freeway_route_headroom", &rpm_left) == 100.0
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.chat(chat_body("mock-model")).await.status(), 200);
    }
    assert_eq!(
        value(&scrape(&app).await, "freeway_route_headroom", &rpm_left),
        97.0
    );

    let route = [("scope", "route")];
    assert_eq!(
        value(&scrape(&app).await, "freeway_cooldowns_active", &route),
        0.0
    );
    app.mock(0).push(Behavior::rate_limited(30));
    assert_eq!(app.chat(chat_body("mock-model")).await.status(), 429);
    let samples = scrape(&app).await;
    let cooling: f64 = ["route", "credential", "provider", "model"]
        .iter()
        .map(|scope| value(&samples, "freeway_cooldowns_active", &[("scope", scope)]))
        .sum();
    assert!(cooling >= 1.0, "no cooldown counted after a 429");
    assert_eq!(
        value(
            &samples,
            "freeway_provider_calls_total",
            &[("provider", "mock0"), ("outcome", "rate_limited")]
        ),
        1.0
    );
    app.stop().await;
}

#[tokio::test]
async fn the_main_listener_does_not_serve_metrics() {
    let app = crate::helpers::spawn_app().await;
    assert!(app.metrics.is_none(), "metrics are off by default");
    let response = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_url");
    app.stop().await;
}

#[tokio::test]
async fn only_get_metrics_is_served_on_the_metrics_listener() {
    let app = app().await;
    let address = app.metrics.clone().unwrap();
    let other = app
        .client
        .get(format!("{address}/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    let main = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(main.status(), 404);
    app.stop().await;
}

/// Parses Prometheus' text exposition format strictly: every line a `# HELP`, a `# TYPE`
/// declared before its samples, or a sample of a declared family with well-formed labels and
/// value; a histogram's buckets cumulative and ending in `+Inf` equal to its `_count`.
fn parse(text: &str) -> Samples {
    let name_ok = |n: &str| {
        n.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
        }) && !n.is_empty()
    };
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Samples::new();
    assert!(text.ends_with('\n'), "the last line is not ended");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name, what) = (parts.next(), parts.next(), parts.next());
            let name = name.unwrap_or_else(|| panic!("bad comment: {line}"));
            assert!(name_ok(name), "bad name in {line}");
            match kind {
                Some("HELP") => assert!(what.is_some_and(|h| !h.is_empty()), "{line}"),
                Some("TYPE") => {
                    let what = what.unwrap();
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&what),
                        "{line}"
                    );
                    assert!(
                        types.insert(name.to_string(), what.to_string()).is_none(),
                        "{name} declared twice"
                    );
                }
                _ => panic!("unknown comment: {line}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, parse_labels(labels.strip_suffix('}').unwrap())),
            None => (series, BTreeMap::new()),
        };
        assert!(name_ok(name), "bad name in {line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                let base = name.strip_suffix(s)?;
                (types.get(base).map(String::as_str) == Some("histogram")).then_some(base)
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "{name} has no TYPE before it");
        if types[family] == "counter" {
            assert!(name.ends_with("_total"), "counter {name} lacks _total");
        }
        let key = (name.to_string(), labels);
        assert!(samples.insert(key, value).is_none(), "duplicate: {line}");
    }
    check_histograms(&types, &samples);
    samples
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("{text}"));
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    other => panic!("bad escape {other:?} in {text}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {text}"),
            }
        };
        assert!(
            labels.insert(name.to_string(), value).is_none(),
            "label {name} twice in {text}"
        );
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    labels
}

/// Each histogram series: buckets cumulative, `+Inf` present and equal to `_count`.
fn check_histograms(types: &BTreeMap<String, String>, samples: &Samples) {
    let histograms: BTreeSet<&String> = types
        .iter()
        .filter(|(_, t)| *t == "histogram")
        .map(|(n, _)| n)
        .collect();
    for ((name, labels), count) in samples {
        let Some(base) = name.strip_suffix("_count") else {
            continue;
        };
        if !histograms.contains(&base.to_string()) {
            continue;
        }
        let mut buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|((n, l), _)| {
                *n == format!("{base}_bucket")
                    && l.iter().filter(|(k, _)| *k != "le").eq(labels.iter())
            })
            .map(|((_, l), v)| {
                let le = match l["le"].as_str() {
                    "+Inf" => f64::INFINITY,
                    le => le.parse().unwrap(),
                };
                (le, *v)
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{base} {labels:?}: buckets not cumulative"
        );
        assert_eq!(
            buckets.last(),
            Some(&(f64::INFINITY, *count)),
            "{base} {labels:?}: +Inf bucket is not the count"
        );
    }
}
