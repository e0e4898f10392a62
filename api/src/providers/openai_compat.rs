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
