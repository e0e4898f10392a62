//! Two instances on one database, without Redis: what an admin changes through one reaches
//! the other by Postgres `NOTIFY`, with no restart. A revoked key is refused by both, and a
//! changed quota applies on both (each instance still counts its own window: sharing the
//! count is what Redis is for).

use std::time::{Duration, Instant};

use freeway::startup::{Application, Signals};
use reqwest::Method;
use uuid::Uuid;

use crate::helpers::{TestApp, chat_body, eventually_within, spawn_app};

/// A second instance of `app`'s server: same database, same master key (and, in
/// `redis_fleet`, the same Redis).
pub(crate) struct Replica {
    pub(crate) address: String,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Replica {
    pub(crate) async fn of(app: &TestApp) -> Replica {
        let built = Application::build(app.config.clone(), Signals::Ignore)
            .await
            .unwrap();
        let address = format!("http://127.0.0.1:{}", built.port());
        let handle = built.handle();
        let task = tokio::spawn(built.run_until_stopped());
        Replica {
            address,
            handle,
            task,
        }
    }

    pub(crate) async fn chat(&self, app: &TestApp) -> u16 {
        chat_at(app, &self.address).await
    }

    pub(crate) async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }
}

/// The status of one chat request from the member to the instance at `address`.
pub(crate) async fn chat_at(app: &TestApp, address: &str) -> u16 {
    app.client
        .post(format!("{address}/v1/chat/completions"))
        .bearer_auth(&app.api_key)
        .json(&chat_body("mock-model"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn chat_on(app: &TestApp) -> u16 {
    app.chat(chat_body("mock-model")).await.status().as_u16()
}

/// How long until both instances answer `status` to the member's key.
async fn until_both(app: &TestApp, replica: &Replica, status: u16, what: &str) -> Duration {
    let started = Instant::now();
    eventually_within(Duration::from_secs(10), what, || async {
        chat_on(app).await == status && replica.chat(app).await == status
    })
    .await;
    started.elapsed()
}

#[tokio::test]
async fn a_key_revoked_through_one_instance_is_refused_by_both() {
    let app = spawn_app().await;
    let replica = Replica::of(&app).await;
    assert_eq!(chat_on(&app).await, 200);
    assert_eq!(replica.chat(&app).await, 200);

    let token = app.admin_token().await;
    let key_id: Uuid = sqlx::query_scalar("SELECT id FROM api_keys WHERE member_id = $1")
        .bind(app.member.id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let path = format!(
        "/admin/v1/tenants/{}/members/{}/keys/{key_id}",
        app.tenant.id, app.member.id
    );
    let (status, body) = app.admin(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, 204, "{body}");
    let took = until_both(&app, &replica, 401, "both instances to refuse the key").await;
    println!("a revocation reached both instances in {took:?}");

    replica.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_quota_set_through_one_instance_applies_on_both() {
    let app = spawn_app().await;
    let replica = Replica::of(&app).await;
    let token = app.admin_token().await;
    let path = format!("/admin/v1/tenants/{}/quota", app.tenant.id);
    let (status, body) = app
        .admin(
            Method::PUT,
            &path,
            Some(&token),
            Some(serde_json::json!({"rpm": 0})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let took = until_both(&app, &replica, 429, "both instances to apply the quota").await;
    println!("a quota change reached both instances in {took:?}");

    // Lifted through the other instance, it is lifted on both.
    let (status, body) = replica_admin(&app, &replica, Method::DELETE, &path, &token).await;
    assert_eq!(status, 204, "{body}");
    until_both(&app, &replica, 200, "both instances to lift the quota").await;

    replica.stop().await;
    app.stop().await;
}

async fn replica_admin(
    app: &TestApp,
    replica: &Replica,
    method: Method,
    path: &str,
    token: &str,
) -> (u16, String) {
    let response = app
        .client
        .request(method, format!("{}{path}", replica.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}
