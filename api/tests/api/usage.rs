//! Usage events: one per `/v1` request, never lost on a graceful stop or SIGTERM, held
//! through a database outage, and never in the way of a request.

use std::sync::atomic::Ordering;
use std::time::Duration;

use freeway::crypto::{Keyring, Secret};
use freeway::mock::MockUpstream;
use freeway::store::providers::{self, ProviderFields};
use freeway::store::{self};
use futures_util::future::join_all;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::cli::Served;
use crate::helpers::{
    ACTOR, Spawn, TestApp, add_model, chat_body, create_key, eventually_within, fresh_database,
    http, spawn_app, spawn_with,
};
use crate::pg_proxy::{PgProxy, through_port};

async fn count(db: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM usage_events")
        .fetch_one(db)
        .await
        .unwrap()
}

/// Waits until `usage_events` holds `n` rows; the writer may be backing off (up to 5 s
/// between attempts), so the bound is generous.
async fn wait_for_rows(db: &PgPool, n: i64, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let rows = count(db).await;
        assert!(rows <= n, "{rows} usage events for {n} requests");
        if rows == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {rows} of {n} usage events written within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A chat completion that must succeed, and not by waiting on the database (whose pool gives
/// up after 5 s).
async fn chat_ok_quickly(app: &TestApp) {
    let started = std::time::Instant::now();
    let response = app.chat(chat_body("mock-model")).await;
    let took = started.elapsed();
    assert_eq!(response.status(), 200);
    assert!(took < Duration::from_secs(3), "a request took {took:?}");
}

pub async fn readyz_status(app: &TestApp) -> (u16, serde_json::Value) {
    let response = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn every_v1_request_makes_exactly_one_event() {
    let app = spawn_app().await;
    let ok = app.chat(chat_body("mock-model")).await;
    assert_eq!(ok.status(), 200);
    let models = app
        .client
        .get(format!("{}/v1/models", app.address))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200);
    let unauthorized = app.chat_with_key("fw-nope", chat_body("mock-model")).await;
    assert_eq!(unauthorized.status(), 401);
    let unknown_model = app.chat(chat_body("no-such-model")).await;
    assert_eq!(unknown_model.status(), 404);
    let unknown_route = app
        .client
        .post(format!("{}/v1/no/such/route", app.address))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_route.status(), 404);

    let tenant_id = app.tenant.id;
    let member_id = app.member.id;
    let (db, stats) = app.stop().await;
    // Stopped and drained: whatever is in the table now is everything.
    assert_eq!(count(&db).await, 5);
    assert_eq!(stats.written.load(Ordering::Relaxed), 5);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);

    let api_key_id: Uuid = sqlx::query_scalar("SELECT id FROM api_keys")
        .fetch_one(&db)
        .await
        .unwrap();
    let credential_id: Uuid = sqlx::query_scalar("SELECT id FROM credentials")
        .fetch_one(&db)
        .await
        .unwrap();
    let rows = sqlx::query("SELECT * FROM usage_events")
        .fetch_all(&db)
        .await
        .unwrap();
    let find = |endpoint: &str, status: i16| {
        let matching: Vec<_> = rows
            .iter()
            .filter(|r| {
                r.get::<String, _>("endpoint") == endpoint && r.get::<i16, _>("status") == status
            })
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "events for {endpoint} with status {status}"
        );
        matching[0]
    };

    let row = find("chat.completions", 200);
    assert_eq!(row.get::<Option<Uuid>, _>("tenant_id"), Some(tenant_id));
    assert_eq!(row.get::<Option<Uuid>, _>("member_id"), Some(member_id));
    assert_eq!(row.get::<Option<Uuid>, _>("api_key_id"), Some(api_key_id));
    assert_eq!(
        row.get::<Option<String>, _>("requested_model").as_deref(),
        Some("mock-model")
    );
    assert_eq!(
        row.get::<Option<String>, _>("provider").as_deref(),
        Some("mock0")
    );
    assert_eq!(
        row.get::<Option<String>, _>("model").as_deref(),
        Some("mock-model")
    );
    assert_eq!(
        row.get::<Option<Uuid>, _>("credential_id"),
        Some(credential_id)
    );
    assert_eq!(row.get::<Option<String>, _>("error_code"), None);
    assert!(!row.get::<bool, _>("stream"));
    assert_eq!(row.get::<Option<i32>, _>("prompt_tokens"), Some(10));
    assert_eq!(row.get::<Option<i32>, _>("completion_tokens"), Some(7));
    let latency: i32 = row.get("latency_ms");
    let ttft = row
        .get::<Option<i32>, _>("ttft_ms")
        .expect("ttft_ms of a completion");
    assert!(
        (0..=latency).contains(&ttft),
        "ttft {ttft} ms, latency {latency} ms"
    );
    assert!(latency < 30_000, "latency {latency} ms");
    assert_eq!(row.get::<i16, _>("attempts"), 1);
    let trail: serde_json::Value = row.get("attempt_trail");
    assert_eq!(trail.as_array().map(Vec::len), Some(1), "{trail}");
    assert_eq!(trail[0]["provider"], "mock0");
    assert_eq!(trail[0]["outcome"], "ok");
    assert_eq!(trail[0]["credential_id"], credential_id.to_string());

    let row = find("models", 200);
    assert_eq!(row.get::<Option<Uuid>, _>("api_key_id"), Some(api_key_id));

    // Who could not be identified is recorded as nobody.
    let row = find("chat.completions", 401);
    assert_eq!(row.get::<Option<Uuid>, _>("tenant_id"), None);
    assert_eq!(row.get::<Option<Uuid>, _>("api_key_id"), None);
    assert!(row.get::<Option<String>, _>("error_code").is_some());
    assert_eq!(row.get::<Option<String>, _>("provider"), None);

    let row = find("chat.completions", 404);
    assert_eq!(row.get::<Option<Uuid>, _>("tenant_id"), Some(tenant_id));
    assert_eq!(
        row.get::<Option<String>, _>("requested_model").as_deref(),
        Some("no-such-model")
    );
    assert_eq!(
        row.get::<Option<String>, _>("error_code").as_deref(),
        Some("model_not_found")
    );
    assert_eq!(row.get::<Option<String>, _>("provider"), None);
    assert_eq!(row.get::<i16, _>("attempts"), 0);

    find("unknown", 404);

    // Writing an event marks its key as used.
    let last_used: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_used_at FROM api_keys")
            .fetch_one(&db)
            .await
            .unwrap();
    assert!(last_used.is_some());
}

