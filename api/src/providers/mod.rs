//! Providers as the request path sees them: an in-memory catalog of routes with their
//! credentials already decrypted, rebuilt whenever the pool changes.

pub mod openai_compat;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use crate::crypto::{self, Keyring, Secret};
use crate::store::{self, StoreError};

#[derive(Debug)]
pub struct ProviderInfo {
    pub id: Uuid,
    pub name: String,
    pub base_url: String,
    pub timeout: Duration,
}

#[derive(Debug)]
pub struct CredentialInfo {
    pub id: Uuid,
    pub secret: Secret,
}

/// One candidate for a request: a provider's model, called with one credential (or none,
/// for keyless providers).
#[derive(Debug, Clone)]
pub struct Route {
    pub provider: Arc<ProviderInfo>,
    pub model: String,
    pub credential: Option<Arc<CredentialInfo>>,
}

impl Route {
    /// `provider/model`, as shown in `x-freeway-route`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.provider.name, self.model)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedModel {
    pub id: String,
    pub owned_by: String,
    pub created: i64,
}

#[derive(Debug, Default)]
pub struct Catalog {
    /// Requested name (a model id, or `provider/model`) → candidates in preference order.
    routes: BTreeMap<String, Vec<Route>>,
    listed: Vec<ListedModel>,
}

impl Catalog {
    /// `None` when no enabled provider serves the name; an empty chain when one does but
    /// has no usable credential.
    pub fn routes_for(&self, requested: &str) -> Option<&[Route]> {
        self.routes.get(requested).map(Vec::as_slice)
    }

    pub fn listed_models(&self) -> &[ListedModel] {
        &self.listed
    }
}

/// The catalog shared by every request, swapped whole on reload.
#[derive(Default)]
pub struct CatalogHandle(RwLock<Arc<Catalog>>);

impl CatalogHandle {
    pub fn get(&self) -> Arc<Catalog> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn set(&self, catalog: Catalog) {
        *self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(catalog);
    }
}

/// The pool as stored, before decryption.
pub struct PoolRows {
    pub providers: Vec<store::pool::ProviderRow>,
    pub models: Vec<store::pool::ModelRow>,
    pub credentials: Vec<store::pool::CredentialRow>,
}

impl PoolRows {
    pub async fn fetch(pool: &PgPool) -> Result<Self, StoreError> {
        Ok(PoolRows {
            providers: store::pool::list_providers(pool).await?,
            models: store::pool::list_models(pool).await?,
            credentials: store::pool::list_credentials(pool).await?,
        })
    }

    /// Whether some credential is sealed under a master-key version the keyring lacks.
    pub fn needs_key_versions_beyond(&self, keyring: &Keyring) -> bool {
        self.credentials
            .iter()
            .any(|c| keyring.get(c.sealed.key_version).is_err())
    }
}

/// Builds the catalog and decrypts the credentials. A credential that does not decrypt is
/// left out and logged; it never takes the rest down with it.
pub fn build_catalog(rows: PoolRows, keyring: &Keyring) -> Catalog {
    let PoolRows {
        providers,
        models,
        credentials,
    } = rows;

    let mut secrets: BTreeMap<Uuid, Vec<Arc<CredentialInfo>>> = BTreeMap::new();
    for credential in credentials.iter().filter(|c| c.enabled) {
        match crypto::open(keyring, credential.id, &credential.sealed) {
            Ok(secret) => secrets
                .entry(credential.provider_id)
                .or_default()
                .push(Arc::new(CredentialInfo {
                    id: credential.id,
                    secret,
                })),
            Err(error) => tracing::error!(credential = %credential.id, %error,
                "credential left out of the pool"),
        }
    }

    let providers: BTreeMap<Uuid, (store::pool::ProviderRow, Arc<ProviderInfo>)> = providers
        .into_iter()
        .filter(|p| p.enabled)
        .map(|p| {
            let info = Arc::new(ProviderInfo {
                id: p.id,
                name: p.name.clone(),
                base_url: p.base_url.clone(),
                timeout: Duration::from_millis(u64::try_from(p.timeout_ms).unwrap_or(60_000)),
            });
            (p.id, (p, info))
        })
        .collect();

    // Preference: model priority, then provider priority, then credential priority; ties
    // by creation order, so the order is stable across reloads.
    let mut candidates: Vec<_> = models
        .iter()
        .filter(|m| m.enabled && m.modality == "chat")
        .filter_map(|m| {
            providers
                .get(&m.provider_id)
                .map(|(row, info)| (m, row, info))
        })
        .collect();
    candidates.sort_by_key(|(m, p, _)| (m.priority, p.priority, p.created_at, m.created_at));

    let mut catalog = Catalog::default();
    for (model, provider, info) in candidates {
        let routes: Vec<Route> = if provider.keyless {
            vec![Route {
                provider: info.clone(),
                model: model.model_id.clone(),
                credential: None,
            }]
        } else {
            secrets
                .get(&provider.id)
                .into_iter()
                .flatten()
                .map(|credential| Route {
                    provider: info.clone(),
                    model: model.model_id.clone(),
                    credential: Some(credential.clone()),
                })
                .collect()
        };
        let pinned = format!("{}/{}", provider.name, model.model_id);
        catalog
            .routes
            .entry(model.model_id.clone())
            .or_default()
            .extend(routes.iter().cloned());
        catalog.routes.entry(pinned).or_default().extend(routes);
        if !catalog.listed.iter().any(|l| l.id == model.model_id) {
            catalog.listed.push(ListedModel {
                id: model.model_id.clone(),
                owned_by: provider.name.clone(),
                created: model.created_at.timestamp(),
            });
        }
    }
    catalog.listed.sort_by(|a, b| a.id.cmp(&b.id));
    catalog
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_label_names_provider_and_model() {
        let route = Route {
            provider: Arc::new(ProviderInfo {
                id: Uuid::new_v4(),
                name: "groq".into(),
                base_url: "https://api.groq.com/openai/v1".into(),
                timeout: Duration::from_secs(60),
            }),
            model: "llama-3.1-8b-instant".into(),
            credential: None,
        };
        assert_eq!(route.label(), "groq/llama-3.1-8b-instant");
        assert!(Catalog::default().routes_for("x").is_none());
    }
}
