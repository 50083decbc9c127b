//! The Deployment controller, with the ReplicaSet controller, against the in-process server:
//! ReplicaSets named by the template hash with Kubernetes' revision annotations, rolling
//! updates that keep within `maxSurge` and `maxUnavailable` at every moment (watched),
//! Recreate, pause, rollback as `kubectl rollout undo` does it, the history limit,
//! proportional scaling of a stuck rollout, the progress deadline, adoption, and a rollout
//! that survives the controller manager being killed halfway. There is no kubelet: a
//! simulated one marks pods ready.

mod support;
mod workloads;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use orchestra_api::k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, ReplicaSet, ReplicaSetSpec,
    RollingUpdateDeployment,
};
use orchestra_api::k8s_openapi::api::core::v1::Pod;
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use orchestra_api::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use orchestra_api::{
    Api, Client, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use orchestra_controller::builtin::deployment::annotations::{
    DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION, is_skipped_annotation,
};
use orchestra_controller::builtin::deployment::hash::{POD_TEMPLATE_HASH_LABEL, equal_ignore_hash};
use orchestra_controller::builtin::deployment::progress::condition;
use orchestra_controller::builtin::ownership::is_controlled_by;
use orchestra_controller::builtin::pod_state;
use serde_json::json;
use tokio::task::JoinHandle;

use self::support::server;
use self::workloads::{Kubelet, RunningManager, eventually, labels, pods, template};

const NS: &str = "default";

fn image_of(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

fn deployment(name: &str, replicas: i32, image: &str, strategy: DeploymentStrategy) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(NS.into()),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels(&[("app", name)])),
                ..LabelSelector::default()
            },
            template: template(labels(&[("app", name)]), image),
            strategy: Some(strategy),
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

fn rolling(surge: IntOrString, unavailable: IntOrString) -> DeploymentStrategy {
    DeploymentStrategy {
        type_: Some("RollingUpdate".into()),
        rolling_update: Some(RollingUpdateDeployment {
            max_surge: Some(surge),
            max_unavailable: Some(unavailable),
        }),
    }
}

fn recreate() -> DeploymentStrategy {
    DeploymentStrategy {
        type_: Some("Recreate".into()),
        rolling_update: None,
    }
}

fn deployments(client: &Arc<dyn Client>) -> Api<Deployment> {
    Api::namespaced(client.clone(), NS)
}

async fn create(client: &Arc<dyn Client>, d: &Deployment) -> Arc<Deployment> {
    deployments(client)
        .create(&PostParams::default(), d)
        .await
        .expect("the deployment is created")
}

/// The deployment's ReplicaSets, by revision (the current template's last).
async fn replica_sets_of(client: &Arc<dyn Client>, d: &Deployment) -> Vec<Arc<ReplicaSet>> {
    let uid = d.metadata.uid.as_deref().unwrap();
    let mut sets: Vec<Arc<ReplicaSet>> = Api::<ReplicaSet>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|rs| is_controlled_by(&rs.metadata, uid))
        .collect();
    sets.sort_by_key(|rs| {
        annotation(&rs.metadata, REVISION_ANNOTATION)
            .and_then(|r| r.parse::<i64>().ok())
            .unwrap_or(0)
    });
    sets
}

fn annotation(meta: &ObjectMeta, key: &str) -> Option<String> {
    meta.annotations.as_ref()?.get(key).cloned()
}

fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

/// What `kubectl rollout status` concludes from a Deployment (kubectl's
/// `DeploymentStatusViewer`): `Ok(true)` when rolled out, `Ok(false)` while waiting, an error
/// when the progress deadline was exceeded.
fn rollout_status(d: &Deployment) -> Result<bool, String> {
    let status = d.status.clone().unwrap_or_default();
    if d.metadata.generation.unwrap_or(0) > status.observed_generation.unwrap_or(0) {
        return Ok(false);
    }
    if condition(&status, "Progressing").and_then(|c| c.reason.as_deref())
        == Some("ProgressDeadlineExceeded")
    {
        return Err(format!(
            "deployment {:?} exceeded its progress deadline",
            d.metadata.name
        ));
    }
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    Ok(updated >= desired
        && status.replicas.unwrap_or(0) <= updated
        && status.available_replicas.unwrap_or(0) >= updated)
}

async fn wait_rolled_out(client: &Arc<dyn Client>, name: &str) -> Arc<Deployment> {
    eventually("the rollout to finish", || async {
        let d = deployments(client).get(name).await.ok()?;
        (rollout_status(&d) == Ok(true)).then_some(d)
    })
    .await
}

