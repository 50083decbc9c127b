//! Resource quantities come back from the API in Kubernetes' canonical form, whatever form a
//! client wrote them in, on create, update, status update, patch and apply alike.

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::{app, send};

async fn write(
    app: &axum::Router,
    method: &str,
    uri: &str,
    content_type: &str,
    body: Value,
) -> Value {
    let answer = send(
        app,
        method,
        uri,
        &[("content-type", content_type)],
        body.to_string(),
    )
    .await;
    assert!(
        answer.code == StatusCode::OK || answer.code == StatusCode::CREATED,
        "{method} {uri}: {} {:?}",
        answer.code,
        answer.json()
    );
    answer.json()
}

async fn read(app: &axum::Router, uri: &str) -> Value {
    let answer = send(app, "GET", uri, &[], "").await;
    assert_eq!(answer.code, StatusCode::OK, "{uri}");
    answer.json()
}

#[tokio::test]
async fn pod_container_resources_are_stored_and_returned_canonical() {
    let app = app().await;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sized"},
        "spec": {
            "initContainers": [{"name": "init", "image": "busybox",
                "resources": {"requests": {"cpu": "2000m"}, "limits": {"cpu": "2"}}}],
            "containers": [{"name": "web", "image": "nginx",
                "resources": {
                    "requests": {"cpu": "0.5", "memory": "1024Mi", "ephemeral-storage": "1e3"},
                    "limits": {"cpu": "1000m", "memory": "1.5Gi"}}}]}});
    let uri = "/api/v1/namespaces/default/pods";
    let created = write(&app, "POST", uri, "application/json", pod).await;
    for body in [created, read(&app, &format!("{uri}/sized")).await] {
        let resources = &body["spec"]["containers"][0]["resources"];
        assert_eq!(
            resources["requests"],
            json!({"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1e3"})
        );
        assert_eq!(resources["limits"], json!({"cpu": "1", "memory": "1536Mi"}));
        assert_eq!(
            body["spec"]["initContainers"][0]["resources"]["requests"],
            json!({"cpu": "2"})
        );
    }
}

#[tokio::test]
async fn node_capacity_written_through_the_status_subresource_is_canonical() {
    let app = app().await;
    let uri = "/api/v1/nodes";
    write(
        &app,
        "POST",
        uri,
        "application/json",
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}),
    )
    .await;
    let mut node = read(&app, &format!("{uri}/n1")).await;
    node["status"] = json!({
        "capacity": {"cpu": "4000m", "memory": "8192Mi", "pods": "110"},
        "allocatable": {"cpu": "3.5", "memory": "7.5Gi", "pods": "110"}});
    let updated = write(
        &app,
        "PUT",
        &format!("{uri}/n1/status"),
        "application/json",
        node,
    )
    .await;
    for body in [updated, read(&app, &format!("{uri}/n1")).await] {
        assert_eq!(
            body["status"]["capacity"],
            json!({"cpu": "4", "memory": "8Gi", "pods": "110"})
        );
        assert_eq!(
            body["status"]["allocatable"],
            json!({"cpu": "3500m", "memory": "7680Mi", "pods": "110"})
        );
    }

    // A status patch too.
    let patched = write(
        &app,
        "PATCH",
        &format!("{uri}/n1/status"),
        "application/merge-patch+json",
        json!({"status": {"allocatable": {"cpu": "2000m"}}}),
    )
    .await;
    assert_eq!(patched["status"]["allocatable"]["cpu"], "2");
}

#[tokio::test]
async fn claims_quotas_and_limit_ranges_hold_canonical_quantities() {
    let app = app().await;
    let ns = "/api/v1/namespaces/default";
    let claim = write(
        &app,
        "POST",
        &format!("{ns}/persistentvolumeclaims"),
        "application/json",
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
               "spec": {"accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1024Mi"}}}}),
    )
    .await;
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "1Gi");

    let quota = write(
        &app,
        "POST",
        &format!("{ns}/resourcequotas"),
        "application/json",
        json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
               "spec": {"hard": {"cpu": "1000", "memory": "2048Mi", "pods": "10"}}}),
    )
    .await;
    assert_eq!(
        quota["spec"]["hard"],
        json!({"cpu": "1k", "memory": "2Gi", "pods": "10"})
    );

    let range = write(
        &app,
        "POST",
        &format!("{ns}/limitranges"),
        "application/json",
        json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l"},
               "spec": {"limits": [{"type": "Container",
                   "max": {"cpu": "2000m"}, "min": {"cpu": "0.1"}}]}}),
    )
    .await;
    let item = &range["spec"]["limits"][0];
    assert_eq!(item["max"]["cpu"], "2");
    assert_eq!(item["min"]["cpu"], "100m");
    assert_eq!(
        item["default"]["cpu"], "2",
        "the default limit comes from max"
    );

    // Server-side apply stores canonical quantities as well.
    let applied = write(
        &app,
        "PATCH",
        &format!("{ns}/resourcequotas/q?fieldManager=tester&force=true"),
        "application/apply-patch+yaml",
        json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
               "spec": {"hard": {"cpu": "500m", "memory": "0.5Gi"}}}),
    )
    .await;
    assert_eq!(applied["spec"]["hard"]["cpu"], "500m");
    assert_eq!(applied["spec"]["hard"]["memory"], "512Mi");
}

#[tokio::test]
async fn pod_templates_are_canonical_after_a_patch() {
    let app = app().await;
    let uri = "/apis/apps/v1/namespaces/default/deployments";
    write(&app, "POST", uri, "application/json",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}})).await;
    let patched = write(
        &app,
        "PATCH",
        &format!("{uri}/web"),
        "application/strategic-merge-patch+json",
        json!({"spec": {"template": {"spec": {"containers": [{"name": "web",
            "resources": {"requests": {"cpu": "1500m", "memory": "0.25Gi"}}}]}}}}),
    )
    .await;
    let requests = &patched["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"];
    assert_eq!(requests, &json!({"cpu": "1500m", "memory": "256Mi"}));
    let patched = write(
        &app,
        "PATCH",
        &format!("{uri}/web"),
        "application/json-patch+json",
        json!([{"op": "replace",
                "path": "/spec/template/spec/containers/0/resources/requests/cpu",
                "value": "3000m"}]),
    )
    .await;
    assert_eq!(
        patched["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"],
        "3"
    );
}
