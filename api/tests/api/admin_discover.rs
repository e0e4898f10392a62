//! Model discovery: the provider's own `GET /models`, called with one of its credentials,
//! beside the catalog.

use freeway::mock::MockUpstream;
use freeway_wire::discovery::{
    CredentialDiscovery, DiscoveredModel, ListedModel, Unavailable, UnavailableCause,
};
use freeway_wire::page::List;
use freeway_wire::pool::{Modality, ModelView};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{chat_body, eventually, header, spawn_app};

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

/// mock0's catalog: mock-model and retired-model; its listing: mock-model and two new ones.
async fn listed_with_news(app: &crate::helpers::TestApp) {
    let provider = freeway::store::providers::find(&app.db, "mock0")
        .await
        .unwrap()
        .unwrap();
    crate::helpers::add_model(&app.db, &provider, "retired-model").await;
    app.mock(0).set_models(
        200,
        json!({"object": "list", "data": [
            {"id": "mock-model", "object": "model"},
            {"id": "qwen3-32b", "object": "model", "owned_by": "Alibaba", "context_window": 131072},
            {"id": "nomic-embed-text", "object": "model", "context_length": 8192},
        ]}),
    );
}

#[tokio::test]
async fn a_credentials_discovery_diffs_the_listing_against_the_catalog_and_benches_the_missing() {
    // Arrange
    let app = spawn_app().await;
    let token = app.admin_token().await;
    listed_with_news(&app).await;
    let credential = app.credential_row("mock0").await;

    // Act
    let found: CredentialDiscovery = app
        .admin_ok(
            Method::GET,
            &format!("/admin/v1/credentials/{credential}/discover"),
            &token,
            None,
        )
        .await;

    // Assert
    let listed = |id: &str, owned_by: Option<&str>, modality, context_window| ListedModel {
        id: id.into(),
        owned_by: owned_by.map(str::to_string),
        modality,
        context_window,
    };
    assert_eq!(
        found,
        CredentialDiscovery {
            provider: "mock0".into(),
            credential_id: credential,
            new: vec![
                listed("nomic-embed-text", None, Modality::Embedding, Some(8192)),
                listed("qwen3-32b", Some("Alibaba"), Modality::Chat, Some(131_072)),
            ],
            missing: vec!["retired-model".into()],
            known: vec!["mock-model".into()],
        }
    );
    let unavailable: List<Unavailable> = app
        .admin_ok(
            Method::GET,
            &format!("/admin/v1/credentials/{credential}/unavailable"),
            &token,
            None,
        )
        .await;
    assert_eq!(unavailable.data.len(), 1);
    assert_eq!(
        (
            unavailable.data[0].model.as_str(),
            unavailable.data[0].cause
        ),
        ("mock0/retired-model", UnavailableCause::Missing)
    );
    let app_ref = &app;
    eventually("the router skips the retired model", || async move {
        app_ref.chat(chat_body("retired-model")).await.status() != 200
    })
    .await;

    // Listed again: available again.
    app.mock(0).set_models(
        200,
        json!({"data": [{"id": "mock-model"}, {"id": "retired-model"}]}),
    );
    let again: CredentialDiscovery = app
        .admin_ok(
            Method::GET,
            &format!("/admin/v1/credentials/{credential}/discover"),
            &token,
            None,
        )
        .await;
    assert!(again.missing.is_empty(), "{again:?}");
    eventually("the retired model is served again", || async move {
        app_ref.chat(chat_body("retired-model")).await.status() == 200
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn discovered_models_added_with_inferred_capabilities_are_routable() {
    // Arrange
    let app = spawn_app().await;
    let token = app.admin_token().await;

    // Act
    let added: List<ModelView> = app
        .admin_ok(
            Method::POST,
            "/admin/v1/providers/mock0/discovered-models",
            &token,
            Some(json!({"models": ["qwen3-32b", "nomic-embed-text"], "context_window": 8192})),
        )
        .await;

    // Assert
    let summary: Vec<_> = added
        .data
        .iter()
        .map(|m| {
            (
                m.model_id.as_str(),
                m.modality,
                m.supports_tools,
                m.context_window,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("qwen3-32b", Modality::Chat, true, Some(8192)),
            ("nomic-embed-text", Modality::Embedding, false, Some(8192)),
        ]
    );
    let app_ref = &app;
    eventually("the new model is served", || async move {
        let response = app_ref.chat(chat_body("qwen3-32b")).await;
        response.status() == 200 && header(&response, "x-freeway-route") == "mock0/qwen3-32b"
    })
    .await;
    // One already in the catalog: a conflict, and nothing added.
    let error = app
        .admin_err(
            Method::POST,
            "/admin/v1/providers/mock0/discovered-models",
            &token,
            Some(json!({"models": ["brand-new", "mock-model"]})),
            409,
        )
        .await;
    assert_eq!(error.code, "conflict");
    let brand_new: i64 =
        sqlx::query_scalar("SELECT count(*) FROM models WHERE model_id = 'brand-new'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(brand_new, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_failing_discovery_is_reported_for_its_credential_and_changes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let token = app.admin_token().await;
    listed_with_news(&app).await;
    app.mock(0)
        .set_models(503, json!({"error": {"message": "overloaded"}}));
    let credential = app.credential_row("mock0").await;

    // Act
    let error = app
        .admin_err(
            Method::GET,
            &format!("/admin/v1/credentials/{credential}/discover"),
            &token,
            None,
            502,
        )
        .await;

    // Assert
    assert_eq!(error.code, "upstream_failed");
    assert!(
        error.message.contains(&credential.to_string()) && error.message.contains("HTTP 503"),
        "{}",
        error.message
    );
    let unavailable: List<Unavailable> = app
        .admin_ok(
            Method::GET,
            &format!("/admin/v1/credentials/{credential}/unavailable"),
            &token,
            None,
        )
        .await;
    assert!(unavailable.data.is_empty());
    let app_ref = &app;
    eventually("the retired model is still served", || async move {
        app_ref.chat(chat_body("retired-model")).await.status() == 200
    })
    .await;
    app.stop().await;
}
