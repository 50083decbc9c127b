//! The OpenAPI documents over HTTP: the v3 index and group-version documents, the v2
//! document as JSON and protobuf, revalidation and hash URLs.

mod support;

use axum::http::StatusCode;
use serde_json::Value;
use support::{app, get};

const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

async fn v3_document(app: &axum::Router, key: &str) -> Value {
    let index = get(app, "/openapi/v3", &[("accept", "application/json, */*")]).await;
    assert_eq!(index.code, StatusCode::OK);
    let url = index.json()["paths"][key]["serverRelativeURL"]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not in the index"))
        .to_owned();
    assert!(
        url.starts_with(&format!("/openapi/v3/{key}?hash=")),
        "{url}"
    );
    let document = get(app, &url, &[("accept", "application/json")]).await;
    assert_eq!(document.code, StatusCode::OK);
    assert_eq!(document.header("cache-control"), Some("public, immutable"));
    document.json()
}

#[tokio::test]
async fn v3_apps_v1_describes_deployments_with_their_gvk_and_patch_metadata() {
    let app = app().await;
    let apps = v3_document(&app, "apis/apps/v1").await;
    assert_eq!(apps["openapi"], "3.0.0");
    let schemas = &apps["components"]["schemas"];
    let deployment = &schemas["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        deployment["x-kubernetes-group-version-kind"],
        serde_json::json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    assert_eq!(
        deployment["properties"]["spec"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"
    );
    let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-list-type"], "map");
    assert!(
        containers["description"]
            .as_str()
            .unwrap()
            .contains("List of containers belonging to the pod")
    );
    // Only what apps/v1 reaches: pods are in, RBAC is not.
    assert!(schemas.get("io.k8s.api.rbac.v1.Role").is_none());
    assert!(schemas.get("io.k8s.api.apps.v1.DeploymentList").is_some());

    // kubectl learns from the PATCH operation that the server validates fields.
    let patch = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        serde_json::json!({"group": "apps", "kind": "Deployment", "version": "v1"})
    );
    let params: Vec<&str> = patch["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(params.contains(&"fieldValidation"), "{params:?}");
    assert!(
        patch["requestBody"]["content"]
            .get("application/strategic-merge-patch+json")
            .is_some()
    );

    let core = v3_document(&app, "api/v1").await;
    let quantity = &core["components"]["schemas"]["io.k8s.apimachinery.pkg.api.resource.Quantity"];
    assert_eq!(
        quantity["oneOf"],
        serde_json::json!([{"type": "string"}, {"type": "number"}])
    );
}

#[tokio::test]
async fn every_served_kind_has_a_v3_schema_in_its_group_version() {
    let app = app().await;
    for kind in orchestra_api::kinds::BUILTIN {
        let key = if kind.group.is_empty() {
            format!("api/{}", kind.version)
        } else {
            format!("apis/{}/{}", kind.group, kind.version)
        };
        let document = v3_document(&app, &key).await;
        let found = document["components"]["schemas"]
            .as_object()
            .unwrap()
            .values()
            .any(|schema| {
                schema["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|gvks| {
                        gvks.iter().any(|gvk| {
                            gvk["group"] == kind.group.as_ref()
                                && gvk["version"] == kind.version.as_ref()
                                && gvk["kind"] == kind.kind.as_ref()
                        })
                    })
            });
        assert!(found, "{key} has no schema for {}", kind.kind);
    }
}

#[tokio::test]
async fn v2_json_has_every_definition_with_patch_metadata() {
    let app = app().await;
    let answer = get(&app, "/openapi/v2", &[("accept", "application/json")]).await;
    assert_eq!(answer.code, StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let v2 = answer.json();
    assert_eq!(v2["swagger"], "2.0");
    let definitions = &v2["definitions"];
    assert_eq!(
        definitions["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"][0]["kind"],
        "Deployment"
    );
    let containers = &definitions["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(
        containers["items"]["$ref"],
        "#/definitions/io.k8s.api.core.v1.Container"
    );
    let env = &definitions["io.k8s.api.core.v1.Container"]["properties"]["env"];
    assert_eq!(env["x-kubernetes-patch-merge-key"], "name");
    assert!(
        v2["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/status"]
            .get("patch")
            .is_some()
    );
}

#[tokio::test]
async fn v2_is_served_as_protobuf_to_kubectl_and_revalidates() {
    let app = app().await;
    let answer = get(&app, "/openapi/v2", &[("accept", PROTOBUF)]).await;
    assert_eq!(answer.code, StatusCode::OK);
    // Go's media-type parser rejects '@': Kubernetes answers with the dotted spelling.
    assert_eq!(
        answer.header("content-type"),
        Some("application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
    );
    // Field 1 of openapi.v2.Document is `swagger`: "2.0".
    assert_eq!(&answer.body[..5], b"\x0a\x032.0");
    let etag = answer.header("etag").unwrap().to_owned();
    let again = get(
        &app,
        "/openapi/v2",
        &[("accept", PROTOBUF), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.code, StatusCode::NOT_MODIFIED);

    let refused = get(&app, "/openapi/v2", &[("accept", "text/html")]).await;
    assert_eq!(refused.code, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(refused.json()["reason"], "NotAcceptable");
}

#[tokio::test]
async fn stale_hashes_redirect_and_unknown_documents_are_404() {
    let app = app().await;
    let stale = get(&app, "/openapi/v3/apis/apps/v1?hash=0000", &[]).await;
    assert_eq!(stale.code, StatusCode::MOVED_PERMANENTLY);
    let location = stale.header("location").unwrap().to_owned();
    assert!(location.starts_with("/openapi/v3/apis/apps/v1?hash="));
    let current = get(&app, &location, &[]).await;
    assert_eq!(current.code, StatusCode::OK);

    let plain = get(&app, "/openapi/v3/apis/apps/v1", &[]).await;
    let etag = plain.header("etag").unwrap().to_owned();
    let revalidated = get(
        &app,
        "/openapi/v3/apis/apps/v1",
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(revalidated.code, StatusCode::NOT_MODIFIED);

    let missing = get(&app, "/openapi/v3/apis/example.com/v1", &[]).await;
    assert_eq!(missing.code, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["kind"], "Status");
}
