//! Spawning the app against a fresh database, seeding a pool and a member key, and small
//! utilities the tests share.

use std::path::PathBuf;
use std::time::Duration;

use freeway::config::Config;
use freeway::crypto::{Keyring, Secret, api_key};
use freeway::mock::MockUpstream;
use freeway::startup::{Application, Signals};
use freeway::store::credentials::{self, CredentialFields, SealedCredential};
use freeway::store::members::{self, Member, NewMember};
use freeway::store::models::{self, ModelFields};
use freeway::store::providers::{self, ProviderFields, ProviderRow};
use freeway::store::tenants::{self, Tenant};
use freeway::store::{self, api_keys};
use freeway::usage::UsageStats;
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

/// The server that tests create their databases on: `FREEWAY_TEST_DATABASE_URL`, else
/// `DATABASE_URL`, else the local server. Its database part is replaced per test.
pub fn server_url() -> String {
    std::env::var("FREEWAY_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{base}/{name}{query}")
}

/// Creates an empty database and returns its URL.
pub async fn fresh_database() -> String {
    let name = format!("freeway_test_{}", Uuid::new_v4().simple());
    let admin = PgPool::connect(&with_database(&server_url(), "postgres"))
        .await
        .expect("connect to the test Postgres server (set FREEWAY_TEST_DATABASE_URL)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    with_database(&server_url(), &name)
}

pub fn http() -> reqwest::Client {
    freeway::startup::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub struct TestApp {
    pub address: String,
    /// `http://127.0.0.1:<port>` of `/metrics`, when `metrics_listen` is set.
    pub metrics: Option<String>,
    pub db: PgPool,
    pub database_url: String,
    pub config: Config,
    pub key_file: PathBuf,
    /// A working member key: `fw-...`.
    pub api_key: String,
    pub tenant: Tenant,
    pub member: Member,
    pub mocks: Vec<MockUpstream>,
    pub client: reqwest::Client,
    pub stats: Arc<UsageStats>,
    /// The first instance admin and its one-time password, created at first start.
    pub first_admin: Option<(String, String)>,
    handle: actix_web::dev::ServerHandle,
    /// What SIGTERM does to the server.
    pub stopper: freeway::startup::Stopper,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// What the pool looks like: one provider per mock, in priority order, each serving
/// `model` with one credential (`secret-<index>`).
pub struct Spawn {
    pub providers: usize,
    pub model: String,
    pub provider_timeout_ms: i32,
    pub configure: Box<dyn FnOnce(&mut Config) + Send>,
}

impl Default for Spawn {
    fn default() -> Self {
        Spawn {
            providers: 1,
            model: "mock-model".into(),
            provider_timeout_ms: 5_000,
            configure: Box::new(|_| {}),
        }
    }
}

pub const ACTOR: &str = "test";

pub async fn spawn_app() -> TestApp {
    spawn_with(Spawn::default()).await
}

pub async fn spawn_with(spawn: Spawn) -> TestApp {
    let database_url = fresh_database().await;
    let dir = std::env::temp_dir().join(format!("freeway-test-{}", Uuid::new_v4().simple()));
    let key_file = dir.join("master.key");
    Keyring::generate_file(&key_file).unwrap();

    let mut config = Config {
        database_url: database_url.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        master_key_file: Some(key_file.clone()),
        workers: 1,
        shutdown_timeout_secs: 5,
        ..Config::default()
    };
    config.usage.flush_interval_ms = 50;
    config.usage.drain_timeout_secs = 10;
    // Probes off: a test runs one with `POST /admin/v1/credentials/{id}/probe`.
    config.probe_interval_secs = 0;
    (spawn.configure)(&mut config);

    store::migrate::run(&database_url).await.unwrap();
    let db = PgPool::connect(&database_url).await.unwrap();
    let keyring = Keyring::load_file(&key_file).unwrap();

    let mut mocks = Vec::new();
    for index in 0..spawn.providers {
        let mock = MockUpstream::start().await.unwrap();
        let provider = providers::create(
            &db,
            ACTOR,
            ProviderFields {
                keyless: false,
                priority: 10 * (index as i32 + 1),
                timeout_ms: spawn.provider_timeout_ms,
                ..ProviderFields::new(&format!("mock{index}"), &mock.base_url())
            },
        )
        .await
        .unwrap();
        add_model(&db, &provider, &spawn.model).await;
        add_credential(
            &db,
            &keyring,
            &provider,
            &Secret::new(format!("secret-{index}")),
        )
        .await;
        mocks.push(mock);
    }

    let (tenant, member) = add_member(&db, "team", "alice").await;
    let api_key = create_key(&db, &member, None, None).await;

    let app = Application::build(config.clone(), Signals::Ignore)
        .await
        .unwrap();
    let port = app.port();
    let handle = app.handle();
    let stopper = app.stopper();
    let stats = app.usage_stats();
    let first_admin = app.first_admin().cloned();
    let metrics = metrics_address(&app);
    let task = tokio::spawn(app.run_until_stopped());
    TestApp {
        first_admin,
        address: format!("http://127.0.0.1:{port}"),
        metrics,
        db,
        database_url,
        config,
        key_file,
        api_key,
        tenant,
        member,
        mocks,
        client: http(),
        stats,
        handle,
        stopper,
        task,
    }
}

fn metrics_address(app: &Application) -> Option<String> {
    app.metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"))
}

pub async fn add_model(db: &PgPool, provider: &ProviderRow, model: &str) {
    let fields = ModelFields {
        supports_vision: true,
        ..ModelFields::chat(model)
    };
    models::create(db, ACTOR, provider, &fields).await.unwrap();
}

/// Seals `secret` and adds it as a credential of `provider`.
pub async fn add_credential(
    db: &PgPool,
    keyring: &Keyring,
    provider: &ProviderRow,
    secret: &Secret,
) {
    let sealed = SealedCredential::seal(keyring, secret.expose()).unwrap();
    let fields = CredentialFields {
        name: String::new(),
        enabled: true,
        priority: 100,
        limits: Default::default(),
    };
    credentials::create(db, ACTOR, provider, &sealed, fields)
        .await
        .unwrap();
}

/// Creates tenant `tenant` (unless it exists) with the member `member`.
pub async fn add_member(db: &PgPool, tenant: &str, member: &str) -> (Tenant, Member) {
    let tenant = match tenants::find_by_name(db, tenant).await.unwrap() {
        Some(found) => found,
        None => tenants::create(db, ACTOR, tenant).await.unwrap(),
    };
    let new = NewMember {
        name: member,
        email: None,
        role: freeway_wire::tenants::MemberRole::Member,
    };
    let member = members::create(db, ACTOR, &tenant, new).await.unwrap();
    (tenant, member)
}

/// Creates a key for `member` and returns the full token.
pub async fn create_key(
    db: &PgPool,
    member: &Member,
    allowed_models: Option<Vec<String>>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> String {
    let key = api_key::generate();
    api_keys::create(
        db,
        ACTOR,
        api_keys::NewKeyRow {
            member,
            name: "test",
            key: &key,
            allowed_models,
            expires_at,
        },
    )
    .await
    .unwrap();
    key.token.expose().to_string()
}

impl TestApp {
    pub fn mock(&self, index: usize) -> &MockUpstream {
        &self.mocks[index]
    }

    pub async fn chat(&self, body: serde_json::Value) -> reqwest::Response {
        self.chat_with_key(&self.api_key, body).await
    }

    pub async fn chat_with_key(&self, key: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/chat/completions", self.address))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Rows in `usage_events`.
    pub async fn usage_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM usage_events")
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// Waits until `usage_events` holds `n` rows (the writer batches every 50 ms).
    pub async fn wait_for_usage(&self, n: i64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let count = self.usage_count().await;
            if count >= n {
                assert_eq!(count, n, "more usage events than requests");
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {count} of {n} usage events written"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server and starts a new one on the same database, keys and mocks: what a
    /// restart keeps is what Postgres holds.
    pub async fn restart(self) -> TestApp {
        self.restart_after(async |_| {}).await
    }

    /// [`TestApp::restart`], running `between` on the database while no server runs.
    pub async fn restart_after(mut self, between: impl AsyncFnOnce(&PgPool)) -> TestApp {
        self.handle.stop(true).await;
        (&mut self.task).await.unwrap().unwrap();
        between(&self.db).await;
        let app = Application::build(self.config.clone(), Signals::Ignore)
            .await
            .unwrap();
        let port = app.port();
        self.handle = app.handle();
        self.stopper = app.stopper();
        self.stats = app.usage_stats();
        self.metrics = metrics_address(&app);
        self.task = tokio::spawn(app.run_until_stopped());
        self.address = format!("http://127.0.0.1:{port}");
        self
    }

    /// Logs in as the first instance admin and returns its access token.
    pub async fn admin_token(&self) -> String {
        let (username, password) = self
            .first_admin
            .clone()
            .expect("a fresh database gets a first admin");
        self.login(&username, &password).await
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let response = self
            .client
            .post(format!("{}/admin/v1/auth/login", self.address))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "login as {username}");
        let body: serde_json::Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    /// An admin call that must succeed, its answer read as the wire type `T`: a field
    /// renamed on either side fails here.
    pub async fn admin_ok<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> T {
        let (status, value) = self.admin(method.clone(), path, Some(token), body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("{method} {path}: {e} in {value}"))
    }

    /// An admin call that must fail with `status`, its error read as the wire's envelope.
    pub async fn admin_err(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
        status: u16,
    ) -> freeway_wire::AdminErrorBody {
        let (got, value) = self.admin(method.clone(), path, Some(token), body).await;
        assert_eq!(got, status, "{method} {path}: {value}");
        serde_json::from_value::<freeway_wire::AdminErrorEnvelope>(value.clone())
            .unwrap_or_else(|e| panic!("{method} {path}: {e} in {value}"))
            .error
    }

    /// `GET`/`POST`/... on the admin API with `token`; returns the status and JSON body.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// The `models` row id of `model` at provider `provider`.
    pub async fn model_row(&self, provider: &str, model: &str) -> Uuid {
        sqlx::query_scalar(
            "SELECT m.id FROM models m JOIN providers p ON p.id = m.provider_id
             WHERE p.name = $1 AND m.model_id = $2",
        )
        .bind(provider)
        .bind(model)
        .fetch_one(&self.db)
        .await
        .unwrap()
    }

    /// Sets `limits` on `model` at `provider` over the admin API.
    pub async fn set_model_limits(
        &self,
        token: &str,
        provider: &str,
        model: &str,
        limits: serde_json::Value,
    ) {
        let row = self.model_row(provider, model).await;
        let _: serde_json::Value = self
            .admin_ok(
                reqwest::Method::PATCH,
                &format!("/admin/v1/providers/{provider}/models/{row}"),
                token,
                Some(serde_json::json!({ "limits": limits })),
            )
            .await;
    }

    /// The routing state's row of the route `provider`/mock-model.
    pub async fn route_scope(&self, token: &str, provider: &str) -> freeway_wire::pool::ScopeState {
        let state: freeway_wire::page::List<freeway_wire::pool::ScopeState> = self
            .admin_ok(reqwest::Method::GET, "/admin/v1/routing/state", token, None)
            .await;
        let prefix = format!("{provider}/mock-model via ");
        state
            .data
            .into_iter()
            .find(|s| {
                s.kind == freeway_wire::pool::ScopeKind::Route
                    && s.label.as_deref().is_some_and(|l| l.starts_with(&prefix))
            })
            .unwrap()
    }

    /// The credentials row id of the first credential of `provider`.
    pub async fn credential_row(&self, provider: &str) -> Uuid {
        sqlx::query_scalar(
            "SELECT c.id FROM credentials c JOIN providers p ON p.id = c.provider_id
             WHERE p.name = $1 ORDER BY c.created_at LIMIT 1",
        )
        .bind(provider)
        .fetch_one(&self.db)
        .await
        .unwrap()
    }

    /// The attempt trail of the newest usage event, once written.
    pub async fn last_trail(&self, expected_events: i64) -> Vec<serde_json::Value> {
        self.wait_for_usage(expected_events).await;
        let trail: serde_json::Value = sqlx::query_scalar(
            "SELECT attempt_trail FROM usage_events ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .fetch_one(&self.db)
        .await
        .unwrap();
        trail.as_array().cloned().unwrap_or_default()
    }

    /// Graceful stop, as on SIGTERM: waits for in-flight requests and the usage drain.
    /// Waits for the server to end (after a `stopper` stop) and the usage writer to drain.
    pub async fn stopped(self) -> (PgPool, Arc<UsageStats>) {
        self.task.await.unwrap().unwrap();
        (self.db, self.stats)
    }

    pub async fn stop(self) -> (PgPool, Arc<UsageStats>) {
        self.handle.stop(true).await;
        self.task.await.unwrap().unwrap();
        (self.db, self.stats)
    }
}

/// A minimal chat body for `model`.
pub fn chat_body(model: &str) -> serde_json::Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

/// Polls `check` every 50 ms for up to 5 s.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_within(Duration::from_secs(5), what, check).await
}

/// Polls `check` every 50 ms until it holds, for at most `within`.
pub async fn eventually_within<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An attempt trail as `provider:outcome`, one per attempt.
pub fn trail_outcomes(trail: &serde_json::Value) -> Vec<String> {
    trail
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}:{}",
                a["provider"].as_str().unwrap(),
                a["outcome"].as_str().unwrap()
            )
        })
        .collect()
}

/// Borrowed pairs as owned ones, to compare with what a test read back.
pub fn owned_pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
        .collect()
}

/// A response header that must be there, as text.
pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// A transaction holding `table` in EXCLUSIVE mode: reads go on, writes wait until it ends
/// (committed or dropped), so a test can hold a write the server makes off the request path.
pub async fn hold_writes(db: &PgPool, table: &str) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut lock = db.begin().await.unwrap();
    // A table name the test gives, never user input.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {table} IN EXCLUSIVE MODE"
    )))
    .execute(&mut *lock)
    .await
    .unwrap();
    lock
}
