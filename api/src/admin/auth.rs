//! Who is calling `/admin/v1`: a JWT access token from `POST /admin/v1/auth/login`, or an
//! admin API token (`fwa-<public id>-<secret>`, stored as a SHA-256 digest) for automation.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::AdminError;
use crate::admin::AdminState;
use crate::crypto::api_key;
use crate::store;

pub const TOKEN_PREFIX: &str = "fwa";
/// How long a login's access token lives.
pub const ACCESS_TTL: Duration = Duration::from_secs(3600);

pub use freeway_wire::auth::Role;

/// The authenticated caller of an admin endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
    pub tenant_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
    /// Their password is a one-time one, as of this request.
    pub must_change_password: bool,
}

impl Principal {
    /// `admin:<username>` in the audit log.
    pub fn actor(&self) -> String {
        format!("admin:{}", self.username)
    }

    pub fn require_instance_admin(&self) -> Result<(), AdminError> {
        match self.role {
            Role::InstanceAdmin => Ok(()),
            _ => Err(AdminError::forbidden()),
        }
    }

    /// May this caller see and manage tenant `tenant`? Others' tenants answer 404, as if
    /// they did not exist.
    pub fn tenant_scope(&self, tenant: Uuid) -> Result<(), AdminError> {
        match self.role {
            Role::InstanceAdmin => Ok(()),
            _ if self.tenant_id == Some(tenant) => Ok(()),
            _ => Err(AdminError::not_found("tenant")),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    name: String,
    role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    member: Option<Uuid>,
    iat: i64,
    exp: i64,
}

/// The JWT signing key, derived from the current master key so that every instance shares
/// it and nothing new must be stored. Rotating the master key signs everyone out.
pub fn signing_key(master: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"freeway/admin-jwt/v1\0");
    hasher.update(master);
    hasher.finalize().into()
}

pub fn issue(key: &[u8; 32], principal: &Principal) -> Result<String, AdminError> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: principal.user_id,
        name: principal.username.clone(),
        role: principal.role,
        tenant: principal.tenant_id,
        member: principal.member_id,
        iat: now,
        exp: now + ACCESS_TTL.as_secs() as i64,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key),
    )
    .map_err(|_| AdminError::unauthorized("Could not issue a token."))
}

fn verify_jwt(key: &[u8; 32], token: &str) -> Result<Claims, AdminError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(key), &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                AdminError::unauthorized("The access token has expired; log in again.")
            }
            _ => AdminError::unauthorized("The access token is not valid."),
        })
}

pub fn hash_password(password: &str) -> Result<String, AdminError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|_| AdminError::unauthorized("Could not hash the password."))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A password nobody has to type twice: 24 characters from the api key alphabet.
pub fn random_password() -> String {
    api_key::generate()
        .token
        .expose()
        .chars()
        .rev()
        .take(24)
        .collect()
}

/// What [`pre_authenticate`] found, kept in the request's extensions.
#[derive(Clone)]
struct Authenticated(Result<Principal, AdminError>);

/// Middleware on `/admin/v1`: checks the credential before any handler runs, so that a
/// caller without a valid one learns nothing about the input a handler would have checked
/// (actix extracts a handler's arguments concurrently, and a body error could win the race).
pub async fn pre_authenticate(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let (Some(header), Some(state)) = (header, req.app_data::<web::Data<AdminState>>().cloned())
    {
        let result = match header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
        {
            Some(token) => authenticate(&state, token.trim()).await,
            None => Err(AdminError::unauthorized(
                "Use `Authorization: Bearer <token>`.",
            )),
        };
        req.extensions_mut().insert(Authenticated(result));
    }
    next.call(req)
        .await
        .map(|response| response.map_into_boxed_body())
}

impl FromRequest for Principal {
    type Error = AdminError;
    type Future = std::future::Ready<Result<Principal, AdminError>>;

    fn from_request(req: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(match req.extensions().get::<Authenticated>() {
            Some(Authenticated(result)) => result.clone(),
            None => Err(AdminError::unauthorized(
                "Missing `Authorization: Bearer <token>`.",
            )),
        })
    }
}

async fn authenticate(state: &AdminState, token: &str) -> Result<Principal, AdminError> {
    let user_id = if let Some(rest) = token
        .strip_prefix(TOKEN_PREFIX)
        .and_then(|r| r.strip_prefix('-'))
    {
        let (public_id, secret) = rest
            .split_once('-')
            .ok_or_else(|| AdminError::unauthorized("Malformed admin token."))?;
        let stored = store::admin_users::find_token(&state.db, public_id)
            .await?
            .ok_or_else(|| AdminError::unauthorized("Unknown admin token."))?;
        if !api_key::verify(secret, &stored.secret_sha256) {
            return Err(AdminError::unauthorized("Unknown admin token."));
        }
        if stored.revoked_at.is_some() {
            return Err(AdminError::unauthorized(
                "This admin token has been revoked.",
            ));
        }
        if stored.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(AdminError::unauthorized("This admin token has expired."));
        }
        let _ = store::admin_users::touch_token(&state.db, stored.id).await;
        stored.admin_user_id
    } else {
        let key = {
            let keyring = state.keyring.read().unwrap_or_else(|p| p.into_inner());
            signing_key(keyring.current().bytes())
        };
        verify_jwt(&key, token)?.sub
    };
    // The user's current row decides: a disabled user or a changed role takes effect at once.
    let user = store::admin_users::find(&state.db, user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| AdminError::unauthorized("This account no longer exists or is disabled."))?;
    let role = user.role;
    Ok(Principal {
        user_id: user.id,
        username: user.username,
        role,
        tenant_id: user.tenant_id,
        member_id: user.member_id,
        must_change_password: user.must_change_password,
    })
}

