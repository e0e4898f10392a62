//! A provider's models: modality, capabilities, context window, embedding family, limits.

use chrono::{DateTime, Utc};
use freeway_wire::pool::{Modality, Origin};
use serde::Serialize;
use serde_json::json;
use sqlx::{AssertSqlSafe, FromRow, PgConnection, PgPool};
use uuid::Uuid;

use super::audit::{self, Audit, Outcome, audited, to_json};
use super::edit::{self, Deleted, Edit};
use super::limits::LimitColumns;
use super::providers::ProviderRow;
use super::{Cursor, ResultExt, StoreError, paged, validate};

#[derive(Debug, Clone, FromRow)]
pub struct ModelRow {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub model_id: String,
    pub modality: Modality,
    pub supports_tools: bool,
    pub supports_vision: bool,
    pub supports_json: bool,
    pub context_window: Option<i32>,
    pub embedding_family: Option<String>,
    pub embedding_dimensions: Option<i32>,
    #[sqlx(flatten)]
    pub limits: LimitColumns,
    pub enabled: bool,
    pub priority: i32,
    /// Capability tier, 1 = strongest (the `smart` strategy's figure).
    pub tier: Option<i16>,
    pub origin: Origin,
    pub edited: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, provider_id, model_id, modality, supports_tools, supports_vision,
    supports_json, context_window, embedding_family, embedding_dimensions,
    rpm, rph, rpd, tpm, tpd, enabled, priority, tier, origin, edited, created_at, updated_at";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelFields {
    pub model_id: String,
    pub modality: Modality,
    pub supports_tools: bool,
    pub supports_vision: bool,
    pub supports_json: bool,
    pub context_window: Option<i32>,
    pub embedding_family: Option<String>,
    pub embedding_dimensions: Option<i32>,
    pub limits: LimitColumns,
    pub enabled: bool,
    pub priority: i32,
    pub tier: Option<i16>,
}

impl ModelFields {
    /// An enabled chat model, priority 100, with tools and JSON mode (most OpenAI-compatible
    /// chat models have both).
    pub fn chat(model_id: &str) -> Self {
        ModelFields {
            model_id: model_id.to_string(),
            modality: Modality::Chat,
            supports_tools: true,
            supports_vision: false,
            supports_json: true,
            context_window: None,
            embedding_family: None,
            embedding_dimensions: None,
            limits: LimitColumns::default(),
            enabled: true,
            priority: 100,
            tier: None,
        }
    }

    /// Checks a model as a whole, after a create or a patch.
    pub fn check(&self) -> Result<(), StoreError> {
        let id = validate::text("model_id", &self.model_id)?;
        if id.is_empty() || id.chars().count() > 300 || id.chars().any(char::is_control) {
            return Err(StoreError::invalid(
                "model_id",
                "`model_id` is 1 to 300 printable characters.",
            ));
        }
        if self.context_window.is_some_and(|w| w < 1) {
            return Err(StoreError::invalid(
                "context_window",
                "`context_window` must be a positive number of tokens, or null.",
            ));
        }
        validate::priority(self.priority)?;
        if self.tier.is_some_and(|t| !(1..=9).contains(&t)) {
            return Err(StoreError::invalid(
                "tier",
                "`tier` is 1 (strongest) to 9, or null.",
            ));
        }
        validate::pool_limits("limits", &self.limits)?;
        let together = "`embedding_family` and `embedding_dimensions` go together.";
        match (&self.embedding_family, self.embedding_dimensions) {
            (None, None) => Ok(()),
            (Some(_), None) => Err(StoreError::invalid("embedding_dimensions", together)),
            (None, Some(_)) => Err(StoreError::invalid("embedding_family", together)),
            (Some(family), Some(dimensions)) => {
                validate::name("embedding_family", family, 100)?;
                if self.modality != Modality::Embedding {
                    Err(StoreError::invalid(
                        "embedding_family",
                        "Only models of modality `embedding` have an embedding family.",
                    ))
                } else if !(1..=65_536).contains(&dimensions) {
                    Err(StoreError::invalid(
                        "embedding_dimensions",
                        "`embedding_dimensions` must be between 1 and 65536.",
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }
}

impl ModelRow {
    pub fn limits(&self) -> LimitColumns {
        self.limits
    }
}

impl Edit for ModelRow {
    /// The provider and the model's row id.
    type Key = (Uuid, Uuid);
    type Fields = ModelFields;
    const KIND: &'static str = "model";
    const TABLE: &'static str = "models";

    fn id((_, id): (Uuid, Uuid)) -> Uuid {
        id
    }

    async fn lock(
        conn: &mut PgConnection,
        (provider, id): (Uuid, Uuid),
    ) -> Result<Option<Self>, StoreError> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM models WHERE id = $1 AND provider_id = $2 FOR UPDATE"
        )))
        .bind(id)
        .bind(provider)
        .fetch_optional(conn)
        .await?)
    }

