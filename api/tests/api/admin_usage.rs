//! Usage analytics from the rollups, the request log, the audit log and settings, each
//! scoped to the caller's role.

use chrono::{Duration, DurationRound, Utc};
use freeway::admin::auth::hash_password;
use freeway::store::{self, admin_users::NewAdminUser};
use freeway::usage::UsageEvent;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{ACTOR, TestApp, chat_body, create_key, spawn_app};

async fn chats(app: &TestApp, key: &str, n: usize) {
    for _ in 0..n {
        let response = app.chat_with_key(key, chat_body("mock-model")).await;
        assert_eq!(response.status(), 200);
    }
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    app.admin(Method::GET, path, Some(token), None).await
}

/// Creates an admin user with `role` and logs in as it.
async fn login_as(
    app: &TestApp,
    username: &str,
    role: &str,
    tenant_id: Option<Uuid>,
    member_id: Option<Uuid>,
) -> String {
    let password = "a long enough password";
    let hash = hash_password(password).unwrap();
    store::admin_users::create(
        &app.db,
        ACTOR,
        NewAdminUser {
            username,
            password_hash: &hash,
            role: freeway_wire::auth::Role::parse(role).unwrap(),
            tenant_id,
            member_id,
            must_change_password: false,
        },
    )
    .await
    .unwrap();
    app.login(username, password).await
}

/// Walks every page of `path` (which must already carry a `?`) and returns all rows.
async fn walk(app: &TestApp, token: &str, path: &str) -> (Vec<Value>, usize) {
    let (mut rows, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_string(),
        };
        let (status, body) = get(app, token, &url).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        rows.extend(body["data"].as_array().unwrap().iter().cloned());
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return (rows, pages),
        }
    }
}

fn event_at(app: &TestApp, at: chrono::DateTime<Utc>) -> UsageEvent {
    let mut event = UsageEvent::new("chat.completions");
    event.created_at = at;
    event.tenant_id = Some(app.tenant.id);
    event.member_id = Some(app.member.id);
    event.provider = Some("mock0".into());
    event.model = Some("mock-model".into());
    event.status = 200;
    event.prompt_tokens = Some(5);
    event.completion_tokens = Some(1);
    event.latency_ms = 40;
    event
}

#[tokio::test]
async fn summary_and_timeseries_count_each_request_once_from_the_rollups() {
    // Arrange
    let app = spawn_app().await;
    chats(&app, &app.api_key, 3).await;
    app.wait_for_usage(3).await;
    let token = app.admin_token().await;

    // Act
    let (status, summary) = get(&app, &token, "/admin/v1/usage/summary").await;

    // Assert
    assert_eq!(status, 200, "{summary}");
    let total = &summary["total"];
    assert_eq!(total["requests"], 3);
    assert_eq!(total["errors"], 0);
    assert_eq!(total["prompt_tokens"], 30);
    assert_eq!(total["completion_tokens"], 21);
    assert_eq!(total["total_tokens"], 51);
    assert!(summary["groups"].as_array().unwrap().is_empty());

    let (_, by_model) = get(&app, &token, "/admin/v1/usage/summary?group_by=model").await;
    assert_eq!(by_model["groups"][0]["key"], "mock-model");
    assert_eq!(by_model["groups"][0]["requests"], 3);
    let (_, by_tenant) = get(&app, &token, "/admin/v1/usage/summary?group_by=tenant").await;
    assert_eq!(by_tenant["groups"][0]["key"], app.tenant.id.to_string());
    assert_eq!(by_tenant["groups"][0]["label"], "team");
    let (_, by_provider) = get(&app, &token, "/admin/v1/usage/summary?group_by=provider").await;
    assert_eq!(by_provider["groups"][0]["key"], "mock0");
    let (_, by_key) = get(&app, &token, "/admin/v1/usage/summary?group_by=api_key").await;
    assert_eq!(by_key["groups"].as_array().unwrap().len(), 1);
    let (_, by_member) = get(
        &app,
        &token,
        &format!(
            "/admin/v1/usage/summary?group_by=member&member_id={}",
            app.member.id
        ),
    )
    .await;
    assert_eq!(by_member["groups"][0]["label"], "alice");
    assert_eq!(by_member["total"]["completion_tokens"], 21);
    let (_, none) = get(&app, &token, "/admin/v1/usage/summary?provider=elsewhere").await;
    assert_eq!(none["total"]["requests"], 0);

    for granularity in ["hour", "day"] {
        let (status, series) = get(
            &app,
            &token,
            &format!("/admin/v1/usage/timeseries?granularity={granularity}"),
        )
        .await;
        assert_eq!(status, 200, "{series}");
        let points = series["points"].as_array().unwrap();
        assert!(points.len() > 1, "empty buckets are included: {series}");
        let requests: i64 = points.iter().map(|p| p["requests"].as_i64().unwrap()).sum();
        let tokens: i64 = points
            .iter()
            .map(|p| p["total_tokens"].as_i64().unwrap())
            .sum();
        assert_eq!((requests, tokens), (3, 51), "{granularity}");
    }

    // What is read is the rollups: they hold the counts, and raw events do not matter.
    let rollups: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT granularity, sum(requests)::bigint, sum(prompt_tokens)::bigint
         FROM usage_rollups GROUP BY granularity ORDER BY granularity",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        rollups,
        vec![("day".to_string(), 3, 30), ("hour".to_string(), 3, 30)]
    );
    sqlx::query(
        "DELETE FROM usage_events WHERE id = (SELECT id FROM usage_events ORDER BY id LIMIT 1)",
    )
    .execute(&app.db)
    .await
    .unwrap();
    assert_eq!(app.usage_count().await, 2);
    let (_, after) = get(&app, &token, "/admin/v1/usage/summary").await;
    assert_eq!(after["total"], summary["total"]);
    app.stop().await;
}

