//! Applies a [`Plan`]'s writes, stamping every row written with the catalog's version.

use sqlx::PgConnection;

use super::super::StoreError;
use super::plan::{ModelValues, ProviderValues, Write};

const INSERT_PROVIDER: &str = "
    INSERT INTO providers (id, name, display_name, base_url, keyless, priority, timeout_ms,
                           rpm, rph, rpd, tpm, tpd, daily_reset_tz, enabled, catalog_version,
                           origin)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'builtin')";

const UPDATE_PROVIDER: &str = "
    UPDATE providers
    SET display_name = $2, base_url = $3, keyless = $4, priority = $5, timeout_ms = $6,
        rpm = $7, rph = $8, rpd = $9, tpm = $10, tpd = $11, daily_reset_tz = $12,
        enabled = $13, catalog_version = $14, updated_at = now()
    WHERE id = $1 AND origin = 'builtin' AND NOT edited";

const INSERT_MODEL: &str = "
    INSERT INTO models (id, provider_id, model_id, modality, supports_tools, supports_vision,
                        supports_json, context_window, embedding_family, embedding_dimensions,
                        rpm, rph, rpd, tpm, tpd, priority, tier, enabled, catalog_version,
                        origin)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
            $19, 'builtin')";

const UPDATE_MODEL: &str = "
    UPDATE models
    SET modality = $2, supports_tools = $3, supports_vision = $4, supports_json = $5,
        context_window = $6, embedding_family = $7, embedding_dimensions = $8,
        rpm = $9, rph = $10, rpd = $11, tpm = $12, tpd = $13, priority = $14, tier = $15,
        enabled = $16, catalog_version = $17, updated_at = now()
    WHERE id = $1 AND origin = 'builtin' AND NOT edited";

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

// After the row's keys: display_name, base_url, keyless, priority, timeout_ms, rpm, rph, rpd, tpm, tpd,
// daily_reset_tz.
fn bind_provider<'q>(query: PgQuery<'q>, v: &'q ProviderValues) -> PgQuery<'q> {
    query
        .bind(&v.display_name)
        .bind(&v.base_url)
        .bind(v.keyless)
        .bind(v.priority)
        .bind(v.timeout_ms)
        .bind(v.limits.rpm)
        .bind(v.limits.rph)
        .bind(v.limits.rpd)
        .bind(v.limits.tpm)
        .bind(v.limits.tpd)
        .bind(&v.daily_reset_tz)
}

// After the row's keys: modality, supports_tools, supports_vision, supports_json, context_window,
// embedding_family, embedding_dimensions, rpm, rph, rpd, tpm, tpd, priority, tier.
fn bind_model<'q>(query: PgQuery<'q>, v: &'q ModelValues) -> PgQuery<'q> {
    query
        .bind(v.modality.as_str())
        .bind(v.supports_tools)
        .bind(v.supports_vision)
        .bind(v.supports_json)
        .bind(v.context_window)
        .bind(&v.embedding_family)
        .bind(v.embedding_dimensions)
        .bind(v.limits.rpm)
        .bind(v.limits.rph)
        .bind(v.limits.rpd)
        .bind(v.limits.tpm)
        .bind(v.limits.tpd)
        .bind(v.priority)
        .bind(v.tier)
}

/// Runs `writes` in order (providers are inserted before their models).
pub(super) async fn apply(
    conn: &mut PgConnection,
    writes: &[Write],
    version: i32,
) -> Result<(), StoreError> {
    for write in writes {
        let query = match write {
            Write::InsertProvider {
                id,
                name,
                values,
                enabled,
            } => bind_provider(sqlx::query(INSERT_PROVIDER).bind(id).bind(name), values)
                .bind(enabled)
                .bind(version),
            Write::UpdateProvider {
                id,
                values,
                enabled,
            } => bind_provider(sqlx::query(UPDATE_PROVIDER).bind(id), values)
                .bind(enabled)
                .bind(version),
            Write::DisableProvider(id) => sqlx::query(
                "UPDATE providers SET enabled = false, updated_at = now() WHERE id = $1",
            )
            .bind(id),
            Write::DeleteProvider(id) => {
                sqlx::query("DELETE FROM providers WHERE id = $1 AND origin = 'builtin'").bind(id)
            }
            Write::InsertModel {
                provider_id,
                model_id,
                values,
                enabled,
            } => bind_model(
                sqlx::query(INSERT_MODEL)
                    .bind(uuid::Uuid::now_v7())
                    .bind(provider_id)
                    .bind(model_id),
                values,
            )
            .bind(enabled)
            .bind(version),
            Write::UpdateModel {
                id,
                values,
                enabled,
            } => bind_model(sqlx::query(UPDATE_MODEL).bind(id), values)
                .bind(enabled)
                .bind(version),
            Write::DeleteModel(id) => {
                sqlx::query("DELETE FROM models WHERE id = $1 AND origin = 'builtin'").bind(id)
            }
        };
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
