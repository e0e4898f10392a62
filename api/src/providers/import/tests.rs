#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

fn known() -> Vec<String> {
    [
        "groq",
        "gemini",
        "github",
        "cloudflare",
        "nvidia",
        "ollama-cloud",
    ]
    .map(String::from)
    .to_vec()
}

fn summary(entries: &[Entry]) -> Vec<(String, Option<String>, String)> {
    entries
        .iter()
        .map(|e| {
            (
                e.at.clone(),
                e.provider.clone(),
                e.secret.expose().to_string(),
            )
        })
        .collect()
}

#[test]
fn env_var_names_map_to_the_pools_providers() {
    let k = known();
    let p = |v: &str| provider_for_var(v, &k);
    assert_eq!(p("GROQ_API_KEY").as_deref(), Some("groq"));
    assert_eq!(p("GROQ_API_KEY_2").as_deref(), Some("groq"));
    assert_eq!(p("GROQ_API_KEY3").as_deref(), Some("groq"));
    assert_eq!(p("GROQ_API_KEYS").as_deref(), Some("groq"));
    assert_eq!(p("GEMINI_API_KEY").as_deref(), Some("gemini"));
    assert_eq!(p("GOOGLE_API_KEY").as_deref(), Some("gemini"));
    assert_eq!(p("GITHUB_TOKEN").as_deref(), Some("github"));
    assert_eq!(p("CF_API_TOKEN").as_deref(), Some("cloudflare"));
    assert_eq!(p("NVIDIA_API_KEY").as_deref(), Some("nvidia"));
    assert_eq!(p("OLLAMA_CLOUD_API_KEY").as_deref(), Some("ollama-cloud"));
    assert_eq!(p("OLLAMA_API_KEY").as_deref(), Some("ollama-cloud"));
    // Not in the pool, or not a key at all.
    assert_eq!(p("MISTRAL_API_KEY"), None);
    assert_eq!(p("DATABASE_URL"), None);
    assert_eq!(provider_named("Google", &k).as_deref(), Some("gemini"));
    assert_eq!(provider_named("groq", &k).as_deref(), Some("groq"));
}

#[test]
fn a_forgiving_env_file_is_read_line_by_line() {
    let text = "# keys\n\
        export GROQ_API_KEY=\"gsk_fake_one\"\n\
        GROQ_API_KEY_2=gsk_fake_two # second account\n\
        GEMINI_API_KEYS=AIza_fake_a, AIza_fake_b\n\
        \n\
        CF_API_TOKEN='cf_fake_token'\n\
        CLOUDFLARE_ACCOUNT_ID=acct123\n\
        SOMETHING_ELSE=value123\n";
    let entries = parse(text, Format::Env, &known()).unwrap();
    let s =
        |at: &str, p: Option<&str>, k: &str| (at.to_string(), p.map(String::from), k.to_string());
    assert_eq!(
        summary(&entries),
        vec![
            s("line 2", Some("groq"), "gsk_fake_one"),
            s("line 3", Some("groq"), "gsk_fake_two"),
            s("line 4", Some("gemini"), "AIza_fake_a"),
            s("line 4", Some("gemini"), "AIza_fake_b"),
            s("line 6", Some("cloudflare"), "acct123:cf_fake_token"),
            s("line 8", None, "value123"),
        ]
    );
    assert_eq!(entries[0].name, "GROQ_API_KEY");
    assert_eq!(entries[3].name, "GEMINI_API_KEYS #2");
    assert!(entries.iter().all(|e| e.problem.is_none()));
}

#[test]
fn cloudflare_without_an_account_and_empty_keys_are_reported() {
    let entries = parse(
        "CF_API_TOKEN=tok_fake\nGROQ_API_KEY=\n",
        Format::Env,
        &known(),
    )
    .unwrap();
    assert!(
        entries[0]
            .problem
            .as_deref()
            .unwrap()
            .contains("account_id")
    );
    assert_eq!(entries[1].problem.as_deref(), Some("The key is empty."));
}

#[test]
fn malformed_files_name_the_line_or_entry() {
    let k = known();
    let e = |t: &str, f| parse(t, f, &k).err().unwrap().to_string();
    assert_eq!(
        e("GROQ_API_KEY=a\nnot a pair\n", Format::Env),
        "line 2: expected NAME=value"
    );
    assert_eq!(
        e("A=\"open\n", Format::Env),
        "line 1: unterminated \" quote"
    );
    assert_eq!(
        e("BAD-NAME=x", Format::Env),
        "line 1: the variable's name is not a valid name"
    );
    assert!(e("{\"groq\": [1]}", Format::Json).starts_with("entry \"groq\""));
    assert!(e("[{\"provider\": \"groq\"}]", Format::Json).starts_with("entry 1:"));
    assert!(e("{\n\"groq\": \n", Format::Json).starts_with("line 3: not valid JSON"));
    assert_eq!(
        e("provider,key\ngroq,a,b\n", Format::Csv),
        "line 2: 3 field(s), the header has 2"
    );
    assert_eq!(
        e("name,secret\n", Format::Csv),
        "line 1: the header must name `provider` and `key`"
    );
}

#[test]
fn json_and_csv_shapes_are_read() {
    let k = known();
    let map = parse(
        r#"{"groq": ["k_fake_1", "k_fake_2"], "GEMINI_API_KEY": "k_fake_3", "acme": "k_fake_4"}"#,
        Format::Json,
        &k,
    )
    .unwrap();
    let providers: Vec<_> = map.iter().map(|e| e.provider.clone()).collect();
    assert_eq!(
        providers,
        // Keys in the object's order as serde_json keeps it: sorted.
        vec![
            Some("gemini".into()),
            None,
            Some("groq".into()),
            Some("groq".into()),
        ]
    );
    let list = parse(
        r#"[{"provider": "github", "key": "ghp_fake_key", "name": "alice"}]"#,
        Format::Json,
        &k,
    )
    .unwrap();
    assert_eq!(list[0].name, "alice");
    assert_eq!(list[0].provider.as_deref(), Some("github"));
    let csv = parse(
        "name,provider,key\n\"bob, the admin\",groq,gsk_fake_9\nx,GOOGLE,AIza_fake\n",
        Format::Csv,
        &k,
    )
    .unwrap();
    assert_eq!(csv[0].name, "bob, the admin");
    assert_eq!(csv[1].provider.as_deref(), Some("gemini"));
    assert_eq!(csv[1].at, "line 3");
}

#[test]
fn formats_are_detected() {
    assert_eq!(Format::detect(Some("keys.json"), ""), Format::Json);
    assert_eq!(Format::detect(Some(".env"), "{"), Format::Env);
    assert_eq!(Format::detect(None, " [{}]"), Format::Json);
    assert_eq!(Format::detect(None, "provider,key\n"), Format::Csv);
    assert_eq!(
        Format::detect(Some("keys.txt"), "GROQ_API_KEY=x"),
        Format::Env
    );
}

#[test]
fn every_alias_names_a_built_in_provider() {
    for (alias, provider) in ALIASES {
        assert!(
            crate::store::builtin::find(provider).is_some(),
            "{alias} maps to {provider}, which the catalog does not have"
        );
    }
}

#[test]
fn only_plural_key_names_hold_several_keys() {
    let entries = parse(
        "GROQ_API_TOKENS=gsk_fake_a gsk_fake_b\nMY_ADDRESS=a,b\n",
        Format::Env,
        &known(),
    )
    .unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[2].secret.expose(), "a,b");
}
