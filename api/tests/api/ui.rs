//! The admin UI in a real browser: headless Chromium loads the page the binary serves, runs
//! the WASM and renders the shell. `scripts/test.sh` installs Chromium and builds the UI.

use std::process::Command;

use crate::helpers::spawn_app;

fn chromium() -> String {
    std::env::var("FREEWAY_CHROMIUM")
        .ok()
        .filter(|p| !p.is_empty())
        .or_else(|| {
            [
                "/usr/bin/chromium",
                "/usr/bin/chromium-browser",
                "/usr/bin/google-chrome",
            ]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .map(String::from)
        })
        .expect(
            "Chromium not found: run scripts/test.sh, which installs it, or set FREEWAY_CHROMIUM",
        )
}

/// The DOM after the page's scripts ran.
fn rendered_dom(url: &str) -> String {
    let profile = std::env::temp_dir().join(format!("freeway-chromium-{}", uuid::Uuid::new_v4()));
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .expect("start Chromium");
    let _ = std::fs::remove_dir_all(profile);
    assert!(
        output.status.success(),
        "Chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn the_wasm_ui_renders_the_version_and_a_sign_in_form() {
    let app = spawn_app().await;
    let index = app.client.get(&app.address).send().await.unwrap();
    assert_eq!(index.status(), 200);
    let html = index.text().await.unwrap();
    assert!(
        html.contains("freeway_web.js"),
        "the UI is not built into this binary: run scripts/build-ui.sh, then rebuild"
    );
    // The served page itself carries no version: only the WASM app can have rendered it.
    assert!(!html.contains("data-testid=\"version\""));

    let address = app.address.clone();
    let dom = tokio::task::spawn_blocking(move || rendered_dom(&address))
        .await
        .unwrap();
    let expected = format!(
        "data-testid=\"version\">Version {}</p>",
        freeway_wire::VERSION
    );
    assert!(dom.contains(&expected), "version not rendered:\n{dom}");
    assert!(
        dom.contains("data-testid=\"login\""),
        "no sign-in section:\n{dom}"
    );
    assert!(dom.contains("type=\"password\""));
    app.stop().await;
}

#[tokio::test]
async fn ui_assets_have_their_content_types_and_unknown_paths_fall_back_to_the_app() {
    let app = spawn_app().await;
    let wasm = app
        .client
        .get(format!("{}/freeway_web_bg.wasm", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(wasm.status(), 200);
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    let deep = app
        .client
        .get(format!("{}/tenants/some/page", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(deep.status(), 200);
    assert!(deep.text().await.unwrap().contains("freeway_web.js"));
    let admin_unknown = app
        .client
        .get(format!("{}/admin/v1/nothing-here", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(admin_unknown.status(), 404);
    let spec: serde_json::Value = app
        .client
        .get(format!("{}/admin/v1/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["paths"]["/v1/chat/completions"].is_object());
    app.stop().await;
}

#[tokio::test]
async fn the_api_browser_is_served_by_the_binary_and_renders_the_document_offline() {
    let app = spawn_app().await;
    let page = app
        .client
        .get(format!("{}/admin/docs/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("cdn") && !html.contains("unpkg"),
        "no CDN: {html}"
    );
    let address = format!("{}/admin/docs/", app.address);
    let dom = tokio::task::spawn_blocking(move || rendered_dom(&address))
        .await
        .unwrap();
    // Swagger UI fetched /admin/v1/openapi.json and rendered its title and operations.
    assert!(
        dom.contains("Freeway"),
        "the document's title is not rendered:\n{}",
        &dom[..dom.len().min(3000)]
    );
    assert!(
        dom.contains("/v1/chat/completions"),
        "operations are not rendered"
    );
    app.stop().await;
}
