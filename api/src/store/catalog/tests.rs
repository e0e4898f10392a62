//! The catalog file's reader: strict, and every refusal names its entry and line.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;

use super::file::{FileError, WireFormat, parse};

const ONE: &str = r#"
version = 7

[[provider]]
id = "acme"
name = "Acme"
base_url = "https://api.acme.test/v1/"
priority = 10
key_url = "https://acme.test/keys"

[[model]]
provider = "acme"
id = "acme-large"
context_window = 8192
tools = true
"#;

fn line_error(text: &str) -> (usize, String, String) {
    match parse(text) {
        Err(FileError::Entry {
            line,
            entry,
            message,
        }) => (line, entry, message),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_catalog_is_read_with_defaults_and_models_under_their_provider() {
    let catalog = parse(ONE).unwrap();

    assert_eq!(catalog.version, 7);
    let acme = catalog.find("acme").unwrap();
    assert_eq!(acme.base_url, "https://api.acme.test/v1");
    assert_eq!(
        (acme.timeout_ms, acme.daily_reset_tz.as_str()),
        (60_000, "UTC")
    );
    assert!(acme.free_tier && acme.seeded() && !acme.keyless);
    assert_eq!(acme.models.len(), 1);
    assert_eq!(acme.models[0].id(), "acme-large");
    assert!(acme.models[0].tools && acme.models[0].enabled);
    assert_eq!(acme.models[0].priority, 100);
}

#[test]
fn an_unknown_key_is_refused_with_its_line() {
    let text = ONE.replace("tools = true", "tools = true\ncolour = \"red\"");

    let Err(FileError::Syntax(message)) = parse(&text) else {
        panic!("accepted")
    };
    assert!(
        message.contains("line 16") && message.contains("colour"),
        "{message}"
    );
}

#[test]
fn a_model_of_an_unknown_provider_is_refused_naming_it() {
    let text = ONE.replace("provider = \"acme\"", "provider = \"acne\"");

    let (line, entry, message) = line_error(&text);

    assert_eq!(line, 13);
    assert_eq!(entry, "model `acme-large` of `acne`");
    assert!(message.contains("`acne`"), "{message}");
}

#[test]
fn an_unknown_wire_format_is_refused_naming_the_provider() {
    let text = ONE.replace("priority = 10", "priority = 10\nwire = \"carrier-pigeon\"");

    let (line, entry, message) = line_error(&text);

    assert_eq!((line, entry.as_str()), (5, "provider `acme`"));
    assert!(message.contains("carrier-pigeon"), "{message}");
}

#[test]
fn a_wire_format_freeway_cannot_speak_needs_the_unsupported_status() {
    let text = ONE.replace("priority = 10", "priority = 10\nwire = \"gemini\"");
    let (_, _, message) = line_error(&text);
    assert!(message.contains("unsupported_wire"), "{message}");

    let text = text.replace(
        "wire = \"gemini\"",
        "wire = \"gemini\"\nstatus = \"unsupported_wire\"",
    );
    let catalog = parse(&text).unwrap();
    assert!(!catalog.find("acme").unwrap().seeded());
    assert_eq!(catalog.seeded().count(), 0);
}

#[test]
fn duplicates_and_bad_values_are_refused() {
    let twice = format!("{ONE}\n[[model]]\nprovider = \"acme\"\nid = \"acme-large\"\n");
    assert!(line_error(&twice).2.contains("twice"));
    let bad_url = ONE.replace("https://api.acme.test/v1/", "ftp://acme");
    assert!(line_error(&bad_url).2.contains("base_url"));
    let embedding = ONE.replace("tools = true", "modality = \"embedding\"");
    assert!(line_error(&embedding).2.contains("family"));
    let limits = ONE.replace("tools = true", "limits = { rpm = 0 }");
    assert!(line_error(&limits).2.contains("limits.rpm"));
    assert!(matches!(parse("version = 0"), Err(FileError::Syntax(_))));
    assert!(matches!(parse("not toml ["), Err(FileError::Syntax(_))));
}

/// Every key the built-in file uses is in the JSON Schema beside it, whose enums are the
/// code's.
#[test]
fn the_schema_describes_the_file() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../../catalog/catalog.schema.json")).unwrap();
    let keys = |def: &str| -> BTreeSet<String> {
        schema["$defs"][def]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    let file: toml::Table = toml::from_str(super::super::builtin::TEXT).unwrap();
    let shaping = keys("shaping");
    for (table, def) in [("provider", "provider"), ("model", "model")] {
        let known = keys(def);
        for entry in file[table].as_array().unwrap() {
            let entry = entry.as_table().unwrap();
            for key in entry.keys() {
                assert!(known.contains(key), "{table}.{key} is not in the schema");
            }
            for key in entry
                .get("shaping")
                .map_or(vec![], |s| s.as_table().unwrap().keys().collect())
            {
                assert!(
                    shaping.contains(key),
                    "{table}.shaping.{key} is not in the schema"
                );
            }
        }
    }
    let wires: Vec<&str> = schema["$defs"]["provider"]["properties"]["wire"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(wires, WireFormat::ALL.map(|(name, _)| name));
}

/// The README's provider table lists every provider of the built-in file, in its order,
/// with its model count and key URL.
#[test]
fn the_readme_table_matches_the_built_in_catalog() {
    let readme = include_str!("../../../../README.md");
    let section = readme
        .split("\n## Built-in providers\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap();
    let rows: Vec<(String, String, String)> = section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (
                cells[1].trim_matches('`').to_string(),
                cells[3].to_string(),
                cells[5].to_string(),
            )
        })
        .collect();
    let catalog = super::super::builtin::embedded().unwrap();
    let expected: Vec<(String, String, String)> = catalog
        .providers
        .iter()
        .map(|p| {
            (
                p.id().to_string(),
                p.models.len().to_string(),
                p.key_url.clone(),
            )
        })
        .collect();
    assert_eq!(rows, expected);
    assert!(
        section.contains(&format!("version {}", catalog.version)),
        "the README names another catalog version"
    );
}

/// `ONE` with `[provider.shaping]` holding `rules`.
fn shaped(rules: &str) -> String {
    ONE.replace(
        "key_url = \"https://acme.test/keys\"\n",
        &format!("key_url = \"https://acme.test/keys\"\n\n[provider.shaping]\n{rules}\n"),
    )
}

#[test]
fn shaping_rules_are_read_per_provider_and_per_model() {
    let text = shaped("drop = [\"logprobs\"]\nrename = { seed = \"random_seed\" }")
        + "max_output_tokens = 4096\n\n[model.shaping]\nmax_tokens_ceiling = 400\n";

    let catalog = parse(&text).unwrap();

    let acme = catalog.find("acme").unwrap();
    assert_eq!(acme.shaping.drop, ["logprobs"]);
    assert_eq!(acme.shaping.rename["seed"], "random_seed");
    let model = &acme.models[0];
    assert_eq!(model.max_output_tokens, Some(4096));
    assert_eq!(
        model.shaping.as_ref().unwrap().max_tokens_ceiling,
        Some(400)
    );
}

#[test]
fn bad_shaping_rules_are_refused_naming_the_provider() {
    let unknown = shaped("strip = [\"x\"]");
    assert!(matches!(parse(&unknown), Err(FileError::Syntax(m)) if m.contains("strip")));
    let (_, entry, message) = line_error(&shaped("drop = [\"messages\"]"));
    assert_eq!(entry, "provider `acme`");
    assert!(message.contains("shaping.drop"), "{message}");
    let (_, _, message) = line_error(&shaped("first_byte_timeout_ms = 0"));
    assert!(message.contains("first_byte_timeout_ms"), "{message}");
    let per_model = format!("{ONE}\n[model.shaping]\nstall_timeout_ms = 1000\n");
    let (_, entry, message) = line_error(&per_model);
    assert_eq!(entry, "model `acme-large` of `acme`");
    assert!(message.contains("per provider"), "{message}");
}
