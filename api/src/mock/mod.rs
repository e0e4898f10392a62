//! A programmable OpenAI-compatible upstream for integration tests and
//! benchmarks.
//!
//! Each request to `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`,
//! `/v1/images/generations`, `/v1/audio/speech` or `/v1/audio/transcriptions`
//! consumes the next queued [`Behavior`] (FIFO), falling back to the default
//! behaviour when the queue is empty. `/v1/models` never consumes one: it answers
//! what [`MockUpstream::set_models`] set, by default one model. Every
//! request, whatever its answer, is recorded and can be inspected with
//! [`MockUpstream::requests`]; a transcription's form is recorded as JSON (text
//! fields by name, the file as its name, content type and size).

mod behavior;
mod handlers;
mod sse;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use serde_json::Value;
use tokio::task::JoinHandle;

pub use behavior::{Behavior, default_error_body};
pub use handlers::{IMAGE_URL, SPEECH_BYTES, TRANSCRIPT};

/// Bodies are buffered whole; benchmarks send large prompts, so the actix
/// default (256 KiB) is far too small.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// In arrival order, names lowercase; repeated headers appear repeatedly.
    pub headers: Vec<(String, String)>,
    /// The parsed JSON body, or `Null` when the body is not JSON; for a
    /// transcription, a summary of its form.
    pub body: Value,
}

impl RecordedRequest {
    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// State shared between the handle and the server's worker thread.
pub(crate) struct Shared {
    state: Mutex<State>,
    next_id: AtomicU64,
}

struct State {
    queue: VecDeque<Behavior>,
    default: Behavior,
    requests: Vec<RecordedRequest>,
    /// The status and body of `GET /v1/models`; `None` for the default list.
    models: Option<(u16, Value)>,
}

impl Shared {
    fn new() -> Self {
        Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                default: Behavior::default(),
                requests: Vec::new(),
                models: None,
            }),
            next_id: AtomicU64::new(1),
        }
    }

    /// A panicking test thread must not make every later request fail too.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        self.lock().requests.push(request);
    }

    /// Records and picks a behaviour under one lock, so that the n-th
    /// recorded request is the one that got the n-th queued behaviour.
    pub(crate) fn record_and_take(&self, request: RecordedRequest) -> Behavior {
        let mut state = self.lock();
        state.requests.push(request);
        match state.queue.pop_front() {
            Some(behavior) => behavior,
            None => state.default.clone(),
        }
    }

    /// Records a `GET /v1/models` and returns what to answer.
    pub(crate) fn record_models(&self, request: RecordedRequest) -> Option<(u16, Value)> {
        let mut state = self.lock();
        state.requests.push(request);
        state.models.clone()
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// A running mock upstream. Dropping it stops the server.
pub struct MockUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    handle: ServerHandle,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl MockUpstream {
    /// Binds 127.0.0.1 on an ephemeral port and serves in the background.
    pub async fn start() -> io::Result<MockUpstream> {
        Self::start_on(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)).await
    }

    /// Binds `addr` and serves in the background.
    pub async fn start_on(addr: SocketAddr) -> io::Result<MockUpstream> {
        let shared = Arc::new(Shared::new());
        let data = web::Data::from(Arc::clone(&shared));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .default_service(web::to(handlers::dispatch))
        })
        .workers(1)
        // The embedding program (test harness or CLI) owns signal handling.
        .disable_signals()
        .shutdown_timeout(1)
        .bind(addr)?;
        let addr = server
            .addrs()
            .first()
            .copied()
            .ok_or_else(|| io::Error::other("mock upstream bound no address"))?;
        let server = server.run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        tracing::debug!(%addr, "mock upstream listening");
        Ok(MockUpstream {
            addr,
            shared,
            handle,
            task: Some(task),
        })
    }

    /// The OpenAI-style base URL, e.g. `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        // A wildcard bind is reachable on loopback, but not at the wildcard.
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}/v1", SocketAddr::new(ip, self.addr.port()))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues a behaviour for a later request (FIFO).
    pub fn push(&self, behavior: Behavior) {
        self.shared.lock().queue.push_back(behavior);
    }

    /// What `GET /v1/models` answers from now on: `status` with `body`.
    pub fn set_models(&self, status: u16, body: Value) {
        self.shared.lock().models = Some((status, body));
    }

    /// The behaviour used while the queue is empty.
    pub fn set_default(&self, behavior: Behavior) {
        self.shared.lock().default = behavior;
    }

    /// Every request received so far, including those answered with errors.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// Stops the server without waiting for in-flight requests (hanging and
    /// stalled ones would otherwise hold it open) and waits for it to exit.
    pub async fn stop(mut self) {
        self.handle.stop(false).await;
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::warn!(error = %e, "mock upstream task failed");
        }
    }

    /// Waits until the server stops.
    pub async fn wait(mut self) -> io::Result<()> {
        // The task stays in place while awaited so that cancelling this
        // future still stops the server through `Drop`.
        let result = match self.task.as_mut() {
            Some(task) => task.await.map_err(io::Error::other).and_then(|r| r),
            None => Ok(()),
        };
        self.task = None;
        result
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        if self.task.is_some() {
            // The stop command is sent eagerly; awaiting completion is optional.
            drop(self.handle.stop(false));
        }
    }
}
