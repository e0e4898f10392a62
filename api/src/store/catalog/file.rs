//! The catalog file (`api/catalog/catalog.toml`, schema `catalog.schema.json` beside it):
//! providers and their models as data. Read strictly (unknown keys are errors); every error
//! names the entry and its line.

use std::collections::BTreeSet;

use freeway_wire::pool::Modality;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::super::limits::LimitColumns;
use super::super::validate;
use super::shaping::Shaping;

/// The wire formats a catalog may name. Only [`WireFormat::Openai`] is spoken today; a
/// provider on another one is listed with `status = "unsupported_wire"` and never seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireFormat {
    Openai,
    Gemini,
    Anthropic,
    Cohere,
    Horde,
}

impl WireFormat {
    pub const ALL: [(&'static str, WireFormat); 5] = [
        ("openai", WireFormat::Openai),
        ("gemini", WireFormat::Gemini),
        ("anthropic", WireFormat::Anthropic),
        ("cohere", WireFormat::Cohere),
        ("horde", WireFormat::Horde),
    ];

    pub fn supported(self) -> bool {
        self == WireFormat::Openai
    }
}

/// Whether Freeway routes to a provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Active,
    /// Listed for reference; Freeway cannot speak its wire format yet, so it is not seeded.
    UnsupportedWire,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    version: i32,
    #[serde(default)]
    updated: Option<String>,
    #[serde(default, rename = "provider")]
    providers: Vec<Provider>,
    #[serde(default, rename = "model")]
    models: Vec<Model>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// `providers.name`: the id used in `provider/model` and in the admin API.
    pub id: Spanned<String>,
    /// `providers.display_name`.
    pub name: String,
    pub base_url: String,
    /// A [`WireFormat`]; kept as text so that an unknown one is refused by name.
    #[serde(default = "openai")]
    pub wire: String,
    #[serde(default)]
    pub status: Status,
    /// `false`: the free tier is gone. Seeded (and upgraded) disabled, never routed by default.
    #[serde(default = "yes")]
    pub free_tier: bool,
    /// Called without a credential; seeded disabled until an admin opts in.
    #[serde(default)]
    pub keyless: bool,
    /// Lower is preferred among providers serving the same model.
    pub priority: i32,
    #[serde(default = "default_timeout")]
    pub timeout_ms: i32,
    /// Account-wide caps, shared by every credential.
    #[serde(default)]
    pub limits: LimitColumns,
    /// IANA zone whose midnight resets the provider's daily limits.
    #[serde(default = "utc")]
    pub daily_reset_tz: String,
    /// Where a user gets a key.
    pub key_url: String,
    #[serde(default)]
    pub notes: String,
    /// How requests to it are shaped (`[provider.shaping]`).
    #[serde(default)]
    pub shaping: Shaping,
    /// Its models, gathered from the file's `[[model]]` entries.
    #[serde(skip)]
    pub models: Vec<Model>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingEntry {
    /// Vectors of different families are never mixed.
    pub family: String,
    pub dimensions: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// The provider's id.
    pub provider: Spanned<String>,
    /// The provider's own model id, sent upstream unchanged.
    pub id: Spanned<String>,
    #[serde(default)]
    pub modality: Modality,
    #[serde(default)]
    pub context_window: Option<i32>,
    #[serde(default)]
    pub tools: bool,
    #[serde(default)]
    pub vision: bool,
    #[serde(default)]
    pub json: bool,
    #[serde(default)]
    pub embedding: Option<EmbeddingEntry>,
    #[serde(default)]
    pub limits: LimitColumns,
    /// Lower is preferred.
    #[serde(default = "default_priority")]
    pub priority: i32,
    /// Capability tier, 1 = strongest, for the `smart` strategy; none: unranked.
    #[serde(default)]
    pub tier: Option<i16>,
    /// `false`: listed but not routed (paywalled, deprecated); upgrades disable the row.
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub notes: String,
    /// The most tokens one answer may have; `max_tokens` above it is lowered to it.
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    /// Overrides keys of the provider's shaping for this model (`[model.shaping]`).
    #[serde(default)]
    pub shaping: Option<Shaping>,
}

fn openai() -> String {
    "openai".into()
}
fn yes() -> bool {
    true
}
fn default_timeout() -> i32 {
    60_000
}
fn default_priority() -> i32 {
    100
}
fn utc() -> String {
    "UTC".into()
}

impl Provider {
    pub fn id(&self) -> &str {
        self.id.get_ref()
    }

    pub fn wire_format(&self) -> Option<WireFormat> {
        WireFormat::ALL
            .iter()
            .find(|(name, _)| *name == self.wire)
            .map(|(_, wire)| *wire)
    }

    /// Whether the seed writes it: Freeway speaks its wire format.
    pub fn seeded(&self) -> bool {
        self.status == Status::Active && self.wire_format().is_some_and(WireFormat::supported)
    }
}

impl Model {
    pub fn id(&self) -> &str {
        self.id.get_ref()
    }

    pub fn provider(&self) -> &str {
        self.provider.get_ref()
    }
}

/// A checked catalog: providers in file order, each with its models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    pub version: i32,
    pub updated: Option<String>,
    pub providers: Vec<Provider>,
}

