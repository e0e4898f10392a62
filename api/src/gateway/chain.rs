//! The chain for one request: the resolved routes, minus those that lack a needed
//! capability, whose context window is too small, that are cooling down or have no
//! headroom; ordered by the alias's strategy (admin priority, then recent health, for
//! `priority`), with a session's pinned route first and ties in priority order.
//! Deterministic for a given state, so every decision can be explained.

use crate::routing::pool::{PoolState, Skip};
use crate::routing::strategy::{Figure, Seen, Strategy, rank};

use crate::providers::Route;
use crate::routing::session::Pin;
use crate::routing::window::Millis;

/// What a request needs of a route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub tools: bool,
    pub vision: bool,
    pub json: bool,
    /// Estimated prompt tokens.
    pub prompt_tokens: u64,
    /// Estimated prompt and completion tokens, reserved on the ledger.
    pub reserve_tokens: u64,
}

impl Needs {
    /// The tokens `route` reserves: the prompt, and no more completion than the route's
    /// answer may have, since the body it receives is capped to that
    /// ([`Route::output_cap`]). A `max_tokens` far above a model's output limit would
    /// otherwise be judged against its tokens-per-minute limit as if it could be spent.
    pub fn tokens_for(&self, route: &Route) -> u64 {
        match route.output_cap() {
            Some(cap) => {
                let completion = self.reserve_tokens.saturating_sub(self.prompt_tokens);
                self.prompt_tokens.saturating_add(completion.min(cap))
            }
            None => self.reserve_tokens,
        }
    }

    /// The tokens the caller's quotas reserve before routing: the most any of `routes`
    /// would reserve ([`Self::tokens_for`]), so that a `max_tokens` no route could spend
    /// (coding agents ask for 32k) is not refused by a tokens-per-minute quota below it.
    pub fn quota_tokens(&self, routes: &[Route]) -> u64 {
        routes
            .iter()
            .map(|route| self.tokens_for(route))
            .max()
            .unwrap_or(self.reserve_tokens)
    }
}

/// Why a route is not a candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Passed {
    Lacks(&'static str),
    Context { window: u64, needed: u64 },
    Pool(Skip),
}

impl Passed {
    pub fn describe(&self) -> String {
        match self {
            Passed::Lacks(capability) => format!("does not support {capability}"),
            Passed::Context { window, needed } => {
                format!("context window {window} tokens < {needed} needed")
            }
            Passed::Pool(skip) => skip.describe(),
        }
    }

    pub fn until(&self) -> Option<Millis> {
        match self {
            Passed::Pool(skip) => skip.until(),
            _ => None,
        }
    }
}

/// The request cannot be served by any route of its chain, whatever the pool's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfit {
    Capability(&'static str),
    Context { needed: u64, largest: u64 },
}

impl Unfit {
    /// Why, for the client (and the routing simulation).
    pub fn describe(&self) -> String {
        match self {
            Unfit::Capability(capability) => {
                format!("This request needs {capability}, and no route for this model offers it.")
            }
            Unfit::Context { needed, largest } => format!(
                "The prompt is about {needed} tokens; the largest context window among this model's routes is {largest} tokens."
            ),
        }
    }
}

/// Completion tokens a chat request reserves when it sets no `max_tokens`.
pub const DEFAULT_COMPLETION_RESERVE: u64 = 512;
/// Completion tokens a legacy completion reserves when it sets no `max_tokens` (OpenAI's
/// default for that endpoint).
pub const DEFAULT_LEGACY_COMPLETION_RESERVE: u64 = 16;

/// Borrowed from the catalog: planning copies nothing but references.
#[derive(Debug, Default)]
pub struct Plan<'a> {
    pub candidates: Vec<&'a Route>,
    /// For each candidate, the figure the strategy ranked it by.
    pub figures: Vec<Figure>,
    pub passed: Vec<(&'a Route, Passed)>,
}

impl Plan<'_> {
    /// The earliest time a passed-over route regains capacity.
    pub fn earliest(&self) -> Option<Millis> {
        self.passed.iter().filter_map(|(_, p)| p.until()).min()
    }
}

/// `(unpinned, priority, health rank, position)` as one integer that sorts the same way.
/// Priorities are clamped to 16 bits and positions to 65535: far beyond any real chain.
fn sort_key(unpinned: bool, priority: (i32, i32, i32), rank: (u32, u32), position: usize) -> u128 {
    let p = |v: i32| u128::from((v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) + 32768) as u16);
    let r = |v: u32| u128::from(v.min(255) as u8);
    (u128::from(unpinned) << 80)
        | (p(priority.0) << 64)
        | (p(priority.1) << 48)
        | (p(priority.2) << 32)
        | (r(rank.0) << 24)
        | (r(rank.1) << 16)
        | (position.min(0xffff) as u128)
}

