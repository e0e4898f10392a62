//! Exactly one usage event per request: the recorder sends its event when dropped, so
//! early returns, errors and client disconnects are all recorded.

use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{UsageEvent, UsageSink};

pub struct Recorder {
    event: UsageEvent,
    sink: UsageSink,
    started: Instant,
    armed: bool,
}

impl Recorder {
    pub fn start(sink: &UsageSink, endpoint: &'static str) -> Self {
        Recorder {
            event: UsageEvent::new(endpoint),
            sink: sink.clone(),
            started: Instant::now(),
            armed: true,
        }
    }

    pub fn id(&self) -> Uuid {
        self.event.id
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn event(&mut self) -> &mut UsageEvent {
        &mut self.event
    }

    /// Moves the pending event into a new recorder (for a response stream that outlives the
    /// handler); this one will send nothing, and what is written to it from now on is lost.
    pub fn take(&mut self) -> Recorder {
        self.armed = false;
        let endpoint = self.event.endpoint;
        Recorder {
            event: std::mem::replace(&mut self.event, UsageEvent::placeholder(endpoint)),
            sink: self.sink.clone(),
            started: self.started,
            armed: true,
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.armed = false;
        let endpoint = self.event.endpoint;
        let mut event = std::mem::replace(&mut self.event, UsageEvent::placeholder(endpoint));
        let latency = self.started.elapsed();
        event.latency_ms = millis(latency);
        self.sink.finish(event, latency);
    }
}

pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