#[tokio::test]
async fn a_graceful_stop_drains_every_event() {
    let app = spawn_with(Spawn {
        configure: Box::new(|c| {
            c.usage.flush_interval_ms = 60_000;
            c.usage.batch_size = 10_000;
        }),
        ..Spawn::default()
    })
    .await;
    for _ in 0..20 {
        assert_eq!(app.chat(chat_body("mock-model")).await.status(), 200);
    }
    let concurrent = join_all((0..30).map(|_| app.chat(chat_body("mock-model")))).await;
    assert!(concurrent.iter().all(|r| r.status() == 200));

    // Nothing is written before the stop: what follows is the drain's doing.
    assert_eq!(app.usage_count().await, 0);
    let (db, stats) = app.stop().await;
    assert_eq!(count(&db).await, 50);
    assert_eq!(stats.written.load(Ordering::Relaxed), 50);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);
}

/// A database with one mock provider, a credential and a member key, for the binary.
struct Seeded {
    database_url: String,
    dir: std::path::PathBuf,
    key_file: std::path::PathBuf,
    api_key: String,
    db: PgPool,
    _mock: MockUpstream,
}

async fn seed() -> Seeded {
    let database_url = fresh_database().await;
    let dir = std::env::temp_dir().join(format!("freeway-test-{}", Uuid::new_v4().simple()));
    let key_file = dir.join("master.key");
    Keyring::generate_file(&key_file).unwrap();
    let keyring = Keyring::load_file(&key_file).unwrap();
    store::migrate::run(&database_url).await.unwrap();
    let db = PgPool::connect(&database_url).await.unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let provider = providers::create(
        &db,
        ACTOR,
        ProviderFields {
            keyless: false,
            priority: 10,
            timeout_ms: 5_000,
            ..ProviderFields::new("mock0", &mock.base_url())
        },
    )
    .await
    .unwrap();
    add_model(&db, &provider, "mock-model").await;
    crate::helpers::add_credential(&db, &keyring, &provider, &Secret::new("secret-0")).await;
    let (_, member) = crate::helpers::add_member(&db, "team", "alice").await;
    let api_key = create_key(&db, &member, None, None).await;
    Seeded {
        database_url,
        dir,
        key_file,
        api_key,
        db,
        _mock: mock,
    }
}

