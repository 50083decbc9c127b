//! The garbage collector over an in-process server: background, foreground and orphan
//! propagation as Kubernetes runs them, owners that never existed or live in another
//! namespace, and — for any graph of owners — that exactly the objects all of whose owners
//! are gone are collected.

mod lifecycle_support;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use lifecycle_support::{Running, api, create, eventually, exists, owner_reference, start, typed};
use orchestra_api::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use orchestra_api::k8s_openapi::api::batch::v1::Job;
use orchestra_api::k8s_openapi::api::core::v1::{ConfigMap, Event, Pod};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use orchestra_api::{DeleteParams, Deleted, ListParams, Patch, PatchParams, PropagationPolicy};
use orchestra_controller::builtin::garbage_collector::{self, GarbageCollectorConfig};
use orchestra_store::LocalClient;
use proptest::prelude::*;
use serde_json::json;

const NS: &str = "default";

async fn collector(client: &Arc<LocalClient>) -> Running {
    start(client, |manager| {
        garbage_collector::add_to(manager, GarbageCollectorConfig::default());
    })
    .await
}

fn with_owners<T: serde::de::DeserializeOwned>(
    mut value: serde_json::Value,
    owners: &[OwnerReference],
) -> T {
    value["metadata"]["ownerReferences"] = json!(owners);
    typed(value)
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

fn replica_set(name: &str, owners: &[OwnerReference]) -> ReplicaSet {
    with_owners(
        json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "web", "image": "nginx"}]}
                }
            }
        }),
        owners,
    )
}

fn pod(name: &str, owners: &[OwnerReference]) -> Pod {
    with_owners(
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]}
        }),
        owners,
    )
}

fn config_map(name: &str, owners: &[OwnerReference]) -> ConfigMap {
    with_owners(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}),
        owners,
    )
}

/// A Deployment owning a ReplicaSet owning two pods, as the workload controllers leave them
/// (controller references that block their owner's deletion).
async fn workload(client: &Arc<LocalClient>, name: &str) -> (Arc<Deployment>, Arc<ReplicaSet>) {
    let deploy = create(client, Some(NS), &deployment(name)).await;
    let rs = create(
        client,
        Some(NS),
        &replica_set(&format!("{name}-1"), &[owner_reference(&*deploy, true)]),
    )
    .await;
    for i in 0..2 {
        let pod_name = format!("{name}-1-{i}");
        create(
            client,
            Some(NS),
            &pod(&pod_name, &[owner_reference(&*rs, true)]),
        )
        .await;
        observed_by_collector::<Pod>(client, &pod_name).await;
    }
    observed_by_collector::<ReplicaSet>(client, &format!("{name}-1")).await;
    (deploy, rs)
}

async fn pod_names(client: &Arc<LocalClient>) -> BTreeSet<String> {
    api::<Pod>(client, Some(NS))
        .list(&ListParams::default())
        .await
        .expect("list pods")
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect()
}

/// Waits until the collector has observed the object `name` of `K` as it is now.
///
/// Deleting an owner races with the collector's informers: an owner deleted with `orphan` or
/// `foregroundDeletion` is released once the collector's graph shows no dependent left, so a
/// dependent created a moment before and not yet observed would be missed (in Kubernetes
/// too). The handshake: give the object a reference to an owner that never existed, and wait
/// for the collector to drop it — which it does only after observing the object.
async fn observed_by_collector<K: orchestra_api::Served>(client: &Arc<LocalClient>, name: &str) {
    let ghost = OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: format!("ghost-of-{name}"),
        uid: format!("ghost-uid-{name}"),
        controller: None,
        block_owner_deletion: None,
    };
    let objects = api::<K>(client, Some(NS));
    objects
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"ownerReferences": [ghost]}})),
        )
        .await
        .expect("add a reference to a missing owner");
    eventually("the collector to observe the object", || async {
        let object = objects.get(name).await.ok()?;
        let references = object
            .metadata()
            .owner_references
            .clone()
            .unwrap_or_default();
        (!references.iter().any(|r| r.uid == ghost.uid)).then_some(())
    })
    .await;
}

