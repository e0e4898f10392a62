//! Latency percentiles, time to first token and error classes, estimated from the rollups'
//! histograms and counters.

use chrono::Utc;
use freeway::store;
use freeway::usage::UsageEvent;
use freeway_wire::usage::{UsageSummary, UsageTimeseries, UsageTotals};
use reqwest::Method;

use crate::helpers::{TestApp, spawn_app};

/// One request through `provider`, answered `status` after `latency_ms`.
fn event(app: &TestApp, provider: &str, status: u16, latency_ms: u64) -> UsageEvent {
    let mut event = UsageEvent::new("chat.completions");
    event.created_at = Utc::now();
    event.tenant_id = Some(app.tenant.id);
    event.member_id = Some(app.member.id);
    event.provider = Some(provider.into());
    event.model = Some("mock-model".into());
    event.status = status;
    event.latency_ms = latency_ms;
    // Non-streamed answers carry a time to first token too; only streams count it.
    event.ttft_ms = Some(latency_ms);
    event
}

fn streamed(mut event: UsageEvent, ttft_ms: u64) -> UsageEvent {
    event.stream = true;
    event.ttft_ms = Some(ttft_ms);
    event
}

/// mock0: 10 quick answers, 8 slower ones (4 of them streamed), a 429 and a 502; other: a
/// 400 and a request nobody answered.
fn known_events(app: &TestApp) -> Vec<UsageEvent> {
    let mut events: Vec<UsageEvent> = (0..10).map(|_| event(app, "mock0", 200, 40)).collect();
    for ttft in [120, 120, 120, 900] {
        events.push(streamed(event(app, "mock0", 200, 400), ttft));
    }
    events.extend((0..4).map(|_| event(app, "mock0", 200, 400)));
    events.push(event(app, "mock0", 429, 2_500));
    events.push(event(app, "mock0", 502, 90_000));
    events.push(event(app, "other", 400, 30));
    events.push(event(app, "other", 0, 5_000));
    events
}

fn expected_total() -> UsageTotals {
    UsageTotals {
        requests: 22,
        errors: 4,
        prompt_tokens: 0,
        completion_tokens: 0,
        total_tokens: 0,
        avg_latency_ms: (400 + 3_200 + 2_500 + 90_000 + 30 + 5_000) / 22,
        // 11 under 50 ms, 8 under 500, then 3000, 7500 and 60 s or more: the 11th and the
        // 21st of 22.
        p50_latency_ms: 50,
        p95_latency_ms: 7_500,
        avg_ttft_ms: Some((120 * 3 + 900) / 4),
        p95_ttft_ms: Some(1_000),
        rate_limited: 1,
        server_errors: 2,
        client_errors: 1,
    }
}

#[tokio::test]
async fn known_events_give_the_expected_percentile_buckets_and_error_classes() {
    // Arrange: two batches, so the second adds to the rows the first wrote.
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let events = known_events(&app);
    let (first, second) = events.split_at(9);
    store::usage::insert_events(&app.db, first).await.unwrap();
    store::usage::insert_events(&app.db, second).await.unwrap();

    // Act
    let summary: UsageSummary = app
        .admin_ok(Method::GET, "/admin/v1/usage/summary", &token, None)
        .await;
    let by_provider: UsageSummary = app
        .admin_ok(
            Method::GET,
            "/admin/v1/usage/summary?group_by=provider",
            &token,
            None,
        )
        .await;
    let series: UsageTimeseries = app
        .admin_ok(
            Method::GET,
            "/admin/v1/usage/timeseries?granularity=hour",
            &token,
            None,
        )
        .await;

    // Assert
    assert_eq!(summary.total, expected_total());
    assert_eq!(by_provider.total, expected_total());
    let group = |name: &str| {
        by_provider
            .groups
            .iter()
            .find(|g| g.key.as_deref() == Some(name))
            .unwrap()
            .totals
            .clone()
    };
    let mock0 = group("mock0");
    assert_eq!(
        (mock0.requests, mock0.p50_latency_ms, mock0.p95_latency_ms),
        (20, 50, 3_000)
    );
    assert_eq!(
        (mock0.avg_ttft_ms, mock0.p95_ttft_ms),
        (Some(315), Some(1_000))
    );
    assert_eq!(
        (mock0.rate_limited, mock0.server_errors, mock0.client_errors),
        (1, 1, 0)
    );
    let other = group("other");
    assert_eq!((other.p50_latency_ms, other.p95_latency_ms), (50, 7_500));
    assert_eq!(
        (other.avg_ttft_ms, other.p95_ttft_ms),
        (None, None),
        "no streamed request: no time to first token"
    );
    assert_eq!((other.server_errors, other.client_errors), (1, 1));

    let busy: Vec<_> = series
        .points
        .iter()
        .filter(|p| p.totals.requests > 0)
        .collect();
    assert_eq!(busy.len(), 1);
    assert_eq!(busy[0].totals, expected_total());
    let empty = series
        .points
        .iter()
        .find(|p| p.totals.requests == 0)
        .unwrap();
    assert_eq!(
        (empty.totals.p95_latency_ms, empty.totals.avg_ttft_ms),
        (0, None)
    );
    app.stop().await;
}

/// V5 rolls up the events recorded before it with the same buckets the writer uses.
#[tokio::test]
async fn the_migration_backfills_what_the_writer_would_have_written() {
    let app = spawn_app().await;
    store::usage::insert_events(&app.db, &known_events(&app))
        .await
        .unwrap();
    type Row = (
        String,
        Option<String>,
        Vec<i64>,
        i64,
        i64,
        Vec<i64>,
        i64,
        i64,
        i64,
    );
    // Histograms are compared as their readers see them: a shorter array is the same one
    // padded with zeros.
    let trimmed = |mut hist: Vec<i64>| {
        while hist.last() == Some(&0) {
            hist.pop();
        }
        hist
    };
    let rows = || async {
        sqlx::query_as::<_, Row>(
            "SELECT granularity, provider, latency_hist, ttft_ms_sum, ttft_count, ttft_hist,
                    rate_limited, server_errors, client_errors
             FROM usage_rollups ORDER BY granularity, provider",
        )
        .fetch_all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|mut row| {
            row.2 = trimmed(row.2);
            row.5 = trimmed(row.5);
            row
        })
        .collect::<Vec<_>>()
    };
    let written = rows().await;
    assert_eq!(written.len(), 4);

    // As a database migrated before V5 would hold them, then V5's backfill.
    sqlx::query(
        "UPDATE usage_rollups SET latency_hist = '{}', ttft_ms_sum = 0, ttft_count = 0,
             ttft_hist = '{}', rate_limited = 0, server_errors = 0, client_errors = 0",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let migration = include_str!("../../../migrations/V5__latency_histograms.sql");
    let backfill = &migration[migration.find("INSERT INTO usage_rollups").unwrap()..];
    sqlx::raw_sql(sqlx::AssertSqlSafe(backfill))
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(rows().await, written);
    app.stop().await;
}