#[tokio::test]
async fn a_retried_batch_is_counted_once_and_windows_use_hours_and_days() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let day = Utc::now().duration_trunc(Duration::days(1)).unwrap() - Duration::days(2);
    let event = event_at(&app, day + Duration::minutes(10 * 60 + 30));

    // A batch whose commit was lost is written again: the rollups count it once.
    store::usage::insert_events(&app.db, std::slice::from_ref(&event))
        .await
        .unwrap();
    store::usage::insert_events(&app.db, &[event.clone(), event_at(&app, Utc::now())])
        .await
        .unwrap();
    let hourly: i64 = sqlx::query_scalar(
        "SELECT sum(requests)::bigint FROM usage_rollups WHERE granularity = 'hour'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(hourly, 2);

    let date = day.format("%Y-%m-%d");
    let total = |path: String| {
        let app = &app;
        let token = &token;
        async move {
            let (status, body) = get(app, token, &path).await;
            assert_eq!(status, 200, "{path}: {body}");
            body["total"]["requests"].as_i64().unwrap()
        }
    };
    // Whole days come from the daily rollups, the ragged ends from the hourly ones.
    assert_eq!(
        total(format!("/admin/v1/usage/summary?from={date}")).await,
        2
    );
    assert_eq!(
        total(format!("/admin/v1/usage/summary?from={date}T10:59:00Z")).await,
        2,
        "a window starting inside an hour includes that hour"
    );
    assert_eq!(
        total(format!("/admin/v1/usage/summary?from={date}T11:00:00Z")).await,
        1
    );
    assert_eq!(
        total(format!(
            "/admin/v1/usage/summary?from={date}T10:00:00Z&to={date}T11:00:00Z"
        ))
        .await,
        1
    );
    let (_, series) = get(
        &app,
        &token,
        &format!("/admin/v1/usage/timeseries?granularity=day&from={date}"),
    )
    .await;
    let points = series["points"].as_array().unwrap();
    assert_eq!(points.len(), 3, "{series}");
    assert_eq!(points[0]["requests"], 1);
    assert_eq!(points[0]["avg_latency_ms"], 40);
    assert_eq!(points[1]["requests"], 0);
    assert_eq!(points[2]["requests"], 1);
    app.stop().await;
}