fn policy(policy: PropagationPolicy) -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(policy),
        ..DeleteParams::default()
    }
}

#[tokio::test]
async fn background_deletion_removes_the_owner_at_once_and_its_dependents_after() {
    let client = support::server().await;
    let _gc = collector(&client).await;
    workload(&client, "web").await;
    let deleted = api::<Deployment>(&client, Some(NS))
        .delete("web", &policy(PropagationPolicy::Background))
        .await
        .unwrap();
    assert!(
        matches!(deleted, Deleted::Gone(_)),
        "the owner goes at once"
    );
    eventually("the ReplicaSet and its pods to be collected", || async {
        let gone = !exists::<ReplicaSet>(&client, Some(NS), "web-1").await
            && pod_names(&client).await.is_empty();
        gone.then_some(())
    })
    .await;
}

#[tokio::test]
async fn foreground_deletion_keeps_the_owner_until_its_blocking_dependents_are_gone() {
    let client = support::server().await;
    let _gc = collector(&client).await;
    workload(&client, "web").await;
    // One pod is held by another finalizer, as a kubelet holds a pod while it stops.
    let pods = api::<Pod>(&client, Some(NS));
    pods.patch(
        "web-1-0",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold"]}})),
    )
    .await
    .unwrap();

    let deleted = api::<Deployment>(&client, Some(NS))
        .delete("web", &policy(PropagationPolicy::Foreground))
        .await
        .unwrap();
    assert!(matches!(deleted, Deleted::Pending(_)));

    // The free pod goes; the held one is terminating; its owners wait, marked for
    // foreground deletion.
    eventually(
        "the free pod to go and the held one to terminate",
        || async {
            let names = pod_names(&client).await;
            let held = pods.get("web-1-0").await.ok()?;
            (names == BTreeSet::from(["web-1-0".to_owned()])
                && held.metadata.deletion_timestamp.is_some())
            .then_some(())
        },
    )
    .await;
    let rs = api::<ReplicaSet>(&client, Some(NS))
        .get("web-1")
        .await
        .expect("the ReplicaSet waits for its pod");
    assert!(rs.metadata.deletion_timestamp.is_some());
    assert_eq!(
        rs.metadata.finalizers.as_deref(),
        Some(&["foregroundDeletion".to_owned()][..])
    );
    let deploy = api::<Deployment>(&client, Some(NS))
        .get("web")
        .await
        .expect("the Deployment waits for its ReplicaSet");
    assert_eq!(
        deploy.metadata.finalizers.as_deref(),
        Some(&["foregroundDeletion".to_owned()][..])
    );

    // Releasing the pod lets the whole chain go, dependents first.
    pods.patch(
        "web-1-0",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually("the Deployment to go last", || async {
        (!exists::<Deployment>(&client, Some(NS), "web").await).then_some(())
    })
    .await;
    assert!(!exists::<ReplicaSet>(&client, Some(NS), "web-1").await);
    assert!(pod_names(&client).await.is_empty());
}

#[tokio::test]
async fn orphan_deletion_keeps_the_dependents_without_their_owner_reference() {
    let client = support::server().await;
    let _gc = collector(&client).await;
    let (_, rs) = workload(&client, "web").await;
    api::<ReplicaSet>(&client, Some(NS))
        .delete("web-1", &policy(PropagationPolicy::Orphan))
        .await
        .unwrap();
    eventually(
        "the ReplicaSet to go once its pods are orphaned",
        || async { (!exists::<ReplicaSet>(&client, Some(NS), "web-1").await).then_some(()) },
    )
    .await;
    let pods = api::<Pod>(&client, Some(NS))
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(pods.items.len(), 2, "the pods stay");
    for pod in &pods.items {
        let owners = pod.metadata.owner_references.clone().unwrap_or_default();
        assert!(
            owners
                .iter()
                .all(|o| Some(&o.uid) != rs.metadata.uid.as_ref()),
            "{owners:?}"
        );
    }
    // The Deployment still owns nothing that is gone, so nothing else changed.
    assert!(exists::<Deployment>(&client, Some(NS), "web").await);
}

#[tokio::test]
async fn a_job_deleted_through_the_api_orphans_its_pods_by_default() {
    let client = support::server().await;
    let _gc = collector(&client).await;
    let job: Job = typed(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "batch"},
        "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]
        }}}
    }));
    let job = create(&client, Some(NS), &job).await;
    create(
        &client,
        Some(NS),
        &pod("batch-x", &[owner_reference(&*job, true)]),
    )
    .await;
    observed_by_collector::<Pod>(&client, "batch-x").await;
    api::<Job>(&client, Some(NS))
        .delete("batch", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the Job to go", || async {
        (!exists::<Job>(&client, Some(NS), "batch").await).then_some(())
    })
    .await;
    let pod = api::<Pod>(&client, Some(NS)).get("batch-x").await.unwrap();
    // The emptied list is gone altogether, as Kubernetes shows it.
    assert_eq!(pod.metadata.owner_references, None);
}