async fn set_image(client: &Arc<dyn Client>, name: &str, image: &str) {
    deployments(client)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}})),
        )
        .await
        .expect("the image is set");
}

/// Watches the pods of a namespace and records the most pods and the fewest ready pods seen
/// at any moment.
struct PodWatcher {
    state: Arc<Mutex<WatchedPods>>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct WatchedPods {
    pods: BTreeMap<String, bool>,
    images: BTreeMap<String, String>,
    max_total: usize,
    min_ready: usize,
    deleted_at: BTreeMap<String, (String, u64)>,
    started: bool,
}

impl WatchedPods {
    fn ready(&self) -> usize {
        self.pods.values().filter(|ready| **ready).count()
    }
}

impl PodWatcher {
    async fn start(client: &Arc<dyn Client>) -> Self {
        let state = Arc::new(Mutex::new(WatchedPods {
            min_ready: usize::MAX,
            ..WatchedPods::default()
        }));
        let mut events = Api::<Pod>::namespaced(client.clone(), NS)
            .watch(&WatchParams::default())
            .await
            .expect("pods are watched");
        let task = tokio::spawn({
            let state = state.clone();
            async move {
                while let Some(event) = events.next().await {
                    let mut state = state.lock().unwrap();
                    match event {
                        WatchEvent::Added(pod) | WatchEvent::Modified(pod) => {
                            let name = pod.metadata.name.clone().unwrap();
                            state.images.insert(name.clone(), image_of(&pod));
                            state.pods.insert(name, pod_state::is_ready(&pod));
                        }
                        WatchEvent::Deleted(pod) => {
                            let name = pod.metadata.name.clone().unwrap();
                            state.pods.remove(&name);
                            let revision = pod
                                .metadata
                                .resource_version
                                .as_deref()
                                .unwrap_or("0")
                                .parse()
                                .unwrap_or(0);
                            state.deleted_at.insert(name, (image_of(&pod), revision));
                        }
                        _ => continue,
                    }
                    if state.started {
                        let total = state.pods.len();
                        let ready = state.ready();
                        state.max_total = state.max_total.max(total);
                        state.min_ready = state.min_ready.min(ready);
                    }
                }
            }
        });
        Self { state, task }
    }

    /// Starts recording the bounds (from the state seen so far).
    fn record(&self) {
        let mut state = self.state.lock().unwrap();
        state.started = true;
        state.max_total = state.pods.len();
        state.min_ready = state.ready();
    }

    /// Waits until the watcher has seen exactly `count` ready pods of `image` and no other.
    async fn wait_settled(&self, count: usize, image: &str) {
        eventually("the watch to see the final pods", || async {
            let state = self.state.lock().unwrap();
            let settled = state.pods.len() == count
                && state.ready() == count
                && state
                    .pods
                    .keys()
                    .all(|name| state.images.get(name).map(String::as_str) == Some(image));
            settled.then_some(())
        })
        .await;
    }

    fn bounds(&self) -> (usize, usize) {
        let state = self.state.lock().unwrap();
        (state.max_total, state.min_ready)
    }
}

impl Drop for PodWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Records, in order, every distinct reason of a Deployment's Progressing and Available
/// conditions that a watch sees.
struct ConditionWatcher {
    reasons: Arc<Mutex<Vec<(String, String)>>>,
    task: JoinHandle<()>,
}

impl ConditionWatcher {
    async fn start(client: &Arc<dyn Client>) -> Self {
        let reasons: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let mut events = deployments(client)
            .watch(&WatchParams::default())
            .await
            .expect("deployments are watched");
        let task = tokio::spawn({
            let reasons = reasons.clone();
            async move {
                while let Some(event) = events.next().await {
                    let (WatchEvent::Added(d) | WatchEvent::Modified(d)) = event else {
                        continue;
                    };
                    let Some(status) = d.status.as_ref() else {
                        continue;
                    };
                    let mut reasons = reasons.lock().unwrap();
                    for type_ in ["Progressing", "Available"] {
                        let Some(reason) = condition(status, type_).and_then(|c| c.reason.clone())
                        else {
                            continue;
                        };
                        let entry = (type_.to_owned(), reason);
                        if reasons.iter().rev().find(|(t, _)| t == type_) != Some(&entry) {
                            reasons.push(entry);
                        }
                    }
                }
            }
        });
        Self { reasons, task }
    }

    /// The reasons of `type_` seen so far, in order.
    fn seen(&self, type_: &str) -> Vec<String> {
        self.reasons
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t == type_)
            .map(|(_, reason)| reason.clone())
            .collect()
    }
}

