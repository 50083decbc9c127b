//! The REST surface over a real store, driven with HTTP requests as a client sends them.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use orchestra_api::kinds;
use orchestra_apiserver::bootstrap::ensure_system_namespaces;
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
    let client = Arc::new(LocalClient::new(store));
    ensure_system_namespaces(client.as_ref())
        .await
        .expect("bootstrap");
    router(Arc::new(RestState::new(client, "127.0.0.1:6443")))
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    content_type: &str,
    body: Value,
) -> (StatusCode, Value) {
    let body = if body.is_null() {
        Body::empty()
    } else {
        Body::from(body.to_string())
    };
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
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
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (code, value)
}

fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
           "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}})
}

#[tokio::test]
async fn create_get_list_and_delete_a_pod_over_http() {
    let app = app().await;
    let (code, created) = call(
        &app,
        "POST",
        "/api/v1/namespaces/default/pods?fieldValidation=Strict",
        "application/json",
        pod("web"),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["metadata"]["namespace"], "default");
    assert_eq!(created["spec"]["restartPolicy"], "Always");

    let (code, got) = call(
        &app,
        "GET",
        "/api/v1/namespaces/default/pods/web",
        "",
        Value::Null,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(got["metadata"]["uid"], created["metadata"]["uid"]);

    let (code, list) = call(
        &app,
        "GET",
        "/api/v1/pods?labelSelector=app%3Dweb",
        "",
        Value::Null,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(list["kind"], "PodList");
    assert_eq!(list["items"][0]["metadata"]["name"], "web");

    let (code, _) = call(
        &app,
        "DELETE",
        "/api/v1/namespaces/default/pods/web",
        "application/json",
        json!({"gracePeriodSeconds": 0}),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let (code, missing) = call(
        &app,
        "GET",
        "/api/v1/namespaces/default/pods/web",
        "",
        Value::Null,
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(missing["reason"], "NotFound");
    assert_eq!(missing["message"], "pods \"web\" not found");
}

#[tokio::test]
async fn bad_input_gets_kubernetes_errors_and_changes_nothing() {
    let app = app().await;
    let mut unknown = pod("a");
    unknown["spec"]["containers"][0]["imagee"] = json!("x");
    let (code, status) = call(
        &app,
        "POST",
        "/api/v1/namespaces/default/pods?fieldValidation=Strict",
        "application/json",
        unknown,
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(
        status["message"],
        "strict decoding error: unknown field \"spec.containers[0].imagee\""
    );

    let mut invalid = pod("b");
    invalid["spec"]["containers"][0]["image"] = Value::Null;
    let (code, status) = call(
        &app,
        "POST",
        "/api/v1/namespaces/default/pods",
        "application/json",
        invalid,
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        status["details"]["causes"][0]["field"],
        "spec.containers[0].image"
    );

    let (code, status) = call(
        &app,
        "POST",
        "/api/v1/namespaces/nowhere/pods",
        "application/json",
        pod("c"),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(status["message"], "namespaces \"nowhere\" not found");

    let (code, _) = call(&app, "GET", "/api/v1/widgets", "", Value::Null).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = call(
        &app,
        "POST",
        "/api/v1/namespaces/default/pods",
        "application/json",
        json!("not an object"),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, list) = call(
        &app,
        "GET",
        "/api/v1/namespaces/default/pods",
        "",
        Value::Null,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn discovery_lists_groups_and_resources() {
    let app = app().await;
    let (_, api) = call(&app, "GET", "/api", "", Value::Null).await;
    assert_eq!(api["versions"], json!(["v1"]));
    let (_, groups) = call(&app, "GET", "/apis", "", Value::Null).await;
    assert!(
        groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "apps")
    );
    let (_, apps) = call(&app, "GET", "/apis/apps/v1", "", Value::Null).await;
    assert!(
        apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "deployments" && r["namespaced"] == true)
    );
}

#[tokio::test]
async fn kubectl_get_receives_a_table() {
    let app = app().await;
    call(
        &app,
        "POST",
        "/api/v1/namespaces/default/pods",
        "application/json",
        pod("web"),
    )
    .await;
    let request = Request::builder()
        .uri("/api/v1/namespaces/default/pods")
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let table: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["rows"][0]["cells"][0], "web");
    assert_eq!(table["rows"][0]["cells"][2], "Pending");
}

#[tokio::test]
async fn merge_patches_and_status_updates_over_http() {
    let app = app().await;
    call(
        &app,
        "POST",
        "/api/v1/namespaces/default/pods",
        "application/json",
        pod("web"),
    )
    .await;
    let (code, patched) = call(
        &app,
        "PATCH",
        "/api/v1/namespaces/default/pods/web",
        "application/merge-patch+json",
        json!({"metadata": {"labels": {"tier": "front"}}}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{patched}");
    assert_eq!(patched["metadata"]["labels"]["tier"], "front");
    let (code, status) = call(
        &app,
        "PATCH",
        "/api/v1/namespaces/default/pods/web/status",
        "application/merge-patch+json",
        json!({"status": {"phase": "Running"}, "spec": {"nodeName": "ignored"}}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{status}");
    assert_eq!(status["status"]["phase"], "Running");
    assert!(status["spec"].get("nodeName").is_none());
}

#[tokio::test]
async fn watch_streams_newline_delimited_events() {
    let app = app().await;
    let (_, created) = call(
        &app,
        "POST",
        "/api/v1/namespaces/default/pods",
        "application/json",
        pod("web"),
    )
    .await;
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let request = Request::builder()
        .uri("/api/v1/namespaces/default/pods?watch=true&resourceVersion=0&timeoutSeconds=1")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let bytes = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        response.into_body().collect(),
    )
    .await
    .expect("the watch ends at its timeout")
    .unwrap()
    .to_bytes();
    let events: Vec<Value> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["resourceVersion"], rv);
}

#[tokio::test]
async fn the_kubernetes_service_endpoints_follow_the_advertised_address() {
    use k8s_openapi::api::core::v1::{Endpoints, Service};
    use orchestra_apiserver::bootstrap::{ApiServerEndpoint, ensure_builtin_objects};
    let store = Store::open(
        Arc::new(MemoryKv::new()),
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        StoreConfig::default(),
    )
    .await
    .expect("store");
    let client = Arc::new(LocalClient::new(store));
    let endpoint = |port| ApiServerEndpoint {
        service_ip: "10.96.0.1".parse().unwrap(),
        advertise: std::net::SocketAddr::new("192.0.2.10".parse().unwrap(), port),
    };
    ensure_builtin_objects(client.as_ref(), endpoint(6443))
        .await
        .expect("bootstrap");
    let services: orchestra_api::Api<Service> =
        orchestra_api::Api::namespaced(client.clone(), "default");
    let svc = services
        .get("kubernetes")
        .await
        .expect("the kubernetes Service");
    assert_eq!(
        svc.spec.as_ref().unwrap().cluster_ip.as_deref(),
        Some("10.96.0.1")
    );
    let endpoints: orchestra_api::Api<Endpoints> =
        orchestra_api::Api::namespaced(client.clone(), "default");
    let port_of = |e: &Endpoints| {
        let subset = &e.subsets.as_ref().unwrap()[0];
        (
            subset.addresses.as_ref().unwrap()[0].ip.clone(),
            subset.ports.as_ref().unwrap()[0].port,
        )
    };
    assert_eq!(
        port_of(&endpoints.get("kubernetes").await.unwrap()),
        ("192.0.2.10".to_owned(), 6443)
    );
    // A restart on another port moves the endpoints; the Service stays as it was.
    ensure_builtin_objects(client.as_ref(), endpoint(7443))
        .await
        .expect("bootstrap again");
    assert_eq!(
        port_of(&endpoints.get("kubernetes").await.unwrap()),
        ("192.0.2.10".to_owned(), 7443)
    );
    let again = services.get("kubernetes").await.unwrap();
    assert_eq!(again.metadata.uid, svc.metadata.uid);
}
