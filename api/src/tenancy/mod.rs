//! Tenants, members and their api keys, as the request path sees them: in memory.

mod keys;

pub use keys::{AuthError, Caller, KeyCache};
