//! What a catalog would do to the pool's rows, worked out from the rows as they are (read
//! under lock): the diff shown to an admin, and the writes that apply it. The start-up seed
//! and an import share it, so both keep an admin's edits alike.

use std::collections::{BTreeMap, HashMap};

use freeway_wire::catalog::{CatalogChange, CatalogChangeKind, CatalogFieldChange};
use freeway_wire::pool::{Modality, Origin};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::super::StoreError;
use super::super::audit::to_json;
use super::super::limits::LimitColumns;
use super::file::{Catalog, Model, Provider};

/// A provider's columns that the catalog sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub(super) struct ProviderValues {
    pub display_name: String,
    pub base_url: String,
    pub keyless: bool,
    pub priority: i32,
    pub timeout_ms: i32,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub limits: LimitColumns,
    pub daily_reset_tz: String,
}

/// A model's columns that the catalog sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub(super) struct ModelValues {
    pub modality: Modality,
    pub supports_tools: bool,
    pub supports_vision: bool,
    pub supports_json: bool,
    pub context_window: Option<i32>,
    pub embedding_family: Option<String>,
    pub embedding_dimensions: Option<i32>,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub limits: LimitColumns,
    pub priority: i32,
    pub tier: Option<i16>,
}

impl ProviderValues {
    fn of(p: &Provider) -> Self {
        ProviderValues {
            display_name: p.name.clone(),
            base_url: p.base_url.clone(),
            keyless: p.keyless,
            priority: p.priority,
            timeout_ms: p.timeout_ms,
            limits: p.limits,
            daily_reset_tz: p.daily_reset_tz.clone(),
        }
    }
}

impl ModelValues {
    fn of(m: &Model) -> Self {
        ModelValues {
            modality: m.modality,
            supports_tools: m.tools,
            supports_vision: m.vision,
            supports_json: m.json,
            context_window: m.context_window,
            embedding_family: m.embedding.as_ref().map(|e| e.family.clone()),
            embedding_dimensions: m.embedding.as_ref().map(|e| e.dimensions),
            limits: m.limits,
            priority: m.priority,
            tier: m.tier,
        }
    }
}

#[derive(Debug, FromRow)]
struct ProviderRow {
    id: Uuid,
    name: String,
    origin: Origin,
    edited: bool,
    enabled: bool,
    /// Credentials it holds.
    credentials: i64,
    /// The admin's own or edited models under it.
    admin_models: i64,
    #[sqlx(flatten)]
    values: ProviderValues,
}

#[derive(Debug, FromRow)]
struct ModelRow {
    id: Uuid,
    provider_id: Uuid,
    model_id: String,
    origin: Origin,
    edited: bool,
    enabled: bool,
    #[sqlx(flatten)]
    values: ModelValues,
}

/// One write of the plan.
#[derive(Debug, Clone)]
pub(super) enum Write {
    InsertProvider {
        id: Uuid,
        name: String,
        values: ProviderValues,
        enabled: bool,
    },
    UpdateProvider {
        id: Uuid,
        values: ProviderValues,
        enabled: bool,
    },
    DisableProvider(Uuid),
    DeleteProvider(Uuid),
    InsertModel {
        provider_id: Uuid,
        model_id: String,
        values: ModelValues,
        enabled: bool,
    },
    UpdateModel {
        id: Uuid,
        values: ModelValues,
        enabled: bool,
    },
    DeleteModel(Uuid),
}

/// The diff and the writes that apply it.
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub providers: Vec<CatalogChange>,
    pub models: Vec<CatalogChange>,
    pub writes: Vec<Write>,
    /// Providers the catalog drops that still hold credentials (disabled by the seed,
    /// refused by an import).
    pub holding_credentials: Vec<(String, i64)>,
}

