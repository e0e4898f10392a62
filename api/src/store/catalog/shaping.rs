//! Request shaping as catalog data: what a provider rejects or needs in an OpenAI-shaped
//! request body, declared per provider (`[provider.shaping]`) and optionally per model
//! (`[model.shaping]`, overriding the provider's keys it sets). `providers::shaping`
//! applies the rules to each outgoing body.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One provider's (or model's) rules. Every key is optional; an empty table is no rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shaping {
    /// Top-level keys removed from the body (`logprobs`, `top_k`...).
    #[serde(default)]
    pub drop: Vec<String>,
    /// Top-level keys renamed (`seed = "random_seed"`).
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// Keys set whenever the request has tools (`parallel_tool_calls = false`).
    #[serde(default)]
    pub set_when_tools: BTreeMap<String, Setting>,
    /// What becomes of `response_format`.
    #[serde(default)]
    pub response_format: ResponseFormat,
    /// `max_tokens` sent when the client sent neither it nor `max_completion_tokens`.
    #[serde(default)]
    pub default_max_tokens: Option<u32>,
    /// The most `max_tokens` (and `max_completion_tokens`) the provider takes.
    #[serde(default)]
    pub max_tokens_ceiling: Option<u32>,
    /// Message contents sent as strings: text parts joined, `null` as "".
    #[serde(default)]
    pub string_content: bool,
    /// Keys removed, at any depth, from each tool's `function.parameters` schema.
    #[serde(default)]
    pub tool_schema_drop: Vec<String>,
    /// Until the answer's headers and, streaming, its first event (cold starts). Provider
    /// only; else the provider's `timeout_ms`.
    #[serde(default)]
    pub first_byte_timeout_ms: Option<u32>,
    /// Longest wait between two events of a stream. Provider only; else `timeout_ms`.
    #[serde(default)]
    pub stall_timeout_ms: Option<u32>,
}

/// A value `set_when_tools` writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Setting {
    Bool(bool),
    Integer(i64),
    Text(String),
}

/// What becomes of a request's `response_format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Sent as the client sent it.
    #[default]
    Keep,
    /// `json_schema` is downgraded to `json_object` (the schema is dropped).
    JsonObjectOnly,
    /// `json_object` is upgraded to `json_schema` with a permissive object schema (Reka).
    JsonSchemaOnly,
    /// Removed (Kilo).
    Drop,
}

/// The longest timeout a catalog may set, as `timeout_ms` allows.
const MAX_TIMEOUT_MS: u32 = 600_000;

impl Shaping {
    /// No rule at all: the body goes as built.
    pub fn is_empty(&self) -> bool {
        self.drop.is_empty()
            && self.rename.is_empty()
            && self.set_when_tools.is_empty()
            && self.response_format == ResponseFormat::Keep
            && self.default_max_tokens.is_none()
            && self.max_tokens_ceiling.is_none()
            && !self.string_content
            && self.tool_schema_drop.is_empty()
    }

    /// These rules with `model`'s on top: each key the model sets replaces the provider's.
    pub fn overridden_by(&self, model: &Shaping) -> Shaping {
        let pick = |mine: &Vec<String>, theirs: &Vec<String>| {
            if theirs.is_empty() { mine } else { theirs }.clone()
        };
        Shaping {
            drop: pick(&self.drop, &model.drop),
            rename: if model.rename.is_empty() {
                &self.rename
            } else {
                &model.rename
            }
            .clone(),
            set_when_tools: if model.set_when_tools.is_empty() {
                &self.set_when_tools
            } else {
                &model.set_when_tools
            }
            .clone(),
            response_format: match model.response_format {
                ResponseFormat::Keep => self.response_format,
                other => other,
            },
            default_max_tokens: model.default_max_tokens.or(self.default_max_tokens),
            max_tokens_ceiling: model.max_tokens_ceiling.or(self.max_tokens_ceiling),
            string_content: self.string_content || model.string_content,
            tool_schema_drop: pick(&self.tool_schema_drop, &model.tool_schema_drop),
            first_byte_timeout_ms: self.first_byte_timeout_ms,
            stall_timeout_ms: self.stall_timeout_ms,
        }
    }

    /// Checks the rules; `provider`: timeouts are allowed. The error names the key.
    pub fn check(&self, provider: bool) -> Result<(), String> {
        let bad_key = |k: &String| k.is_empty() || k == "model" || k == "messages";
        if let Some(key) = self.drop.iter().find(|k| bad_key(k)) {
            return Err(format!("`shaping.drop` cannot drop `{key}`"));
        }
        if let Some((from, to)) = self.rename.iter().find(|(f, t)| bad_key(f) || bad_key(t)) {
            return Err(format!("`shaping.rename` cannot rename `{from}` to `{to}`"));
        }
        if let Some(key) = self.drop.iter().find(|k| self.rename.contains_key(*k)) {
            return Err(format!("`shaping` both drops and renames `{key}`"));
        }
        if let Some(key) = self.set_when_tools.keys().find(|k| bad_key(k)) {
            return Err(format!("`shaping.set_when_tools` cannot set `{key}`"));
        }
        if self.tool_schema_drop.iter().any(String::is_empty) {
            return Err("`shaping.tool_schema_drop` names an empty key".into());
        }
        for (name, value) in [
            ("default_max_tokens", self.default_max_tokens),
            ("max_tokens_ceiling", self.max_tokens_ceiling),
        ] {
            if value == Some(0) {
                return Err(format!("`shaping.{name}` must be 1 or more"));
            }
        }
        if let (Some(floor), Some(ceiling)) = (self.default_max_tokens, self.max_tokens_ceiling)
            && floor > ceiling
        {
            return Err("`shaping.default_max_tokens` is above `max_tokens_ceiling`".into());
        }
        for (name, value) in [
            ("first_byte_timeout_ms", self.first_byte_timeout_ms),
            ("stall_timeout_ms", self.stall_timeout_ms),
        ] {
            match value {
                Some(_) if !provider => {
                    return Err(format!(
                        "`shaping.{name}` is set per provider, not per model"
                    ));
                }
                Some(ms) if ms == 0 || ms > MAX_TIMEOUT_MS => {
                    return Err(format!(
                        "`shaping.{name}` must be between 1 and {MAX_TIMEOUT_MS}"
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}
