//! `scripts/fleet.sh` run as a user would: two replicas of the built binary on one database
//! and one Redis, behind nginx. A tenant quota set with the CLI is exact across the fleet.

use std::process::Stdio;
use std::time::Duration;

use freeway::mock::MockUpstream;
use futures_util::future::join_all;

use crate::cli::{ServedPool, free_port, run_ok, without_settings};
use crate::helpers::{chat_body, eventually_within, http};
use crate::redis_fleet::RedisServer;

/// The fleet script's process group: stopped with SIGTERM (its trap stops the replicas and
/// nginx) when dropped, whatever happened.
struct Fleet {
    child: std::process::Child,
    work: std::path::PathBuf,
}

impl Fleet {
    /// SIGTERM, then up to 10 s for the script's trap to stop the replicas and nginx (it
    /// reads nginx's pid from the work directory, removed only after).
    fn terminate(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
    }

    fn logs(&self) -> String {
        let mut logs = String::new();
        for entry in std::fs::read_dir(self.work.join("fleet"))
            .into_iter()
            .flatten()
        {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "log") {
                logs += &format!("== {}\n", path.display());
                logs += &std::fs::read_to_string(&path).unwrap_or_default();
            }
        }
        logs
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.terminate();
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

#[tokio::test]
async fn the_fleet_script_starts_two_replicas_behind_nginx_that_share_a_quota() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let mock = MockUpstream::start().await.unwrap();
    let pool = ServedPool::with(&mock, "fleet-script").await;
    let database = [("DATABASE_URL", pool.database_url.as_str())];
    run_ok(
        &["quota", "set", "--tenant", "team", "--rpm", "10"],
        &database,
        None,
    )
    .await;
    let (lb, a, b) = (free_port(), free_port(), free_port());
    let work = std::env::temp_dir().join(format!("freeway-fleet-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&work).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/fleet.sh");
    let mut command = std::process::Command::new("bash");
    command.arg(script);
    without_settings(&mut command);
    command
        .env("FLEET_FREEWAY", env!("CARGO_BIN_EXE_freeway"))
        .env("DATABASE_URL", &pool.database_url)
        .env("FREEWAY_MASTER_KEY_FILE", &pool.key_file)
        .env("FREEWAY_REDIS_URL", redis.url())
        .env("FREEWAY_DATA_DIR", &work)
        .env("FLEET_PORT", lb.to_string())
        .env("FLEET_REPLICA_PORTS", format!("{a} {b}"))
        // No health probes: the mock's requests are the members' alone.
        .env("FREEWAY_PROBE_INTERVAL_SECS", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let fleet = Fleet {
        child: command.spawn().expect("bash scripts/fleet.sh"),
        work,
    };
    let client = http();
    let front = format!("http://127.0.0.1:{lb}");
    // The script may install nginx first (apt) on a fresh machine.
    eventually_within(
        Duration::from_secs(180),
        "the fleet behind nginx",
        || async {
            let Ok(response) = client.get(format!("{front}/readyz")).send().await else {
                return false;
            };
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            body["redis"] == true
        },
    )
    .await;
    for port in [a, b] {
        let ready = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200, "{}", fleet.logs());
    }

    // 30 requests at once through nginx, spread over both replicas: exactly 10 pass.
    let statuses = join_all((0..30).map(|_| async {
        client
            .post(format!("{front}/v1/chat/completions"))
            .bearer_auth(&pool.key)
            .json(&chat_body("mock-model"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }))
    .await;
    let served = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        (served, refused),
        (10, 20),
        "{statuses:?}\n{}",
        fleet.logs()
    );
    // Both replicas are on Redis.
    for port in [a, b] {
        let log = std::fs::read_to_string(fleet.work.join(format!("fleet/replica-{port}.log")))
            .unwrap_or_default();
        assert!(
            log.contains("Redis reached"),
            "replica {port} never reached Redis:\n{log}"
        );
    }
    let chats = mock.requests();
    let chats = chats
        .iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .count();
    assert_eq!(chats, 10);
}