#[tokio::test]
async fn the_request_log_pages_newest_first_with_the_attempt_trail() {
    let app = spawn_app().await;
    let first = app.chat(chat_body("mock-model")).await;
    let request_id = first.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    chats(&app, &app.api_key, 4).await;
    app.wait_for_usage(5).await;
    let token = app.admin_token().await;

    let (rows, pages) = walk(&app, &token, "/admin/v1/requests?limit=2").await;
    assert_eq!(pages, 3);
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(ids, sorted, "every row once, newest first");
    assert_eq!(ids.len(), 5);
    for row in &rows {
        assert_eq!(row["status"], 200);
        assert_eq!(row["tenant_id"], app.tenant.id.to_string());
        assert_eq!(row["prompt_tokens"], 10);
        let trail = row["attempt_trail"].as_array().unwrap();
        assert_eq!(trail.len(), 1, "{row}");
        assert_eq!(trail[0]["provider"], "mock0");
        assert_eq!(trail[0]["outcome"], "ok");
    }

    let (status, one) = get(&app, &token, &format!("/admin/v1/requests/{}", ids[2])).await;
    assert_eq!(status, 200);
    assert_eq!(one, rows[2]);
    let (status, oldest) = get(&app, &token, &format!("/admin/v1/requests/{request_id}")).await;
    assert_eq!(
        status, 200,
        "the x-request-id header names the logged request"
    );
    assert_eq!(oldest, rows[4]);
    for missing in [Uuid::now_v7().to_string(), "not-an-id".to_string()] {
        let (status, body) = get(&app, &token, &format!("/admin/v1/requests/{missing}")).await;
        assert_eq!(status, 404, "{missing}");
        assert_eq!(body["error"]["code"], "not_found");
    }

    for (query, expected) in [
        ("status=200", 5),
        ("status=500", 0),
        ("model=mock-model&provider=mock0", 5),
        ("provider=other", 0),
        ("from=2000-01-01&to=2000-01-02", 0),
    ] {
        let (status, body) = get(&app, &token, &format!("/admin/v1/requests?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(body["data"].as_array().unwrap().len(), expected, "{query}");
    }
    app.stop().await;
}

#[tokio::test]
async fn each_role_sees_only_its_own_usage_requests_and_audit() {
    // Arrange: alice in "team" makes 3 requests, bob in "other" makes 2.
    let app = spawn_app().await;
    let (other, bob) = crate::helpers::add_member(&app.db, "other", "bob").await;
    let bob_key = create_key(&app.db, &bob, None, None).await;
    // A restart loads bob's key at once; waiting for NOTIFY would record 401s meanwhile.
    let app = app.restart().await;
    chats(&app, &app.api_key, 3).await;
    chats(&app, &bob_key, 2).await;
    app.wait_for_usage(5).await;
    let root = app.admin_token().await;
    let team_admin = login_as(
        &app,
        "team-admin",
        "tenant_admin",
        Some(app.tenant.id),
        None,
    )
    .await;
    let alice = login_as(
        &app,
        "alice",
        "member",
        Some(app.tenant.id),
        Some(app.member.id),
    )
    .await;
    let other_admin = login_as(&app, "other-admin", "tenant_admin", Some(other.id), None).await;
    let bob_event: String =
        sqlx::query_scalar("SELECT id::text FROM usage_events WHERE member_id = $1 LIMIT 1")
            .bind(bob.id)
            .fetch_one(&app.db)
            .await
            .unwrap();

    // Totals
    let requests = |token: String, path: String| {
        let app = &app;
        async move {
            let (status, body) = get(app, &token, &path).await;
            assert_eq!(status, 200, "{path}: {body}");
            body["total"]["requests"].as_i64().unwrap()
        }
    };
    let summary = "/admin/v1/usage/summary".to_string();
    assert_eq!(requests(root.clone(), summary.clone()).await, 5);
    assert_eq!(requests(team_admin.clone(), summary.clone()).await, 3);
    assert_eq!(requests(alice.clone(), summary.clone()).await, 3);
    assert_eq!(requests(other_admin.clone(), summary.clone()).await, 2);
    let (_, grouped) = get(&app, &team_admin, "/admin/v1/usage/summary?group_by=tenant").await;
    assert_eq!(grouped["groups"].as_array().unwrap().len(), 1);
    // Another tenant's or member's id reveals nothing.
    for (token, path) in [
        (
            &team_admin,
            format!("/admin/v1/usage/summary?tenant_id={}", other.id),
        ),
        (
            &team_admin,
            format!("/admin/v1/usage/timeseries?tenant_id={}", other.id),
        ),
        (
            &team_admin,
            format!("/admin/v1/requests?tenant_id={}", other.id),
        ),
        (&team_admin, format!("/admin/v1/requests/{bob_event}")),
        (
            &team_admin,
            format!("/admin/v1/audit?tenant_id={}", other.id),
        ),
        (
            &alice,
            format!("/admin/v1/usage/summary?member_id={}", bob.id),
        ),
        (&alice, format!("/admin/v1/requests/{bob_event}")),
    ] {
        let (status, body) = get(&app, token, &path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    // Bob's api key filtered by a tenant admin of "team" simply matches nothing.
    let bob_key_id: Uuid = sqlx::query_scalar("SELECT id FROM api_keys WHERE member_id = $1")
        .bind(bob.id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        requests(
            team_admin.clone(),
            format!("/admin/v1/usage/summary?api_key_id={bob_key_id}")
        )
        .await,
        0
    );

    // The request log
    let (rows, _) = walk(&app, &team_admin, "/admin/v1/requests?limit=200").await;
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|r| r["tenant_id"] == app.tenant.id.to_string())
    );
    let (rows, _) = walk(&app, &alice, "/admin/v1/requests?limit=200").await;
    assert_eq!(rows.len(), 3);
    let (rows, _) = walk(&app, &root, "/admin/v1/requests?limit=200").await;
    assert_eq!(rows.len(), 5);
    let (status, _) = get(&app, &root, &format!("/admin/v1/requests/{bob_event}")).await;
    assert_eq!(status, 200);

    // The audit log: tenant admins see their tenant's changes; members see none.
    let (rows, _) = walk(&app, &team_admin, "/admin/v1/audit?limit=200").await;
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r["tenant_id"] == app.tenant.id.to_string())
    );
    let (all, _) = walk(&app, &root, "/admin/v1/audit?limit=200").await;
    assert!(all.len() > rows.len());
    assert!(all.iter().any(|r| r["tenant_id"] == other.id.to_string()));
    let (status, body) = get(&app, &alice, "/admin/v1/audit").await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")));
    let (status, _) = get(&app, &team_admin, "/admin/v1/settings").await;
    assert_eq!(status, 403);
    app.stop().await;
}

