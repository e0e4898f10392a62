//! Tenants, members, api keys and quotas through `/admin/v1`: CRUD, validation, keys that
//! work on `/v1` until revoked or rotated, and who may do what.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, chat_body, eventually, spawn_app};

/// Calls the admin API and asserts the status; returns the body.
async fn expect(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let (got, json) = app.admin(method.clone(), path, Some(token), body).await;
    assert_eq!(got, status, "{method} {path}: {json}");
    if status >= 400 {
        assert!(
            json["error"]["code"].is_string(),
            "admin error shape: {json}"
        );
    }
    json
}

fn id(body: &Value) -> String {
    body["id"].as_str().unwrap().to_string()
}

/// An admin user of `role` in the app's tenant; returns their access token.
async fn login_as(app: &TestApp, username: &str, role: &str, member_id: Option<Uuid>) -> String {
    let password = "a long enough passphrase";
    let hash = freeway::admin::auth::hash_password(password).unwrap();
    freeway::store::admin_users::create(
        &app.db,
        "test",
        freeway::store::admin_users::NewAdminUser {
            username,
            password_hash: &hash,
            role: freeway_wire::auth::Role::parse(role).unwrap(),
            tenant_id: Some(app.tenant.id),
            member_id,
            must_change_password: false,
        },
    )
    .await
    .unwrap();
    app.login(username, password).await
}

