//! Tenants, members, their api keys and quotas, as the request path sees them: in memory.

mod keys;
pub mod quota;
mod refusals;

pub use keys::{AuthError, Caller, KeyCache};
pub use quota::{QuotaError, QuotaLedger, QuotaReservation, QuotaRule, QuotaScope, ScopeUsage};
pub use refusals::{QuotaRefusals, REASONS as REFUSAL_REASONS};
