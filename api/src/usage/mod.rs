//! Usage events: one per `/v1` request, handed to a batch writer that never blocks the
//! request path.

pub mod histogram;
mod recorder;
mod writer;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

pub use recorder::{Recorder, millis};
pub use writer::{UsageSink, UsageStats, UsageWriter};

/// One candidate the request tried, in order.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Attempt {
    pub provider: String,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<Uuid>,
    pub outcome: freeway_wire::usage::AttemptOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone)]
pub struct UsageEvent {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub endpoint: &'static str,
    pub tenant_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub requested_model: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub credential_id: Option<Uuid>,
    pub status: u16,
    pub error_code: Option<String>,
    pub stream: bool,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
    pub attempts: Vec<Attempt>,
    pub session_id: Option<String>,
}

impl UsageEvent {
    pub fn new(endpoint: &'static str) -> Self {
        UsageEvent {
            id: Uuid::now_v7(),
            created_at: Utc::now(),
            endpoint,
            tenant_id: None,
            member_id: None,
            api_key_id: None,
            requested_model: None,
            provider: None,
            model: None,
            credential_id: None,
            status: 0,
            error_code: None,
            stream: false,
            prompt_tokens: None,
            completion_tokens: None,
            latency_ms: 0,
            ttft_ms: None,
            attempts: Vec::new(),
            session_id: None,
        }
    }
}
