//! Choosing routes: the live pool state (usage windows, cooldowns, health), the policy that
//! turns failures into cooldowns, and the chain of candidates for one request.

mod attempts;
pub mod chain;
pub mod cooldown;
pub mod handoff;
pub mod limits;
pub mod outcome;
pub mod pool;
pub mod session;
pub mod window;

pub use attempts::{AttemptLog, Exhausted};
pub use outcome::{Failure, classify_status, parse_retry_after};

/// Now, in the pool state's unit.
pub fn now_millis() -> window::Millis {
    chrono::Utc::now().timestamp_millis()
}
