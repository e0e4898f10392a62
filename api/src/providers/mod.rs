//! Providers as the request path sees them: an in-memory catalog of routes with their
//! credentials already decrypted and their slots in the pool state, rebuilt whenever the
//! pool changes.

pub mod import;
pub mod mappings;
pub mod openai_compat;
pub mod shaping;
pub mod upstream;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono_tz::Tz;
use sqlx::PgPool;
use uuid::Uuid;

use crate::crypto::{self, Keyring, Secret};
use crate::routing::FastMap;
use crate::routing::limits::Limits;
use crate::routing::pool::{PoolState, RouteSlots, Scope};
use crate::store::catalog::shaping::Shaping;
use crate::store::{self, Cursor, StoreError};

pub use mappings::{Mapping, Mappings};

#[derive(Debug, Clone)]
pub struct ProviderInfo {
    pub id: Uuid,
    pub name: String,
    pub base_url: String,
    pub timeout: Duration,
    /// Until the answer's headers and, streaming, its first event: [`Shaping`]'s
    /// `first_byte_timeout_ms`, else [`ProviderInfo::timeout`].
    pub first_byte: Duration,
    /// Longest wait between two events of a stream: `stall_timeout_ms`, else the timeout.
    pub stall: Duration,
    /// How request bodies are shaped for it, from the catalog in force; `None`: no rule.
    pub shaping: Option<Arc<Shaping>>,
    /// `{base_url}/chat/completions`, parsed once: the hot path does not parse a URL.
    chat_url: Option<http::Uri>,
}

impl ProviderInfo {
    pub fn new(id: Uuid, name: String, base_url: String, timeout: Duration) -> ProviderInfo {
        let chat_url = http::Uri::try_from(format!("{base_url}/chat/completions")).ok();
        ProviderInfo {
            id,
            name,
            base_url,
            timeout,
            first_byte: timeout,
            stall: timeout,
            shaping: None,
            chat_url,
        }
    }

    /// With a catalog provider's rules and timeouts.
    pub fn with_shaping(mut self, shaping: &Shaping, rules: Option<Arc<Shaping>>) -> Self {
        let ms = |ms: Option<u32>| ms.map(|ms| Duration::from_millis(u64::from(ms)));
        self.first_byte = ms(shaping.first_byte_timeout_ms).unwrap_or(self.timeout);
        self.stall = ms(shaping.stall_timeout_ms).unwrap_or(self.timeout);
        self.shaping = rules;
        self
    }

