//! Model discovery for one credential: the provider's listing beside its catalog (new,
//! missing, known), the availability marks that follow, and catalog rows for the models an
//! admin picks from what is new.

use std::collections::HashSet;
use std::sync::RwLock;

use freeway_wire::discovery::{AddDiscovered, CredentialDiscovery, ListedModel};
use freeway_wire::pool::Modality;
use uuid::Uuid;

use super::listing::{self, ListError};
use super::{Target, opened};
use crate::crypto::Keyring;
use crate::store::models::{self, ModelFields, ModelRow};
use crate::store::providers::ProviderRow;
use crate::store::{Cursor, StoreError, availability};

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The provider gave no listing; nothing was changed.
    #[error("{}", .0.message)]
    Upstream(ListError),
}

/// Lists `credential`'s models upstream and diffs them against its provider's catalog. The
/// catalog's models missing upstream are marked unavailable for the credential, and those
/// listed again are cleared. A failed listing changes nothing.
pub async fn discover(
    db: &sqlx::PgPool,
    http: &reqwest::Client,
    keyring: &RwLock<Keyring>,
    credential: Uuid,
) -> Result<CredentialDiscovery, DiscoveryError> {
    let target = Target::load(db, credential).await?;
    let route = {
        let keyring = keyring.read().unwrap_or_else(|p| p.into_inner());
        opened(&target, &keyring)?
    };
    let listed = listing::list_models(http, &route, target.timeout())
        .await
        .map_err(DiscoveryError::Upstream)?;
    let catalog = models::list(db, Some(target.provider.id), Cursor::ALL).await?;
    let (missing, known) = split(&catalog, |id| listed.contains_key(id));
    availability::sync_listing(db, credential, &ids(&missing), &ids(&known)).await?;
    let in_catalog: HashSet<&str> = catalog.iter().map(|m| m.model_id.as_str()).collect();
    let new = listed
        .into_iter()
        .filter(|(id, _)| !in_catalog.contains(id.as_str()))
        .map(|(id, listed)| ListedModel {
            modality: infer_modality(&id),
            id,
            owned_by: listed.owned_by,
            context_window: listed.context_window,
        })
        .collect();
    Ok(CredentialDiscovery {
        provider: target.provider.name,
        credential_id: credential,
        new,
        missing: names(&missing),
        known: names(&known),
    })
}

/// The enabled catalog models split into those not listed and those listed.
pub(super) fn split(
    catalog: &[ModelRow],
    listed: impl Fn(&str) -> bool,
) -> (Vec<&ModelRow>, Vec<&ModelRow>) {
    catalog
        .iter()
        .filter(|m| m.enabled)
        .partition(|m| !listed(&m.model_id))
}

pub(super) fn ids(models: &[&ModelRow]) -> Vec<Uuid> {
    models.iter().map(|m| m.id).collect()
}

fn names(models: &[&ModelRow]) -> Vec<String> {
    let mut names: Vec<String> = models.iter().map(|m| m.model_id.clone()).collect();
    names.sort();
    names
}

/// What a model id says of its modality: `embed` is an embedding model, `whisper` or
/// `transcribe` a transcription one, `tts` a speech one, `dall-e`, `flux`, `stable-diffusion`
/// or `imagen` an image one; anything else chats.
pub fn infer_modality(id: &str) -> Modality {
    let id = id.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| id.contains(w));
    if has(&["embed"]) {
        Modality::Embedding
    } else if has(&["whisper", "transcribe", "-stt"]) {
        Modality::Transcription
    } else if has(&["tts", "-speech"]) {
        Modality::Speech
    } else if has(&["dall-e", "flux", "stable-diffusion", "sdxl", "imagen"]) {
        Modality::Image
    } else {
        Modality::Chat
    }
}

/// Whether a model id says it takes images: `vision`, `-vl`, `llava`, `pixtral`.
pub fn infer_vision(id: &str) -> bool {
    let id = id.to_ascii_lowercase();
    ["vision", "-vl", "llava", "pixtral"]
        .iter()
        .any(|w| id.contains(w))
}

/// Adds `request.models` to `provider`'s catalog with the capabilities given, the others
/// inferred. None is added when one is already there (a conflict) or invalid.
pub async fn add(
    db: &sqlx::PgPool,
    actor: &str,
    provider: &ProviderRow,
    request: &AddDiscovered,
) -> Result<Vec<ModelRow>, StoreError> {
    if request.models.is_empty() || request.models.len() > 200 {
        return Err(StoreError::invalid(
            "models",
            "`models` names 1 to 200 of the provider's model ids.",
        ));
    }
    let context_window = match request.context_window {
        Some(window) => Some(i32::try_from(window).map_err(|_| {
            StoreError::invalid("context_window", "`context_window` is too large.")
        })?),
        None => None,
    };
    let fields: Vec<ModelFields> = request
        .models
        .iter()
        .map(|id| {
            let modality = request.modality.unwrap_or_else(|| infer_modality(id));
            let chat = modality == Modality::Chat;
            ModelFields {
                modality,
                supports_tools: request.tools.unwrap_or(chat),
                supports_vision: request.vision.unwrap_or_else(|| infer_vision(id)),
                supports_json: request.json.unwrap_or(chat),
                context_window,
                ..ModelFields::chat(id)
            }
        })
        .collect();
    let existing: HashSet<String> = models::list(db, Some(provider.id), Cursor::ALL)
        .await?
        .into_iter()
        .map(|m| m.model_id)
        .collect();
    let mut seen = HashSet::new();
    for f in &fields {
        f.check()?;
        if existing.contains(&f.model_id) || !seen.insert(f.model_id.as_str()) {
            return Err(StoreError::Conflict(format!(
                "model {:?} of provider {:?}",
                f.model_id, provider.name
            )));
        }
    }
    let mut added = Vec::with_capacity(fields.len());
    for f in &fields {
        added.push(models::create(db, actor, provider, f).await?);
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modality_and_vision_are_read_from_the_id() {
        assert_eq!(infer_modality("nomic-embed-text"), Modality::Embedding);
        assert_eq!(infer_modality("whisper-large-v3"), Modality::Transcription);
        assert_eq!(infer_modality("playai-tts"), Modality::Speech);
        assert_eq!(infer_modality("flux-1-schnell"), Modality::Image);
        assert_eq!(infer_modality("llama-3.3-70b"), Modality::Chat);
        assert!(infer_vision("qwen2.5-vl-72b"));
        assert!(!infer_vision("llama-3.3-70b"));
    }
}