/// Slows down wrong passwords per account and per client address: after 5 failures within
/// 15 minutes each further attempt must wait 2^(n-5) seconds, at most 15 minutes. The real
/// user is never locked out for longer than that, and a success resets the account.
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

const FREE_FAILURES: u32 = 5;
const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);

impl LoginThrottle {
    fn wait(count: u32) -> Duration {
        if count < FREE_FAILURES {
            return Duration::ZERO;
        }
        Duration::from_secs(1u64 << (count - FREE_FAILURES).min(10)).min(MAX_WAIT)
    }

    /// Seconds to wait before `keys` may try again, if any.
    pub fn check(&self, keys: &[String], now: Instant) -> Option<u64> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.retain(|_, (_, last)| now.duration_since(*last) < FAILURE_MEMORY);
        keys.iter()
            .filter_map(|k| failures.get(k))
            .filter_map(|(count, last)| {
                let until = last.checked_add(Self::wait(*count))?;
                (until > now).then(|| until.duration_since(now).as_secs().max(1))
            })
            .max()
    }

    pub fn failed(&self, keys: &[String], now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            let entry = failures.entry(key.clone()).or_insert((0, now));
            *entry = (entry.0 + 1, now);
        }
    }

    /// [`Self::check`] for the whole fleet when Redis answers, else for this replica.
    pub async fn check_shared(
        &self,
        shared: Option<&crate::shared::Shared>,
        keys: &[String],
        now: Instant,
    ) -> Option<u64> {
        if let Some(shared) = shared
            && let Ok(wait) = shared
                .throttle_check(keys, Utc::now().timestamp_millis())
                .await
        {
            return wait;
        }
        self.check(keys, now)
    }

    /// [`Self::failed`], counted on Redis too in a fleet.
    pub async fn failed_shared(
        &self,
        shared: Option<&crate::shared::Shared>,
        keys: &[String],
        now: Instant,
    ) {
        self.failed(keys, now);
        if let Some(shared) = shared {
            shared
                .throttle_failed(keys, Utc::now().timestamp_millis(), FAILURE_MEMORY)
                .await;
        }
    }

    /// [`Self::succeeded`], forgotten on Redis too in a fleet.
    pub async fn succeeded_shared(&self, shared: Option<&crate::shared::Shared>, account: &str) {
        self.succeeded(account);
        if let Some(shared) = shared {
            shared.throttle_forget(account).await;
        }
    }

    pub fn succeeded(&self, account: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> Principal {
        Principal {
            user_id: Uuid::new_v4(),
            username: "root".into(),
            role: Role::InstanceAdmin,
            tenant_id: None,
            member_id: None,
            must_change_password: false,
        }
    }

    #[test]
    fn tokens_verify_and_tampering_fails() {
        let key = signing_key(&[7; 32]);
        let token = issue(&key, &principal()).unwrap();
        assert_eq!(verify_jwt(&key, &token).unwrap().name, "root");
        assert!(verify_jwt(&signing_key(&[8; 32]), &token).is_err());
        let mut tampered = token.clone();
        tampered.insert(tampered.len() / 2, 'x');
        assert!(verify_jwt(&key, &tampered).is_err());
    }

    #[test]
    fn expired_tokens_fail() {
        let key = signing_key(&[7; 32]);
        let claims = Claims {
            sub: Uuid::new_v4(),
            name: "x".into(),
            role: Role::Member,
            tenant: None,
            member: None,
            iat: 0,
            exp: Utc::now().timestamp() - 10,
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&key),
        )
        .unwrap();
        assert_eq!(
            verify_jwt(&key, &token).unwrap_err().message,
            "The access token has expired; log in again."
        );
    }

    #[test]
    fn passwords_are_argon2id() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("x", "not a hash"));
        assert_eq!(random_password().len(), 24);
    }

    #[test]
    fn throttle_slows_down_and_forgives() {
        let throttle = LoginThrottle::default();
        let keys = vec!["user:a".to_string(), "ip:1".to_string()];
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(throttle.check(&keys, t0), None);
            throttle.failed(&keys, t0);
        }
        assert_eq!(throttle.check(&keys, t0), Some(1));
        throttle.failed(&keys, t0);
        assert_eq!(throttle.check(&keys, t0), Some(2));
        assert_eq!(throttle.check(&keys, t0 + Duration::from_secs(3)), None);
        throttle.succeeded("user:a");
        assert_eq!(throttle.check(&["user:a".to_string()], t0), None);
        assert_eq!(LoginThrottle::wait(100), MAX_WAIT);
    }
}