fn lacks(route: &Route, needs: &Needs) -> Option<&'static str> {
    let info = &route.info;
    if needs.tools && !info.tools {
        Some("tools")
    } else if needs.vision && !info.vision {
        Some("vision (image input)")
    } else if needs.json && !info.json {
        Some("json output (response_format)")
    } else {
        None
    }
}

/// Splits `routes` into those that can serve `needs` at all, whatever the pool's state, and
/// those that cannot, with why: a missing capability or too small a context window.
/// `fit_context`: a handoff will fit the conversation into a smaller window, so small
/// windows are not passed over.
pub fn fitting<'a>(
    routes: &'a [Route],
    needs: &Needs,
    fit_context: bool,
) -> (Vec<&'a Route>, Vec<(&'a Route, Passed)>) {
    let mut usable: Vec<&'a Route> = Vec::with_capacity(routes.len());
    let mut passed = Vec::with_capacity(routes.len());
    for route in routes {
        if let Some(capability) = lacks(route, needs) {
            passed.push((route, Passed::Lacks(capability)));
            continue;
        }
        if let Some(window) = route.info.context_window
            && !fit_context
            && window < needs.prompt_tokens
        {
            passed.push((
                route,
                Passed::Context {
                    window,
                    needed: needs.prompt_tokens,
                },
            ));
            continue;
        }
        usable.push(route);
    }
    (usable, passed)
}

/// Plans one request: [`fitting`] routes, then the pool's verdict on each, in order.
/// Reserves nothing; the attempt loop reserves each candidate as it tries it.
pub fn plan<'a>(
    routes: &'a [Route],
    state: &PoolState,
    needs: &Needs,
    pin: Option<Pin>,
    fit_context: bool,
    strategy: Strategy,
    now: Millis,
) -> Result<Plan<'a>, Unfit> {
    let (usable, passed) = fitting(routes, needs, fit_context);
    let mut plan = Plan {
        candidates: Vec::with_capacity(usable.len()),
        figures: Vec::with_capacity(usable.len()),
        passed,
    };
    if usable.is_empty() && !routes.is_empty() {
        if let Some(capability) = routes.iter().find_map(|r| lacks(r, needs)) {
            return Err(Unfit::Capability(capability));
        }
        let largest = routes
            .iter()
            .filter_map(|r| r.info.context_window)
            .max()
            .unwrap_or(0);
        return Err(Unfit::Context {
            needed: needs.prompt_tokens,
            largest,
        });
    }

    let balanced = strategy == Strategy::Balanced;
    let mut verdicts = state.assess(
        usable.iter().map(|r| (&r.slots, needs.tokens_for(r))),
        now,
        balanced,
    );
    let pinned = |route: &Route| {
        pin.is_some_and(|p| {
            p.model == route.info.id && p.credential == route.credential.as_ref().map(|c| c.id)
        })
    };
    // `priority` keeps today's order: no figures to collect, none allocated.
    let ranked = (strategy != Strategy::Priority).then(|| {
        let seen: Vec<_> = usable
            .iter()
            .zip(&verdicts)
            .map(|(route, v)| Seen {
                priority: route.priority,
                tier: route.info.tier,
                figures: v.figures,
            })
            .collect();
        rank(strategy, &seen)
    });
    let figure = |i: usize| match &ranked {
        Some(ranked) => ranked[i],
        None => (0, Figure::Priority(usable[i].priority)),
    };
    // Pinned first; then the strategy's figure; then admin priority; then health; then the
    // catalog's own order. The keys are packed into integers so that sorting a chain of 100
    // takes a microsecond.
    let mut order: Vec<(bool, u64, u128)> = usable
        .iter()
        .zip(&verdicts)
        .enumerate()
        .map(|(i, (route, verdict))| {
            let unpinned = !pinned(route);
            let key = sort_key(unpinned, route.priority, verdict.rank, i);
            (unpinned, figure(i).0, key)
        })
        .collect();
    order.sort_unstable();
    for (_, _, key) in order {
        let i = (key & 0xffff) as usize;
        let route = usable[i];
        match verdicts[i].skip.take() {
            None => {
                plan.candidates.push(route);
                plan.figures.push(figure(i).1);
            }
            Some(skip) => plan.passed.push((route, Passed::Pool(skip))),
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_order_like_their_tuples() {
        let tuples = [
            (false, (1, 5, 0), (0, 0), 3),
            (true, (-5, 0, 0), (0, 0), 0),
            (false, (1, 5, 0), (1, 0), 1),
            (false, (1, 4, 9), (9, 9), 2),
            (false, (-1, 0, 0), (0, 7), 4),
            (false, (1, 5, 0), (0, 0), 5),
        ];
        let mut by_tuple = tuples.to_vec();
        by_tuple.sort();
        let mut by_key = tuples.to_vec();
        by_key.sort_by_key(|&(a, b, c, d)| sort_key(a, b, c, d));
        assert_eq!(by_tuple, by_key);
    }
}