impl Drop for ConditionWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn a_deployment_rolls_out_a_replica_set_named_by_its_template_hash() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let conditions = ConditionWatcher::start(&client).await;
    let _manager = RunningManager::start(client.clone());
    let _kubelet = Kubelet::start(client.clone(), NS, |_| true);
    let created = create(
        &client,
        &deployment(
            "web",
            3,
            "nginx:1.27",
            rolling(
                IntOrString::String("25%".into()),
                IntOrString::String("25%".into()),
            ),
        ),
    )
    .await;

    let d = wait_rolled_out(&client, "web").await;
    let sets = replica_sets_of(&client, &created).await;
    assert_eq!(sets.len(), 1);
    let rs = &sets[0];
    let hash = rs.metadata.labels.as_ref().unwrap()[POD_TEMPLATE_HASH_LABEL].clone();
    assert_eq!(
        rs.metadata.name.as_deref(),
        Some(format!("web-{hash}").as_str())
    );
    assert!((6..=10).contains(&hash.len()), "{hash}");
    let spec = rs.spec.as_ref().unwrap();
    assert_eq!(
        spec.selector.match_labels.as_ref().unwrap()[POD_TEMPLATE_HASH_LABEL],
        hash
    );
    assert_eq!(
        spec.template
            .as_ref()
            .unwrap()
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap()[POD_TEMPLATE_HASH_LABEL],
        hash
    );
    let owner = &rs.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.kind.as_str(),
            owner.controller,
            owner.block_owner_deletion
        ),
        ("Deployment", Some(true), Some(true))
    );
    assert_eq!(
        annotation(&rs.metadata, REVISION_ANNOTATION).as_deref(),
        Some("1")
    );
    assert_eq!(
        annotation(&rs.metadata, DESIRED_REPLICAS_ANNOTATION).as_deref(),
        Some("3")
    );
    // 25% of 3 rounds up to a surge of 1.
    assert_eq!(
        annotation(&rs.metadata, MAX_REPLICAS_ANNOTATION).as_deref(),
        Some("4")
    );
    assert_eq!(
        annotation(&d.metadata, REVISION_ANNOTATION).as_deref(),
        Some("1")
    );

    let status = d.status.clone().unwrap();
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.ready_replicas,
            status.available_replicas,
            status.observed_generation
        ),
        (Some(3), Some(3), Some(3), Some(3), d.metadata.generation)
    );
    let available = condition(&status, "Available").unwrap();
    assert_eq!(
        (available.status.as_str(), available.reason.as_deref()),
        ("True", Some("MinimumReplicasAvailable"))
    );
    let progressing = eventually(
        "the Progressing condition to say the rollout completed",
        || async {
            let d = deployments(&client).get("web").await.ok()?;
            let c = condition(d.status.as_ref()?, "Progressing")?.clone();
            (c.reason.as_deref() == Some("NewReplicaSetAvailable")).then_some(c)
        },
    )
    .await;
    assert_eq!(progressing.status, "True");
    assert_eq!(
        progressing.message.as_deref(),
        Some(format!("ReplicaSet \"web-{hash}\" has successfully progressed.").as_str())
    );
    let owned = pods(&client, NS).await;
    assert_eq!(owned.len(), 3);
    assert!(
        owned
            .iter()
            .all(|p| p.metadata.labels.as_ref().unwrap()[POD_TEMPLATE_HASH_LABEL] == hash)
    );
    let progress = conditions.seen("Progressing");
    assert_eq!(
        progress.first().map(String::as_str),
        Some("NewReplicaSetCreated"),
        "{progress:?}"
    );
    assert_eq!(
        progress.last().map(String::as_str),
        Some("NewReplicaSetAvailable"),
        "{progress:?}"
    );
    let known = [
        "NewReplicaSetCreated",
        "ReplicaSetUpdated",
        "NewReplicaSetAvailable",
    ];
    assert!(
        progress.iter().all(|r| known.contains(&r.as_str())),
        "{progress:?}"
    );
    // The pods start unready: the minimum is not available at first, then it is.
    assert_eq!(
        conditions.seen("Available"),
        ["MinimumReplicasUnavailable", "MinimumReplicasAvailable"]
    );
}

