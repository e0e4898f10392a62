//! Signing in, who am I, changing one's password, and admin API tokens.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::{self, Principal, Role, TOKEN_PREFIX};
use super::error::{AdminError, AdminErrorEnvelope};
use crate::crypto::api_key;
use crate::state::AppState;
use crate::store;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "admin")]
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The password is a one-time one: change it with `POST /admin/v1/auth/password`.
    pub must_change_password: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    pub tenant_id: Option<Uuid>,
    pub member_id: Option<Uuid>,
}

const WRONG: &str = "Wrong username or password.";

#[utoipa::path(post, path = "/admin/v1/auth/login", tag = "admin",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "An access token", body = LoginResponse),
        (status = 401, description = "Wrong username or password", body = AdminErrorEnvelope),
        (status = 429, description = "Too many wrong passwords for this account or address; see `Retry-After`", body = AdminErrorEnvelope),
    ))]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, AdminError> {
    let address = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let keys = vec![format!("user:{}", body.username), format!("ip:{address}")];
    if let Some(wait) = state.login_throttle.check(&keys, Instant::now()) {
        return Err(AdminError {
            retry_after: Some(wait),
            ..AdminError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!("Too many wrong passwords; try again in {wait} s."),
            )
        });
    }
    let user = store::admin_users::find_by_name(&state.db, &body.username).await?;
    let password = body.password.clone();
    // Verify against a real hash even for unknown users, so timing does not tell them apart.
    let hash = user
        .as_ref()
        .map_or_else(|| DUMMY_HASH.to_string(), |u| u.password_hash.clone());
    let ok = web::block(move || auth::verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let Some(user) = user.filter(|u| ok && !u.disabled) else {
        state.login_throttle.failed(&keys, Instant::now());
        return Err(AdminError::unauthorized(WRONG));
    };
    state.login_throttle.succeeded(&keys[0]);
    let role = Role::parse(&user.role).ok_or_else(|| AdminError::unauthorized(WRONG))?;
    let principal = Principal {
        user_id: user.id,
        username: user.username,
        role,
        tenant_id: user.tenant_id,
        member_id: user.member_id,
    };
    let key = {
        let keyring = state.keyring.read().unwrap_or_else(|p| p.into_inner());
        auth::signing_key(keyring.current().bytes())
    };
    Ok(HttpResponse::Ok().json(LoginResponse {
        access_token: auth::issue(&key, &principal)?,
        token_type: "Bearer",
        expires_in: auth::ACCESS_TTL.as_secs(),
        must_change_password: user.must_change_password,
    }))
}

/// An argon2id hash of a random string, verified against when the username is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1dqD8QhKX0p4jHOrBpTqfMtjYzV6yOtfqCJgCUvZmOQ";

#[utoipa::path(get, path = "/admin/v1/me", tag = "admin",
    responses((status = 200, body = Me), (status = 401, body = AdminErrorEnvelope)),
    security(("admin" = [])))]
pub async fn me(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(Me {
        id: principal.user_id,
        username: principal.username,
        role: principal.role,
        tenant_id: principal.tenant_id,
        member_id: principal.member_id,
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// At least 12 characters.
    pub new_password: String,
}

#[utoipa::path(post, path = "/admin/v1/auth/password", tag = "admin",
    request_body = PasswordChange,
    responses((status = 204, description = "Changed"), (status = 401, body = AdminErrorEnvelope), (status = 422, body = AdminErrorEnvelope)),
    security(("admin" = [])))]
