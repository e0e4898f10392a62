//! Signing in, who am I, changing one's password, and admin API tokens.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What an admin user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "snake_case"))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(feature = "clap", value(rename_all = "snake_case"))]
pub enum Role {
    /// The pool and every tenant.
    InstanceAdmin,
    /// Their tenant's members, keys and quotas.
    TenantAdmin,
    /// Their own keys and usage.
    Member,
}

crate::words!(Role {
    InstanceAdmin => "instance_admin",
    TenantAdmin => "tenant_admin",
    Member => "member",
});

/// A username and password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"username": "admin", "password": "correct horse battery staple"})))]
pub struct LoginRequest {
    #[cfg_attr(feature = "utoipa", schema(max_length = 200))]
    pub username: String,
    #[cfg_attr(feature = "utoipa", schema(max_length = 1000))]
    pub password: String,
}

/// An access token for `Authorization: Bearer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"access_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIwMTkzIn0.c2ln", "token_type": "Bearer", "expires_in": 3600, "must_change_password": false})))]
pub struct LoginResponse {
    /// A JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The password is a one-time one: change it with `POST /admin/v1/auth/password`.
    pub must_change_password: bool,
}

/// The signed-in admin user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e10", "username": "admin", "role": "instance_admin", "tenant_id": null, "member_id": null, "must_change_password": false})))]
pub struct Me {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    /// The tenant of a tenant admin or member.
    pub tenant_id: Option<Uuid>,
    /// The member a member's admin user belongs to.
    pub member_id: Option<Uuid>,
    /// The password is a one-time one: the UI asks for a new one before anything else
    /// (`POST /admin/v1/auth/password`), also after a reload.
    pub must_change_password: bool,
}

/// The current password and a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"current_password": "the one-time password", "new_password": "a long new passphrase"})))]
pub struct PasswordChange {
    #[cfg_attr(feature = "utoipa", schema(max_length = 1000))]
    pub current_password: String,
    /// 12 to 1000 characters.
    #[cfg_attr(feature = "utoipa", schema(min_length = 12, max_length = 1000))]
    pub new_password: String,
}

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 1000;
pub const TOKEN_NAME_MAX_CHARS: usize = 100;
pub const TOKEN_MAX_DAYS: u32 = 3650;

/// A long-lived admin token for automation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"name": "ci", "expires_in_days": 90})))]
pub struct NewToken {
    /// 1 to 100 characters.
    #[cfg_attr(
        feature = "utoipa",
        schema(
            max_length = 100,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub name: String,
    /// Days until it expires, 1 to 3650; never when absent.
    #[serde(default)]
    #[cfg_attr(feature = "utoipa", schema(minimum = 1, maximum = 3650))]
    pub expires_in_days: Option<u32>,
}

/// An admin token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e11", "name": "ci", "prefix": "fwa-3f9c2a7d1b4e", "created_at": "2026-01-05T09:30:00Z", "expires_at": "2026-04-05T09:30:00Z", "last_used_at": null, "revoked": false})))]
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

/// A new admin token with its secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e11", "name": "ci", "prefix": "fwa-3f9c2a7d1b4e", "created_at": "2026-01-05T09:30:00Z", "expires_at": "2026-04-05T09:30:00Z", "last_used_at": null, "revoked": false, "token": "fwa-3f9c2a7d1b4e-q8Wn2Lx0Vb7Tz4Yk1Rm6Pc9Hs3Jd5Gf"})))]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    /// The whole token, `fwa-<public id>-<secret>`. Shown once; only its digest is stored.
    pub token: String,
}
