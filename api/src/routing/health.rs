//! A route's recent health, kept in its slot of the pool state: success, latency and
//! time-to-first-token EWMAs, updated where the pool records a success or a failure (O(1),
//! under the pool's lock, never across an await).

use super::strategy::Figures;

/// How much one outcome moves an average.
const WEIGHT: f64 = 0.2;

fn ewma(old: f64, new: f64) -> f64 {
    old + WEIGHT * (new - old)
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Health {
    /// Exponentially weighted success rate, 0..=1.
    pub success: f64,
    /// Exponentially weighted latency of successes, in ms.
    pub latency_ms: f64,
    /// Exponentially weighted time to the first token, in ms; `None` before any.
    pub ttft_ms: Option<f64>,
    /// Outcomes (successes and failures) and successes seen, saturating: whether the
    /// success and latency figures are the route's own yet.
    outcomes: u32,
    successes: u32,
}

impl Health {
    pub const FRESH: Health = Health {
        success: 1.0,
        latency_ms: 0.0,
        ttft_ms: None,
        outcomes: 0,
        successes: 0,
    };

    /// The figures strategies rank by; `None` where the route has none of its own yet.
    pub fn figures(&self) -> Figures {
        Figures {
            success: (self.outcomes > 0).then_some(self.success),
            latency_ms: (self.successes > 0).then_some(self.latency_ms),
            ttft_ms: self.ttft_ms,
            headroom: None,
        }
    }

    /// `priority`'s tie-break: higher success first, then lower latency, in coarse buckets
    /// so that noise does not reshuffle the chain on every request.
    pub fn rank(&self) -> (u32, u32) {
        let failing = ((1.0 - self.success) * 10.0).round() as u32;
        let slow = (self.latency_ms / 500.0).round() as u32;
        (failing, slow)
    }

    pub fn succeeded(&mut self, latency_ms: u64, first_token_ms: Option<u64>) {
        self.success = ewma(self.success, 1.0);
        self.latency_ms = if self.successes == 0 {
            latency_ms as f64
        } else {
            ewma(self.latency_ms, latency_ms as f64)
        };
        self.outcomes = self.outcomes.saturating_add(1);
        self.successes = self.successes.saturating_add(1);
        if let Some(ms) = first_token_ms {
            self.first_token(ms);
        }
    }

    pub fn failed(&mut self) {
        self.success = ewma(self.success, 0.0);
        self.outcomes = self.outcomes.saturating_add(1);
    }

    pub fn first_token(&mut self, ms: u64) {
        let ms = ms as f64;
        self.ttft_ms = Some(self.ttft_ms.map_or(ms, |old| ewma(old, ms)));
    }
}
