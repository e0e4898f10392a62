//! Building and running the server: `Application::build` connects, migrates, loads the
//! in-memory state and binds; `run_until_stopped` serves until a signal or `stop`, then
//! drains the usage writer.

use std::net::TcpListener;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpResponse, middleware, web};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::AdminState;
use crate::config::Config;
use crate::crypto::{Keyring, KeyringError};
use crate::gateway::{Gateway, Lifecycle};
use crate::metrics::{Metrics, MetricsServer};
use crate::providers::CatalogHandle;
use crate::routing::pool::PoolState;
use crate::routing::session::Sessions;
use crate::state::{Live, ReloadError};
use crate::store::migrate::MigrateError;
use crate::store::{self, ConnectError, StoreError};
use crate::telemetry::RequestSpan;
use crate::tenancy::{KeyCache, QuotaLedger};
use crate::usage::partitions::Retention;
use crate::usage::{UsageStats, UsageWriter};
use crate::{admin, anthropic, health, openai, ui};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not create the first admin: {0}")]
    Bootstrap(String),
    #[error("could not load the pool and api keys: {0}")]
    Reload(#[from] ReloadError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    #[error("cannot set up the metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot use redis_url: {0}")]
    Redis(String),
}

pub struct Application {
    stopper: Stopper,
    port: u16,
    server: Server,
    handle: ServerHandle,
    writer: UsageWriter,
    stats: Arc<UsageStats>,
    stop_reloader: watch::Sender<bool>,
    reloader: JoinHandle<()>,
    /// Persists the pool's windows; a last time once the server has stopped.
    snapshots: JoinHandle<()>,
    first_start: bool,
    first_admin: Option<(String, String)>,
    /// The `/metrics` listener, when `metrics_listen` is set.
    metrics: Option<MetricsServer>,
}

/// Whether the process's own signal handlers stop the server (the binary) or only
/// [`Application::handle`] does (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signals {
    Handle,
    Ignore,
}