pub async fn change_password(
    principal: Principal,
    state: web::Data<AppState>,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, AdminError> {
    if body.new_password.chars().count() < 12 {
        return Err(AdminError::invalid(
            "new_password",
            "The new password needs at least 12 characters.",
        ));
    }
    let user = store::admin_users::find(&state.db, principal.user_id)
        .await?
        .ok_or_else(|| AdminError::unauthorized(WRONG))?;
    let (current, hash) = (body.current_password.clone(), user.password_hash.clone());
    if !web::block(move || auth::verify_password(&current, &hash))
        .await
        .unwrap_or(false)
    {
        return Err(AdminError::invalid(
            "current_password",
            "The current password is wrong.",
        ));
    }
    let new = body.new_password.clone();
    let hash = web::block(move || auth::hash_password(&new))
        .await
        .map_err(|_| AdminError::unauthorized("Could not hash the password."))??;
    store::admin_users::set_password(&state.db, principal.user_id, &hash).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    #[schema(example = "ci")]
    pub name: String,
    /// Days until it expires; never when absent.
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: String,
    /// `fwa-<public id>`: enough to tell tokens apart, useless to authenticate.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    /// The whole token. Shown once; only its digest is stored.
    pub token: String,
}

fn info(token: store::admin_users::AdminToken) -> TokenInfo {
    TokenInfo {
        id: token.id,
        name: token.name,
        prefix: format!("{TOKEN_PREFIX}-{}", token.public_id),
        created_at: token.created_at,
        expires_at: token.expires_at,
        last_used_at: token.last_used_at,
        revoked: token.revoked_at.is_some(),
    }
}

#[utoipa::path(post, path = "/admin/v1/tokens", tag = "admin",
    request_body = NewToken,
    responses((status = 201, description = "The token, shown once", body = CreatedToken), (status = 401, body = AdminErrorEnvelope), (status = 422, body = AdminErrorEnvelope)),
    security(("admin" = [])))]
pub async fn create_token(
    principal: Principal,
    state: web::Data<AppState>,
    body: web::Json<NewToken>,
) -> Result<HttpResponse, AdminError> {
    let name = body.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(AdminError::invalid(
            "name",
            "A token needs a name of 1 to 100 characters.",
        ));
    }
    let user = store::admin_users::find(&state.db, principal.user_id)
        .await?
        .ok_or_else(|| AdminError::unauthorized(WRONG))?;
    let generated = api_key::generate();
    let secret = generated
        .token
        .expose()
        .rsplit('-')
        .next()
        .unwrap_or_default()
        .to_string();
    let expires_at = body
        .expires_in_days
        .map(|d| Utc::now() + Duration::days(i64::from(d)));
    let stored = store::admin_users::create_token(
        &state.db,
        &user,
        name,
        &generated.public_id,
        &generated.secret_sha256,
        expires_at,
    )
    .await?;
    Ok(HttpResponse::Created().json(CreatedToken {
        token: format!("{TOKEN_PREFIX}-{}-{secret}", generated.public_id),
        info: info(stored),
    }))
}

#[utoipa::path(get, path = "/admin/v1/tokens", tag = "admin",
    responses((status = 200, description = "Your admin tokens", body = Vec<TokenInfo>), (status = 401, body = AdminErrorEnvelope)),
    security(("admin" = [])))]
pub async fn list_tokens(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    let tokens: Vec<TokenInfo> = store::admin_users::list_tokens(&state.db, principal.user_id)
        .await?
        .into_iter()
        .map(info)
        .collect();
    Ok(HttpResponse::Ok().json(tokens))
}

#[utoipa::path(delete, path = "/admin/v1/tokens/{id}", tag = "admin",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Revoked (idempotent)"), (status = 404, body = AdminErrorEnvelope)),
    security(("admin" = [])))]
pub async fn revoke_token(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    // Parsed here, not by the path extractor, so a malformed id is a 404 in our own shape.
    let id: Uuid = id
        .parse()
        .map_err(|_| AdminError::not_found("admin token"))?;
    if store::admin_users::revoke_token(&state.db, principal.user_id, id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AdminError::not_found("admin token"))
    }
}

/// Creates the first instance admin on a database that has none, and returns its one-time
/// password to print once.
pub async fn bootstrap_first_admin(
    db: &sqlx::PgPool,
) -> Result<Option<(String, String)>, AdminError> {
    if store::admin_users::count(db).await? > 0 {
        return Ok(None);
    }
    let password = auth::random_password();
    let hash = auth::hash_password(&password)?;
    Ok(store::admin_users::create_first(db, "admin", &hash)
        .await?
        .map(|u| (u.username, password)))
}
