//! Usage events: one per `/v1` request, handed to a batch writer that never blocks the
//! request path.

pub mod partitions;
mod recorder;
mod writer;

pub use recorder::{Recorder, millis};
pub use writer::{Observer, QueueDepth, UsageSink, UsageStats, UsageWriter};

/// The row an event becomes, and its attempt trail, are the store's.
pub use crate::store::usage::{Attempt, UsageEvent};
