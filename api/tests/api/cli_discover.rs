//! Model discovery from the command line: `freeway credential discover ID` and
//! `freeway model add-discovered PROVIDER MODEL...`.

use freeway::mock::MockUpstream;
use serde_json::json;
use uuid::Uuid;

use crate::cli::run_ok;
use crate::helpers::fresh_database;

#[tokio::test]
async fn a_credential_discovers_its_providers_models_and_chosen_ones_are_added() {
    // Arrange: mock serves mock-model and qwen3-32b; the catalog has mock-model and
    // retired-model.
    let mock = MockUpstream::start().await.unwrap();
    mock.set_models(
        200,
        json!({"data": [
            {"id": "mock-model"},
            {"id": "qwen3-32b", "context_window": 32768},
        ]}),
    );
    let database_url = fresh_database().await;
    let dir = std::env::temp_dir().join(format!("freeway-cli-{}", Uuid::new_v4().simple()));
    let key_file = dir.join("master.key");
    let key_file = key_file.to_str().unwrap();
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("FREEWAY_MASTER_KEY_FILE", key_file),
    ];
    run_ok(&["keys", "generate", "--file", key_file], &env, None).await;
    let base_url = mock.base_url();
    let provider = [
        "provider",
        "add",
        "mock",
        "--base-url",
        &base_url,
        "--model",
        "mock-model",
        "--model",
        "retired-model",
    ];
    run_ok(&provider, &env, None).await;
    let add = ["credential", "add", "--provider", "mock"];
    run_ok(&add, &env, Some("sk-discovery-secret-1234\n")).await;
    let listed = run_ok(&["credential", "list"], &env, None).await;
    let id = listed.trim().rsplit('\t').next().unwrap().to_string();

    // Act
    let found = run_ok(&["credential", "discover", &id], &env, None).await;
    let added = run_ok(
        &[
            "model",
            "add-discovered",
            "mock",
            "qwen3-32b",
            "--context",
            "32768",
        ],
        &env,
        None,
    )
    .await;

    // Assert
    let lines: Vec<&str> = found.lines().skip(1).collect();
    assert_eq!(
        lines,
        [
            "new\tqwen3-32b\tchat\tcontext 32768",
            "missing\tretired-model\t(unavailable for this credential)",
            "known\tmock-model",
        ],
        "{found}"
    );
    assert_eq!(added.trim(), "Added model qwen3-32b to mock (chat)");
    let models = run_ok(&["model", "list"], &env, None).await;
    assert!(models.contains("mock/qwen3-32b\tchat"), "{models}");
    let _ = std::fs::remove_dir_all(dir);
}
