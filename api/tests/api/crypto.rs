//! Provider secrets at rest: sealed, bound to their row, and rotatable under load.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use freeway::crypto::{Keyring, SealedSecret, open};
use freeway::store::credentials;
use freeway::store::providers;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::cli::run_ok;
use crate::helpers::{ACTOR, Spawn, TestApp, add_model, chat_body, spawn_app, spawn_with};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct StoredCredential {
    id: Uuid,
    provider: String,
    sealed: SealedSecret,
}

/// Every credential row, sealed, with its provider's name; ordered by provider.
async fn stored_credentials(db: &PgPool) -> Vec<StoredCredential> {
    sqlx::query(
        "SELECT c.id, p.name, c.ciphertext, c.wrapped_key, c.key_version
         FROM credentials c JOIN providers p ON p.id = c.provider_id ORDER BY p.name",
    )
    .fetch_all(db)
    .await
    .unwrap()
    .into_iter()
    .map(|row| StoredCredential {
        id: row.get("id"),
        provider: row.get("name"),
        sealed: SealedSecret {
            ciphertext: row.get("ciphertext"),
            wrapped_key: row.get("wrapped_key"),
            key_version: row.get("key_version"),
        },
    })
    .collect()
}

/// The secret `spawn_with` gave the credential of provider `mock<i>`.
fn secret_of(provider: &str) -> String {
    format!("secret-{}", provider.trim_start_matches("mock"))
}

/// A keyring with only the version-1 key of `key_file`.
fn first_version_only(key_file: &std::path::Path) -> Keyring {
    let text = std::fs::read_to_string(key_file).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("1:"))
        .expect("a version-1 key");
    let keyring = Keyring::from_config(Some(line), None).unwrap();
    assert_eq!(keyring.versions(), vec![1]);
    keyring
}

