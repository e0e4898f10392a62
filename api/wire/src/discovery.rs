//! Model discovery: what a provider's own `GET /models` lists, beside the pool's catalog.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `GET /admin/v1/providers/{provider}/discover`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "utoipa", into_params(parameter_in = Query))]
pub struct DiscoverQuery {
    /// Ask with this credential of the provider, enabled or not. Default: its first enabled
    /// credential by priority; none for a keyless provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<Uuid>,
}

/// One model the provider lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"id": "llama-3.1-8b-instant", "owned_by": "Meta", "in_catalog": true})))]
pub struct DiscoveredModel {
    /// The provider's model id, as `POST .../models` takes it for `model_id`.
    pub id: String,
    /// Who the provider says owns it, when it says.
    pub owned_by: Option<String>,
    /// The pool has a model row of this id for this provider (enabled or not).
    pub in_catalog: bool,
}

/// `GET /admin/v1/credentials/{credential}/discover`: the provider's listing, as this
/// credential sees it, beside the provider's catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"provider": "groq", "credential_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e70", "new": [{"id": "qwen3-32b", "owned_by": "Alibaba", "modality": "chat", "context_window": 131072}], "missing": ["gemma2-9b-it"], "known": ["llama-3.1-8b-instant"]})))]
pub struct CredentialDiscovery {
    pub provider: String,
    pub credential_id: Uuid,
    /// Listed upstream, not in the catalog: what `POST .../discovered-models` can add.
    pub new: Vec<ListedModel>,
    /// In the catalog, not listed upstream: marked unavailable for this credential, and
    /// skipped by the router, until it is listed again.
    pub missing: Vec<String>,
    /// Both in the catalog and listed upstream.
    pub known: Vec<String>,
}

/// A model the provider lists, with what Freeway infers of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ListedModel {
    pub id: String,
    pub owned_by: Option<String>,
    /// Inferred from the id: `embed` is an embedding model, `whisper` a transcription one,
    /// and so on; chat otherwise.
    pub modality: crate::pool::Modality,
    /// The context window, when the listing gives one (`context_window`, `context_length`).
    pub context_window: Option<u64>,
}

/// `POST /admin/v1/providers/{provider}/discovered-models`: catalog rows for models the
/// provider lists. What is not given is inferred from each id (modality, vision) or takes the
/// defaults of a new model (tools and JSON mode for chat).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"models": ["qwen3-32b"], "tools": true, "context_window": 131072})))]
pub struct AddDiscovered {
    /// The provider's model ids, as its listing gives them.
    #[cfg_attr(feature = "utoipa", schema(min_items = 1, max_items = 200))]
    pub models: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<crate::pool::Modality>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(minimum = 1, maximum = 2147483647))]
    pub context_window: Option<u64>,
}

/// The last health probe of a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"checked_at": "2026-01-05T10:00:00Z", "ok": true, "latency_ms": 212, "error": null})))]
pub struct ProbeResult {
    pub checked_at: DateTime<Utc>,
    /// The provider answered 2xx.
    pub ok: bool,
    pub latency_ms: u64,
    /// What went wrong, when it did.
    pub error: Option<String>,
}

/// `POST /admin/v1/credentials/{credential}/probe`: the credential's probe, and the early
/// re-probes of its routes that were cooling down for a transient cause or refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ProbeReport {
    pub credential_id: Uuid,
    pub probe: ProbeResult,
    /// `provider/model` of each route re-probed, with whether it answered.
    pub routes: Vec<RouteProbe>,
}

/// One route's early re-probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RouteProbe {
    pub route: String,
    /// It answered 2xx: its cooldown (or refusal) was lifted.
    pub ok: bool,
    pub status: Option<u16>,
}

/// A catalog model a credential cannot use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Unavailable {
    pub credential_id: Uuid,
    pub model_id: Uuid,
    /// `provider/model`.
    pub model: String,
    pub cause: UnavailableCause,
    pub reason: String,
    pub since: DateTime<Utc>,
}

/// Why a model is unavailable for a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "snake_case"))]
pub enum UnavailableCause {
    /// The provider's listing, with this credential, no longer has it.
    Missing,
    /// The provider answered 402, or that the model requires a subscription.
    Refused,
}

crate::words!(UnavailableCause {
    Missing => "missing",
    Refused => "refused",
});

/// `DELETE /admin/v1/credentials/{credential}/unavailable`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "utoipa", into_params(parameter_in = Query))]
pub struct ClearUnavailableQuery {
    /// Only this catalog model's mark (its row id); every mark of the credential when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<Uuid>,
}
