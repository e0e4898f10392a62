//! Model discovery: the provider's own `GET /models`, called with one of its credentials,
//! beside the catalog.

use freeway::mock::MockUpstream;
use freeway_wire::discovery::DiscoveredModel;
use freeway_wire::page::List;
use reqwest::Method;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn discovery_lists_the_providers_models_sorted_and_marks_those_in_the_catalog() {
    // Arrange: mock0 serves mock-model (in the catalog) with credential `secret-0`.
    let app = spawn_app().await;
    let token = app.admin_token().await;
    app.mock(0).set_models(
        200,
        json!({"object": "list", "data": [
            {"id": "zeta-8b", "object": "model", "owned_by": "zeta"},
            {"id": "mock-model", "object": "model", "owned_by": "mock"},
            {"id": "alpha-70b", "object": "model"},
        ]}),
    );

    // Act
    let found: List<DiscoveredModel> = app
        .admin_ok(
            Method::GET,
            "/admin/v1/providers/mock0/discover",
            &token,
            None,
        )
        .await;

    // Assert
    let row = |id: &str, owned_by: Option<&str>, in_catalog| DiscoveredModel {
        id: id.into(),
        owned_by: owned_by.map(str::to_string),
        in_catalog,
    };
    assert_eq!(
        found.data,
        [
            row("alpha-70b", None, false),
            row("mock-model", Some("mock"), true),
            row("zeta-8b", Some("zeta"), false),
        ]
    );
    let asked = app.mock(0).requests();
    let asked = asked.last().unwrap();
    assert_eq!(
        (asked.method.as_str(), asked.path.as_str()),
        ("GET", "/v1/models")
    );
    assert_eq!(asked.header("authorization"), Some("Bearer secret-0"));

    // A credential named by id, and one the provider does not have.
    let credential = app.credential_row("mock0").await;
    let by_id: List<DiscoveredModel> = app
        .admin_ok(
            Method::GET,
            &format!("/admin/v1/providers/mock0/discover?credential_id={credential}"),
            &token,
            None,
        )
        .await;
    assert_eq!(by_id.data.len(), 3);
    let error = app
        .admin_err(
            Method::GET,
            &format!(
                "/admin/v1/providers/mock0/discover?credential_id={}",
                uuid::Uuid::new_v4()
            ),
            &token,
            None,
            404,
        )
        .await;
    assert_eq!(error.code, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn an_upstream_failure_is_a_502_and_a_provider_without_a_key_a_409() {
    let app = spawn_app().await;
    let token = app.admin_token().await;

    // The provider refuses: 502 with its status, never the secret it quoted.
    app.mock(0).set_models(
        401,
        json!({"error": {"message": "Invalid API key secret-0", "type": "auth"}}),
    );
    let error = app
        .admin_err(
            Method::GET,
            "/admin/v1/providers/mock0/discover",
            &token,
            None,
            502,
        )
        .await;
    assert_eq!(error.code, "upstream_failed");
    assert!(error.message.contains("HTTP 401"), "{}", error.message);
    assert!(!error.message.contains("secret-0"), "{}", error.message);
    // A 200 that is not a model list.
    app.mock(0).set_models(200, json!({"hello": "world"}));
    let error = app
        .admin_err(
            Method::GET,
            "/admin/v1/providers/mock0/discover",
            &token,
            None,
            502,
        )
        .await;
    assert_eq!(error.code, "upstream_failed");

    // Its only credential disabled: nothing to ask with.
    let credential = app.credential_row("mock0").await;
    let _: serde_json::Value = app
        .admin_ok(
            Method::PATCH,
            &format!("/admin/v1/providers/mock0/credentials/{credential}"),
            &token,
            Some(json!({"enabled": false})),
        )
        .await;
    let error = app
        .admin_err(
            Method::GET,
            "/admin/v1/providers/mock0/discover",
            &token,
            None,
            409,
        )
        .await;
    assert_eq!(error.code, "no_credential");

    // A keyless provider is asked without a key; its catalog is empty.
    let keyless = MockUpstream::start().await.unwrap();
    let _: serde_json::Value = app
        .admin_ok(
            Method::POST,
            "/admin/v1/providers",
            &token,
            Some(json!({"name": "local", "base_url": keyless.base_url(), "keyless": true})),
        )
        .await;
    let found: List<DiscoveredModel> = app
        .admin_ok(
            Method::GET,
            "/admin/v1/providers/local/discover",
            &token,
            None,
        )
        .await;
    assert_eq!(found.data.len(), 1);
    assert!(!found.data[0].in_catalog);
    assert_eq!(keyless.requests()[0].header("authorization"), None);
    app.stop().await;
}