    /// The parsed URL of `path`, when it is one parsed in advance.
    pub fn parsed_url(&self, path: &str) -> Option<&http::Uri> {
        match path {
            "/chat/completions" => self.chat_url.as_ref(),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub struct CredentialInfo {
    pub id: Uuid,
    pub secret: Secret,
    /// Cuts this secret out of what the provider sends back.
    pub scrubber: crate::crypto::Scrubber,
}

impl CredentialInfo {
    pub fn new(id: Uuid, secret: Secret) -> CredentialInfo {
        CredentialInfo {
            id,
            scrubber: crate::crypto::Scrubber::new(&secret),
            secret,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Modality {
    Chat,
    Embedding,
    Image,
    Speech,
    Transcription,
}

impl Modality {
    pub const ALL: [Modality; 5] = [
        Modality::Chat,
        Modality::Embedding,
        Modality::Image,
        Modality::Speech,
        Modality::Transcription,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Modality::Chat => "chat",
            Modality::Embedding => "embedding",
            Modality::Image => "image",
            Modality::Speech => "speech",
            Modality::Transcription => "transcription",
        }
    }

    /// How the router serves a model of `modality`: legacy completions go to chat routes.
    pub fn of(modality: freeway_wire::pool::Modality) -> Modality {
        use freeway_wire::pool::Modality as Stored;
        match modality {
            Stored::Chat | Stored::Completion => Modality::Chat,
            Stored::Embedding => Modality::Embedding,
            Stored::Image => Modality::Image,
            Stored::Speech => Modality::Speech,
            Stored::Transcription => Modality::Transcription,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub id: Uuid,
    pub modality: Modality,
    pub tools: bool,
    pub vision: bool,
    pub json: bool,
    pub context_window: Option<u64>,
    pub family: Option<String>,
    pub dimensions: Option<u64>,
    /// Capability tier, 1 = strongest (the `smart` strategy's figure).
    pub tier: Option<i16>,
    /// The catalog's output limit: `max_tokens` above it is lowered to it.
    pub max_output_tokens: Option<u64>,
    /// The model's own shaping rules (its provider's, overridden), from the catalog.
    pub shaping: Option<Arc<Shaping>>,
}

/// One candidate for a request: a provider's model, called with one credential (or none,
/// for keyless providers).
#[derive(Debug, Clone)]
pub struct Route {
    pub provider: Arc<ProviderInfo>,
    pub model: String,
    pub info: Arc<ModelInfo>,
    pub credential: Option<Arc<CredentialInfo>>,
    pub slots: RouteSlots,
    /// Admin priority: model, provider, credential; lower first.
    pub priority: (i32, i32, i32),
    /// [`Route::label`] as a header value, made once (`None` when it is not one).
    pub label_header: Option<actix_web::http::header::HeaderValue>,
}

impl ModelInfo {
    /// A chat model with no declared capabilities or window.
    pub fn chat(id: Uuid) -> Self {
        ModelInfo {
            id,
            modality: Modality::Chat,
            tools: false,
            vision: false,
            json: false,
            context_window: None,
            family: None,
            dimensions: None,
            tier: None,
            max_output_tokens: None,
            shaping: None,
        }
    }
}

impl Route {
    /// A route outside any catalog, for tests and benchmarks.
    pub fn detached(provider: &str, model: &str, info: ModelInfo, slots: RouteSlots) -> Route {
        Route {
            provider: Arc::new(ProviderInfo::new(
                Uuid::new_v4(),
                provider.into(),
                "http://127.0.0.1:9/v1".into(),
                Duration::from_secs(60),
            )),
            model: model.into(),
            info: Arc::new(info),
            credential: None,
            slots,
            priority: (100, 100, 100),
            label_header: label_header(provider, model),
        }
    }

    /// `provider/model`, as shown in `x-freeway-route`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.provider.name, self.model)
    }
}

fn label_header(provider: &str, model: &str) -> Option<actix_web::http::header::HeaderValue> {
    actix_web::http::header::HeaderValue::try_from(format!("{provider}/{model}")).ok()
}

#[derive(Debug, Clone)]
pub struct ListedModel {
    pub id: String,
    pub owned_by: String,
    pub created: i64,
    /// What the first provider listing it says of it.
    pub info: Arc<ModelInfo>,
}

pub use freeway_wire::routing::ResolvedAs;
use freeway_wire::routing::Strategy;

/// What a requested name resolved to.
#[derive(Debug, Clone)]
pub struct Resolved<'a> {
    /// What the name is.
    pub kind: ResolvedAs,
    pub routes: &'a [Route],
    /// Whether a conversation moving between this chain's models gets a handoff.
    pub handoff: bool,
    /// For embeddings: the family every route shares.
    pub family: Option<(String, u64)>,
    /// The admin's mapping the name went through, when nothing answered to it directly; the
    /// rest is then what its target resolves to.
    pub mapping: Option<&'a Mapping>,
    /// How the chain is ordered: the profile's or `auto`'s strategy, the one an
    /// `auto:<strategy>` name asks for, or `priority` for a model.
    pub strategy: Strategy,
}

impl Resolved<'_> {
    /// The name the request resolved as, when a mapping sent it there.
    pub fn mapped_to(&self) -> Option<&str> {
        self.mapping.map(Mapping::target)
    }
}

#[derive(Debug, Default)]
pub struct Catalog {
    /// (modality, requested name: a model id, `provider/model`, an alias or an embedding
    /// family) → candidates in preference order.
    routes: FastMap<(Modality, String), Vec<Route>>,
    /// What each name of `routes` is; the first kind given a name keeps it, but for profiles
    /// and `auto`, which replace the routes too.
    kinds: FastMap<(Modality, String), ResolvedAs>,
    handoff: FastMap<String, bool>,
    /// Profiles' and `auto`'s strategies; other names use `priority`.
    strategies: FastMap<String, Strategy>,
    families: FastMap<String, (String, u64)>,
    by_attempt: FastMap<(String, String, Option<Uuid>), RouteSlots>,
    listed: Vec<ListedModel>,
    /// Tried, most specific first, for a name nothing above answers to.
    mappings: Mappings,
}

/// The alias every chat model answers to.
pub const AUTO: &str = "auto";

/// The strategy `auto:<strategy>` asks for; `None` for any other name.
pub fn auto_strategy(name: &str) -> Option<Strategy> {
    name.strip_prefix("auto:").and_then(Strategy::from_suffix)
}

impl Catalog {
    /// `None` when nothing of `modality` answers to `name`; an empty chain when something
    /// does but has no usable credential. A name nothing answers to directly resolves as the
    /// target of the most specific mapping it fits would (one hop: the target is not mapped
    /// again), and says so in [`Resolved::mapping`]. `auto:<strategy>` is `auto` ordered by
    /// that strategy.
    pub fn resolve(&self, modality: Modality, name: &str) -> Option<Resolved<'_>> {
        if let Some(direct) = self.resolve_directly(modality, name) {
            return Some(direct);
        }
        if let Some(strategy) = auto_strategy(name)
            && let Some(auto) = self.resolve_directly(modality, AUTO)
        {
            return Some(Resolved { strategy, ..auto });
        }
        let mapping = self.mappings.find(name)?;
        let target = self.resolve_directly(modality, mapping.target())?;
        Some(Resolved {
            mapping: Some(mapping),
            ..target
        })
    }

    fn resolve_directly(&self, modality: Modality, name: &str) -> Option<Resolved<'_>> {
        let key = (modality, name.to_string());
        let routes = self.routes.get(&key)?;
        Some(Resolved {
            kind: self.kinds.get(&key).copied().unwrap_or(ResolvedAs::Model),
            routes,
            handoff: self.handoff.get(name).copied().unwrap_or(false),
            family: self.families.get(name).cloned(),
            mapping: None,
            strategy: self.strategies.get(name).copied().unwrap_or_default(),
        })
    }

    /// Every model-name mapping, in the order a name is tried against them: most specific
    /// first.
    pub fn mappings(&self) -> &[Mapping] {
        self.mappings.all()
    }

    pub fn routes_for(&self, requested: &str) -> Option<&[Route]> {
        self.resolve(Modality::Chat, requested).map(|r| r.routes)
    }

    pub fn listed_models(&self) -> &[ListedModel] {
        &self.listed
    }

    /// The names that stand for several models (`auto`, profiles, embedding families), with
    /// their chains, by name.
    pub fn aliases(&self) -> Vec<(&str, ResolvedAs, &[Route])> {
        let mut aliases: Vec<_> = self
            .kinds
            .iter()
            .filter(|(_, kind)| {
                matches!(
                    kind,
                    ResolvedAs::Auto | ResolvedAs::Profile | ResolvedAs::EmbeddingFamily
                )
            })
            .filter_map(|(key, kind)| {
                let routes = self.routes.get(key)?;
                Some((key.1.as_str(), *kind, routes.as_slice()))
            })
            .collect();
        // `auto:<strategy>`: `auto`'s chain in another order.
        if let Some(routes) = self.routes.get(&(Modality::Chat, AUTO.to_string())) {
            let kind = self
                .kinds
                .get(&(Modality::Chat, AUTO.to_string()))
                .copied()
                .unwrap_or(ResolvedAs::Auto);
            for &name in Strategy::AUTO_NAMES {
                if !self.kinds.contains_key(&(Modality::Chat, name.to_string())) {
                    aliases.push((name, kind, routes.as_slice()));
                }
            }
        }
        aliases.sort_by(|a, b| a.0.cmp(b.0));
        aliases
    }

    /// The slots of every route in the catalog, once each.
    pub fn route_slots(&self) -> impl Iterator<Item = &RouteSlots> {
        self.by_attempt.values()
    }

    /// Every route in the catalog, once each, by provider, model and credential.
    pub fn routes_by_name(&self) -> impl Iterator<Item = (&str, &str, Option<Uuid>, &RouteSlots)> {
        self.by_attempt
            .iter()
            .map(|((provider, model, credential), slots)| {
                (provider.as_str(), model.as_str(), *credential, slots)
            })
    }

    /// The route of catalog model `model` with `credential` (`None`: keyless), for probes.
    /// A scan of every chain: not for the request path.
    pub fn route_of(&self, model: Uuid, credential: Option<Uuid>) -> Option<&Route> {
        self.routes
            .values()
            .flatten()
            .find(|r| r.info.id == model && r.credential.as_ref().map(|c| c.id) == credential)
    }

    /// The routes of `credential`, one per model.
    pub fn routes_of_credential(&self, credential: Uuid) -> Vec<&Route> {
        let mut routes: Vec<&Route> = Vec::new();
        for route in self.routes.values().flatten() {
            let same = route
                .credential
                .as_ref()
                .is_some_and(|c| c.id == credential);
            if same && !routes.iter().any(|r| r.info.id == route.info.id) {
                routes.push(route);
            }
        }
        routes.sort_by_key(|r| (r.priority, r.info.id));
        routes
    }

    /// The slots of the route an attempt trail names, to replay recent usage.
    pub fn slots_of(
        &self,
        provider: &str,
        model: &str,
        credential: Option<Uuid>,
    ) -> Option<RouteSlots> {
        self.by_attempt
            .get(&(provider.to_string(), model.to_string(), credential))
            .copied()
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
    pub providers: Vec<store::providers::ProviderRow>,
    pub models: Vec<store::models::ModelRow>,
    pub credentials: Vec<store::credentials::CredentialRow>,
    pub route_limits: Vec<store::limits::RouteLimitRow>,
    pub profiles: Vec<store::profiles::ProfileRow>,
    pub mappings: Vec<store::mappings::MappingRow>,
    /// `auto`'s strategy, unless an admin profile is named `auto`.
    pub auto_strategy: Strategy,
    /// The provider catalog in force, for the shaping of built-in providers' requests.
    pub catalog: Option<store::catalog::Catalog>,
}

impl PoolRows {
    pub async fn fetch(pool: &PgPool) -> Result<Self, StoreError> {
        Ok(PoolRows {
            providers: store::providers::list(pool, Cursor::ALL).await?,
            models: store::models::list(pool, None, Cursor::ALL).await?,
            credentials: store::credentials::list(pool, None, Cursor::ALL).await?,
            route_limits: store::limits::list_routes(pool).await?,
            profiles: store::profiles::list(pool).await?,
            mappings: store::mappings::list(pool).await?,
            auto_strategy: store::settings::auto_strategy(pool).await?,
            catalog: store::catalog::in_force(pool)
                .await
                .inspect_err(|error| {
                    tracing::error!(%error, "request shaping left out: no catalog in force");
                })
                .ok(),
        })
    }

    /// Whether some credential is sealed under a master-key version the keyring lacks.
    pub fn needs_key_versions_beyond(&self, keyring: &Keyring) -> bool {
        self.credentials
            .iter()
            .any(|c| keyring.get(c.sealed.key_version).is_err())
    }
}

/// Builds the catalog, decrypts the credentials and (re)configures their slots in `state`;
/// the slots of scopes it no longer has are freed, so catalogs are built one at a time (the
/// reloader's task, and the start before it).
/// A credential that does not decrypt is left out and logged; it never takes the rest down.
pub fn build_catalog(rows: PoolRows, keyring: &Keyring, state: &PoolState, now: i64) -> Catalog {
    // Every slot this catalog uses; the others (scopes deleted or disabled) are freed after.
    let used = std::cell::RefCell::new(HashSet::new());
    let slot = |scope: Scope, limits: Limits, tz: Tz| {
        let i = state.slot(scope, limits, tz, now);
        used.borrow_mut().insert(i);
        i
    };
    let PoolRows {
        providers,
        models,
        credentials,
        route_limits,
        profiles,
        mappings,
        auto_strategy,
        catalog: in_force,
    } = rows;
    let in_force = in_force.as_ref();
    // The catalog's entry of a built-in row; the admin's own rows have none.
    let entry = |origin: freeway_wire::pool::Origin, name: &str| {
        (origin == freeway_wire::pool::Origin::Builtin)
            .then(|| in_force.and_then(|c| c.find(name)))
            .flatten()
    };

    let mut secrets: BTreeMap<Uuid, Vec<(Arc<CredentialInfo>, i32, Limits)>> = BTreeMap::new();
    for credential in credentials.iter().filter(|c| c.enabled) {
        match crypto::open(keyring, credential.id, &credential.sealed) {
            Ok(secret) => secrets.entry(credential.provider_id).or_default().push((
                Arc::new(CredentialInfo::new(credential.id, secret)),
                credential.priority,
                Limits::from_columns(credential.limits),
            )),
            Err(error) => tracing::error!(credential = %credential.id, %error,
                "credential left out of the pool"),
        }
    }
    let overrides: HashMap<(Uuid, Uuid), Limits> = route_limits
        .iter()
        .map(|r| {
            (
                (r.model_id, r.credential_id),
                Limits::from_columns(r.limits),
            )
        })
        .collect();

    struct P {
        row: store::providers::ProviderRow,
        info: Arc<ProviderInfo>,
        tz: Tz,
        slot: usize,
    }
    let providers: HashMap<Uuid, P> = providers
        .into_iter()
        .filter(|p| p.enabled)
        .map(|p| {
            let tz: Tz = p.daily_reset_tz.parse().unwrap_or(Tz::UTC);
            let limits = Limits::from_columns(p.limits);
            let slot = slot(Scope::Provider { id: p.id }, limits, tz);
            let listed = entry(p.origin, &p.name);
            let info = ProviderInfo::new(
                p.id,
                p.name.clone(),
                p.base_url.clone(),
                Duration::from_millis(u64::try_from(p.timeout_ms).unwrap_or(60_000)),
            );
            let info = match listed {
                Some(listed) => {
                    info.with_shaping(&listed.shaping, shaping::provider_rules(Some(listed)))
                }
                None => info,
            };
            let info = Arc::new(info);
            (
                p.id,
                P {
                    row: p,
                    info,
                    tz,
                    slot,
                },
            )
        })
        .collect();

    let mut candidates: Vec<_> = models
        .iter()
        .filter(|m| m.enabled)
        .filter_map(|m| providers.get(&m.provider_id).map(|p| (m, p)))
        .map(|(m, p)| (m, p, Modality::of(m.modality)))
        .collect();
    // Admin priority first; ties by creation order so the order is stable across reloads.
    candidates
        .sort_by_key(|(m, p, _)| (m.priority, p.row.priority, p.row.created_at, m.created_at));

    let mut catalog = Catalog::default();
    let mut by_model: HashMap<Uuid, Vec<Route>> = HashMap::new();
    for (model, provider, modality) in candidates {
        let (max_output_tokens, model_shaping) = match entry(model.origin, &provider.row.name) {
            Some(_) => shaping::model_rules(in_force, &provider.row.name, &model.model_id),
            None => (None, None),
        };
        let info = Arc::new(ModelInfo {
            id: model.id,
            modality,
            tools: model.supports_tools,
            vision: model.supports_vision,
            json: model.supports_json,
            context_window: model.context_window.and_then(|c| u64::try_from(c).ok()),
            family: model.embedding_family.clone(),
            dimensions: model
                .embedding_dimensions
                .and_then(|d| u64::try_from(d).ok()),
            tier: model.tier,
            max_output_tokens,
            shaping: model_shaping,
        });
        let model_limits = Limits::from_columns(model.limits);
        let model_slot = slot(
            Scope::Model { id: model.id },
            Limits::default(),
            provider.tz,
        );
        let keyless = provider.row.keyless;
        let credentials: Vec<Option<&(Arc<CredentialInfo>, i32, Limits)>> = if keyless {
            vec![None]
        } else {
            secrets
                .get(&provider.row.id)
                .into_iter()
                .flatten()
                .map(Some)
                .collect()
        };
        let mut routes = Vec::new();
        for credential in credentials {
            let credential_id = credential.map(|c| c.0.id);
            let route_limits = match credential_id.and_then(|c| overrides.get(&(model.id, c))) {
                Some(o) => model_limits.overridden_by(*o),
                None => model_limits,
            };
            let slots = RouteSlots {
                route: slot(
                    Scope::Route {
                        model: model.id,
                        credential: credential_id,
                    },
                    route_limits,
                    provider.tz,
                ),
                credential: credential.map(|(c, _, limits)| {
                    slot(Scope::Credential { id: c.id }, *limits, provider.tz)
                }),
                provider: provider.slot,
                model: model_slot,
            };
            let route = Route {
                provider: provider.info.clone(),
                model: model.model_id.clone(),
                info: info.clone(),
                credential: credential.map(|c| c.0.clone()),
                slots,
                priority: (
                    model.priority,
                    provider.row.priority,
                    credential.map_or(0, |c| c.1),
                ),
                label_header: label_header(&provider.info.name, &model.model_id),
            };
            catalog.by_attempt.insert(
                (
                    provider.row.name.clone(),
                    model.model_id.clone(),
                    credential_id,
                ),
                slots,
            );
            routes.push(route);
        }
        // Credentials of one model in their own priority order.
        routes.sort_by_key(|r| r.priority.2);
        if routes.is_empty() {
            continue;
        }
        let pinned = format!("{}/{}", provider.row.name, model.model_id);
        let mut names = vec![
            (model.model_id.clone(), ResolvedAs::Model),
            (pinned, ResolvedAs::ProviderModel),
        ];
        if let (Some(family), Some(dims)) = (&model.embedding_family, info.dimensions) {
            catalog
                .families
                .insert(family.clone(), (family.clone(), dims));
            catalog
                .families
                .insert(model.model_id.clone(), (family.clone(), dims));
            catalog.families.insert(
                format!("{}/{}", provider.row.name, model.model_id),
                (family.clone(), dims),
            );
            names.push((family.clone(), ResolvedAs::EmbeddingFamily));
        }
        for (name, kind) in names {
            catalog
                .kinds
                .entry((modality, name.clone()))
                .or_insert(kind);
            catalog
                .routes
                .entry((modality, name))
                .or_default()
                .extend(routes.iter().cloned());
        }
        if !catalog.listed.iter().any(|l| l.id == model.model_id) {
            catalog.listed.push(ListedModel {
                id: model.model_id.clone(),
                owned_by: provider.row.name.clone(),
                created: model.created_at.timestamp(),
                info: info.clone(),
            });
        }
        by_model.entry(model.id).or_default().extend(routes);
    }

    // Aliases: admin profiles, and `auto` (every chat route by priority) unless an admin
    // defined it.
    for profile in &profiles {
        // The profile's order is the admin's priority for this alias.
        let routes: Vec<Route> = profile
            .models
            .iter()
            .enumerate()
            .flat_map(|(position, m)| {
                let position = i32::try_from(position).unwrap_or(i32::MAX);
                by_model
                    .get(m)
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |mut r| {
                        r.priority.0 = position;
                        r
                    })
            })
            .collect();
        let modality = routes.first().map_or(Modality::Chat, |r| r.info.modality);
        // A profile named `auto` is the admin's, in place of the default chain.
        catalog
            .kinds
            .insert((modality, profile.name.clone()), ResolvedAs::Profile);
        catalog
            .routes
            .insert((modality, profile.name.clone()), routes);
        catalog
            .handoff
            .insert(profile.name.clone(), profile.context_handoff);
        catalog
            .strategies
            .insert(profile.name.clone(), profile.strategy);
    }
    if !profiles.iter().any(|p| p.name == AUTO) {
        let mut auto: Vec<Route> = by_model
            .values()
            .flatten()
            .filter(|r| r.info.modality == Modality::Chat)
            .cloned()
            .collect();
        auto.sort_by_key(|r| (r.priority, r.info.id, r.credential.as_ref().map(|c| c.id)));
        if !auto.is_empty() {
            catalog
                .kinds
                .insert((Modality::Chat, AUTO.into()), ResolvedAs::Auto);
            catalog.routes.insert((Modality::Chat, AUTO.into()), auto);
            catalog.handoff.insert(AUTO.into(), true);
            catalog.strategies.insert(AUTO.into(), auto_strategy);
        }
    }
    catalog.listed.sort_by(|a, b| a.id.cmp(&b.id));
    catalog.mappings = Mappings::new(
        mappings
            .into_iter()
            .map(|row| Mapping::new(row.pattern, row.target)),
    );
    state.retain(&used.into_inner());
    catalog
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_label_names_provider_and_model() {
        let slots = RouteSlots {
            route: 0,
            credential: None,
            provider: 0,
            model: 0,
        };
        let route = Route::detached(
            "groq",
            "llama-3.1-8b-instant",
            ModelInfo::chat(Uuid::new_v4()),
            slots,
        );
        assert_eq!(route.label(), "groq/llama-3.1-8b-instant");
        assert!(Catalog::default().routes_for("x").is_none());
    }
}
