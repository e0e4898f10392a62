//! Model discovery: what a provider's own `GET /models` lists, beside the pool's catalog.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `GET /admin/v1/providers/{provider}/discover`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "utoipa", into_params(parameter_in = Query))]
pub struct DiscoverQuery {
    /// Ask with this credential of the provider, enabled or not. Default: its first enabled
    /// credential by priority; none for a keyless provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<Uuid>,
}

/// One model the provider lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "utoipa", schema(example = json!({"id": "llama-3.1-8b-instant", "owned_by": "Meta", "in_catalog": true})))]
pub struct DiscoveredModel {
    /// The provider's model id, as `POST .../models` takes it for `model_id`.
    pub id: String,
    /// Who the provider says owns it, when it says.
    pub owned_by: Option<String>,
    /// The pool has a model row of this id for this provider (enabled or not).
    pub in_catalog: bool,
}
