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

use std::future::{Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::HttpMessage;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{HeaderName, HeaderValue};
use tracing::Instrument;
use tracing::field::Empty;
use tracing::instrument::Instrumented;

use super::RequestId;
use super::request_id::REQUEST_ID_HEADER;

/// The middleware; `App::wrap` it last, so that it runs first.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestSpan;

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
        ready(Ok(RequestSpanService { service }))
    }
}

pub struct RequestSpanService<S> {
    service: S,
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
        // Few fields: formatting each costs every request a little while the span is on
        // (the access log names the method and path, with the id).
        let span = tracing::info_span!(
            "request",
            request_id = id.as_str(),
            tenant = Empty,
            member = Empty,
            model = Empty,
            route = Empty,
        );
        let header = id.header_value();
        req.extensions_mut().insert(id);
        Answered {
            inner: self.service.call(req),
            header: Some(header),
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
    }
}

impl<F, B> Future for Answered<F>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(header) = this.header.take() {
            response
                .headers_mut()
                .insert(HeaderName::from_static(REQUEST_ID_HEADER), header);
        }
        Poll::Ready(Ok(response))
    }
}