#[tokio::test]
async fn a_dependent_whose_owner_never_existed_is_collected() {
    let client = support::server().await;
    let _gc = collector(&client).await;
    let ghost = OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: "ghost".into(),
        uid: "0000-never-existed".into(),
        controller: None,
        block_owner_deletion: None,
    };
    create(&client, Some(NS), &config_map("haunted", &[ghost])).await;
    create(&client, Some(NS), &config_map("free", &[])).await;
    eventually(
        "the dependent of a missing owner to be collected",
        || async { (!exists::<ConfigMap>(&client, Some(NS), "haunted").await).then_some(()) },
    )
    .await;
    assert!(exists::<ConfigMap>(&client, Some(NS), "free").await);
}

#[tokio::test]
async fn an_owner_in_another_namespace_is_reported_and_never_resolves() {
    let client = support::server().await;
    let _gc = collector(&client).await;
    let owner = create(&client, Some("kube-public"), &config_map("elsewhere", &[])).await;
    create(
        &client,
        Some(NS),
        &config_map("confused", &[owner_reference(&*owner, false)]),
    )
    .await;
    eventually("the dependent to be collected", || async {
        (!exists::<ConfigMap>(&client, Some(NS), "confused").await).then_some(())
    })
    .await;
    let event = eventually("an OwnerRefInvalidNamespace Event", || async {
        api::<Event>(&client, Some(NS))
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("OwnerRefInvalidNamespace"))
    })
    .await;
    assert_eq!(event.involved_object.name.as_deref(), Some("confused"));
    assert_eq!(
        event.message.as_deref(),
        Some(
            format!(
                "ownerRef [v1/ConfigMap, namespace: default, name: elsewhere, uid: {}] does not resolve to a valid object in namespace default",
                owner.metadata.uid.as_deref().unwrap()
            )
            .as_str()
        )
    );
    assert!(exists::<ConfigMap>(&client, Some("kube-public"), "elsewhere").await);
}

/// A graph of config maps: each (after the first) owned by up to two earlier ones.
#[derive(Debug, Clone)]
struct OwnerGraph {
    owners: Vec<Vec<usize>>,
    deleted: BTreeSet<usize>,
}

fn owner_graphs() -> impl Strategy<Value = OwnerGraph> {
    (3usize..9)
        .prop_flat_map(|n| {
            let owners = (0..n)
                .map(|i| {
                    if i == 0 {
                        Just(Vec::new()).boxed()
                    } else {
                        proptest::collection::btree_set(0..i, 0..=2.min(i))
                            .prop_map(|s| s.into_iter().collect::<Vec<_>>())
                            .boxed()
                    }
                })
                .collect::<Vec<_>>();
            (owners, proptest::collection::btree_set(0..n, 1..=2))
        })
        .prop_map(|(owners, deleted)| OwnerGraph { owners, deleted })
}

