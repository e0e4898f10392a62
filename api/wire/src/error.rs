//! The two error shapes: `/admin/v1`'s `{"error":{"code","message","field"}}` and OpenAI's
//! `{"error":{"message","type","param","code"}}` on `/v1`.

use serde::{Deserialize, Serialize};

/// Every `/admin/v1` error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"error": {"code": "invalid_field", "message": "`name` needs 1 to 200 characters.", "field": "name"}})))]
pub struct AdminErrorEnvelope {
    pub error: AdminErrorBody,
}

/// What went wrong, for machines (`code`, `field`) and people (`message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AdminErrorBody {
    /// Machine-readable: `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `invalid_field`, `invalid_json`, `invalid_query`, `unsupported_media_type`,
    /// `too_large`, `too_many_attempts`, `database_unavailable`, `master_key_unavailable`.
    #[cfg_attr(feature = "utoipa", schema(example = "invalid_field"))]
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// The input field at fault, when there is one (`limits.rpm` for a nested one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(example = "name"))]
    pub field: Option<String>,
}

/// Every `/v1` error, in OpenAI's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"error": {"message": "The tenant quota of 2 requests per day is used up; retry after 68311 s.", "type": "rate_limit_error", "param": null, "code": "quota_exceeded"}})))]
pub struct OpenAiErrorEnvelope {
    pub error: OpenAiErrorBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct OpenAiErrorBody {
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, `permission_error`,
    /// `not_found_error`, `rate_limit_error`, `upstream_error`, `server_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The request field at fault, when there is one.
    pub param: Option<String>,
    /// Machine-readable, such as `invalid_api_key`, `model_not_found`, `quota_exceeded`,
    /// `pool_exhausted`.
    pub code: String,
}
