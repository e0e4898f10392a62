//! Exactly one usage event per request: the recorder sends its event when dropped, so
//! early returns, errors and client disconnects are all recorded.

use std::time::{Duration, Instant};

use tracing::Span;

use super::{UsageEvent, UsageSink};
use crate::telemetry::RequestId;

pub struct Recorder {
    event: UsageEvent,
    sink: UsageSink,
    started: Instant,
    armed: bool,
    request_id: RequestId,
    /// The request's span (`telemetry::RequestSpan`), on which what the event learns about
    /// the caller and the route is recorded too.
    span: Span,
}

impl Recorder {
    /// The event of the request `request_id`: Freeway's own id is the event's id; a client's
    /// is kept beside it.
    pub fn start(sink: &UsageSink, endpoint: &'static str, request_id: RequestId) -> Self {
        let event = match request_id.own() {
            Some((id, at)) => UsageEvent::with_id(endpoint, id, at),
            None => UsageEvent {
                request_id: Some(request_id.as_str().to_owned()),
                ..UsageEvent::new(endpoint)
            },
        };
        Recorder {
            event,
            sink: sink.clone(),
            started: Instant::now(),
            armed: true,
            request_id,
            span: Span::current(),
        }
    }

    /// The request's id, as answered in `x-request-id`.
    pub fn request_id(&self) -> &RequestId {
        &self.request_id
    }

    /// The request's span: a disabled one when its level is off.
    pub fn span(&self) -> &Span {
        &self.span
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
            request_id: self.request_id.clone(),
            span: self.span.clone(),
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
