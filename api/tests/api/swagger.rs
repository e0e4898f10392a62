//! The API browser at `/admin/docs/`, used as a person would in headless Chromium: authorize
//! with an admin token, "Try it out" on `GET /admin/v1/tenants`, "Execute". The request the
//! page sends must be that operation's (operation ids that are not unique make Swagger UI run
//! another operation) and must succeed.

use crate::contract::contract;
use crate::helpers::spawn_app;

#[tokio::test]
async fn swagger_ui_try_it_out_sends_the_operation_it_shows_and_gets_200() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let output = contract(
        "swagger.mjs (Swagger UI in headless Chromium)",
        &format!(
            "node scripts/contract/swagger.mjs {} \"$FREEWAY_CONTRACT_TOKEN\"",
            app.address
        ),
        &[("FREEWAY_CONTRACT_TOKEN", &token)],
    )
    .await;
    assert!(output.contains("SWAGGER UI PASSED"), "{output}");
    app.stop().await;
}
