//! Model-name mappings: patterns an admin sets so that names nothing in the pool answers to
//! (Claude Code's `claude-sonnet-4-5-20250929`, say) resolve as some other name would.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The longest pattern or target.
pub const MAPPING_MAX_CHARS: usize = 200;

/// The JSON Schema `pattern` of a mapping's pattern: 1 to 200 characters, none of them white
/// space or a control character; `*` is any run of characters.
pub const PATTERN_PATTERN: &str = r"^[^\s\x00-\x1f\x7f-\x9f]{1,200}$";

/// The JSON Schema `pattern` of a mapping's target: as a pattern's, without `*`.
pub const TARGET_PATTERN: &str = r"^[^\s*\x00-\x1f\x7f-\x9f]{1,200}$";

/// A requested-name pattern and the name it resolves as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"pattern": "claude-*", "target": "auto", "created_at": "2026-01-05T09:00:00Z", "updated_at": "2026-01-05T09:00:00Z"})))]
pub struct MappingView {
    /// A model name in which `*` is any run of characters (`claude-*`, `*-haiku-*`), or an
    /// exact name.
    pub pattern: String,
    /// What a matching name resolves as: a model id, `provider/model`, a profile, `auto` or
    /// an embedding family. It is not mapped again.
    pub target: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a pattern maps to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"target": "fast"})))]
pub struct MappingBody {
    /// A model id, `provider/model`, a profile, `auto` or an embedding family: 1 to 200
    /// characters, no white space, control characters or `*`. It need not exist yet; until
    /// it does, names that match are unknown models.
    #[cfg_attr(
        feature = "utoipa",
        schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\s*\x00-\x1f\x7f-\x9f]{1,200}$"
        )
    )]
    pub target: String,
}

/// The mapping a requested name went through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct MatchedMapping {
    /// The most specific pattern the name matched.
    pub pattern: String,
    /// The name it resolved as.
    pub target: String,
}
