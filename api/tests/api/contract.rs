//! The OpenAPI document is a contract that real tools can use: it validates, clients
//! generated from it (Python, TypeScript) drive the whole admin flow against the real server,
//! and schemathesis finds no answer that disagrees with it. The tools are the pinned ones of
//! `scripts/contract` (installed into a cache by `tools.sh`, which each test calls first).

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs `command` with bash in the repository's root after sourcing
/// `scripts/contract/tools.sh` (which installs the tools when they are missing); returns
/// whether it succeeded and its output (stdout and stderr, interleaved), with what it was and
/// how long it took. A success's output is also printed (`--nocapture` shows it); a failure's
/// goes into the assertion message.
#[allow(clippy::print_stdout)]
pub async fn run<V: AsRef<OsStr>>(what: &str, command: &str, env: &[(&str, V)]) -> (bool, String) {
    let script = format!(
        "source scripts/contract/tools.sh >/dev/null && timeout --kill-after=10 900 {command} 2>&1"
    );
    let mut process = Command::new("bash");
    process
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(root());
    for (name, value) in env {
        process.env(name, value);
    }
    let started = std::time::Instant::now();
    let output = tokio::task::spawn_blocking(move || process.output())
        .await
        .unwrap()
        .expect("run bash");
    let verdict = if output.status.success() {
        "passed".to_string()
    } else {
        format!("FAILED ({})", output.status)
    };
    let text = format!(
        "{what} {verdict} after {:.0?}:\n{}{}",
        started.elapsed(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        println!("{text}");
    }
    (output.status.success(), text)
}

/// [`run`], asserting that the command succeeds; returns its output.
pub async fn contract<V: AsRef<OsStr>>(what: &str, command: &str, env: &[(&str, V)]) -> String {
    let (ok, text) = run(what, command, env).await;
    assert!(ok, "{text}");
    text
}

/// The first admin's username and one-time password, as the flows' environment.
fn flow_env(app: &TestApp) -> Vec<(&'static str, String)> {
    let (username, password) = app.first_admin.clone().unwrap();
    vec![
        ("FREEWAY_URL", app.address.clone()),
        ("FREEWAY_ADMIN_USER", username),
        ("FREEWAY_ADMIN_PASSWORD", password),
        ("FREEWAY_MODEL", "mock-model".into()),
    ]
}

/// No extra environment.
const NO_ENV: &[(&str, &str)] = &[];

#[tokio::test]
async fn the_committed_and_the_served_documents_validate_with_zero_errors() {
    let app = spawn_app().await;
    let (committed_ok, committed) = run(
        "openapi-spec-validator on openapi/openapi.json",
        "scripts/contract/validate.sh openapi/openapi.json",
        NO_ENV,
    )
    .await;
    let (served_ok, served) = run(
        "openapi-spec-validator on the served document",
        &format!(
            "scripts/contract/validate.sh {}/admin/v1/openapi.json",
            app.address
        ),
        NO_ENV,
    )
    .await;
    assert!(
        committed_ok
            && served_ok
            && committed.contains(": 0 error(s)")
            && served.contains(": 0 error(s)"),
        "{committed}\n{served}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_python_client_generated_from_the_document_drives_the_whole_admin_flow() {
    let app = spawn_app().await;
    let env = flow_env(&app);
    let output = contract(
        "flow.py (openapi-python-client + openai SDK)",
        r#""$FREEWAY_TOOLS_VENV/bin/python" scripts/contract/flow.py"#,
        &env,
    )
    .await;
    assert!(output.contains("FLOW PASSED"), "{output}");
    app.stop().await;
}

#[tokio::test]
async fn a_typescript_client_generated_from_the_document_type_checks_and_drives_the_flow() {
    let app = spawn_app().await;
    let env = flow_env(&app);
    let output = contract(
        "flow-ts.sh (openapi-typescript + tsc --strict + openapi-fetch)",
        "scripts/contract/flow-ts.sh",
        &env,
    )
    .await;
    assert!(output.contains("FLOW PASSED"), "{output}");
    app.stop().await;
}

#[tokio::test]
async fn schemathesis_finds_no_failure_with_an_instance_admin_token() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    contract(
        "schemathesis as the instance admin (JWT)",
        &format!(
            "scripts/contract/schemathesis.sh {} \"$FREEWAY_CONTRACT_TOKEN\"",
            app.address
        ),
        &[("FREEWAY_CONTRACT_TOKEN", &token)],
    )
    .await;
    // The whole run was made as the instance admin.
    let (status, me) = app
        .admin(Method::GET, "/admin/v1/me", Some(&token), None)
        .await;
    assert_eq!(
        (status, me["role"].as_str()),
        (200, Some("instance_admin")),
        "{me}"
    );
    app.stop().await;
}

#[tokio::test]
async fn schemathesis_finds_no_failure_with_a_members_token() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let (status, tenant) = app
        .admin(
            Method::POST,
            "/admin/v1/tenants",
            Some(&root),
            Some(json!({"name": "fuzzed"})),
        )
        .await;
    assert_eq!(status, 201, "{tenant}");
    let tenant_id: uuid::Uuid = tenant["id"].as_str().unwrap().parse().unwrap();
    let (status, member) = app
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{tenant_id}/members"),
            Some(&root),
            Some(json!({"name": "mia"})),
        )
        .await;
    assert_eq!(status, 201, "{member}");
    let member_id: uuid::Uuid = member["id"].as_str().unwrap().parse().unwrap();

    // The member signs in with an admin user of their own. Its JWT, not an `fwa-` token: the
    // stateful phase lists the caller's admin tokens and revokes them, which would turn the rest
    // of the run into 401s. (The flows use an `fwa-` token.)
    let password = "a long enough passphrase";
    let hash = freeway::admin::auth::hash_password(password).unwrap();
    freeway::store::admin_users::create(
        &app.db,
        "test",
        freeway::store::admin_users::NewAdminUser {
            username: "mia",
            password_hash: &hash,
            role: freeway_wire::auth::Role::Member,
            tenant_id: Some(tenant_id),
            member_id: Some(member_id),
            must_change_password: false,
        },
    )
    .await
    .unwrap();
    let token = app.login("mia", password).await;
    contract(
        "schemathesis as a member (JWT)",
        &format!(
            "scripts/contract/schemathesis.sh {} \"$FREEWAY_CONTRACT_TOKEN\"",
            app.address
        ),
        &[("FREEWAY_CONTRACT_TOKEN", &token)],
    )
    .await;
    let (status, me) = app
        .admin(Method::GET, "/admin/v1/me", Some(&token), None)
        .await;
    assert_eq!((status, me["role"].as_str()), (200, Some("member")), "{me}");
    app.stop().await;
}
