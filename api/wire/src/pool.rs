//! The shared pool: providers, their models and credentials, routing profiles, the live
//! routing state and cooldowns.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

pub use crate::discovery::{DiscoverQuery, DiscoveredModel};

/// Requests per minute, hour and day; tokens per minute and day. Absent or `null` is no
/// limit; a value must be at least 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"rpm": 30, "rpd": 14400, "tpm": 6000})))]
pub struct LimitSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(minimum = 1, maximum = 2147483647))]
    pub rpm: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(minimum = 1, maximum = 2147483647))]
    pub rph: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(minimum = 1, maximum = 2147483647))]
    pub rpd: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        schema(minimum = 1, maximum = 9223372036854775807_u64)
    )]
    pub tpm: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        schema(minimum = 1, maximum = 9223372036854775807_u64)
    )]
    pub tpd: Option<u64>,
}

/// An optional nested object, refusing arrays: serde would read a struct from a JSON array,
/// positionally, where the API promises an object.
pub fn object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error;
    match Option::<serde_json::Value>::deserialize(deserializer)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value @ serde_json::Value::Object(_)) => serde_json::from_value(value)
            .map(Some)
            .map_err(D::Error::custom),
        Some(_) => Err(D::Error::custom("expected an object")),
    }
}

/// What a model does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "snake_case"))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(feature = "clap", value(rename_all = "snake_case"))]
pub enum Modality {
    #[default]
    Chat,
    Completion,
    Embedding,
    Image,
    Speech,
    Transcription,
}

crate::words!(Modality {
    Chat => "chat",
    Completion => "completion",
    Embedding => "embedding",
    Image => "image",
    Speech => "speech",
    Transcription => "transcription",
});

/// Where a provider or model row comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "snake_case"))]
pub enum Origin {
    /// The catalog shipped with Freeway: seeded at start, updated on upgrade unless edited.
    Builtin,
    /// Added by an admin.
    Custom,
}

crate::words!(Origin {
    Builtin => "builtin",
    Custom => "custom",
});

/// An upstream service of the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e50", "name": "groq", "display_name": "Groq", "base_url": "https://api.groq.com/openai/v1", "keyless": false, "enabled": true, "priority": 100, "timeout_ms": 60000, "limits": {}, "daily_reset_tz": "UTC", "origin": "builtin", "edited": false, "created_at": "2026-01-05T09:00:00Z", "updated_at": "2026-01-05T09:00:00Z"})))]
pub struct ProviderView {
    pub id: Uuid,
    pub name: String,
    pub display_name: String,
    pub base_url: String,
    /// Called without a credential.
    pub keyless: bool,
    pub enabled: bool,
    /// Lower is tried first.
    pub priority: i32,
    pub timeout_ms: i32,
    /// Account-wide limits, shared by every credential of the provider.
    pub limits: LimitSet,
    /// IANA zone whose midnight resets the daily limits.
    pub daily_reset_tz: String,
    pub origin: Origin,
    /// A built-in row an admin changed: catalog upgrades leave it alone.
    pub edited: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A custom provider: any OpenAI-compatible server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"name": "my-vllm", "base_url": "http://10.0.0.5:8000/v1", "keyless": true, "priority": 50})))]
pub struct NewProvider {
    /// Lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit; at
    /// most 63 characters. Clients pin it as `provider/model`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// http(s) URL of the OpenAI-compatible API, e.g. ending in `/v1`.
    pub base_url: String,
    #[serde(default)]
    pub keyless: bool,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Default 60000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
    #[serde(
        default,
        deserialize_with = "object",
        skip_serializing_if = "Option::is_none"
    )]
    pub limits: Option<LimitSet>,
    /// Default `UTC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_reset_tz: Option<String>,
}

/// Changes to a provider. Fields left out are unchanged; `limits`, when given, replaces all
/// five limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"enabled": false})))]
pub struct ProviderPatch {
    /// Custom providers only: a built-in provider keeps its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyless: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
    #[serde(
        default,
        deserialize_with = "object",
        skip_serializing_if = "Option::is_none"
    )]
    pub limits: Option<LimitSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_reset_tz: Option<String>,
}

