//! Freeway: a self-hosted, multi-tenant, OpenAI-compatible LLM gateway.
//!
//! The types that cross HTTP live in the `freeway-wire` crate, shared with the WASM UI.

pub mod admin;
pub mod anthropic;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod gateway;
pub mod health;
pub mod metrics;
pub mod mock;
pub mod openai;
pub mod probes;
pub mod providers;
pub mod routing;
pub mod shared;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tenancy;
pub mod ui;
pub mod usage;
