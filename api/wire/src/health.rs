//! `GET /healthz` and `GET /readyz`.

use serde::{Deserialize, Serialize};

/// Whether the process is alive (`/healthz`) or ready to serve (`/readyz`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"status": "ok", "version": "0.1.0", "database": true, "migrations": true, "checked_ms_ago": 420})))]
pub struct Health {
    /// `ok` when healthy or ready, otherwise a short reason.
    pub status: String,
    /// The server's version.
    pub version: String,
    /// Set by `/readyz`: whether the database answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<bool>,
    /// Set by `/readyz`: whether every embedded migration is applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrations: Option<bool>,
    /// Set by `/readyz`: how long ago the database was last checked, in milliseconds (a
    /// background check every second; the probe never waits on the database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_ms_ago: Option<u64>,
    /// Set by `/readyz` in a fleet (`FREEWAY_REDIS_URL`): whether Redis answered its last
    /// check (every second). Without it limits are local (each replica its share); the
    /// replica stays ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<bool>,
}
