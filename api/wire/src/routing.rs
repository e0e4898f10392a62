//! The routing simulation: the chain the router would build now for a request, with each
//! route's decision and the router's own reason, reserving nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::pool::Modality;

/// The longest requested name a simulation takes.
pub const SIMULATE_MODEL_MAX_CHARS: usize = 400;

/// A request to simulate: what the router looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"model": "auto", "tools": true, "prompt_tokens": 1200})))]
pub struct SimulateRequest {
    /// The `model` a client would send: a model id, `provider/model`, a routing profile,
    /// `auto`, an embedding family, or a name a mapping matches.
    #[cfg_attr(
        feature = "utoipa",
        schema(
            min_length = 1,
            max_length = 400,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub model: String,
    /// What kind of request; default `chat` (`completion` is served by chat routes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<Modality>,
    /// Also check this tenant's quota, as its members' requests are checked (counting
    /// nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Uuid>,
    /// A streamed request. Its chain is the same; it only commits to a route later, at the
    /// first content chunk.
    #[serde(default)]
    pub stream: bool,
    /// The request sends tools (or functions).
    #[serde(default)]
    pub tools: bool,
    /// The request sends images.
    #[serde(default)]
    pub vision: bool,
    /// The request asks for JSON output (`response_format`).
    #[serde(default)]
    pub json: bool,
    /// Estimated prompt tokens: checked against context windows and reserved against token
    /// limits. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u32>,
    /// Completion tokens reserved against token limits; default what a request without
    /// `max_tokens` reserves: 512 for chat, 16 for a legacy completion, 0 otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

/// How an alias orders its candidate routes, after the filters (capability, context window,
/// cooldown, headroom) and after a conversation's pinned route. Ties fall back to
/// `priority`'s order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "snake_case"))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(feature = "clap", value(rename_all = "snake_case"))]
pub enum Strategy {
    /// Admin priority (model, provider, credential), then recent health.
    #[default]
    Priority,
    /// The most remaining headroom first (the tightest fraction left of any limit on the
    /// route, its credential and its provider account), so one key's daily quota is not
    /// burnt first.
    Balanced,
    /// The lowest time-to-first-token EWMA first (a whole answer's first token comes with
    /// it), then the lowest latency EWMA.
    Fastest,
    /// The highest success EWMA first.
    Reliable,
    /// The strongest model first, by the catalog's capability tier (1 = strongest); models
    /// without a tier last.
    Smart,
}

crate::words!(Strategy {
    Priority => "priority",
    Balanced => "balanced",
    Fastest => "fastest",
    Reliable => "reliable",
    Smart => "smart",
});

impl Strategy {
    /// The strategy an `auto:<suffix>` model name asks for; `fast` is `fastest`.
    pub fn from_suffix(suffix: &str) -> Option<Strategy> {
        match suffix {
            "fast" => Some(Strategy::Fastest),
            other => Strategy::parse(other),
        }
    }

    /// Every `auto:<strategy>` model name, `auto:fast` included.
    pub const AUTO_NAMES: &'static [&'static str] = &[
        "auto:priority",
        "auto:balanced",
        "auto:fast",
        "auto:fastest",
        "auto:reliable",
        "auto:smart",
    ];
}

/// What the requested name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum ResolvedAs {
    /// A model id, served by every provider that has it.
    Model,
    /// `provider/model`: one provider's model.
    ProviderModel,
    /// An embedding family: every embedding model of the family.
    EmbeddingFamily,
    /// An admin's routing profile.
    Profile,
    /// `auto`: every chat model, by priority.
    Auto,
}

crate::words!(ResolvedAs {
    Model => "model",
    ProviderModel => "provider_model",
    EmbeddingFamily => "embedding_family",
    Profile => "profile",
    Auto => "auto",
});

/// Whether the router would try a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum RouteDecision {
    /// In the chain: tried in this order until one answers.
    Take,
    /// Passed over now; `reason` says why.
    Skip,
}

crate::words!(RouteDecision {
    Take => "take",
    Skip => "skip",
});

/// One route of the resolved chain and what the router would do with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct SimulatedRoute {
    pub provider: String,
    pub model: String,
    /// Absent for a keyless provider.
    pub credential_id: Option<Uuid>,
    pub decision: RouteDecision,
    /// The router's explanation of a skip: the capability it lacks, its context window, the
    /// scope cooling down and why, or the limit without headroom. Null for a take.
    pub reason: Option<String>,
    /// When a skip for a cooldown ends.
    pub cooldown_until: Option<DateTime<Utc>>,
    /// When a skipped route regains capacity: its cooldown's end, or when the limit's window
    /// frees a unit. Null when waiting will not help (a capability, a context window, a
    /// request larger than a limit).
    pub available_at: Option<DateTime<Utc>>,
    /// For a take: the figure the strategy ranked it by, e.g. `headroom 0.75 (credential
    /// rpd)`, `ttft 120 ms`, `success 0.98`, `tier 1`, `priority 10/20/0`. A figure marked
    /// `(prior)` is the neutral prior of a route with no figures yet. Null for a skip.
    #[serde(default)]
    pub ranked_by: Option<String>,
}

/// The chain the router would build now, first the routes it would try in order, then the
/// ones it would pass over. Nothing was reserved and nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"model": "auto", "resolved_as": "auto", "strategy": "priority", "mapping": null, "refusal": null, "candidates": [{"provider": "groq", "model": "llama-3.1-8b-instant", "credential_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e70", "decision": "take", "reason": null, "cooldown_until": null, "available_at": null, "ranked_by": "priority 20/10/0"}, {"provider": "gemini", "model": "gemini-2.0-flash", "credential_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e71", "decision": "skip", "reason": "route cooling down: 429 #1 within an hour", "cooldown_until": "2026-01-05T10:01:00Z", "available_at": "2026-01-05T10:01:00Z", "ranked_by": null}]})))]
pub struct Simulation {
    /// As asked.
    pub model: String,
    /// What the name is; null when nothing of this modality answers to it. For a name
    /// resolved through a mapping, what its target is.
    pub resolved_as: Option<ResolvedAs>,
    /// How the routes taken are ordered: the alias's strategy (`priority` for a model).
    #[serde(default)]
    pub strategy: Strategy,
    /// The admin's mapping the name went through, when nothing answers to it directly; null
    /// otherwise.
    #[serde(default)]
    pub mapping: Option<crate::mappings::MatchedMapping>,
    /// Why the request would be refused before any route is tried: an unknown model, no
    /// route able to serve it at all, no usable credential, or the tenant's quota. Null when
    /// it would go to the routes taken.
    pub refusal: Option<String>,
    /// The chain's routes: those taken, in the order they would be tried, then those
    /// skipped.
    pub candidates: Vec<SimulatedRoute>,
}
