//! Bulk credential import (`freeway credential import`, `POST /admin/v1/credentials/import`):
//! a `.env` of keys over several providers, with a duplicate, an unknown name and a key that
//! fails its test, previewed and then imported in one command; secrets never reach the
//! audit log or the logs.

use freeway::crypto::{Keyring, Secret};
use freeway::mock::{Behavior, MockUpstream};
use freeway::store::Cursor;
use freeway::store::providers;
use freeway_wire::pool::{ImportReport, ImportStatus};
use reqwest::Method;
use serde_json::json;

use crate::cli::{Served, run};
use crate::helpers::{TestApp, add_credential, http, spawn_app};

/// Ten good keys over seven providers, then trouble: a key already in the file, one already
/// stored, a name no provider has, and a key its provider refuses. All obviously fake.
const ENV: &str = "# Free-tier keys\n\
GROQ_API_KEY=gsk_fake_import_0001\n\
GROQ_API_KEY_2=gsk_fake_import_0002\n\
GEMINI_API_KEYS=AIza_fake_import_0003,AIza_fake_import_0004\n\
export GITHUB_TOKEN=\"ghp_fake_import_0005\"\n\
OPENROUTER_API_KEY=sk-or-fake-import-0006\n\
NVIDIA_API_KEY=nvapi-fake-import-0007\n\
COHERE_API_KEY=co_fake_import_0008\n\
CEREBRAS_API_KEY=csk-fake-import-0009\n\
GOOGLE_API_KEY=AIza_fake_import_0010\n\
GROQ_API_KEY_3=gsk_fake_import_0001\n\
CEREBRAS_API_KEY_2=csk-fake-import-stored\n\
ACME_API_KEY=acme_fake_import_0011\n\
MISTRAL_API_KEY=mistral_fake_import_0012\n";

/// Every secret of [`ENV`], to look for where none may be.
const SECRETS: &[&str] = &[
    "gsk_fake_import_0001",
    "gsk_fake_import_0002",
    "AIza_fake_import_0003",
    "AIza_fake_import_0004",
    "ghp_fake_import_0005",
    "sk-or-fake-import-0006",
    "nvapi-fake-import-0007",
    "co_fake_import_0008",
    "csk-fake-import-0009",
    "AIza_fake_import_0010",
    "csk-fake-import-stored",
    "acme_fake_import_0011",
    "mistral_fake_import_0012",
];

/// Points the built-in providers at the app's mock (which answers), and Mistral at one
/// that refuses every key (marked edited, so that the CLI's catalog seeding keeps them);
/// stores one Cerebras key in advance.
async fn arrange(app: &TestApp) -> MockUpstream {
    let refusing = MockUpstream::start().await.unwrap();
    refusing.set_default(Behavior::status(401));
    sqlx::query("UPDATE providers SET base_url = $1, edited = true WHERE name <> 'mistral'")
        .bind(app.mock(0).base_url())
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE providers SET base_url = $1, edited = true WHERE name = 'mistral'")
        .bind(refusing.base_url())
        .execute(&app.db)
        .await
        .unwrap();
    let cerebras = providers::list(&app.db, Cursor::ALL)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == "cerebras")
        .unwrap();
    let keyring = Keyring::load_file(&app.key_file).unwrap();
    add_credential(
        &app.db,
        &keyring,
        &cerebras,
        &Secret::new("csk-fake-import-stored"),
    )
    .await;
    refusing
}

async fn credential_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM credentials")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn audit_text(app: &TestApp) -> String {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT concat_ws(' ', actor, action, target_kind, target_id::text, before::text, \
         after::text) FROM audit_log",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    rows.join("\n")
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} contains {secret}:\n{text}");
    }
}

fn statuses(report: &ImportReport) -> Vec<(String, ImportStatus)> {
    report
        .entries
        .iter()
        .map(|e| (e.source.clone(), e.status))
        .collect()
}

