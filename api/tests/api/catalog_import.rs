//! Loading a newer provider catalog on a running server (`POST /admin/v1/catalog`,
//! `freeway catalog import`): the diff first, then one audited change every replica reloads;
//! signatures checked; bad input refused with nothing changed.

use freeway::crypto::signature;
use freeway::crypto::{Keyring, Secret};
use freeway::store::builtin::{CATALOG_VERSION, TEXT};
use freeway::store::providers;
use freeway_wire::catalog::{CatalogChange, CatalogChangeKind, CatalogDiff};
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::run;
use crate::helpers::{Spawn, TestApp, add_credential, eventually, spawn_with};

/// An app that trusts a key pair of the test's own; answers the private key.
async fn app_with_key() -> (TestApp, String) {
    let (private, public) = signature::generate();
    let app = spawn_with(Spawn {
        configure: Box::new(move |c| c.catalog_keys = public),
        ..Spawn::default()
    })
    .await;
    (app, private.to_string())
}

/// The built-in catalog as the next version, with `edit` applied to its text.
fn next_catalog(edit: impl FnOnce(String) -> String) -> String {
    let text = TEXT.replacen(
        &format!("\nversion = {CATALOG_VERSION}\n"),
        &format!("\nversion = {}\n", CATALOG_VERSION + 1),
        1,
    );
    edit(text)
}

/// Drops provider `id` and its models from a catalog's text.
fn without_provider(text: &str, id: &str) -> String {
    text.split("\n[[")
        .filter(|block| {
            !block.contains(&format!("\nid = \"{id}\"\n")) || !block.starts_with("provider]]")
        })
        .filter(|block| !block.contains(&format!("\nprovider = \"{id}\"\n")))
        .collect::<Vec<_>>()
        .join("\n[[")
}

const GROQ_8B_LIMITS: &str = "limits = { rpm = 30, rpd = 14400, tpm = 6000, tpd = 500000 }";

/// A new groq model, the 8B model's RPM raised, pollinations dropped.
fn changed_catalog() -> String {
    next_catalog(|text| {
        let text = text.replacen(
            GROQ_8B_LIMITS,
            "limits = { rpm = 45, rpd = 14400, tpm = 6000, tpd = 500000 }",
            1,
        );
        let text = without_provider(&text, "pollinations");
        format!(
            "{text}\n[[model]]\nprovider = \"groq\"\nid = \"llama-new\"\ncontext_window = 8192\n"
        )
    })
}

async fn post(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    app.admin(Method::POST, "/admin/v1/catalog", Some(token), Some(body))
        .await
}

fn signed(text: &str, private: &str, dry_run: bool) -> Value {
    json!({
        "catalog": text,
        "signature": signature::sign(text.as_bytes(), private).unwrap(),
        "dry_run": dry_run,
    })
}

fn find<'a>(changes: &'a [CatalogChange], id: &str) -> &'a CatalogChange {
    changes
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("{id} is not in {changes:?}"))
}

