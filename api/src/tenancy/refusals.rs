//! How many requests each kind of quota refused, by scope and reason: plain atomics, counted
//! only when a request is refused and read when the metrics are scraped.

use std::sync::atomic::{AtomicU64, Ordering};

use super::quota::{QuotaError, QuotaScope};

/// Why a quota refused a request: the limit that was used up, or the rule that forbids it.
pub const REASONS: [&str; 7] = [
    "rpm",
    "rpd",
    "tpm",
    "tpd",
    "tokens_per_month",
    "model_not_allowed",
    "expired",
];

const SCOPES: usize = QuotaScope::ALL.len();

/// Refusals by scope (in [`QuotaScope::ALL`]'s order) and reason (in [`REASONS`]' order).
#[derive(Debug, Default)]
pub struct QuotaRefusals([[AtomicU64; REASONS.len()]; SCOPES]);

impl QuotaRefusals {
    pub fn count(&self, refused: &QuotaError) {
        let (scope, reason) = match refused {
            QuotaError::Exceeded { scope, limit, .. } => (*scope, *limit),
            QuotaError::ModelNotAllowed { scope } => (*scope, "model_not_allowed"),
            QuotaError::Expired { scope } => (*scope, "expired"),
        };
        let scope = QuotaScope::ALL.iter().position(|s| s.as_str() == scope);
        let reason = REASONS.iter().position(|r| *r == reason);
        if let Some(cell) = scope
            .zip(reason)
            .and_then(|(s, r)| self.0.get(s).and_then(|row| row.get(r)))
        {
            cell.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every (scope, reason) that refused at least once, with its count.
    pub fn counts(&self) -> Vec<(QuotaScope, &'static str, u64)> {
        QuotaScope::ALL
            .iter()
            .zip(&self.0)
            .flat_map(|(scope, row)| {
                REASONS
                    .iter()
                    .zip(row)
                    .map(|(reason, n)| (*scope, *reason, n.load(Ordering::Relaxed)))
            })
            .filter(|(_, _, n)| *n > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_by_scope_and_reason() {
        let refusals = QuotaRefusals::default();
        let exceeded = QuotaError::Exceeded {
            scope: "member",
            limit: "rpm",
            value: 3,
            retry_after_secs: Some(1),
        };
        refusals.count(&exceeded);
        refusals.count(&exceeded);
        refusals.count(&QuotaError::Expired { scope: "api_key" });
        assert_eq!(
            refusals.counts(),
            [
                (QuotaScope::Member, "rpm", 2),
                (QuotaScope::ApiKey, "expired", 1)
            ]
        );
    }
}
