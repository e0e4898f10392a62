//! One call to a provider from the admin API (testing a credential, discovering models):
//! the provider's base URL and timeout with one credential or none, outside the router's
//! pool state, and what of the answer may be shown.

use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use crate::admin::AdminState;
use crate::admin::error::AdminError;
use crate::crypto::{self, Secret};
use crate::providers::{CredentialInfo, Route};
use crate::store::StoreError;
use crate::store::credentials::CredentialRow as CredentialRecord;
use crate::store::providers::ProviderRow as ProviderRecord;

/// The provider's timeout, at most 30 s: an admin is waiting.
pub(super) fn timeout(provider: &ProviderRecord) -> Duration {
    Duration::from_millis(u64::try_from(provider.timeout_ms).unwrap_or(30_000))
        .min(Duration::from_secs(30))
}

/// A route to `provider` (for `model`, when the call names one) with `credential`, or
/// without one for a keyless provider; it counts against no limit.
pub(super) fn route(
    provider: &ProviderRecord,
    model: Option<(Uuid, &str)>,
    credential: Option<CredentialInfo>,
) -> Route {
    crate::probes::route(provider, model, credential, timeout(provider))
}

/// The credential with its secret opened by the master key.
pub(super) fn open(
    state: &AdminState,
    row: &CredentialRecord,
) -> Result<CredentialInfo, AdminError> {
    let keyring = state.keyring.read().unwrap_or_else(|p| p.into_inner());
    let secret = crypto::open(&keyring, row.id, &row.sealed).map_err(StoreError::from)?;
    Ok(CredentialInfo::new(row.id, secret))
}

/// What the provider said, in at most 300 characters: a chat reply, the number of models
/// listed, or its error message.
pub(super) fn describe(success: bool, body: &Value) -> String {
    let text = if success {
        if let Some(content) = body["choices"][0]["message"]["content"].as_str() {
            content.to_string()
        } else if let Some(models) = body["data"].as_array() {
            format!("{} models listed.", models.len())
        } else {
            "The provider answered.".to_string()
        }
    } else {
        body["error"]["message"]
            .as_str()
            .or_else(|| body["message"].as_str())
            .or_else(|| body["error"].as_str())
            .unwrap_or("The provider refused the call.")
            .to_string()
    };
    text.chars().take(300).collect()
}

/// A provider may quote the key it was sent; it is never passed on.
pub(super) fn redact(message: &str, secret: Option<&Secret>) -> String {
    let Some(secret) = secret else {
        return message.to_string();
    };
    let mut text = message.to_string();
    let whole = secret.expose();
    let parts = whole.split(':').chain(std::iter::once(whole));
    for part in parts.filter(|p| p.len() >= 4) {
        text = text.replace(part, "<redacted>");
    }
    text
}

/// Why a call got no answer, for people.
pub(super) fn transport_error(
    error: &crate::providers::upstream::Error,
    timeout: Duration,
) -> String {
    if error.is_timeout() {
        format!("No answer within {} ms.", timeout.as_millis())
    } else if error.is_connect() {
        "Could not connect to the provider.".into()
    } else {
        "The request to the provider failed.".into()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_redacted_from_what_the_provider_said() {
        let secret = Secret::new("acct:tok_0123456789");
        assert_eq!(
            redact("bad key tok_0123456789 for acct", Some(&secret)),
            "bad key <redacted> for <redacted>"
        );
        assert_eq!(redact("no key", None), "no key");
        assert_eq!(
            describe(false, &json!({"error": {"message": "Invalid API key"}})),
            "Invalid API key"
        );
        assert_eq!(
            describe(true, &json!({"data": [{"id": "a"}, {"id": "b"}]})),
            "2 models listed."
        );
    }
}
