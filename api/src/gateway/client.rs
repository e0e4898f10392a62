//! Noticing a client that left.
//!
//! actix keeps running a handler whose client half-closed its connection (HTTP/1 allows a
//! client to wait for the answer after closing its side), so a client that gives up would
//! keep its upstream call, its reservations and the route's reputation on the line until the
//! provider's timeout. Each connection keeps a second handle on its socket; while a request
//! waits on a provider, the pipeline races it against that socket turning readable with
//! nothing to read (end of stream) or with an error (reset).

use std::any::Any;
use std::cell::{Cell, OnceCell};
use std::os::fd::AsFd;
use std::rc::Rc;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::dev::Extensions;
use tokio::time::Instant;

/// The connection's socket, as a second descriptor. It is registered with this worker's
/// reactor only when a request first waits long enough to be watched: until then, each
/// packet on the connection would also wake the reactor for a descriptor nobody reads.
#[derive(Clone)]
pub struct ClientSocket(Rc<Socket>);

struct Socket {
    /// The duplicate descriptor, until it is first watched.
    idle: Cell<Option<std::net::TcpStream>>,
    /// Registered on first watch; `None` when that failed (the client is then not watched).
    watched: OnceCell<Option<tokio::net::TcpStream>>,
}

/// `HttpServer::on_connect`: keeps a watchable handle on each TCP connection.
pub fn on_connect(connection: &dyn Any, data: &mut Extensions) {
    let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return;
    };
    let Ok(fd) = stream.as_fd().try_clone_to_owned() else {
        return;
    };
    // The duplicate shares the connection's open file (already non-blocking).
    let socket = std::net::TcpStream::from(fd);
    data.insert(ClientSocket(Rc::new(Socket {
        idle: Cell::new(Some(socket)),
        watched: OnceCell::new(),
    })));
}

impl ClientSocket {
    pub fn of(req: &HttpRequest) -> Option<ClientSocket> {
        req.conn_data::<ClientSocket>().cloned()
    }

    fn watched(&self) -> Option<&tokio::net::TcpStream> {
        self.0
            .watched
            .get_or_init(|| {
                let socket = self.0.idle.take()?;
                socket.set_nonblocking(true).ok()?;
                tokio::net::TcpStream::from_std(socket).ok()
            })
            .as_ref()
    }

    /// Resolves once the client has closed or reset the connection. Bytes waiting to be read
    /// (a pipelined request, the rest of a body) mean it is still there; they are looked at
    /// again a little later rather than in a busy loop. Never resolves when the socket
    /// cannot be watched.
    pub async fn closed(&self) {
        let Some(socket) = self.watched() else {
            return std::future::pending().await;
        };
        let mut byte = [0_u8; 1];
        loop {
            match socket.peek(&mut byte).await {
                Ok(0) | Err(_) => return,
                Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

/// How long a request runs before its client is watched: most answers come sooner, and
/// then cost no look at the socket at all.
const WATCH_AFTER: Duration = Duration::from_millis(20);

/// Watches start on a grid of this step. tokio wakes a worker's reactor (a write to its
/// eventfd, and one more turn of its event loop) whenever a new timer is due earlier than
/// every timer it already has, as each request's watch timer was, one request in a few
/// under load. Requests that start within one step share a deadline, so that happens about
/// once a step instead.
const WATCH_GRID: Duration = Duration::from_millis(8);

/// When a request that started at `now` begins to watch its client: `WATCH_AFTER` later,
/// rounded up to the grid counted from `epoch`.
fn watch_start(epoch: Instant, now: Instant) -> Instant {
    let due = now.checked_add(WATCH_AFTER).unwrap_or(now);
    let Some(since) = due.checked_duration_since(epoch) else {
        return due;
    };
    let step = WATCH_GRID.as_nanos();
    let late = since.as_nanos() % step;
    if late == 0 {
        return due;
    }
    // Under one grid step: fits in u64 nanoseconds.
    let wait = Duration::from_nanos(u64::try_from(step - late).unwrap_or(0));
    due.checked_add(wait).unwrap_or(due)
}

/// Resolves when the client leaves; never, when its socket cannot be watched.
pub async fn gone(socket: Option<&ClientSocket>) {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    match socket {
        Some(socket) => {
            let now = Instant::now();
            let epoch = *EPOCH.get_or_init(|| now);
            tokio::time::sleep_until(watch_start(epoch, now)).await;
            socket.closed().await
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn at(epoch: Instant, micros: u64) -> Instant {
        epoch
            .checked_add(Duration::from_micros(micros))
            .expect("a near instant")
    }

    #[test]
    fn watches_start_on_the_grid_after_the_delay() {
        let epoch = Instant::now();
        for offset_us in [0_u64, 1, 999, 7_999, 8_000, 8_001, 123_456, 10_000_000] {
            let now = at(epoch, offset_us);
            let start = watch_start(epoch, now);
            let after = start.duration_since(now);
            assert!(after >= WATCH_AFTER, "{offset_us}: {after:?}");
            assert!(
                after.saturating_sub(WATCH_AFTER) < WATCH_GRID,
                "{offset_us}: {after:?}"
            );
            assert_eq!(
                start.duration_since(epoch).as_nanos() % WATCH_GRID.as_nanos(),
                0,
                "{offset_us}"
            );
        }
        // Requests within one step share their deadline.
        let first = watch_start(epoch, at(epoch, 12_100));
        let last = watch_start(epoch, at(epoch, 19_900));
        assert_eq!(first, last);
        // A time before the epoch (another runtime's clock) waits the plain delay.
        let early = epoch.checked_sub(Duration::from_secs(1));
        if let Some(early) = early {
            assert_eq!(
                Some(watch_start(epoch, early)),
                early.checked_add(WATCH_AFTER)
            );
        }
    }
}