#[tokio::test]
async fn a_rolling_update_never_exceeds_max_surge_nor_drops_below_max_unavailable() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let _manager = RunningManager::start(client.clone());
    let _kubelet = Kubelet::start(client.clone(), NS, |_| true);
    let created = create(
        &client,
        &deployment(
            "web",
            4,
            "nginx:1",
            rolling(IntOrString::Int(1), IntOrString::Int(1)),
        ),
    )
    .await;
    wait_rolled_out(&client, "web").await;

    let watcher = PodWatcher::start(&client).await;
    watcher.wait_settled(4, "nginx:1").await;
    watcher.record();
    let conditions = ConditionWatcher::start(&client).await;
    set_image(&client, "web", "nginx:2").await;
    let d = wait_rolled_out(&client, "web").await;
    watcher.wait_settled(4, "nginx:2").await;
    let (max_total, min_ready) = watcher.bounds();
    assert!(
        max_total <= 5,
        "{max_total} pods at once, more than replicas + maxSurge = 5"
    );
    assert!(
        min_ready >= 3,
        "{min_ready} ready pods at one moment, fewer than replicas - maxUnavailable = 3"
    );

    let sets = replica_sets_of(&client, &created).await;
    assert_eq!(sets.len(), 2);
    assert_eq!((spec_replicas(&sets[0]), spec_replicas(&sets[1])), (0, 4));
    assert_eq!(
        annotation(&sets[1].metadata, REVISION_ANNOTATION).as_deref(),
        Some("2")
    );
    assert_eq!(
        annotation(&d.metadata, REVISION_ANNOTATION).as_deref(),
        Some("2")
    );
    eventually("the rollout's last progress condition", || async {
        let progress = conditions.seen("Progressing");
        (progress.last().map(String::as_str) == Some("NewReplicaSetAvailable")).then_some(())
    })
    .await;
    let progress = conditions.seen("Progressing");
    let created_at = progress
        .iter()
        .position(|r| r == "NewReplicaSetCreated")
        .expect("NewReplicaSetCreated");
    assert!(
        progress[created_at..]
            .iter()
            .any(|r| r == "ReplicaSetUpdated"),
        "the rollout's steps are ReplicaSetUpdated: {progress:?}"
    );
    // maxUnavailable held: the minimum stayed available throughout.
    assert!(
        !conditions
            .seen("Available")
            .contains(&"MinimumReplicasUnavailable".to_owned())
    );
}

/// What `kubectl rollout undo` (1.32, 1.33) does: read the ReplicaSets, pick the previous
/// revision, and patch the Deployment's template and annotations with it.
async fn rollout_undo(client: &Arc<dyn Client>, name: &str) -> String {
    let d = deployments(client).get(name).await.unwrap();
    assert_ne!(
        d.spec.as_ref().unwrap().paused,
        Some(true),
        "kubectl refuses to undo a paused deployment"
    );
    let sets = replica_sets_of(client, &d).await;
    let revision = |rs: &ReplicaSet| {
        annotation(&rs.metadata, REVISION_ANNOTATION)
            .and_then(|r| r.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let mut revisions: Vec<i64> = sets.iter().map(|rs| revision(rs)).collect();
    revisions.sort();
    let previous = revisions[revisions.len() - 2];
    let rs = sets.iter().find(|rs| revision(rs) == previous).unwrap();
    let mut template = rs.spec.as_ref().unwrap().template.clone().unwrap();
    assert!(!equal_ignore_hash(
        &template,
        &d.spec.as_ref().unwrap().template
    ));
    template
        .metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .remove(POD_TEMPLATE_HASH_LABEL);
    let mut annotations: BTreeMap<String, String> = d
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| is_skipped_annotation(k))
        .collect();
    for (k, v) in rs.metadata.annotations.clone().unwrap_or_default() {
        if !is_skipped_annotation(&k) {
            annotations.insert(k, v);
        }
    }
    let patch = json!([
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]);
    deployments(client)
        .patch(name, &PatchParams::default(), &Patch::Json(patch))
        .await
        .expect("the rollback patch applies");
    rs.metadata.name.clone().unwrap()
}

#[tokio::test]
async fn rollout_undo_returns_to_the_previous_replica_set_with_a_new_revision() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let _manager = RunningManager::start(client.clone());
    let _kubelet = Kubelet::start(client.clone(), NS, |_| true);
    let mut spec = deployment(
        "web",
        3,
        "nginx:1",
        rolling(IntOrString::Int(1), IntOrString::Int(0)),
    );
    spec.metadata.annotations = Some(labels(&[("kubernetes.io/change-cause", "first")]));
    let created = create(&client, &spec).await;
    wait_rolled_out(&client, "web").await;
    // As `kubectl set image --record` does: the change cause and the image in one patch.
    deployments(&client)
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({
                "metadata": {"annotations": {"kubernetes.io/change-cause": "second"}},
                "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}},
            })),
        )
        .await
        .unwrap();
    wait_rolled_out(&client, "web").await;
    let before = replica_sets_of(&client, &created).await;
    assert_eq!(before.len(), 2);

    let first = rollout_undo(&client, "web").await;
    assert_eq!(first, before[0].metadata.name.clone().unwrap());
    let d = eventually("the first ReplicaSet running again", || async {
        let d = deployments(&client).get("web").await.ok()?;
        let sets = replica_sets_of(&client, &d).await;
        let running = sets
            .iter()
            .find(|rs| rs.metadata.name.as_deref() == Some(first.as_str()))?;
        (rollout_status(&d) == Ok(true) && spec_replicas(running) == 3).then_some(d)
    })
    .await;
    let sets = replica_sets_of(&client, &created).await;
    assert_eq!(
        sets.len(),
        2,
        "no ReplicaSet was created for the old template"
    );
    let restored = sets
        .iter()
        .find(|rs| rs.metadata.name.as_deref() == Some(first.as_str()))
        .unwrap();
    assert_eq!(
        annotation(&restored.metadata, REVISION_ANNOTATION).as_deref(),
        Some("3")
    );
    assert_eq!(
        annotation(&restored.metadata, REVISION_HISTORY_ANNOTATION).as_deref(),
        Some("1")
    );
    assert_eq!(
        annotation(&d.metadata, REVISION_ANNOTATION).as_deref(),
        Some("3")
    );
    assert_eq!(
        annotation(&d.metadata, "kubernetes.io/change-cause").as_deref(),
        Some("first")
    );
    let other = sets
        .iter()
        .find(|rs| rs.metadata.name.as_deref() != Some(first.as_str()))
        .unwrap();
    assert_eq!(spec_replicas(other), 0);
    let live = pods(&client, NS).await;
    assert_eq!(live.len(), 3);
    assert!(live.iter().all(|p| image_of(p) == "nginx:1"));
}