#[tokio::test]
async fn a_dot_env_with_ten_keys_imports_in_one_command() {
    // Arrange
    let app = spawn_app().await;
    let _refusing = arrange(&app).await;
    let before = credential_count(&app).await;
    let dir = app.key_file.parent().unwrap().to_path_buf();
    let file = dir.join("keys.env");
    std::fs::write(&file, ENV).unwrap();
    let env = [
        ("DATABASE_URL", app.database_url.as_str()),
        ("FREEWAY_MASTER_KEY_FILE", app.key_file.to_str().unwrap()),
        ("RUST_LOG", "debug"),
    ];

    // Act: a preview, then the import.
    let preview = run(
        &["credential", "import", file.to_str().unwrap(), "--dry-run"],
        &env,
        None,
    )
    .await;
    let after_preview = credential_count(&app).await;
    let imported = run(
        &["credential", "import", file.to_str().unwrap(), "--yes"],
        &env,
        None,
    )
    .await;

    // Assert
    assert!(
        preview.status.success(),
        "{}{}",
        preview.stdout,
        preview.stderr
    );
    assert_eq!(after_preview, before, "a preview stores nothing");
    let line = |source: &str| {
        preview
            .stdout
            .lines()
            .find(|l| l.contains(source))
            .unwrap_or_else(|| panic!("no {source} in {}", preview.stdout))
            .to_string()
    };
    assert!(line("GROQ_API_KEY_2").contains("groq") && line("GROQ_API_KEY_2").contains("…0002"));
    assert!(
        line("GROQ_API_KEY_2").contains("\tnew"),
        "{}",
        preview.stdout
    );
    assert!(line("GROQ_API_KEY_3").contains("\tduplicate"));
    assert!(line("CEREBRAS_API_KEY_2").contains("\tduplicate"));
    assert!(line("ACME_API_KEY").contains("\tunknown"));
    assert!(line("MISTRAL_API_KEY").contains("\ttest_failed"));
    assert!(preview.stdout.contains("Nothing imported."));

    assert!(
        imported.status.success(),
        "{}{}",
        imported.stdout,
        imported.stderr
    );
    assert!(
        imported.stdout.contains("Imported 10 credential(s)."),
        "{}",
        imported.stdout
    );
    assert_eq!(credential_count(&app).await, before + 10);
    let names: Vec<String> =
        sqlx::query_scalar("SELECT c.name FROM credentials c JOIN providers p ON p.id = c.provider_id WHERE p.name = 'gemini' ORDER BY c.name")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        names,
        ["GEMINI_API_KEYS #1", "GEMINI_API_KEYS #2", "GOOGLE_API_KEY"]
    );
    let audit = audit_text(&app).await;
    assert_eq!(
        audit.matches("credential.create").count(),
        10 + 2,
        "{audit}"
    );
    assert_no_secret("the audit log", &audit);
    for output in [&preview, &imported] {
        assert_no_secret("the command's output", &output.stdout);
        assert_no_secret("the command's log", &output.stderr);
    }

    // A second run finds every key stored already.
    let again = run(
        &["credential", "import", file.to_str().unwrap(), "--yes"],
        &env,
        None,
    )
    .await;
    assert!(
        again.stdout.contains("Nothing imported."),
        "{}",
        again.stdout
    );
    assert_eq!(credential_count(&app).await, before + 10);
}

