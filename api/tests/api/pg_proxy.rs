//! A TCP proxy in front of the test Postgres server, to simulate a database outage.
//!
//! While down, its port is closed (new connections are refused) and every connection it
//! was forwarding is cut; brought back up, it listens on the same port again.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::server_url;

pub struct PgProxy {
    port: u16,
    target: String,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    down: bool,
    accept: Option<JoinHandle<()>>,
    /// One copy task per forwarded connection; aborting one drops both of its sockets.
    connections: Vec<JoinHandle<()>>,
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

impl PgProxy {
    /// Starts forwarding to the Postgres server of [`server_url`].
    pub async fn start() -> PgProxy {
        let target = host_port(&server_url());
        let listener = bind(0).expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let inner = Arc::new(Mutex::new(Inner::default()));
        let accept = tokio::spawn(accept_loop(listener, target.clone(), inner.clone()));
        lock(&inner).accept = Some(accept);
        PgProxy {
            port,
            target,
            inner,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `database_url` pointing at this proxy instead of the server.
    pub fn url_for(&self, database_url: &str) -> String {
        through_port(database_url, self.port)
    }

    /// Down: the port stops listening and every open forwarded connection is cut. When this
    /// returns, both have happened. Up: listening again on the same port.
    pub async fn set_down(&self, down: bool) {
        if down {
            let (accept, connections) = {
                let mut inner = lock(&self.inner);
                inner.down = true;
                (inner.accept.take(), std::mem::take(&mut inner.connections))
            };
            for task in accept.into_iter().chain(connections) {
                task.abort();
                // Resolves once the task, and with it its sockets, has been dropped.
                let _ = task.await;
            }
        } else {
            if !lock(&self.inner).down {
                return;
            }
            let listener = rebind(self.port).await;
            let mut inner = lock(&self.inner);
            inner.down = false;
            inner.accept = Some(tokio::spawn(accept_loop(
                listener,
                self.target.clone(),
                self.inner.clone(),
            )));
        }
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        let mut inner = lock(&self.inner);
        inner.down = true;
        if let Some(task) = inner.accept.take() {
            task.abort();
        }
        for task in inner.connections.drain(..) {
            task.abort();
        }
    }
}

fn bind(port: u16) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    // The port is reused after going down; connections we cut linger in TIME_WAIT on it.
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    socket.listen(1024)
}

async fn rebind(port: u16) -> TcpListener {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match bind(port) {
            Ok(listener) => return listener,
            Err(error) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "cannot listen on proxy port {port} again: {error}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, target: String, inner: Arc<Mutex<Inner>>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let mut guard = lock(&inner);
        if guard.down {
            // Going down while this connection was being accepted: cut it.
            return;
        }
        guard.connections.retain(|task| !task.is_finished());
        guard
            .connections
            .push(tokio::spawn(forward(client, target.clone())));
    }
}

async fn forward(mut client: TcpStream, target: String) {
    let Ok(mut server) = TcpStream::connect(&target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

/// The `host:port` of a `postgres://` URL (port 5432 when absent).
fn host_port(url: &str) -> String {
    let (_, authority, _) = split_authority(url);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    assert!(
        !host_port.is_empty(),
        "the proxy needs a TCP host in the test database URL"
    );
    if host_port.starts_with('[') {
        // [v6]:port or [v6]
        return if host_port.contains("]:") {
            host_port.to_string()
        } else {
            format!("{host_port}:5432")
        };
    }
    if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    }
}

/// `url` with its host and port replaced by 127.0.0.1:`port`, credentials kept.
pub fn through_port(url: &str, port: u16) -> String {
    let (scheme, authority, tail) = split_authority(url);
    let userinfo = authority
        .rsplit_once('@')
        .map_or(String::new(), |(u, _)| format!("{u}@"));
    format!("{scheme}{userinfo}127.0.0.1:{port}{tail}")
}

/// `(scheme://, authority, rest)`.
fn split_authority(url: &str) -> (&str, &str, &str) {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let (scheme, rest) = url.split_at(scheme_end);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    (scheme, authority, tail)
}

#[test]
fn urls_are_rewritten_to_the_proxy() {
    assert_eq!(
        through_port(
            "postgres://postgres@127.0.0.1:5432/db_1?sslmode=disable",
            6000
        ),
        "postgres://postgres@127.0.0.1:6000/db_1?sslmode=disable"
    );
    assert_eq!(
        through_port("postgres://u:p@db.example/x", 7),
        "postgres://u:p@127.0.0.1:7/x"
    );
    assert_eq!(host_port("postgres://u:p@db.example/x"), "db.example:5432");
    assert_eq!(
        host_port("postgres://postgres@127.0.0.1:5433"),
        "127.0.0.1:5433"
    );
}

#[tokio::test]
async fn the_proxy_forwards_and_cuts_connections() {
    let proxy = PgProxy::start().await;
    let url = proxy.url_for(&server_url());
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(2))
        .connect(&url)
        .await
        .unwrap();
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(one, 1);

    proxy.set_down(true).await;
    assert!(
        TcpStream::connect(("127.0.0.1", proxy.port()))
            .await
            .is_err(),
        "the port refuses connections while down"
    );
    assert!(
        sqlx::query("SELECT 1").execute(&pool).await.is_err(),
        "the open connection was cut"
    );

    proxy.set_down(false).await;
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(one, 1);
    pool.close().await;
}