#[tokio::test]
async fn recreate_removes_every_old_pod_before_the_new_replica_set_exists() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let _manager = RunningManager::start(client.clone());
    let _kubelet = Kubelet::start(client.clone(), NS, |_| true);
    let created = create(&client, &deployment("db", 3, "postgres:16", recreate())).await;
    wait_rolled_out(&client, "db").await;
    let watcher = PodWatcher::start(&client).await;
    watcher.wait_settled(3, "postgres:16").await;
    // The revision at which each ReplicaSet appears.
    let created_at: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let mut rs_events = Api::<ReplicaSet>::namespaced(client.clone(), NS)
        .watch(&WatchParams::default())
        .await
        .unwrap();
    let rs_watch = tokio::spawn({
        let created_at = created_at.clone();
        async move {
            while let Some(event) = rs_events.next().await {
                if let WatchEvent::Added(rs) = event {
                    let revision = rs
                        .metadata
                        .resource_version
                        .as_deref()
                        .and_then(|r| r.parse().ok())
                        .unwrap_or(0);
                    created_at
                        .lock()
                        .unwrap()
                        .insert(rs.metadata.name.clone().unwrap(), revision);
                }
            }
        }
    });

    set_image(&client, "db", "postgres:17").await;
    wait_rolled_out(&client, "db").await;
    watcher.wait_settled(3, "postgres:17").await;
    let sets = replica_sets_of(&client, &created).await;
    assert_eq!(sets.len(), 2);
    let new_name = sets[1].metadata.name.clone().unwrap();
    let new_created_at = eventually("the watch to see the new ReplicaSet", || async {
        created_at.lock().unwrap().get(&new_name).copied()
    })
    .await;
    let state = watcher.state.lock().unwrap();
    let old_deletions: Vec<u64> = state
        .deleted_at
        .values()
        .filter(|(image, _)| image == "postgres:16")
        .map(|(_, revision)| *revision)
        .collect();
    assert_eq!(old_deletions.len(), 3, "every old pod was deleted");
    assert!(
        old_deletions
            .iter()
            .all(|deleted| *deleted < new_created_at),
        "old pods deleted at {old_deletions:?}, the new ReplicaSet created at {new_created_at}"
    );
    rs_watch.abort();
}

