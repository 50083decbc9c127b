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

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";

fn deployment(name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})
}

async fn create_deployment(app: &axum::Router, name: &str) -> Value {
    let created = send(
        app,
        "POST",
        DEPLOYMENTS,
        &[("content-type", "application/json")],
        deployment(name).to_string(),
    )
    .await;
    assert_eq!(created.code, StatusCode::CREATED, "{:?}", created.json());
    created.json()
}

async fn patch(
    app: &axum::Router,
    name: &str,
    content_type: &str,
    validation: Option<&str>,
    body: &str,
) -> Answer {
    let query = validation.map_or(String::new(), |v| format!("?fieldValidation={v}"));
    send(
        app,
        "PATCH",
        &format!("{DEPLOYMENTS}/{name}{query}"),
        &[("content-type", content_type)],
        body.to_owned(),
    )
    .await
}

async fn stored(app: &axum::Router, name: &str) -> Value {
    send(app, "GET", &format!("{DEPLOYMENTS}/{name}"), &[], "")
        .await
        .json()
}

/// Patches of every type that add the field `spec.foo` and the container field
/// `spec.template.spec.containers[0].bar`, neither of which a Deployment has.
fn unknown_field_patches() -> [(&'static str, String); 3] {
    [
        (
            "application/merge-patch+json",
            json!({"spec": {"foo": 1, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1.27", "bar": true}]}}}})
            .to_string(),
        ),
        (
            "application/strategic-merge-patch+json",
            json!({"spec": {"foo": 1, "template": {"spec": {"containers": [
                {"name": "web", "bar": true}]}}}})
            .to_string(),
        ),
        (
            "application/json-patch+json",
            json!([{"op": "add", "path": "/spec/foo", "value": 1},
                   {"op": "add", "path": "/spec/template/spec/containers/0/bar", "value": true}])
            .to_string(),
        ),
    ]
}

#[tokio::test]
async fn strict_validation_refuses_patches_that_add_unknown_fields_and_stores_nothing() {
    let app = app().await;
    let before = create_deployment(&app, "strict").await;

    for (content_type, body) in unknown_field_patches() {
        let answer = patch(&app, "strict", content_type, Some("Strict"), &body).await;
        assert_eq!(
            answer.code,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{content_type}: {:?}",
            answer.json()
        );
        let status = answer.json();
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["reason"], "Invalid");
        let message = status["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(
                "strict decoding error: unknown field \"spec.foo\", \
                 unknown field \"spec.template.spec.containers[0].bar\""
            ),
            "{content_type}: {message}"
        );
        assert_eq!(status["details"]["causes"][0]["field"], "patch");
        assert_eq!(
            status["details"]["causes"][0]["reason"],
            "FieldValueInvalid"
        );
    }

    let after = stored(&app, "strict").await;
    assert_eq!(
        after["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][0].get("bar"),
        None
    );
}

#[tokio::test]
async fn warn_validation_applies_patches_and_names_unknown_fields_in_warning_headers() {
    let app = app().await;
    create_deployment(&app, "warn").await;

    for (content_type, body) in unknown_field_patches() {
        for validation in [Some("Warn"), None] {
            let answer = patch(&app, "warn", content_type, validation, &body).await;
            assert_eq!(
                answer.code,
                StatusCode::OK,
                "{content_type}: {:?}",
                answer.json()
            );
            assert_eq!(
                answer.warnings(),
                [
                    "unknown field \"spec.foo\"",
                    "unknown field \"spec.template.spec.containers[0].bar\""
                ],
                "{content_type} with fieldValidation={validation:?}"
            );
            assert_eq!(answer.json()["spec"].get("foo"), None);
        }
    }
}

#[tokio::test]
async fn ignore_validation_drops_unknown_fields_of_patches_silently() {
    let app = app().await;
    create_deployment(&app, "ignore").await;

    for (content_type, body) in unknown_field_patches() {
        let answer = patch(&app, "ignore", content_type, Some("Ignore"), &body).await;
        assert_eq!(answer.code, StatusCode::OK, "{content_type}");
        assert!(answer.warnings().is_empty(), "{content_type}");
        assert_eq!(answer.json()["spec"].get("foo"), None);
    }
}

#[tokio::test]
async fn duplicate_fields_of_a_patch_are_strict_decoding_problems() {
    let app = app().await;
    let before = create_deployment(&app, "dupes").await;
    let body = r#"{"spec":{"paused":true,"paused":false}}"#;

    let strict = patch(
        &app,
        "dupes",
        "application/merge-patch+json",
        Some("Strict"),
        body,
    )
    .await;
    assert_eq!(strict.code, StatusCode::UNPROCESSABLE_ENTITY);
    let message = strict.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("strict decoding error: duplicate field \"spec.paused\""),
        "{message}"
    );
    assert_eq!(
        stored(&app, "dupes").await["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );

    let warned = patch(
        &app,
        "dupes",
        "application/strategic-merge-patch+json",
        Some("Warn"),
        body,
    )
    .await;
    assert_eq!(warned.code, StatusCode::OK);
    assert_eq!(warned.warnings(), ["duplicate field \"spec.paused\""]);
}

#[tokio::test]
async fn json_patch_operations_with_unknown_fields_are_strict_decoding_problems() {
    let app = app().await;
    create_deployment(&app, "ops").await;
    let body =
        json!([{"op": "replace", "path": "/spec/replicas", "value": 2, "valu": 3}]).to_string();

    let strict = patch(
        &app,
        "ops",
        "application/json-patch+json",
        Some("Strict"),
        &body,
    )
    .await;
    assert_eq!(strict.code, StatusCode::UNPROCESSABLE_ENTITY);
    let message = strict.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("strict decoding error: json patch unknown field \"[0].valu\""),
        "{message}"
    );
    assert_eq!(stored(&app, "ops").await["spec"]["replicas"], 1);

    let warned = patch(
        &app,
        "ops",
        "application/json-patch+json",
        Some("Warn"),
        &body,
    )
    .await;
    assert_eq!(warned.code, StatusCode::OK);
    assert_eq!(warned.warnings(), ["json patch unknown field \"[0].valu\""]);
    assert_eq!(warned.json()["spec"]["replicas"], 2);
}

#[tokio::test]
async fn status_patches_are_validated_too() {
    let app = app().await;
    create_deployment(&app, "status").await;
    let answer = send(
        &app,
        "PATCH",
        &format!("{DEPLOYMENTS}/status/status?fieldValidation=Strict"),
        &[("content-type", "application/merge-patch+json")],
        json!({"status": {"replicas": 1, "replicaz": 1}}).to_string(),
    )
    .await;
    assert_eq!(answer.code, StatusCode::UNPROCESSABLE_ENTITY);
    let message = answer.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("unknown field \"status.replicaz\""),
        "{message}"
    );
}

#[tokio::test]
async fn server_side_apply_refuses_undeclared_fields_in_every_validation_mode() {
    let app = app().await;
    let mut config = deployment("applied");
    config["spec"]["foo"] = json!(1);
    config["spec"]["template"]["spec"]["containers"][0]["bar"] = json!(true);

    for validation in ["Strict", "Warn", "Ignore"] {
        let answer = send(
            &app,
            "PATCH",
            &format!("{DEPLOYMENTS}/applied?fieldManager=tester&fieldValidation={validation}"),
            &[("content-type", "application/apply-patch+yaml")],
            config.to_string(),
        )
        .await;
        assert_eq!(answer.code, StatusCode::BAD_REQUEST, "{validation}");
        let status = answer.json();
        assert_eq!(status["reason"], "BadRequest");
        assert_eq!(
            status["message"],
            "failed to create typed patch object (default/applied; apps/v1, Kind=Deployment): \
             errors:\n  .spec.foo: field not declared in schema\n  \
             .spec.template.spec.containers[0].bar: field not declared in schema",
            "{validation}"
        );
    }
    // Nothing was created.
    let get = send(&app, "GET", &format!("{DEPLOYMENTS}/applied"), &[], "").await;
    assert_eq!(get.code, StatusCode::NOT_FOUND);

    // Nor is an existing object changed.
    let before = create_deployment(&app, "applied").await;
    let answer = send(
        &app,
        "PATCH",
        &format!("{DEPLOYMENTS}/applied?fieldManager=tester"),
        &[("content-type", "application/apply-patch+yaml")],
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: applied\nspec:\n  replicas: 3\n  foo: 1\n",
    )
    .await;
    assert_eq!(answer.code, StatusCode::BAD_REQUEST);
    assert!(
        answer.json()["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("): .spec.foo: field not declared in schema")),
        "{:?}",
        answer.json()
    );
    let after = stored(&app, "applied").await;
    assert_eq!(after["spec"]["replicas"], 1);
    assert_eq!(
        after["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
}

#[tokio::test]
async fn duplicate_fields_of_an_apply_configuration_follow_field_validation() {
    let app = app().await;
    let body = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"twice"},"data":{"k":"a","k":"b"}}"#;

    let strict = apply_raw(&app, "twice", "&fieldValidation=Strict", body).await;
    assert_eq!(strict.code, StatusCode::BAD_REQUEST);
    assert_eq!(
        strict.json()["message"],
        "error strict decoding YAML: duplicate field \"data.k\""
    );

    let warned = apply_raw(&app, "twice", "&fieldValidation=Warn", body).await;
    assert_eq!(warned.code, StatusCode::CREATED);
    assert_eq!(warned.warnings(), ["duplicate field \"data.k\""]);
    assert_eq!(warned.json()["data"]["k"], "b");
}

async fn apply_raw(app: &axum::Router, name: &str, query: &str, body: &str) -> Answer {
    send(
        app,
        "PATCH",
        &format!("{CONFIGMAPS}/{name}?fieldManager=tester{query}"),
        &[("content-type", "application/apply-patch+yaml")],
        body.to_owned(),
    )
    .await
}
