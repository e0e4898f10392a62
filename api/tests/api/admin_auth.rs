//! Signing in to the admin API: the first admin, passwords, JWTs, admin tokens, throttling
//! and the one error shape.

use freeway_wire::auth::Me;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Spawn, TestApp, spawn_app, spawn_with};

fn assert_admin_error(body: &Value, code: &str) {
    let error = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("not the admin error shape: {body}"));
    assert_eq!(error["code"], code, "{body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn the_first_start_creates_one_admin_whose_one_time_password_works_once_changed() {
    let app = spawn_app().await;
    let (username, password) = app.first_admin.clone().unwrap();
    assert_eq!(username, "admin");
    let token = app.login(&username, &password).await;
    let (status, me) = app
        .admin(Method::GET, "/admin/v1/me", Some(&token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(me["role"], "instance_admin");
    let me: Me = serde_json::from_value(me).unwrap();
    assert!(
        me.must_change_password,
        "a one-time password must be changed"
    );
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM admin_users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains(&password));

    // A restart does not create another admin.
    let app = app.restart().await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM admin_users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1);

    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/auth/password",
            Some(&token),
            Some(json!({"current_password": password, "new_password": "short"})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "new_password");
    let (status, _) = app
        .admin(
            Method::POST,
            "/admin/v1/auth/password",
            Some(&token),
            Some(json!({"current_password": password, "new_password": "a much longer passphrase"})),
        )
        .await;
    assert_eq!(status, 204);
    // The same token now reads the changed row: a reloaded UI no longer asks.
    let me: Me = app
        .admin_ok(Method::GET, "/admin/v1/me", &token, None)
        .await;
    assert!(!me.must_change_password);
    app.login("admin", "a much longer passphrase").await;
    let (status, _) = app
        .admin(
            Method::POST,
            "/admin/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": password})),
        )
        .await;
    assert_eq!(status, 401);
    app.stop().await;
}

#[tokio::test]
async fn bad_credentials_and_tokens_are_401_in_the_admin_shape() {
    let app = spawn_app().await;
    for body in [
        json!({"username": "admin", "password": "wrong"}),
        json!({"username": "nobody", "password": "x"}),
    ] {
        let (status, body) = app
            .admin(Method::POST, "/admin/v1/auth/login", None, Some(body))
            .await;
        assert_eq!(status, 401);
        assert_admin_error(&body, "unauthorized");
        assert_eq!(
            body["error"]["message"], "Wrong username or password.",
            "unknown users look like wrong passwords"
        );
    }
    let token = app.admin_token().await;
    let (status, body) = app.admin(Method::GET, "/admin/v1/me", None, None).await;
    assert_eq!(status, 401);
    assert_admin_error(&body, "unauthorized");
    let mut tampered = token.clone();
    let middle = tampered.len() / 2;
    tampered.replace_range(
        middle..middle + 1,
        if &token[middle..middle + 1] == "A" {
            "B"
        } else {
            "A"
        },
    );
    let (status, _) = app
        .admin(Method::GET, "/admin/v1/me", Some(&tampered), None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .admin(Method::GET, "/admin/v1/me", Some("fwa-nope-nope"), None)
        .await;
    assert_eq!(status, 401);
    // A member's api key is not an admin credential.
    let (status, _) = app
        .admin(Method::GET, "/admin/v1/me", Some(&app.api_key), None)
        .await;
    assert_eq!(status, 401);
    app.stop().await;
}

#[tokio::test]
async fn malformed_bodies_and_unknown_routes_answer_in_the_admin_shape() {
    let app = spawn_app().await;
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/auth/login",
            None,
            Some(json!({"username": "a", "password": "b", "extra": 1})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "extra");
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/v1/auth/login",
            None,
            Some(json!({"username": "a"})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "password");
    let response = app
        .client
        .post(format!("{}/admin/v1/auth/login", app.address))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_admin_error(&response.json().await.unwrap(), "invalid_json");
    let (status, body) = app
        .admin(Method::GET, "/admin/v1/nothing", None, None)
        .await;
    assert_eq!(status, 404);
    assert_admin_error(&body, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn wrong_passwords_are_slowed_down_without_locking_the_user_out_for_good() {
    let app = spawn_app().await;
    let (username, password) = app.first_admin.clone().unwrap();
    let wrong = json!({"username": username, "password": "wrong"});
    for _ in 0..5 {
        let (status, _) = app
            .admin(
                Method::POST,
                "/admin/v1/auth/login",
                None,
                Some(wrong.clone()),
            )
            .await;
        assert_eq!(status, 401);
    }
    let response = app
        .client
        .post(format!("{}/admin/v1/auth/login", app.address))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429, "even the right password waits");
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&wait));
    assert_admin_error(&response.json().await.unwrap(), "too_many_attempts");
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    app.login(&username, &password).await;
    app.stop().await;
}