/// The objects left once `deleted` go: an object goes when it has owners and all of them are
/// gone, transitively.
fn survivors(graph: &OwnerGraph) -> BTreeSet<usize> {
    let mut gone = graph.deleted.clone();
    loop {
        let more: Vec<usize> = (0..graph.owners.len())
            .filter(|i| !gone.contains(i))
            .filter(|i| {
                let owners = &graph.owners[*i];
                !owners.is_empty() && owners.iter().all(|o| gone.contains(o))
            })
            .collect();
        if more.is_empty() {
            break;
        }
        gone.extend(more);
    }
    (0..graph.owners.len())
        .filter(|i| !gone.contains(i))
        .collect()
}

async fn collect_owner_graph(graph: OwnerGraph) {
    let client = support::server().await;
    let gc = collector(&client).await;
    let name = |i: usize| format!("cm-{i}");
    let mut created: BTreeMap<usize, Arc<ConfigMap>> = BTreeMap::new();
    for (i, owners) in graph.owners.iter().enumerate() {
        let references: Vec<OwnerReference> = owners
            .iter()
            .map(|o| owner_reference(&*created[o], false))
            .collect();
        let object: Arc<ConfigMap> =
            create(&client, Some(NS), &config_map(&name(i), &references)).await;
        created.insert(i, object);
    }
    for i in &graph.deleted {
        // An object may already be collected, its owners deleted just before.
        match api::<ConfigMap>(&client, Some(NS))
            .delete(&name(*i), &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(status) => assert_eq!(status.code, 404, "{status:?}"),
        }
    }
    let expected: BTreeSet<String> = survivors(&graph).into_iter().map(name).collect();
    // Exactly the survivors remain, each referencing only living owners (references to the
    // gone ones are dropped).
    let config_maps = api::<ConfigMap>(&client, Some(NS));
    eventually(
        "exactly the objects with a living owner to remain",
        || async {
            let left = config_maps.list(&ListParams::default()).await.ok()?.items;
            let names: BTreeSet<String> = left
                .iter()
                .filter_map(|c| c.metadata.name.clone())
                .collect();
            let only_living_owners = left.iter().all(|c| {
                c.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .all(|r| expected.contains(&r.name))
            });
            (names == expected && only_living_owners).then_some(())
        },
    )
    .await;
    gc.stop().await;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Whatever the graph of owners (chains, several owners per object) and whichever
    /// objects are deleted, the collector removes exactly the objects all of whose owners are
    /// gone, and the survivors keep references only to living owners.
    #[test]
    fn exactly_the_objects_without_a_living_owner_are_collected(graph in owner_graphs()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(collect_owner_graph(graph));
    }
}

#[tokio::test]
async fn a_dependent_with_two_owners_stays_until_both_are_gone() {
    let client = support::server().await;
    let _gc = collector(&client).await;
    let first = create(&client, Some(NS), &config_map("first", &[])).await;
    let second = create(&client, Some(NS), &config_map("second", &[])).await;
    create(
        &client,
        Some(NS),
        &config_map(
            "shared",
            &[
                owner_reference(&*first, false),
                owner_reference(&*second, false),
            ],
        ),
    )
    .await;
    let config_maps = api::<ConfigMap>(&client, Some(NS));
    config_maps
        .delete("first", &DeleteParams::default())
        .await
        .unwrap();
    let kept = eventually("the reference to the gone owner to be dropped", || async {
        let shared = config_maps.get("shared").await.ok()?;
        (shared.metadata.owner_references.as_ref()?.len() == 1).then_some(shared)
    })
    .await;
    assert_eq!(
        kept.metadata.owner_references.as_ref().unwrap()[0].name,
        "second"
    );
    config_maps
        .delete("second", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the dependent to go with its last owner", || async {
        (!exists::<ConfigMap>(&client, Some(NS), "shared").await).then_some(())
    })
    .await;
}
