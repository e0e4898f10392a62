//! The whole admin flow through plain HTTP, only with operations the OpenAPI document
//! describes, every answer read as its `freeway-wire` type: log in, create a tenant, a member,
//! an api key and a quota, call `/v1` with the key, hit the quota, read the usage back and
//! revoke the key.

use freeway_wire::auth::LoginResponse;
use freeway_wire::tenants::{CreatedKey, KeyView, MemberView, QuotaScope, QuotaView, TenantView};
use freeway_wire::usage::{AttemptOutcome, RequestEntry, UsageSummary};
use freeway_wire::{OpenAiErrorEnvelope, Page};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{chat_body, spawn_app};

/// Asserts that the document describes `method path` (a path template).
fn documented(doc: &Value, method: &str, template: &str) {
    assert!(
        doc["paths"][template][method]["operationId"].is_string(),
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
    let login: LoginResponse = serde_json::from_value(login).unwrap();
    assert!(login.must_change_password);
    let token = login.access_token.as_str();

    documented(&doc, "post", "/admin/v1/tenants");
    let tenant: TenantView = app
        .admin_ok(
            Method::POST,
            "/admin/v1/tenants",
            token,
            Some(json!({"name": "research"})),
        )
        .await;
    assert_eq!(tenant.name, "research");
    let tenant_id = tenant.id;

    documented(&doc, "post", "/admin/v1/tenants/{tenant}/members");
    let member: MemberView = app
        .admin_ok(
            Method::POST,
            &format!("/admin/v1/tenants/{tenant_id}/members"),
            token,
            Some(json!({"name": "bea"})),
        )
        .await;
    let member_id = member.id;
    let member_path = format!("/admin/v1/tenants/{tenant_id}/members/{member_id}");

    // The quota first: once the key works, the reload that brought it brought the quota too.
    documented(
        &doc,
        "put",
        "/admin/v1/tenants/{tenant}/members/{member}/quota",
    );
    let quota: QuotaView = app
        .admin_ok(
            Method::PUT,
            &format!("{member_path}/quota"),
            token,
            Some(json!({"rpm": 2})),
        )
        .await;
    assert_eq!(
        (quota.scope, quota.scope_id, quota.rpm),
        (QuotaScope::Member, member_id, Some(2))
    );

    documented(
        &doc,
        "post",
        "/admin/v1/tenants/{tenant}/members/{member}/keys",
    );
    let key: CreatedKey = app
        .admin_ok(
            Method::POST,
            &format!("{member_path}/keys"),
            token,
            Some(json!({"name": "laptop"})),
        )
        .await;
    let api_key = key.key.clone();
    assert!(api_key.starts_with(&key.info.prefix));
    // The secret is shown once: reading the key back gives its prefix only.
    let (_, again) = app
        .admin(
            Method::GET,
            &format!("{member_path}/keys/{}", key.info.id),
            Some(token),
            None,
        )
        .await;
    assert!(again.get("key").is_none(), "{again}");
    let again: KeyView = serde_json::from_value(again).unwrap();
    assert_eq!(again, key.info);

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
    let refused: OpenAiErrorEnvelope = refused.json().await.unwrap();
    assert_eq!(refused.error.code, "quota_exceeded");

    // Two served requests and one refusal, read back from the admin API.
    crate::helpers::eventually("the member's three usage events", || {
        let db = app.db.clone();
        async move {
            let n: i64 =
                sqlx::query_scalar("SELECT count(*) FROM usage_events WHERE member_id = $1")
                    .bind(member_id)
                    .fetch_one(&db)
                    .await
                    .unwrap();
            n == 3
        }
    })
    .await;
    documented(&doc, "get", "/admin/v1/requests");
    let log: Page<RequestEntry> = app
        .admin_ok(
            Method::GET,
            &format!("/admin/v1/requests?member_id={member_id}"),
            token,
            None,
        )
        .await;
    assert_eq!(log.data.len(), 3, "{log:?}");
    let served: Vec<&RequestEntry> = log.data.iter().filter(|r| r.status == 200).collect();
    assert_eq!(served.len(), 2);
    assert!(served.iter().all(|r| {
        r.attempt_trail.last().map(|a| a.outcome) == Some(AttemptOutcome::Ok)
            && r.member_id == Some(member_id)
    }));

    documented(&doc, "get", "/admin/v1/usage/summary");
    let summary: UsageSummary = app
        .admin_ok(
            Method::GET,
            &format!("/admin/v1/usage/summary?member_id={member_id}"),
            token,
            None,
        )
        .await;
    assert_eq!(summary.total.requests, 3, "{summary:?}");
    assert_eq!(summary.total.prompt_tokens, 20, "{summary:?}");
    assert_eq!(summary.total.completion_tokens, 14, "{summary:?}");

    documented(
        &doc,
        "delete",
        "/admin/v1/tenants/{tenant}/members/{member}/keys/{id}",
    );
    let (status, _) = app
        .admin(
            Method::DELETE,
            &format!("{member_path}/keys/{}", key.info.id),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    crate::helpers::eventually("the revoked key to stop working", || {
        let request = app.chat_with_key(&api_key, chat_body("mock-model"));
        async move { request.await.status() == 401 }
    })
    .await;
    app.stop().await;
}
