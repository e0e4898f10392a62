//! The api key cache. Keys are loaded from Postgres at start and reloaded whenever a change
//! is announced, so authenticating a request never touches the database.

use std::collections::HashSet;

use freeway_wire::tenants::QuotaScope;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::crypto::api_key;
use crate::routing::FastMap;
use crate::store::api_keys::ApiKeyAuthRow;

/// Who is calling, once their key checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub api_key_id: Uuid,
    pub tenant_id: Uuid,
    pub member_id: Uuid,
    pub allowed_models: Option<Vec<String>>,
}

impl Caller {
    pub fn may_use(&self, model: &str) -> bool {
        self.allowed_models
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|m| m == model))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "Missing API key. Send it as `Authorization: Bearer fw-...`; an admin creates keys with `freeway key create`."
    )]
    Missing,
    #[error("Malformed API key. Freeway keys look like `fw-<16 characters>-<40 characters>`.")]
    Malformed,
    #[error("Invalid API key.")]
    Invalid,
    #[error("This API key has been revoked.")]
    Revoked,
    #[error("This API key has expired.")]
    Expired,
    #[error("This API key's member or tenant is disabled.")]
    Disabled,
}

impl AuthError {
    pub fn code(self) -> &'static str {
        match self {
            AuthError::Missing => "missing_api_key",
            AuthError::Malformed | AuthError::Invalid => "invalid_api_key",
            AuthError::Revoked => "api_key_revoked",
            AuthError::Expired => "api_key_expired",
            AuthError::Disabled => "account_disabled",
        }
    }
}

struct Entry {
    id: Uuid,
    secret_sha256: Vec<u8>,
    tenant_id: Uuid,
    member_id: Uuid,
    allowed_models: Option<Vec<String>>,
    expires_at: Option<DateTime<Utc>>,
    revoked: bool,
    disabled: bool,
}

#[derive(Default)]
pub struct KeyCache {
    by_public_id: RwLock<Arc<FastMap<String, Entry>>>,
}

impl KeyCache {
    /// Replaces the whole cache: reloads are rare and a full swap keeps reads lock-light.
    pub fn replace(&self, rows: Vec<ApiKeyAuthRow>) {
        let map: FastMap<String, Entry> = rows
            .into_iter()
            .map(|row| {
                (
                    row.public_id,
                    Entry {
                        id: row.id,
                        secret_sha256: row.secret_sha256,
                        tenant_id: row.tenant_id,
                        member_id: row.member_id,
                        allowed_models: row.allowed_models,
                        expires_at: row.expires_at,
                        revoked: row.revoked_at.is_some(),
                        disabled: row.tenant_disabled || row.member_disabled,
                    },
                )
            })
            .collect();
        *self
            .by_public_id
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(map);
    }

