//! The built-in catalog: `api/catalog/catalog.toml`, compiled into the binary, with the
//! free-tier providers Freeway knows out of the box, their models and their published default
//! limits. `store::catalog::seed_builtin` writes it to the database at start; an admin adds
//! credentials, and may edit or disable any row; `freeway catalog import` loads a newer one.
//!
//! Limits change often upstream. These are defaults: an admin can override them, and the
//! router learns tighter ones from `Retry-After`, `x-ratelimit-*` headers and 429 bodies.
//! Bump the file's `version` and [`CATALOG_VERSION`] together whenever the data changes, so
//! that upgraded rows say which catalog wrote them (a test checks they agree).

use std::sync::LazyLock;

use super::catalog::file::{self, Catalog, FileError};

/// The version of the built-in catalog file; stored on every built-in row the seed writes.
pub const CATALOG_VERSION: i32 = 2;
const _: () = assert!(CATALOG_VERSION > 0, "catalog versions start at 1");

/// The catalog file's exact text.
pub const TEXT: &str = include_str!("../../catalog/catalog.toml");
/// The project's detached signature of [`TEXT`] (base64 ed25519).
pub const SIGNATURE: &str = include_str!("../../catalog/catalog.toml.sig");

/// What a model does: the wire's enum, stored in `models.modality`.
pub use freeway_wire::pool::Modality;

pub type BuiltinProvider = file::Provider;
pub type BuiltinModel = file::Model;

static EMBEDDED: LazyLock<Result<Catalog, FileError>> = LazyLock::new(|| file::parse(TEXT));

/// The built-in catalog, read once.
pub fn embedded() -> Result<&'static Catalog, FileError> {
    EMBEDDED.as_ref().map_err(Clone::clone)
}

/// Every built-in provider the seed writes (those whose wire format Freeway speaks), in
/// the file's order. Empty only if the file does not parse, which a test rules out.
pub static PROVIDERS: LazyLock<Vec<BuiltinProvider>> = LazyLock::new(|| {
    embedded()
        .map(|c| c.seeded().cloned().collect())
        .unwrap_or_default()
});

/// The built-in provider named `id`, if the seed writes it.
pub fn find(id: &str) -> Option<&'static BuiltinProvider> {
    PROVIDERS.iter().find(|p| p.id() == id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::crypto::signature::TrustedKeys;

    /// The embedding families of the reference (`free-providers.md`), kept here on purpose
    /// rather than derived from the data they check.
    const FAMILIES: &[(&str, i32)] = &[
        ("gemini-embedding-001", 3072),
        ("text-embedding-3-small", 1536),
        ("text-embedding-3-large", 3072),
        ("bge-m3", 1024),
        ("nv-embedqa-e5-v5", 1024),
        ("llama-nemotron-embed-1b-v2", 2048),
        ("llama-nemotron-embed-vl-1b-v2", 2048),
        ("embeddinggemma-300m", 768),
        ("qwen3-embedding-0.6b", 1024),
        ("mistral-embed", 1024),
        ("embed-v4.0", 1536),
    ];

    #[test]
    fn the_file_parses_at_the_compiled_in_version_and_carries_the_project_signature() {
        let catalog = embedded().unwrap();
        assert_eq!(catalog.version, CATALOG_VERSION);
        let keys = TrustedKeys::with_extra("").unwrap();
        assert!(keys.verify(TEXT.as_bytes(), SIGNATURE).is_ok());
    }

    #[test]
    fn the_catalog_covers_the_reference_providers() {
        assert!(PROVIDERS.len() >= 35, "{} providers", PROVIDERS.len());
        // Every built-in id of earlier releases is still there: installs depend on them.
        for id in [
            "gemini",
            "groq",
            "cerebras",
            "mistral",
            "openrouter",
            "github",
            "nvidia",
            "cohere",
            "cloudflare",
            "zhipu",
            "huggingface",
            "ollama-cloud",
            "opencode-zen",
            "llm7",
            "kilo",
            "pollinations",
            "sambanova",
            "ovh",
            "modelscope",
            "reka",
            "siliconflow",
        ] {
            assert!(find(id).is_some(), "{id} is missing");
        }
    }

    #[test]
    fn a_provider_freeway_cannot_speak_is_listed_but_not_seeded() {
        let horde = embedded().unwrap().find("aihorde").unwrap();
        assert!(!horde.seeded());
        assert!(find("aihorde").is_none());
        for p in PROVIDERS.iter() {
            assert_eq!(p.wire, "openai", "{}", p.id());
        }
    }

    #[test]
    fn providers_whose_free_tier_is_gone_are_not_free() {
        assert!(!find("sambanova").unwrap().free_tier);
        assert!(find("groq").unwrap().free_tier);
    }

    #[test]
    fn ids_are_unique_and_every_provider_says_where_to_get_a_key() {
        let mut providers = BTreeSet::new();
        for p in embedded().unwrap().providers.iter() {
            assert!(providers.insert(p.id()), "provider {} twice", p.id());
            assert!(p.key_url.starts_with("https://"), "{}", p.id());
            assert!(!p.name.is_empty(), "{}", p.id());
        }
    }

    #[test]
    fn providers_have_sane_settings() {
        for p in PROVIDERS.iter() {
            assert!(
                p.base_url.starts_with("https://"),
                "{}: {}",
                p.id(),
                p.base_url
            );
            assert!(p.timeout_ms >= 60_000, "{}", p.id());
        }
        assert_eq!(
            find("gemini").unwrap().daily_reset_tz,
            "America/Los_Angeles"
        );
        assert_eq!(find("nvidia").unwrap().timeout_ms, 180_000);
        assert_eq!(find("ollama-cloud").unwrap().timeout_ms, 120_000);
        assert_eq!(find("openrouter").unwrap().limits.rpd, Some(1_000));
        assert_eq!(find("llm7").unwrap().limits.rph, Some(100));
        assert!(
            find("cloudflare")
                .unwrap()
                .base_url
                .contains("{account_id}")
        );
    }

    #[test]
    fn some_providers_are_keyless() {
        let keyless: Vec<_> = PROVIDERS
            .iter()
            .filter(|p| p.keyless)
            .map(|p| p.id())
            .collect();
        assert!(keyless.contains(&"kilo") && keyless.contains(&"pollinations"));
        assert!(!find("groq").unwrap().keyless);
    }

    #[test]
    fn embedding_models_match_the_reference_families() {
        let mut seen = BTreeSet::new();
        for p in PROVIDERS.iter() {
            for m in &p.models {
                let Some(e) = &m.embedding else { continue };
                let expected = FAMILIES
                    .iter()
                    .find(|(family, _)| *family == e.family)
                    .unwrap_or_else(|| panic!("{}: unknown family {}", m.id(), e.family));
                assert_eq!(e.dimensions, expected.1, "{}/{}", p.id(), m.id());
                seen.insert(e.family.as_str());
            }
        }
        assert_eq!(seen.len(), FAMILIES.len(), "families: {seen:?}");
    }

    #[test]
    fn every_modality_is_served() {
        for modality in [
            Modality::Chat,
            Modality::Embedding,
            Modality::Image,
            Modality::Speech,
            Modality::Transcription,
        ] {
            assert!(
                PROVIDERS
                    .iter()
                    .flat_map(|p| &p.models)
                    .any(|m| m.modality == modality),
                "no {} model",
                modality.as_str()
            );
        }
    }
}
