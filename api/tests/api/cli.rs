//! The `freeway` binary: help, errors, the bootstrap path with no UI, and a helper that runs
//! `freeway serve` as a child process (also used by the SIGTERM test).

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use freeway::crypto::{Keyring, Secret};
use freeway::mock::MockUpstream;
use freeway::store::members::Member;
use freeway::store::providers::{self, ProviderFields};
use freeway::store::tenants::Tenant;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{
    ACTOR, add_credential, add_member, add_model, chat_body, create_key, fresh_database, http,
};

/// `freeway` with none of the test process's Freeway settings leaking in.
pub fn freeway() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_freeway"));
    without_settings(&mut command);
    command.stdin(Stdio::null());
    command
}

/// Removes the test process's Freeway settings from what `command` inherits.
pub fn without_settings(command: &mut std::process::Command) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("FREEWAY_") || name == "DATABASE_URL" || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
}

pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `freeway <args>` to completion (at most a minute), feeding `stdin`.
pub async fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    use tokio::io::AsyncWriteExt;

    let mut command = freeway();
    command.args(args).envs(env.iter().copied());
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    let mut child = command.spawn().expect("spawn freeway");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).await.unwrap();
        drop(pipe);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("freeway {args:?} did not finish within a minute"))
        .unwrap();
    Output {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Like [`run`], but the command must succeed.
pub async fn run_ok(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> String {
    let output = run(args, env, stdin).await;
    assert!(
        output.status.success(),
        "freeway {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        output.stdout,
        output.stderr
    );
    output.stdout
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A database with one provider on `mock`, a member and its key, and a master key file:
/// what `freeway serve` needs to answer `/v1` as a child process ([`Served`]).
pub struct ServedPool {
    pub database_url: String,
    pub key_file: PathBuf,
    dir: PathBuf,
    pub tenant: Tenant,
    pub member: Member,
    pub key: String,
}

impl ServedPool {
    /// `label` names the temporary directory and the credential's secret.
    pub async fn with(mock: &MockUpstream, label: &str) -> ServedPool {
        let database_url = fresh_database().await;
        freeway::store::migrate::run(&database_url).await.unwrap();
        let db = PgPool::connect(&database_url).await.unwrap();
        let dir = std::env::temp_dir().join(format!("freeway-{label}-{}", Uuid::new_v4().simple()));
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
        add_credential(
            &db,
            &keyring,
            &provider,
            &Secret::new(format!("secret-for-{label}")),
        )
        .await;
        let (tenant, member) = add_member(&db, "team", "alice").await;
        let key = create_key(&db, &member, None, None).await;
        ServedPool {
            database_url,
            key_file,
            dir,
            tenant,
            member,
            key,
        }
    }
}

impl Drop for ServedPool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `freeway serve` running as a child process; killed when dropped, whatever happened.
pub struct Served {
    child: std::process::Child,
    pub address: String,
    logs: PathBuf,
}

impl Served {
    /// Starts `freeway serve` and waits until `/healthz` answers.
    pub async fn start(database_url: &str, key_file: &Path, extra_env: &[(&str, &str)]) -> Served {
        let port = free_port();
        let logs = std::env::temp_dir().join(format!("freeway-serve-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&logs).unwrap();
        let stdout = std::fs::File::create(logs.join("stdout")).unwrap();
        let stderr = std::fs::File::create(logs.join("stderr")).unwrap();
        let child = freeway()
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("FREEWAY_MASTER_KEY_FILE", key_file)
            .env("FREEWAY_LISTEN", format!("127.0.0.1:{port}"))
            .env("FREEWAY_WORKERS", "2")
            .envs(extra_env.iter().copied())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn freeway serve");
        let mut served = Served {
            child,
            address: format!("http://127.0.0.1:{port}"),
            logs,
        };
        served.wait_until_healthy().await;
        served
    }

    async fn wait_until_healthy(&mut self) {
        let client = http();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("freeway serve exited early ({status}):\n{}", self.logs());
            }
            let healthy = client
                .get(format!("{}/healthz", self.address))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if healthy {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "freeway serve did not become healthy:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (bounded) for the process to exit by itself.
    pub async fn wait_for_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "freeway serve did not exit within {within:?}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the process printed so far.
    pub fn logs(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.read("stdout"),
            self.read("stderr")
        )
    }

    /// What the process wrote on standard error so far: its log.
    pub fn stderr(&self) -> String {
        self.read("stderr")
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.join(name)).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.logs);
    }
}

#[tokio::test]
async fn help_lists_the_commands_and_flags() {
    let help = run_ok(&["--help"], &[], None).await;
    for command in [
        "serve",
        "migrate",
        "keys",
        "tenant",
        "member",
        "key",
        "provider",
        "model",
        "credential",
    ] {
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(&format!("{command} "))),
            "`freeway --help` does not list {command}:\n{help}"
        );
    }
    // The mock upstream is there for a user trying failover, not only for the tests.
    assert!(
        help.lines()
            .any(|line| line.trim_start().starts_with("mock-upstream ")),
        "`freeway --help` does not list mock-upstream:\n{help}"
    );

    let help = run_ok(&["key", "create", "--help"], &[], None).await;
    for flag in [
        "--tenant",
        "--member",
        "--name",
        "--model",
        "--expires-in-days",
    ] {
        assert!(
            help.contains(flag),
            "`freeway key create --help` lacks {flag}:\n{help}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_database_is_one_line_naming_database_url() {
    let output = run(
        &["migrate"],
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nope")],
        None,
    )
    .await;
    assert!(
        !output.status.success(),
        "migrate succeeded without a database"
    );
    let lines: Vec<&str> = output.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr, got:\n{}",
        output.stderr
    );
    assert!(lines[0].contains("DATABASE_URL"), "{}", lines[0]);
    assert!(output.stdout.is_empty(), "stdout: {}", output.stdout);
}

#[tokio::test]
async fn bootstrap_through_the_binary_then_serve() {
    let mock = MockUpstream::start().await.unwrap();
    let database_url = fresh_database().await;
    let dir = std::env::temp_dir().join(format!("freeway-cli-{}", Uuid::new_v4().simple()));
    let key_file = dir.join("master.key");
    let key_file_str = key_file.to_str().unwrap();
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("FREEWAY_MASTER_KEY_FILE", key_file_str),
    ];
    let secret = "sk-bootstrap-secret-9876";

    let out = run_ok(&["keys", "generate", "--file", key_file_str], &env, None).await;
    assert!(out.contains("Created master key file"), "{out}");
    let out = run_ok(&["migrate"], &env, None).await;
    assert!(out.starts_with("Applied "), "{out}");
    let out = run_ok(&["migrate"], &env, None).await;
    assert!(out.contains("up to date"), "{out}");
    let out = run_ok(
        &[
            "provider",
            "add",
            "mock",
            "--base-url",
            &mock.base_url(),
            "--model",
            "mock-model",
        ],
        &env,
        None,
    )
    .await;
    assert!(out.contains("Added model mock-model"), "{out}");
    let out = run_ok(
        &["credential", "add", "--provider", "mock"],
        &env,
        Some(&format!("{secret}\n")),
    )
    .await;
    assert!(out.contains("…9876"), "{out}");
    assert!(!out.contains(secret), "the secret was echoed: {out}");
    run_ok(&["tenant", "create", "team"], &env, None).await;
    run_ok(
        &["member", "create", "--tenant", "team", "alice"],
        &env,
        None,
    )
    .await;
    let out = run_ok(
        &["key", "create", "--tenant", "team", "--member", "alice"],
        &env,
        None,
    )
    .await;
    let token = out.lines().last().unwrap().trim().to_string();
    assert!(token.starts_with("fw-"), "no key on the last line: {out}");

    let listed = run_ok(&["credential", "list"], &env, None).await;
    assert!(listed.contains("…9876"), "{listed}");
    assert!(listed.contains("mock"), "{listed}");
    assert!(!listed.contains(secret), "the secret was listed: {listed}");

    let served = Served::start(&database_url, &key_file, &[]).await;
    let response = http()
        .post(format!("{}/v1/chat/completions", served.address))
        .bearer_auth(&token)
        .json(&chat_body("mock-model"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", served.logs());
    assert_eq!(response.headers()["x-freeway-route"], "mock/mock-model");
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["choices"][0]["message"]["content"].is_string(),
        "{body}"
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {secret}").as_str()),
        "the stored secret reached the upstream"
    );

    // Standard error is a file here, not a terminal: no colour codes in the log.
    assert!(
        !served.stderr().contains('\u{1b}'),
        "ANSI codes in a log that is not a terminal:\n{}",
        served.stderr()
    );

    drop(served);
    let _ = std::fs::remove_dir_all(dir);
}
