//! Redis faults in a fleet: down at start, lost mid-run, back again (no request fails for
//! it, each replica holds to its share meanwhile); `rediss://`; the window script's own
//! semantics.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::fleet::{Replica, chat_at};
use crate::helpers::{Spawn, eventually_within, spawn_with};
use crate::redis_fleet::{
    RedisServer, burst, free_port, metric, none_failed, redis_installed, redis_text, scrape,
    served, set_tenant_rpm, spawn_on, until_redis, until_replicas,
};

#[tokio::test]
async fn redis_down_at_start_serves_each_replica_its_share_then_returns_to_redis() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    redis.kill();
    let app = spawn_on(redis.url(), 1000).await;
    let token = app.admin_token().await;
    set_tenant_rpm(&app, &token, 10).await;
    let second = Replica::of(&app).await;
    until_redis(&[&app.address, &second.address], false).await;
    until_replicas(&app, 2).await;

    // Each replica holds to half of the quota.
    let statuses = burst(&app, std::slice::from_ref(&app.address), 20).await;
    none_failed(&statuses);
    assert_eq!(served(&statuses), 5, "this replica's share of 10 rpm");

    // Redis comes back: both return to it within seconds, and the fleet shares the quota
    // there (Redis did not see what was served while it was away).
    redis.up().await;
    until_redis(&[&app.address, &second.address], true).await;
    let addresses = [app.address.clone(), second.address.clone()];
    let statuses = burst(&app, &addresses, 40).await;
    none_failed(&statuses);
    assert_eq!(served(&statuses), 10, "the whole quota, on Redis");

    second.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn redis_lost_mid_run_fails_no_request_and_keeps_the_fleet_within_the_quota() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let app = spawn_on(redis.url(), 1000).await;
    let token = app.admin_token().await;
    set_tenant_rpm(&app, &token, 10).await;
    let second = Replica::of(&app).await;
    until_redis(&[&app.address, &second.address], true).await;
    until_replicas(&app, 2).await;
    // Two served by each replica, counted on Redis and by each replica itself.
    for address in [&app.address, &second.address, &app.address, &second.address] {
        assert_eq!(chat_at(&app, address).await, 200);
    }

    redis.kill();
    let addresses = [app.address.clone(), second.address.clone()];
    let statuses = burst(&app, &addresses, 40).await;
    none_failed(&statuses);
    // Each replica's share is 5, of which it had used 2.
    assert_eq!(served(&statuses), 6, "the rest of each replica's share");
    until_redis(&[&app.address, &second.address], false).await;
    let metrics = scrape(&app).await;
    assert!(
        metrics.contains("freeway_shared_state_mode{mode=\"local\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("freeway_fleet_replicas 2"), "{metrics}");
    let errors = metric(&metrics, "freeway_redis_errors_total");
    let local = metric(&metrics, "freeway_redis_local_decisions_total");
    assert!(
        errors >= 1 && local >= 1,
        "errors {errors}, local decisions {local}"
    );

    // Back: both return to Redis within seconds.
    redis.up().await;
    until_redis(&[&app.address, &second.address], true).await;
    assert!(
        scrape(&app)
            .await
            .contains("freeway_shared_state_mode{mode=\"redis\"} 1")
    );

    second.stop().await;
    app.stop().await;
}

/// The window script itself, against a Redis of its own: a sliding minute, the day,
/// tokens settled with their real count, a reservation given back, and all-or-nothing
/// across scopes.
#[tokio::test]
async fn the_window_script_checks_reserves_settles_and_releases() {
    use freeway::shared::{Reserved, Shared, Spec, UNLIMITED};
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let shared = Shared::new(&redis.url(), Duration::from_secs(2), None).unwrap();
    assert!(shared.check().await);
    let now = 1_790_000_000_000i64;
    let day_end = now + 3_600_000;
    let spec = |key: &str, rpm: i64, tpm: i64| Spec {
        key: format!("freeway:{{fw}}:test:{key}"),
        limits: [rpm, UNLIMITED, UNLIMITED, tpm, UNLIMITED, UNLIMITED],
        day_end,
        month_end: 0,
        rings: 1,
    };
    let held = |r: Reserved| match r {
        Reserved::Held(held) => held,
        other => panic!("refused: {other:?}"),
    };
    // Two of rpm 2; the third is refused until the first leaves the minute.
    let a = spec("a", 2, 100);
    let first = held(shared.reserve(std::slice::from_ref(&a), 30, now).await);
    let _second = held(
        shared
            .reserve(std::slice::from_ref(&a), 30, now + 10_000)
            .await,
    );
    match shared
        .reserve(std::slice::from_ref(&a), 30, now + 20_000)
        .await
    {
        Reserved::Refused(refused) => {
            assert_eq!((refused.index, refused.limit), (0, "rpm"));
            assert_eq!(refused.until, Some(now + 60_000));
        }
        other => panic!("{other:?}"),
    }
    // Given back, it frees its place at once.
    first.finish(None);
    eventually_within(Duration::from_secs(5), "the release", || async {
        matches!(
            shared
                .reserve(std::slice::from_ref(&a), 30, now + 20_000)
                .await,
            Reserved::Held(_)
        )
    })
    .await;
    // Tokens: 60 of 100 used; 50 more do not fit, a request larger than the limit never will.
    let b = spec("b", UNLIMITED, 100);
    let taken = held(shared.reserve(std::slice::from_ref(&b), 60, now).await);
    match shared.reserve(std::slice::from_ref(&b), 50, now + 1).await {
        Reserved::Refused(refused) => assert_eq!(refused.limit, "tpm"),
        other => panic!("{other:?}"),
    }
    match shared.reserve(std::slice::from_ref(&b), 101, now + 1).await {
        Reserved::Refused(refused) => assert_eq!((refused.limit, refused.until), ("tpm", None)),
        other => panic!("{other:?}"),
    }
    // Settled at 20 real tokens: 80 are free again.
    taken.finish(Some(20));
    eventually_within(Duration::from_secs(5), "the settle", || async {
        matches!(
            shared.reserve(std::slice::from_ref(&b), 80, now + 2).await,
            Reserved::Held(_)
        )
    })
    .await;
    // All or nothing: a refusal on the second scope counts nothing on the first.
    let c = spec("c", 1, UNLIMITED);
    let full = spec("full", 0, UNLIMITED);
    match shared.reserve(&[c.clone(), full], 1, now).await {
        Reserved::Refused(refused) => assert_eq!((refused.index, refused.limit), (1, "rpm")),
        other => panic!("{other:?}"),
    }
    held(shared.reserve(std::slice::from_ref(&c), 1, now).await);
    // The minute slides: a minute and a second later, the first scope is free again.
    held(
        shared
            .reserve(std::slice::from_ref(&a), 1, now + 71_000)
            .await,
    );
    // Every key expires by itself: two hours after its day ends (here an hour from `now`).
    let ttl = redis_text(redis.port, "PTTL freeway:{fw}:test:a").await;
    let ttl: i64 = ttl.trim().trim_start_matches(':').parse().unwrap();
    assert!(
        (2 * 3_600_000..=3 * 3_600_000).contains(&ttl),
        "a TTL of {ttl} ms"
    );
    // A scope is a hash table from its first write, never a listpack that every field
    // lookup would scan (window.lua pads the day's value past hash-max-listpack-value).
    let encoding = redis_text(redis.port, "OBJECT ENCODING freeway:{fw}:test:c").await;
    assert!(encoding.contains("hashtable"), "{encoding}");
}

/// A scope holding values the script did not write (another format, a hand edit) is
/// started afresh: before, a window's totals read as a huge number sent the script into an
/// endless loop that kept Redis busy for every client.
#[tokio::test]
async fn a_scope_the_script_did_not_write_starts_afresh_and_keeps_redis_answering() {
    use freeway::shared::{Reserved, Shared, Spec, UNLIMITED};
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let shared = Shared::new(&redis.url(), Duration::from_secs(2), None).unwrap();
    assert!(shared.check().await);
    let key = "freeway:{fw}:test:garbage";
    let junk = "x".repeat(24);
    redis_text(
        redis.port,
        &format!("HSET {key} m {junk} h {junk} m1 {junk}"),
    )
    .await;
    let now = 1_790_000_000_000i64;
    let spec = Spec {
        key: key.to_string(),
        limits: [5, 50, UNLIMITED, UNLIMITED, UNLIMITED, UNLIMITED],
        day_end: now + 3_600_000,
        month_end: 0,
        rings: 3,
    };

    let answer = shared.reserve(std::slice::from_ref(&spec), 1, now).await;

    assert!(matches!(answer, Reserved::Held(_)), "{answer:?}");
    assert!(redis_text(redis.port, "PING").await.contains("PONG"));
}

/// `rediss://` with rustls: a Redis serving TLS only, with a certificate of a CA of the
/// test's own (openssl), reached through `redis_ca_file`.
#[tokio::test]
async fn a_fleet_reaches_redis_over_tls() {
    if !redis_installed() || Command::new("openssl").arg("version").output().is_err() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("freeway-redis-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let sh = |script: &str| {
        let status = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{script}");
    };
    sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=freeway test CA'",
    );
    sh(
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=localhost'",
    );
    sh(
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > ext.cnf",
    );
    sh(
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf",
    );
    let port = free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--tls-cert-file",
            "server.pem",
            "--tls-key-file",
            "server.key",
        ])
        .args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"])
        .args(["--save", "", "--appendonly", "no"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed however the test ends.
    let _server = KillOnDrop(child);
    let ca = dir.join("ca.pem");

    let url = format!("rediss://localhost:{port}");
    let app = spawn_with(Spawn {
        configure: Box::new(move |config| {
            config.redis_url = Some(url);
            config.redis_timeout_ms = 2000;
            config.redis_ca_file = Some(ca);
        }),
        ..Spawn::default()
    })
    .await;
    until_redis(&[&app.address], true).await;
    let token = app.admin_token().await;
    set_tenant_rpm(&app, &token, 3).await;
    let statuses = burst(&app, std::slice::from_ref(&app.address), 6).await;
    assert_eq!(served(&statuses), 3, "the quota, counted on Redis over TLS");
    app.stop().await;

    // Without the CA the server's certificate is not trusted: the replica stays on local
    // limits.
    let shared = freeway::shared::Shared::new(
        &format!("rediss://localhost:{port}"),
        Duration::from_secs(2),
        None,
    )
    .unwrap();
    assert!(!shared.check().await, "an unknown CA is refused");
    let _ = std::fs::remove_dir_all(&dir);
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
