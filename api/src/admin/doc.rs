//! The OpenAPI 3.1 document of every HTTP endpoint, served at `/admin/v1/openapi.json` and
//! committed as `openapi/openapi.json`.
//!
//! The handlers' `#[utoipa::path]` attributes state what is particular to each operation:
//! its id, summary, success answer and the errors it has reasons of its own to return.
//! [`complete`] then adds what the server does the same way for every operation (the
//! extractors' 400/413/415/422, the authentication middleware's 401, 404 for an id that names
//! nothing, 503 when the database does not answer), so the document states every status the
//! server really returns, each with a description and a body schema.

use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use crate::openai;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Freeway",
        description = "A self-hosted, multi-tenant, OpenAI-compatible LLM gateway. `/v1` is the OpenAI surface, authenticated by member api keys (`fw-...`); `/admin/v1` is the admin API, authenticated by a JWT from `POST /admin/v1/auth/login` or a long-lived admin token (`fwa-...`). Admin errors share one shape, `AdminErrorEnvelope`; `/v1` errors are in OpenAI's, `OpenAiErrorEnvelope`. Lists are paged with `limit` and `cursor`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    servers((url = "/", description = "This Freeway instance")),
    paths(
        crate::health::healthz,
        crate::health::readyz,
        openai::chat_completions,
        openai::completions,
        openai::embeddings,
        openai::image_generations,
        openai::speech,
        openai::transcriptions,
        openai::list_models,
        openai::get_model,
        openai::create_response,
        openai::get_response,
        crate::anthropic::messages,
        crate::anthropic::count_tokens,
        super::openapi_json,
        super::session::login,
        super::session::me,
        super::session::change_password,
        super::session::create_token,
        super::session::list_tokens,
        super::session::revoke_token,
    ),
    components(schemas(
        freeway_wire::AdminErrorEnvelope,
        freeway_wire::OpenAiErrorEnvelope,
        freeway_wire::usage::TimeParam,
    )),
    tags(
        (name = "auth", description = "Signing in, who am I, passwords"),
        (name = "tokens", description = "Long-lived admin tokens for automation"),
        (name = "tenants", description = "Teams sharing the pool"),
        (name = "members", description = "People in a tenant"),
        (name = "api_keys", description = "Members' keys for `/v1`"),
        (name = "quotas", description = "Limits of a tenant, a member or an api key"),
        (name = "providers", description = "Upstream services of the pool"),
        (name = "models", description = "A provider's models"),
        (name = "credentials", description = "A provider's secrets, write-only"),
        (name = "routing", description = "Profiles, model-name mappings, the live routing state and cooldowns"),
        (name = "usage", description = "Totals and time series from the usage rollups"),
        (name = "requests", description = "The request log"),
        (name = "audit", description = "Who changed what"),
        (name = "settings", description = "Instance settings"),
        (name = "meta", description = "This document"),
        (name = "openai", description = "The OpenAI-compatible surface"),
        (name = "anthropic", description = "Anthropic's Messages API, for Claude Code and the Anthropic SDKs"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
struct ApiDoc;

/// The document, completed.
pub fn document() -> Value {
    let mut doc = ApiDoc::openapi()
        .merge_from(super::tenants::Doc::openapi())
        .merge_from(super::pool::Doc::openapi())
        .merge_from(super::usage::Doc::openapi());
    doc.info.version = freeway_wire::VERSION.to_string();
    let mut value = serde_json::to_value(&doc).unwrap_or_default();
    complete(&mut value);
    value
}

/// The document as committed at `openapi/openapi.json`.
pub fn pretty() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

const ADMIN_ERROR: &str = "#/components/schemas/AdminErrorEnvelope";
const OPENAI_ERROR: &str = "#/components/schemas/OpenAiErrorEnvelope";
const ANTHROPIC_ERROR: &str = "#/components/schemas/AnthropicErrorEnvelope";

/// Adds the security schemes and, to every operation, the answers the server gives the same
/// way everywhere.
fn complete(doc: &mut Value) {
    doc["components"]["securitySchemes"] = json!({
        "admin_jwt": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "An access token from `POST /admin/v1/auth/login`; it expires after an hour."
        },
        "admin_token": {
            "type": "http", "scheme": "bearer", "bearerFormat": "fwa-<public id>-<secret>",
            "description": "A long-lived admin token from `POST /admin/v1/tokens`."
        },
        "api_key": {
            "type": "http", "scheme": "bearer", "bearerFormat": "fw-<public id>-<secret>",
            "description": "A member's api key, from `POST /admin/v1/tenants/{tenant}/members/{member}/keys` or `freeway key create`."
        }
    });
    refer_to_page_items(doc);
    state_bounds(doc);
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            complete_operation(path, operation);
        }
    }
}

