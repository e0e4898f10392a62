//! The adapter for OpenAI-compatible providers: the request body is forwarded as it came,
//! with only the model id and streaming options set by Freeway.
//!
//! One quirk is handled here: a base URL with an `{account_id}` placeholder (Cloudflare)
//! takes a secret of the form `account_id:token`; the account goes into the URL and only the
//! token is sent as the bearer.

use reqwest::header::{ACCEPT, HeaderValue};

use super::Route;
use super::upstream::{self, Incoming, Outgoing, Target, Upstream, authorized};

const ACCOUNT_PLACEHOLDER: &str = "{account_id}";

/// `{base}{path}` and the bearer token for `route`.
fn target<'a>(route: &'a Route, path: &str) -> (Target, Option<&'a str>) {
    let secret = route.credential.as_ref().map(|c| c.secret.expose());
    let base = &route.provider.base_url;
    if base.contains(ACCOUNT_PLACEHOLDER)
        && let Some((account, token)) = secret.and_then(|s| s.split_once(':'))
    {
        return (
            Target::Text(format!(
                "{}{path}",
                base.replace(ACCOUNT_PLACEHOLDER, account)
            )),
            Some(token),
        );
    }
    match route.provider.parsed_url(path) {
        Some(url) => (Target::Uri(url.clone()), secret),
        None => (Target::Text(format!("{base}{path}")), secret),
    }
}

/// Starts `GET {base}{path}` (`/models`) with reqwest, for the admin's checks. The caller
/// bounds it with a timeout.
pub fn get(client: &reqwest::Client, route: &Route, path: &str) -> reqwest::RequestBuilder {
    let (url, token) = target(route, path);
    authorized(
        client
            .get(url.into_string())
            .header(ACCEPT, HeaderValue::from_static("application/json")),
        token,
    )
}

/// Starts `POST {base}/chat/completions` with reqwest, for the admin's checks. The caller
/// bounds it with a timeout.
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
    let (url, token) = target(route, "/chat/completions");
    upstream::reqwest_post_json(client, url, token, accept, body)
}

/// `POST {base}{path}` with a JSON body (`/chat/completions`, `/embeddings`,
/// `/completions`, `/images/generations`, `/audio/speech`). The caller bounds it with a
/// timeout.
pub fn post_json(
    upstream: &Upstream,
    route: &Route,
    path: &str,
    body: Vec<u8>,
    accept: &'static str,
) -> Outgoing {
    let (url, token) = target(route, path);
    upstream.post_json(url, token, accept, body)
}

/// `POST {base}{path}` with a `multipart/form-data` body, which reqwest streams to the
/// provider.
pub fn post_multipart(
    upstream: &Upstream,
    route: &Route,
    path: &str,
    form: reqwest::multipart::Form,
) -> Outgoing {
    let (url, token) = target(route, path);
    Outgoing::Reqwest(authorized(
        upstream.reqwest().post(url.into_string()).multipart(form),
        token,
    ))
}

/// Reads an answer's body whole, up to `limit` bytes; a larger one reads as empty, which the
/// caller treats like a broken answer (an empty body is not valid JSON).
pub async fn read_body(
    mut response: Incoming,
    limit: usize,
) -> Result<bytes::Bytes, upstream::Error> {
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
                Target::Text(
                    "https://api.cloudflare.com/client/v4/accounts/abc123/ai/v1/embeddings".into()
                ),
                Some("tok")
            )
        );
        let plain = route("https://api.groq.com/openai/v1", Some("gsk:with:colons"));
        assert_eq!(
            target(&plain, "/chat/completions"),
            (
                Target::Uri(http::Uri::from_static(
                    "https://api.groq.com/openai/v1/chat/completions"
                )),
                Some("gsk:with:colons")
            )
        );
        let keyless = route("https://gen.pollinations.ai/v1", None);
        assert_eq!(target(&keyless, "/x").1, None);
    }
}
