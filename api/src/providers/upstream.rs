//! The request path's HTTP client. JSON calls go straight to hyper's pooled client: reqwest
//! formats and re-parses every request's URL twice in its redirect layer and wraps each call
//! in redirect and retry layers that Freeway does not use. Without them the gateway's CPU per
//! request fell from 39 to 35 µs at c=64 and from 114 to 99 µs at c=1 (`scripts/bench.sh`'s
//! setup). Multipart bodies, and every call when a proxy is set in the environment
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, or their lower-case forms), go through
//! reqwest, which streams the one and honours the other.
//!
//! Both clients keep their connections in a pool of their own, per worker, and verify
//! certificates against the platform's roots (`rustls-platform-verifier`, as reqwest does).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use http_body_util::{BodyDataStream, BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use reqwest::header::HeaderMap;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
const USER_AGENT: &str = concat!("freeway/", env!("CARGO_PKG_VERSION"));

type Direct = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One worker's upstream client. Cheap to clone (the pools are shared by clones).
#[derive(Clone)]
pub struct Upstream {
    /// `None` when a proxy is configured: every call then goes through reqwest.
    direct: Option<Direct>,
    reqwest: reqwest::Client,
}

/// Where a request goes: a URI parsed in advance, or one to parse.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Uri(http::Uri),
    Text(String),
}

impl Target {
    /// The URL as text, for reqwest (which parses it again).
    pub fn into_string(self) -> String {
        match self {
            Target::Uri(uri) => uri.to_string(),
            Target::Text(text) => text,
        }
    }
}

/// A request ready to send.
pub enum Outgoing {
    Direct(http::Request<Full<Bytes>>),
    Reqwest(reqwest::RequestBuilder),
    /// One that cannot be sent (a URL or token that is not valid in HTTP): sending it fails
    /// as a transport error, as reqwest's builder does.
    Invalid(Error),
}

impl Outgoing {
    /// The request with `x-request-id: id`, so that the provider's logs can be matched
    /// with the request's.
    pub fn with_request_id(self, id: &str) -> Outgoing {
        const NAME: http::HeaderName = http::HeaderName::from_static("x-request-id");
        let Ok(value) = http::HeaderValue::from_str(id) else {
            return self;
        };
        match self {
            Outgoing::Direct(mut request) => {
                request.headers_mut().insert(NAME, value);
                Outgoing::Direct(request)
            }
            Outgoing::Reqwest(request) => Outgoing::Reqwest(request.header(NAME, value)),
            invalid @ Outgoing::Invalid(_) => invalid,
        }
    }
}

/// An upstream's answer, its body still to read.
pub enum Incoming {
    Direct(http::Response<hyper::body::Incoming>),
    Reqwest(reqwest::Response),
}

