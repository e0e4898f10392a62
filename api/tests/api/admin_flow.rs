//! The whole admin flow through plain HTTP, only with operations the OpenAPI document
//! describes: log in, create a tenant, a member, an api key and a quota, call `/v1` with the
//! key, hit the quota, and read the usage back.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{chat_body, spawn_app};

/// Asserts that the document describes `method path` (a path template).
fn documented(doc: &Value, method: &str, template: &str) {
    assert!(
        doc["paths"][template][method].is_object(),
        "{method} {template} is not in the OpenAPI document"
    );
}

#[tokio::test]
async fn log_in_create_a_tenant_member_key_and_quota_call_v1_and_read_the_usage_back() {
    let app = spawn_app().await;
    let (_, doc) = app
        .admin(Method::GET, "/admin/v1/openapi.json", None, None)
        .await;

    documented(&doc, "post", "/admin/v1/auth/login");
    let (username, password) = app.first_admin.clone().unwrap();
    let (status, login) = app
        .admin(
            Method::POST,
            "/admin/v1/auth/login",
            None,
            Some(json!({"username": username, "password": password})),
        )
        .await;
    assert_eq!(status, 200);
    let token = login["access_token"].as_str().unwrap().to_string();
    let token = Some(token.as_str());

    documented(&doc, "post", "/admin/v1/tenants");
    let (status, tenant) = app
        .admin(
            Method::POST,
            "/admin/v1/tenants",
            token,
            Some(json!({"name": "research"})),
        )
        .await;
    assert_eq!(status, 201, "{tenant}");
    let tenant_id = tenant["id"].as_str().unwrap().to_string();

    documented(&doc, "post", "/admin/v1/tenants/{tenant}/members");
    let (status, member) = app
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{tenant_id}/members"),
            token,
            Some(json!({"name": "bea"})),
        )
        .await;
    assert_eq!(status, 201, "{member}");
    let member_id = member["id"].as_str().unwrap().to_string();

    // The quota first: once the key works, the reload that brought it brought the quota too.
    documented(
        &doc,
        "put",
        "/admin/v1/tenants/{tenant}/members/{member}/quota",
    );
    let (status, quota) = app
        .admin(
            Method::PUT,
            &format!("/admin/v1/tenants/{tenant_id}/members/{member_id}/quota"),
            token,
            Some(json!({"rpm": 2})),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {quota}");

    documented(
        &doc,
        "post",
        "/admin/v1/tenants/{tenant}/members/{member}/keys",
    );
    let (status, key) = app
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{tenant_id}/members/{member_id}/keys"),
            token,
            Some(json!({"name": "laptop"})),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let api_key = key["key"].as_str().unwrap().to_string();

    // The running server picks the new key and quota up from Postgres notifications; until
    // then the key is unknown (401, recorded without a member).
    crate::helpers::eventually("the new key to work", || {
        let request = app.chat_with_key(&api_key, chat_body("mock-model"));
        async move { request.await.status() == 200 }
    })
    .await;
    assert_eq!(
        app.chat_with_key(&api_key, chat_body("mock-model"))
            .await
            .status(),
        200
    );
    let refused = app.chat_with_key(&api_key, chat_body("mock-model")).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "quota_exceeded");

    // Two served requests and one refusal, read back from the admin API.
    let member: uuid::Uuid = member_id.parse().unwrap();
    crate::helpers::eventually("the member's three usage events", || {
        let db = app.db.clone();
        async move {
            let n: i64 =
                sqlx::query_scalar("SELECT count(*) FROM usage_events WHERE member_id = $1")
                    .bind(member)
                    .fetch_one(&db)
                    .await
                    .unwrap();
            n == 3
        }
    })
    .await;
    documented(&doc, "get", "/admin/v1/requests");
    let (status, log) = app
        .admin(
            Method::GET,
            &format!("/admin/v1/requests?member_id={member_id}"),
            token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{log}");
    let rows = log["data"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{log}");
    assert_eq!(rows.iter().filter(|r| r["status"] == 200).count(), 2);
    assert!(rows.iter().all(|r| r.get("attempt_trail").is_some()));

    documented(&doc, "get", "/admin/v1/usage/summary");
    let (status, summary) = app
        .admin(
            Method::GET,
            &format!("/admin/v1/usage/summary?member_id={member_id}"),
            token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["total"]["requests"], 3, "{summary}");
    assert_eq!(summary["total"]["prompt_tokens"], 20, "{summary}");
    assert_eq!(summary["total"]["completion_tokens"], 14, "{summary}");
    app.stop().await;
}
