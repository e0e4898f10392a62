//! The metrics listener: a one-worker actix server apart from the API's, so that scrapes
//! are reachable only where `metrics_listen` binds (a loopback or private address) and never
//! wait behind `/v1` traffic.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::http::header::ContentType;
use actix_web::{App, HttpRequest, HttpResponse, web};

use tokio::task::JoinHandle;

use super::{Metrics, PATH};

pub struct MetricsServer {
    /// The server, running (a server only accepts while it is polled).
    pub task: JoinHandle<std::io::Result<()>>,
    pub handle: ServerHandle,
    pub port: u16,
}

/// Binds `listen` and serves `GET /metrics` there until the handle stops it.
pub fn serve(metrics: Arc<Metrics>, listen: SocketAddr) -> std::io::Result<MetricsServer> {
    let listener = TcpListener::bind(listen)?;
    let port = listener.local_addr()?.port();
    let metrics = web::Data::from(metrics);
    let server = actix_web::HttpServer::new(move || {
        App::new()
            .app_data(metrics.clone())
            .route(PATH, web::get().to(scrape))
            .default_service(web::route().to(not_found))
    })
    .workers(1)
    .shutdown_timeout(1)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    Ok(MetricsServer {
        task: tokio::spawn(server),
        handle,
        port,
    })
}

async fn scrape(metrics: web::Data<Metrics>) -> HttpResponse {
    match metrics.render() {
        Ok(body) => HttpResponse::Ok()
            .content_type(prometheus::TEXT_FORMAT)
            .body(body),
        Err(error) => {
            tracing::error!(%error, "metrics could not be rendered");
            HttpResponse::InternalServerError()
                .content_type(ContentType::plaintext())
                .body(format!("metrics could not be rendered: {error}\n"))
        }
    }
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound()
        .content_type(ContentType::plaintext())
        .body(format!(
            "{} {} is not served here: try GET {PATH}\n",
            req.method(),
            req.path()
        ))
}
