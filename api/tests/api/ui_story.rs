//! The admin UI end to end, in headless Chromium (Debian's, driven by playwright-core from
//! `scripts/contract/tools.sh`'s cache) against the real server, Postgres and the mock
//! upstream. The browser scripts live in `scripts/e2e`; these tests arrange what they need
//! (users, a mock, seeded rows), run them with `node --test`, and check the role matrix at
//! the API level too. Screenshots go to `$CARGO_TARGET_DIR/e2e-artifacts` (or
//! `FREEWAY_E2E_ARTIFACTS`).

use freeway::admin::auth::{hash_password, random_password};
use freeway::mock::MockUpstream;
use freeway::store::admin_users::{self, NewAdminUser};
use freeway_web::access::{Page, navigation};
use freeway_wire::auth::Role;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::contract::{root, run};
use crate::helpers::{Spawn, TestApp, spawn_with};

pub fn artifacts() -> String {
    std::env::var("FREEWAY_E2E_ARTIFACTS").unwrap_or_else(|_| {
        let target = std::env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| root().join("target").display().to_string());
        format!("{target}/e2e-artifacts")
    })
}

/// An admin user; with `one_time` it must change its password at first sign-in.
pub async fn admin_user(
    app: &TestApp,
    username: &str,
    role: Role,
    member: Option<Uuid>,
    one_time: bool,
) -> String {
    let password = random_password();
    let hash = hash_password(&password).unwrap();
    admin_users::create(
        &app.db,
        "test",
        NewAdminUser {
            username,
            password_hash: &hash,
            role,
            tenant_id: (role != Role::InstanceAdmin).then_some(app.tenant.id),
            member_id: member,
            must_change_password: one_time,
        },
    )
    .await
    .unwrap();
    password
}

/// Runs one browser script; its output is in the assertion message when it fails.
pub async fn node_test(script: &str, app: &TestApp, env: &[(&str, String)]) {
    let mut all: Vec<(&str, String)> = vec![
        ("FREEWAY_URL", app.address.clone()),
        ("FREEWAY_E2E_ARTIFACTS", artifacts()),
    ];
    all.extend(env.iter().cloned());
    let (ok, output) = run(
        script,
        &format!("node --test --test-reporter=spec {script}"),
        &all,
    )
    .await;
    assert!(ok, "{output}");
}

