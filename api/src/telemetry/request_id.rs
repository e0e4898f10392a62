//! Every request's id, answered in `x-request-id` on every surface.
//!
//! A well-formed id the client sends (1 to 128 characters of `A-Z a-z 0-9 . _ : -`) is kept:
//! it is the request's id in logs, in error bodies, in the usage event and on the provider
//! call. Anything else (missing, empty, too long, other characters) is replaced by an id of
//! Freeway's own, a UUIDv7 that is also the `/v1` request's usage event id.

use actix_web::HttpMessage;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
const HEADER: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);

/// The longest client id kept.
pub const MAX_LEN: usize = 128;

/// One request's id: the client's, or one made here.
#[derive(Debug, Clone)]
pub struct RequestId {
    /// The id as it is answered (visible ASCII, checked).
    value: HeaderValue,
    /// Set when the id is Freeway's own: the usage event's id and the time it was made of
    /// (the event's `created_at`).
    own: Option<(Uuid, DateTime<Utc>)>,
}

impl RequestId {
    /// The client's `x-request-id` when well-formed, else a new id.
    pub fn from_headers(headers: &HeaderMap) -> RequestId {
        match headers.get(HEADER) {
            Some(value) if well_formed(value.as_bytes()) => RequestId {
                value: value.clone(),
                own: None,
            },
            _ => RequestId::generate(),
        }
    }

    /// A new id of Freeway's own (the usage event id format: a UUIDv7 of the current time).
    pub fn generate() -> RequestId {
        let at = Utc::now();
        let id = crate::store::usage::new_event_id(at);
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let value = HeaderValue::from_str(id.hyphenated().encode_lower(&mut text))
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        RequestId {
            value,
            own: Some((id, at)),
        }
    }

    /// The id the request middleware gave `req` (see [`super::RequestSpan`]); without it (a
    /// handler mounted alone), one read from the request's headers.
    pub fn of(req: &impl HttpMessage) -> RequestId {
        if let Some(id) = req.extensions().get::<RequestId>() {
            return id.clone();
        }
        RequestId::from_headers(req.headers())
    }

    pub fn as_str(&self) -> &str {
        self.value.to_str().unwrap_or_default()
    }

    pub fn header_value(&self) -> HeaderValue {
        self.value.clone()
    }

    /// Freeway's own id and when it was made, when it is one (then the usage event's id and
    /// time).
    pub fn own(&self) -> Option<(Uuid, DateTime<Utc>)> {
        self.own
    }

    /// The client's id, when it is one.
    pub fn client(&self) -> Option<&str> {
        self.own.is_none().then(|| self.as_str())
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// 1 to [`MAX_LEN`] characters of `A-Z a-z 0-9 . _ : -`: safe in a header, a log line and a
/// URL path, and enough for UUIDs, ULIDs and the ids proxies make.
pub fn well_formed(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_bytes(value.as_bytes()).unwrap());
        headers
    }

    #[test]
    fn a_well_formed_client_id_is_kept() {
        for id in ["a", "req-42", "01J9Z:abc_def.1", &"x".repeat(MAX_LEN)] {
            let kept = RequestId::from_headers(&with(id));
            assert_eq!(kept.as_str(), id);
            assert_eq!(kept.client(), Some(id));
            assert_eq!(kept.own(), None);
        }
    }

    #[test]
    fn anything_else_is_replaced_by_an_own_uuid_v7() {
        for id in [
            "",
            "has space",
            "semi;colon",
            "ünï",
            &"x".repeat(MAX_LEN + 1),
        ] {
            let replaced = RequestId::from_headers(&with(id));
            assert_ne!(replaced.as_str(), id);
            let (own, _) = replaced.own().unwrap();
            assert_eq!(own.get_version_num(), 7);
            assert_eq!(replaced.as_str(), own.to_string());
            assert_eq!(replaced.client(), None);
        }
        assert!(RequestId::from_headers(&HeaderMap::new()).own().is_some());
    }
}
