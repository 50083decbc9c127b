//! The namespace controller over an in-process server: deleting a namespace empties it of
//! every kind of object and then removes it; while it terminates it refuses new content, waits
//! for pods within their grace period and for finalizers, and says so in its conditions.

mod lifecycle_support;
mod support;

use std::sync::Arc;
use std::time::Duration;

use lifecycle_support::{Running, api, create, eventually, exists, start, typed};
use orchestra_api::k8s_openapi::api::apps::v1::Deployment;
use orchestra_api::k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, NamespaceCondition, Pod, Service, ServiceAccount,
};
use orchestra_api::{DeleteParams, Deleted, ListParams, Patch, PatchParams};
use orchestra_controller::builtin::garbage_collector::{self, GarbageCollectorConfig};
use orchestra_controller::builtin::namespace::{self, NamespaceConfig};
use orchestra_controller::builtin::serviceaccount::{self, ServiceAccountConfig};
use orchestra_store::LocalClient;
use serde_json::json;

const TEAM: &str = "team";

/// The namespace controller (with a short finalizer estimate, so that a test waiting for a
/// finalizer does not wait Kubernetes' 15 s) and, for the full picture, the garbage collector
/// and the ServiceAccount controller.
async fn controllers(client: &Arc<LocalClient>) -> Running {
    start(client, |manager| {
        namespace::add_to(
            manager,
            NamespaceConfig {
                finalizer_estimate: Duration::from_secs(1),
                ..NamespaceConfig::default()
            },
        );
        garbage_collector::add_to(manager, GarbageCollectorConfig::default());
        serviceaccount::add_to(manager, ServiceAccountConfig::default());
    })
    .await
}

async fn team_namespace(client: &Arc<LocalClient>) {
    let ns: Namespace =
        typed(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": TEAM}}));
    create(client, None, &ns).await;
}

fn config_map(name: &str) -> ConfigMap {
    typed(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}),
    )
}

fn pod(name: &str, node: Option<&str>) -> Pod {
    let mut spec = json!({"containers": [{"name": "web", "image": "nginx"}]});
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
    }
    typed(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}))
}

fn deployment(name: &str) -> Deployment {
    typed(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}
            }
        }
    }))
}

async fn delete_team(client: &Arc<LocalClient>) {
    let outcome = api::<Namespace>(client, None)
        .delete(TEAM, &DeleteParams::default())
        .await
        .expect("delete namespace");
    assert!(
        matches!(outcome, Deleted::Pending(_)),
        "the namespace terminates first"
    );
}

async fn namespace_gone(client: &Arc<LocalClient>) {
    eventually("the namespace to be removed", || async {
        (!exists::<Namespace>(client, None, TEAM).await).then_some(())
    })
    .await;
}

fn condition(namespace: &Namespace, condition_type: &str) -> Option<NamespaceCondition> {
    namespace
        .status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == condition_type)
        .cloned()
}

#[tokio::test]
async fn deleting_a_namespace_removes_everything_in_it_and_then_the_namespace() {
    let client = support::server().await;
    let _running = controllers(&client).await;
    team_namespace(&client).await;
    create(&client, Some(TEAM), &config_map("settings")).await;
    create(&client, Some(TEAM), &pod("solo", None)).await;
    create(&client, Some(TEAM), &deployment("web")).await;
    let service: Service = typed(json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    }));
    create(&client, Some(TEAM), &service).await;
    eventually(
        "the default ServiceAccount of the new namespace",
        || async {
            exists::<ServiceAccount>(&client, Some(TEAM), "default")
                .await
                .then_some(())
        },
    )
    .await;
    // Something in another namespace stays.
    create(&client, Some("default"), &config_map("settings")).await;

    delete_team(&client).await;
    namespace_gone(&client).await;
    for (what, left) in [
        (
            "config maps",
            api::<ConfigMap>(&client, Some(TEAM))
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len(),
        ),
        (
            "pods",
            api::<Pod>(&client, Some(TEAM))
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len(),
        ),
        (
            "deployments",
            api::<Deployment>(&client, Some(TEAM))
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len(),
        ),
        (
            "services",
            api::<Service>(&client, Some(TEAM))
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len(),
        ),
        (
            "service accounts",
            api::<ServiceAccount>(&client, Some(TEAM))
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len(),
        ),
    ] {
        assert_eq!(left, 0, "{what} left in the deleted namespace");
    }
    assert!(exists::<ConfigMap>(&client, Some("default"), "settings").await);
}

#[tokio::test]
async fn a_terminating_namespace_waits_for_its_pods_and_refuses_new_content() {
    let client = support::server().await;
    let _running = controllers(&client).await;
    team_namespace(&client).await;
    // A pod on a node is deleted gracefully: it stays until its kubelet is done with it.
    create(&client, Some(TEAM), &pod("running", Some("node-1"))).await;
    delete_team(&client).await;

    let pods = api::<Pod>(&client, Some(TEAM));
    eventually("the pod to be terminating", || async {
        pods.get("running")
            .await
            .ok()?
            .metadata
            .deletion_timestamp
            .clone()
    })
    .await;
    let namespace = eventually("the namespace to report the pod", || async {
        let ns = api::<Namespace>(&client, None).get(TEAM).await.ok()?;
        let remaining = condition(&ns, "NamespaceContentRemaining")?;
        (remaining.status == "True").then_some(ns)
    })
    .await;
    assert_eq!(
        namespace.status.as_ref().unwrap().phase.as_deref(),
        Some("Terminating")
    );
    assert_eq!(
        condition(&namespace, "NamespaceContentRemaining")
            .unwrap()
            .message
            .as_deref(),
        Some("Some resources are remaining: pods. has 1 resource instances")
    );
    assert_eq!(
        condition(&namespace, "NamespaceDeletionContentFailure")
            .unwrap()
            .status,
        "False"
    );

    let refused = api::<ConfigMap>(&client, Some(TEAM))
        .create(&Default::default(), &config_map("late"))
        .await
        .unwrap_err();
    assert_eq!(refused.code, 403);
    assert!(
        refused.message.ends_with(
            "unable to create new content in namespace team because it is being terminated"
        ),
        "{}",
        refused.message
    );

    // Acting as the kubelet: the pod has stopped.
    pods.delete(
        "running",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        },
    )
    .await
    .unwrap();
    namespace_gone(&client).await;
}

#[tokio::test]
async fn content_held_by_a_finalizer_keeps_the_namespace_until_it_is_released() {
    let client = support::server().await;
    let _running = controllers(&client).await;
    team_namespace(&client).await;
    let mut held = config_map("held");
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    create(&client, Some(TEAM), &held).await;
    delete_team(&client).await;

    let namespace = eventually("the namespace to report the finalizer", || async {
        let ns = api::<Namespace>(&client, None).get(TEAM).await.ok()?;
        (condition(&ns, "NamespaceFinalizersRemaining")?.status == "True").then_some(ns)
    })
    .await;
    assert_eq!(
        condition(&namespace, "NamespaceFinalizersRemaining")
            .unwrap()
            .message
            .as_deref(),
        Some(
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        )
    );
    assert_eq!(
        namespace.spec.as_ref().unwrap().finalizers.as_deref(),
        Some(&["kubernetes".to_owned()][..])
    );

    api::<ConfigMap>(&client, Some(TEAM))
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    namespace_gone(&client).await;
}