#[tokio::test]
async fn admin_tokens_are_shown_once_stored_hashed_and_revocable() {
    let app = spawn_app().await;
    let jwt = app.admin_token().await;
    let (status, created) = app
        .admin(
            Method::POST,
            "/admin/v1/tokens",
            Some(&jwt),
            Some(json!({"name": "ci", "expires_in_days": 30})),
        )
        .await;
    assert_eq!(status, 201);
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with(created["prefix"].as_str().unwrap()));
    let (status, me) = app
        .admin(Method::GET, "/admin/v1/me", Some(&token), None)
        .await;
    assert_eq!((status, me["username"].as_str()), (200, Some("admin")));

    let (_, list) = app
        .admin(Method::GET, "/admin/v1/tokens", Some(&jwt), None)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(
        !list.to_string().contains(&token[token.len() - 20..]),
        "secrets are never listed"
    );
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_sha256 FROM admin_tokens")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 32);

    let id = created["id"].as_str().unwrap();
    let (status, _) = app
        .admin(
            Method::DELETE,
            &format!("/admin/v1/tokens/{id}"),
            Some(&jwt),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .admin(
            Method::DELETE,
            &format!("/admin/v1/tokens/{id}"),
            Some(&jwt),
            None,
        )
        .await;
    assert_eq!(status, 204, "revoking twice is fine");
    let (status, body) = app
        .admin(Method::GET, "/admin/v1/me", Some(&token), None)
        .await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    let (status, _) = app
        .admin(
            Method::DELETE,
            &format!("/admin/v1/tokens/{}", uuid::Uuid::new_v4()),
            Some(&jwt),
            None,
        )
        .await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn durations_and_texts_postgres_or_chrono_cannot_hold_are_422s_naming_the_field() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    // Once a dropped connection (`DateTime + TimeDelta overflowed`), from any signed-in role.
    for days in [0, 3651, 2_147_483_647_u64] {
        let error = app
            .admin_err(
                Method::POST,
                "/admin/v1/tokens",
                &token,
                Some(json!({"name": "ci", "expires_in_days": days})),
                422,
            )
            .await;
        assert_eq!(error.field.as_deref(), Some("expires_in_days"), "{days}");
    }
    let created: freeway_wire::auth::CreatedToken = app
        .admin_ok(
            Method::POST,
            "/admin/v1/tokens",
            &token,
            Some(json!({"name": "ci", "expires_in_days": 3650})),
        )
        .await;
    let expires = created.info.expires_at.unwrap();
    assert!(
        expires.to_rfc3339().starts_with(char::is_numeric),
        "{expires}"
    );
    // Once a 503 `database_unavailable`: Postgres cannot store NUL.
    for (path, body) in [
        ("/admin/v1/tenants", json!({"name": "a\u{0}b"})),
        ("/admin/v1/tokens", json!({"name": "a\u{0}b"})),
    ] {
        let error = app
            .admin_err(Method::POST, path, &token, Some(body), 422)
            .await;
        assert_eq!(error.field.as_deref(), Some("name"), "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_known_path_with_another_method_is_405_with_allow() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let response = app
        .client
        .put(format!("{}/admin/v1/tenants", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, POST");
    let error: freeway_wire::AdminErrorEnvelope = response.json().await.unwrap();
    assert_eq!(error.error.code, "method_not_allowed");
    app.stop().await;
}

async fn login_from(app: &TestApp, forwarded_for: &str, username: &str, password: &str) -> u16 {
    app.client
        .post(format!("{}/admin/v1/auth/login", app.address))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_one_clients_wrong_passwords_do_not_lock_out_another() {
    let app = spawn_with(Spawn {
        configure: Box::new(|c| c.trusted_proxies = "127.0.0.1".into()),
        ..Spawn::default()
    })
    .await;
    let (username, password) = app.first_admin.clone().unwrap();
    for _ in 0..5 {
        assert_eq!(
            login_from(&app, "203.0.113.9", "nobody", "wrong").await,
            401
        );
    }

    // The guessing client's address waits, whatever account it tries next...
    let guesser = login_from(&app, "203.0.113.9", "somebody", "wrong").await;
    // ...while the admin, behind the same proxy, logs in from their own address.
    let admin = login_from(&app, "198.51.100.1", &username, &password).await;

    assert_eq!(guesser, 429);
    assert_eq!(admin, 200);
    app.stop().await;
}

#[tokio::test]
async fn a_forged_forwarded_header_does_not_escape_the_throttle() {
    // No trusted proxy: the header is the client's own words and is ignored.
    let app = spawn_app().await;
    for n in 0..5 {
        let forged = format!("203.0.113.{n}");
        assert_eq!(login_from(&app, &forged, "nobody", "wrong").await, 401);
    }

    let status = login_from(&app, "203.0.113.200", "somebody", "wrong").await;

    assert_eq!(status, 429, "the peer's address was throttled");
    app.stop().await;
}
