//! The ReplicaSet and ReplicationController controllers against the in-process server: pods
//! created from the template with a controller reference, status as the pods change, the
//! least valuable pods deleted first, adoption and release, `minReadySeconds`, creation
//! failures in the status, and no double creation while the pod informer lags. There is no
//! kubelet: the tests set pod status themselves, as kubelets would.

mod support;
mod workloads;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use orchestra_api::k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use orchestra_api::k8s_openapi::api::core::v1::{
    Event, Pod, ReplicationController, ReplicationControllerSpec,
};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use orchestra_api::{
    Api, Client, ListParams, Patch, PatchParams, PostParams, Status, StatusReason,
};
use serde_json::json;

use self::support::server;
use self::workloads::{Interposer, RunningManager, eventually, labels, mark_ready, pods, template};

const NS: &str = "default";

fn replica_set(name: &str, replicas: i32, app: &str) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(NS.into()),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels(&[("app", app)])),
                ..LabelSelector::default()
            },
            template: Some(template(
                labels(&[("app", app), ("tier", "front")]),
                "nginx",
            )),
            ..ReplicaSetSpec::default()
        }),
        status: None,
    }
}

async fn create_replica_set(client: &Arc<dyn Client>, rs: &ReplicaSet) -> Arc<ReplicaSet> {
    Api::<ReplicaSet>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), rs)
        .await
        .expect("the replica set is created")
}

async fn replica_set_named(client: &Arc<dyn Client>, name: &str) -> Arc<ReplicaSet> {
    Api::<ReplicaSet>::namespaced(client.clone(), NS)
        .get(name)
        .await
        .expect("the replica set exists")
}

fn status_counts(rs: &ReplicaSet) -> (i32, i32, i32, i32) {
    let status = rs.status.clone().unwrap_or_default();
    (
        status.replicas,
        status.fully_labeled_replicas.unwrap_or(0),
        status.ready_replicas.unwrap_or(0),
        status.available_replicas.unwrap_or(0),
    )
}

/// Pods of the namespace whose controller has `uid`.
async fn pods_of(client: &Arc<dyn Client>, uid: &str) -> Vec<Arc<Pod>> {
    pods(client, NS)
        .await
        .into_iter()
        .filter(|pod| {
            orchestra_controller::builtin::ownership::is_controlled_by(&pod.metadata, uid)
        })
        .collect()
}

async fn scale(client: &Arc<dyn Client>, name: &str, replicas: i32) {
    Api::<ReplicaSet>::namespaced(client.clone(), NS)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": replicas}})),
        )
        .await
        .expect("the replica set is scaled");
}

#[tokio::test]
async fn a_replica_set_creates_its_pods_from_the_template_and_reports_their_readiness() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let _manager = RunningManager::start(client.clone());
    let rs = create_replica_set(&client, &replica_set("web", 3, "web")).await;
    let uid = rs.metadata.uid.clone().unwrap();

    let created = eventually("three pods", || async {
        let owned = pods_of(&client, &uid).await;
        (owned.len() == 3).then_some(owned)
    })
    .await;
    for pod in &created {
        let name = pod.metadata.name.as_deref().unwrap();
        assert!(
            name.starts_with("web-") && name.len() == "web-".len() + 5,
            "{name}"
        );
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (
                owner.kind.as_str(),
                owner.name.as_str(),
                owner.controller,
                owner.block_owner_deletion
            ),
            ("ReplicaSet", "web", Some(true), Some(true))
        );
        assert_eq!(
            pod.metadata.labels,
            Some(labels(&[("app", "web"), ("tier", "front")]))
        );
    }
    let generation = rs.metadata.generation;
    eventually("status of three unready pods", || async {
        let rs = replica_set_named(&client, "web").await;
        let observed = rs.status.as_ref().and_then(|s| s.observed_generation);
        (status_counts(&rs) == (3, 3, 0, 0) && observed == generation).then_some(())
    })
    .await;

    for pod in &created {
        mark_ready(&client, NS, pod.metadata.name.as_deref().unwrap())
            .await
            .unwrap();
    }
    eventually("three ready and available pods", || async {
        (status_counts(&*replica_set_named(&client, "web").await) == (3, 3, 3, 3)).then_some(())
    })
    .await;

    // A pod that goes away is replaced.
    let gone = created[0].metadata.name.clone().unwrap();
    Api::<Pod>::namespaced(client.clone(), NS)
        .delete(&gone, &Default::default())
        .await
        .unwrap();
    eventually("a replacement pod", || async {
        let owned = pods_of(&client, &uid).await;
        (owned.len() == 3
            && owned
                .iter()
                .all(|p| p.metadata.name.as_deref() != Some(gone.as_str())))
        .then_some(())
    })
    .await;

    let events = Api::<Event>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(
        events
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("SuccessfulCreate")
                && e.source.as_ref().and_then(|s| s.component.as_deref())
                    == Some("replicaset-controller")),
        "SuccessfulCreate events are published"
    );
}