/// `Page_X` and `List_X` hold `X`s: say so with a reference rather than a copy of `X`, so that
/// generated clients type a listed item as the `X` they get from `GET .../{id}`.
fn refer_to_page_items(doc: &mut Value) {
    let Some(schemas) = doc["components"]["schemas"].as_object_mut() else {
        return;
    };
    let names: Vec<String> = schemas.keys().cloned().collect();
    for name in &names {
        let item = name
            .strip_prefix("Page_")
            .or_else(|| name.strip_prefix("List_"));
        if let Some(item) = item
            && schemas.contains_key(item)
            && let Some(page) = schemas.get_mut(name)
        {
            page["properties"]["data"]["items"] =
                json!({ "$ref": format!("#/components/schemas/{item}") });
        }
    }
}

/// No control characters.
const PRINTABLE: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";

/// Bounds of the pool's bodies, as the handlers in `admin/pool` check them.
fn state_bounds(doc: &mut Value) {
    let priority = json!({"minimum": 0, "maximum": super::pool::MAX_PRIORITY});
    let bounds = [
        (
            "NewCredential",
            "name",
            json!({"maxLength": 100, "pattern": PRINTABLE}),
        ),
        (
            "CredentialPatch",
            "name",
            json!({"maxLength": 100, "pattern": PRINTABLE}),
        ),
        (
            "NewCredential",
            "secret",
            json!({"minLength": 8, "maxLength": 4096, "pattern": PRINTABLE}),
        ),
        (
            "CredentialPatch",
            "secret",
            json!({"minLength": 8, "maxLength": 4096, "pattern": PRINTABLE}),
        ),
        ("NewCredential", "priority", priority.clone()),
        ("CredentialPatch", "priority", priority.clone()),
        ("NewModel", "priority", priority.clone()),
        ("ModelPatch", "priority", priority.clone()),
        ("NewProvider", "priority", priority.clone()),
        ("ProviderPatch", "priority", priority),
        (
            "NewModel",
            "model_id",
            json!({"minLength": 1, "maxLength": 300, "pattern": PRINTABLE}),
        ),
        (
            "AddDiscovered",
            "models",
            json!({"items": {"type": "string", "minLength": 1, "maxLength": 300, "pattern": PRINTABLE}}),
        ),
        (
            "NewModel",
            "context_window",
            json!({"minimum": 1, "maximum": i32::MAX}),
        ),
        (
            "ModelPatch",
            "context_window",
            json!({"minimum": 1, "maximum": i32::MAX}),
        ),
        (
            "NewModel",
            "embedding_dimensions",
            json!({"minimum": 1, "maximum": 65536}),
        ),
        (
            "ModelPatch",
            "embedding_dimensions",
            json!({"minimum": 1, "maximum": 65536}),
        ),
        (
            "NewModel",
            "embedding_family",
            json!({"maxLength": 100, "pattern": freeway_wire::text::NAME_PATTERN}),
        ),
        (
            "ModelPatch",
            "embedding_family",
            json!({"maxLength": 100, "pattern": freeway_wire::text::NAME_PATTERN}),
        ),
        (
            "NewProvider",
            "name",
            json!({"pattern": "^[a-z0-9][a-z0-9._-]{0,62}$"}),
        ),
        (
            "ProviderPatch",
            "name",
            json!({"pattern": "^[a-z0-9][a-z0-9._-]{0,62}$"}),
        ),
        (
            "NewProvider",
            "display_name",
            json!({"maxLength": 100, "pattern": PRINTABLE}),
        ),
        (
            "ProviderPatch",
            "display_name",
            json!({"maxLength": 100, "pattern": PRINTABLE}),
        ),
        (
            "NewProvider",
            "timeout_ms",
            json!({"minimum": 1, "maximum": 600_000}),
        ),
        (
            "ProviderPatch",
            "timeout_ms",
            json!({"minimum": 1, "maximum": 600_000}),
        ),
        (
            "NewProvider",
            "daily_reset_tz",
            json!({"$ref": "#/components/schemas/TimeZone"}),
        ),
        (
            "ProviderPatch",
            "daily_reset_tz",
            json!({"$ref": "#/components/schemas/TimeZone"}),
        ),
        (
            "NewProvider",
            "base_url",
            json!({"pattern": super::pool::BASE_URL_PATTERN}),
        ),
        (
            "ProviderPatch",
            "base_url",
            json!({"pattern": super::pool::BASE_URL_PATTERN}),
        ),
        ("SettingValue", "value", json!({"not": {"type": "null"}})),
    ];
    doc["components"]["schemas"]["TimeZone"] = time_zones();
    for (schema, property, bound) in bounds {
        // `get_mut`, not `[]`: indexing would add the missing keys as nulls.
        let Some(target) = doc
            .pointer_mut(&format!(
                "/components/schemas/{schema}/properties/{property}"
            ))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        // A reference replaces the field's own type.
        if bound.get("$ref").is_some() {
            let nullable = target.get("type").is_some_and(Value::is_array);
            target.retain(|key, _| key == "description");
            if nullable {
                target.insert("oneOf".into(), json!([bound, {"type": "null"}]));
            } else {
                target.extend(bound.as_object().cloned().unwrap_or_default());
            }
            continue;
        }
        // `Option<T>` fields are `type: [T, null]`: keep null allowed where it was.
        if let (Some(Value::Array(_)), Some(values)) = (target.get("type"), bound.get("enum")) {
            let mut values = values.as_array().cloned().unwrap_or_default();
            values.push(Value::Null);
            target.insert("enum".into(), Value::Array(values));
            continue;
        }
        if let Some(bound) = bound.as_object() {
            for (key, value) in bound {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Every IANA zone chrono-tz knows, with names for generated enums (the values alone
/// collide once punctuation is dropped: `GMT+0`, `GMT-0`, `GMT0`).
fn time_zones() -> Value {
    let zones: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    let names: Vec<String> = zones.iter().map(|zone| zone_name(zone)).collect();
    json!({
        "type": "string",
        "description": "An IANA time zone, such as `UTC` or `America/Los_Angeles`",
        "enum": zones,
        "x-enum-varnames": names,
    })
}

fn zone_name(zone: &str) -> String {
    zone.chars()
        .map(|c| match c {
            '+' => "_PLUS_".to_string(),
            '-' => "_MINUS_".to_string(),
            c if c.is_ascii_alphanumeric() => c.to_ascii_uppercase().to_string(),
            _ => "_".to_string(),
        })
        .collect()
}

fn complete_operation(path: &str, op: &mut Value) {
    let admin = path.starts_with("/admin/v1/");
    let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
    let json_body = op["requestBody"]["content"]["application/json"].is_object();
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    let in_path = params.iter().any(|p| p["in"] == "path");
    let in_query = params.iter().any(|p| p["in"] == "query");
    let error = if admin {
        ADMIN_ERROR
    } else if path.starts_with("/v1/messages") {
        ANTHROPIC_ERROR
    } else {
        OPENAI_ERROR
    };

    let mut add = |status: &str, description: &str| {
        let responses = &mut op["responses"];
        if responses.get(status).is_none() {
            responses[status] = json!({ "description": description });
        }
    };
    if secured {
        add(
            "401",
            "No credential, or one that is malformed, unknown, revoked or expired",
        );
    }
    if json_body {
        add("400", "The body is not valid JSON");
        add("413", "The body is too large");
        add("415", "The body is not `application/json`");
        add(
            "422",
            "A field is missing, unknown or invalid; `field` names it",
        );
    }
    if admin && in_query {
        add(
            "422",
            "A query parameter is malformed or out of range; `field` names it",
        );
    }
    if admin && in_path {
        add("404", "Nothing of that id, or not visible to you");
    }
    if admin && secured && path != "/admin/v1/me" {
        add("503", "The database did not answer; try again");
    }

    let Some(responses) = op["responses"].as_object_mut() else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        if response["description"].as_str().is_none_or(str::is_empty) {
            response["description"] = json!(default_description(status));
        }
        let is_error = status.starts_with('4') || status.starts_with('5');
        if is_error && response.get("content").is_none() && path != "/readyz" {
            response["content"] = json!({
                "application/json": { "schema": { "$ref": error } }
            });
        }
    }
}

fn default_description(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "204" => "Done; no content",
        "400" => "Malformed input",
        "401" => "Not authenticated",
        "403" => "Your role may not do this",
        "404" => "Nothing of that id, or not visible to you",
        "409" => "It conflicts with what exists",
        "413" => "Too large",
        "415" => "Unsupported media type",
        "422" => "A field is invalid; `field` names it",
        "429" => "Too many requests; see `Retry-After`",
        "502" => "No upstream answered",
        "503" => "Unavailable; try again",
        _ => "See the body",
    }
}

/// `(method, path template)` of every documented operation, for telling a wrong method (405)
/// from a wrong path (404).
pub fn operations() -> Vec<(String, String)> {
    let doc = document();
    let mut out = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in item.as_object().map(Map::keys).into_iter().flatten() {
                out.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// Whether `path` fits `template`, whose `{name}` segments match any one segment.
pub fn matches(template: &str, path: &str) -> bool {
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(t), Some(p)) if (t.starts_with('{') && !p.is_empty()) || t == p => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The bounds the document states are the ones the server checks: each documented
    /// number is compared with the constant the handler or the store enforces.
    #[test]
    fn documented_bounds_are_the_servers() {
        use freeway_wire::{auth, page, tenants, text};
        let doc = document();
        let schema = |name: &str, field: &str, key: &str| {
            doc["components"]["schemas"][name]["properties"][field][key].as_i64()
        };
        let as_i64 = |n: usize| i64::try_from(n).unwrap();
        let limit = doc["paths"]["/admin/v1/tenants"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap()["schema"]
            .clone();
        assert_eq!(limit["minimum"], 1);
        assert_eq!(limit["maximum"], page::MAX_LIMIT);
        for path in [
            "/admin/v1/tenants",
            "/admin/v1/tenants/{tenant}/members",
            "/admin/v1/tenants/{tenant}/members/{member}/keys",
            "/admin/v1/tokens",
        ] {
            let q = doc["paths"][path]["get"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == "q")
                .unwrap_or_else(|| panic!("{path} takes no q"))["schema"]
                .clone();
            assert_eq!(q["maxLength"], page::SEARCH_MAX_CHARS, "{path}");
            assert_eq!(q["minLength"], 1, "{path}");
        }
        for (name, field, max) in [
            ("NewTenant", "name", tenants::NAME_MAX_CHARS),
            ("TenantPatch", "name", tenants::NAME_MAX_CHARS),
            ("NewMember", "name", tenants::NAME_MAX_CHARS),
            ("NewMember", "email", tenants::EMAIL_MAX_CHARS),
            ("NewKey", "name", tenants::KEY_NAME_MAX_CHARS),
            ("NewToken", "name", auth::TOKEN_NAME_MAX_CHARS),
            ("PasswordChange", "new_password", auth::PASSWORD_MAX_CHARS),
        ] {
            assert_eq!(
                schema(name, field, "maxLength"),
                Some(as_i64(max)),
                "{name}.{field}"
            );
        }
        assert_eq!(
            doc["components"]["schemas"]["NewTenant"]["properties"]["name"]["pattern"],
            text::NAME_PATTERN
        );
        assert_eq!(
            schema("PasswordChange", "new_password", "minLength"),
            Some(as_i64(auth::PASSWORD_MIN_CHARS))
        );
        assert_eq!(
            schema("NewToken", "expires_in_days", "maximum"),
            Some(i64::from(auth::TOKEN_MAX_DAYS))
        );
        assert_eq!(
            schema("Rotate", "overlap_seconds", "maximum"),
            Some(tenants::MAX_OVERLAP_SECONDS)
        );
        assert_eq!(
            schema("NewProvider", "priority", "maximum"),
            Some(i64::from(super::super::pool::MAX_PRIORITY))
        );
        assert_eq!(
            doc["components"]["schemas"]["NewProvider"]["properties"]["base_url"]["pattern"],
            super::super::pool::BASE_URL_PATTERN
        );
    }

    #[test]
    fn time_zone_names_are_unique() {
        let zones = time_zones();
        let names = zones["x-enum-varnames"].as_array().unwrap();
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        assert_eq!(names.len(), zones["enum"].as_array().unwrap().len());
    }

    #[test]
    fn templates_match_one_segment_per_parameter() {
        assert!(matches("/admin/v1/tenants/{id}", "/admin/v1/tenants/abc"));
        assert!(!matches("/admin/v1/tenants/{id}", "/admin/v1/tenants/"));
        assert!(!matches("/admin/v1/tenants/{id}", "/admin/v1/tenants/a/b"));
        assert!(matches("/admin/v1/tenants", "/admin/v1/tenants"));
    }

    #[test]
    fn every_operation_has_a_unique_id_a_tag_a_summary_and_described_typed_answers() {
        let doc = document();
        let mut ids = std::collections::HashSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_string()), "{id} twice");
                let (resource, action) = id.rsplit_once('_').unwrap();
                assert!(!resource.is_empty() && !action.is_empty(), "{id}");
                assert!(op["tags"][0].is_string(), "{method} {path}: no tag");
                assert!(op["summary"].is_string(), "{method} {path}: no summary");
                for (status, response) in op["responses"].as_object().unwrap() {
                    assert!(
                        response["description"]
                            .as_str()
                            .is_some_and(|d| !d.is_empty()),
                        "{method} {path} {status}: no description"
                    );
                    if status != "204" && !(path == "/readyz" && status == "503") {
                        assert!(
                            response["content"].is_object(),
                            "{method} {path} {status}: no schema"
                        );
                    }
                }
            }
        }
        assert_eq!(ids.len(), operations().len());
    }
}
