//! The Deployment controller: declarative rollouts of a pod template through ReplicaSets, as
//! Kubernetes v1.33's `deployment` controller does.
//!
//! For every Deployment the controller
//!
//! - **claims** ReplicaSets: adopts orphans matching its selector, releases those that stop
//!   matching;
//! - keeps one **new ReplicaSet** per template, named `<deployment>-<pod-template-hash>`
//!   ([`hash`]) with the hash added to its labels, selector and pod template, and the
//!   **revision annotations** that `kubectl rollout history` and `kubectl rollout undo` read
//!   ([`annotations`]);
//! - rolls out with the **RollingUpdate** strategy within `maxSurge` and `maxUnavailable`
//!   ([`fenceposts`], [`rolling`]) or the **Recreate** strategy ([`recreate`]);
//! - while **paused**, scales but does not roll out; on a **scaling event** during a rollout,
//!   shares the change among the ReplicaSets in proportion ([`replica_sets`]);
//! - rolls back when the template returns to an earlier one (what `kubectl rollout undo`
//!   writes) or when the deprecated rollback annotation asks ([`rollback`]);
//! - deletes old ReplicaSets without pods beyond `revisionHistoryLimit`;
//! - reports `replicas`, `updatedReplicas`, `readyReplicas`, `availableReplicas`,
//!   `unavailableReplicas`, `observedGeneration`, `collisionCount` and the `Progressing`
//!   and `Available` conditions exactly as `kubectl rollout status` reads them
//!   ([`progress`]), coming back when the progress deadline is due;
//! - publishes `ScalingReplicaSet` Events as `deployment-controller`.
//!
//! ReplicaSet events wake the Deployment controlling them (or, for orphans, every Deployment
//! whose selector matches); pod events wake a Recreate Deployment so it notices when its old
//! pods are gone.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn orchestra_api::Client>) {
//! use orchestra_controller::builtin::{deployment, replicaset};
//! use orchestra_controller::manager::Manager;
//!
//! let manager = Manager::builder(client).build().unwrap();
//! replicaset::add_to(&manager, Default::default());
//! deployment::add_to(&manager, deployment::DeploymentConfig::default());
//! manager.run(std::future::pending()).await;
//! # }
//! ```

pub mod annotations;
pub mod fenceposts;
pub mod hash;
pub mod progress;
mod recreate;
pub mod replica_sets;
pub mod rollback;
mod rolling;
mod sync;

use std::sync::Arc;

use orchestra_api::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use orchestra_api::k8s_openapi::api::core::v1::Pod;
use orchestra_api::{LabelSelector, Served, Status};

use self::fenceposts::strategy_type;
use crate::builtin::ownership::{controller_of, ensure_indexer, orphans_by_namespace};
use crate::builtin::replicaset::event_sink::EventSink;
use crate::controller::{Action, Controller, backoff_on_error};
use crate::events::{Recorder, Reporter};
use crate::informer::{Cache, Indexer, NAMESPACE_INDEX, ObjectKey};
use crate::manager::Manager;

/// How the Deployment controller runs; the defaults are kube-controller-manager's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentConfig {
    /// Deployments synced at once (`--concurrent-deployment-syncs`, 5).
    pub concurrent_deployment_syncs: usize,
}

impl Default for DeploymentConfig {
    fn default() -> Self {
        Self {
            concurrent_deployment_syncs: 5,
        }
    }
}

