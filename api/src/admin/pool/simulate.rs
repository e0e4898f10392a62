//! The routing simulation: the router's own plan for a request, as the `/v1` surfaces make
//! it (`gateway::chain::plan` on the live catalog and pool state), explained with the
//! router's own words. Planning reserves nothing; the attempt loop would reserve each
//! candidate as it tried it, and a simulation tries none.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use freeway_wire::mappings::MatchedMapping;
use freeway_wire::pool::Modality as Requested;
use freeway_wire::routing::{
    RouteDecision, SIMULATE_MODEL_MAX_CHARS, SimulateRequest, SimulatedRoute, Simulation,
};

use crate::admin::AdminState;
use crate::admin::auth::Principal;
use crate::admin::error::{AdminError, AdminErrorEnvelope, AdminJson};
use crate::gateway::chain::{
    DEFAULT_COMPLETION_RESERVE, DEFAULT_LEGACY_COMPLETION_RESERVE, Needs, Passed, fitting, plan,
};
use crate::providers::{Modality, Route};
use crate::routing::now_millis;
use crate::routing::pool::Skip;
use crate::routing::strategy::Figure;
use crate::store::{tenants, validate};

/// Simulate routing a request
///
/// The chain the router would build now for a request with these hints, in order: the
/// routes it would try (ordered by the name's `strategy`, each with the figure it was ranked
/// by), then those it would pass over, each with the router's reason. Nothing
/// is reserved, counted or called; a session's sticky route is not considered.
#[utoipa::path(post, path = "/admin/v1/routing/simulate", tag = "routing", operation_id = "routing_simulate",
    request_body = SimulateRequest,
    responses(
        (status = 200, description = "The chain and every route's decision; `refusal` says why a request would be refused before reaching any route", body = Simulation),
        (status = 403, body = AdminErrorEnvelope),
        (status = 404, description = "No such tenant", body = AdminErrorEnvelope),
        (status = 422, description = "A field is invalid; `field` names it", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn simulate(
    principal: Principal,
    state: web::Data<AdminState>,
    body: AdminJson<SimulateRequest>,
) -> Result<HttpResponse, AdminError> {
    principal.require_instance_admin()?;
    let body = body.into_inner();
    let model = validate::name("model", &body.model, SIMULATE_MODEL_MAX_CHARS)?;
    let tenant = match body.tenant_id {
        Some(id) => Some(
            tenants::find(&state.db, id)
                .await?
                .ok_or_else(|| AdminError::not_found("tenant"))?,
        ),
        None => None,
    };
    let requested = body.modality.unwrap_or_default();
    let completion = body.max_tokens.map_or(
        match requested {
            Requested::Chat => DEFAULT_COMPLETION_RESERVE,
            Requested::Completion => DEFAULT_LEGACY_COMPLETION_RESERVE,
            _ => 0,
        },
        u64::from,
    );
    let prompt = body.prompt_tokens.map_or(0, u64::from);
    let needs = Needs {
        tools: body.tools,
        vision: body.vision,
        json: body.json,
        prompt_tokens: prompt,
        reserve_tokens: prompt + completion,
    };
    let now = now_millis();
    let mut simulation = Simulation {
        model: model.to_string(),
        resolved_as: None,
        strategy: Default::default(),
        mapping: None,
        refusal: None,
        candidates: Vec::new(),
    };
    // In the order `/v1` checks: the tenant, its quota, the name, then the chain.
    if let Some(tenant) = &tenant {
        if tenant.disabled {
            simulation.refusal = Some(format!("Tenant {:?} is disabled.", tenant.name));
        } else if let Err(refused) =
            state
                .quotas
                .check_tenant(tenant.id, model, needs.reserve_tokens, now)
        {
            simulation.refusal = Some(refused.message(model));
        }
    }
    let catalog = state.catalog.get();
    let Some(resolved) = catalog.resolve(Modality::of(requested), model) else {
        simulation.refusal.get_or_insert_with(|| {
            format!("Nothing of modality `{requested}` answers to `{model}` on this Freeway.")
        });
        return Ok(HttpResponse::Ok().json(simulation));
    };
    simulation.resolved_as = Some(resolved.kind);
    simulation.strategy = resolved.strategy;
    simulation.mapping = resolved.mapping.map(|m| MatchedMapping {
        pattern: m.pattern().to_string(),
        target: m.target().to_string(),
    });
    if resolved.routes.is_empty() {
        simulation.refusal.get_or_insert_with(|| {
            format!("`{model}` exists, but no enabled credential can serve it.")
        });
    }
    let strategy = resolved.strategy;
    match plan(
        resolved.routes,
        &state.pool,
        &needs,
        None,
        false,
        strategy,
        now,
    ) {
        Ok(planned) => {
            simulation.candidates.extend(
                planned
                    .candidates
                    .iter()
                    .zip(&planned.figures)
                    .map(|(route, figure)| taken(route, figure)),
            );
            simulation.candidates.extend(
                planned
                    .passed
                    .iter()
                    .map(|(route, why)| skipped(route, why)),
            );
        }
        Err(unfit) => {
            simulation.refusal.get_or_insert_with(|| unfit.describe());
            let (_, passed) = fitting(resolved.routes, &needs, false);
            simulation
                .candidates
                .extend(passed.iter().map(|(route, why)| skipped(route, why)));
        }
    }
    Ok(HttpResponse::Ok().json(simulation))
}

fn entry(route: &Route, decision: RouteDecision) -> SimulatedRoute {
    SimulatedRoute {
        provider: route.provider.name.clone(),
        model: route.model.clone(),
        credential_id: route.credential.as_ref().map(|c| c.id),
        decision,
        reason: None,
        cooldown_until: None,
        available_at: None,
        ranked_by: None,
    }
}

fn taken(route: &Route, figure: &Figure) -> SimulatedRoute {
    SimulatedRoute {
        ranked_by: Some(figure.describe()),
        ..entry(route, RouteDecision::Take)
    }
}

fn skipped(route: &Route, why: &Passed) -> SimulatedRoute {
    let at = |millis| DateTime::<Utc>::from_timestamp_millis(millis);
    let cooldown_until = match why {
        Passed::Pool(Skip::Cooling { until, .. }) => at(*until),
        _ => None,
    };
    SimulatedRoute {
        reason: Some(why.describe()),
        cooldown_until,
        available_at: why.until().and_then(at),
        ..entry(route, RouteDecision::Skip)
    }
}
