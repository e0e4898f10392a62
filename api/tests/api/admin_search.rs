//! `?q=` on the paged admin lists: a case-insensitive substring, paged like the whole list,
//! with `%`, `_` and `\` matching themselves.

use freeway_wire::Page;
use freeway_wire::auth::TokenInfo;
use freeway_wire::tenants::{CreatedKey, KeyView, MemberView, TenantView};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

/// `path` with `q` (URL-encoded) and `extra` query parameters.
fn searched(path: &str, q: &str, extra: &str) -> String {
    let q: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
    format!("{path}?q={q}{extra}")
}

/// Every page of `path?q=` with `limit`, the names in order.
async fn all_pages<T: serde::de::DeserializeOwned>(
    app: &TestApp,
    token: &str,
    path: &str,
    q: &str,
    name: impl Fn(&T) -> String,
) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor = String::new();
    loop {
        let page: Page<T> = app
            .admin_ok(
                Method::GET,
                &searched(path, q, &format!("&limit=1{cursor}")),
                token,
                None,
            )
            .await;
        assert!(page.data.len() <= 1);
        names.extend(page.data.iter().map(&name));
        match page.next_cursor {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return names,
        }
    }
}

#[tokio::test]
async fn tenants_are_searched_by_name_ignoring_case_and_paged() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    for name in [
        "Alpha",
        "beta",
        "alphabet",
        "50%_off",
        "50xxoff",
        "back\\slash",
    ] {
        let _: TenantView = app
            .admin_ok(
                Method::POST,
                "/admin/v1/tenants",
                &root,
                Some(json!({"name": name})),
            )
            .await;
    }
    let names = |q: &'static str| {
        let (app, root) = (&app, &root);
        async move {
            all_pages(app, root, "/admin/v1/tenants", q, |t: &TenantView| {
                t.name.clone()
            })
            .await
        }
    };
    // Two matches, one per page, in creation order.
    assert_eq!(names("ALPH").await, ["Alpha", "alphabet"]);
    // Wildcards in the text match only themselves.
    assert_eq!(names("50%_").await, ["50%_off"]);
    assert_eq!(names("_").await, ["50%_off"]);
    assert_eq!(names("\\").await, ["back\\slash"]);
    assert!(names("nothing").await.is_empty());
    // Surrounding spaces are trimmed; a blank search is the whole list.
    assert_eq!(names(" beta ").await, ["beta"]);
    assert_eq!(names("  ").await.len(), 7);

    for q in ["", &"x".repeat(101)] {
        let error = app
            .admin_err(
                Method::GET,
                &searched("/admin/v1/tenants", q, ""),
                &root,
                None,
                422,
            )
            .await;
        assert_eq!(error.field.as_deref(), Some("q"), "{q:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn members_keys_and_tokens_are_searched_by_their_own_fields() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let tenant = app.tenant.id;
    for (name, email) in [("bob", "carol@example.com"), ("Carolyn", "c@example.com")] {
        let _: MemberView = app
            .admin_ok(
                Method::POST,
                &format!("/admin/v1/tenants/{tenant}/members"),
                &root,
                Some(json!({"name": name, "email": email})),
            )
            .await;
    }
    let members = format!("/admin/v1/tenants/{tenant}/members");
    let by_name = |m: &MemberView| m.name.clone();
    // By name or email: "carol" is bob's email and Carolyn's name.
    assert_eq!(
        all_pages(&app, &root, &members, "carol", by_name).await,
        ["bob", "Carolyn"]
    );
    assert_eq!(
        all_pages(&app, &root, &members, "ali", by_name).await,
        ["alice"]
    );

    let keys = format!("/admin/v1/tenants/{tenant}/members/{}/keys", app.member.id);
    let mut prefix = String::new();
    for name in ["laptop", "ci 100%", "server"] {
        let created: CreatedKey = app
            .admin_ok(Method::POST, &keys, &root, Some(json!({"name": name})))
            .await;
        if name == "server" {
            prefix = created.info.prefix;
        }
    }
    let key_name = |k: &KeyView| k.name.clone();
    assert_eq!(
        all_pages(&app, &root, &keys, "0%", key_name).await,
        ["ci 100%"]
    );
    // By prefix: its public id's tail names one key.
    let tail = &prefix[prefix.len() - 8..];
    assert_eq!(
        all_pages(&app, &root, &keys, tail, key_name).await,
        ["server"]
    );

    for name in ["deploy", "Deploy-staging", "backup"] {
        let _: serde_json::Value = app
            .admin_ok(
                Method::POST,
                "/admin/v1/tokens",
                &root,
                Some(json!({"name": name})),
            )
            .await;
    }
    let token_name = |t: &TokenInfo| t.name.clone();
    assert_eq!(
        all_pages(&app, &root, "/admin/v1/tokens", "DEPLOY", token_name).await,
        ["deploy", "Deploy-staging"]
    );
    app.stop().await;
}