#[tokio::test]
async fn the_admin_api_previews_then_imports() {
    // Arrange
    let app = spawn_app().await;
    let _refusing = arrange(&app).await;
    let token = app.admin_token().await;
    let before = credential_count(&app).await;
    let path = "/admin/v1/credentials/import";

    // Act
    let preview: ImportReport = app
        .admin_ok(Method::POST, path, &token, Some(json!({"content": ENV})))
        .await;
    let stored_after_preview = credential_count(&app).await;
    let applied: ImportReport = app
        .admin_ok(
            Method::POST,
            path,
            &token,
            Some(json!({"content": ENV, "dry_run": false})),
        )
        .await;

    // Assert
    assert!(preview.dry_run);
    assert_eq!(preview.imported, 0);
    assert_eq!(stored_after_preview, before);
    let status = |report: &ImportReport, source: &str| {
        statuses(report)
            .into_iter()
            .find(|(s, _)| s == source)
            .map(|(_, st)| st)
    };
    assert_eq!(status(&preview, "GROQ_API_KEY"), Some(ImportStatus::New));
    assert_eq!(
        status(&preview, "GROQ_API_KEY_3"),
        Some(ImportStatus::Duplicate)
    );
    assert_eq!(
        status(&preview, "CEREBRAS_API_KEY_2"),
        Some(ImportStatus::Duplicate)
    );
    assert_eq!(
        status(&preview, "ACME_API_KEY"),
        Some(ImportStatus::Unknown)
    );
    assert_eq!(
        status(&preview, "MISTRAL_API_KEY"),
        Some(ImportStatus::TestFailed)
    );
    let mistral = preview
        .entries
        .iter()
        .find(|e| e.source == "MISTRAL_API_KEY")
        .unwrap();
    assert_eq!(mistral.last4, "0012");
    assert_eq!(mistral.test.as_ref().and_then(|t| t.status), Some(401));
    let preview_text = serde_json::to_string(&preview).unwrap();
    assert_no_secret("the preview", &preview_text);

    assert!(!applied.dry_run);
    assert_eq!(applied.imported, 10);
    assert_eq!(credential_count(&app).await, before + 10);
    let ids: Vec<_> = applied
        .entries
        .iter()
        .filter_map(|e| e.credential_id)
        .collect();
    assert_eq!(ids.len(), 10);
    assert_no_secret("the answer", &serde_json::to_string(&applied).unwrap());
    assert_no_secret("the audit log", &audit_text(&app).await);

    // Untested, the refused key goes in too.
    let untested: ImportReport = app
        .admin_ok(
            Method::POST,
            path,
            &token,
            Some(json!({"content": "MISTRAL_API_KEY=mistral_fake_import_0012", "dry_run": false, "test": false})),
        )
        .await;
    assert_eq!(untested.imported, 1);
    assert!(untested.entries[0].test.is_none());
}

#[tokio::test]
async fn a_file_that_cannot_be_read_imports_nothing() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let before = credential_count(&app).await;

    let error = app
        .admin_err(
            Method::POST,
            "/admin/v1/credentials/import",
            &token,
            Some(json!({"content": "GROQ_API_KEY=gsk_fake_import_0001\nthis line is no pair\n", "dry_run": false, "test": false})),
            422,
        )
        .await;
    let cli = run(
        &["credential", "import", "-", "--yes", "--skip-test"],
        &[
            ("DATABASE_URL", app.database_url.as_str()),
            ("FREEWAY_MASTER_KEY_FILE", app.key_file.to_str().unwrap()),
        ],
        Some("[{\"provider\": \"groq\", \"key\": \"gsk_fake_import_0001\"}, {\"provider\": \"groq\"}]"),
    )
    .await;

    assert!(error.message.contains("line 2"), "{}", error.message);
    assert!(!cli.status.success());
    assert!(cli.stderr.contains("entry 2"), "{}", cli.stderr);
    assert_no_secret("the error", &cli.stderr);
    assert_eq!(credential_count(&app).await, before);
}

#[tokio::test]
async fn a_served_import_logs_no_key() {
    // Arrange: `freeway serve` on the app's database, logging everything.
    let app = spawn_app().await;
    let _refusing = arrange(&app).await;
    let jwt = app.admin_token().await;
    let (_, created) = app
        .admin(
            Method::POST,
            "/admin/v1/tokens",
            Some(&jwt),
            Some(json!({"name": "import", "expires_in_days": 1})),
        )
        .await;
    let token = created["token"].as_str().unwrap().to_string();
    let served = Served::start(&app.database_url, &app.key_file, &[("RUST_LOG", "debug")]).await;

    // Act
    let response = http()
        .post(format!("{}/admin/v1/credentials/import", served.address))
        .bearer_auth(&token)
        .json(&json!({"content": ENV, "dry_run": false}))
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(response.status(), 200);
    let report: ImportReport = response.json().await.unwrap();
    assert_eq!(report.imported, 10);
    let logs = served.logs();
    assert!(logs.contains("credentials/import"), "{logs}");
    assert_no_secret("the server's log", &logs);
    assert_no_secret("the audit log", &audit_text(&app).await);
}