/// One of a provider's models.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e60", "provider_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e50", "provider": "groq", "model_id": "llama-3.3-70b-versatile", "modality": "chat", "supports_tools": true, "supports_vision": false, "supports_json": true, "context_window": 131072, "embedding_family": null, "embedding_dimensions": null, "limits": {"rpm": 30, "rpd": 1000}, "enabled": true, "priority": 100, "tier": 2, "origin": "builtin", "edited": false, "created_at": "2026-01-05T09:00:00Z", "updated_at": "2026-01-05T09:00:00Z"})))]
pub struct ModelView {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub provider: String,
    /// The provider's own model id, sent upstream unchanged.
    pub model_id: String,
    pub modality: Modality,
    pub supports_tools: bool,
    pub supports_vision: bool,
    pub supports_json: bool,
    pub context_window: Option<i32>,
    pub embedding_family: Option<String>,
    pub embedding_dimensions: Option<i32>,
    /// Default limits of each route (this model with one credential).
    pub limits: LimitSet,
    pub enabled: bool,
    pub priority: i32,
    /// Capability tier, 1 = strongest: what the `smart` strategy ranks by. Null: unranked.
    #[serde(default)]
    pub tier: Option<i16>,
    pub origin: Origin,
    pub edited: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A model to add to a provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"model_id": "qwen2.5-7b-instruct", "modality": "chat", "supports_tools": true, "context_window": 32768, "limits": {"rpm": 60}})))]
pub struct NewModel {
    pub model_id: String,
    /// Default `chat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<Modality>,
    #[serde(default)]
    pub supports_tools: bool,
    #[serde(default)]
    pub supports_vision: bool,
    #[serde(default)]
    pub supports_json: bool,
    /// Tokens; requests that do not fit skip this model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    /// Embedding models only, together with `embedding_dimensions`: vectors of different
    /// families are never mixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_dimensions: Option<u32>,
    #[serde(
        default,
        deserialize_with = "object",
        skip_serializing_if = "Option::is_none"
    )]
    pub limits: Option<LimitSet>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Capability tier, 1 (strongest) to 9, for the `smart` strategy. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(minimum = 1, maximum = 9))]
    pub tier: Option<i16>,
}

/// For PATCH bodies: an absent field is `None` (unchanged), `null` is `Some(None)` (cleared).
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Changes to a model. Fields left out are unchanged; `null` clears a nullable one;
/// `limits`, when given, replaces all five limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"context_window": 65536, "enabled": true})))]
pub struct ModelPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<Modality>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_tools: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_vision: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_json: Option<bool>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<u32>))]
    pub context_window: Option<Option<u32>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<String>))]
    pub embedding_family: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<u32>))]
    pub embedding_dimensions: Option<Option<u32>>,
    #[serde(
        default,
        deserialize_with = "object",
        skip_serializing_if = "Option::is_none"
    )]
    pub limits: Option<LimitSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// 1 (strongest) to 9; `null` clears it.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<i16>, minimum = 1, maximum = 9))]
    pub tier: Option<Option<i16>>,
}

/// One of a provider's secrets, without the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e70", "provider_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e50", "provider": "groq", "name": "alice's free tier", "last4": "x9Qz", "enabled": true, "priority": 100, "limits": {}, "key_version": 1, "created_at": "2026-01-05T09:10:00Z", "updated_at": "2026-01-05T09:10:00Z"})))]
pub struct CredentialView {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub provider: String,
    pub name: String,
    /// The last four characters of the secret; the secret itself is never shown.
    pub last4: String,
    pub enabled: bool,
    pub priority: i32,
    /// Overrides of this credential's limits.
    pub limits: LimitSet,
    /// The master-key version that seals it.
    pub key_version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Its last health probe; absent until one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<crate::discovery::ProbeResult>,
}

