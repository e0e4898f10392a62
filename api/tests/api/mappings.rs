//! Model-name mappings: names nothing in the pool answers to (what Claude Code sends) are
//! served as the target of the most specific pattern they fit, set over the admin API or the
//! CLI and followed without a restart.

use freeway::store::admin_users::{NewAdminUser, create};
use freeway_wire::mappings::MappingView;
use freeway_wire::page::List;
use freeway_wire::routing::{ResolvedAs, Simulation};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::cli::{run, run_ok};
use crate::helpers::{Spawn, TestApp, eventually, owned_pairs, spawn_app, spawn_with};

const CLAUDE: &str = "claude-sonnet-4-5-20250929";
const HAIKU: &str = "claude-3-5-haiku-20241022";

/// A chat with `model` and an opening of its own, so that no earlier conversation's sticky
/// route steers it; its status and `x-freeway-route`.
async fn route_of(app: &TestApp, model: &str) -> (u16, Option<String>) {
    let body = json!({
        "model": model,
        "messages": [{"role": "user", "content": format!("hi {}", Uuid::new_v4())}],
    });
    let response = app.chat(body).await;
    let route = response
        .headers()
        .get("x-freeway-route")
        .map(|v| v.to_str().unwrap().to_string());
    (response.status().as_u16(), route)
}

/// Waits until a chat with `model` is served by `route`.
async fn until_served_by(app: &TestApp, model: &str, route: &str) {
    eventually(&format!("{model} to be served by {route}"), || async {
        route_of(app, model).await == (200, Some(route.to_string()))
    })
    .await;
}

async fn mappings(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let list: List<MappingView> = app
        .admin_ok(Method::GET, "/admin/v1/routing/mappings", token, None)
        .await;
    list.data
        .into_iter()
        .map(|m| (m.pattern, m.target))
        .collect()
}

async fn simulate(app: &TestApp, token: &str, model: &str) -> Simulation {
    app.admin_ok(
        Method::POST,
        "/admin/v1/routing/simulate",
        token,
        Some(json!({ "model": model })),
    )
    .await
}

