//! Freeway: a self-hosted, multi-tenant, OpenAI-compatible LLM gateway.
//!
//! `wire` compiles everywhere (the WASM UI uses it); the rest is the server, behind the
//! default `server` feature.

pub mod wire;

#[cfg(feature = "server")]
pub mod admin;
#[cfg(feature = "server")]
pub mod cli;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod crypto;
#[cfg(feature = "server")]
pub mod health;
#[cfg(feature = "server")]
pub mod mock;
#[cfg(feature = "server")]
pub mod openai;
#[cfg(feature = "server")]
pub mod providers;
#[cfg(feature = "server")]
pub mod routing;
#[cfg(feature = "server")]
pub mod startup;
#[cfg(feature = "server")]
pub mod state;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod tenancy;
#[cfg(feature = "server")]
pub mod ui;
#[cfg(feature = "server")]
pub mod usage;