impl Plan {
    pub fn count(&self, models: bool, kind: CatalogChangeKind) -> u32 {
        let list = if models {
            &self.models
        } else {
            &self.providers
        };
        let n = list.iter().filter(|c| c.change == kind).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    fn note(&mut self, model: bool, id: String, change: CatalogChangeKind, fields: Vec<Field>) {
        let list = if model {
            &mut self.models
        } else {
            &mut self.providers
        };
        list.push(CatalogChange { id, change, fields });
    }
}

type Field = CatalogFieldChange;

/// The fields of `to` that differ from `from`, by their serialized names.
fn fields<T: Serialize>(from: &T, to: &T) -> Vec<Field> {
    let (Value::Object(from), Value::Object(to)) = (to_json(from), to_json(to)) else {
        return Vec::new();
    };
    to.into_iter()
        .filter_map(|(field, to)| {
            let from = from.get(&field).cloned().unwrap_or(Value::Null);
            (from != to).then_some(Field { field, from, to })
        })
        .collect()
}

/// `enabled` as an upgrade may set it: a catalog can switch a row off, never back on.
fn enabled_change(enabled: bool, wanted: bool, fields: &mut Vec<Field>) -> bool {
    let target = enabled && wanted;
    if target != enabled {
        fields.push(Field {
            field: "enabled".into(),
            from: Value::Bool(enabled),
            to: Value::Bool(target),
        });
    }
    target
}

const PROVIDERS: &str = "
    SELECT p.id, p.name, p.origin, p.edited, p.enabled, p.display_name, p.base_url, p.keyless,
           p.priority, p.timeout_ms, p.rpm, p.rph, p.rpd, p.tpm, p.tpd, p.daily_reset_tz,
           (SELECT count(*) FROM credentials c WHERE c.provider_id = p.id) AS credentials,
           (SELECT count(*) FROM models m WHERE m.provider_id = p.id
              AND (m.origin = 'custom' OR m.edited)) AS admin_models
    FROM providers p ORDER BY p.id FOR UPDATE OF p";

const MODELS: &str = "
    SELECT id, provider_id, model_id, origin, edited, enabled, modality, supports_tools,
           supports_vision, supports_json, context_window, embedding_family,
           embedding_dimensions, rpm, rph, rpd, tpm, tpd, priority, tier
    FROM models ORDER BY id FOR UPDATE";

/// Compares `catalog` with the pool's rows (locked until the transaction ends).
pub(super) async fn plan(conn: &mut PgConnection, catalog: &Catalog) -> Result<Plan, StoreError> {
    let providers: Vec<ProviderRow> = sqlx::query_as(PROVIDERS).fetch_all(&mut *conn).await?;
    let models: Vec<ModelRow> = sqlx::query_as(MODELS).fetch_all(&mut *conn).await?;
    let mut by_provider: HashMap<Uuid, BTreeMap<&str, &ModelRow>> = HashMap::new();
    for m in &models {
        by_provider
            .entry(m.provider_id)
            .or_default()
            .insert(m.model_id.as_str(), m);
    }
    let by_name: HashMap<&str, &ProviderRow> =
        providers.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut plan = Plan::default();

    for p in catalog.seeded() {
        let values = ProviderValues::of(p);
        let provider_id = match by_name.get(p.id()) {
            None => {
                let id = Uuid::now_v7();
                plan.writes.push(Write::InsertProvider {
                    id,
                    name: p.id().to_string(),
                    values,
                    enabled: !p.keyless && p.free_tier,
                });
                plan.note(false, p.id().into(), CatalogChangeKind::Added, Vec::new());
                for m in &p.models {
                    insert_model(&mut plan, id, p, m);
                }
                continue;
            }
            Some(row) if row.origin != Origin::Builtin => {
                plan.note(
                    false,
                    p.id().into(),
                    CatalogChangeKind::Conflict,
                    Vec::new(),
                );
                continue;
            }
            Some(row) => {
                let mut changed = fields(&row.values, &values);
                let enabled = enabled_change(row.enabled, p.free_tier, &mut changed);
                if !changed.is_empty() {
                    if row.edited {
                        plan.note(false, p.id().into(), CatalogChangeKind::KeptEdit, changed);
                    } else {
                        plan.writes.push(Write::UpdateProvider {
                            id: row.id,
                            values,
                            enabled,
                        });
                        plan.note(false, p.id().into(), CatalogChangeKind::Changed, changed);
                    }
                }
                row.id
            }
        };
        // Per row: an admin's edit of the provider does not stop its models' upgrades.
        let mut stored = by_provider.remove(&provider_id).unwrap_or_default();
        for m in &p.models {
            let id = format!("{}/{}", p.id(), m.id());
            let Some(row) = stored.remove(m.id()) else {
                insert_model(&mut plan, provider_id, p, m);
                continue;
            };
            if row.origin != Origin::Builtin {
                plan.note(true, id, CatalogChangeKind::Conflict, Vec::new());
                continue;
            }
            let values = ModelValues::of(m);
            let mut changed = fields(&row.values, &values);
            let enabled = enabled_change(row.enabled, m.enabled, &mut changed);
            if changed.is_empty() {
                continue;
            }
            if row.edited {
                plan.note(true, id, CatalogChangeKind::KeptEdit, changed);
            } else {
                plan.writes.push(Write::UpdateModel {
                    id: row.id,
                    values,
                    enabled,
                });
                plan.note(true, id, CatalogChangeKind::Changed, changed);
            }
        }
        for (model_id, row) in stored {
            remove_model(&mut plan, p.id(), model_id, row);
        }
    }

    // Built-in rows the catalog no longer lists.
    for row in &providers {
        let listed = catalog.seeded().any(|p| p.id() == row.name);
        if listed || row.origin != Origin::Builtin {
            continue;
        }
        let name = row.name.clone();
        if row.edited || row.admin_models > 0 {
            plan.note(false, name, CatalogChangeKind::KeptEdit, Vec::new());
        } else if row.credentials > 0 {
            plan.holding_credentials
                .push((name.clone(), row.credentials));
            if row.enabled {
                plan.writes.push(Write::DisableProvider(row.id));
                let off = Field {
                    field: "enabled".into(),
                    from: Value::Bool(true),
                    to: Value::Bool(false),
                };
                plan.note(false, name, CatalogChangeKind::Disabled, vec![off]);
            }
        } else {
            plan.writes.push(Write::DeleteProvider(row.id));
            plan.note(false, name.clone(), CatalogChangeKind::Removed, Vec::new());
            for model_id in by_provider.remove(&row.id).unwrap_or_default().keys() {
                let id = format!("{name}/{model_id}");
                plan.note(true, id, CatalogChangeKind::Removed, Vec::new());
            }
        }
    }
    Ok(plan)
}

fn insert_model(plan: &mut Plan, provider_id: Uuid, p: &Provider, m: &Model) {
    plan.writes.push(Write::InsertModel {
        provider_id,
        model_id: m.id().to_string(),
        values: ModelValues::of(m),
        enabled: m.enabled,
    });
    let id = format!("{}/{}", p.id(), m.id());
    plan.note(true, id, CatalogChangeKind::Added, Vec::new());
}

fn remove_model(plan: &mut Plan, provider: &str, model_id: &str, row: &ModelRow) {
    let id = format!("{provider}/{model_id}");
    match (row.origin, row.edited) {
        (Origin::Builtin, false) => {
            plan.writes.push(Write::DeleteModel(row.id));
            plan.note(true, id, CatalogChangeKind::Removed, Vec::new());
        }
        (Origin::Builtin, true) => plan.note(true, id, CatalogChangeKind::KeptEdit, Vec::new()),
        _ => {}
    }
}