pub fn install_crypto_provider() {
    // reqwest is built without a default rustls provider; ring is ours. A second call
    // finds it installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Application {
    pub async fn build(config: Config, signals: Signals) -> Result<Self, StartupError> {
        install_crypto_provider();
        // A connection costs two descriptors (its socket and the watcher's, `gateway::client`);
        // the soft limit is often far below what the system allows.
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(limit) => tracing::debug!(limit, "open files"),
            Err(error) => tracing::warn!(%error, "cannot raise the open-files limit"),
        }
        let keyring = Keyring::from_config(
            config.master_key.as_deref(),
            config.master_key_file.as_deref(),
        )?;
        let applied = store::migrate::run(&config.database_url).await?;
        if !applied.is_empty() {
            tracing::info!(?applied, "migrations applied");
        }
        let pool = store::connect(&config.database_url, 16).await?;
        let seeded = store::catalog::seed_builtin(&pool).await?;
        if seeded.changed() || !seeded.conflicts.is_empty() {
            tracing::info!("{seeded}");
        }
        let first_start = store::tenants::count(&pool).await? == 0;
        let first_admin = crate::admin::session::bootstrap_first_admin(&pool)
            .await
            .map_err(|e| StartupError::Bootstrap(e.message))?;

        let live = Live {
            db: pool.clone(),
            pool: Arc::new(PoolState::default()),
            keys: Arc::new(KeyCache::default()),
            quotas: Arc::new(QuotaLedger::default()),
            catalog: Arc::new(CatalogHandle::default()),
            keyring: Arc::new(RwLock::new(keyring)),
        };
        live.reload().await?;
        live.restore().await?;

        // A fleet's shared state. Redis down at start delays nothing: one line says so and
        // the replicas hold to their shares until it answers.
        let shared = match config.redis_url.as_deref() {
            Some(url) => {
                let ca = match &config.redis_ca_file {
                    Some(path) => Some(std::fs::read(path).map_err(|e| {
                        StartupError::Redis(format!("cannot read {}: {e}", path.display()))
                    })?),
                    None => None,
                };
                let shared = crate::shared::Shared::new(url, config.redis_timeout(), ca)
                    .map_err(|e| StartupError::Redis(e.to_string()))?;
                shared.beat(&pool).await;
                shared.start().await;
                Some(shared)
            }
            None => None,
        };

        let http = crate::providers::upstream::reqwest_client()
            .map_err(|e| StartupError::Http(e.to_string()))?;
        let upstream = crate::providers::upstream::Upstream::new().map_err(StartupError::Http)?;

        let (usage, writer) = UsageWriter::spawn(pool.clone(), config.usage.clone());
        let stats = usage.stats().clone();
        // Without a metrics listener nothing could read them: requests are not counted.
        let (usage, metrics) = match config.metrics_listen {
            Some(addr) => {
                let metrics = Arc::new(Metrics::new(crate::metrics::Sources {
                    pool: live.pool.clone(),
                    catalog: live.catalog.clone(),
                    quotas: live.quotas.clone(),
                    usage: stats.clone(),
                    queue: usage.queue_depth(),
                    shared: shared.clone(),
                })?);
                let usage = usage.observed_by(metrics.requests());
                let server =
                    crate::metrics::serve(metrics, addr).map_err(|source| StartupError::Bind {
                        addr: addr.to_string(),
                        source,
                    })?;
                tracing::info!(%addr, port = server.port, "serving /metrics");
                (usage, Some(server))
            }
            None => (usage, None),
        };
        let (stop_reloader, stop_rx) = watch::channel(false);
        let reloader = tokio::spawn(crate::state::keep_current(live.clone(), stop_rx.clone()));
        tokio::spawn(openai::responses::purge_expired(
            pool.clone(),
            config.responses_retention_days,
            stop_rx.clone(),
        ));
        tokio::spawn(crate::usage::partitions::keep_partitions(
            pool.clone(),
            Retention::of(&config.usage),
            stop_rx.clone(),
        ));
        let snapshots = tokio::spawn(crate::state::keep_snapshots(live.clone(), stop_rx.clone()));
        if let Some(shared) = &shared {
            tokio::spawn(shared.clone().keep_watch(pool.clone(), stop_rx.clone()));
            tokio::spawn(crate::state::keep_shared(
                live.pool.clone(),
                shared.clone(),
                stop_rx.clone(),
            ));
        }
        let probes = Arc::new(crate::probes::Prober {
            db: pool.clone(),
            pool: live.pool.clone(),
            catalog: live.catalog.clone(),
            keyring: live.keyring.clone(),
            http: http.clone(),
            usage: usage.clone(),
            shared: shared.clone(),
            settings: crate::probes::Settings {
                interval: Duration::from_secs(config.probe_interval_secs),
                keyless: config.probe_keyless,
            },
        });
        tokio::spawn(crate::probes::keep_probing(probes.clone(), stop_rx.clone()));
        let database_health = web::Data::new(health::DatabaseHealth::default());
        database_health.check(&pool).await;
        tokio::spawn(health::watch_database(
            database_health.clone().into_inner(),
            pool.clone(),
            stop_rx,
        ));

        let listener = TcpListener::bind(config.listen).map_err(|source| StartupError::Bind {
            addr: config.listen.to_string(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                addr: config.listen.to_string(),
                source,
            })?
            .port();

        let workers = if config.workers == 0 {
            std::thread::available_parallelism().map_or(2, usize::from)
        } else {
            config.workers
        };
        let shutdown_timeout = config.shutdown_timeout_secs;
        let header_timeout = Duration::from_millis(config.header_timeout_ms.max(1));
        let grace = Duration::from_secs(config.shutdown_grace_secs);
        let cors = config.cors_origins();
        let request_span = RequestSpan::exported(config.otlp.is_some());
        let config = Arc::new(config);
        let lifecycle = Arc::new(Lifecycle::default());
        let gateway = Gateway {
            config: config.clone(),
            db: pool.clone(),
            pool: live.pool.clone(),
            sessions: Arc::new(Sessions::default()),
            keys: live.keys.clone(),
            quotas: live.quotas.clone(),
            catalog: live.catalog.clone(),
            http: upstream,
            usage,
            lifecycle: lifecycle.clone(),
            shared: shared.clone(),
        };
        let admin = web::Data::new(AdminState {
            config,
            db: pool,
            pool: live.pool.clone(),
            login_throttle: Default::default(),
            quotas: live.quotas.clone(),
            catalog: live.catalog.clone(),
            keyring: live.keyring.clone(),
            http,
            shared: shared.clone(),
            probes,
        });
        let access_log =
            log::log_enabled!(target: "actix_web::middleware::logger", log::Level::Debug);
        let server = actix_web::HttpServer::new(move || {
            // Each worker its own upstream client: see `Gateway::for_worker`.
            let gateway = web::Data::new(gateway.for_worker());
            let cors = cors.clone();
            App::new()
                .app_data(admin.clone())
                .app_data(gateway)
                .app_data(database_health.clone())
                // Around everything but the access log: every answer carries the request's
                // id, and everything the request logs is within its span.
                .wrap(request_span)
                // One line per request at debug (`FREEWAY_LOG=actix_web=debug`): every /v1
                // request is already a usage event. actix's Logger formats its parts for
                // every request whether or not the line is written, so it is only mounted
                // when its level is on at start.
                .wrap(middleware::Condition::new(
                    access_log,
                    // Outside the request's span (the line is written once the body is
                    // sent), so it names the request by the id answered.
                    middleware::Logger::new("%s %r %Dms %{x-request-id}o")
                        .log_level(log::Level::Debug)
                        .exclude("/healthz"),
                ))
                .route("/healthz", web::get().to(health::healthz))
                .route("/readyz", web::get().to(health::readyz))
                // Before `/v1`'s scope, whose default answers every other `/v1` path.
                .configure(|cfg| anthropic::configure(cfg, &cors))
                .configure(|cfg| openai::configure(cfg, cors))
                .configure(admin::configure)
                .default_service(web::route().to(fallback))
        })
        .workers(workers)
        .shutdown_timeout(shutdown_timeout)
        .client_request_timeout(header_timeout)
        .on_connect(crate::gateway::client::on_connect)
        // Signals are ours (`Stopper`): readiness turns 503 first, then the server stops.
        .disable_signals()
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: format!("port {port}"),
            source,
        })?;
        let server = server.run();
        let handle = server.handle();
        let stopper = Stopper {
            lifecycle,
            handle: handle.clone(),
            grace,
        };
        if signals == Signals::Handle {
            tokio::spawn(stopper.clone().on_signal());
        }
        Ok(Application {
            stopper,
            port,
            server,
            handle,
            writer,
            stats,
            stop_reloader,
            reloader,
            snapshots,
            first_start,
            first_admin,
            metrics,
        })
    }

    /// The port `/metrics` is served on, when `metrics_listen` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|m| m.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server gracefully (`handle.stop(true)`), without the grace period.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// What SIGTERM does: readiness first, then a graceful stop.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    pub fn usage_stats(&self) -> Arc<UsageStats> {
        self.stats.clone()
    }

    /// The first instance admin's username and one-time password, when this start created it.
    pub fn first_admin(&self) -> Option<&(String, String)> {
        self.first_admin.as_ref()
    }

    /// True when the database held no tenant at start.
    pub fn first_start(&self) -> bool {
        self.first_start
    }

    /// Serves until stopped, then waits for in-flight requests and drains usage events.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        // Scrapes answer until every request has finished.
        if let Some(metrics) = self.metrics {
            metrics.handle.stop(true).await;
            let _ = metrics.task.await;
        }
        let _ = self.stop_reloader.send(true);
        let _ = self.reloader.await;
        // Every request has finished: the windows' last snapshot misses nothing.
        let _ = self.snapshots.await;
        // The server's workers, and with them every `UsageSink`, are gone: the writer sees
        // its queue close, writes what is left and ends.
        let stats = self.writer.finish().await;
        tracing::info!(
            written = stats.written.load(std::sync::atomic::Ordering::Relaxed),
            dropped = stats.dropped.load(std::sync::atomic::Ordering::Relaxed),
            "stopped"
        );
        result
    }
}