/// A secret for a provider. No `Debug`: it holds the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"name": "alice's free tier", "secret": "gsk_0123456789abcdef", "priority": 100})))]
pub struct NewCredential {
    /// A label to tell credentials apart, e.g. whose account it is.
    #[serde(default)]
    pub name: String,
    /// The provider's API key; write-only. For Cloudflare, `account_id:token`.
    pub secret: String,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(
        default,
        deserialize_with = "object",
        skip_serializing_if = "Option::is_none"
    )]
    pub limits: Option<LimitSet>,
}

/// Changes to a credential. Fields left out are unchanged; `limits`, when given, replaces
/// all five overrides. The secret cannot be changed: add a new credential and delete this one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"enabled": false})))]
pub struct CredentialPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(
        default,
        deserialize_with = "object",
        skip_serializing_if = "Option::is_none"
    )]
    pub limits: Option<LimitSet>,
}

/// The outcome of one real call made with a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"ok": true, "status": 200, "latency_ms": 412, "probe": "chat_completion", "model": "llama-3.1-8b-instant", "message": "Hi"})))]
pub struct CredentialTest {
    /// The provider answered with a 2xx status.
    pub ok: bool,
    /// The provider's HTTP status; absent when it could not be reached.
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// `chat_completion` (one token from the provider's first chat model) or `list_models`.
    pub probe: String,
    pub model: Option<String>,
    /// The reply, the number of models, or the provider's error message; never the secret.
    pub message: String,
}

/// A file of provider keys to import: a `.env`, JSON or CSV (see the README for the
/// spellings). No `Debug`: it holds secrets.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"content": "GROQ_API_KEY=gsk_...\nGEMINI_API_KEY=AIza...", "dry_run": true})))]
pub struct CredentialImport {
    /// The file's text.
    pub content: String,
    /// Guessed from the text when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ImportFormat>,
    /// Only preview (the default); `false` imports.
    #[serde(default = "yes")]
    pub dry_run: bool,
    /// Test each new key with one small call first and leave out the ones that fail
    /// (the default); `false` imports them untested.
    #[serde(default = "yes")]
    pub test: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ImportFormat {
    Env,
    Json,
    Csv,
}

/// What happens, or happened, to one key of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum ImportStatus {
    /// Would be imported (a preview).
    New,
    /// Imported now.
    Imported,
    /// The same key is stored already, or earlier in the file.
    Duplicate,
    /// No provider of the pool goes by this name.
    Unknown,
    /// Not a usable key (empty, too short, Cloudflare without an account id).
    Invalid,
    /// The provider refused it or did not answer; see `test`.
    TestFailed,
}

/// One key of an import. The secret is shown by its last four characters only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ImportEntry {
    /// Where in the file: `line 3`, `entry 2`.
    pub at: String,
    /// The variable or provider as written.
    pub source: String,
    /// The pool's provider it maps to.
    pub provider: Option<String>,
    /// The new credential's name.
    pub name: String,
    pub last4: String,
    pub status: ImportStatus,
    /// Why, for anything but `new` and `imported`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The key's test call, when it was tested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<CredentialTest>,
    /// The new credential, once imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<Uuid>,
}

/// An import's preview, or what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ImportReport {
    pub dry_run: bool,
    /// How many credentials were created (0 in a preview).
    pub imported: u32,
    /// In the file's order.
    pub entries: Vec<ImportEntry>,
    /// Stored credentials the master key could not open, so not compared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// An alias that tries models in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"name": "fast", "models": ["groq/llama-3.3-70b-versatile", "gemini/gemini-2.0-flash"], "context_handoff": true, "strategy": "priority"})))]
pub struct ProfileView {
    /// The name clients request as `model`.
    pub name: String,
    /// `provider/model`, in the order they are tried.
    pub models: Vec<String>,
    /// Whether a conversation may be handed off between the profile's models.
    pub context_handoff: bool,
    /// How the profile orders its routes.
    #[serde(default)]
    pub strategy: crate::routing::Strategy,
}

