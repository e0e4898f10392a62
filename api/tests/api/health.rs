use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_answer_ok() {
    let app = spawn_app().await;
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ok");
    assert_eq!(ready["database"], true);
    assert_eq!(ready["migrations"], true);
    app.stop().await;
}

#[tokio::test]
async fn a_chat_completion_goes_through_and_is_recorded() {
    let app = spawn_app().await;
    let response = app.chat(crate::helpers::chat_body("mock-model")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-freeway-route"], "mock0/mock-model");
    app.wait_for_usage(1).await;
    app.stop().await;
}
