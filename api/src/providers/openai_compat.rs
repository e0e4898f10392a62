//! The adapter for OpenAI-compatible providers: the request body is forwarded as it came,
//! with only the model id and streaming options set by Freeway.
//!
//! One quirk is handled here: a base URL with an `{account_id}` placeholder (Cloudflare)
//! takes a secret of the form `account_id:token`; the account goes into the URL and only the
//! token is sent as the bearer.

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};

use super::Route;

const ACCOUNT_PLACEHOLDER: &str = "{account_id}";

/// Where a request goes: a URL parsed in advance, or one to parse.
#[derive(Debug, PartialEq, Eq)]
enum Url {
    Parsed(reqwest::Url),
    Text(String),
}

impl Url {
    fn request(self, client: &reqwest::Client, method: reqwest::Method) -> reqwest::RequestBuilder {
        match self {
            Url::Parsed(url) => client.request(method, url),
            Url::Text(url) => client.request(method, url),
        }
    }
}

/// `{base}{path}` and the bearer token for `route`.
fn target<'a>(route: &'a Route, path: &str) -> (Url, Option<&'a str>) {
    let secret = route.credential.as_ref().map(|c| c.secret.expose());
    let base = &route.provider.base_url;
    if base.contains(ACCOUNT_PLACEHOLDER)
        && let Some((account, token)) = secret.and_then(|s| s.split_once(':'))
    {
        return (
            Url::Text(format!(
                "{}{path}",
                base.replace(ACCOUNT_PLACEHOLDER, account)
            )),
            Some(token),
        );
    }
    match route.provider.parsed_url(path) {
        Some(url) => (Url::Parsed(url.clone()), secret),
        None => (Url::Text(format!("{base}{path}")), secret),
    }
}

fn authorized(request: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
    match token {
        // reqwest marks the header sensitive, so it is never printed by `Debug`.
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

/// Starts `GET {base}{path}` (`/models`). The caller bounds it with a timeout.
pub fn get(client: &reqwest::Client, route: &Route, path: &str) -> reqwest::RequestBuilder {
    let (url, token) = target(route, path);
    authorized(
        url.request(client, reqwest::Method::GET)
            .header(ACCEPT, HeaderValue::from_static("application/json")),
        token,
    )
}

/// Starts `POST {base}/chat/completions`. The caller bounds it with a timeout.
pub fn chat_request(
    client: &reqwest::Client,
    route: &Route,
    body: Vec<u8>,
    stream: bool,
) -> reqwest::RequestBuilder {
    let accept = if stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    post_json(client, route, "/chat/completions", body, accept)
}

/// Starts `POST {base}{path}` with a JSON body (`/chat/completions`, `/embeddings`,
/// `/completions`, `/images/generations`, `/audio/speech`). The caller bounds it with a
/// timeout.
pub fn post_json(
    client: &reqwest::Client,
    route: &Route,
    path: &str,
    body: Vec<u8>,
    accept: &'static str,
) -> reqwest::RequestBuilder {
    let (url, token) = target(route, path);
    let request = url
        .request(client, reqwest::Method::POST)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(ACCEPT, HeaderValue::from_static(accept))
        .body(body);
    authorized(request, token)
}

/// Starts `POST {base}{path}` with a `multipart/form-data` body, which reqwest streams to
/// the provider.
pub fn post_multipart(
    client: &reqwest::Client,
    route: &Route,
    path: &str,
    form: reqwest::multipart::Form,
) -> reqwest::RequestBuilder {
    let (url, token) = target(route, path);
    authorized(
        url.request(client, reqwest::Method::POST).multipart(form),
        token,
    )
}

/// Reads an answer's body whole, up to `limit` bytes; a larger one reads as empty, which the
/// caller treats like a broken answer (an empty body is not valid JSON).
pub async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<bytes::Bytes, reqwest::Error> {
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(bytes::Bytes::new());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// `usage` of a completion or of a stream's usage chunk.
pub fn usage_of(value: &serde_json::Value) -> Option<(u64, u64)> {
    let usage = value.get("usage")?;
    let prompt = usage
        .get("prompt_tokens")
        .and_then(serde_json::Value::as_u64)?;
    let completion = usage
        .get("completion_tokens")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    Some((prompt, completion))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use uuid::Uuid;

    use super::*;
    use crate::crypto::Secret;
    use crate::providers::{CredentialInfo, ModelInfo};
    use crate::routing::pool::RouteSlots;

    fn route(base: &str, secret: Option<&str>) -> Route {
        let slots = RouteSlots {
            route: 0,
            credential: None,
            provider: 0,
            model: 0,
        };
        let mut route = Route::detached("p", "m", ModelInfo::chat(Uuid::new_v4()), slots);
        let provider = &route.provider;
        route.provider = Arc::new(crate::providers::ProviderInfo::new(
            provider.id,
            provider.name.clone(),
            base.into(),
            provider.timeout,
        ));
        route.credential =
            secret.map(|s| Arc::new(CredentialInfo::new(Uuid::new_v4(), Secret::new(s))));
        route
    }

    #[test]
    fn cloudflare_accounts_go_into_the_url_and_only_the_token_is_sent() {
        let cf = route(
            "https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/v1",
            Some("abc123:tok"),
        );
        assert_eq!(
            target(&cf, "/embeddings"),
            (
                Url::Text(
                    "https://api.cloudflare.com/client/v4/accounts/abc123/ai/v1/embeddings".into()
                ),
                Some("tok")
            )
        );
        let plain = route("https://api.groq.com/openai/v1", Some("gsk:with:colons"));
        assert_eq!(
            target(&plain, "/chat/completions"),
            (
                Url::Parsed(
                    reqwest::Url::parse("https://api.groq.com/openai/v1/chat/completions").unwrap()
                ),
                Some("gsk:with:colons")
            )
        );
        let keyless = route("https://gen.pollinations.ai/v1", None);
        assert_eq!(target(&keyless, "/x").1, None);
    }
}