#[tokio::test]
async fn a_paused_deployment_scales_but_does_not_roll_out_until_resumed() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let _manager = RunningManager::start(client.clone());
    let _kubelet = Kubelet::start(client.clone(), NS, |_| true);
    let created = create(
        &client,
        &deployment(
            "web",
            2,
            "nginx:1",
            rolling(IntOrString::Int(1), IntOrString::Int(0)),
        ),
    )
    .await;
    wait_rolled_out(&client, "web").await;

    deployments(&client)
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"paused": true}})),
        )
        .await
        .unwrap();
    eventually("the paused condition", || async {
        let d = deployments(&client).get("web").await.ok()?;
        let c = condition(d.status.as_ref()?, "Progressing")?.clone();
        (c.reason.as_deref() == Some("DeploymentPaused") && c.status == "Unknown").then_some(())
    })
    .await;
    set_image(&client, "web", "nginx:2").await;
    deployments(&client)
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    eventually("the old ReplicaSet scaled to 4", || async {
        let d = deployments(&client).get("web").await.ok()?;
        let sets = replica_sets_of(&client, &d).await;
        let observed = d.status.as_ref()?.observed_generation == d.metadata.generation;
        (observed
            && sets.len() == 1
            && spec_replicas(&sets[0]) == 4
            && pods(&client, NS).await.len() == 4)
            .then_some(())
    })
    .await;
    assert!(
        pods(&client, NS)
            .await
            .iter()
            .all(|p| image_of(p) == "nginx:1"),
        "no rollout while paused"
    );

    deployments(&client)
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"paused": false}})),
        )
        .await
        .unwrap();
    eventually("the rollout after the resume", || async {
        let d = deployments(&client).get("web").await.ok()?;
        let live = pods(&client, NS).await;
        (rollout_status(&d) == Ok(true)
            && live.len() == 4
            && live.iter().all(|p| image_of(p) == "nginx:2"))
        .then_some(())
    })
    .await;
    assert_eq!(replica_sets_of(&client, &created).await.len(), 2);
}

#[tokio::test]
async fn replica_sets_beyond_the_revision_history_limit_are_deleted() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let _manager = RunningManager::start(client.clone());
    let _kubelet = Kubelet::start(client.clone(), NS, |_| true);
    let mut spec = deployment(
        "web",
        2,
        "nginx:1",
        rolling(IntOrString::Int(1), IntOrString::Int(0)),
    );
    spec.spec.as_mut().unwrap().revision_history_limit = Some(1);
    let created = create(&client, &spec).await;
    wait_rolled_out(&client, "web").await;
    for image in ["nginx:2", "nginx:3"] {
        set_image(&client, "web", image).await;
        eventually("the new template rolled out", || async {
            let d = deployments(&client).get("web").await.ok()?;
            let live = pods(&client, NS).await;
            (rollout_status(&d) == Ok(true)
                && live.len() == 2
                && live.iter().all(|p| image_of(p) == image))
            .then_some(())
        })
        .await;
    }
    let sets = eventually("one old ReplicaSet kept", || async {
        let sets = replica_sets_of(&client, &created).await;
        (sets.len() == 2).then_some(sets)
    })
    .await;
    let images: BTreeSet<String> = sets
        .iter()
        .map(|rs| {
            rs.spec
                .as_ref()
                .unwrap()
                .template
                .as_ref()
                .unwrap()
                .spec
                .as_ref()
                .unwrap()
                .containers[0]
                .image
                .clone()
                .unwrap()
        })
        .collect();
    assert_eq!(
        images,
        BTreeSet::from(["nginx:2".to_owned(), "nginx:3".to_owned()])
    );
}

#[tokio::test]
async fn scaling_a_stuck_rollout_shares_the_new_replicas_in_proportion() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let _manager = RunningManager::start(client.clone());
    // The new image never becomes ready: the rollout stalls.
    let _kubelet = Kubelet::start(client.clone(), NS, |pod| image_of(pod) == "nginx:1");
    let created = create(
        &client,
        &deployment(
            "web",
            10,
            "nginx:1",
            rolling(IntOrString::Int(3), IntOrString::Int(2)),
        ),
    )
    .await;
    wait_rolled_out(&client, "web").await;
    set_image(&client, "web", "nginx:2").await;
    // Kubernetes' documentation: 8 old and 5 new replicas.
    eventually("the rollout stuck at 8 old and 5 new", || async {
        let sets = replica_sets_of(&client, &created).await;
        (sets.len() == 2 && spec_replicas(&sets[0]) == 8 && spec_replicas(&sets[1]) == 5)
            .then_some(())
    })
    .await;
    deployments(&client)
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 15}})),
        )
        .await
        .unwrap();
    // The 5 extra replicas go 3 to the old and 2 to the new ReplicaSet.
    eventually("11 old and 7 new", || async {
        let sets = replica_sets_of(&client, &created).await;
        (spec_replicas(&sets[0]) == 11 && spec_replicas(&sets[1]) == 7).then_some(())
    })
    .await;
    let sets = replica_sets_of(&client, &created).await;
    for rs in &sets {
        assert_eq!(
            annotation(&rs.metadata, DESIRED_REPLICAS_ANNOTATION).as_deref(),
            Some("15")
        );
        assert_eq!(
            annotation(&rs.metadata, MAX_REPLICAS_ANNOTATION).as_deref(),
            Some("18")
        );
    }
}

