//! Routing profiles, the live state of the router on this instance, and cooldowns.

use freeway_wire::pool::{
    ClearCooldownsQuery, CooldownState, CooldownView, ProfileBody, ProfileView, ScopeState,
};
use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::DateTime;
use uuid::Uuid;

use super::{LimitSet, List};
use crate::admin::AdminState;
use crate::admin::auth::Principal;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminJson, AdminQuery};
use crate::routing::limits::Limits;
use crate::routing::now_millis;
use crate::routing::pool::{Scope, Skip};
use crate::shared::Used;
use crate::store::{Cursor, cooldowns, credentials, models, profiles, providers};

/// Ids of the pool's rows and how admins read them: `provider`, `provider/model`,
/// `provider …last4`.
struct Names {
    providers: HashMap<Uuid, String>,
    models: HashMap<Uuid, String>,
    credentials: HashMap<Uuid, String>,
}

impl Names {
    async fn load(db: &sqlx::PgPool) -> Result<Names, AdminError> {
        let providers: HashMap<Uuid, String> = providers::list(db, Cursor::ALL)
            .await?
            .into_iter()
            .map(|p| (p.id, p.name))
            .collect();
        let name = |id: &Uuid| providers.get(id).cloned().unwrap_or_default();
        let models = models::list(db, None, Cursor::ALL)
            .await?
            .into_iter()
            .map(|m| (m.id, format!("{}/{}", name(&m.provider_id), m.model_id)))
            .collect();
        let credentials = credentials::list(db, None, Cursor::ALL)
            .await?
            .into_iter()
            .map(|c| (c.id, format!("{} …{}", name(&c.provider_id), c.last4)))
            .collect();
        Ok(Names {
            providers,
            models,
            credentials,
        })
    }

    /// What a scope key (`route:<model>:<credential>`, `credential:<id>`, ...) names.
    fn label(&self, key: &str) -> Option<String> {
        let mut parts = key.split(':');
        let kind = parts.next()?;
        let id: Uuid = parts.next()?.parse().ok()?;
        match kind {
            "route" => {
                let model = self.models.get(&id)?;
                let via = match parts.next()? {
                    "keyless" => "keyless".to_string(),
                    credential => {
                        let id: Uuid = credential.parse().ok()?;
                        let label = self.credentials.get(&id)?;
                        label.rsplit(' ').next().unwrap_or_default().to_string()
                    }
                };
                Some(format!("{model} via {via}"))
            }
            "credential" => self.credentials.get(&id).cloned(),
            "provider" => self.providers.get(&id).cloned(),
            "model" => self.models.get(&id).cloned(),
            _ => None,
        }
    }
}

fn check_profile_name(name: &str) -> Result<(), AdminError> {
    Ok(crate::store::validate::profile_name(name)?)
}

