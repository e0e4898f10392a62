//! The provider catalog: loading a newer one on a running server (`POST /admin/v1/catalog`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A catalog to load: the file's exact text, and its detached signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CatalogImport {
    /// The catalog file (TOML, `api/catalog/catalog.schema.json`), byte for byte as signed.
    pub catalog: String,
    /// Base64 ed25519 signature over the exact bytes of `catalog`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Only show the diff (the default); `false` applies it.
    #[serde(default = "yes")]
    pub dry_run: bool,
    /// Accept a catalog that is unsigned, signed by an untrusted key, or not newer than the
    /// active one.
    #[serde(default)]
    pub force: bool,
}

fn yes() -> bool {
    true
}

/// What a catalog does to one provider or model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum CatalogChangeKind {
    Added,
    /// Shipped values changed: `fields` says which.
    Changed,
    Removed,
    /// No longer in the catalog (or its free tier is gone) but it holds credentials:
    /// disabled, not deleted.
    Disabled,
    /// An admin edited the row: the catalog's values (`fields`) are not applied.
    KeptEdit,
    /// The name belongs to the admin's own (custom) row, which is left alone.
    Conflict,
}

/// One field that differs: the value stored and the catalog's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CatalogFieldChange {
    pub field: String,
    /// Any JSON value (`null` for none).
    pub from: Value,
    /// Any JSON value (`null` for none).
    pub to: Value,
}

/// One provider (`groq`) or model (`groq/llama-3.1-8b-instant`) the catalog touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CatalogChange {
    pub id: String,
    pub change: CatalogChangeKind,
    #[serde(default)]
    pub fields: Vec<CatalogFieldChange>,
}

/// Who signed a catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CatalogSignature {
    /// Whether it verified with a trusted key.
    pub verified: bool,
    /// The base64 public key it verified with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Accepted without a verified signature because `force` was set.
    pub forced: bool,
}

/// The diff a catalog makes against the pool: providers and models added, changed (field by
/// field), removed or disabled, and the admin's edits that are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CatalogDiff {
    /// The catalog's version.
    pub version: i32,
    /// The version in use before it.
    pub active_version: i32,
    pub signature: CatalogSignature,
    pub dry_run: bool,
    /// Whether it was written (never on a dry run).
    pub applied: bool,
    pub providers: Vec<CatalogChange>,
    pub models: Vec<CatalogChange>,
}