#[tokio::test]
async fn the_audit_log_shows_the_key_creation_without_its_secret() {
    let app = spawn_app().await;
    let token = app.admin_token().await;

    let (status, body) = get(&app, &token, "/admin/v1/audit?action=api_key.create").await;

    assert_eq!(status, 200, "{body}");
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{body}");
    let row = &rows[0];
    assert_eq!(row["actor"], ACTOR);
    assert_eq!(row["target_kind"], "api_key");
    assert_eq!(row["tenant_id"], app.tenant.id.to_string());
    assert_eq!(row["after"]["member_id"], app.member.id.to_string());
    assert!(row["before"].is_null());
    let text = body.to_string();
    let secret = app.api_key.rsplit('-').next().unwrap();
    assert!(!text.contains(secret) && !text.contains(&app.api_key));

    // Paging and filters.
    let (rows, pages) = walk(&app, &token, "/admin/v1/audit?limit=1").await;
    assert_eq!(pages, rows.len());
    assert!(rows.len() >= 4, "tenant, member, key, pool: {rows:?}");
    let (_, tenants) = get(&app, &token, "/admin/v1/audit?target_kind=tenant").await;
    assert!(
        tenants["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["target_kind"] == "tenant")
    );
    let (_, old) = get(&app, &token, "/admin/v1/audit?to=2000-01-01").await;
    assert!(old["data"].as_array().unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn settings_round_trip_and_are_audited() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let put = |key: &str, body: Value| {
        let path = format!("/admin/v1/settings/{key}");
        let (app, token) = (&app, token.clone());
        async move {
            app.admin(Method::PUT, &path, Some(&token), Some(body))
                .await
        }
    };

    let (status, body) = put("ui.title", json!({"value": "Freeway"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"], "Freeway");
    let (status, _) = put("ui.title", json!({"value": {"text": "Ours", "n": 2}})).await;
    assert_eq!(status, 200);
    let (status, list) = get(&app, &token, "/admin/v1/settings").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["key"], "ui.title");
    assert_eq!(list[0]["value"], json!({"text": "Ours", "n": 2}));

    let (_, audit) = get(&app, &token, "/admin/v1/audit?target_kind=setting").await;
    let latest = &audit["data"][0];
    assert_eq!(latest["action"], "setting.put");
    assert_eq!(latest["actor"], "admin:admin");
    assert_eq!(latest["target_id"], "ui.title");
    assert_eq!(latest["before"]["value"], "Freeway");
    assert_eq!(latest["after"]["value"]["text"], "Ours");

    let (_, _) = put("smtp.password", json!({"value": "hunter2"})).await;
    let (_, audit) = get(&app, &token, "/admin/v1/audit?target_kind=setting").await;
    assert!(!audit.to_string().contains("hunter2"));

    for (key, body, field) in [
        ("Bad-Key", json!({"value": 1}), "key"),
        (&"x".repeat(65), json!({"value": 1}), "key"),
        ("ok", json!({"value": null}), "value"),
        ("ok", json!({}), "value"),
        ("ok", json!({"value": 1, "extra": 2}), "extra"),
    ] {
        let (status, body) = put(key, body).await;
        assert_eq!(status, 422, "{key}: {body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }

    for _ in 0..2 {
        let (status, _) = app
            .admin(
                Method::DELETE,
                "/admin/v1/settings/ui.title",
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, 204, "idempotent");
    }
    let (_, list) = get(&app, &token, "/admin/v1/settings").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn bad_parameters_are_named() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for (path, status, field) in [
        ("/admin/v1/usage/summary?group_by=color", 422, "group_by"),
        ("/admin/v1/usage/summary?from=yesterday", 422, "from"),
        ("/admin/v1/usage/summary?to=2025-13-01", 422, "to"),
        (
            "/admin/v1/usage/summary?from=2025-03-02&to=2025-03-01",
            422,
            "from",
        ),
        ("/admin/v1/usage/summary?tenant_id=42", 422, "tenant_id"),
        ("/admin/v1/usage/summary?colour=red", 422, "colour"),
        (
            "/admin/v1/usage/timeseries?granularity=minute",
            422,
            "granularity",
        ),
        (
            "/admin/v1/usage/timeseries?granularity=hour&from=2000-01-01",
            422,
            "from",
        ),
        ("/admin/v1/requests?limit=0", 422, "limit"),
        ("/admin/v1/requests?limit=201", 422, "limit"),
        ("/admin/v1/requests?limit=ten", 422, "limit"),
        ("/admin/v1/requests?cursor=abc", 422, "cursor"),
        ("/admin/v1/requests?status=ok", 422, "status"),
        ("/admin/v1/audit?limit=1000", 422, "limit"),
        ("/admin/v1/audit?from=soon", 422, "from"),
    ] {
        let (got, body) = get(&app, &token, path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
    }
    for path in [
        "/admin/v1/usage/summary",
        "/admin/v1/usage/timeseries",
        "/admin/v1/requests",
        "/admin/v1/audit",
        "/admin/v1/settings",
    ] {
        let (status, body) = app.admin(Method::GET, path, None, None).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    app.stop().await;
}

#[tokio::test]
async fn every_column_of_an_event_is_written_as_it_was_recorded() {
    use freeway::usage::Attempt;
    use freeway_wire::usage::AttemptOutcome;
    let app = spawn_app().await;
    // Every field set, with text that needs more than ASCII and numbers at the columns' ends.
    let mut full = event_at(&app, Utc::now() - Duration::minutes(3));
    full.api_key_id = Some(Uuid::now_v7());
    full.credential_id = Some(Uuid::now_v7());
    full.requested_model = Some("auto — ünïcode 模型".into());
    full.status = 599;
    full.error_code = Some("upstream_error".into());
    full.stream = true;
    full.prompt_tokens = Some(u64::from(u32::MAX)); // clamped to i32::MAX
    full.completion_tokens = Some(0);
    full.latency_ms = 123_456;
    full.ttft_ms = Some(789);
    full.session_id = Some("sess-\t\"quoted\"\n".into());
    full.attempts = vec![
        Attempt {
            provider: "mock1".into(),
            model: "mock-model".into(),
            credential_id: full.credential_id,
            outcome: AttemptOutcome::RateLimited,
            status: Some(429),
            latency_ms: 7,
            detail: Some("slow down \u{1F40C}".into()),
        },
        Attempt {
            provider: "mock0".into(),
            model: "mock-model".into(),
            credential_id: None,
            outcome: AttemptOutcome::Ok,
            status: Some(200),
            latency_ms: 40,
            detail: None,
        },
    ];
    // Every optional field empty.
    let mut bare = UsageEvent::new("embeddings");
    bare.status = 0;

    store::usage::insert_events(&app.db, &[full.clone(), bare.clone()])
        .await
        .unwrap();

    let row = store::analytics::find_event(&app.db, full.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.created_at.timestamp_micros(),
        full.created_at.timestamp_micros()
    );
    assert_eq!(row.endpoint, "chat.completions");
    assert_eq!(
        (
            row.tenant_id,
            row.member_id,
            row.api_key_id,
            row.credential_id
        ),
        (
            full.tenant_id,
            full.member_id,
            full.api_key_id,
            full.credential_id
        )
    );
    assert_eq!(row.requested_model, full.requested_model);
    assert_eq!(row.provider.as_deref(), Some("mock0"));
    assert_eq!(row.model.as_deref(), Some("mock-model"));
    assert_eq!(row.status, 599);
    assert_eq!(row.error_code.as_deref(), Some("upstream_error"));
    assert!(row.stream);
    assert_eq!(row.prompt_tokens, Some(i32::MAX));
    assert_eq!(row.completion_tokens, Some(0));
    assert_eq!(row.latency_ms, 123_456);
    assert_eq!(row.ttft_ms, Some(789));
    assert_eq!(row.attempts, 2);
    let trail: Vec<Attempt> = serde_json::from_value(row.attempt_trail).unwrap();
    assert_eq!(trail, full.attempts);
    assert_eq!(row.session_id, full.session_id);

    let row = store::analytics::find_event(&app.db, bare.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.endpoint, "embeddings");
    assert_eq!(
        (
            row.tenant_id,
            row.member_id,
            row.api_key_id,
            row.credential_id
        ),
        (None, None, None, None)
    );
    assert_eq!(
        (
            &row.requested_model,
            &row.provider,
            &row.model,
            &row.error_code
        ),
        (&None, &None, &None, &None)
    );
    assert_eq!((row.status, row.stream), (0, false));
    assert_eq!(
        (row.prompt_tokens, row.completion_tokens, row.ttft_ms),
        (None, None, None)
    );
    assert_eq!((row.attempts, row.attempt_trail), (0, json!([])));
    assert_eq!(row.session_id, None);
    app.stop().await;
}

#[tokio::test]
async fn the_request_log_filters_by_time_with_exact_bounds() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    // As the writer makes them: the id carries the event's created_at.
    let at = |hours_ago: i64| {
        let mut event = event_at(&app, now - Duration::hours(hours_ago));
        let millis = u64::try_from(event.created_at.timestamp_millis()).unwrap();
        event.id = uuid::Builder::from_unix_timestamp_millis(millis, &[7; 10]).into_uuid();
        event
    };
    let events = [at(3), at(2), at(1)];
    store::usage::insert_events(&app.db, &events).await.unwrap();

    let iso = |hours_ago: i64| (now - Duration::hours(hours_ago)).to_rfc3339();
    for (from, to, expected) in [
        (iso(2), iso(1), vec![1]),       // from is inclusive, to exclusive
        (iso(4), iso(0), vec![2, 1, 0]), // newest first
        (iso(3), iso(2), vec![0]),
        (iso(1), iso(0), vec![2]),
        (iso(5), iso(4), vec![]),
    ] {
        let query = format!(
            "/admin/v1/requests?from={}&to={}",
            urlencoding(&from),
            urlencoding(&to)
        );
        let (status, body) = get(&app, &token, &query).await;
        assert_eq!(status, 200, "{query}: {body}");
        let ids: Vec<String> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["id"].as_str().unwrap().to_string())
            .collect();
        let want: Vec<String> = expected.iter().map(|&i| events[i].id.to_string()).collect();
        assert_eq!(ids, want, "{query}");
    }
    app.stop().await;
}

fn urlencoding(value: &str) -> String {
    value.replace('+', "%2B").replace(':', "%3A")
}