#[tokio::test]
async fn sigterm_drains_every_event_of_the_binary() {
    let seeded = seed().await;
    let mut served = Served::start(
        &seeded.database_url,
        &seeded.key_file,
        &[
            ("FREEWAY_USAGE__FLUSH_INTERVAL_MS", "60000"),
            ("FREEWAY_USAGE__BATCH_SIZE", "10000"),
        ],
    )
    .await;
    let client = http();
    let send = || {
        client
            .post(format!("{}/v1/chat/completions", served.address))
            .bearer_auth(&seeded.api_key)
            .json(&chat_body("mock-model"))
            .send()
    };
    for _ in 0..10 {
        assert_eq!(send().await.unwrap().status(), 200, "{}", served.logs());
    }
    for response in join_all((0..10).map(|_| send())).await {
        assert_eq!(response.unwrap().status(), 200);
    }
    assert_eq!(count(&seeded.db).await, 0, "written before the signal");

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &served.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = served.wait_for_exit(Duration::from_secs(60)).await;
    assert!(status.success(), "exit status {status}:\n{}", served.logs());
    assert_eq!(count(&seeded.db).await, 20, "{}", served.logs());
    drop(served);
    let _ = std::fs::remove_dir_all(&seeded.dir);
}

/// An app whose own database connections go through `proxy`; the test's `app.db` does not.
pub async fn spawn_behind(proxy: &PgProxy, configure: fn(&mut freeway::config::Config)) -> TestApp {
    let port = proxy.port();
    spawn_with(Spawn {
        configure: Box::new(move |c| {
            c.database_url = through_port(&c.database_url, port);
            configure(c);
        }),
        ..Spawn::default()
    })
    .await
}

#[tokio::test]
async fn events_are_held_through_a_database_outage() {
    let proxy = PgProxy::start().await;
    let app = spawn_behind(&proxy, |_| {}).await;
    assert_ne!(app.config.database_url, app.database_url);
    for _ in 0..5 {
        chat_ok_quickly(&app).await;
    }
    app.wait_for_usage(5).await;

    proxy.set_down(true).await;
    for _ in 0..10 {
        chat_ok_quickly(&app).await;
    }
    // Readiness is checked every second in the background.
    eventually_within(Duration::from_secs(5), "/readyz in the outage", || async {
        let (status, body) = readyz_status(&app).await;
        status == 503 && body["database"] == false
    })
    .await;
    // The writer has tried and failed; the events it holds are not lost, nor written.
    eventually_within(Duration::from_secs(30), "a failed usage write", || async {
        app.stats.failed_writes.load(Ordering::Relaxed) > 0
    })
    .await;
    assert_eq!(app.usage_count().await, 5);
    assert_eq!(app.stats.dropped.load(Ordering::Relaxed), 0);

    proxy.set_down(false).await;
    wait_for_rows(&app.db, 15, Duration::from_secs(30)).await;
    // The pool replaced the connections the outage broke.
    eventually_within(
        Duration::from_secs(30),
        "/readyz after the outage",
        || async { readyz_status(&app).await.0 == 200 },
    )
    .await;
    chat_ok_quickly(&app).await;
    let (db, stats) = app.stop().await;
    assert_eq!(count(&db).await, 16);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_full_queue_never_blocks_a_request() {
    let proxy = PgProxy::start().await;
    let app = spawn_behind(&proxy, |c| c.usage.queue_capacity = 1).await;
    proxy.set_down(true).await;

    // The writer stalls on the unreachable database; with room for one event in its queue,
    // the next ones are dropped, and the requests do not notice.
    let mut sent = 0i64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.stats.dropped.load(Ordering::Relaxed) == 0 || sent < 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no event dropped after {sent} requests"
        );
        chat_ok_quickly(&app).await;
        sent += 1;
    }
    let concurrent = join_all((0..20).map(|_| async {
        let started = std::time::Instant::now();
        let status = app.chat(chat_body("mock-model")).await.status();
        (status, started.elapsed())
    }))
    .await;
    for (status, took) in concurrent {
        assert_eq!(status, 200);
        assert!(took < Duration::from_secs(3), "a request took {took:?}");
    }
    sent += 20;

    proxy.set_down(false).await;
    let (db, stats) = app.stop().await;
    let dropped = stats.dropped.load(Ordering::Relaxed);
    assert!(dropped > 0);
    // Every event is either written or counted as dropped.
    assert_eq!(
        count(&db).await + i64::try_from(dropped).unwrap(),
        sent,
        "written + dropped"
    );
}