/// A profile's models and handoff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"models": ["groq/llama-3.3-70b-versatile", "gemini/gemini-2.0-flash"], "context_handoff": true, "strategy": "balanced"})))]
pub struct ProfileBody {
    /// `provider/model`, in the order to try them: 1 to 100, no repeats.
    #[cfg_attr(feature = "utoipa", schema(min_items = 1, max_items = 100))]
    pub models: Vec<String>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_handoff: Option<bool>,
    /// Default `priority`: the models in the order given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<crate::routing::Strategy>,
}

/// A running cooldown of a scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CooldownState {
    pub until: DateTime<Utc>,
    pub reason: String,
}

/// What a scope of the router is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "snake_case"))]
pub enum ScopeKind {
    Route,
    Credential,
    Provider,
    Model,
}

crate::words!(ScopeKind {
    Route => "route",
    Credential => "credential",
    Provider => "provider",
    Model => "model",
});

/// One scope the router tracks on this instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ScopeState {
    /// `route:<model id>:<credential id or keyless>`, `credential:<id>`, `provider:<id>` or
    /// `model:<id>`.
    pub scope: String,
    pub kind: ScopeKind,
    /// What the scope is, e.g. `groq/llama-3.3-70b-versatile via …x9Qz`.
    pub label: Option<String>,
    /// Configured limits.
    pub limits: LimitSet,
    /// Limits the provider reported about itself (rate-limit headers).
    pub learned: LimitSet,
    /// What the router enforces: the tighter of `limits` and `learned`.
    pub effective: LimitSet,
    pub requests_last_minute: u64,
    pub tokens_last_minute: u64,
    pub requests_last_hour: u64,
    /// Since the provider's daily reset (its `daily_reset_tz` midnight).
    pub requests_today: u64,
    pub tokens_today: u64,
    /// This scope's own cooldown.
    pub cooldown: Option<CooldownState>,
    /// Route rows: why the router would pass the route over now, in its own words (a
    /// cooldown of the route, its credential, provider or model; or a limit of any of them
    /// without headroom). Null when it would try the route, and for other scopes.
    pub skip_reason: Option<String>,
    /// Route rows: when the route regains capacity, if waiting helps.
    pub skip_until: Option<DateTime<Utc>>,
    /// Recent success rate, 0 to 1 (an EWMA; `reliable` ranks routes by it).
    pub success_rate: f64,
    /// Recent latency of successes (an EWMA).
    pub latency_ms: f64,
    /// Route rows: recent time to the first token (an EWMA; `fastest` ranks routes by it);
    /// null before the route's first answer.
    #[serde(default)]
    pub ttft_ms: Option<f64>,
    /// Route rows: the tightest fraction left of any limit on the route, its credential and
    /// its provider account (what `balanced` ranks routes by); 1 when nothing limits it.
    #[serde(default)]
    pub headroom: Option<f64>,
    /// Credential rows: the credential's last health probe, once one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<crate::discovery::ProbeResult>,
}

/// `DELETE /admin/v1/cooldowns`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "utoipa", into_params(parameter_in = Query))]
pub struct ClearCooldownsQuery {
    /// Only this scope's cooldown: a `scope` of the routing state, such as
    /// `route:<model id>:<credential id>`. Every cooldown when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        param(min_length = 1, max_length = 300, pattern = r"^[^\x00]*$")
    )]
    pub scope: Option<String>,
}

/// A cooldown kept in Postgres.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CooldownView {
    pub scope: ScopeKind,
    pub scope_key: String,
    pub label: Option<String>,
    pub until: DateTime<Utc>,
    pub reason: String,
    /// How many times it was cooled in a row.
    pub strikes: i32,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_limits_must_be_an_object() {
        let patch: CredentialPatch =
            serde_json::from_value(serde_json::json!({"limits": {"rpm": 5}})).unwrap();
        assert_eq!(patch.limits.and_then(|l| l.rpm), Some(5));
        let none: CredentialPatch =
            serde_json::from_value(serde_json::json!({"limits": null})).unwrap();
        assert_eq!(none.limits, None);
        assert!(
            serde_json::from_value::<CredentialPatch>(serde_json::json!({"limits": [null, null]}))
                .is_err()
        );
    }
}
