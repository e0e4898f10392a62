//! Every operation of the admin API, read from the OpenAPI document itself, refuses callers
//! without a valid admin credential — before it looks at their input.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::spawn_app;

/// Every documented `/admin/v1` operation that requires the `admin` security scheme.
fn secured_operations(doc: &Value) -> Vec<(Method, String)> {
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|req| req.get("admin_jwt").is_some()));
            if !path.starts_with("/admin/v1/") || !secured {
                continue;
            }
            // Any id will do: authentication comes first.
            let concrete: String = path
                .split('/')
                .map(|part| {
                    if part.starts_with('{') {
                        uuid::Uuid::now_v7().to_string()
                    } else {
                        part.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            operations.push((method.to_uppercase().parse().unwrap(), concrete));
        }
    }
    operations
}

#[tokio::test]
async fn every_secured_admin_operation_refuses_anonymous_and_api_key_callers() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(format!("{}/admin/v1/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let operations = secured_operations(&doc);
    assert!(operations.len() >= 5, "{operations:?}");
    for (method, path) in &operations {
        for token in [None, Some(app.api_key.as_str()), Some("fwa-forged-token")] {
            let mut request = app
                .client
                .request(method.clone(), format!("{}{path}", app.address));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if [Method::POST, Method::PUT, Method::PATCH].contains(method) {
                request = request.json(&serde_json::json!({"unexpected": true}));
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_eq!(status, 401, "{method} {path} with {token:?}: {body}");
            assert_eq!(
                body["error"]["code"], "unauthorized",
                "{method} {path}: {body}"
            );
        }
    }
    app.stop().await;
}