async fn model_rpm(app: &TestApp, model: &str) -> Option<i32> {
    sqlx::query_scalar(
        "SELECT m.rpm FROM models m JOIN providers p ON p.id = m.provider_id
         WHERE p.name = 'groq' AND m.model_id = $1",
    )
    .bind(model)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

async fn add_groq_credential(app: &TestApp) {
    let keyring = Keyring::load_file(&app.key_file).unwrap();
    let groq = providers::find(&app.db, "groq").await.unwrap().unwrap();
    add_credential(
        &app.db,
        &keyring,
        &groq,
        &Secret::new("gsk_test".to_string()),
    )
    .await;
}

async fn model_ids(app: &TestApp) -> Vec<String> {
    let body: Value = app
        .client
        .get(format!("{}/v1/models", app.address))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_dry_run_shows_the_diff_field_by_field_and_changes_nothing() {
    let (app, private) = app_with_key().await;
    let token = app.admin_token().await;

    let (status, body) = post(&app, &token, signed(&changed_catalog(), &private, true)).await;

    assert_eq!(status, 200, "{body}");
    let diff: CatalogDiff = serde_json::from_value(body).unwrap();
    assert_eq!(
        (diff.version, diff.active_version),
        (CATALOG_VERSION + 1, CATALOG_VERSION)
    );
    assert!(diff.dry_run && !diff.applied && diff.signature.verified);
    let changed = find(&diff.models, "groq/llama-3.1-8b-instant");
    assert_eq!(changed.change, CatalogChangeKind::Changed);
    assert_eq!(changed.fields.len(), 1, "{changed:?}");
    assert_eq!(
        (
            changed.fields[0].field.as_str(),
            &changed.fields[0].from,
            &changed.fields[0].to
        ),
        ("rpm", &json!(30), &json!(45))
    );
    assert_eq!(
        find(&diff.models, "groq/llama-new").change,
        CatalogChangeKind::Added
    );
    assert_eq!(
        find(&diff.providers, "pollinations").change,
        CatalogChangeKind::Removed
    );
    assert_eq!(
        find(&diff.models, "pollinations/flux").change,
        CatalogChangeKind::Removed
    );
    assert_eq!(model_rpm(&app, "llama-3.1-8b-instant").await, Some(30));
    app.stop().await;
}

#[tokio::test]
async fn a_change_to_request_shaping_alone_is_in_the_diff() {
    // Shaping has no column: only the catalog holds it, and the diff must still show it.
    let (app, private) = app_with_key().await;
    let token = app.admin_token().await;
    let text = next_catalog(|text| {
        text.replacen(
            "drop = [\"logprobs\", \"top_logprobs\", \"logit_bias\"]",
            "drop = [\"logprobs\", \"top_logprobs\", \"logit_bias\", \"top_k\"]",
            1,
        )
    });

    let (status, body) = post(&app, &token, signed(&text, &private, true)).await;

    assert_eq!(status, 200, "{body}");
    let diff: CatalogDiff = serde_json::from_value(body).unwrap();
    let groq = find(&diff.providers, "groq");
    assert_eq!(groq.change, CatalogChangeKind::Changed);
    assert_eq!(groq.fields.len(), 1, "{groq:?}");
    assert_eq!(groq.fields[0].field, "shaping");
    assert_eq!(
        groq.fields[0].from["drop"],
        json!(["logprobs", "top_logprobs", "logit_bias"])
    );
    assert_eq!(
        groq.fields[0].to["drop"],
        json!(["logprobs", "top_logprobs", "logit_bias", "top_k"])
    );
    assert!(diff.models.is_empty(), "{:?}", diff.models);
    app.stop().await;
}

#[tokio::test]
async fn an_applied_catalog_changes_the_running_servers_models() {
    let (app, private) = app_with_key().await;
    let token = app.admin_token().await;
    add_groq_credential(&app).await;
    eventually("groq's models are listed", async || {
        model_ids(&app)
            .await
            .contains(&"llama-3.1-8b-instant".to_string())
    })
    .await;
    assert!(!model_ids(&app).await.contains(&"llama-new".to_string()));

    let (status, body) = post(&app, &token, signed(&changed_catalog(), &private, false)).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["applied"], true, "{body}");
    eventually("the new model is served", async || {
        model_ids(&app).await.contains(&"llama-new".to_string())
    })
    .await;
    assert_eq!(model_rpm(&app, "llama-3.1-8b-instant").await, Some(45));
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'catalog.import'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(audited, 1);
    // The same catalog again is not newer than the active one.
    let (status, body) = post(&app, &token, signed(&changed_catalog(), &private, false)).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("stale_catalog"))
    );
    app.stop().await;
}

#[tokio::test]
async fn an_admin_edit_is_kept_across_an_import() {
    let (app, private) = app_with_key().await;
    let token = app.admin_token().await;
    sqlx::query("UPDATE models SET edited = true, rpm = 5 WHERE model_id = 'llama-3.1-8b-instant'")
        .execute(&app.db)
        .await
        .unwrap();

    let (status, body) = post(&app, &token, signed(&changed_catalog(), &private, false)).await;

    assert_eq!(status, 200, "{body}");
    let diff: CatalogDiff = serde_json::from_value(body).unwrap();
    let kept = find(&diff.models, "groq/llama-3.1-8b-instant");
    assert_eq!(kept.change, CatalogChangeKind::KeptEdit);
    assert_eq!(kept.fields[0].to, json!(45));
    assert_eq!(model_rpm(&app, "llama-3.1-8b-instant").await, Some(5));
    app.stop().await;
}