#[tokio::test]
async fn scaling_down_deletes_the_least_valuable_pods_first() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let _manager = RunningManager::start(client.clone());
    let rs = create_replica_set(&client, &replica_set("web", 4, "web")).await;
    let uid = rs.metadata.uid.clone().unwrap();
    let created = eventually("four pods", || async {
        let owned = pods_of(&client, &uid).await;
        (owned.len() == 4).then_some(owned)
    })
    .await;
    // Two pods become ready; the other two stay pending.
    let ready: Vec<String> = created[..2]
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    for name in &ready {
        mark_ready(&client, NS, name).await.unwrap();
    }
    eventually("two ready pods in the status", || async {
        (status_counts(&*replica_set_named(&client, "web").await).2 == 2).then_some(())
    })
    .await;

    scale(&client, "web", 2).await;
    let left = eventually("two pods left", || async {
        let owned = pods_of(&client, &uid).await;
        (owned.len() == 2).then_some(owned)
    })
    .await;
    let mut left: Vec<String> = left
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    left.sort();
    let mut expected = ready.clone();
    expected.sort();
    assert_eq!(
        left, expected,
        "the pending pods were deleted, the ready ones kept"
    );
}

#[tokio::test]
async fn available_replicas_wait_for_min_ready_seconds() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let _manager = RunningManager::start(client.clone());
    let mut spec = replica_set("slow", 2, "slow");
    spec.spec.as_mut().unwrap().min_ready_seconds = Some(2);
    let rs = create_replica_set(&client, &spec).await;
    let uid = rs.metadata.uid.clone().unwrap();
    let created = eventually("two pods", || async {
        let owned = pods_of(&client, &uid).await;
        (owned.len() == 2).then_some(owned)
    })
    .await;
    for pod in &created {
        mark_ready(&client, NS, pod.metadata.name.as_deref().unwrap())
            .await
            .unwrap();
    }
    eventually("ready but not yet available", || async {
        (status_counts(&*replica_set_named(&client, "slow").await) == (2, 2, 2, 0)).then_some(())
    })
    .await;
    // Nothing changes any more: the controller comes back by itself when the pods have been
    // ready for two seconds.
    eventually("available after minReadySeconds", || async {
        (status_counts(&*replica_set_named(&client, "slow").await) == (2, 2, 2, 2)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn matching_orphans_are_adopted_and_pods_that_stop_matching_are_released() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let pod_api = Api::<Pod>::namespaced(client.clone(), NS);
    let mut orphan = Pod {
        metadata: ObjectMeta {
            name: Some("stray".into()),
            labels: Some(labels(&[("app", "web")])),
            ..ObjectMeta::default()
        },
        spec: template(labels(&[]), "nginx").spec,
        status: None,
    };
    pod_api
        .create(&PostParams::default(), &orphan)
        .await
        .unwrap();
    orphan.metadata.name = Some("unrelated".into());
    orphan.metadata.labels = Some(labels(&[("app", "db")]));
    pod_api
        .create(&PostParams::default(), &orphan)
        .await
        .unwrap();

    let _manager = RunningManager::start(client.clone());
    let rs = create_replica_set(&client, &replica_set("web", 2, "web")).await;
    let uid = rs.metadata.uid.clone().unwrap();
    let owned = eventually("the orphan adopted and one pod created", || async {
        let owned = pods_of(&client, &uid).await;
        (owned.len() == 2).then_some(owned)
    })
    .await;
    assert!(
        owned
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some("stray"))
    );
    let stray = pod_api.get("stray").await.unwrap();
    let reference = &stray.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (reference.uid.as_str(), reference.block_owner_deletion),
        (uid.as_str(), Some(true))
    );
    assert!(
        pod_api
            .get("unrelated")
            .await
            .unwrap()
            .metadata
            .owner_references
            .is_none()
    );
    assert_eq!(pods(&client, NS).await.len(), 3, "only one pod was created");

    // The adopted pod stops matching: it is released and replaced.
    pod_api
        .patch(
            "stray",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": "debugging"}}})),
        )
        .await
        .unwrap();
    eventually("the pod released and replaced", || async {
        let stray = pod_api.get("stray").await.ok()?;
        let released = stray
            .metadata
            .owner_references
            .as_ref()
            .is_none_or(|refs| refs.is_empty());
        let owned = pods_of(&client, &uid).await;
        (released
            && owned.len() == 2
            && owned
                .iter()
                .all(|p| p.metadata.name.as_deref() != Some("stray")))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_replication_controller_keeps_its_replicas_with_a_map_selector() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let _manager = RunningManager::start(client.clone());
    let rc = ReplicationController {
        metadata: ObjectMeta {
            name: Some("legacy".into()),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicationControllerSpec {
            replicas: Some(2),
            selector: Some(labels(&[("app", "legacy")])),
            template: Some(template(labels(&[("app", "legacy")]), "nginx")),
            ..ReplicationControllerSpec::default()
        }),
        status: None,
    };
    let rcs = Api::<ReplicationController>::namespaced(client.clone(), NS);
    let rc = rcs.create(&PostParams::default(), &rc).await.unwrap();
    let uid = rc.metadata.uid.clone().unwrap();
    let owned = eventually("two pods", || async {
        let owned = pods_of(&client, &uid).await;
        (owned.len() == 2).then_some(owned)
    })
    .await;
    let reference = &owned[0].metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (reference.api_version.as_str(), reference.kind.as_str()),
        ("v1", "ReplicationController")
    );
    eventually("the status counts them", || async {
        let rc = rcs.get("legacy").await.ok()?;
        (rc.status.as_ref()?.replicas == 2).then_some(())
    })
    .await;
    rcs.patch(
        "legacy",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 0}})),
    )
    .await
    .unwrap();
    eventually("no pods left", || async {
        pods_of(&client, &uid).await.is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn refused_creations_set_the_replica_failure_condition_until_they_succeed() {
    let server = server().await;
    let interposer = Interposer::new(&server);
    interposer.refuse_pod_creations(Some(
        Status::failure(
            StatusReason::Forbidden,
            "pods \"web-\" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=10, limited: pods=10",
        )
        .with_code(403),
    ));
    let client: Arc<dyn Client> = interposer.clone();
    let _manager = RunningManager::start(client.clone());
    create_replica_set(&client, &replica_set("web", 5, "web")).await;

    let condition = eventually("a ReplicaFailure condition", || async {
        let rs = replica_set_named(&client, "web").await;
        rs.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "ReplicaFailure")
            .cloned()
    })
    .await;
    assert_eq!(condition.status, "True");
    assert_eq!(condition.reason.as_deref(), Some("FailedCreate"));
    assert!(
        condition
            .message
            .as_deref()
            .unwrap()
            .contains("exceeded quota")
    );
    // Slow start: the first sync sent one creation, not five.
    let attempts = interposer.pod_creates.load(Ordering::SeqCst);
    assert!(attempts < 5, "{attempts} creations were attempted at once");
    eventually("a FailedCreate event", || async {
        let events = Api::<Event>::namespaced(client.clone(), NS)
            .list(&ListParams::default())
            .await
            .ok()?;
        events
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("FailedCreate") && e.type_.as_deref() == Some("Warning")
            })
            .then_some(())
    })
    .await;

    interposer.refuse_pod_creations(None);
    eventually("five pods and no failure condition", || async {
        let rs = replica_set_named(&client, "web").await;
        let status = rs.status.as_ref()?;
        let failing = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "ReplicaFailure");
        (status.replicas == 5 && !failing).then_some(())
    })
    .await;
    assert_eq!(pods(&client, NS).await.len(), 5);
}

