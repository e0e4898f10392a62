//! Request shaping: a provider's catalog rules (`store::catalog::shaping`) applied to the
//! OpenAI-shaped body just before it is sent. A route with no rule and no output limit
//! gets its body back untouched, without parsing it.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::Route;
use crate::store::catalog::Catalog;
use crate::store::catalog::file::Provider;
use crate::store::catalog::shaping::{ResponseFormat, Setting, Shaping};

const MAX_TOKENS: [&str; 2] = ["max_tokens", "max_completion_tokens"];

impl Route {
    /// The rules for this route: the model's (its provider's, overridden) or the provider's.
    pub fn shaping(&self) -> Option<&Shaping> {
        self.info
            .shaping
            .as_deref()
            .or(self.provider.shaping.as_deref())
    }

    /// The most completion tokens this route's answer may have: a larger `max_tokens` is
    /// lowered to it in the body the route receives ([`shape_body`]).
    pub fn output_cap(&self) -> Option<u64> {
        output_cap(self.shaping(), self.info.max_output_tokens)
    }
}

/// The lower of a `max_tokens_ceiling` rule and a model's output limit.
fn output_cap(rules: Option<&Shaping>, limit: Option<u64>) -> Option<u64> {
    let ceiling = rules.and_then(|r| r.max_tokens_ceiling).map(u64::from);
    match (ceiling, limit) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The body `route` receives: `body` shaped by its rules and capped to its model's output
/// limit. Unchanged (the same bytes, nothing allocated) when neither applies.
pub fn shape_body(route: &Route, body: Vec<u8>) -> Vec<u8> {
    let rules = route.shaping();
    let limit = route.info.max_output_tokens;
    if rules.is_none() && limit.is_none() {
        return body;
    }
    let Ok(Value::Object(mut map)) = serde_json::from_slice(&body) else {
        return body;
    };
    if !shape(&mut map, rules, limit) {
        return body;
    }
    serde_json::to_vec(&map).unwrap_or(body)
}

/// Applies `rules` and the model's output `limit` to a request object; whether it changed.
pub fn shape(body: &mut Map<String, Value>, rules: Option<&Shaping>, limit: Option<u64>) -> bool {
    let mut changed = false;
    if let Some(rules) = rules {
        changed |= apply_rules(body, rules);
    }
    if let Some(cap) = output_cap(rules, limit) {
        for key in MAX_TOKENS {
            if let Some(value) = body.get_mut(key)
                && value.as_u64().is_some_and(|v| v > cap)
            {
                *value = Value::from(cap);
                changed = true;
            }
        }
    }
    changed
}

fn apply_rules(body: &mut Map<String, Value>, rules: &Shaping) -> bool {
    let mut changed = false;
    for key in &rules.drop {
        changed |= body.remove(key).is_some();
    }
    for (from, to) in &rules.rename {
        if let Some(value) = body.remove(from) {
            body.insert(to.clone(), value);
            changed = true;
        }
    }
    let has_tools = ["tools", "functions"].iter().any(|k| {
        body.get(*k)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    });
    if has_tools {
        for (key, setting) in &rules.set_when_tools {
            let value = match setting {
                Setting::Bool(b) => Value::Bool(*b),
                Setting::Integer(i) => Value::from(*i),
                Setting::Text(t) => Value::String(t.clone()),
            };
            if body.get(key) != Some(&value) {
                body.insert(key.clone(), value);
                changed = true;
            }
        }
    }
    changed |= response_format(body, rules.response_format);
    if let Some(floor) = rules.default_max_tokens
        && MAX_TOKENS
            .iter()
            .all(|k| body.get(*k).is_none_or(Value::is_null))
    {
        body.insert("max_tokens".into(), Value::from(floor));
        changed = true;
    }
    if rules.string_content
        && let Some(messages) = body.get_mut("messages").and_then(Value::as_array_mut)
    {
        for message in messages.iter_mut().filter_map(Value::as_object_mut) {
            changed |= stringify_content(message);
        }
    }
    if !rules.tool_schema_drop.is_empty()
        && let Some(tools) = body.get_mut("tools").and_then(Value::as_array_mut)
    {
        for tool in tools {
            if let Some(schema) = tool.pointer_mut("/function/parameters") {
                changed |= drop_schema_keys(schema, &rules.tool_schema_drop);
            }
        }
    }
    changed
}

fn response_format(body: &mut Map<String, Value>, rule: ResponseFormat) -> bool {
    let kind = body
        .get("response_format")
        .and_then(|f| f.get("type"))
        .and_then(Value::as_str);
    let replacement = match (rule, kind) {
        (ResponseFormat::Keep, _) | (_, None) => return false,
        (ResponseFormat::Drop, _) => return body.remove("response_format").is_some(),
        (ResponseFormat::JsonObjectOnly, Some("json_schema")) => json!({"type": "json_object"}),
        (ResponseFormat::JsonSchemaOnly, Some("json_object")) => json!({
            "type": "json_schema",
            "json_schema": {
                "name": "response",
                "schema": {"type": "object", "properties": {}, "additionalProperties": true},
            },
        }),
        _ => return false,
    };
    body.insert("response_format".into(), replacement);
    true
}

/// A message's content as one string: text parts joined by newlines, `null` as "".
fn stringify_content(message: &mut Map<String, Value>) -> bool {
    let text = match message.get("content") {
        Some(Value::Null) => String::new(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(s.as_str()),
                part => part.get("text").and_then(Value::as_str),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => return false,
    };
    message.insert("content".into(), Value::String(text));
    true
}

/// Removes `keys` from a JSON Schema at any depth; the names under `properties` are
/// property names, not keywords, and are kept.
fn drop_schema_keys(schema: &mut Value, keys: &[String]) -> bool {
    let mut changed = false;
    match schema {
        Value::Object(map) => {
            for key in keys {
                changed |= map.remove(key).is_some();
            }
            for (name, value) in map.iter_mut() {
                if name == "properties"
                    && let Value::Object(properties) = value
                {
                    for property in properties.values_mut() {
                        changed |= drop_schema_keys(property, keys);
                    }
                } else {
                    changed |= drop_schema_keys(value, keys);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                changed |= drop_schema_keys(item, keys);
            }
        }
        _ => {}
    }
    changed
}

/// A catalog provider's rules, when it has any.
pub(super) fn provider_rules(entry: Option<&Provider>) -> Option<Arc<Shaping>> {
    entry
        .map(|p| &p.shaping)
        .filter(|s| !s.is_empty())
        .map(|s| Arc::new(s.clone()))
}

/// A catalog model's output limit and its own rules (its provider's overridden), when the
/// catalog in force lists it.
pub(super) fn model_rules(
    catalog: Option<&Catalog>,
    provider: &str,
    model: &str,
) -> (Option<u64>, Option<Arc<Shaping>>) {
    let Some(provider) = catalog.and_then(|c| c.find(provider)) else {
        return (None, None);
    };
    let Some(entry) = provider.models.iter().find(|m| m.id() == model) else {
        return (None, None);
    };
    let rules = entry
        .shaping
        .as_ref()
        .map(|own| provider.shaping.overridden_by(own))
        .filter(|s| !s.is_empty())
        .map(Arc::new);
    (entry.max_output_tokens.map(u64::from), rules)
}

#[cfg(test)]
mod tests;
