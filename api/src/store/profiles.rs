//! Routing profiles: aliases such as `auto` that try models in order.

use freeway_wire::routing::Strategy;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::audit::{self, Audit, Outcome, audited};
use super::{ResultExt, StoreError, validate};

/// A routing profile and its models (row ids) in order.
#[derive(Debug, Clone)]
pub struct ProfileRow {
    pub name: String,
    pub context_handoff: bool,
    pub strategy: Strategy,
    pub models: Vec<Uuid>,
}

pub async fn list(pool: &PgPool) -> Result<Vec<ProfileRow>, StoreError> {
    let rows: Vec<(String, bool, Strategy, Option<Uuid>)> = sqlx::query_as(
        "SELECT p.name, p.context_handoff, p.strategy, e.model_id
         FROM routing_profiles p LEFT JOIN routing_profile_entries e ON e.profile_id = p.id
         ORDER BY p.name, e.position",
    )
    .fetch_all(pool)
    .await?;
    let mut profiles: Vec<ProfileRow> = Vec::new();
    for (name, handoff, strategy, model) in rows {
        if profiles.last().is_none_or(|p| p.name != name) {
            profiles.push(ProfileRow {
                name: name.clone(),
                context_handoff: handoff,
                strategy,
                models: Vec::new(),
            });
        }
        if let (Some(profile), Some(model)) = (profiles.last_mut(), model) {
            profile.models.push(model);
        }
    }
    Ok(profiles)
}

/// Creates or replaces a routing profile with `models` (their row ids) in order.
pub async fn put(
    pool: &PgPool,
    actor: &str,
    name: &str,
    context_handoff: bool,
    strategy: Strategy,
    models: &[Uuid],
) -> Result<(), StoreError> {
    validate::profile_name(name)?;
    if models.is_empty() || models.len() > 100 {
        return Err(StoreError::invalid(
            "models",
            "A profile tries 1 to 100 models.",
        ));
    }
    if models
        .iter()
        .enumerate()
        .any(|(i, m)| models[..i].contains(m))
    {
        return Err(StoreError::invalid("models", "A model is listed twice."));
    }
    audited(pool, actor, async |conn| {
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO routing_profiles (id, name, context_handoff, strategy)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET context_handoff = $3, strategy = $4,
                 updated_at = now()
             RETURNING id",
        )
        .bind(Uuid::now_v7())
        .bind(name)
        .bind(context_handoff)
        .bind(strategy)
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query("DELETE FROM routing_profile_entries WHERE profile_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "INSERT INTO routing_profile_entries (profile_id, position, model_id)
             SELECT $1, m.position::integer - 1, m.id
             FROM unnest($2::uuid[]) WITH ORDINALITY AS m(id, position)",
        )
        .bind(id)
        .bind(models)
        .execute(&mut *conn)
        .await
        .on_constraint("routing_profile_entries_model_id_fkey", || {
            StoreError::invalid("models", "A model of the profile does not exist.")
        })?;
        let after = json!({
            "name": name,
            "context_handoff": context_handoff,
            "strategy": strategy,
            "models": models,
        });
        let audit = Audit::new("routing_profile.put", "routing_profile", id).after(after);
        Ok(Outcome::Changed((), audit.notify(audit::POOL)))
    })
    .await
}

/// Deletes a routing profile; `false` when there was none.
pub async fn delete(pool: &PgPool, actor: &str, name: &str) -> Result<bool, StoreError> {
    audited(pool, actor, async |conn| {
        let deleted: Option<(Uuid, bool)> = sqlx::query_as(
            "DELETE FROM routing_profiles WHERE name = $1 RETURNING id, context_handoff",
        )
        .bind(validate::text("name", name)?)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((id, handoff)) = deleted else {
            return Ok(Outcome::Unchanged(false));
        };
        let before = json!({ "name": name, "context_handoff": handoff });
        let audit = Audit::new("routing_profile.delete", "routing_profile", id).before(before);
        Ok(Outcome::Changed(true, audit.notify(audit::POOL)))
    })
    .await
}