#[tokio::test]
async fn a_fresh_instance_serves_claude_names_through_auto() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    assert_eq!(
        mappings(&app, &token).await,
        owned_pairs(&[("claude-*", "auto")]),
        "seeded by the migration"
    );

    let (status, route) = route_of(&app, CLAUDE).await;
    assert_eq!(status, 200);
    assert_eq!(route.as_deref(), Some("mock0/mock-model"));
    let requests = app.mock(0).requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].body["model"], "mock-model",
        "the upstream is asked for its own model, not the claude name"
    );

    let simulation = simulate(&app, &token, CLAUDE).await;
    assert_eq!(simulation.resolved_as, Some(ResolvedAs::Auto));
    let mapping = simulation.mapping.unwrap();
    assert_eq!(
        (mapping.pattern.as_str(), mapping.target.as_str()),
        ("claude-*", "auto")
    );
    // A name nothing answers to and no pattern fits is still unknown.
    let (status, _) = route_of(&app, "gpt-4o").await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_more_specific_mapping_wins_at_once_and_deleting_it_falls_back() {
    let app = spawn_with(Spawn {
        providers: 2,
        ..Spawn::default()
    })
    .await;
    let token = app.admin_token().await;
    // `auto` tries mock0 first.
    assert_eq!(
        route_of(&app, HAIKU).await,
        (200, Some("mock0/mock-model".into()))
    );

    let set: MappingView = app
        .admin_ok(
            Method::PUT,
            "/admin/v1/routing/mappings/claude-3-5-haiku-*",
            &token,
            Some(json!({"target": "mock1/mock-model"})),
        )
        .await;
    assert_eq!(
        (set.pattern.as_str(), set.target.as_str()),
        ("claude-3-5-haiku-*", "mock1/mock-model")
    );
    until_served_by(&app, HAIKU, "mock1/mock-model").await;
    let last = app.mock(1).requests().pop().unwrap();
    assert_eq!(last.body["model"], "mock-model");
    // Other claude names still go through `claude-*`.
    assert_eq!(
        route_of(&app, CLAUDE).await,
        (200, Some("mock0/mock-model".into()))
    );
    assert_eq!(
        mappings(&app, &token).await,
        owned_pairs(&[
            ("claude-3-5-haiku-*", "mock1/mock-model"),
            ("claude-*", "auto")
        ]),
        "most specific first"
    );
    let simulation = simulate(&app, &token, HAIKU).await;
    assert_eq!(simulation.resolved_as, Some(ResolvedAs::ProviderModel));
    assert_eq!(simulation.mapping.unwrap().pattern, "claude-3-5-haiku-*");

    let (status, _) = app
        .admin(
            Method::DELETE,
            "/admin/v1/routing/mappings/claude-3-5-haiku-*",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    until_served_by(&app, HAIKU, "mock0/mock-model").await;
    assert_eq!(
        mappings(&app, &token).await,
        owned_pairs(&[("claude-*", "auto")])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_name_a_pool_model_has_is_never_mapped() {
    let app = spawn_with(Spawn {
        providers: 2,
        ..Spawn::default()
    })
    .await;
    let token = app.admin_token().await;
    let _: serde_json::Value = app
        .admin_ok(
            Method::POST,
            "/admin/v1/providers/mock1/models",
            &token,
            Some(json!({"model_id": "claude-local"})),
        )
        .await;
    // Until the catalog reloads, `claude-*` sends the name to `auto` (mock0 first).
    until_served_by(&app, "claude-local", "mock1/claude-local").await;
    let last = app.mock(1).requests().pop().unwrap();
    assert_eq!(last.body["model"], "claude-local");

    // Not even a mapping of that exact name takes it elsewhere.
    for (pattern, target) in [
        ("claude-local", "mock0/mock-model"),
        ("probe-*", "mock1/mock-model"),
    ] {
        let _: MappingView = app
            .admin_ok(
                Method::PUT,
                &format!("/admin/v1/routing/mappings/{pattern}"),
                &token,
                Some(json!({ "target": target })),
            )
            .await;
    }
    // The reload that serves `probe-*` has the exact mapping too.
    until_served_by(&app, "probe-1", "mock1/mock-model").await;
    assert_eq!(
        route_of(&app, "claude-local").await,
        (200, Some("mock1/claude-local".into()))
    );
    let simulation = simulate(&app, &token, "claude-local").await;
    assert_eq!(simulation.resolved_as, Some(ResolvedAs::Model));
    assert_eq!(simulation.mapping, None);
    app.stop().await;
}

#[tokio::test]
async fn bad_patterns_and_targets_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let put = |pattern: String, body: serde_json::Value| {
        let app = &app;
        let token = token.clone();
        async move {
            app.admin(
                Method::PUT,
                &format!("/admin/v1/routing/mappings/{pattern}"),
                Some(&token),
                Some(body),
            )
            .await
        }
    };
    let long = "x".repeat(201);
    for pattern in ["claude%20x", "claude%09x", "a%00b", long.as_str()] {
        let (status, body) = put(pattern.into(), json!({"target": "auto"})).await;
        assert_eq!(status, 422, "{pattern}: {body}");
        assert_eq!(body["error"]["code"], "invalid_field");
        assert_eq!(body["error"]["field"], "pattern", "{pattern}: {body}");
    }
    for target in ["", "claude-*", "a b", "x\u{1}", long.as_str()] {
        let (status, body) = put("claude-*".into(), json!({ "target": target })).await;
        assert_eq!(status, 422, "{target:?}: {body}");
        assert_eq!(body["error"]["field"], "target", "{target:?}: {body}");
    }
    let (status, body) = put("claude-*".into(), json!({"target": 3})).await;
    assert_eq!((status, &body["error"]["field"]), (422, &json!("target")));
    let (status, _) = put("claude-*".into(), json!({"target": "auto", "x": 1})).await;
    assert_eq!(status, 422);
    // Nothing was written.
    assert_eq!(
        mappings(&app, &token).await,
        owned_pairs(&[("claude-*", "auto")])
    );

    let error = app
        .admin_err(
            Method::DELETE,
            "/admin/v1/routing/mappings/nothing-*",
            &token,
            None,
            404,
        )
        .await;
    assert_eq!(error.code, "not_found");

    // A pattern with a `/`, percent-encoded in the path, is one pattern.
    let (status, body) = put("anthropic%2Fclaude-*".into(), json!({"target": "auto"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pattern"], "anthropic/claude-*");
    let (status, _) = app
        .admin(
            Method::DELETE,
            "/admin/v1/routing/mappings/anthropic%2Fclaude-*",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    app.stop().await;
}

#[tokio::test]
async fn only_instance_admins_see_or_change_mappings() {
    let app = spawn_app().await;
    let password = "a long enough password";
    let hash = freeway::admin::auth::hash_password(password).unwrap();
    for (username, role, member) in [
        ("lead", "tenant_admin", None),
        ("bob", "member", Some(app.member.id)),
    ] {
        create(
            &app.db,
            "test",
            NewAdminUser {
                username,
                password_hash: &hash,
                role: freeway_wire::auth::Role::parse(role).unwrap(),
                tenant_id: Some(app.tenant.id),
                member_id: member,
                must_change_password: false,
            },
        )
        .await
        .unwrap();
    }
    for username in ["lead", "bob"] {
        let token = app.login(username, password).await;
        for (method, path, body) in [
            (Method::GET, "/admin/v1/routing/mappings", None),
            (
                Method::PUT,
                "/admin/v1/routing/mappings/claude-*",
                Some(json!({"target": "nothing"})),
            ),
            (Method::DELETE, "/admin/v1/routing/mappings/claude-*", None),
        ] {
            let error = app.admin_err(method, path, &token, body, 403).await;
            assert_eq!(error.code, "forbidden", "{username}");
        }
    }
    let (status, _) = app
        .admin(Method::GET, "/admin/v1/routing/mappings", None, None)
        .await;
    assert_eq!(status, 401);
    // Nothing changed: claude names are still served.
    let token = app.admin_token().await;
    assert_eq!(
        mappings(&app, &token).await,
        owned_pairs(&[("claude-*", "auto")])
    );
    assert_eq!(route_of(&app, CLAUDE).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn the_cli_sets_lists_and_deletes_mappings_and_the_server_follows() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let env = [("DATABASE_URL", app.database_url.as_str())];

    let listed = run_ok(&["mappings", "list"], &env, None).await;
    assert_eq!(listed, "claude-*\tauto\n");
    let out = run_ok(
        &["mappings", "set", "claude-3-5-haiku-*", "mock0/mock-model"],
        &env,
        None,
    )
    .await;
    assert!(
        out.contains("claude-3-5-haiku-* -> mock0/mock-model"),
        "{out}"
    );
    let listed = run_ok(&["mappings", "list"], &env, None).await;
    assert_eq!(
        listed, "claude-3-5-haiku-*\tmock0/mock-model\nclaude-*\tauto\n",
        "most specific first"
    );
    // The running server reloads on the CLI's change too.
    eventually("the server to follow the CLI's mapping", || async {
        let simulation = simulate(&app, &token, HAIKU).await;
        simulation
            .mapping
            .is_some_and(|m| m.pattern == "claude-3-5-haiku-*")
    })
    .await;

    let refused = run(&["mappings", "set", "claude *", "auto"], &env, None).await;
    assert!(!refused.status.success());
    assert!(refused.stderr.contains("pattern"), "{}", refused.stderr);
    let refused = run(&["mappings", "set", "x-*", "y-*"], &env, None).await;
    assert!(!refused.status.success());
    assert!(refused.stderr.contains("target"), "{}", refused.stderr);

    let out = run_ok(&["mappings", "delete", "claude-3-5-haiku-*"], &env, None).await;
    assert!(out.contains("Deleted"), "{out}");
    let listed = run_ok(&["mappings", "list"], &env, None).await;
    assert_eq!(listed, "claude-*\tauto\n");
    let missing = run(&["mappings", "delete", "claude-3-5-haiku-*"], &env, None).await;
    assert!(!missing.status.success());
    assert!(missing.stderr.contains("no mapping"), "{}", missing.stderr);

    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE target_kind = 'model_mapping' ORDER BY id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(actions, ["model_mapping.put", "model_mapping.delete"]);
    app.stop().await;
}
