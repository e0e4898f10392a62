//! Tenant, member and api key quotas on `/v1`: exact under concurrency, shared by a
//! tenant's members, counted from real usage, kept across a restart, changed live.

use freeway::mock::Behavior;
use freeway::store::quotas::{self, QuotaColumns};
use freeway::store::{Cursor, api_keys};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{ACTOR, Spawn, TestApp, chat_body, create_key, eventually, spawn_with};

async fn app() -> TestApp {
    spawn_with(Spawn::default()).await
}

async fn set(app: &TestApp, scope: &str, scope_id: Uuid, columns: QuotaColumns) {
    quotas::set(
        &app.db,
        ACTOR,
        freeway_wire::tenants::QuotaScope::parse(scope).unwrap(),
        scope_id,
        columns,
    )
    .await
    .unwrap();
}

async fn key_id(app: &TestApp) -> Uuid {
    api_keys::list(
        &app.db,
        app.tenant.id,
        None,
        Cursor::ALL,
        &freeway::store::Search::NONE,
    )
    .await
    .unwrap()[0]
        .id
}

/// Sets a quota before the server starts using it: a restart loads it for sure.
async fn with_quota(app: TestApp, scope: &str, scope_id: Uuid, columns: QuotaColumns) -> TestApp {
    set(&app, scope, scope_id, columns).await;
    app.restart().await
}

async fn statuses(app: &TestApp, key: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(
            app.chat_with_key(key, chat_body("mock-model"))
                .await
                .status()
                .as_u16(),
        );
    }
    out
}

#[tokio::test]
async fn a_key_quota_of_3_rpm_refuses_the_4th_request_with_429_naming_the_quota() {
    let app = app().await;
    let key = key_id(&app).await;
    let app = with_quota(
        app,
        "api_key",
        key,
        QuotaColumns {
            rpm: Some(3),
            ..QuotaColumns::default()
        },
    )
    .await;

    assert_eq!(statuses(&app, &app.api_key, 3).await, [200, 200, 200]);
    let refused = app.chat(chat_body("mock-model")).await;

    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(body["error"]["code"], "quota_exceeded");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("The api_key quota of 3 requests per minute is used up"),
        "{message}"
    );
    // The refused request reached no provider, and its usage event says why.
    assert_eq!(app.mock(0).request_count(), 3);
    app.wait_for_usage(4).await;
    let code: Option<String> =
        sqlx::query_scalar("SELECT error_code FROM usage_events WHERE status = 429")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(code.as_deref(), Some("quota_exceeded"));
}

#[tokio::test]
async fn two_members_together_never_exceed_their_tenants_5_requests_per_day() {
    let app = app().await;
    let (_, bob) = crate::helpers::add_member(&app.db, &app.tenant.name, "bob").await;
    let bob_key = create_key(&app.db, &bob, None, None).await;
    let tenant = app.tenant.id;
    let app = with_quota(
        app,
        "tenant",
        tenant,
        QuotaColumns {
            rpd: Some(5),
            ..QuotaColumns::default()
        },
    )
    .await;

    let mut ok = 0;
    for _ in 0..5 {
        for key in [&app.api_key, &bob_key] {
            let response = app.chat_with_key(key, chat_body("mock-model")).await;
            if response.status() == 200 {
                ok += 1;
            } else {
                assert_eq!(response.status(), 429);
                let body: Value = response.json().await.unwrap();
                let message = body["error"]["message"].as_str().unwrap();
                assert!(
                    message.starts_with("The tenant quota of 5 requests per day"),
                    "{message}"
                );
            }
        }
    }

    assert_eq!(ok, 5);
    assert_eq!(app.mock(0).request_count(), 5);
}

#[tokio::test]
async fn two_hundred_concurrent_requests_admit_exactly_50_under_a_50_rpm_tenant_quota() {
    let app = app().await;
    let tenant = app.tenant.id;
    let app = with_quota(
        app,
        "tenant",
        tenant,
        QuotaColumns {
            rpm: Some(50),
            ..QuotaColumns::default()
        },
    )
    .await;

    let requests = (0..200).map(|i| {
        let client = app.client.clone();
        let url = format!("{}/v1/chat/completions", app.address);
        let key = app.api_key.clone();
        async move {
            let body = json!({"model": "mock-model", "messages": [{"role": "user", "content": format!("q{i}")}]});
            let response = client.post(url).bearer_auth(key).json(&body).send().await.unwrap();
            response.status().as_u16()
        }
    });
    let results = futures_util::future::join_all(requests).await;

    assert_eq!(results.iter().filter(|s| **s == 200).count(), 50);
    assert_eq!(results.iter().filter(|s| **s == 429).count(), 150);
    assert_eq!(app.mock(0).request_count(), 50);
}

