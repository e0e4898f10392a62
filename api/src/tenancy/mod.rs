//! Tenants, members, their api keys and quotas, as the request path sees them: in memory.

mod keys;
pub mod quota;

pub use keys::{AuthError, Caller, KeyCache};
pub use quota::{QuotaError, QuotaLedger, QuotaReservation, QuotaRule, QuotaScope, ScopeUsage};
