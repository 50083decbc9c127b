//! The ReplicaSet and ReplicationController controllers: keep `replicas` pods running for
//! each, as Kubernetes v1.33's `replicaset` and `replicationcontroller` controllers do (one
//! implementation for both kinds, as in Kubernetes).
//!
//! For every ReplicaSet the controller
//!
//! - **counts** the active pods it controls (not finished, not being deleted), found through
//!   the shared pod informer's owner-uid index;
//! - **claims** pods: adopts orphans that match its selector (a controller reference with
//!   `blockOwnerDeletion` is patched in, after a fresh read confirms the ReplicaSet is not
//!   being deleted) and releases controlled pods that no longer match;
//! - **creates** missing pods from its template (`generateName: <name>-`), in slow-start
//!   batches of 1, 2, 4, … up to 500 per sync, stopping at the first failed batch;
//! - **deletes** surplus pods, the least valuable first ([`ranking`]): unscheduled before
//!   scheduled, pending before unknown before running, not ready before ready, cheaper
//!   `pod-deletion-cost` first, doubled-up on a node first, ready for less time first, more
//!   restarts first, newer first;
//! - **waits for its writes** to reach the cache before creating or deleting again
//!   ([`expectations`]), so a lagging informer never causes a double creation;
//! - **reports** `replicas`, `fullyLabeledReplicas`, `readyReplicas`, `availableReplicas`
//!   (ready for `minReadySeconds`; the sync comes back when the next pod becomes available),
//!   `observedGeneration` and a `ReplicaFailure` condition when creations or deletions fail
//!   (quota, admission), through the status subresource and only when something changed;
//! - publishes `SuccessfulCreate`, `FailedCreate`, `SuccessfulDelete` and `FailedDelete`
//!   Events as `replicaset-controller` (`replication-controller` for ReplicationControllers).
//!
//! Pod events wake the controller of the pod (its controller reference) or, for an orphan,
//! every ReplicaSet of its namespace whose selector matches it.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn orchestra_api::Client>) {
//! use orchestra_controller::builtin::replicaset::{self, ReplicaSetConfig};
//! use orchestra_controller::manager::Manager;
//!
//! let manager = Manager::builder(client).build().unwrap();
//! replicaset::add_to(&manager, ReplicaSetConfig::default());
//! manager.run(std::future::pending()).await;
//! # }
//! ```

pub mod event_sink;
pub mod expectations;
pub mod pod_template;
pub mod ranking;
pub mod slow_start;
pub mod status;
mod sync;
pub mod workload;

use std::sync::Arc;

use orchestra_api::k8s_openapi::api::apps::v1::ReplicaSet;
use orchestra_api::k8s_openapi::api::core::v1::{Pod, ReplicationController};

use self::event_sink::EventSink;
use self::expectations::Expectations;
pub use self::workload::{ReplicaCondition, ReplicaStatus, ReplicatedWorkload};
use crate::builtin::ownership::{controller_of, ensure_indexer, orphans_by_namespace};
use crate::builtin::pod_state;
use crate::controller::{Controller, backoff_on_error};
use crate::events::{Recorder, Reporter};
use crate::informer::{Cache, Indexer, NAMESPACE_INDEX, ObjectKey};
use crate::manager::Manager;

/// Kubernetes' `BurstReplicas`: the most pods one sync creates or deletes.
pub const BURST_REPLICAS: usize = 500;

/// How the ReplicaSet and ReplicationController controllers run; the defaults are
/// kube-controller-manager's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSetConfig {
    /// ReplicaSets synced at once (`--concurrent-replicaset-syncs`, 5).
    pub concurrent_replica_set_syncs: usize,
    /// ReplicationControllers synced at once (`--concurrent-rc-syncs`, 5).
    pub concurrent_rc_syncs: usize,
    /// The most pods one sync creates or deletes (500).
    pub burst_replicas: usize,
    /// Whether to run the ReplicaSet controller (`replicaset-controller`; yes).
    pub replica_sets: bool,
    /// Whether to run the ReplicationController controller
    /// (`replicationcontroller-controller`; yes).
    pub replication_controllers: bool,
}

