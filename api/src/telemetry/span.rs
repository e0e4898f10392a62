//! The request middleware, outermost on every surface: it gives the request its id (kept
//! from the client's `x-request-id`, or made: [`RequestId`]), runs it inside one `request`
//! span carrying that id, and answers the id in `x-request-id`.
//!
//! The span's `tenant`, `member`, `model` and `route` are recorded once known (on `/v1`,
//! through the usage recorder), so every line a request logs names them. At a level where
//! `info` spans are off the span is disabled: creating, entering and recording it then
//! costs a callsite check and nothing more (about 50 ns a request, against about 1 µs
//! with the span on and a text or JSON log; measured with the subscriber `init_logging`
//! builds, writing nowhere).
//!
//! With trace export on ([`RequestSpan::exported`]), the span also joins the caller's W3C
//! `traceparent` (so a trace crosses services), is named after the route (`POST
//! /v1/chat/completions`) and records the answer's status; health checks (`/healthz`,
//! `/readyz`) then get no span, only their id. Without export, none of that runs.

use std::future::{Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::HttpMessage;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Instrument;
use tracing::field::Empty;
use tracing::instrument::Instrumented;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::RequestId;
use super::request_id::REQUEST_ID_HEADER;

/// The middleware; `App::wrap` it last, so that it runs first.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestSpan {
    exported: bool,
}

impl RequestSpan {
    /// With `exported` (trace export configured), what only a trace needs is done too.
    pub fn exported(exported: bool) -> Self {
        RequestSpan { exported }
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequestSpan
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = RequestSpanService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestSpanService {
            service,
            exported: self.exported,
        }))
    }
}

pub struct RequestSpanService<S> {
    service: S,
    exported: bool,
}

impl<S, B> Service<ServiceRequest> for RequestSpanService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = Instrumented<Answered<S::Future>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let id = RequestId::from_headers(req.headers());
        // Health checks are answered with their id but make no span when spans are exported:
        // a trace of every poll would be most of what a collector receives.
        let probe = self.exported && is_probe(req.path());
        // Few fields: formatting each costs every request a little while the span is on
        // (the access log names the method and path, with the id).
        let span = if probe {
            tracing::Span::none()
        } else {
            tracing::info_span!(
                "request",
                request_id = id.as_str(),
                tenant = Empty,
                member = Empty,
                model = Empty,
                route = Empty,
                status = Empty,
                otel.name = Empty,
                otel.kind = Empty,
                otel.status_code = Empty,
            )
        };
        let exported = self.exported && !probe;
        if exported {
            join_trace(&span, req.headers());
        }
        let header = id.header_value();
        req.extensions_mut().insert(id);
        Answered {
            inner: self.service.call(req),
            header: Some(header),
            exported,
        }
        .instrument(span)
    }
}

pin_project_lite::pin_project! {
    /// The inner service's answer, with the request's id in `x-request-id`.
    pub struct Answered<F> {
        #[pin]
        inner: F,
        header: Option<HeaderValue>,
        exported: bool,
    }
}

impl<F, B> Future for Answered<F>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.inner.poll(cx));
        if *this.exported {
            // Within the span: `Instrumented` entered it for this poll.
            let span = tracing::Span::current();
            match &answer {
                Ok(response) => {
                    let request = response.request();
                    let route = request.match_pattern();
                    let path = route.as_deref().unwrap_or("unmatched");
                    span.record("otel.name", format!("{} {path}", request.method()));
                    record_status(&span, response.status());
                }
                Err(error) => record_status(&span, error.as_response_error().status_code()),
            }
        }
        let mut response = answer?;
        if let Some(header) = this.header.take() {
            response
                .headers_mut()
                .insert(HeaderName::from_static(REQUEST_ID_HEADER), header);
        }
        Poll::Ready(Ok(response))
    }
}

/// The paths load balancers and orchestrators poll every few seconds.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

/// The caller's trace, when its `traceparent` is well-formed (else the span starts one).
/// Only ever read: Freeway sends no `traceparent` to providers.
fn join_trace(span: &tracing::Span, headers: &HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    // Fails only when no export layer is installed (a server built in a test).
    let _ = span.set_parent(parent);
    span.record("otel.kind", "server");
}

fn record_status(span: &tracing::Span, status: StatusCode) {
    span.record("status", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
}

/// actix's header map, as the propagator reads headers.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}
