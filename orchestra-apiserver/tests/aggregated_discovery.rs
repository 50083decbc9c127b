//! Aggregated discovery over HTTP, as `kubectl` 1.26+ asks for it.

mod support;

use axum::http::StatusCode;
use orchestra_api::kinds;
use serde_json::Value;
use support::{app, get};

const KUBECTL_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

fn resources(list: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for group in list["items"].as_array().expect("items") {
        let name = group["metadata"]["name"].as_str().unwrap_or("").to_owned();
        for version in group["versions"].as_array().expect("versions") {
            for resource in version["resources"].as_array().expect("resources") {
                let gv = if name.is_empty() {
                    version["version"].as_str().unwrap().to_owned()
                } else {
                    format!("{name}/{}", version["version"].as_str().unwrap())
                };
                out.push((gv, resource.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn api_and_apis_list_every_served_kind_with_verbs_and_short_names() {
    let app = app().await;
    let mut all = Vec::new();
    for root in ["/api", "/apis"] {
        let answer = get(&app, root, &[("accept", KUBECTL_ACCEPT)]).await;
        assert_eq!(answer.code, StatusCode::OK);
        assert_eq!(
            answer.header("content-type"),
            Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
        );
        let list = answer.json();
        assert_eq!(list["kind"], "APIGroupDiscoveryList");
        assert_eq!(list["apiVersion"], "apidiscovery.k8s.io/v2");
        all.extend(resources(&list));
    }
    assert_eq!(all.len(), kinds::BUILTIN.len());
    for kind in kinds::BUILTIN {
        let gv = kind.api_version();
        let (_, entry) = all
            .iter()
            .find(|(g, r)| *g == gv && r["resource"] == kind.plural.as_ref())
            .unwrap_or_else(|| panic!("{gv} {} missing", kind.plural));
        let verbs: Vec<&str> = kind.verbs.names().collect();
        assert_eq!(entry["verbs"], serde_json::json!(verbs), "{}", kind.plural);
        assert_eq!(entry["singularResource"], kind.singular.as_ref());
        assert_eq!(entry["responseKind"]["kind"], kind.kind.as_ref());
        let scope = if kind.is_namespaced() {
            "Namespaced"
        } else {
            "Cluster"
        };
        assert_eq!(entry["scope"], scope);
        let short: Vec<&str> = kind.short_names.to_vec();
        assert_eq!(
            entry
                .get("shortNames")
                .cloned()
                .unwrap_or(serde_json::json!([])),
            serde_json::json!(short),
            "{}",
            kind.plural
        );
    }
    let (_, deployments) = all
        .iter()
        .find(|(g, r)| g == "apps/v1" && r["resource"] == "deployments")
        .unwrap();
    assert_eq!(deployments["shortNames"], serde_json::json!(["deploy"]));
    assert_eq!(deployments["categories"], serde_json::json!(["all"]));
    assert_eq!(
        deployments["subresources"],
        serde_json::json!([
            {"subresource": "scale",
             "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
             "verbs": ["get", "patch", "update"]},
            {"subresource": "status",
             "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
             "verbs": ["get", "patch", "update"]},
        ])
    );
}

#[tokio::test]
async fn v2beta1_is_served_to_clients_that_ask_for_it_and_plain_json_stays_unaggregated() {
    let app = app().await;
    let beta = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    let answer = get(&app, "/apis", &[("accept", beta)]).await;
    assert_eq!(
        answer.header("content-type"),
        Some("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList")
    );
    assert_eq!(answer.json()["apiVersion"], "apidiscovery.k8s.io/v2beta1");

    let plain = get(&app, "/apis", &[("accept", "application/json, */*")]).await;
    assert_eq!(plain.header("content-type"), Some("application/json"));
    assert_eq!(plain.json()["kind"], "APIGroupList");
    let legacy = get(&app, "/api", &[]).await;
    assert_eq!(legacy.json()["kind"], "APIVersions");
}

#[tokio::test]
async fn revalidation_with_the_etag_gets_304() {
    let app = app().await;
    let first = get(&app, "/apis", &[("accept", KUBECTL_ACCEPT)]).await;
    let etag = first.header("etag").expect("etag").to_owned();
    let again = get(
        &app,
        "/apis",
        &[("accept", KUBECTL_ACCEPT), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.code, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    // The unaggregated document has another representation, hence another tag.
    let other = get(
        &app,
        "/api",
        &[("accept", KUBECTL_ACCEPT), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(other.code, StatusCode::OK);
}