#[tokio::test]
async fn tokens_per_month_are_counted_from_real_usage() {
    let app = app().await;
    let member = app.member.id;
    let app = with_quota(
        app,
        "member",
        member,
        QuotaColumns {
            tokens_per_month: Some(40),
            ..QuotaColumns::default()
        },
    )
    .await;
    // About 10 tokens reserved; the mock reports 10 + 7 = 17 used.
    let body = json!({"model": "mock-model", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});

    assert_eq!(app.chat(body.clone()).await.status(), 200);
    assert_eq!(app.chat(body.clone()).await.status(), 200);
    let refused = app.chat(body).await;

    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("The member quota of 40 tokens per month is used up"),
        "{message}"
    );
}

#[tokio::test]
async fn a_quota_survives_a_restart() {
    let app = app().await;
    let key = key_id(&app).await;
    let app = with_quota(
        app,
        "api_key",
        key,
        QuotaColumns {
            rpd: Some(3),
            ..QuotaColumns::default()
        },
    )
    .await;
    assert_eq!(statuses(&app, &app.api_key, 2).await, [200, 200]);
    app.wait_for_usage(2).await;

    let app = app.restart().await;

    assert_eq!(statuses(&app, &app.api_key, 2).await, [200, 429]);
}

#[tokio::test]
async fn a_quota_set_while_serving_applies_within_seconds_and_sees_the_days_usage() {
    let app = app().await;
    assert_eq!(statuses(&app, &app.api_key, 2).await, [200, 200]);

    set(
        &app,
        "tenant",
        app.tenant.id,
        QuotaColumns {
            rpd: Some(2),
            ..QuotaColumns::default()
        },
    )
    .await;

    eventually("the new quota refuses requests", || async {
        app.chat(chat_body("mock-model")).await.status() == 429
    })
    .await;
    let listed = quotas::list(&app.db, Some(app.tenant.id)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].rpd, Some(2));
}

#[tokio::test]
async fn a_failed_request_gives_its_quota_back() {
    let app = app().await;
    let key = key_id(&app).await;
    let app = with_quota(
        app,
        "api_key",
        key,
        QuotaColumns {
            rpd: Some(1),
            ..QuotaColumns::default()
        },
    )
    .await;
    app.mock(0).push(Behavior::status(400));

    let failed = app.chat(chat_body("mock-model")).await;

    assert_eq!(failed.status(), 400);
    assert_eq!(statuses(&app, &app.api_key, 2).await, [200, 429]);
}

#[tokio::test]
async fn a_quotas_models_and_expiry_are_enforced() {
    let app = app().await;
    let member = app.member.id;
    let tenant = app.tenant.id;
    set(
        &app,
        "tenant",
        tenant,
        QuotaColumns {
            allowed_models: Some(vec!["other-model".into()]),
            ..QuotaColumns::default()
        },
    )
    .await;
    let app = with_quota(
        app,
        "member",
        member,
        QuotaColumns {
            expires_at: Some(chrono::Utc::now() - chrono::Duration::seconds(1)),
            ..QuotaColumns::default()
        },
    )
    .await;

    let refused = app.chat(chat_body("mock-model")).await;
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    // The member's expiry is checked before the tenant's model list.
    assert_eq!(body["error"]["code"], "quota_expired");

    set(&app, "member", member, QuotaColumns::default()).await;
    eventually("the renewed quota is loaded", || async {
        let response = app.chat(chat_body("mock-model")).await;
        let body: Value = response.json().await.unwrap();
        body["error"]["code"] == "model_not_allowed"
    })
    .await;
    assert_eq!(app.mock(0).request_count(), 0);
}

#[tokio::test]
async fn a_stream_settles_its_quota_with_the_real_tokens_when_it_ends() {
    let app = app().await;
    let member = app.member.id;
    let app = with_quota(
        app,
        "member",
        member,
        QuotaColumns {
            tokens_per_month: Some(40),
            ..QuotaColumns::default()
        },
    )
    .await;
    let body = json!({"model": "mock-model", "stream": true, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});

    for _ in 0..2 {
        let response = app.chat(body.clone()).await;
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    }
    // 2 × 17 real tokens are counted once each stream has ended: a third does not fit.
    eventually("both streams are settled", || async {
        app.chat(body.clone()).await.status() == 429
    })
    .await;
    assert_eq!(app.mock(0).request_count(), 2);
}

#[tokio::test]
async fn legacy_completions_count_against_the_quota() {
    let app = app().await;
    let key = key_id(&app).await;
    let app = with_quota(
        app,
        "api_key",
        key,
        QuotaColumns {
            rpd: Some(2),
            ..QuotaColumns::default()
        },
    )
    .await;
    let send = |stream: bool| {
        app.client
            .post(format!("{}/v1/completions", app.address))
            .bearer_auth(&app.api_key)
            .json(
                &json!({"model": "mock-model", "prompt": "hi", "max_tokens": 5, "stream": stream}),
            )
            .send()
    };

    let plain = send(false).await.unwrap();
    assert_eq!(plain.status(), 200);
    let streamed = send(true).await.unwrap();
    assert_eq!(streamed.status(), 200);
    streamed.text().await.unwrap();
    let refused = send(false).await.unwrap();

    assert_eq!(refused.status(), 429);
    assert_eq!(app.mock(0).request_count(), 2);
}
