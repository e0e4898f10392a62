//! Replicas on one database and one Redis (`redis_url`): quotas, route limits, cooldowns,
//! sessions and the login throttle are shared, and exact across replicas; a request makes
//! one round trip to Redis in and one out. Redis faults are in `redis_faults`.
//!
//! Each test starts a Redis of its own (`redis-server` on a free port, no persistence),
//! killed when dropped, so tests are isolated and can stop and restart it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use freeway::mock::Behavior;
use futures_util::future::join_all;
use reqwest::Method;

use crate::fleet::{Replica, chat_at};
use crate::helpers::{Spawn, TestApp, chat_body, eventually_within, header, spawn_with};

/// A `redis-server` of the test's own, on `port`; killed when dropped.
pub(crate) struct RedisServer {
    pub(crate) port: u16,
    child: Option<Child>,
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn redis_installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl RedisServer {
    /// `None` (and a line saying why) when `redis-server` is not installed.
    // Called from tests only; the line is the skip's reason in the test output.
    #[allow(clippy::print_stderr)]
    pub(crate) async fn start() -> Option<RedisServer> {
        if !redis_installed() {
            eprintln!("SKIPPED: redis-server is not installed (apt-get install -y redis-server)");
            return None;
        }
        let mut server = RedisServer {
            port: free_port(),
            child: None,
        };
        server.up().await;
        Some(server)
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on its port and waits until it answers.
    pub(crate) async fn up(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let port = self.port;
        eventually_within(Duration::from_secs(10), "redis-server to answer", || {
            ping(port)
        })
        .await;
    }

    /// Kills it (SIGKILL: a crash, not a shutdown).
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A command's answer from the Redis on `port`, as text (RESP, inline command).
pub(crate) async fn redis_text(port: u16, command: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(format!("{command}\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).await.unwrap();
        answer.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&answer);
        // A bulk string: `$<len>\r\n<body>\r\n`; anything else is one line.
        let done = match text.strip_prefix('$') {
            Some(rest) => rest
                .split_once("\r\n")
                .is_some_and(|(len, body)| body.len() >= len.parse::<usize>().unwrap_or(0) + 2),
            None => text.ends_with("\r\n"),
        };
        if n == 0 || done {
            return text.into_owned();
        }
    }
}

/// Calls of `command` since the last `CONFIG RESETSTAT`, from `INFO commandstats`.
pub(crate) async fn calls(port: u16, command: &str) -> u64 {
    let stats = redis_text(port, "INFO commandstats").await;
    let prefix = format!("cmdstat_{command}:calls=");
    stats
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

async fn ping(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if stream.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer).await.is_ok() && &answer == b"+PONG\r\n"
}

/// An app on Redis `url`. Exactness needs every request to reach Redis: on a busy 2-core
/// machine a short timeout would send some to local limits (by design), so tests wait up to
/// 1 or 2 s (a killed Redis refuses connections at once; no test waits on a timeout).
pub(crate) async fn spawn_on(url: String, timeout_ms: u64) -> TestApp {
    spawn_providers_on(url, timeout_ms, 1).await
}

/// [`spawn_on`] with `providers` providers serving the model, in priority order.
pub(crate) async fn spawn_providers_on(url: String, timeout_ms: u64, providers: usize) -> TestApp {
    spawn_with(Spawn {
        providers,
        configure: Box::new(move |config| {
            config.redis_url = Some(url);
            config.redis_timeout_ms = timeout_ms;
            config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        }),
        ..Spawn::default()
    })
    .await
}

/// A chat in session `session` through `address`: its status and the route that served it.
pub(crate) async fn chat_in_session(
    app: &TestApp,
    address: &str,
    session: Option<&str>,
) -> (u16, String) {
    let mut request = app
        .client
        .post(format!("{address}/v1/chat/completions"))
        .bearer_auth(&app.api_key)
        .json(&chat_body("mock-model"));
    if let Some(session) = session {
        request = request.header("x-session-id", session);
    }
    let response = request.send().await.unwrap();
    let route = header(&response, "x-freeway-route").to_string();
    (response.status().as_u16(), route)
}

/// `n` requests at once, spread round-robin over `addresses`; their statuses.
pub(crate) async fn burst(app: &TestApp, addresses: &[String], n: usize) -> Vec<u16> {
    join_all((0..n).map(|i| chat_at(app, &addresses[i % addresses.len()]))).await
}

pub(crate) fn served(statuses: &[u16]) -> usize {
    statuses.iter().filter(|s| **s == 200).count()
}

/// Every answer is a success or a refusal for lack of capacity: none failed.
pub(crate) fn none_failed(statuses: &[u16]) {
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "only 200 and 429: {statuses:?}"
    );
}

pub(crate) async fn set_tenant_rpm(app: &TestApp, token: &str, rpm: u64) {
    let path = format!("/admin/v1/tenants/{}/quota", app.tenant.id);
    let (status, body) = app
        .admin(
            Method::PUT,
            &path,
            Some(token),
            Some(serde_json::json!({ "rpm": rpm })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The change reaches every replica's memory by Postgres NOTIFY, within milliseconds.
    tokio::time::sleep(Duration::from_millis(1000)).await;
}

pub(crate) async fn scrape(app: &TestApp) -> String {
    let url = format!("{}/metrics", app.metrics.as_ref().unwrap());
    app.client
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub(crate) fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0, |v| v.trim().parse().unwrap())
}

pub(crate) async fn readyz_redis(address: &str) -> Option<bool> {
    let body: serde_json::Value = crate::helpers::http()
        .get(format!("{address}/readyz"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    body["redis"].as_bool()
}

pub(crate) async fn until_redis(addresses: &[&str], up: bool) {
    eventually_within(
        Duration::from_secs(15),
        "readyz to report redis",
        || async {
            for address in addresses {
                if readyz_redis(address).await != Some(up) {
                    return false;
                }
            }
            true
        },
    )
    .await;
}

/// Waits until `n` replicas beat in Postgres, and then for each to have read the count.
pub(crate) async fn until_replicas(app: &TestApp, n: i64) {
    eventually_within(Duration::from_secs(15), "replicas' heartbeats", || async {
        let live: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM fleet_replicas WHERE seen_at > now() - interval '5 seconds'",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        live == n
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
}

#[tokio::test]
async fn a_tenant_quota_of_50_rpm_admits_exactly_50_of_600_across_three_replicas() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let app = spawn_on(redis.url(), 2000).await;
    let token = app.admin_token().await;
    set_tenant_rpm(&app, &token, 50).await;
    // Started after the quota: they load it.
    let (second, third) = (Replica::of(&app).await, Replica::of(&app).await);
    let addresses = [
        app.address.clone(),
        second.address.clone(),
        third.address.clone(),
    ];
    until_redis(&[&app.address, &second.address, &third.address], true).await;

    let statuses = burst(&app, &addresses, 600).await;
    none_failed(&statuses);
    assert_eq!(served(&statuses), 50, "exactly the quota, fleet-wide");

    second.stop().await;
    third.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_route_limit_admits_exactly_its_rpm_across_two_replicas() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let app = spawn_on(redis.url(), 2000).await;
    let token = app.admin_token().await;
    app.set_model_limits(
        &token,
        "mock0",
        "mock-model",
        serde_json::json!({"rpm": 20}),
    )
    .await;
    let second = Replica::of(&app).await;
    let addresses = [app.address.clone(), second.address.clone()];
    until_redis(&[&app.address, &second.address], true).await;

    let statuses = burst(&app, &addresses, 200).await;
    none_failed(&statuses);
    assert_eq!(served(&statuses), 20, "exactly the route's rpm, fleet-wide");

    second.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn the_login_throttle_is_shared_by_the_replicas() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let app = spawn_on(redis.url(), 2000).await;
    let second = Replica::of(&app).await;
    until_redis(&[&app.address, &second.address], true).await;
    let (username, _) = app.first_admin.clone().unwrap();
    let login = |address: String| {
        let client = app.client.clone();
        let username = username.clone();
        async move {
            client
                .post(format!("{address}/admin/v1/auth/login"))
                .json(&serde_json::json!({"username": username, "password": "wrong"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Seven wrong passwords through one replica: the next must wait 4 s, on either.
    for _ in 0..7 {
        let status = login(app.address.clone()).await;
        assert!(status == 401 || status == 429, "{status}");
    }
    assert_eq!(login(second.address.clone()).await, 429);

    second.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_cooldown_set_on_one_replica_benches_the_route_on_the_other() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let app = spawn_on(redis.url(), 2000).await;
    let second = Replica::of(&app).await;
    until_redis(&[&app.address, &second.address], true).await;
    assert_eq!(second.chat(&app).await, 200);

    // The only route answers 429 through the first replica: it cools down for 5 minutes.
    app.mock(0).push(Behavior::rate_limited(300));
    assert_eq!(chat_at(&app, &app.address).await, 429);
    // The other replica takes it within a second or two, and then passes the route over
    // without calling it.
    eventually_within(
        Duration::from_secs(10),
        "the cooldown on the other",
        || async { second.chat(&app).await == 429 },
    )
    .await;
    let calls = app.mock(0).request_count();
    assert_eq!(second.chat(&app).await, 429);
    assert_eq!(
        app.mock(0).request_count(),
        calls,
        "no call to a cooling route"
    );

    // Cleared through the other replica, the route serves on both again.
    let token = app.admin_token().await;
    let response = app
        .client
        .delete(format!("{}/admin/v1/cooldowns", second.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    eventually_within(Duration::from_secs(10), "both to serve again", || async {
        chat_at(&app, &app.address).await == 200 && second.chat(&app).await == 200
    })
    .await;

    second.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_session_stays_on_its_route_whichever_replica_serves_it() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let app = spawn_providers_on(redis.url(), 2000, 2).await;
    let second = Replica::of(&app).await;
    until_redis(&[&app.address, &second.address], true).await;

    // The first provider fails once: the conversation lands on the second and stays there.
    app.mock(0).push(Behavior::status(500));
    let (status, route) = chat_in_session(&app, &app.address, Some("conversation-7")).await;
    assert_eq!((status, route.as_str()), (200, "mock1/mock-model"));
    // The failure's cooldown is cleared: new conversations go to the first provider again,
    // on both replicas.
    let token = app.admin_token().await;
    let (status, _) = app
        .admin(Method::DELETE, "/admin/v1/cooldowns", Some(&token), None)
        .await;
    assert_eq!(status, 204);
    eventually_within(
        Duration::from_secs(10),
        "the first provider back",
        || async {
            let here = chat_in_session(&app, &app.address, None).await;
            let there = chat_in_session(&app, &second.address, None).await;
            here.1 == "mock0/mock-model" && there.1 == "mock0/mock-model"
        },
    )
    .await;

    // The pinned conversation stays on the second provider through the other replica.
    let (status, route) = chat_in_session(&app, &second.address, Some("conversation-7")).await;
    assert_eq!((status, route.as_str()), (200, "mock1/mock-model"));

    second.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_request_makes_one_round_trip_to_redis_in_and_one_out() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let app = spawn_on(redis.url(), 2000).await;
    let token = app.admin_token().await;
    // Every scope limited: the tenant's quota and the route's, its credential's and its
    // provider account's windows.
    set_tenant_rpm(&app, &token, 1000).await;
    app.set_model_limits(
        &token,
        "mock0",
        "mock-model",
        serde_json::json!({"rpm": 1000}),
    )
    .await;
    until_redis(&[&app.address], true).await;
    assert_eq!(chat_at(&app, &app.address).await, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let _ = redis_text(redis.port, "CONFIG RESETSTAT").await;
    for _ in 0..10 {
        assert_eq!(chat_at(&app, &app.address).await, 200);
        // Apart enough that no two settles are merged.
        tokio::time::sleep(freeway::shared::SETTLE_AFTER * 6).await;
    }
    // In: one script that checks and reserves the quotas and the route together. Out: one
    // that settles both (off the request's path). The conversation's pin is already here.
    let scripts = || async { calls(redis.port, "evalsha").await + calls(redis.port, "eval").await };
    eventually_within(Duration::from_secs(10), "the settles", || async {
        scripts().await >= 20
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(scripts().await, 20, "two scripts a request");
    assert_eq!(calls(redis.port, "get").await, 0, "no session read");
    assert_eq!(calls(redis.port, "set").await, 0, "no session write");

    app.stop().await;
}

/// Settles made within a few milliseconds of each other go out merged, one script call for
/// those of the same scopes in the same second, and the windows then hold exactly the
/// tokens the answers used in place of the estimates.
#[tokio::test]
async fn settles_made_together_go_out_merged_and_count_the_real_tokens() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let app = spawn_on(redis.url(), 2000).await;
    let token = app.admin_token().await;
    set_tenant_rpm(&app, &token, 1000).await;
    until_redis(&[&app.address], true).await;
    let chat = || async {
        let response = app
            .client
            .post(format!("{}/v1/chat/completions", app.address))
            .bearer_auth(&app.api_key)
            .json(&chat_body("mock-model"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let answer: serde_json::Value = response.json().await.unwrap();
        answer["usage"]["total_tokens"].as_u64().unwrap()
    };
    // One first, so that Redis holds both scripts before the count starts (a script Redis
    // does not hold yet is one more `EVALSHA` that fails, then loaded).
    let first = chat().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = redis_text(redis.port, "CONFIG RESETSTAT").await;

    let used = first + join_all((0..10).map(|_| chat())).await.iter().sum::<u64>();

    // The tenant's, member's and key's days: 11 requests and the tokens used, once settled.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("freeway:{fw}:q:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 3, "{keys:?}");
    let day = |packed: Vec<u8>| {
        let value = |i: usize| f64::from_le_bytes(packed[i * 8..i * 8 + 8].try_into().unwrap());
        (value(1) as u64, value(2) as u64)
    };
    let days = || {
        let mut conn = conn.clone();
        let keys = keys.clone();
        async move {
            let mut days = Vec::new();
            for key in &keys {
                let packed: Vec<u8> = redis::cmd("HGET")
                    .arg(key)
                    .arg("d")
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                days.push(day(packed));
            }
            days
        }
    };
    eventually_within(Duration::from_secs(10), "the settles", || async {
        days().await.iter().all(|d| *d == (11, used))
    })
    .await;
    // Ten reserves in; fewer than ten settles out.
    let scripts = calls(redis.port, "evalsha").await + calls(redis.port, "eval").await;
    assert!((11..20).contains(&scripts), "{scripts} script calls");
    app.stop().await;
}

/// The routing state's row of the route mock0/mock-model, as the replica at `address`
/// shows it.
async fn route_row(app: &TestApp, address: &str, token: &str) -> serde_json::Value {
    let state: serde_json::Value = app
        .client
        .get(format!("{address}/admin/v1/routing/state"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    state["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["kind"] == "route"
                && s["label"]
                    .as_str()
                    .is_some_and(|l| l.starts_with("mock0/mock-model"))
        })
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn each_replica_shows_the_fleets_use_of_a_routes_windows() {
    // Arrange: the route takes 8 requests a minute and 100 a day; two replicas.
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let app = spawn_on(redis.url(), 2000).await;
    let token = app.admin_token().await;
    app.set_model_limits(
        &token,
        "mock0",
        "mock-model",
        serde_json::json!({"rpm": 8, "rpd": 100}),
    )
    .await;
    let second = Replica::of(&app).await;
    until_redis(&[&app.address, &second.address], true).await;

    // Act: 5 requests through the first replica, 3 through the second: the minute is full.
    for address in [&app.address; 5].into_iter().chain([&second.address; 3]) {
        assert_eq!(chat_at(&app, address).await, 200);
    }

    // Assert: both show the fleet's 8, no headroom, and the route passed over for rpm.
    for address in [&app.address, &second.address] {
        let row = route_row(&app, address, &token).await;
        assert_eq!(row["requests_last_minute"], 8, "{address}: {row}");
        assert_eq!(row["requests_today"], 8, "{address}: {row}");
        assert_eq!(row["headroom"], 0.0, "{address}: {row}");
        assert_eq!(row["skip_reason"], "route rpm limit reached", "{row}");
        assert!(row["skip_until"].is_string(), "{row}");
    }
    assert_eq!(chat_at(&app, &second.address).await, 429);

    second.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_cooldown_written_to_redis_after_a_clear_that_ended_it_is_not_taken() {
    // Arrange: two replicas; the route cools down on both, then every cooldown is cleared
    // through the second and both have let it go.
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let app = spawn_on(redis.url(), 2000).await;
    let second = Replica::of(&app).await;
    until_redis(&[&app.address, &second.address], true).await;
    let token = app.admin_token().await;
    let addresses = [app.address.clone(), second.address.clone()];
    let cooling = |address: &str| {
        let address = address.to_string();
        let (app, token) = (&app, &token);
        async move { route_row(app, &address, token).await["cooldown"].is_object() }
    };
    app.mock(0).push(Behavior::status(503));
    assert_ne!(chat_at(&app, &app.address).await, 200);
    for address in &addresses {
        eventually_within(Duration::from_secs(15), "the cooldown on both", || {
            cooling(address)
        })
        .await;
    }
    let scope = route_row(&app, &second.address, &token).await["scope"]
        .as_str()
        .unwrap()
        .to_string();
    let response = app
        .client
        .delete(format!("{}/admin/v1/cooldowns", second.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let cleared = chrono::Utc::now().timestamp_millis();
    for address in &addresses {
        eventually_within(Duration::from_secs(15), "the clear on both", || async {
            !cooling(address).await
        })
        .await;
    }
    let client = redis::Client::open(redis.url()).unwrap();
    let conn = client.get_multiplexed_async_connection().await.unwrap();
    let write = |since: i64| {
        let mut conn = conn.clone();
        let value = format!("{}\t{since}\t503 from before", cleared + 300_000);
        let scope = scope.clone();
        async move {
            let _: () = redis::cmd("HSET")
                .arg("freeway:{fw}:cooldowns")
                .arg(scope)
                .arg(value)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    };

    // Act: a failure's cooldown set before the clear reaches Redis only now.
    write(cleared - 2_000).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // Assert: neither replica takes it (each reads Redis every second)...
    for address in &addresses {
        let row = route_row(&app, address, &token).await;
        assert_eq!(row["cooldown"], serde_json::Value::Null, "{address}: {row}");
        assert_eq!(chat_at(&app, address).await, 200);
    }
    // ...while one set after the clear is taken by both.
    write(chrono::Utc::now().timestamp_millis()).await;
    for address in &addresses {
        eventually_within(Duration::from_secs(15), "the later cooldown", || {
            cooling(address)
        })
        .await;
    }
    second.stop().await;
    app.stop().await;
}