impl Catalog {
    /// The providers the seed writes (see [`Provider::seeded`]).
    pub fn seeded(&self) -> impl Iterator<Item = &Provider> {
        self.providers.iter().filter(|p| p.seeded())
    }

    pub fn find(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id() == id)
    }
}

/// A catalog that cannot be used, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the catalog is not valid TOML for the catalog schema: {0}")]
    Syntax(String),
    #[error("line {line}, {entry}: {message}")]
    Entry {
        line: usize,
        entry: String,
        message: String,
    },
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |before| before.matches('\n').count())
        .saturating_add(1)
}

/// Reads and checks a catalog file.
pub fn parse(text: &str) -> Result<Catalog, FileError> {
    let raw: RawCatalog =
        toml::from_str(text).map_err(|e| FileError::Syntax(e.to_string().trim().to_string()))?;
    let at = |span: std::ops::Range<usize>, entry: String, message: String| FileError::Entry {
        line: line_of(text, span.start),
        entry,
        message,
    };
    if raw.version < 1 {
        return Err(FileError::Syntax("`version` must be 1 or more".into()));
    }
    let mut providers = Vec::with_capacity(raw.providers.len());
    let mut ids = BTreeSet::new();
    for mut p in raw.providers {
        let entry = format!("provider `{}`", p.id());
        let span = p.id.span();
        if !ids.insert(p.id().to_string()) {
            return Err(at(span, entry, "the id is listed twice".into()));
        }
        if let Err(problem) = check_provider(&mut p) {
            return Err(at(span, entry, problem));
        }
        providers.push(p);
    }
    let mut routes = BTreeSet::new();
    for m in raw.models {
        let entry = format!("model `{}` of `{}`", m.id(), m.provider());
        let span = m.id.span();
        let Some(provider) = providers.iter_mut().find(|p| p.id() == m.provider()) else {
            return Err(at(
                span,
                entry,
                format!("no `[[provider]]` has the id `{}`", m.provider()),
            ));
        };
        if !routes.insert((m.provider().to_string(), m.id().to_string())) {
            return Err(at(span, entry, "the model is listed twice".into()));
        }
        if let Err(problem) = check_model(&m) {
            return Err(at(span, entry, problem));
        }
        provider.models.push(m);
    }
    Ok(Catalog {
        version: raw.version,
        updated: raw.updated,
        providers,
    })
}

fn check_provider(p: &mut Provider) -> Result<(), String> {
    let message = |e: super::super::StoreError| e.to_string();
    validate::provider_name(p.id()).map_err(message)?;
    if p.name.trim().is_empty() || p.name.chars().count() > 100 {
        return Err("`name` must be 1 to 100 characters".into());
    }
    p.base_url = validate::base_url(&p.base_url).map_err(message)?;
    validate::priority(p.priority).map_err(message)?;
    validate::timeout_ms(i64::from(p.timeout_ms)).map_err(message)?;
    validate::pool_limits("limits", &p.limits).map_err(message)?;
    p.daily_reset_tz = validate::time_zone(&p.daily_reset_tz).map_err(message)?;
    p.shaping.check(true)?;
    if !p.key_url.starts_with("https://") {
        return Err("`key_url` must be an https:// URL".into());
    }
    match p.wire_format() {
        None => Err(format!(
            "unknown wire format `{}`; known: {}",
            p.wire,
            WireFormat::ALL.map(|(name, _)| name).join(", ")
        )),
        Some(wire) if !wire.supported() && p.status == Status::Active => Err(format!(
            "Freeway cannot speak the `{}` wire format yet: mark the provider \
             `status = \"unsupported_wire\"`",
            p.wire
        )),
        Some(_) => Ok(()),
    }
}

fn check_model(m: &Model) -> Result<(), String> {
    if m.id().is_empty() || m.id().chars().count() > 300 || m.id().contains('\0') {
        return Err("a model id is 1 to 300 characters".into());
    }
    if m.context_window.is_some_and(|c| c < 1) {
        return Err("`context_window` must be 1 or more".into());
    }
    if m.priority < 0 || m.priority > 1_000_000 {
        return Err("`priority` must be between 0 and 1000000".into());
    }
    if m.tier.is_some_and(|t| !(1..=9).contains(&t)) {
        return Err("`tier` must be between 1 and 9".into());
    }
    validate::pool_limits("limits", &m.limits).map_err(|e| e.to_string())?;
    if m.max_output_tokens == Some(0) {
        return Err("`max_output_tokens` must be 1 or more".into());
    }
    if let Some(shaping) = &m.shaping {
        shaping.check(false)?;
    }
    match (&m.embedding, m.modality == Modality::Embedding) {
        (Some(e), true) if !e.family.trim().is_empty() && e.dimensions > 0 => Ok(()),
        (Some(_), true) => Err("`embedding` needs a family and dimensions above 0".into()),
        (None, true) => Err("an embedding model needs `embedding = { family, dimensions }`".into()),
        (Some(_), false) => Err("only embedding models have `embedding`".into()),
        (None, false) => Ok(()),
    }
}