    /// An edit of a built-in row marks it `edited`, so catalog upgrades keep it.
    async fn save(
        conn: &mut PgConnection,
        (provider, id): (Uuid, Uuid),
        fields: &ModelFields,
    ) -> Result<Self, StoreError> {
        let sql = "UPDATE models SET model_id = $3, modality = $4, supports_tools = $5,
                supports_vision = $6, supports_json = $7, context_window = $8,
                embedding_family = $9, embedding_dimensions = $10, rpm = $11, rph = $12,
                rpd = $13, tpm = $14, tpd = $15, enabled = $16, priority = $17,
                tier = $18, edited = edited OR origin = 'builtin', updated_at = now()
            WHERE id = $1 AND provider_id = $2";
        Ok(write(conn, sql, (provider, id), fields).await?)
    }

    fn fields(&self) -> ModelFields {
        ModelFields {
            model_id: self.model_id.clone(),
            modality: self.modality,
            supports_tools: self.supports_tools,
            supports_vision: self.supports_vision,
            supports_json: self.supports_json,
            context_window: self.context_window,
            embedding_family: self.embedding_family.clone(),
            embedding_dimensions: self.embedding_dimensions,
            limits: self.limits,
            enabled: self.enabled,
            priority: self.priority,
            tier: self.tier,
        }
    }

    fn checked(fields: ModelFields) -> Result<ModelFields, StoreError> {
        fields.check().map(|()| fields)
    }

    fn builtin(&self) -> bool {
        self.origin == Origin::Builtin
    }
}

/// Models in creation order: of one provider, or of all.
pub async fn list(
    pool: &PgPool,
    provider: Option<Uuid>,
    cursor: Cursor,
) -> Result<Vec<ModelRow>, StoreError> {
    let select =
        format!("SELECT {COLUMNS} FROM models WHERE ($3::uuid IS NULL OR provider_id = $3)");
    Ok(paged(&select, cursor)
        .bind(provider)
        .fetch_all(pool)
        .await?)
}

/// The model `model_id` (the provider's own id) of `provider`.
pub async fn find(
    pool: &PgPool,
    provider: &ProviderRow,
    model_id: &str,
) -> Result<Option<ModelRow>, StoreError> {
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM models WHERE provider_id = $1 AND model_id = $2"
    )))
    .bind(provider.id)
    .bind(validate::text("model", model_id)?)
    .fetch_optional(pool)
    .await?)
}

async fn write(
    conn: &mut PgConnection,
    sql: &str,
    (provider, id): (Uuid, Uuid),
    fields: &ModelFields,
) -> Result<ModelRow, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!("{sql} RETURNING {COLUMNS}")))
        .bind(id)
        .bind(provider)
        .bind(&fields.model_id)
        .bind(fields.modality)
        .bind(fields.supports_tools)
        .bind(fields.supports_vision)
        .bind(fields.supports_json)
        .bind(fields.context_window)
        .bind(&fields.embedding_family)
        .bind(fields.embedding_dimensions)
        .bind(fields.limits.rpm)
        .bind(fields.limits.rph)
        .bind(fields.limits.rpd)
        .bind(fields.limits.tpm)
        .bind(fields.limits.tpd)
        .bind(fields.enabled)
        .bind(fields.priority)
        .bind(fields.tier)
        .fetch_one(conn)
        .await
}

pub async fn create(
    pool: &PgPool,
    actor: &str,
    provider: &ProviderRow,
    fields: &ModelFields,
) -> Result<ModelRow, StoreError> {
    fields.check()?;
    audited(pool, actor, async |conn| {
        let sql = "INSERT INTO models (id, provider_id, model_id, modality, supports_tools,
                                 supports_vision, supports_json, context_window,
                                 embedding_family, embedding_dimensions, rpm, rph, rpd, tpm,
                                 tpd, enabled, priority, tier)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                     $18)";
        let row = write(conn, sql, (provider.id, Uuid::now_v7()), fields)
            .await
            .on_constraint("models_provider_id_model_id_key", || {
                StoreError::Conflict(format!(
                    "model {:?} of provider {:?}",
                    fields.model_id, provider.name
                ))
            })?;
        let mut after = to_json(fields);
        after["provider"] = json!(provider.name);
        let audit = Audit::new("model.create", "model", row.id).after(after);
        Ok(Outcome::Changed(row, audit.notify(audit::POOL)))
    })
    .await
}

/// As [`super::providers::update`], for a model of `provider`.
pub async fn update<E: From<StoreError>>(
    pool: &PgPool,
    actor: &str,
    provider: Uuid,
    id: Uuid,
    apply: impl FnOnce(&ModelRow, &mut ModelFields) -> Result<(), E>,
) -> Result<Option<ModelRow>, E> {
    edit::update(pool, actor, (provider, id), apply).await
}

pub async fn delete(
    pool: &PgPool,
    actor: &str,
    provider: Uuid,
    id: Uuid,
) -> Result<Deleted, StoreError> {
    edit::delete::<ModelRow>(pool, actor, (provider, id)).await
}
