//! Routing strategies: how a chain's candidates are ordered once the filters have run and a
//! conversation's pinned route is first. Each strategy ranks a route by one figure from the
//! pool state (or the catalog, for `smart`); ties fall back to `priority`'s order, so the
//! result is deterministic for a given state and can be explained route by route.

use freeway_wire::pool::ScopeKind;
pub use freeway_wire::routing::Strategy;

use super::limits::Limits;

/// A route's recent health, as the pool state holds it: `None` before any figure exists.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    /// Success EWMA, 0..=1.
    pub success: Option<f64>,
    /// Latency EWMA of successes, in ms.
    pub latency_ms: Option<f64>,
    /// Time-to-first-token EWMA, in ms (a whole answer's first token comes with it).
    pub ttft_ms: Option<f64>,
    /// The tightest fraction left of any limit over the route's windows; computed only
    /// for `balanced`.
    pub headroom: Option<Headroom>,
}

/// What is left of the tightest limit on a route, its credential and its provider account.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Headroom {
    /// 0..=1; 1 when nothing limits the route.
    pub fraction: f64,
    /// The scope and limit that are tightest; `None` when nothing limits the route.
    pub tightest: Option<(ScopeKind, &'static str)>,
}

impl Headroom {
    pub const UNLIMITED: Headroom = Headroom {
        fraction: 1.0,
        tightest: None,
    };

    /// Folds one window's limits and what is left of them in.
    pub fn tighten(self, scope: ScopeKind, limits: Limits, left: Limits) -> Headroom {
        let pairs = [
            ("rpm", limits.rpm, left.rpm),
            ("rph", limits.rph, left.rph),
            ("rpd", limits.rpd, left.rpd),
            ("tpm", limits.tpm, left.tpm),
            ("tpd", limits.tpd, left.tpd),
        ];
        let mut tightest = self;
        for (name, limit, left) in pairs {
            let (Some(limit), Some(left)) = (limit, left) else {
                continue;
            };
            let fraction = if limit == 0 {
                0.0
            } else {
                (left as f64 / limit as f64).clamp(0.0, 1.0)
            };
            // The first limit seen names the headroom even when nothing is used yet.
            if tightest.tightest.is_none() || fraction < tightest.fraction {
                tightest = Headroom {
                    fraction,
                    tightest: Some((scope, name)),
                };
            }
        }
        tightest
    }
}

/// The figure a route was ranked by, for the routing explanation. `prior`: the route has
/// no figure of its own yet and was given the mean of the others' (a neutral prior).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Figure {
    Priority((i32, i32, i32)),
    Headroom(Headroom),
    Ttft { ms: f64, prior: bool },
    Success { rate: f64, prior: bool },
    Tier(Option<i16>),
}

impl Figure {
    pub fn describe(&self) -> String {
        let prior = |p: bool| if p { " (prior)" } else { "" };
        match self {
            Figure::Priority((m, p, c)) => format!("priority {m}/{p}/{c}"),
            Figure::Headroom(Headroom {
                fraction,
                tightest: Some((scope, limit)),
            }) => format!("headroom {fraction:.2} ({scope} {limit})"),
            Figure::Headroom(Headroom { fraction, .. }) => {
                format!("headroom {fraction:.2} (no limits)")
            }
            Figure::Ttft { ms, prior: p } => format!("ttft {ms:.0} ms{}", prior(*p)),
            Figure::Success { rate, prior: p } => format!("success {rate:.2}{}", prior(*p)),
            Figure::Tier(Some(tier)) => format!("tier {tier}"),
            Figure::Tier(None) => "no tier".into(),
        }
    }
}

/// Lowest first. Fractions and rates are scaled to integers so that ranking is a plain
/// integer sort; a billionth is far below any difference that matters.
fn scaled(value: f64) -> u64 {
    (value.max(0.0) * 1e9).min(u64::MAX as f64) as u64
}

/// The mean of the known values: the neutral prior of a route without a figure.
fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let (sum, n) = values
        .flatten()
        .fold((0.0, 0u32), |(sum, n), v| (sum + v, n + 1));
    if n == 0 {
        None
    } else {
        Some(sum / f64::from(n))
    }
}

/// What a strategy may rank a route by.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    /// Admin priority: model, provider, credential.
    pub priority: (i32, i32, i32),
    /// The model's capability tier.
    pub tier: Option<i16>,
    pub figures: Figures,
}

/// For each route, the key `strategy` ranks it by (lower first) and the figure behind it.
/// The neutral prior is the mean over `routes` of those with a figure; with none at all,
/// every route ties and priority decides.
pub fn rank(strategy: Strategy, routes: &[Seen]) -> Vec<(u64, Figure)> {
    match strategy {
        Strategy::Priority => routes
            .iter()
            .map(|seen| (0, Figure::Priority(seen.priority)))
            .collect(),
        Strategy::Balanced => routes
            .iter()
            .map(|seen| {
                let headroom = seen.figures.headroom.unwrap_or(Headroom::UNLIMITED);
                (scaled(1.0 - headroom.fraction), Figure::Headroom(headroom))
            })
            .collect(),
        Strategy::Fastest => {
            let prior = mean(routes.iter().map(|s| s.figures.ttft_ms)).unwrap_or(0.0);
            routes
                .iter()
                .map(|Seen { figures: f, .. }| {
                    let ms = f.ttft_ms.unwrap_or(prior);
                    let figure = Figure::Ttft {
                        ms,
                        prior: f.ttft_ms.is_none(),
                    };
                    (scaled(ms / 1e3), figure)
                })
                .collect()
        }
        Strategy::Reliable => {
            let prior = mean(routes.iter().map(|s| s.figures.success)).unwrap_or(1.0);
            routes
                .iter()
                .map(|Seen { figures: f, .. }| {
                    let rate = f.success.unwrap_or(prior);
                    let figure = Figure::Success {
                        rate,
                        prior: f.success.is_none(),
                    };
                    (scaled(1.0 - rate), figure)
                })
                .collect()
        }
        Strategy::Smart => routes
            .iter()
            .map(|seen| {
                // Unranked models after every ranked one.
                let tier = seen.tier;
                let key = tier.map_or(u64::from(u16::MAX), |t| u64::from(t.unsigned_abs()));
                (key, Figure::Tier(tier))
            })
            .collect(),
    }
}
