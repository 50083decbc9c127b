//! A namespace's life over HTTP as Kubernetes serves it: a delete marks it `Terminating`, new
//! content is refused, and `PUT namespaces/{name}/finalize` with its finalizers removed lets
//! it go (what the namespace controller does once it has emptied it).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use orchestra_api::kinds;
use orchestra_apiserver::rest::{RestState, router};
use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn app() -> axum::Router {
    let store = Store::open(
        Arc::new(MemoryKv::new()),
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        StoreConfig::default(),
    )
    .await
    .expect("store opens");
    router(Arc::new(RestState::new(
        Arc::new(LocalClient::new(store)),
        "127.0.0.1:6443",
    )))
}

async fn call(app: &axum::Router, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
    let body = if body.is_null() {
        Body::empty()
    } else {
        Body::from(body.to_string())
    };
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body)
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    let code = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_deleted_namespace_terminates_refuses_content_and_goes_once_finalized() {
    let app = app().await;
    let (code, created) = call(
        &app,
        "POST",
        "/api/v1/namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    assert_eq!(created["spec"]["finalizers"], json!(["kubernetes"]));

    let (code, deleted) = call(&app, "DELETE", "/api/v1/namespaces/team", Value::Null).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(deleted["status"]["phase"], "Terminating");
    assert!(deleted["metadata"]["deletionTimestamp"].is_string());

    let (code, refused) = call(
        &app,
        "POST",
        "/api/v1/namespaces/team/configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"}}),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(
        refused["message"],
        "configmaps \"late\" is forbidden: unable to create new content in namespace team because it is being terminated"
    );
    assert_eq!(
        refused["details"]["causes"][0]["reason"],
        "NamespaceTerminating"
    );

    let mut finalized = deleted.clone();
    finalized["spec"]["finalizers"] = json!([]);
    let (code, _) = call(&app, "PUT", "/api/v1/namespaces/team/finalize", finalized).await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = call(&app, "GET", "/api/v1/namespaces/team", Value::Null).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_system_namespaces_may_not_be_deleted_and_finalize_is_update_only() {
    let app = app().await;
    let (code, refused) = call(
        &app,
        "DELETE",
        "/api/v1/namespaces/kube-system",
        Value::Null,
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(
        refused["message"],
        "namespaces \"kube-system\" is forbidden: this namespace may not be deleted"
    );

    let (_, discovery) = call(&app, "GET", "/api/v1", Value::Null).await;
    let finalize = discovery["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["name"] == "namespaces/finalize")
        .expect("namespaces/finalize is discovered")
        .clone();
    assert_eq!(finalize["verbs"], json!(["update"]));
}
