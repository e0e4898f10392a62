//! `GET /v1/models` and `GET /v1/models/{model}`: every model and every name standing for
//! several (`auto`, profiles, embedding families, admins' mappings such as `claude-*`) that
//! the api key may use, each with its context window, modality, capabilities and providers.
//! With an `anthropic-version` header (Anthropic's SDKs), in Anthropic's shape.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use freeway_wire::openai::{ModelCapabilities, ModelList, ModelObject};

use super::respond;
use crate::gateway::{Gateway, admit};
use crate::providers::{Catalog, ListedModel, Modality, ResolvedAs, Route};
use crate::tenancy::Caller;

/// Anthropic's SDKs send it on every request.
const ANTHROPIC_VERSION: &str = "anthropic-version";

/// List models
///
/// The models this api key may use, and the names standing for several of them.
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "openai",
    operation_id = "openai_models_list",
    params(("anthropic-version" = Option<String>, Header, description = "When present, the list comes in Anthropic's shape (`AnthropicModelPage`)")),
    responses(
        (status = 200, description = "The models this api key may use, then `auto`, profiles, embedding families and mappings; in Anthropic's shape (`AnthropicModelPage`) when `anthropic-version` is sent", body = ModelList),
        (status = 401, description = "Missing or bad api key", body = super::error::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
pub async fn list_models(req: HttpRequest, gw: web::Data<Gateway>) -> HttpResponse {
    respond(&req, "models", &gw, async |recorder| {
        let caller = admit::authenticate(&req, &gw, recorder)?;
        recorder.event().status = 200;
        let catalog = gw.catalog.get();
        let data = describe_all(&catalog, &caller);
        if req.headers().contains_key(ANTHROPIC_VERSION) {
            let data: Vec<_> = data.iter().map(anthropic_model).collect();
            return Ok(HttpResponse::Ok().json(freeway_wire::anthropic::ModelPage {
                has_more: false,
                first_id: data.first().map(|m| m.id.clone()),
                last_id: data.last().map(|m| m.id.clone()),
                data,
            }));
        }
        Ok(HttpResponse::Ok().json(ModelList {
            object: "list".into(),
            data,
        }))
    })
    .await
}

/// Retrieve a model
///
/// One model, or a name standing for several, as `GET /v1/models` lists it; a name an
/// admin's mapping serves (`claude-sonnet-4-5` under `claude-*`) is described as that
/// mapping's target.
#[utoipa::path(
    get,
    path = "/v1/models/{model}",
    tag = "openai",
    operation_id = "openai_models_retrieve",
    params(
        ("model" = String, Path, description = "A model id from `GET /v1/models`, an alias, or a mapped name; it may contain `/`"),
        ("anthropic-version" = Option<String>, Header, description = "When present, the model comes in Anthropic's shape (`AnthropicModel`)"),
    ),
    responses(
        (status = 200, description = "The model; in Anthropic's shape (`AnthropicModel`) when `anthropic-version` is sent", body = ModelObject),
        (status = 401, description = "Missing or bad api key", body = super::error::ErrorEnvelope),
        (status = 404, description = "Nothing of that name that this key may use", body = super::error::ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
pub async fn get_model(req: HttpRequest, gw: web::Data<Gateway>) -> HttpResponse {
    respond(&req, "models", &gw, async |recorder| {
        let caller = admit::authenticate(&req, &gw, recorder)?;
        let id = req.match_info().get("model").unwrap_or_default();
        let catalog = gw.catalog.get();
        let model = describe_one(&catalog, &caller, id)
            .ok_or_else(|| admit::unknown_model(id, Modality::Chat))?;
        recorder.event().status = 200;
        if req.headers().contains_key(ANTHROPIC_VERSION) {
            return Ok(HttpResponse::Ok().json(anthropic_model(&model)));
        }
        Ok(HttpResponse::Ok().json(model))
    })
    .await
}

fn anthropic_model(model: &ModelObject) -> freeway_wire::anthropic::Model {
    let created = DateTime::<Utc>::from_timestamp(model.created, 0).unwrap_or_default();
    freeway_wire::anthropic::Model {
        kind: "model".into(),
        id: model.id.clone(),
        display_name: model.id.clone(),
        created_at: created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

fn kind_word(kind: ResolvedAs) -> &'static str {
    match kind {
        ResolvedAs::Model | ResolvedAs::ProviderModel => "model",
        other => other.as_str(),
    }
}

/// What a chain offers: its providers and models in order, the largest window, and what
/// any of its models can do.
fn describe_chain(model: &mut ModelObject, routes: &[Route]) {
    let mut capabilities = ModelCapabilities::default();
    for route in routes {
        let name = &route.provider.name;
        if !model.providers.iter().any(|p| p == name) {
            model.providers.push(name.clone());
        }
        capabilities.tools |= route.info.tools;
        capabilities.vision |= route.info.vision;
        capabilities.json |= route.info.json;
        model.context_window = model.context_window.max(route.info.context_window);
    }
    if let Some(first) = routes.first() {
        model.modality = Some(first.info.modality.as_str().into());
        // A family's models share it; any other chain names one only if all do.
        let family = first.info.family.clone();
        if routes.iter().all(|r| r.info.family == family) {
            model.embedding_family = family;
            model.dimensions = first.info.dimensions;
        }
        model.capabilities = Some(capabilities);
    }
    model.context_length = model.context_window;
}

fn describe_model(catalog: &Catalog, listed: &ListedModel) -> ModelObject {
    let info = &listed.info;
    let mut model = ModelObject {
        id: listed.id.clone(),
        object: "model".into(),
        created: listed.created,
        owned_by: listed.owned_by.clone(),
        kind: Some("model".into()),
        modality: Some(info.modality.as_str().into()),
        context_window: info.context_window,
        capabilities: Some(ModelCapabilities {
            tools: info.tools,
            vision: info.vision,
            json: info.json,
        }),
        embedding_family: info.family.clone(),
        dimensions: info.dimensions,
        ..ModelObject::default()
    };
    if let Some(resolved) = catalog.resolve(info.modality, &listed.id) {
        describe_chain(&mut model, resolved.routes);
        // One model: its own capabilities, not the union of the chain's.
        model.capabilities = Some(ModelCapabilities {
            tools: info.tools,
            vision: info.vision,
            json: info.json,
        });
    }
    model.context_length = model.context_window;
    model
}

/// A name standing for several models: `auto`, a profile, a family.
fn describe_alias(
    catalog: &Catalog,
    name: &str,
    kind: ResolvedAs,
    routes: &[Route],
) -> ModelObject {
    let mut model = ModelObject {
        id: name.into(),
        object: "model".into(),
        owned_by: "freeway".into(),
        kind: Some(kind_word(kind).into()),
        ..ModelObject::default()
    };
    describe_chain(&mut model, routes);
    for route in routes {
        if !model.models.contains(&route.model) {
            model.models.push(route.model.clone());
        }
    }
    // As old as the oldest model it serves.
    model.created = catalog
        .listed_models()
        .iter()
        .filter(|l| model.models.contains(&l.id))
        .map(|l| l.created)
        .min()
        .unwrap_or_default();
    model
}

fn describe_all(catalog: &Catalog, caller: &Caller) -> Vec<ModelObject> {
    let mut data: Vec<ModelObject> = catalog
        .listed_models()
        .iter()
        .filter(|m| caller.may_use(&m.id))
        .map(|m| describe_model(catalog, m))
        .collect();
    for (name, kind, routes) in catalog.aliases() {
        if caller.may_use(name) && !data.iter().any(|m| m.id == name) {
            data.push(describe_alias(catalog, name, kind, routes));
        }
    }
    for mapping in catalog.mappings() {
        let (pattern, target) = (mapping.pattern(), mapping.target());
        if !(caller.may_use(pattern) || caller.may_use(target)) {
            continue;
        }
        let mut model = describe_target(catalog, pattern, target);
        model.created = data
            .iter()
            .find(|m| m.id == target)
            .map_or(0, |m| m.created);
        data.push(model);
    }
    data
}

/// A mapping (or a name it serves) described as its target.
fn describe_target(catalog: &Catalog, id: &str, target: &str) -> ModelObject {
    let chain = Modality::ALL
        .iter()
        .find_map(|m| catalog.resolve(*m, target));
    let mut model = match chain {
        Some(resolved) => describe_alias(catalog, id, resolved.kind, resolved.routes),
        None => ModelObject {
            id: id.into(),
            object: "model".into(),
            owned_by: "freeway".into(),
            ..ModelObject::default()
        },
    };
    model.kind = Some("mapping".into());
    model.target = Some(target.into());
    model
}

fn describe_one(catalog: &Catalog, caller: &Caller, id: &str) -> Option<ModelObject> {
    if let Some(listed) = catalog.listed_models().iter().find(|m| m.id == id) {
        return caller.may_use(id).then(|| describe_model(catalog, listed));
    }
    if let Some(mapping) = catalog.mappings().iter().find(|m| m.pattern() == id) {
        return (caller.may_use(id) || caller.may_use(mapping.target()))
            .then(|| describe_target(catalog, id, mapping.target()));
    }
    let resolved = Modality::ALL.iter().find_map(|m| catalog.resolve(*m, id))?;
    match resolved.mapped_to() {
        Some(target) => (caller.may_use(id) || caller.may_use(target))
            .then(|| describe_target(catalog, id, target)),
        None => caller
            .may_use(id)
            .then(|| describe_alias(catalog, id, resolved.kind, resolved.routes)),
    }
}