#[tokio::test]
async fn a_stalled_rollout_exceeds_its_progress_deadline() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let _manager = RunningManager::start(client.clone());
    let _kubelet = Kubelet::start(client.clone(), NS, |pod| image_of(pod) == "nginx:1");
    let mut spec = deployment(
        "web",
        2,
        "nginx:1",
        rolling(IntOrString::Int(1), IntOrString::Int(0)),
    );
    spec.spec.as_mut().unwrap().progress_deadline_seconds = Some(1);
    create(&client, &spec).await;
    wait_rolled_out(&client, "web").await;
    set_image(&client, "web", "nginx:broken").await;
    let d = eventually("ProgressDeadlineExceeded", || async {
        let d = deployments(&client).get("web").await.ok()?;
        let c = condition(d.status.as_ref()?, "Progressing")?;
        (c.reason.as_deref() == Some("ProgressDeadlineExceeded")).then_some(d)
    })
    .await;
    let progressing = condition(d.status.as_ref().unwrap(), "Progressing").unwrap();
    assert_eq!(progressing.status, "False");
    assert!(
        progressing
            .message
            .as_deref()
            .unwrap()
            .ends_with("has timed out progressing.")
    );
    assert!(
        rollout_status(&d).is_err(),
        "kubectl rollout status reports the deadline"
    );
    // maxUnavailable 0: the old pods are all still serving.
    let available = condition(d.status.as_ref().unwrap(), "Available").unwrap();
    assert_eq!(
        available.reason.as_deref(),
        Some("MinimumReplicasAvailable")
    );
}

#[tokio::test]
async fn a_matching_orphan_replica_set_is_adopted_as_the_new_one() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let spec = deployment(
        "web",
        2,
        "nginx:1",
        rolling(IntOrString::Int(1), IntOrString::Int(0)),
    );
    let orphan = ReplicaSet {
        metadata: ObjectMeta {
            name: Some("web-by-hand".into()),
            labels: Some(labels(&[("app", "web")])),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(2),
            selector: spec.spec.as_ref().unwrap().selector.clone(),
            template: Some(spec.spec.as_ref().unwrap().template.clone()),
            ..ReplicaSetSpec::default()
        }),
        status: None,
    };
    Api::<ReplicaSet>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &orphan)
        .await
        .unwrap();
    let conditions = ConditionWatcher::start(&client).await;
    let _manager = RunningManager::start(client.clone());
    let _kubelet = Kubelet::start(client.clone(), NS, |_| true);
    let created = create(&client, &spec).await;
    wait_rolled_out(&client, "web").await;
    eventually("the rollout's last progress condition", || async {
        let progress = conditions.seen("Progressing");
        (progress.last().map(String::as_str) == Some("NewReplicaSetAvailable")).then_some(())
    })
    .await;
    assert_eq!(
        conditions.seen("Progressing").first().map(String::as_str),
        Some("FoundNewReplicaSet"),
        "the adopted ReplicaSet is found, not created"
    );
    let sets = replica_sets_of(&client, &created).await;
    assert_eq!(
        sets.len(),
        1,
        "the orphan is the new ReplicaSet; none was created"
    );
    assert_eq!(sets[0].metadata.name.as_deref(), Some("web-by-hand"));
    assert_eq!(
        annotation(&sets[0].metadata, REVISION_ANNOTATION).as_deref(),
        Some("1")
    );
    assert_eq!(pods(&client, NS).await.len(), 2);
}

