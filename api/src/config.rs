//! Configuration: defaults, then an optional TOML file, then `FREEWAY_*` variables and
//! `DATABASE_URL`. Later sources win.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

mod otlp;
pub use otlp::{OtlpConfig, OtlpProtocol};

/// The top-level keys of [`Config`], as they appear in files and after `FREEWAY_`.
const CONFIG_KEYS: &[&str] = &[
    "database_url",
    "listen",
    "metrics_listen",
    "master_key",
    "master_key_file",
    "max_body_bytes",
    "request_budget_secs",
    "max_attempts",
    "workers",
    "shutdown_timeout_secs",
    "shutdown_grace_secs",
    "header_timeout_ms",
    "body_timeout_secs",
    "cors_origins",
    "usage",
    "responses_retention_days",
    "log",
    "log_format",
    "redis_url",
    "redis_timeout_ms",
    "redis_ca_file",
    "probe_interval_secs",
    "probe_keyless",
    "trusted_proxies",
    "catalog_keys",
];

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Postgres connection string.
    pub database_url: String,
    /// Address `freeway serve` listens on.
    pub listen: SocketAddr,
    /// Where `GET /metrics` (Prometheus) is served, on a listener of its own; none when unset.
    pub metrics_listen: Option<SocketAddr>,
    /// Master keys inline: `1:<base64>,2:<base64>` or one bare base64 key (version 1).
    pub master_key: Option<String>,
    /// A file holding master keys, one `<version>:<base64>` per line.
    pub master_key_file: Option<PathBuf>,
    /// Largest request body accepted on `/v1`, in bytes.
    pub max_body_bytes: usize,
    /// Wall-clock budget for all attempts of one request, in seconds.
    pub request_budget_secs: u64,
    /// Attempts per request before giving up.
    pub max_attempts: usize,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// How long a graceful shutdown waits for in-flight requests, in seconds.
    pub shutdown_timeout_secs: u64,
    /// After SIGTERM, how long `/readyz` answers 503 while requests are still accepted, so a
    /// load balancer stops sending before the listener closes; in seconds.
    pub shutdown_grace_secs: u64,
    /// How long a client has to send a request's headers, in milliseconds (a 408 after).
    pub header_timeout_ms: u64,
    /// How long a client has to send a request's body, in seconds (a 408 after).
    pub body_timeout_secs: u64,
    /// Browser origins allowed to call `/v1` (CORS), comma-separated; none by default.
    pub cors_origins: String,
    pub usage: UsageConfig,
    /// Days a stored response of `/v1/responses` is kept (`previous_response_id`, `GET`).
    pub responses_retention_days: u32,
    /// `tracing` filter, e.g. `info,freeway=debug`.
    pub log: String,
    /// How log lines are written: `text` (ANSI colours only on a terminal) or `json`.
    pub log_format: LogFormat,
    /// Redis shared by every replica for limits, quotas, sessions, cooldowns and the login
    /// throttle (`redis://` or `rediss://`); unset, everything is kept in this process.
    pub redis_url: Option<String>,
    /// How long a request waits on Redis before it falls back to local limits, in ms.
    pub redis_timeout_ms: u64,
    /// A PEM file of the CA a `rediss://` server's certificate is checked against, instead
    /// of the system's roots.
    pub redis_ca_file: Option<PathBuf>,
    /// How often each enabled credential gets a health probe (its `GET /models`, or a
    /// 1-token completion), in seconds; 0 turns probes and early re-probes off.
    pub probe_interval_secs: u64,
    /// Re-probe keyless providers' cooling routes early too.
    pub probe_keyless: bool,
    /// The load balancers in front (addresses or CIDR networks, comma-separated): for a
    /// request from one of them, the client's address is read from `X-Forwarded-For` (the
    /// rightmost address that is not one of them). None by default: the header is ignored.
    pub trusted_proxies: String,
    /// Trace export, from the standard `OTEL_*` variables (not a `FREEWAY_*` key).
    #[serde(skip)]
    pub otlp: Option<OtlpConfig>,
    /// Public keys (base64 ed25519, comma-separated) trusted to sign provider catalogs,
    /// besides the project's own.
    pub catalog_keys: String,
}

/// How log lines are written on standard error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    /// One JSON object a line, with the request's span (`span.request_id`, ...).
    Json,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsageConfig {
    /// Events waiting for the writer; past this, new events are dropped and counted.
    pub queue_capacity: usize,
    /// Rows per INSERT.
    pub batch_size: usize,
    /// How often a partial batch is written, in milliseconds.
    pub flush_interval_ms: u64,
    /// Events held in memory while the database is unreachable.
    pub max_pending: usize,
    /// How long shutdown keeps trying to write held events, in seconds.
    pub drain_timeout_secs: u64,
    /// Months of raw events kept: a month's partition is dropped once it is wholly older
    /// than this. 0 keeps them forever.
    pub retention_months: u32,
    /// Months of hourly and daily rollups (what the analytics read) kept. 0 keeps them
    /// forever.
    pub rollup_retention_months: u32,
}

