//! A provider's own `GET {base}/models`, asked with one credential (or none): what model
//! discovery diffs against the catalog and what a health probe checks.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::providers::upstream::{Error, Incoming};
use crate::providers::{Route, openai_compat};

/// Model lists run to a few hundred kilobytes (OpenRouter's); anything beyond this is not one.
const MAX_MODEL_LIST_BYTES: usize = 16 * 1024 * 1024;

/// One model of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub owned_by: Option<String>,
    /// `context_window` (Groq) or `context_length` (OpenRouter, Mistral's `max_context_length`).
    pub context_window: Option<u64>,
}

/// Why there is no listing: the status the provider answered, if it did, and what to tell
/// people (the credential's secret cut out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListError {
    pub status: Option<u16>,
    pub message: String,
}

/// `GET {base}/models` on `route`'s provider with its credential: the models by id, each
/// once.
pub async fn list_models(
    client: &reqwest::Client,
    route: &Route,
    timeout: Duration,
) -> Result<BTreeMap<String, Listed>, ListError> {
    let failed = |status: Option<u16>, message: String| ListError {
        status,
        message: redact(route, message),
    };
    let response = openai_compat::get(client, route, "/models")
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| failed(None, transport_error(&e.into(), timeout)))?;
    let status = response.status().as_u16();
    let bytes = openai_compat::read_body(Incoming::Reqwest(response), MAX_MODEL_LIST_BYTES)
        .await
        .map_err(|e| failed(None, transport_error(&e, timeout)))?;
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let said = said(&body);
        return Err(failed(
            Some(status),
            format!("The provider answered HTTP {status}: {said}"),
        ));
    }
    let Some(items) = body["data"].as_array().or_else(|| body.as_array()) else {
        return Err(failed(
            Some(status),
            format!("The provider answered HTTP {status} without a model list."),
        ));
    };
    Ok(items
        .iter()
        .filter_map(|item| {
            let id = item["id"].as_str().filter(|id| !id.is_empty())?;
            let context_window = ["context_window", "context_length", "max_context_length"]
                .iter()
                .find_map(|field| item[*field].as_u64());
            let listed = Listed {
                owned_by: item["owned_by"].as_str().map(str::to_string),
                context_window,
            };
            Some((id.to_string(), listed))
        })
        .collect())
}

/// The provider's error message, in at most 300 characters.
fn said(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .or_else(|| body["message"].as_str())
        .or_else(|| body["error"].as_str())
        .unwrap_or("The provider refused the call.")
        .chars()
        .take(300)
        .collect()
}

/// Why a call got no answer, for people.
pub fn transport_error(error: &Error, timeout: Duration) -> String {
    if error.is_timeout() {
        format!("No answer within {} ms.", timeout.as_millis())
    } else if error.is_connect() {
        "Could not connect to the provider.".into()
    } else {
        "The request to the provider failed.".into()
    }
}

/// A provider may quote the key it was sent; it is never passed on.
pub fn redact(route: &Route, message: String) -> String {
    match &route.credential {
        Some(credential) => {
            let scrubbed = credential.scrubber.scrub(Bytes::from(message));
            String::from_utf8_lossy(&scrubbed).into_owned()
        }
        None => message,
    }
}
