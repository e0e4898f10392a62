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

/// Resolves when the client leaves; never, when its socket cannot be watched.
pub async fn gone(socket: Option<&ClientSocket>) {
    match socket {
        Some(socket) => {
            tokio::time::sleep(WATCH_AFTER).await;
            socket.closed().await
        }
        None => std::future::pending().await,
    }
}
