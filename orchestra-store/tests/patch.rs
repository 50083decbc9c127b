//! `PATCH` through the registry: the three patch types, their errors, preconditions and the
//! store left untouched by a failed patch.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use orchestra_api::{Api, Patch, PatchParams, PostParams, kinds};
use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
use serde_json::json;

async fn client() -> Arc<LocalClient> {
    let store = Store::open(
        Arc::new(MemoryKv::new()),
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        StoreConfig::default(),
    )
    .await
    .expect("store opens");
    Arc::new(LocalClient::new(store))
}

async fn deployment(client: &Arc<LocalClient>) -> Api<Deployment> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "nginx", "image": "nginx:1.27", "env": [{"name": "A", "value": "1"}]},
                    {"name": "log", "image": "fluentd"}
                ]}
            }
        }
    }))
    .unwrap();
    api.create(&PostParams::default(), &deployment)
        .await
        .expect("deployment created");
    api
}

fn container_images(deployment: &Deployment) -> Vec<(String, String)> {
    deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers
        .iter()
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn a_strategic_patch_merges_containers_by_name() {
    let client = client().await;
    let api = deployment(&client).await;
    let patched = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "nginx", "image": "nginx:1.28", "env": [{"name": "B", "value": "2"}]}
            ]}}}})),
        )
        .await
        .expect("strategic patch applies");
    assert_eq!(
        container_images(&patched),
        [
            ("nginx".to_owned(), "nginx:1.28".to_owned()),
            ("log".to_owned(), "fluentd".to_owned())
        ]
    );
    let env = patched
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .env
        .clone()
        .unwrap();
    let names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
    // As in Kubernetes, a new element goes before the live-only ones.
    assert_eq!(names, ["B", "A"]);
    assert_eq!(patched.metadata.generation, Some(2));
}

#[tokio::test]
async fn a_strategic_patch_deletes_a_container_and_the_merge_patch_replaces_the_list() {
    let client = client().await;
    let api = deployment(&client).await;
    let patched = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "log", "$patch": "delete"}
            ]}}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        container_images(&patched),
        [("nginx".to_owned(), "nginx:1.27".to_owned())]
    );
    let replaced = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "only", "image": "busybox"}
            ]}}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        container_images(&replaced),
        [("only".to_owned(), "busybox".to_owned())]
    );
}

#[tokio::test]
async fn a_json_patch_applies_its_operations_in_order() {
    let client = client().await;
    let api = deployment(&client).await;
    let patched = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Json(json!([
                {"op": "test", "path": "/spec/replicas", "value": 1},
                {"op": "replace", "path": "/spec/replicas", "value": 4},
                {"op": "add", "path": "/metadata/labels/tier", "value": "front"}
            ])),
        )
        .await
        .unwrap();
    assert_eq!(patched.spec.as_ref().unwrap().replicas, Some(4));
    assert_eq!(patched.metadata.labels.as_ref().unwrap()["tier"], "front");
}

#[tokio::test]
async fn a_failed_json_patch_is_invalid_and_changes_nothing() {
    let client = client().await;
    let api = deployment(&client).await;
    let before = api.get("web").await.unwrap();
    let error = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Json(json!([
                {"op": "replace", "path": "/spec/replicas", "value": 9},
                {"op": "test", "path": "/spec/replicas", "value": 2}
            ])),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, 422);
    let after = api.get("web").await.unwrap();
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
    assert_eq!(after.spec.as_ref().unwrap().replicas, Some(1));
}

#[tokio::test]
async fn a_malformed_json_patch_is_a_bad_request() {
    let client = client().await;
    let api = deployment(&client).await;
    let error = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Json(json!({"op": "add"})),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, 400);
}

#[tokio::test]
async fn a_strategic_patch_without_merge_keys_is_refused() {
    let client = client().await;
    let api = deployment(&client).await;
    let error = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"image": "nameless"}
            ]}}}})),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, 500);
    assert!(
        error
            .message
            .contains("does not contain declared merge key: name")
    );
}

#[tokio::test]
async fn a_patch_that_breaks_the_type_is_invalid() {
    let client = client().await;
    let api = deployment(&client).await;
    let error = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": "many"}})),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, 422);
}

#[tokio::test]
async fn a_patch_with_a_stale_resource_version_conflicts() {
    let client = client().await;
    let api = deployment(&client).await;
    let created = api.get("web").await.unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"resourceVersion": rv, "labels": {"v": "1"}}})),
    )
    .await
    .expect("a current resourceVersion is accepted");
    let error = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"resourceVersion": rv, "labels": {"v": "2"}}})),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, 409);
}

#[tokio::test]
async fn status_patches_change_only_the_status() {
    let client = client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let patched = pods
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({
                "metadata": {"labels": {"ignored": "yes"}},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}
            })),
        )
        .await
        .unwrap();
    let conditions = patched.status.as_ref().unwrap().conditions.clone().unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );
    assert!(
        patched
            .metadata
            .labels
            .as_ref()
            .is_none_or(|l| !l.contains_key("ignored"))
    );
}

#[tokio::test]
async fn force_belongs_to_apply_patches_only() {
    let client = client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("c".into());
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let error = cms
        .patch(
            "c",
            &PatchParams {
                force: true,
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"data": {"a": "1"}})),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, 422);
}