#[tokio::test]
async fn a_rollout_completes_after_the_controller_manager_is_killed_halfway() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let first = RunningManager::start(client.clone());
    let _kubelet = Kubelet::start(client.clone(), NS, |_| true);
    let created = create(
        &client,
        &deployment(
            "web",
            6,
            "nginx:1",
            rolling(IntOrString::Int(1), IntOrString::Int(1)),
        ),
    )
    .await;
    wait_rolled_out(&client, "web").await;
    let watcher = PodWatcher::start(&client).await;
    watcher.wait_settled(6, "nginx:1").await;
    watcher.record();

    set_image(&client, "web", "nginx:2").await;
    eventually("the rollout halfway", || async {
        let live = pods(&client, NS).await;
        let new = live
            .iter()
            .filter(|p| image_of(p) == "nginx:2" && pod_state::is_ready(p))
            .count();
        let old = live.iter().filter(|p| image_of(p) == "nginx:1").count();
        (new >= 2 && old >= 2).then_some(())
    })
    .await;
    first.kill().await;

    let _second = RunningManager::start(client.clone());
    let d = wait_rolled_out(&client, "web").await;
    watcher.wait_settled(6, "nginx:2").await;
    let (max_total, min_ready) = watcher.bounds();
    assert!(max_total <= 7, "{max_total} pods at once");
    assert!(min_ready >= 5, "{min_ready} ready pods at one moment");
    let live = pods(&client, NS).await;
    assert_eq!(live.len(), 6, "no extra and no missing pod");
    let sets = replica_sets_of(&client, &created).await;
    assert_eq!(
        sets.len(),
        2,
        "the restarted controller found the new ReplicaSet again"
    );
    assert_eq!((spec_replicas(&sets[0]), spec_replicas(&sets[1])), (0, 6));
    assert_eq!(
        annotation(&d.metadata, REVISION_ANNOTATION).as_deref(),
        Some("2")
    );
}

#[tokio::test]
async fn the_deprecated_rollback_annotation_rolls_back_and_is_removed() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let _manager = RunningManager::start(client.clone());
    let _kubelet = Kubelet::start(client.clone(), NS, |_| true);
    create(
        &client,
        &deployment(
            "web",
            2,
            "nginx:1",
            rolling(IntOrString::Int(1), IntOrString::Int(0)),
        ),
    )
    .await;
    wait_rolled_out(&client, "web").await;
    set_image(&client, "web", "nginx:2").await;
    wait_rolled_out(&client, "web").await;

    // What the API server keeps of an `extensions/v1beta1` rollback to the previous revision.
    deployments(&client)
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"deprecated.deployment.rollback.to": "0"}}}),
            ),
        )
        .await
        .unwrap();
    let d = eventually("the rollback done and the annotation gone", || async {
        let d = deployments(&client).get("web").await.ok()?;
        let image = d.spec.as_ref()?.template.spec.as_ref()?.containers[0]
            .image
            .clone()?;
        let pending = annotation(&d.metadata, "deprecated.deployment.rollback.to").is_some();
        (image == "nginx:1" && !pending && rollout_status(&d) == Ok(true)).then_some(d)
    })
    .await;
    eventually("the revision moved on", || async {
        let d = deployments(&client).get("web").await.ok()?;
        (annotation(&d.metadata, REVISION_ANNOTATION).as_deref() == Some("3")).then_some(())
    })
    .await;
    assert_eq!(replica_sets_of(&client, &d).await.len(), 2);
    assert!(
        pods(&client, NS)
            .await
            .iter()
            .all(|p| image_of(p) == "nginx:1")
    );
}

#[tokio::test]
async fn a_hash_collision_raises_the_collision_count_and_picks_another_name() {
    let server = server().await;
    let client: Arc<dyn Client> = server;
    let _manager = RunningManager::start(client.clone());
    let _kubelet = Kubelet::start(client.clone(), NS, |_| true);
    // Paused, the Deployment creates no ReplicaSet: its name can be taken first.
    let mut spec = deployment(
        "web",
        2,
        "nginx:1",
        rolling(IntOrString::Int(1), IntOrString::Int(0)),
    );
    spec.spec.as_mut().unwrap().paused = Some(true);
    let created = create(&client, &spec).await;
    let hash = orchestra_controller::builtin::deployment::hash::compute_hash(
        &created.spec.as_ref().unwrap().template,
        None,
    );
    let squatter = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("web-{hash}")),
            labels: Some(labels(&[("app", "other")])),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(0),
            selector: LabelSelector {
                match_labels: Some(labels(&[("app", "other")])),
                ..LabelSelector::default()
            },
            template: Some(template(labels(&[("app", "other")]), "httpd")),
            ..ReplicaSetSpec::default()
        }),
        status: None,
    };
    Api::<ReplicaSet>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &squatter)
        .await
        .unwrap();

    deployments(&client)
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"paused": false}})),
        )
        .await
        .unwrap();
    let d = wait_rolled_out(&client, "web").await;
    assert_eq!(d.status.as_ref().unwrap().collision_count, Some(1));
    let sets = replica_sets_of(&client, &created).await;
    assert_eq!(sets.len(), 1);
    let name = sets[0].metadata.name.clone().unwrap();
    assert_ne!(name, format!("web-{hash}"));
    let second = orchestra_controller::builtin::deployment::hash::compute_hash(
        &created.spec.as_ref().unwrap().template,
        Some(1),
    );
    assert_eq!(name, format!("web-{second}"));
}
