//! PATCH over HTTP as Kubernetes answers it: the status code of a server-side apply that
//! creates its object, and field validation of every patch type.

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::{Answer, app, send};

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

async fn apply(app: &axum::Router, name: &str, query: &str, body: &Value) -> Answer {
    send(
        app,
        "PATCH",
        &format!("{CONFIGMAPS}/{name}?fieldManager=tester{query}"),
        &[("content-type", "application/apply-patch+yaml")],
        body.to_string(),
    )
    .await
}

fn config_map(name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
           "data": {"key": value}})
}

#[tokio::test]
async fn server_side_apply_answers_201_when_it_creates_and_200_when_it_updates() {
    let app = app().await;

    let created = apply(&app, "settings", "", &config_map("settings", "one")).await;
    assert_eq!(created.code, StatusCode::CREATED);
    let body = created.json();
    assert_eq!(body["kind"], "ConfigMap");
    assert_eq!(body["metadata"]["name"], "settings");
    assert_eq!(body["metadata"]["namespace"], "default");
    assert_eq!(body["data"]["key"], "one");
    assert_eq!(body["metadata"]["managedFields"][0]["manager"], "tester");
    assert_eq!(body["metadata"]["managedFields"][0]["operation"], "Apply");
    assert!(
        body["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| !u.is_empty())
    );

    let updated = apply(&app, "settings", "", &config_map("settings", "two")).await;
    assert_eq!(updated.code, StatusCode::OK);
    assert_eq!(updated.json()["data"]["key"], "two");
    assert_eq!(updated.json()["metadata"]["uid"], body["metadata"]["uid"]);

    // Re-applying the same configuration changes nothing and is still a plain 200.
    let unchanged = apply(&app, "settings", "", &config_map("settings", "two")).await;
    assert_eq!(unchanged.code, StatusCode::OK);
    assert_eq!(
        unchanged.json()["metadata"]["resourceVersion"],
        updated.json()["metadata"]["resourceVersion"]
    );
}

#[tokio::test]
async fn a_dry_run_apply_that_would_create_answers_201_and_stores_nothing() {
    let app = app().await;

    let answer = apply(&app, "draft", "&dryRun=All", &config_map("draft", "x")).await;
    assert_eq!(answer.code, StatusCode::CREATED);
    assert_eq!(answer.json()["data"]["key"], "x");

    let get = send(&app, "GET", &format!("{CONFIGMAPS}/draft"), &[], "").await;
    assert_eq!(get.code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn other_patches_of_a_missing_object_are_404_not_created() {
    let app = app().await;

    let answer = send(
        &app,
        "PATCH",
        &format!("{CONFIGMAPS}/absent"),
        &[("content-type", "application/merge-patch+json")],
        json!({"data": {"key": "x"}}).to_string(),
    )
    .await;
    assert_eq!(answer.code, StatusCode::NOT_FOUND);
    assert_eq!(answer.json()["reason"], "NotFound");
}