#[tokio::test]
async fn the_whole_story_passes_in_headless_chromium() {
    let app = spawn_with(Spawn {
        providers: 0,
        ..Spawn::default()
    })
    .await;
    let mock = MockUpstream::start().await.unwrap();
    let (admin, admin_password) = app
        .first_admin
        .clone()
        .expect("the first start made an admin");
    let tenant_admin = admin_user(&app, "tina", Role::TenantAdmin, None, true).await;
    node_test(
        "scripts/e2e/story.test.mjs",
        &app,
        &[
            ("FREEWAY_E2E_ADMIN", admin),
            ("FREEWAY_E2E_ADMIN_PASSWORD", admin_password),
            ("FREEWAY_E2E_TENANT_ADMIN", "tina".into()),
            ("FREEWAY_E2E_TENANT_ADMIN_PASSWORD", tenant_admin),
            ("FREEWAY_E2E_TENANT_ID", app.tenant.id.to_string()),
            ("FREEWAY_E2E_MOCK_URL", mock.base_url()),
        ],
    )
    .await;
    // What the browser did is in the database.
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id")
        .fetch_all(&app.db)
        .await
        .unwrap();
    for action in [
        "provider.create",
        "credential.create",
        "model.create",
        "member.create",
        "api_key.create",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    assert!(
        actions.iter().any(|a| a.contains("cooldown")),
        "{actions:?}"
    );
    mock.stop().await;
    app.stop().await;
}

/// One signed-in caller per role the UI knows.
pub struct Callers {
    pub admin: (String, String),
    pub tenant_admin: (String, String),
    pub member: (String, String),
}

pub async fn callers(app: &TestApp) -> Callers {
    let (admin, admin_password) = app.first_admin.clone().unwrap();
    // Sign the one-time password away, so the browser lands on the pages.
    let token = app.login(&admin, &admin_password).await;
    let fresh = "the instance admin's passphrase";
    let changed = app
        .client
        .post(format!("{}/admin/v1/auth/password", app.address))
        .bearer_auth(&token)
        .json(&json!({"current_password": admin_password, "new_password": fresh}))
        .send()
        .await
        .unwrap();
    assert!(changed.status().is_success(), "{}", changed.status());
    let tenant_admin = admin_user(app, "tina", Role::TenantAdmin, None, false).await;
    let member = admin_user(app, "alice", Role::Member, Some(app.member.id), false).await;
    Callers {
        admin: (admin, fresh.into()),
        tenant_admin: ("tina".into(), tenant_admin),
        member: ("alice".into(), member),
    }
}

/// For every page and role: the UI offers the page exactly when the API call the page is
/// built on succeeds for that role.
#[tokio::test]
async fn every_page_is_offered_exactly_when_the_api_allows_it() {
    let app = spawn_with(Spawn::default()).await;
    let callers = callers(&app).await;
    // (role, credentials, own tenant, own member): the pages on `{tenant}` and `{member}`
    // are the caller's own tenant and member; a caller without one has no such page.
    let tenant = Some(app.tenant.id);
    let roles = [
        (Role::InstanceAdmin, &callers.admin, None, None),
        (Role::TenantAdmin, &callers.tenant_admin, tenant, None),
        (Role::Member, &callers.member, tenant, Some(app.member.id)),
    ];
    for (role, (user, password), tenant, member) in roles {
        let token = app.login(user, password).await;
        let offered = navigation(role, member.is_some());
        for page in Page::ALL {
            let (method, template) = page.probe();
            let own = |needed: &str, id: Option<Uuid>| match id {
                Some(id) => Some(id.to_string()),
                None if template.contains(needed) => None,
                None => Some(String::new()),
            };
            let (Some(t), Some(m)) = (own("{tenant}", tenant), own("{member}", member)) else {
                assert!(
                    !offered.contains(page),
                    "{role:?} is offered {page:?} without its own tenant or member"
                );
                continue;
            };
            let path = template.replace("{tenant}", &t).replace("{member}", &m);
            let mut request = app
                .client
                .request(
                    method.parse::<Method>().unwrap(),
                    format!("{}{path}", app.address),
                )
                .bearer_auth(&token);
            if method == "POST" {
                request =
                    request.json(&json!({"name": format!("probe-{}", Uuid::now_v7().simple())}));
            }
            let response = request.send().await.unwrap();
            let allowed = response.status().is_success();
            assert_eq!(
                offered.contains(page),
                allowed,
                "{role:?} and {page:?}: offered {} but {method} {path} answered {}",
                offered.contains(page),
                response.status()
            );
        }
    }
    app.stop().await;
}

/// The browser shows each role exactly its navigation, and every page renders (screenshots
/// of each at 1280 px and 390 px wide, in light and dark).
#[tokio::test]
async fn each_role_sees_its_pages_in_the_browser() {
    let app = spawn_with(Spawn::default()).await;
    let callers = callers(&app).await;
    let expected = |role: Role, member: bool| {
        navigation(role, member)
            .iter()
            .map(|p| p.slug())
            .collect::<Vec<_>>()
    };
    let roles = json!([
        {"role": "instance_admin", "user": callers.admin.0, "password": callers.admin.1, "pages": expected(Role::InstanceAdmin, false)},
        {"role": "tenant_admin", "user": callers.tenant_admin.0, "password": callers.tenant_admin.1, "pages": expected(Role::TenantAdmin, false)},
        {"role": "member", "user": callers.member.0, "password": callers.member.1, "pages": expected(Role::Member, true)},
    ]);
    node_test(
        "scripts/e2e/roles.test.mjs",
        &app,
        &[("FREEWAY_E2E_ROLES", roles.to_string())],
    )
    .await;
    app.stop().await;
}

/// 10,000 api keys for the member and 200,000 usage events over the last 30 days, with
/// UUIDv7-like ids in time order (as the server makes them), then their rollups.
async fn seed_at_scale(app: &TestApp) {
    sqlx::query(
        "INSERT INTO api_keys (id, tenant_id, member_id, name, public_id, secret_sha256, display_prefix, created_at)
         SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7'
                 || substr(md5(i::text), 1, 3) || '8' || substr(md5(i::text), 4, 15))::uuid,
                $1, $2, 'seeded ' || i, 'seed' || i, sha256(i::text::bytea), 'fw-seed' || i, t
         FROM generate_series(1, 10000) AS i,
              LATERAL (SELECT now() - interval '20 days' + i * interval '1 minute' AS t) AS at",
    )
    .bind(app.tenant.id)
    .bind(app.member.id)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO usage_events (id, created_at, endpoint, tenant_id, member_id, api_key_id,
             requested_model, provider, model, status, prompt_tokens, completion_tokens,
             latency_ms, attempts, attempt_trail)
         SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7'
                 || substr(md5(i::text), 1, 3) || '8' || substr(md5(i::text), 4, 15))::uuid,
                t, 'chat.completions', $1, $2, NULL, 'mock-model', 'mock0', 'mock-model',
                CASE WHEN i % 20 = 0 THEN 429 ELSE 200 END, 20, 10, 100 + i % 900, 1,
                jsonb_build_array(jsonb_build_object('provider', 'mock0', 'model', 'mock-model',
                    'outcome', CASE WHEN i % 20 = 0 THEN 'rate_limited' ELSE 'ok' END,
                    'latency_ms', 100 + i % 900))
         FROM generate_series(1, 200000) AS i,
              LATERAL (SELECT now() - interval '30 days' + i * interval '12 seconds' AS t) AS at",
    )
    .bind(app.tenant.id)
    .bind(app.member.id)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        include_str!("../../../migrations/V4__rollups.sql")
            .split("\n\n")
            .next()
            .unwrap(),
    )
    .execute(&app.db)
    .await
    .unwrap();
}

/// With 10,000 keys and 200,000 usage events, each list page loads one page of data.
#[tokio::test]
async fn list_pages_fetch_one_page_with_10k_keys_and_200k_events() {
    let app = spawn_with(Spawn::default()).await;
    let callers = callers(&app).await;
    seed_at_scale(&app).await;
    let scale = json!({
        "user": callers.admin.0,
        "password": callers.admin.1,
        "tenant": app.tenant.id,
        "member": app.member.id,
    });
    node_test(
        "scripts/e2e/scale.test.mjs",
        &app,
        &[("FREEWAY_E2E_SCALE", scale.to_string())],
    )
    .await;
    app.stop().await;
}