#[tokio::test]
async fn the_instance_admin_manages_tenants_members_keys_and_quotas() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let t = token.as_str();

    // Tenants.
    let tenant = expect(
        &app,
        t,
        Method::POST,
        "/admin/v1/tenants",
        Some(json!({"name": "lab"})),
        201,
    )
    .await;
    assert_eq!(tenant["name"], "lab");
    assert_eq!(tenant["disabled"], false);
    let tid = id(&tenant);
    let body = expect(
        &app,
        t,
        Method::POST,
        "/admin/v1/tenants",
        Some(json!({"name": "lab"})),
        409,
    )
    .await;
    assert_eq!(body["error"]["code"], "conflict");
    for bad in [json!({"name": ""}), json!({"name": "x".repeat(201)})] {
        let body = expect(&app, t, Method::POST, "/admin/v1/tenants", Some(bad), 422).await;
        assert_eq!(body["error"]["field"], "name");
    }
    let body = expect(
        &app,
        t,
        Method::POST,
        "/admin/v1/tenants",
        Some(json!({"name": "a", "extra": 1})),
        422,
    )
    .await;
    assert_eq!(body["error"]["field"], "extra");
    let renamed = expect(
        &app,
        t,
        Method::PATCH,
        &format!("/admin/v1/tenants/{tid}"),
        Some(json!({"name": "lab2", "disabled": true})),
        200,
    )
    .await;
    assert_eq!(
        (renamed["name"].as_str(), renamed["disabled"].as_bool()),
        (Some("lab2"), Some(true))
    );
    let body = expect(
        &app,
        t,
        Method::PATCH,
        &format!("/admin/v1/tenants/{tid}"),
        Some(json!({"name": "team"})),
        409,
    )
    .await;
    assert_eq!(body["error"]["code"], "conflict");
    let got = expect(
        &app,
        t,
        Method::GET,
        &format!("/admin/v1/tenants/{tid}"),
        None,
        200,
    )
    .await;
    assert_eq!(got["name"], "lab2");
    expect(
        &app,
        t,
        Method::GET,
        "/admin/v1/tenants/not-a-uuid",
        None,
        404,
    )
    .await;
    expect(
        &app,
        t,
        Method::GET,
        &format!("/admin/v1/tenants/{}", Uuid::now_v7()),
        None,
        404,
    )
    .await;
    // A member's id is not a tenant's.
    expect(
        &app,
        t,
        Method::GET,
        &format!("/admin/v1/tenants/{}", app.member.id),
        None,
        404,
    )
    .await;

    // Pages.
    let page = expect(&app, t, Method::GET, "/admin/v1/tenants?limit=1", None, 200).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let page2 = expect(
        &app,
        t,
        Method::GET,
        &format!("/admin/v1/tenants?limit=1&cursor={cursor}"),
        None,
        200,
    )
    .await;
    assert_eq!(page2["data"][0]["id"].as_str(), Some(tid.as_str()));
    assert!(page2["next_cursor"].is_null());
    for limit in ["0", "500"] {
        let body = expect(
            &app,
            t,
            Method::GET,
            &format!("/admin/v1/tenants?limit={limit}"),
            None,
            422,
        )
        .await;
        assert_eq!(body["error"]["field"], "limit");
    }
    expect(
        &app,
        t,
        Method::GET,
        "/admin/v1/tenants?limit=lots",
        None,
        422,
    )
    .await;
    expect(
        &app,
        t,
        Method::GET,
        &format!("/admin/v1/tenants/{tid}/members?limit=0"),
        None,
        422,
    )
    .await;

    // Members.
    let members = format!("/admin/v1/tenants/{tid}/members");
    let member = expect(
        &app,
        t,
        Method::POST,
        &members,
        Some(json!({"name": "bob", "email": "bob@example.com"})),
        201,
    )
    .await;
    assert_eq!(member["role"], "member");
    let mid = id(&member);
    expect(
        &app,
        t,
        Method::POST,
        &members,
        Some(json!({"name": "bob"})),
        409,
    )
    .await;
    let body = expect(
        &app,
        t,
        Method::POST,
        &members,
        Some(json!({"name": "c", "email": "nope"})),
        422,
    )
    .await;
    assert_eq!(body["error"]["field"], "email");
    let body = expect(
        &app,
        t,
        Method::POST,
        &members,
        Some(json!({"name": "c", "role": "owner"})),
        422,
    )
    .await;
    assert_eq!(body["error"]["field"], "role");
    let patched = expect(
        &app,
        t,
        Method::PATCH,
        &format!("{members}/{mid}"),
        Some(json!({"role": "tenant_admin", "email": ""})),
        200,
    )
    .await;
    assert_eq!(
        (patched["role"].as_str(), patched["email"].is_null()),
        (Some("tenant_admin"), true)
    );
    let list = expect(&app, t, Method::GET, &members, None, 200).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    // The member exists, but not under another tenant's path.
    expect(
        &app,
        t,
        Method::GET,
        &format!("/admin/v1/tenants/{}/members/{mid}", app.tenant.id),
        None,
        404,
    )
    .await;

    // Keys.
    let keys = format!("{members}/{mid}/keys");
    let created = expect(
        &app,
        t,
        Method::POST,
        &keys,
        Some(json!({"name": "laptop", "allowed_models": ["mock-model"]})),
        201,
    )
    .await;
    let secret = created["key"].as_str().unwrap().to_string();
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));
    let kid = id(&created);
    let body = expect(
        &app,
        t,
        Method::POST,
        &keys,
        Some(json!({"expires_at": "2001-01-01T00:00:00Z"})),
        422,
    )
    .await;
    assert_eq!(body["error"]["field"], "expires_at");
    let list = expect(&app, t, Method::GET, &keys, None, 200).await;
    assert_eq!(list["data"][0]["name"], "laptop");
    assert_eq!(list["data"][0]["revoked"], false);
    assert!(
        !list.to_string().contains(&secret[secret.len() - 30..]),
        "no secrets listed"
    );

    // Quotas at every level.
    for path in [
        format!("/admin/v1/tenants/{tid}/quota"),
        format!("{members}/{mid}/quota"),
        format!("{keys}/{kid}/quota"),
    ] {
        expect(&app, t, Method::GET, &path, None, 404).await;
        let quota = expect(
            &app,
            t,
            Method::PUT,
            &path,
            Some(json!({"rpm": 10, "tpd": 1000, "allowed_models": ["mock-model"]})),
            200,
        )
        .await;
        assert_eq!(
            (quota["rpm"].as_i64(), quota["tpd"].as_i64()),
            (Some(10), Some(1000))
        );
        let got = expect(&app, t, Method::GET, &path, None, 200).await;
        assert_eq!(got["rpm"], 10);
        let body = expect(&app, t, Method::PUT, &path, Some(json!({"rpm": -1})), 422).await;
        assert_eq!(body["error"]["field"], "rpm");
        let body = expect(&app, t, Method::PUT, &path, Some(json!({"rps": 1})), 422).await;
        assert_eq!(body["error"]["field"], "rps");
        expect(&app, t, Method::DELETE, &path, None, 204).await;
        expect(&app, t, Method::DELETE, &path, None, 204).await;
        expect(&app, t, Method::GET, &path, None, 404).await;
    }
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE actor = 'admin:admin'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(audited >= 10, "changes are audited: {audited}");
    let leaked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE after::text LIKE $1")
            .bind(format!("%{}%", &secret[secret.len() - 30..]))
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(leaked, 0);

    // Deletes are idempotent and take the children along.
    expect(
        &app,
        t,
        Method::PUT,
        &format!("{members}/{mid}/quota"),
        Some(json!({"rpm": 1})),
        200,
    )
    .await;
    expect(
        &app,
        t,
        Method::DELETE,
        &format!("{members}/{mid}"),
        None,
        204,
    )
    .await;
    // Deleting what is not (or no longer) a member of the tenant deletes nothing: 404.
    expect(
        &app,
        t,
        Method::DELETE,
        &format!("{members}/{mid}"),
        None,
        404,
    )
    .await;
    expect(
        &app,
        t,
        Method::DELETE,
        &format!("{members}/{}", uuid::Uuid::now_v7()),
        None,
        404,
    )
    .await;
    expect(&app, t, Method::GET, &format!("{members}/{mid}"), None, 404).await;
    expect(
        &app,
        t,
        Method::DELETE,
        &format!("/admin/v1/tenants/{tid}"),
        None,
        204,
    )
    .await;
    // Deleting what is no longer there deletes nothing: 404.
    expect(
        &app,
        t,
        Method::DELETE,
        &format!("/admin/v1/tenants/{tid}"),
        None,
        404,
    )
    .await;
    expect(
        &app,
        t,
        Method::GET,
        &format!("/admin/v1/tenants/{tid}"),
        None,
        404,
    )
    .await;
    let orphans: i64 = sqlx::query_scalar("SELECT count(*) FROM quotas")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(orphans, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_key_created_through_the_api_works_until_it_is_revoked() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let keys = format!(
        "/admin/v1/tenants/{}/members/{}/keys",
        app.tenant.id, app.member.id
    );
    let created = expect(
        &app,
        &token,
        Method::POST,
        &keys,
        Some(json!({"name": "ci"})),
        201,
    )
    .await;
    let secret = created["key"].as_str().unwrap().to_string();
    eventually("the new key works", || async {
        app.chat_with_key(&secret, chat_body("mock-model"))
            .await
            .status()
            == 200
    })
    .await;
    let path = format!("{keys}/{}", id(&created));
    expect(&app, &token, Method::DELETE, &path, None, 204).await;
    eventually("the revoked key is refused", || async {
        app.chat_with_key(&secret, chat_body("mock-model"))
            .await
            .status()
            == 401
    })
    .await;
    expect(&app, &token, Method::DELETE, &path, None, 204).await;
    let key = expect(&app, &token, Method::GET, &path, None, 200).await;
    assert_eq!(key["revoked"], true);
    assert!(key["last_used_at"].is_string() || key["last_used_at"].is_null());
    expect(
        &app,
        &token,
        Method::DELETE,
        &format!("{keys}/{}", Uuid::now_v7()),
        None,
        404,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn rotation_keeps_the_old_key_working_during_the_overlap_only() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let keys = format!(
        "/admin/v1/tenants/{}/members/{}/keys",
        app.tenant.id, app.member.id
    );
    let created = expect(
        &app,
        &token,
        Method::POST,
        &keys,
        Some(json!({"name": "ci"})),
        201,
    )
    .await;
    let old = created["key"].as_str().unwrap().to_string();
    let rotate = format!("{keys}/{}/rotate", id(&created));
    let body = expect(
        &app,
        &token,
        Method::POST,
        &rotate,
        Some(json!({"overlap_seconds": -1})),
        422,
    )
    .await;
    assert_eq!(body["error"]["field"], "overlap_seconds");
    let rotated = expect(
        &app,
        &token,
        Method::POST,
        &rotate,
        Some(json!({"overlap_seconds": 2})),
        201,
    )
    .await;
    let new = rotated["new"]["key"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(rotated["old"]["replaced_by"], rotated["new"]["id"]);
    assert_eq!(rotated["new"]["name"], "ci");
    eventually("the new key works", || async {
        app.chat_with_key(&new, chat_body("mock-model"))
            .await
            .status()
            == 200
    })
    .await;
    assert_eq!(
        app.chat_with_key(&old, chat_body("mock-model"))
            .await
            .status(),
        200,
        "old key in its overlap"
    );
    eventually("the old key expires after the overlap", || async {
        app.chat_with_key(&old, chat_body("mock-model"))
            .await
            .status()
            == 401
    })
    .await;
    assert_eq!(
        app.chat_with_key(&new, chat_body("mock-model"))
            .await
            .status(),
        200
    );
    expect(
        &app,
        &token,
        Method::POST,
        &rotate,
        Some(json!({"overlap_seconds": 0})),
        409,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn tenant_admins_and_members_reach_only_what_their_role_allows() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let a = app.tenant.id;
    let alice = app.member.id;

    // Tenant B, with a member and a key, and a second member in A.
    let b = id(&expect(
        &app,
        &root,
        Method::POST,
        "/admin/v1/tenants",
        Some(json!({"name": "other"})),
        201,
    )
    .await);
    let bob = id(&expect(
        &app,
        &root,
        Method::POST,
        &format!("/admin/v1/tenants/{b}/members"),
        Some(json!({"name": "bob"})),
        201,
    )
    .await);
    let bob_key = id(&expect(
        &app,
        &root,
        Method::POST,
        &format!("/admin/v1/tenants/{b}/members/{bob}/keys"),
        Some(json!({})),
        201,
    )
    .await);
    let carol = id(&expect(
        &app,
        &root,
        Method::POST,
        &format!("/admin/v1/tenants/{a}/members"),
        Some(json!({"name": "carol"})),
        201,
    )
    .await);
    expect(
        &app,
        &root,
        Method::PUT,
        &format!("/admin/v1/tenants/{a}/quota"),
        Some(json!({"rpm": 100, "allowed_models": ["mock-model"]})),
        200,
    )
    .await;

    let boss = login_as(&app, "boss", "tenant_admin", None).await;
    let member = login_as(&app, "alice", "member", Some(alice)).await;

    // Anything in tenant B, by any path and by guessed ids, is 404 for both.
    for token in [&boss, &member] {
        for (method, path) in [
            (Method::GET, format!("/admin/v1/tenants/{b}")),
            (Method::PATCH, format!("/admin/v1/tenants/{b}")),
            (Method::DELETE, format!("/admin/v1/tenants/{b}")),
            (Method::GET, format!("/admin/v1/tenants/{b}/quota")),
            (Method::GET, format!("/admin/v1/tenants/{b}/members")),
            (Method::GET, format!("/admin/v1/tenants/{b}/members/{bob}")),
            (
                Method::DELETE,
                format!("/admin/v1/tenants/{b}/members/{bob}"),
            ),
            (
                Method::GET,
                format!("/admin/v1/tenants/{b}/members/{bob}/keys"),
            ),
            (
                Method::DELETE,
                format!("/admin/v1/tenants/{b}/members/{bob}/keys/{bob_key}"),
            ),
            (Method::GET, format!("/admin/v1/tenants/{a}/members/{bob}")),
            (
                Method::GET,
                format!("/admin/v1/tenants/{a}/members/{bob}/keys"),
            ),
            (
                Method::DELETE,
                format!("/admin/v1/tenants/{a}/members/{alice}/keys/{bob_key}"),
            ),
            (
                Method::GET,
                format!("/admin/v1/tenants/{a}/members/{alice}/keys/{bob_key}/quota"),
            ),
        ] {
            let body = match method {
                Method::PATCH => Some(json!({"name": "x"})),
                _ => None,
            };
            let (status, json) = app.admin(method.clone(), &path, Some(token), body).await;
            assert_eq!(status, 404, "{method} {path}: {json}");
            assert!(!json.to_string().contains("other") && !json.to_string().contains("bob"));
        }
        let list = expect(&app, token, Method::GET, "/admin/v1/tenants", None, 200).await;
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
        assert_eq!(list["data"][0]["id"].as_str(), Some(a.to_string().as_str()));
        expect(
            &app,
            token,
            Method::GET,
            &format!("/admin/v1/tenants/{a}"),
            None,
            200,
        )
        .await;
        expect(
            &app,
            token,
            Method::GET,
            &format!("/admin/v1/tenants/{a}/quota"),
            None,
            200,
        )
        .await;
        expect(
            &app,
            token,
            Method::POST,
            "/admin/v1/tenants",
            Some(json!({"name": "mine"})),
            403,
        )
        .await;
        expect(
            &app,
            token,
            Method::PATCH,
            &format!("/admin/v1/tenants/{a}"),
            Some(json!({"name": "x"})),
            403,
        )
        .await;
        expect(
            &app,
            token,
            Method::DELETE,
            &format!("/admin/v1/tenants/{a}"),
            None,
            403,
        )
        .await;
        expect(
            &app,
            token,
            Method::PUT,
            &format!("/admin/v1/tenants/{a}/quota"),
            Some(json!({"rpm": 1000})),
            403,
        )
        .await;
        expect(
            &app,
            token,
            Method::DELETE,
            &format!("/admin/v1/tenants/{a}/quota"),
            None,
            403,
        )
        .await;
    }
    // Nothing in tenant B changed.
    expect(
        &app,
        &root,
        Method::GET,
        &format!("/admin/v1/tenants/{b}/members/{bob}/keys/{bob_key}"),
        None,
        200,
    )
    .await;

    // The tenant admin manages the tenant's members, keys and quotas within the tenant's.
    let members = format!("/admin/v1/tenants/{a}/members");
    let list = expect(&app, &boss, Method::GET, &members, None, 200).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    let dave = id(&expect(
        &app,
        &boss,
        Method::POST,
        &members,
        Some(json!({"name": "dave"})),
        201,
    )
    .await);
    expect(
        &app,
        &boss,
        Method::PATCH,
        &format!("{members}/{dave}"),
        Some(json!({"disabled": true})),
        200,
    )
    .await;
    let key = expect(
        &app,
        &boss,
        Method::POST,
        &format!("{members}/{carol}/keys"),
        Some(json!({})),
        201,
    )
    .await;
    let carol_key = id(&key);
    let body = expect(
        &app,
        &boss,
        Method::PUT,
        &format!("{members}/{carol}/quota"),
        Some(json!({"rpm": 1000})),
        422,
    )
    .await;
    assert_eq!(body["error"]["field"], "rpm");
    let body = expect(
        &app,
        &boss,
        Method::PUT,
        &format!("{members}/{carol}/keys/{carol_key}/quota"),
        Some(json!({"allowed_models": ["gpt-9"]})),
        422,
    )
    .await;
    assert_eq!(body["error"]["field"], "allowed_models");
    expect(
        &app,
        &boss,
        Method::PUT,
        &format!("{members}/{carol}/quota"),
        Some(json!({"rpm": 50})),
        200,
    )
    .await;
    expect(
        &app,
        &boss,
        Method::PUT,
        &format!("{members}/{carol}/keys/{carol_key}/quota"),
        Some(json!({"rpm": 5})),
        200,
    )
    .await;
    let rotated = expect(
        &app,
        &boss,
        Method::POST,
        &format!("{members}/{carol}/keys/{carol_key}/rotate"),
        Some(json!({"overlap_seconds": 0})),
        201,
    )
    .await;
    let quota = expect(
        &app,
        &boss,
        Method::GET,
        &format!("{members}/{carol}/keys/{}/quota", id(&rotated["new"])),
        None,
        200,
    )
    .await;
    assert_eq!(quota["rpm"], 5, "the replacement inherits the key's quota");
    expect(
        &app,
        &boss,
        Method::DELETE,
        &format!("{members}/{dave}"),
        None,
        204,
    )
    .await;

    // A member reads themselves and manages only their own keys.
    let list = expect(&app, &member, Method::GET, &members, None, 200).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["name"], "alice");
    expect(
        &app,
        &member,
        Method::GET,
        &format!("{members}/{alice}"),
        None,
        200,
    )
    .await;
    expect(
        &app,
        &member,
        Method::GET,
        &format!("{members}/{carol}"),
        None,
        403,
    )
    .await;
    expect(
        &app,
        &member,
        Method::POST,
        &members,
        Some(json!({"name": "eve"})),
        403,
    )
    .await;
    expect(
        &app,
        &member,
        Method::PATCH,
        &format!("{members}/{alice}"),
        Some(json!({"role": "tenant_admin"})),
        403,
    )
    .await;
    expect(
        &app,
        &member,
        Method::DELETE,
        &format!("{members}/{carol}"),
        None,
        403,
    )
    .await;
    expect(
        &app,
        &member,
        Method::GET,
        &format!("{members}/{carol}/keys"),
        None,
        403,
    )
    .await;
    expect(
        &app,
        &member,
        Method::POST,
        &format!("{members}/{carol}/keys"),
        Some(json!({})),
        403,
    )
    .await;
    expect(
        &app,
        &member,
        Method::DELETE,
        &format!("{members}/{carol}/keys/{carol_key}"),
        None,
        403,
    )
    .await;
    let own = expect(
        &app,
        &member,
        Method::POST,
        &format!("{members}/{alice}/keys"),
        Some(json!({"name": "mine"})),
        201,
    )
    .await;
    let own_path = format!("{members}/{alice}/keys/{}", id(&own));
    expect(
        &app,
        &member,
        Method::GET,
        &format!("{members}/{alice}/keys"),
        None,
        200,
    )
    .await;
    expect(
        &app,
        &member,
        Method::POST,
        &format!("{own_path}/rotate"),
        Some(json!({"overlap_seconds": 0})),
        201,
    )
    .await;
    expect(&app, &member, Method::DELETE, &own_path, None, 204).await;
    expect(
        &app,
        &member,
        Method::GET,
        &format!("{members}/{alice}/quota"),
        None,
        404,
    )
    .await;
    expect(
        &app,
        &member,
        Method::PUT,
        &format!("{members}/{alice}/quota"),
        Some(json!({"rpm": 1})),
        403,
    )
    .await;
    expect(
        &app,
        &member,
        Method::DELETE,
        &format!("{members}/{alice}/quota"),
        None,
        403,
    )
    .await;
    expect(
        &app,
        &member,
        Method::PUT,
        &format!("{own_path}/quota"),
        Some(json!({"rpm": 1})),
        403,
    )
    .await;
    expect(
        &app,
        &member,
        Method::GET,
        &format!("{members}/{carol}/quota"),
        None,
        403,
    )
    .await;
    app.stop().await;
}