/// A graceful shutdown: `/readyz` answers 503 at once; after the grace period the listener
/// closes, every worker lets its in-flight requests finish (up to the shutdown timeout), and
/// only then is the usage writer drained (`run_until_stopped`).
#[derive(Clone)]
pub struct Stopper {
    lifecycle: Arc<Lifecycle>,
    handle: ServerHandle,
    grace: Duration,
}

impl Stopper {
    pub async fn stop(&self) {
        self.lifecycle.begin_shutdown();
        tracing::info!(grace_secs = self.grace.as_secs(), "shutting down");
        tokio::time::sleep(self.grace).await;
        self.handle.stop(true).await;
    }

    /// Waits for SIGTERM or SIGINT, then stops.
    async fn on_signal(self) {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            () = terminate => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        self.stop().await;
    }
}

/// GET paths outside the APIs serve the UI; anything else is a JSON 404. So is `/metrics`,
/// which is served only on `metrics_listen`'s listener.
async fn fallback(req: actix_web::HttpRequest) -> HttpResponse {
    let path = req.path();
    if req.method() == actix_web::http::Method::GET
        && !path.starts_with("/admin/")
        && path != crate::metrics::PATH
    {
        return ui::serve(req).await;
    }
    HttpResponse::NotFound().json(serde_json::json!({
        "error": {"message": format!("Unknown request URL: {} {path}", req.method()),
                  "type": "not_found_error", "param": null, "code": "unknown_url"}
    }))
}