/// List routing profiles
#[utoipa::path(get, path = "/admin/v1/routing/profiles", tag = "routing", operation_id = "profiles_list",
    responses(
        (status = 200, description = "Every routing profile", body = List<ProfileView>),
        (status = 403, body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn list_profiles(
    principal: Principal,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let names = Names::load(&state.db).await?;
    let data: Vec<ProfileView> = profiles::list(&state.db)
        .await?
        .into_iter()
        .map(|p| ProfileView {
            models: p
                .models
                .iter()
                .filter_map(|m| names.models.get(m).cloned())
                .collect(),
            name: p.name,
            context_handoff: p.context_handoff,
            strategy: p.strategy,
        })
        .collect();
    Ok(HttpResponse::Ok().json(List { data }))
}

/// Set a routing profile
///
/// An alias that tries models in the given order, or in the order its `strategy` ranks
/// their routes by (ties in the given order).
#[utoipa::path(put, path = "/admin/v1/routing/profiles/{name}", tag = "routing", operation_id = "profiles_put",
    params(("name" = String, Path, description = "The profile's name; `auto` replaces the default chain", pattern = r"^[A-Za-z0-9._:-]{1,100}$")),
    request_body = ProfileBody,
    responses(
        (status = 200, description = "Created or replaced", body = ProfileView),
        (status = 403, body = AdminErrorEnvelope),
        (status = 409, description = "A model the profile names is not in the pool (`unknown_model`)", body = AdminErrorEnvelope),
        (status = 422, description = "A bad name, or a model listed twice", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn put_profile(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<String>,
    body: AdminJson<ProfileBody>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let name = path.into_inner();
    check_profile_name(&name)?;
    let body = body.into_inner();
    if body.models.is_empty() || body.models.len() > 100 {
        return Err(AdminError::invalid(
            "models",
            "A profile tries 1 to 100 models.",
        ));
    }
    let names = Names::load(&state.db).await?;
    let by_name: HashMap<&str, Uuid> = names
        .models
        .iter()
        .map(|(id, label)| (label.as_str(), *id))
        .collect();
    let mut ids = Vec::with_capacity(body.models.len());
    for model in &body.models {
        // Well-formed but naming nothing there is: a conflict with the pool, not bad input.
        let id = by_name
            .get(model.as_str())
            .copied()
            .ok_or_else(|| AdminError {
                field: Some("models".into()),
                ..AdminError::new(
                    actix_web::http::StatusCode::CONFLICT,
                    "unknown_model",
                    format!("No model {model:?} in the pool: name models as `provider/model`."),
                )
            })?;
        if ids.contains(&id) {
            return Err(AdminError::invalid(
                "models",
                format!("{model:?} is listed twice."),
            ));
        }
        ids.push(id);
    }
    let handoff = body.context_handoff.unwrap_or(true);
    let strategy = body.strategy.unwrap_or_default();
    profiles::put(
        &state.db,
        &principal.actor(),
        &name,
        handoff,
        strategy,
        &ids,
    )
    .await?;
    Ok(HttpResponse::Ok().json(ProfileView {
        name,
        models: body.models,
        context_handoff: handoff,
        strategy,
    }))
}

/// Delete a routing profile
#[utoipa::path(delete, path = "/admin/v1/routing/profiles/{name}", tag = "routing", operation_id = "profiles_delete",
    params(("name" = String, Path, pattern = r"^[A-Za-z0-9._:-]{1,100}$")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, description = "No routing profile of that name", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn delete_profile(
    principal: Principal,
    state: web::Data<AdminState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    if profiles::delete(&state.db, &principal.actor(), &path).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AdminError::not_found("routing profile"))
    }
}

fn limit_set(limits: Limits) -> LimitSet {
    LimitSet {
        rpm: limits.rpm,
        rph: limits.rph,
        rpd: limits.rpd,
        tpm: limits.tpm,
        tpd: limits.tpd,
    }
}

/// The live routing state
///
/// Every scope's limits (configured, learned from the provider, enforced), its use of each
/// window in the ledger, its cooldown and health, on this instance; route rows also say
/// whether the router would pass the route over now, and why. In a fleet with Redis
/// reachable, the use of each window (and the headroom and skips judged on it) is the
/// fleet's, read from Redis; a sliding window no limit needs is kept by each replica for
/// itself and shows this one's.
#[utoipa::path(get, path = "/admin/v1/routing/state", tag = "routing", operation_id = "routing_state_get",
    responses(
        (status = 200, description = "Usage, limits, cooldowns and health of every scope, as this instance holds them in memory (usage fleet-wide from Redis, in a fleet); for routes, the router's reason to skip one now", body = List<ScopeState>),
        (status = 403, body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn state(
    principal: Principal,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let names = Names::load(&state.db).await?;
    let now = now_millis();
    // In a fleet, every window's use by all the replicas, as Redis holds it.
    let fleet = match &state.shared {
        Some(shared) => {
            let (scopes, peeks) = state.pool.fleet_scopes(now);
            shared.peek(&peeks, now).await.map(|used| {
                scopes
                    .into_iter()
                    .zip(used)
                    .collect::<HashMap<Scope, Used>>()
            })
        }
        None => None,
    };
    // Each route as the router would judge it for a request now (of no tokens: whether any
    // window is full, not whether a given request fits).
    let catalog = state.catalog.get();
    let mut headrooms: HashMap<Scope, f64> = HashMap::new();
    let skips: HashMap<Scope, Skip> = catalog
        .route_slots()
        .filter_map(|slots| {
            let scope = state.pool.scope_of(slots.route)?;
            let (headroom, skip) = match &fleet {
                Some(used) => state.pool.fleet_judgement(slots, used, now),
                None => (
                    state.pool.headroom_of(slots, now),
                    state.pool.check(slots, 0, now).err(),
                ),
            };
            headrooms.insert(scope, headroom.fraction);
            skip.map(|skip| (scope, skip))
        })
        .collect();
    let probes: HashMap<Uuid, _> = crate::store::probes::all(&state.db)
        .await?
        .into_iter()
        .collect();
    let at = |millis| DateTime::from_timestamp_millis(millis);
    let mut data: Vec<ScopeState> = state
        .pool
        .view(now)
        .into_iter()
        .map(|mut slot| {
            if let Some(used) = fleet.as_ref().and_then(|f| f.get(&slot.scope)) {
                // A sliding window Redis does not keep (no limit needs it) is this
                // replica's.
                if let Some((requests, tokens)) = used.minute {
                    slot.requests_last_minute = requests;
                    slot.tokens_last_minute = tokens;
                }
                if let Some(requests) = used.hour_requests {
                    slot.requests_last_hour = requests;
                }
                (slot.requests_today, slot.tokens_today) = used.day;
            }
            let skip = skips.get(&slot.scope);
            let scope = slot.scope.to_string();
            ScopeState {
                skip_reason: skip.map(Skip::describe),
                skip_until: skip.and_then(Skip::until).and_then(at),
                effective: limit_set(slot.effective),
                label: names.label(&scope),
                kind: slot.scope.kind(),
                scope,
                limits: limit_set(slot.limits),
                learned: limit_set(slot.learned),
                requests_last_minute: slot.requests_last_minute,
                tokens_last_minute: slot.tokens_last_minute,
                requests_last_hour: slot.requests_last_hour,
                requests_today: slot.requests_today,
                tokens_today: slot.tokens_today,
                cooldown: slot.cooldown.and_then(|c| {
                    DateTime::from_timestamp_millis(c.until).map(|until| CooldownState {
                        until,
                        reason: c.reason.to_string(),
                    })
                }),
                success_rate: slot.success_rate,
                latency_ms: slot.latency_ms,
                ttft_ms: slot.ttft_ms,
                headroom: headrooms.get(&slot.scope).copied(),
                probe: match slot.scope {
                    Scope::Credential { id } => probes.get(&id).cloned(),
                    _ => None,
                },
            }
        })
        .collect();
    data.sort_by(|a, b| (&a.kind, &a.label, &a.scope).cmp(&(&b.kind, &b.label, &b.scope)));
    Ok(HttpResponse::Ok().json(List { data }))
}

/// List active cooldowns
#[utoipa::path(get, path = "/admin/v1/cooldowns", tag = "routing", operation_id = "cooldowns_list",
    responses(
        (status = 200, description = "Cooldowns still running, longest first", body = List<CooldownView>),
        (status = 403, body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn list_cooldowns(
    principal: Principal,
    state: web::Data<AdminState>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let names = Names::load(&state.db).await?;
    let data: Vec<CooldownView> = cooldowns::active(&state.db)
        .await?
        .into_iter()
        .map(|c| CooldownView {
            label: names.label(&c.scope_key),
            scope: c.scope,
            scope_key: c.scope_key,
            until: c.until,
            reason: c.reason,
            strikes: c.strikes,
            created_at: c.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(List { data }))
}

/// Clear cooldowns
///
/// Every cooldown, or with `scope` one scope's. Audited; every instance follows within a
/// second.
#[utoipa::path(delete, path = "/admin/v1/cooldowns", tag = "routing", operation_id = "cooldowns_clear",
    params(ClearCooldownsQuery),
    responses(
        (status = 204, description = "Cleared; the routes are tried again at once"),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, description = "No scope has this key", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn clear_cooldowns(
    principal: Principal,
    state: web::Data<AdminState>,
    query: AdminQuery<ClearCooldownsQuery>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    // Cooldowns set up to now end; one a failure sets later is kept, wherever it is written.
    let at = chrono::Utc::now();
    match query.scope.as_deref() {
        None => {
            cooldowns::clear(&state.db, &principal.actor(), at).await?;
            state.pool.clear_cooldowns(at.timestamp_millis());
        }
        Some(scope) => {
            // Known to this instance's pool, or at least persisted (a scope of a route
            // another instance holds): anything else names nothing.
            let held = state.pool.clear_cooldown(scope, at.timestamp_millis());
            let persisted =
                cooldowns::clear_one(&state.db, &principal.actor(), scope, held.is_some(), at)
                    .await?;
            if held.is_none() && !persisted {
                return Err(AdminError::not_found("cooldown scope"));
            }
        }
    }
    if let Some(shared) = &state.shared {
        shared.cooldowns_clear(query.scope.as_deref()).await;
    }
    Ok(HttpResponse::NoContent().finish())
}