    pub fn len(&self) -> usize {
        self.snapshot().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The api key, member and tenant of every key that can still authenticate: the scopes
    /// whose quota usage is worth keeping.
    pub fn scopes(&self) -> HashSet<(QuotaScope, Uuid)> {
        let keys = self.snapshot();
        let mut scopes = HashSet::with_capacity(keys.len() * 3);
        for entry in keys.values().filter(|e| !e.revoked) {
            scopes.insert((QuotaScope::ApiKey, entry.id));
            scopes.insert((QuotaScope::Member, entry.member_id));
            scopes.insert((QuotaScope::Tenant, entry.tenant_id));
        }
        scopes
    }

    fn snapshot(&self) -> Arc<FastMap<String, Entry>> {
        self.by_public_id
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Checks an `Authorization` header value.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Caller, AuthError> {
        let header = authorization
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or(AuthError::Missing)?;
        let token = match header.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => return Err(AuthError::Malformed),
        };
        let parsed = api_key::parse(token).ok_or(AuthError::Malformed)?;
        let keys = self.snapshot();
        let entry = keys.get(parsed.public_id).ok_or(AuthError::Invalid)?;
        if !api_key::verify(parsed.secret, &entry.secret_sha256) {
            return Err(AuthError::Invalid);
        }
        // Only a holder of the real secret learns the key's state.
        if entry.revoked {
            return Err(AuthError::Revoked);
        }
        if entry.expires_at.is_some_and(|at| at <= now) {
            return Err(AuthError::Expired);
        }
        if entry.disabled {
            return Err(AuthError::Disabled);
        }
        Ok(Caller {
            api_key_id: entry.id,
            tenant_id: entry.tenant_id,
            member_id: entry.member_id,
            allowed_models: entry.allowed_models.clone(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn row(key: &api_key::NewApiKey) -> ApiKeyAuthRow {
        ApiKeyAuthRow {
            id: Uuid::new_v4(),
            public_id: key.public_id.clone(),
            secret_sha256: key.secret_sha256.to_vec(),
            tenant_id: Uuid::new_v4(),
            member_id: Uuid::new_v4(),
            allowed_models: None,
            expires_at: None,
            revoked_at: None,
            tenant_disabled: false,
            member_disabled: false,
        }
    }

    fn bearer(key: &api_key::NewApiKey) -> String {
        format!("Bearer {}", key.token.expose())
    }

    #[test]
    fn every_kind_of_bad_key_gets_its_own_error() {
        let now = Utc::now();
        let good = api_key::generate();
        let revoked = api_key::generate();
        let expired = api_key::generate();
        let disabled = api_key::generate();
        let unknown = api_key::generate();
        let cache = KeyCache::default();
        cache.replace(vec![
            row(&good),
            ApiKeyAuthRow {
                revoked_at: Some(now),
                ..row(&revoked)
            },
            ApiKeyAuthRow {
                expires_at: Some(now - Duration::try_seconds(1).unwrap()),
                ..row(&expired)
            },
            ApiKeyAuthRow {
                member_disabled: true,
                ..row(&disabled)
            },
        ]);
        assert!(cache.authenticate(Some(&bearer(&good)), now).is_ok());
        let check = |header: Option<&str>| cache.authenticate(header, now).unwrap_err();
        assert_eq!(check(None), AuthError::Missing);
        assert_eq!(check(Some("  ")), AuthError::Missing);
        assert_eq!(check(Some(good.token.expose())), AuthError::Malformed);
        assert_eq!(check(Some("Basic abc")), AuthError::Malformed);
        assert_eq!(check(Some("Bearer sk-123")), AuthError::Malformed);
        assert_eq!(check(Some(&bearer(&unknown))), AuthError::Invalid);
        assert_eq!(check(Some(&bearer(&revoked))), AuthError::Revoked);
        assert_eq!(check(Some(&bearer(&expired))), AuthError::Expired);
        assert_eq!(check(Some(&bearer(&disabled))), AuthError::Disabled);
    }

    #[test]
    fn a_known_id_with_the_wrong_secret_is_invalid_and_reveals_no_state() {
        let now = Utc::now();
        let revoked = api_key::generate();
        let cache = KeyCache::default();
        cache.replace(vec![ApiKeyAuthRow {
            revoked_at: Some(now),
            ..row(&revoked)
        }]);
        let forged = format!("Bearer fw-{}-{}", revoked.public_id, "A".repeat(40));
        assert_eq!(
            cache.authenticate(Some(&forged), now).unwrap_err(),
            AuthError::Invalid
        );
    }

    #[test]
    fn replace_swaps_the_whole_cache() {
        let now = Utc::now();
        let key = api_key::generate();
        let cache = KeyCache::default();
        cache.replace(vec![row(&key)]);
        assert_eq!(cache.len(), 1);
        cache.replace(vec![]);
        assert!(cache.is_empty());
        assert_eq!(
            cache.authenticate(Some(&bearer(&key)), now).unwrap_err(),
            AuthError::Invalid
        );
    }

    #[test]
    fn allowed_models() {
        let caller = Caller {
            api_key_id: Uuid::new_v4(),
            tenant_id: Uuid::new_v4(),
            member_id: Uuid::new_v4(),
            allowed_models: Some(vec!["a".into()]),
        };
        assert!(caller.may_use("a"));
        assert!(!caller.may_use("b"));
        assert!(
            Caller {
                allowed_models: None,
                ..caller
            }
            .may_use("b")
        );
    }
}
