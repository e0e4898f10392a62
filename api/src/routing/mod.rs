//! Choosing routes and deciding what a failed attempt means.

mod attempts;
pub mod outcome;

pub use attempts::{AttemptLog, Exhausted};
pub use outcome::{Failure, classify_status, parse_retry_after};