/// A call that did not get an answer, or a body that broke off.
#[derive(Debug)]
pub struct Error {
    connect: bool,
    timeout: bool,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl Error {
    /// The connection could not be made.
    pub fn is_connect(&self) -> bool {
        self.connect
    }

    /// A timeout of the client's own (connecting): the caller's deadlines are separate.
    pub fn is_timeout(&self) -> bool {
        self.timeout
    }

    fn invalid(error: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error {
            connect: false,
            timeout: false,
            source: Box::new(error),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.source.fmt(f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// Whether an I/O timeout is anywhere in the chain.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        next = error.source();
    }
    false
}

impl From<hyper_util::client::legacy::Error> for Error {
    fn from(error: hyper_util::client::legacy::Error) -> Self {
        Error {
            connect: error.is_connect(),
            timeout: timed_out(&error),
            source: Box::new(error),
        }
    }
}

impl From<hyper::Error> for Error {
    fn from(error: hyper::Error) -> Self {
        Error {
            connect: false,
            timeout: error.is_timeout(),
            source: Box::new(error),
        }
    }
}

impl From<reqwest::Error> for Error {
    fn from(error: reqwest::Error) -> Self {
        Error {
            connect: error.is_connect(),
            timeout: error.is_timeout(),
            source: Box::new(error),
        }
    }
}

/// A proxy named by the environment, as reqwest reads it.
fn proxy_configured() -> bool {
    ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"]
        .iter()
        .any(|name| {
            [name.to_string(), name.to_lowercase()]
                .iter()
                .any(|n| std::env::var_os(n).is_some_and(|v| !v.is_empty()))
        })
}

/// A reqwest client with the same settings: what the admin's upstream calls (credential checks,
/// discovery) go through, and the request path's for what only reqwest sends.
pub fn reqwest_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .user_agent(USER_AGENT)
        .build()
}

/// `request` with the bearer `token`, if any. reqwest marks the header sensitive, so it is
/// never printed by `Debug`.
pub fn authorized(
    request: reqwest::RequestBuilder,
    token: Option<&str>,
) -> reqwest::RequestBuilder {
    match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

/// `POST url` with a JSON body through reqwest, with the given `Accept` and an optional
/// bearer token.
pub fn reqwest_post_json(
    client: &reqwest::Client,
    url: Target,
    token: Option<&str>,
    accept: &'static str,
    body: Vec<u8>,
) -> reqwest::RequestBuilder {
    use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
    let request = client
        .post(url.into_string())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(ACCEPT, HeaderValue::from_static(accept))
        .body(body);
    authorized(request, token)
}

impl Upstream {
    pub fn new() -> Result<Upstream, String> {
        let reqwest = reqwest_client().map_err(|e| e.to_string())?;
        let direct = if proxy_configured() {
            None
        } else {
            Some(direct()?)
        };
        Ok(Upstream { direct, reqwest })
    }

    /// The reqwest client, for what only it sends (multipart bodies).
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.reqwest
    }

    /// `POST url` with a JSON body, the given `Accept` and an optional bearer token.
    pub fn post_json(
        &self,
        url: Target,
        token: Option<&str>,
        accept: &'static str,
        body: Vec<u8>,
    ) -> Outgoing {
        use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
        if self.direct.is_none() {
            return Outgoing::Reqwest(reqwest_post_json(&self.reqwest, url, token, accept, body));
        }
        let uri = match url {
            Target::Uri(uri) => uri,
            Target::Text(text) => match http::Uri::try_from(text) {
                Ok(uri) => uri,
                Err(error) => return Outgoing::Invalid(Error::invalid(error)),
            },
        };
        let mut request = http::Request::post(uri)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(ACCEPT, HeaderValue::from_static(accept))
            .header(
                reqwest::header::USER_AGENT,
                HeaderValue::from_static(USER_AGENT),
            );
        if let Some(token) = token {
            match HeaderValue::try_from(format!("Bearer {token}")) {
                Ok(mut value) => {
                    // Never printed by `Debug`.
                    value.set_sensitive(true);
                    request = request.header(AUTHORIZATION, value);
                }
                Err(error) => return Outgoing::Invalid(Error::invalid(error)),
            }
        }
        match request.body(Full::new(Bytes::from(body))) {
            Ok(request) => Outgoing::Direct(request),
            Err(error) => Outgoing::Invalid(Error::invalid(error)),
        }
    }

    pub async fn send(&self, outgoing: Outgoing) -> Result<Incoming, Error> {
        match (outgoing, &self.direct) {
            (Outgoing::Direct(request), Some(direct)) => {
                Ok(Incoming::Direct(direct.request(request).await?))
            }
            // `post_json` makes a direct request only when there is a direct client.
            (Outgoing::Direct(_), None) => Err(Error::invalid(std::io::Error::other(
                "a direct request without a direct client",
            ))),
            (Outgoing::Reqwest(request), _) => Ok(Incoming::Reqwest(request.send().await?)),
            (Outgoing::Invalid(error), _) => Err(error),
        }
    }
}

fn direct() -> Result<Direct, String> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let verifier =
        rustls_platform_verifier::Verifier::new(provider.clone()).map_err(|e| e.to_string())?;
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(IDLE_TIMEOUT)
        .build(https))
}

impl Incoming {
    pub fn status(&self) -> u16 {
        match self {
            Incoming::Direct(response) => response.status().as_u16(),
            Incoming::Reqwest(response) => response.status().as_u16(),
        }
    }

    pub fn headers(&self) -> &HeaderMap {
        match self {
            Incoming::Direct(response) => response.headers(),
            Incoming::Reqwest(response) => response.headers(),
        }
    }

    /// The next piece of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        match self {
            Incoming::Direct(response) => {
                while let Some(frame) = response.body_mut().frame().await {
                    if let Ok(data) = frame?.into_data() {
                        return Ok(Some(data));
                    }
                }
                Ok(None)
            }
            Incoming::Reqwest(response) => Ok(response.chunk().await?),
        }
    }

    /// The body as a stream of pieces.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, Error>> + Send + 'static {
        match self {
            Incoming::Direct(response) => BodyDataStream::new(response.into_body())
                .map_err(Error::from)
                .left_stream(),
            Incoming::Reqwest(response) => {
                response.bytes_stream().map_err(Error::from).right_stream()
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn upstream() -> Upstream {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Upstream::new().unwrap()
    }

    #[tokio::test]
    async fn a_request_that_cannot_be_made_fails_when_sent_without_a_panic() {
        let upstream = upstream();
        let url = Target::Text("http://127.0.0.1:9/chat/completions".into());
        let bad_token = upstream.post_json(url, Some("line\nbreak"), "application/json", vec![]);
        let error = upstream.send(bad_token).await.err().unwrap();
        assert!(!error.is_connect() && !error.is_timeout(), "{error}");
        let bad_url = Target::Text("http://exa mple.com/chat".into());
        let outgoing = upstream.post_json(bad_url, None, "application/json", vec![]);
        assert!(upstream.send(outgoing).await.is_err());
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let upstream = upstream();
        // Nothing listens on a port just released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = Target::Text(format!("http://127.0.0.1:{port}/chat/completions"));
        let outgoing = upstream.post_json(url, None, "application/json", b"{}".to_vec());
        let error = upstream.send(outgoing).await.err().unwrap();
        assert!(error.is_connect(), "{error}");
    }

    #[test]
    fn a_timeout_is_found_anywhere_in_the_cause_chain() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("outer")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let timed = Outer(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert!(timed_out(&timed));
        let refused = Outer(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(!timed_out(&refused));
    }
}