/// Adds model `model` to provider `provider` (which announces the change) and waits until
/// the running server serves it: proof that it has reloaded the pool since, with its
/// credentials decrypted.
async fn wait_for_reload(app: &TestApp, provider: &str, model: &str) {
    let row = providers::find(&app.db, provider).await.unwrap().unwrap();
    add_model(&app.db, &row, model).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let response = app.chat(chat_body(model)).await;
        if response.status() == 200 {
            assert_eq!(
                response.headers()["x-freeway-route"],
                format!("{provider}/{model}").as_str()
            );
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server does not serve {model} (last answer {})",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn no_table_holds_the_plaintext_secret() {
    let app = spawn_app().await;
    let secret = b"secret-0";
    let secret_hex = hex(secret);

    let row = sqlx::query("SELECT ciphertext, wrapped_key, last4 FROM credentials")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let ciphertext: Vec<u8> = row.get("ciphertext");
    let wrapped_key: Vec<u8> = row.get("wrapped_key");
    assert!(ciphertext.len() > secret.len());
    assert!(!contains(&ciphertext, secret));
    assert!(!contains(&wrapped_key, secret));
    assert_eq!(row.get::<String, _>("last4"), "et-0");

    let rows: Vec<String> = sqlx::query_scalar("SELECT row_to_json(c)::text FROM credentials c")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    for json in &rows {
        assert!(!json.contains("secret-0"), "{json}");
        // bytea comes out as hex.
        assert!(!json.contains(&secret_hex), "{json}");
        assert!(json.contains("\"ciphertext\""), "{json}");
    }

    let audit: Vec<String> = sqlx::query_scalar("SELECT row_to_json(a)::text FROM audit_log a")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(
        audit.iter().any(|json| json.contains("credential.create")),
        "the credential's creation is audited: {audit:?}"
    );
    for json in &audit {
        assert!(!json.contains("secret-0"), "{json}");
        assert!(!json.contains(&secret_hex), "{json}");
    }
    app.stop().await;
}

#[tokio::test]
async fn secrets_open_only_on_their_own_row() {
    let app = spawn_with(Spawn {
        providers: 2,
        ..Spawn::default()
    })
    .await;
    let keyring = Keyring::load_file(&app.key_file).unwrap();
    let rows = stored_credentials(&app.db).await;
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(
            open(&keyring, row.id, &row.sealed).unwrap().expose(),
            secret_of(&row.provider)
        );
    }
    // Served by the first provider, with its own secret.
    let response = app.chat(chat_body("mock-model")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-freeway-route"], "mock0/mock-model");

    // mock1's sealed secret copied onto mock0's row.
    let (victim, donor) = (&rows[0], &rows[1]);
    assert_eq!(victim.provider, "mock0");
    sqlx::query(
        "UPDATE credentials SET ciphertext = $2, wrapped_key = $3, key_version = $4 WHERE id = $1",
    )
    .bind(victim.id)
    .bind(&donor.sealed.ciphertext)
    .bind(&donor.sealed.wrapped_key)
    .bind(donor.sealed.key_version)
    .execute(&app.db)
    .await
    .unwrap();
    let tampered = stored_credentials(&app.db).await;
    assert_eq!(tampered[0].sealed, donor.sealed);
    assert!(open(&keyring, tampered[0].id, &tampered[0].sealed).is_err());
    assert_eq!(
        open(&keyring, tampered[1].id, &tampered[1].sealed)
            .unwrap()
            .expose(),
        "secret-1"
    );

    // The server leaves the row out at its next reload, and the other provider serves.
    sqlx::query("SELECT pg_notify('freeway_changes', 'pool')")
        .execute(&app.db)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let response = app.chat(chat_body("mock-model")).await;
        assert_eq!(response.status(), 200);
        if response.headers()["x-freeway-route"] == "mock1/mock-model" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "mock0 still serves with a tampered credential"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for request in app.mock(0).requests() {
        assert_eq!(request.header("authorization"), Some("Bearer secret-0"));
    }
    let to_mock1 = app.mock(1).requests();
    assert!(!to_mock1.is_empty());
    for request in to_mock1 {
        assert_eq!(request.header("authorization"), Some("Bearer secret-1"));
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotating_the_master_key_under_load() {
    let app = spawn_with(Spawn {
        providers: 2,
        ..Spawn::default()
    })
    .await;
    let before = stored_credentials(&app.db).await;
    assert!(before.iter().all(|c| c.sealed.key_version == 1));

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (client, url, key) = (
                app.client.clone(),
                format!("{}/v1/chat/completions", app.address),
                app.api_key.clone(),
            );
            let (stop, done) = (stop.clone(), done.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let status = client
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&chat_body("mock-model"))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0);
                    statuses.push(status);
                    done.fetch_add(1, Ordering::Relaxed);
                }
                statuses
            })
        })
        .collect();
    let wait_for_requests = |n: usize| {
        let done = done.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while done.load(Ordering::Relaxed) < n {
                assert!(tokio::time::Instant::now() < deadline, "the load stalled");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait_for_requests(40).await;

    // What `freeway keys rotate` does.
    let keyring = Keyring::add_version_to_file(&app.key_file).unwrap();
    assert_eq!(keyring.versions(), vec![1, 2]);
    let rewrapped = credentials::rewrap(&app.db, ACTOR, &keyring).await.unwrap();
    assert_eq!(rewrapped, 2);
    // The server has reloaded with the new key version and still decrypts both rows.
    wait_for_reload(&app, "mock0", "probe-model").await;
    let after_reload = done.load(Ordering::Relaxed);
    wait_for_requests(after_reload + 40).await;
    stop.store(true, Ordering::Relaxed);
    let mut statuses = Vec::new();
    for task in load {
        statuses.extend(task.await.unwrap());
    }
    assert!(statuses.len() >= 80);
    let failed: Vec<_> = statuses.iter().filter(|s| **s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        statuses.len()
    );

    let after = stored_credentials(&app.db).await;
    assert_eq!(after.len(), before.len());
    let only_v1 = first_version_only(&app.key_file);
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(old.id, new.id);
        assert_eq!(new.sealed.key_version, 2);
        assert_eq!(new.sealed.ciphertext, old.sealed.ciphertext);
        assert_ne!(new.sealed.wrapped_key, old.sealed.wrapped_key);
        assert!(open(&only_v1, new.id, &new.sealed).is_err());
        assert_eq!(
            open(&keyring, new.id, &new.sealed).unwrap().expose(),
            secret_of(&new.provider)
        );
    }
    // The second provider's secret still reaches it.
    wait_for_reload(&app, "mock1", "probe-model-1").await;
    assert_eq!(
        app.mock(1)
            .requests()
            .last()
            .unwrap()
            .header("authorization"),
        Some("Bearer secret-1")
    );
    app.stop().await;
}

#[tokio::test]
async fn keys_rotate_through_the_binary() {
    let app = spawn_with(Spawn {
        providers: 2,
        ..Spawn::default()
    })
    .await;
    let before = stored_credentials(&app.db).await;
    let key_file = app.key_file.to_str().unwrap();
    let env = [
        ("DATABASE_URL", app.database_url.as_str()),
        ("FREEWAY_MASTER_KEY_FILE", key_file),
    ];
    for version in [2, 3] {
        let out = run_ok(&["keys", "rotate"], &env, None).await;
        assert!(
            out.contains(&format!(
                "Re-wrapped 2 credential data key(s) under master key version {version}."
            )),
            "{out}"
        );
    }
    let keyring = Keyring::load_file(&app.key_file).unwrap();
    assert_eq!(keyring.versions(), vec![1, 2, 3]);
    let after = stored_credentials(&app.db).await;
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(new.sealed.key_version, 3);
        assert_eq!(new.sealed.ciphertext, old.sealed.ciphertext);
        assert_eq!(
            open(&keyring, new.id, &new.sealed).unwrap().expose(),
            secret_of(&new.provider)
        );
    }
    let rotations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'master_key.rotate'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(rotations, 2);

    // Nothing left to re-wrap: no new version, nothing touched.
    let out = run_ok(&["keys", "rotate", "--no-new-version"], &env, None).await;
    assert!(out.contains("Re-wrapped 0 "), "{out}");

    wait_for_reload(&app, "mock0", "probe-model").await;
    app.stop().await;
}