/// Registers the Deployment controller with `manager`.
pub fn add_to(manager: &Manager, config: DeploymentConfig) {
    let factory = manager.factory();
    let replica_sets = factory.informer::<ReplicaSet>();
    ensure_indexer(&replica_sets, Indexer::owner_uid());
    ensure_indexer(&replica_sets, orphans_by_namespace());
    let pods = factory.informer::<Pod>();
    ensure_indexer(&pods, Indexer::owner_uid());
    let deployments = factory.informer::<Deployment>();

    let mut reporter = Reporter::new("deployment-controller");
    if let Some(instance) = manager.recorder().reporter().instance.clone() {
        reporter = reporter.instance(instance);
    }
    let recorder = Recorder::new(manager.client().clone(), reporter);
    let ctx = Arc::new(sync::Context {
        client: manager.client().clone(),
        replica_sets: replica_sets.cache(),
        pods: pods.cache(),
        events: EventSink::new(recorder.clone()),
    });
    let controller = Controller::<Deployment>::new(factory)
        .watches::<ReplicaSet, _>(replica_set_to_deployments(deployments.cache()))
        .watches::<Pod, _>(pod_to_recreate_deployment(
            replica_sets.cache(),
            deployments.cache(),
        ))
        .workers(config.concurrent_deployment_syncs)
        .recorder(recorder);
    manager.add(controller, reconcile, backoff_on_error, ctx);
}

async fn reconcile(deployment: Arc<Deployment>, ctx: Arc<sync::Context>) -> Result<Action, Status> {
    let mut sync = sync::DeploymentSync::new(&ctx, (*deployment).clone());
    sync.run().await?;
    Ok(sync
        .requeue
        .map_or_else(Action::await_change, Action::requeue))
}

/// Whether an owner reference names a Deployment.
fn refers_to_deployment(api_version: &str, kind: &str) -> bool {
    let deployments = Deployment::resource_kind();
    api_version.split_once('/').map_or("", |(group, _)| group) == deployments.group
        && kind == deployments.kind
}

/// Maps a ReplicaSet event to its Deployment, or for an orphan to every Deployment of the
/// namespace whose (non-empty) selector matches its labels.
fn replica_set_to_deployments(
    deployments: Cache<Deployment>,
) -> impl Fn(&ReplicaSet) -> Vec<ObjectKey> + Send + Sync + 'static {
    move |rs: &ReplicaSet| {
        let meta = &rs.metadata;
        if let Some(reference) = controller_of(meta) {
            if refers_to_deployment(&reference.api_version, &reference.kind) {
                return vec![ObjectKey::new(meta.namespace.as_deref(), &reference.name)];
            }
            return Vec::new();
        }
        let Some(namespace) = meta.namespace.as_deref() else {
            return Vec::new();
        };
        if meta.deletion_timestamp.is_some() {
            return Vec::new();
        }
        let empty = Default::default();
        let labels = meta.labels.as_ref().unwrap_or(&empty);
        deployments
            .by_index(NAMESPACE_INDEX, namespace)
            .unwrap_or_default()
            .iter()
            .filter(|d| {
                d.spec.as_ref().is_some_and(|spec| {
                    LabelSelector::try_from(&spec.selector)
                        .is_ok_and(|s| !s.is_everything() && s.matches(labels))
                })
            })
            .map(|d| ObjectKey::of(&**d))
            .collect()
    }
}

/// Maps a pod event to the Recreate Deployment owning the pod's ReplicaSet, which waits for
/// its old pods to be gone.
fn pod_to_recreate_deployment(
    replica_sets: Cache<ReplicaSet>,
    deployments: Cache<Deployment>,
) -> impl Fn(&Pod) -> Vec<ObjectKey> + Send + Sync + 'static {
    move |pod: &Pod| {
        let namespace = pod.metadata.namespace.as_deref();
        let Some(rs_ref) = controller_of(&pod.metadata).filter(|r| r.kind == "ReplicaSet") else {
            return Vec::new();
        };
        let Some(rs) = replica_sets
            .get(namespace, &rs_ref.name)
            .filter(|rs| rs.metadata.uid.as_deref() == Some(rs_ref.uid.as_str()))
        else {
            return Vec::new();
        };
        let Some(d_ref) =
            controller_of(&rs.metadata).filter(|r| refers_to_deployment(&r.api_version, &r.kind))
        else {
            return Vec::new();
        };
        match deployments.get(namespace, &d_ref.name) {
            Some(d) if strategy_type(&d) == "Recreate" => vec![ObjectKey::of(&*d)],
            _ => Vec::new(),
        }
    }
}