impl Default for UsageConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            batch_size: 2000,
            // What is queued between two writes is held in memory: at 30k requests a second,
            // 250 ms of events held 10 MB more than 100 ms did.
            flush_interval_ms: 100,
            max_pending: 1_000_000,
            drain_timeout_secs: 30,
            retention_months: 13,
            rollup_retention_months: 0,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/freeway".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: None,
            master_key: None,
            master_key_file: None,
            max_body_bytes: 10 * 1024 * 1024,
            request_budget_secs: 300,
            max_attempts: 20,
            workers: 0,
            shutdown_timeout_secs: 30,
            shutdown_grace_secs: 0,
            header_timeout_ms: 5_000,
            body_timeout_secs: 30,
            cors_origins: String::new(),
            usage: UsageConfig::default(),
            responses_retention_days: 30,
            log: "info,refinery_core=warn".into(),
            log_format: LogFormat::Text,
            redis_url: None,
            redis_timeout_ms: 100,
            redis_ca_file: None,
            probe_interval_secs: 300,
            probe_keyless: false,
            trusted_proxies: String::new(),
            otlp: None,
            catalog_keys: String::new(),
        }
    }
}

// The database URL and master key may hold secrets: never print them.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("listen", &self.listen)
            .field("metrics_listen", &self.metrics_listen)
            .field(
                "master_key",
                &self.master_key.as_ref().map(|_| "<redacted>"),
            )
            .field("master_key_file", &self.master_key_file)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("request_budget_secs", &self.request_budget_secs)
            .field("max_attempts", &self.max_attempts)
            .field("workers", &self.workers)
            .field("shutdown_timeout_secs", &self.shutdown_timeout_secs)
            .field("shutdown_grace_secs", &self.shutdown_grace_secs)
            .field("header_timeout_ms", &self.header_timeout_ms)
            .field("body_timeout_secs", &self.body_timeout_secs)
            .field("cors_origins", &self.cors_origins)
            .field("usage", &self.usage)
            .field("responses_retention_days", &self.responses_retention_days)
            .field("log", &self.log)
            .field("log_format", &self.log_format)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_timeout_ms", &self.redis_timeout_ms)
            .field("redis_ca_file", &self.redis_ca_file)
            .field("probe_interval_secs", &self.probe_interval_secs)
            .field("probe_keyless", &self.probe_keyless)
            .field("otlp", &self.otlp)
            .field("catalog_keys", &self.catalog_keys)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// The origins of `cors_origins`.
    pub fn cors_origins(&self) -> Vec<String> {
        self.cors_origins
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// How long a request waits on Redis (at least 5 ms).
    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms.max(5))
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs.max(1))
    }

    /// Loads the configuration from `file` (if given, else `FREEWAY_CONFIG` if set) and the
    /// environment. Nested keys use a double underscore: `FREEWAY_USAGE__BATCH_SIZE`.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let file = file
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("FREEWAY_CONFIG").map(PathBuf::from));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment
            .merge(
                Env::prefixed("FREEWAY_")
                    .split("__")
                    // Scripts set other FREEWAY_* variables (FREEWAY_DATA_DIR, ...).
                    .filter(|key| {
                        let top = key.as_str().split('.').next().unwrap_or_default();
                        CONFIG_KEYS.iter().any(|k| k.eq_ignore_ascii_case(top))
                    }),
            )
            .merge(Env::raw().only(&["DATABASE_URL"]));
        let mut config: Config = figment.extract().map_err(|e| ConfigError(e.to_string()))?;
        config.otlp = OtlpConfig::from_vars(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_body_bytes < 1024 {
            return Err(ConfigError("max_body_bytes must be at least 1024".into()));
        }
        if self.max_attempts == 0 {
            return Err(ConfigError("max_attempts must be at least 1".into()));
        }
        if self.usage.batch_size == 0 || self.usage.queue_capacity == 0 {
            return Err(ConfigError(
                "usage.batch_size and usage.queue_capacity must be positive".into(),
            ));
        }
        self.trusted_proxies()?;
        self.catalog_keys()?;
        Ok(())
    }

    /// The networks of `trusted_proxies` (a bare address is a network of one).
    pub fn trusted_proxies(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        ConfigError(format!(
                            "FREEWAY_TRUSTED_PROXIES: `{p}` is not an address or a network (10.0.0.0/8)"
                        ))
                    })
            })
            .collect()
    }

    /// The keys trusted to sign provider catalogs: the project's and `catalog_keys`.
    pub fn catalog_keys(&self) -> Result<crate::crypto::signature::TrustedKeys, ConfigError> {
        crate::crypto::signature::TrustedKeys::with_extra(&self.catalog_keys)
            .map_err(|e| ConfigError(format!("catalog_keys: {e}")))
    }

    pub fn request_budget(&self) -> Duration {
        Duration::from_secs(self.request_budget_secs)
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{scheme}://{masked}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
// figment's Jail returns its own large error type.
#[allow(clippy::unwrap_used, clippy::result_large_err)]
mod tests;