#[tokio::test]
async fn no_pod_is_created_or_deleted_twice_while_the_pod_informer_lags() {
    let server = server().await;
    let interposer = Interposer::new(&server);
    let client: Arc<dyn Client> = interposer.clone();
    let direct: Arc<dyn Client> = server.clone();
    let _manager = RunningManager::start(client.clone());
    // Wait until the pod informer is watching, then hold its events back.
    eventually("the manager's caches", || async {
        _manager.manager.factory().has_synced().then_some(())
    })
    .await;
    interposer.let_pod_events_flow(false);

    let rs = create_replica_set(&client, &replica_set("web", 3, "web")).await;
    eventually("three pods on the server", || async {
        (pods(&direct, NS).await.len() == 3).then_some(())
    })
    .await;
    // Make the controller sync again and again while it cannot see its pods: each spec
    // change is a sync that ends with the status observing the new generation.
    let rs_api = Api::<ReplicaSet>::namespaced(client.clone(), NS);
    for seconds in 1..=4 {
        let updated = rs_api
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"minReadySeconds": seconds}})),
            )
            .await
            .unwrap();
        let generation = updated.metadata.generation;
        eventually("the sync of the new generation", || async {
            let rs = rs_api.get("web").await.ok()?;
            (rs.status.as_ref()?.observed_generation == generation).then_some(())
        })
        .await;
    }
    assert_eq!(pods(&direct, NS).await.len(), 3, "no pod was created twice");
    assert_eq!(interposer.pod_creates.load(Ordering::SeqCst), 3);

    interposer.let_pod_events_flow(true);
    eventually("the status sees the three pods", || async {
        (status_counts(&*rs_api.get("web").await.ok()?).0 == 3).then_some(())
    })
    .await;

    // The same for deletions.
    interposer.let_pod_events_flow(false);
    scale(&client, "web", 1).await;
    eventually("one pod on the server", || async {
        (pods(&direct, NS).await.len() == 1).then_some(())
    })
    .await;
    for seconds in 5..=7 {
        let updated = rs_api
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"minReadySeconds": seconds}})),
            )
            .await
            .unwrap();
        let generation = updated.metadata.generation;
        eventually("the sync of the new generation", || async {
            let rs = rs_api.get("web").await.ok()?;
            (rs.status.as_ref()?.observed_generation == generation).then_some(())
        })
        .await;
    }
    assert_eq!(
        interposer.pod_deletes.load(Ordering::SeqCst),
        2,
        "no pod was deleted twice"
    );
    interposer.let_pod_events_flow(true);
    eventually("the status sees one pod", || async {
        (status_counts(&*rs_api.get("web").await.ok()?).0 == 1).then_some(())
    })
    .await;
    assert_eq!(
        pods_of(&direct, rs.metadata.uid.as_deref().unwrap())
            .await
            .len(),
        1
    );
    assert_eq!(interposer.pod_creates.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_status_is_written_only_when_it_changes() {
    let server = server().await;
    let interposer = Interposer::new(&server);
    let client: Arc<dyn Client> = interposer.clone();
    let running = RunningManager::start(client.clone());
    create_replica_set(&client, &replica_set("web", 2, "web")).await;
    let rs_api = Api::<ReplicaSet>::namespaced(client.clone(), NS);
    eventually("two pods in the status", || async {
        (status_counts(&*rs_api.get("web").await.ok()?).0 == 2).then_some(())
    })
    .await;
    let writes = interposer.status_writes("replicasets");
    let metrics = running.manager.clone();
    let reconciles = || {
        metrics
            .metrics_text()
            .lines()
            .filter(|l| {
                l.starts_with("controller_runtime_reconcile_total{controller=\"replicasets\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let before = reconciles();
    // An annotation is no reason for a new status: the sync runs and writes nothing.
    rs_api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"note": "hello"}}})),
        )
        .await
        .unwrap();
    eventually("another sync", || async {
        (reconciles() > before).then_some(())
    })
    .await;
    assert_eq!(interposer.status_writes("replicasets"), writes);
}
