//! The adapter for OpenAI-compatible providers: the request body is forwarded as it came,
//! with only the model id and streaming options set by Freeway.

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};

use super::Route;

/// Starts `POST {base}/chat/completions`. The caller bounds it with a timeout.
pub fn chat_request(
    client: &reqwest::Client,
    route: &Route,
    body: Vec<u8>,
    stream: bool,
) -> reqwest::RequestBuilder {
    let url = format!("{}/chat/completions", route.provider.base_url);
    let accept = if stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    let mut request = client
        .post(url)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(ACCEPT, HeaderValue::from_static(accept))
        .body(body);
    if let Some(credential) = &route.credential {
        // reqwest marks the header sensitive, so it is never printed by `Debug`.
        request = request.bearer_auth(credential.secret.expose());
    }
    request
}

/// Starts `POST {base}{path}` with a JSON body, for the endpoints other than chat
/// (`/embeddings`, `/completions`, `/images/generations`, `/audio/speech`). The caller
/// bounds it with a timeout.
pub fn post_json(
    client: &reqwest::Client,
    route: &Route,
    path: &str,
    body: Vec<u8>,
    accept: &'static str,
) -> reqwest::RequestBuilder {
    let request = client
        .post(format!("{}{path}", route.provider.base_url))
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(ACCEPT, HeaderValue::from_static(accept))
        .body(body);
    authorized(request, route)
}

/// Starts `POST {base}{path}` with a `multipart/form-data` body, which reqwest streams to
/// the provider.
pub fn post_multipart(
    client: &reqwest::Client,
    route: &Route,
    path: &str,
    form: reqwest::multipart::Form,
) -> reqwest::RequestBuilder {
    let request = client
        .post(format!("{}{path}", route.provider.base_url))
        .multipart(form);
    authorized(request, route)
}

fn authorized(request: reqwest::RequestBuilder, route: &Route) -> reqwest::RequestBuilder {
    match &route.credential {
        Some(credential) => request.bearer_auth(credential.secret.expose()),
        None => request,
    }
}
