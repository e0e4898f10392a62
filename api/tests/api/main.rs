//! Integration tests: each spawns the real server on port 0 against a fresh database and a
//! programmable mock upstream. One binary, so the helpers compile once.

// Tests compute with fixed, trusted values: the rules against panicking arithmetic guard the
// server from outside input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::disallowed_methods
)]

mod admin_auth;
mod admin_discover;
mod admin_flow;
mod admin_matrix;
mod admin_pool;
mod admin_routing_state;
mod admin_search;
mod admin_simulate;
mod admin_tenants;
mod admin_usage;
mod anthropic;
mod auth;
mod catalog;
mod catalog_import;
mod catalog_upgrade;
mod chat;
mod cli;
mod cli_discover;
mod contract;
mod cooldown_clears;
mod credential_import;
mod crypto;
mod errors;
mod failover;
mod faults;
mod faults_client;
mod fleet;
mod fleet_script;
mod health;
mod helpers;
mod layout;
mod ledger;
mod logs;
mod mappings;
mod media;
mod metrics;
mod migrations;
mod models;
mod otlp;
mod pg_proxy;
mod postgres_tls;
mod probes;
mod quotas;
mod redis_faults;
mod redis_fleet;
mod request_id;
mod responses;
mod routing;
mod shaping;
mod store;
mod strategies;
mod streaming;
mod swagger;
mod ui;
mod ui_story;
mod usage;
mod usage_latency;
mod usage_partitions;
