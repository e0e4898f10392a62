//! One probe: a credential's `GET /models` (or a 1-token completion where that proves
//! nothing), and the 1-token completion that may end a route's cooldown early. Each writes
//! one usage event of kind `probe`; none touches a member's quota or the route's ledger.

use std::time::Instant;

use chrono::Utc;
use freeway_wire::discovery::{ProbeReport, ProbeResult, RouteProbe};
use serde_json::json;
use uuid::Uuid;

use super::discovery::{ids, split};
use super::listing::{self, transport_error};
use super::{PROBE_TIMEOUT, Prober, Target, opened, probes_by_completion};
use crate::providers::{Modality, Route, openai_compat};
use crate::routing::now_millis;
use crate::routing::pool::Scope;
use crate::store::{Cursor, StoreError, availability, cooldowns, models, probes};
use crate::usage::UsageEvent;

/// Who clears a cooldown a probe ended, in the audit log.
const ACTOR: &str = "probe";

impl Prober {
    /// Probes `credential` now and records the result on it; with `routes`, re-probes its
    /// routes that are cooling down for a transient cause or were refused, too.
    pub async fn probe_credential(
        &self,
        credential: Uuid,
        routes: bool,
    ) -> Result<ProbeReport, StoreError> {
        let target = Target::load(&self.db, credential).await?;
        let probe = self.check(&target).await?;
        probes::record(&self.db, credential, &probe).await?;
        let recheckable = match routes {
            true => self.pool.recheckable(Some(credential), now_millis()),
            false => Vec::new(),
        };
        let mut routes = Vec::new();
        for scope in recheckable {
            if let Some(probe) = self.recheck(scope).await {
                routes.push(probe);
            }
        }
        Ok(ProbeReport {
            credential_id: credential,
            probe,
            routes,
        })
    }

    /// The credential's own check.
    async fn check(&self, target: &Target) -> Result<ProbeResult, StoreError> {
        let route = {
            let keyring = self.keyring.read().unwrap_or_else(|p| p.into_inner());
            opened(target, &keyring)?
        };
        if probes_by_completion(&target.provider) {
            let catalog = self.catalog.get();
            let first = catalog
                .routes_of_credential(target.credential.id)
                .into_iter()
                .find(|r| r.info.modality == Modality::Chat)
                .cloned();
            if let Some(route) = first {
                let (probe, _) = self.complete(&route).await;
                return Ok(probe);
            }
        }
        let started = Instant::now();
        let listed = listing::list_models(&self.http, &route, target.timeout()).await;
        let latency_ms = elapsed_ms(started);
        let (status, error) = match &listed {
            Ok(listed) => {
                // What the listing says of the catalog, as discovery would record it.
                let catalog = models::list(&self.db, Some(target.provider.id), Cursor::ALL).await?;
                let (missing, known) = split(&catalog, |id| listed.contains_key(id));
                availability::sync_listing(
                    &self.db,
                    target.credential.id,
                    &ids(&missing),
                    &ids(&known),
                )
                .await?;
                (200, None)
            }
            Err(error) => (error.status.unwrap_or(0), Some(error.message.clone())),
        };
        let probe = ProbeResult {
            checked_at: now(),
            ok: error.is_none(),
            latency_ms,
            error,
        };
        self.record_event(&route, None, status, &probe);
        Ok(probe)
    }

    /// Re-probes the route of `scope` with a 1-token completion; when it answers 2xx its
    /// cooldown ends (and a refusal is lifted). `None`: no such chat route in the catalog.
    pub(super) async fn recheck(&self, scope: Scope) -> Option<RouteProbe> {
        let Scope::Route { model, credential } = scope else {
            return None;
        };
        let catalog = self.catalog.get();
        let route = catalog.route_of(model, credential)?.clone();
        drop(catalog);
        if route.info.modality != Modality::Chat {
            return None;
        }
        let (probe, status) = self.complete(&route).await;
        if probe.ok {
            let key = scope.to_string();
            let at = chrono::Utc::now();
            let held = self
                .pool
                .clear_cooldown(&key, at.timestamp_millis())
                .unwrap_or(false);
            if let Some(shared) = &self.shared {
                shared.cooldowns_clear(Some(key.as_str())).await;
            }
            if let Err(error) = cooldowns::clear_one(&self.db, ACTOR, &key, held, at).await {
                tracing::warn!(%error, "a probe's cleared cooldown not persisted");
            }
            if let Some(credential) = credential
                && self.pool.unavailable(route.slots.route).is_some()
            {
                // It answered: whatever made it unavailable no longer holds.
                self.pool.set_unavailable(route.slots.route, None);
                if let Err(error) =
                    availability::clear(&self.db, credential, Some(model), None).await
                {
                    tracing::warn!(%error, "a probe's lifted refusal not persisted");
                }
                self.pool.written(route.slots.route);
            }
            tracing::info!(route = %route.label(), "a probe ended the route's cooldown early");
        }
        Some(RouteProbe {
            route: route.label(),
            ok: probe.ok,
            status,
        })
    }

    /// A 1-token completion on `route`: the result, and the status it answered.
    async fn complete(&self, route: &Route) -> (ProbeResult, Option<u16>) {
        let body = json!({
            "model": route.model,
            "messages": [{"role": "user", "content": "ping"}],
            "max_tokens": 1,
        });
        let started = Instant::now();
        let sent =
            openai_compat::chat_request(&self.http, route, body.to_string().into_bytes(), false)
                .timeout(PROBE_TIMEOUT)
                .send()
                .await;
        let latency_ms = elapsed_ms(started);
        let (status, error) = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let error = (!response.status().is_success())
                    .then(|| format!("The provider answered HTTP {status}."));
                (Some(status), error)
            }
            Err(error) => (None, Some(transport_error(&error.into(), PROBE_TIMEOUT))),
        };
        let probe = ProbeResult {
            checked_at: now(),
            ok: error.is_none(),
            latency_ms,
            error,
        };
        self.record_event(route, Some(&route.model), status.unwrap_or(0), &probe);
        (probe, status)
    }

    /// One usage event of kind `probe`: no tenant, member or key; the credential and route set.
    fn record_event(&self, route: &Route, model: Option<&str>, status: u16, probe: &ProbeResult) {
        let mut event = UsageEvent::new("probe");
        event.provider = Some(route.provider.name.clone());
        event.model = model.map(str::to_string);
        event.credential_id = route.credential.as_ref().map(|c| c.id);
        event.status = status;
        event.error_code = (!probe.ok).then(|| "probe_failed".to_string());
        event.latency_ms = probe.latency_ms;
        self.usage.record(event);
    }
}

/// Now, to the microsecond Postgres keeps.
fn now() -> chrono::DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
