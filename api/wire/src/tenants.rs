//! Tenants, their members, the members' api keys, and the quotas of all three.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const NAME_MAX_CHARS: usize = 200;
pub const KEY_NAME_MAX_CHARS: usize = 100;
pub const EMAIL_MAX_CHARS: usize = 320;
pub const MODELS_MAX: usize = 100;
pub const MODEL_ID_MAX_CHARS: usize = 200;
/// How long a rotated key keeps working at most: 30 days.
pub const MAX_OVERLAP_SECONDS: i64 = 30 * 24 * 3600;

/// A team: its members share its quota.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e20", "name": "research", "disabled": false, "created_at": "2026-01-05T09:30:00Z"})))]
pub struct TenantView {
    pub id: Uuid,
    pub name: String,
    /// A disabled tenant's api keys are refused.
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// A new tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"name": "research"})))]
pub struct NewTenant {
    /// 1 to 200 characters, unique.
    #[cfg_attr(
        feature = "utoipa",
        schema(
            max_length = 200,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub name: String,
}

/// Changes to a tenant; absent fields are unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"disabled": true})))]
pub struct TenantPatch {
    /// 1 to 200 characters, unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        schema(
            max_length = 200,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// A member's role in their tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "snake_case"))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(feature = "clap", value(rename_all = "snake_case"))]
pub enum MemberRole {
    /// Uses the gateway with their own keys.
    #[default]
    Member,
    /// Also manages the tenant's members, keys and their quotas.
    TenantAdmin,
}

crate::words!(MemberRole {
    Member => "member",
    TenantAdmin => "tenant_admin",
});

/// A person in a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e30", "tenant_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e20", "name": "alice", "email": "alice@example.com", "role": "member", "disabled": false, "created_at": "2026-01-05T09:31:00Z"})))]
pub struct MemberView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub role: MemberRole,
    /// A disabled member's api keys are refused.
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// A new member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"name": "alice", "email": "alice@example.com", "role": "member"})))]
pub struct NewMember {
    /// 1 to 200 characters, unique within the tenant.
    #[cfg_attr(
        feature = "utoipa",
        schema(
            max_length = 200,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub name: String,
    /// Something like `user@host`, at most 320 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        schema(
            max_length = 320,
            pattern = r"^[^\x00-\x1f\x7f-\x9f\s@]+@[^\x00-\x1f\x7f-\x9f\s@]+$"
        )
    )]
    pub email: Option<String>,
    /// `member` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<MemberRole>,
}

/// Changes to a member; absent fields are unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"role": "tenant_admin"})))]
pub struct MemberPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        schema(
            max_length = 200,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub name: Option<String>,
    /// An empty string removes the email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        schema(
            max_length = 320,
            pattern = r"^$|^[^\x00-\x1f\x7f-\x9f\s@]+@[^\x00-\x1f\x7f-\x9f\s@]+$"
        )
    )]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<MemberRole>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// A member's api key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e40", "tenant_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e20", "member_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e30", "name": "laptop", "prefix": "fw-0123456789abcdef", "allowed_models": null, "created_at": "2026-01-05T09:32:00Z", "last_used_at": null, "expires_at": null, "revoked": false, "revoked_at": null, "replaced_by": null})))]
pub struct KeyView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub member_id: Uuid,
    pub name: String,
    /// `fw-<public id>`: tells keys apart, useless to authenticate.
    pub prefix: String,
    /// Models this key may use; every model when absent.
    pub allowed_models: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The key that replaced this one in a rotation.
    pub replaced_by: Option<Uuid>,
}

/// A new key with its secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e40", "tenant_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e20", "member_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e30", "name": "laptop", "prefix": "fw-0123456789abcdef", "allowed_models": null, "created_at": "2026-01-05T09:32:00Z", "last_used_at": null, "expires_at": null, "revoked": false, "revoked_at": null, "replaced_by": null, "key": "fw-0123456789abcdef-Dos1w3WWzi8DWKbON8hT4qQox6imPLEp"})))]
pub struct CreatedKey {
    #[serde(flatten)]
    pub info: KeyView,
    /// The whole key, `fw-<public id>-<secret>`. Shown once; only its digest is stored.
    pub key: String,
}

/// The two keys of a rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RotatedKey {
    /// The old key, now expiring at the end of the overlap.
    pub old: KeyView,
    /// The new key, with its secret shown once.
    pub new: CreatedKey,
}

/// A new api key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"name": "laptop", "allowed_models": ["llama-3.1-8b-instant"]})))]
pub struct NewKey {
    /// Up to 100 characters; unnamed when absent or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        schema(max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    pub name: Option<String>,
    /// At most 100 model ids the key may use; every model when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(max_items = 100, inline, value_type = Option<Vec<ModelId>>))]
    pub allowed_models: Option<Vec<String>>,
    /// When the key stops working, in the future and before year 10000; never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A model id, 1 to 200 characters without control characters.
#[cfg(feature = "utoipa")]
#[derive(utoipa::ToSchema)]
#[schema(
    max_length = 200,
    pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
    example = "llama-3.1-8b-instant"
)]
pub struct ModelId(pub String);

/// How long the old key keeps working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"overlap_seconds": 3600})))]
pub struct Rotate {
    /// 0 to 2592000 seconds (30 days).
    #[cfg_attr(feature = "utoipa", schema(minimum = 0, maximum = 2592000))]
    pub overlap_seconds: i64,
}

/// Whose quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "snake_case"))]
pub enum QuotaScope {
    Tenant,
    Member,
    ApiKey,
}

crate::words!(QuotaScope {
    Tenant => "tenant",
    Member => "member",
    ApiKey => "api_key",
});

/// A quota as set. Absent limits are no limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"scope": "member", "scope_id": "0193a5b0-7e1c-7cc0-8e5a-3b1f2c9d4e30", "rpm": 60, "rpd": 2000, "tpm": 100000, "tpd": null, "tokens_per_month": 20000000, "allowed_models": null, "expires_at": null, "updated_at": "2026-01-05T09:33:00Z"})))]
pub struct QuotaView {
    pub scope: QuotaScope,
    pub scope_id: Uuid,
    /// Requests per minute.
    pub rpm: Option<i32>,
    /// Requests per UTC day.
    pub rpd: Option<i32>,
    /// Tokens per minute.
    pub tpm: Option<i64>,
    /// Tokens per UTC day.
    pub tpd: Option<i64>,
    /// Tokens per UTC calendar month.
    pub tokens_per_month: Option<i64>,
    /// Models that may be used; every model when absent.
    pub allowed_models: Option<Vec<String>>,
    /// When the quota stops allowing requests; never when absent.
    pub expires_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// A whole quota: it replaces the one set before. Absent fields are no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"rpm": 60, "rpd": 2000, "tpm": 100000, "tokens_per_month": 20000000})))]
pub struct QuotaBody {
    /// Requests per minute, 0 to 2147483647.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(minimum = 0, maximum = 2147483647))]
    pub rpm: Option<i64>,
    /// Requests per UTC day, 0 to 2147483647.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(minimum = 0, maximum = 2147483647))]
    pub rpd: Option<i64>,
    /// Tokens per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(minimum = 0))]
    pub tpm: Option<i64>,
    /// Tokens per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(minimum = 0))]
    pub tpd: Option<i64>,
    /// Tokens per UTC calendar month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(minimum = 0))]
    pub tokens_per_month: Option<i64>,
    /// At most 100 model ids that may be used; every model when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(max_items = 100, inline, value_type = Option<Vec<ModelId>>))]
    pub allowed_models: Option<Vec<String>>,
    /// When the quota stops allowing requests, before year 10000; never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}
