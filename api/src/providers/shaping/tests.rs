//! Request shaping against the recorded fixtures of `api/tests/fixtures/shaping`: for each
//! built-in provider with rules, a request as a client sent it and the body the provider
//! must receive.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::providers::ModelInfo;
use crate::routing::pool::RouteSlots;
use crate::store::builtin;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/shaping");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    provider: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    request: Value,
    upstream: Value,
}

fn fixtures() -> Vec<(String, Fixture)> {
    let mut all: Vec<_> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let fixture = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, fixture)
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

#[test]
fn every_fixture_request_is_shaped_into_the_recorded_upstream_body() {
    let catalog = builtin::embedded().unwrap();
    for (file, fixture) in fixtures() {
        let provider = catalog.find(&fixture.provider).unwrap();
        let provider_rules = provider_rules(Some(provider));
        for case in fixture.cases {
            let model = case.request["model"].as_str().unwrap();
            let (limit, model_rules) = model_rules(Some(catalog), provider.id(), model);
            let rules = model_rules.or(provider_rules.clone());
            let Value::Object(mut body) = case.request else {
                panic!("{file}: {}: the request is not an object", case.name);
            };

            shape(&mut body, rules.as_deref(), limit);

            assert_eq!(Value::Object(body), case.upstream, "{file}: {}", case.name);
        }
    }
}

#[test]
fn every_built_in_provider_with_rules_has_a_fixture() {
    let covered: BTreeSet<String> = fixtures().into_iter().map(|(_, f)| f.provider).collect();
    let shaped: BTreeSet<String> = builtin::embedded()
        .unwrap()
        .providers
        .iter()
        .filter(|p| !p.shaping.is_empty())
        .map(|p| p.id().to_string())
        .collect();
    assert_eq!(covered, shaped);
}

fn route(rules: Option<Shaping>, max_output_tokens: Option<u64>) -> Route {
    let slots = RouteSlots {
        route: 0,
        credential: None,
        provider: 0,
        model: 0,
    };
    let info = ModelInfo {
        max_output_tokens,
        ..ModelInfo::chat(Uuid::new_v4())
    };
    let mut route = Route::detached("p", "m", info, slots);
    if let Some(rules) = rules {
        let provider = (*route.provider).clone();
        route.provider = Arc::new(provider.with_shaping(&rules, Some(Arc::new(rules.clone()))));
    }
    route
}

#[test]
fn a_route_without_rules_gets_the_same_bytes_back() {
    let body = br#"{"model":"m","messages":[],"logprobs":true}"#.to_vec();
    let at = body.as_ptr();

    let sent = shape_body(&route(None, None), body);

    assert_eq!(sent.as_ptr(), at);
}

#[test]
fn max_tokens_is_lowered_to_the_model_output_limit() {
    let body = serde_json::to_vec(&json!({"model": "m", "max_tokens": 65536})).unwrap();

    let sent = shape_body(&route(None, Some(32768)), body);

    let sent: Value = serde_json::from_slice(&sent).unwrap();
    assert_eq!(sent["max_tokens"], 32768);
}

#[test]
fn json_schema_is_downgraded_where_only_json_object_is_supported() {
    let rules = Shaping {
        response_format: ResponseFormat::JsonObjectOnly,
        ..Shaping::default()
    };
    let body = json!({"model": "m", "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}});

    let sent = shape_body(
        &route(Some(rules), None),
        serde_json::to_vec(&body).unwrap(),
    );

    let sent: Value = serde_json::from_slice(&sent).unwrap();
    assert_eq!(sent["response_format"], json!({"type": "json_object"}));
}

#[test]
fn a_model_overrides_only_the_keys_it_sets() {
    let provider = Shaping {
        drop: vec!["logprobs".into()],
        max_tokens_ceiling: Some(1000),
        first_byte_timeout_ms: Some(5),
        ..Shaping::default()
    };
    let model = Shaping {
        max_tokens_ceiling: Some(10),
        ..Shaping::default()
    };

    let merged = provider.overridden_by(&model);

    assert_eq!(merged.drop, ["logprobs"]);
    assert_eq!(merged.max_tokens_ceiling, Some(10));
    assert_eq!(merged.first_byte_timeout_ms, Some(5));
}

#[test]
fn catalog_timeouts_replace_the_provider_timeout() {
    let rules = Shaping {
        first_byte_timeout_ms: Some(180_000),
        ..Shaping::default()
    };

    let route = route(Some(rules), None);

    assert_eq!(
        route.provider.first_byte,
        std::time::Duration::from_secs(180)
    );
    assert_eq!(route.provider.stall, route.provider.timeout);
}