#[tokio::test]
async fn an_unsigned_catalog_is_refused_unless_forced() {
    let (app, _) = app_with_key().await;
    let token = app.admin_token().await;
    let text = changed_catalog();

    let (status, body) = post(&app, &token, json!({"catalog": text, "dry_run": false})).await;

    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "unsigned_catalog");
    assert_eq!(body["error"]["field"], "signature");
    assert_eq!(model_rpm(&app, "llama-3.1-8b-instant").await, Some(30));
    let forced = json!({"catalog": text, "dry_run": false, "force": true});
    let (status, body) = post(&app, &token, forced).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["signature"]["forced"], true);
    assert_eq!(model_rpm(&app, "llama-3.1-8b-instant").await, Some(45));
    app.stop().await;
}

#[tokio::test]
async fn a_signed_catalog_is_accepted_and_a_tampered_one_refused() {
    let (app, private) = app_with_key().await;
    let token = app.admin_token().await;
    let text = changed_catalog();
    let mut tampered = signed(&text, &private, false);
    tampered["catalog"] = json!(text.replacen("rpm = 45", "rpm = 4500", 1));

    let (status, body) = post(&app, &token, tampered).await;

    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "bad_signature");
    assert_eq!(model_rpm(&app, "llama-3.1-8b-instant").await, Some(30));
    let (status, body) = post(&app, &token, signed(&text, &private, false)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["signature"]["verified"], true);
    assert_eq!(model_rpm(&app, "llama-3.1-8b-instant").await, Some(45));
    app.stop().await;
}

#[tokio::test]
async fn a_provider_holding_credentials_cannot_be_removed() {
    let (app, private) = app_with_key().await;
    let token = app.admin_token().await;
    add_groq_credential(&app).await;
    let text = next_catalog(|text| without_provider(&text, "groq"));

    let (status, body) = post(&app, &token, signed(&text, &private, false)).await;

    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "provider_has_credentials");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("`groq`"), "{message}");
    assert!(providers::find(&app.db, "groq").await.unwrap().is_some());
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_wire_format_is_refused_naming_the_entry() {
    let (app, private) = app_with_key().await;
    let token = app.admin_token().await;
    let text = next_catalog(|text| {
        text.replacen(
            "key_url = \"https://console.groq.com/keys\"",
            "key_url = \"https://console.groq.com/keys\"\nwire = \"carrier-pigeon\"",
            1,
        )
    });

    let (status, body) = post(&app, &token, signed(&text, &private, false)).await;

    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_catalog");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("provider `groq`")
            && message.contains("carrier-pigeon")
            && message.contains("line "),
        "{message}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_cli_signs_and_imports_a_catalog_and_exits_2_on_a_bad_one() {
    let (app, _) = app_with_key().await;
    let dir = std::env::temp_dir().join(format!("freeway-catalog-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("team.key");
    let file = dir.join("catalog.toml");
    std::fs::write(&file, changed_catalog()).unwrap();
    let keygen = run(
        &["catalog", "keygen", "--out", key.to_str().unwrap()],
        &[],
        None,
    )
    .await;
    assert!(keygen.status.success(), "{}", keygen.stderr);
    let public = keygen.stdout.rsplit(' ').next().unwrap().trim().to_string();
    let sign = run(
        &[
            "catalog",
            "sign",
            file.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        &[],
        None,
    )
    .await;
    assert!(sign.status.success(), "{}", sign.stderr);
    let env = [
        ("DATABASE_URL", app.database_url.as_str()),
        ("FREEWAY_CATALOG_KEYS", public.as_str()),
    ];

    let import = run(
        &["catalog", "import", file.to_str().unwrap(), "--yes"],
        &env,
        None,
    )
    .await;

    assert!(
        import.status.success(),
        "{}{}",
        import.stdout,
        import.stderr
    );
    assert!(
        import.stdout.contains("+ groq/llama-new added"),
        "{}",
        import.stdout
    );
    assert!(import.stdout.contains("rpm 30 -> 45"), "{}", import.stdout);
    assert_eq!(model_rpm(&app, "llama-3.1-8b-instant").await, Some(45));
    std::fs::write(
        &file,
        "version = 99\n[[model]]\nprovider = \"nobody\"\nid = \"x\"\n",
    )
    .unwrap();
    let bad = run(
        &["catalog", "import", file.to_str().unwrap(), "--force"],
        &env,
        None,
    )
    .await;
    assert_eq!(bad.status.code(), Some(2), "{}", bad.stderr);
    assert!(
        bad.stderr.contains("line 4") && bad.stderr.contains("`nobody`"),
        "{}",
        bad.stderr
    );
    app.stop().await;
}
