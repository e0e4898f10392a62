//! Types shared by the server and the WASM admin UI.
//!
//! This module compiles without the `server` feature, so it may depend on nothing but
//! `serde` and `serde_json`.

use serde::{Deserialize, Serialize};

/// The version of this build of Freeway, the same in the server and the UI.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `GET /healthz` and `GET /readyz` answer with this body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
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
}