impl Default for ReplicaSetConfig {
    fn default() -> Self {
        Self {
            concurrent_replica_set_syncs: 5,
            concurrent_rc_syncs: 5,
            burst_replicas: BURST_REPLICAS,
            replica_sets: true,
            replication_controllers: true,
        }
    }
}

/// Registers the ReplicaSet and the ReplicationController controllers (those the
/// configuration enables) with `manager`.
pub fn add_to(manager: &Manager, config: ReplicaSetConfig) {
    if config.replica_sets {
        add_controller::<ReplicaSet>(
            manager,
            config.concurrent_replica_set_syncs,
            config.burst_replicas,
        );
    }
    if config.replication_controllers {
        add_controller::<ReplicationController>(
            manager,
            config.concurrent_rc_syncs,
            config.burst_replicas,
        );
    }
}

/// Whether an owner reference names an object of kind `K` (group and kind).
fn refers_to<K: ReplicatedWorkload>(api_version: &str, kind: &str) -> bool {
    let owner_kind = K::resource_kind();
    let group = api_version.split_once('/').map_or("", |(group, _)| group);
    group == owner_kind.group && kind == owner_kind.kind
}

/// Maps a pod event to the workloads to sync: the pod's controller (recording the
/// observation for its expectations) or, for an orphan, every workload of the namespace
/// whose selector matches it.
fn pod_to_workloads<K: ReplicatedWorkload>(
    workloads: Cache<K>,
    expectations: Arc<Expectations>,
) -> impl Fn(&Pod) -> Vec<ObjectKey> + Send + Sync + 'static {
    move |pod: &Pod| {
        let meta = &pod.metadata;
        if let Some(reference) = controller_of(meta) {
            if !refers_to::<K>(&reference.api_version, &reference.kind) {
                return Vec::new();
            }
            expectations.observe(&reference.uid, pod);
            return vec![ObjectKey::new(meta.namespace.as_deref(), &reference.name)];
        }
        let Some(namespace) = meta.namespace.as_deref() else {
            return Vec::new();
        };
        if pod_state::is_terminating(pod) {
            return Vec::new();
        }
        let empty = Default::default();
        let labels = meta.labels.as_ref().unwrap_or(&empty);
        workloads
            .by_index(NAMESPACE_INDEX, namespace)
            .unwrap_or_default()
            .iter()
            .filter(|workload| {
                workload
                    .pod_selector()
                    .is_ok_and(|selector| !selector.is_everything() && selector.matches(labels))
            })
            .map(|workload| ObjectKey::of(&**workload))
            .collect()
    }
}

fn add_controller<K: ReplicatedWorkload>(manager: &Manager, workers: usize, burst_replicas: usize) {
    let factory = manager.factory();
    let pods = factory.informer::<Pod>();
    ensure_indexer(&pods, Indexer::owner_uid());
    ensure_indexer(&pods, orphans_by_namespace());
    let workloads = factory.informer::<K>();
    ensure_indexer(&workloads, Indexer::owner_uid());

    let expectations = Arc::new(Expectations::default());
    let mut reporter = Reporter::new(K::EVENT_SOURCE);
    if let Some(instance) = manager.recorder().reporter().instance.clone() {
        reporter = reporter.instance(instance);
    }
    let recorder = Recorder::new(manager.client().clone(), reporter);
    let ctx = Arc::new(sync::Context {
        client: manager.client().clone(),
        pods: pods.cache(),
        workloads: workloads.cache(),
        expectations: Arc::clone(&expectations),
        events: EventSink::new(recorder.clone()),
        burst_replicas: burst_replicas.max(1),
    });
    let controller = Controller::<K>::new(factory)
        .watches::<Pod, _>(pod_to_workloads(workloads.cache(), expectations))
        .workers(workers)
        .recorder(recorder);
    manager.add(controller, sync::reconcile::<K>, backoff_on_error, ctx);
}
