//! OpenAI's Responses API as Freeway serves it at `/v1/responses`: the request fields it
//! reads and the Response object it answers with. Requests are translated to the pool's
//! chat completions and their answers back.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /v1/responses`. `reasoning`, `include` and `truncation` are accepted and not used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"model": "auto", "instructions": "Be brief.", "input": "Hello"})))]
pub struct ResponseRequest {
    pub model: String,
    /// A string, or items: messages (`input_text`, `input_image`, `output_text` parts),
    /// `function_call`, `function_call_output`, `reasoning` (skipped).
    #[cfg_attr(feature = "utoipa", schema(value_type = Object))]
    pub input: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Function tools; built-in tools (`web_search`, `file_search`, `computer_use_preview`,
    /// ...) are a 400 naming the tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<Vec<Object>>))]
    pub tools: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<Object>))]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Keep the response for `previous_response_id` and `GET` (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<bool>,
    /// Continue the conversation a stored response of this api key ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_response_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
}

/// Token counts of one response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ResponseUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
}

/// The Response object: `output` holds `message` items (`output_text` parts) and
/// `function_call` items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ResponseObject {
    /// `resp_…`.
    pub id: String,
    /// `response`.
    pub object: String,
    pub created_at: i64,
    /// `completed`, `incomplete` (the token limit) or `failed`.
    pub status: String,
    /// The model as requested.
    pub model: String,
    #[cfg_attr(feature = "utoipa", schema(value_type = Vec<Object>))]
    pub output: Vec<Value>,
    pub usage: Option<ResponseUsage>,
    pub previous_response_id: Option<String>,
    pub store: bool,
}
