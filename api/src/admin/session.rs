//! Signing in, who am I, changing one's password, and admin API tokens.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Duration, Utc};
use freeway_wire::auth::{
    CreatedToken, LoginRequest, LoginResponse, Me, NewToken, PASSWORD_MAX_CHARS,
    PASSWORD_MIN_CHARS, PasswordChange, TOKEN_MAX_DAYS, TokenInfo,
};
use uuid::Uuid;

use super::auth::{self, Principal, TOKEN_PREFIX};
use super::error::{AdminError, AdminErrorEnvelope, AdminJson, AdminQuery};
use super::page::{Page, PageQuery, SearchQuery};
use crate::admin::AdminState;
use crate::crypto::api_key;
use crate::store;

const WRONG: &str = "Wrong username or password.";

/// Sign in
///
/// Exchanges a username and password for a JWT access token that lives an hour. After 5
/// wrong passwords in 15 minutes, per account and per address, further attempts wait.
#[utoipa::path(post, path = "/admin/v1/auth/login", tag = "auth", operation_id = "auth_login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "An access token", body = LoginResponse),
        (status = 401, description = "Wrong username or password", body = AdminErrorEnvelope),
        (status = 429, description = "Too many wrong passwords for this account or address", body = AdminErrorEnvelope,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AdminState>,
    body: AdminJson<LoginRequest>,
) -> Result<HttpResponse, AdminError> {
    // Behind a load balancer every peer is the balancer: the client's own address comes
    // from `X-Forwarded-For` when the balancer is trusted, so that one client's wrong
    // passwords do not lock everyone out.
    let trusted = state.config.trusted_proxies().unwrap_or_default();
    let address = super::address::client_address(&req, &trusted)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let keys = vec![format!("user:{}", body.username), format!("ip:{address}")];
    let shared = state.shared.as_deref();
    if let Some(wait) = state
        .login_throttle
        .check_shared(shared, &keys, Instant::now())
        .await
    {
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
        state
            .login_throttle
            .failed_shared(shared, &keys, Instant::now())
            .await;
        return Err(AdminError::unauthorized(WRONG));
    };
    state
        .login_throttle
        .succeeded_shared(shared, &keys[0])
        .await;
    let role = user.role;
    let principal = Principal {
        user_id: user.id,
        username: user.username,
        role,
        tenant_id: user.tenant_id,
        member_id: user.member_id,
        must_change_password: user.must_change_password,
    };
    let key = {
        let keyring = state.keyring.read().unwrap_or_else(|p| p.into_inner());
        auth::signing_key(keyring.current().bytes())
    };
    Ok(HttpResponse::Ok().json(LoginResponse {
        access_token: auth::issue(&key, &principal)?,
        token_type: "Bearer".to_string(),
        expires_in: auth::ACCESS_TTL.as_secs(),
        must_change_password: user.must_change_password,
    }))
}

/// An argon2id hash of a random string, verified against when the username is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1dqD8QhKX0p4jHOrBpTqfMtjYzV6yOtfqCJgCUvZmOQ";

/// Who am I
///
/// The signed-in admin user, their role, for tenant admins and members their tenant, and
/// whether their password is a one-time one that must be changed first.
#[utoipa::path(get, path = "/admin/v1/me", tag = "auth", operation_id = "me_get",
    responses((status = 200, description = "The signed-in admin user", body = Me)),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn me(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(Me {
        id: principal.user_id,
        username: principal.username,
        role: principal.role,
        tenant_id: principal.tenant_id,
        member_id: principal.member_id,
        must_change_password: principal.must_change_password,
    })
}

/// Change my password
///
/// Replaces the signed-in user's password, one-time or not; tokens already issued keep working.
#[utoipa::path(post, path = "/admin/v1/auth/password", tag = "auth", operation_id = "auth_change_password",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed"),
        (status = 422, description = "The current password is wrong, or the new one is too short or too long; `field` names which", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn change_password(
    principal: Principal,
    state: web::Data<AdminState>,
    body: AdminJson<PasswordChange>,
) -> Result<HttpResponse, AdminError> {
    let chars = body.new_password.chars().count();
    if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars) {
        return Err(AdminError::invalid(
            "new_password",
            format!(
                "The new password needs {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters."
            ),
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

/// Create an admin token
///
/// A long-lived token for automation, acting as the signed-in user. The whole token is in
/// this answer only; Freeway keeps its SHA-256 digest.
#[utoipa::path(post, path = "/admin/v1/tokens", tag = "tokens", operation_id = "tokens_create",
    request_body = NewToken,
    responses(
        (status = 201, description = "The token, shown once", body = CreatedToken),
        (status = 422, description = "`name` or `expires_in_days` is out of bounds", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn create_token(
    principal: Principal,
    state: web::Data<AdminState>,
    body: AdminJson<NewToken>,
) -> Result<HttpResponse, AdminError> {
    let expires_at = match body.expires_in_days {
        None => None,
        Some(days) if (1..=TOKEN_MAX_DAYS).contains(&days) => Some(super::after(
            Utc::now(),
            Duration::try_days(i64::from(days)),
        )?),
        Some(_) => {
            return Err(AdminError::invalid(
                "expires_in_days",
                format!("`expires_in_days` must be between 1 and {TOKEN_MAX_DAYS}."),
            ));
        }
    };
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
    let stored = store::admin_users::create_token(
        &state.db,
        &user,
        &body.name,
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

/// List my admin tokens
///
/// The signed-in user's admin tokens, revoked ones included, without their secrets; `q`
/// searches their names.
#[utoipa::path(get, path = "/admin/v1/tokens", tag = "tokens", operation_id = "tokens_list",
    params(PageQuery, SearchQuery),
    responses(
        (status = 200, description = "Your admin tokens in creation order, those whose name contains `q` when given", body = Page<TokenInfo>),
        (status = 422, description = "`limit` or `q` out of range", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn list_tokens(
    principal: Principal,
    state: web::Data<AdminState>,
    query: AdminQuery<PageQuery>,
    search: AdminQuery<SearchQuery>,
) -> Result<HttpResponse, AdminError> {
    let limit = super::page::limit(&query)?;
    let search = store::Search::new(search.q.as_deref())?;
    let cursor = store::Cursor::page(query.cursor, i64::from(limit) + 1);
    let tokens: Vec<TokenInfo> =
        store::admin_users::list_tokens(&state.db, principal.user_id, cursor, &search)
            .await?
            .into_iter()
            .map(info)
            .collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(tokens, limit, |t: &TokenInfo| t.id)))
}

/// Revoke an admin token
///
/// The token stops working at once. Revoking a revoked token again is a no-op.
#[utoipa::path(delete, path = "/admin/v1/tokens/{id}", tag = "tokens", operation_id = "tokens_revoke",
    params(("id" = Uuid, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked; also when it already was"),
        (status = 404, description = "No such token of yours", body = AdminErrorEnvelope),
    ),
    security(("admin_jwt" = []), ("admin_token" = [])))]
pub async fn revoke_token(
    principal: Principal,
    state: web::Data<AdminState>,
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
