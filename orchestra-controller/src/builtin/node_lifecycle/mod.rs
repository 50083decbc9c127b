//! Node lifecycle: noticing nodes that stopped working, tainting them, and evicting their pods
//! — Kubernetes v1.33's `node-lifecycle-controller` and `taint-eviction-controller`.
//!
//! Three parts, registered together by [`add_to`]:
//!
//! - **The node monitor** ([`monitor`]), every
//!   [`node_monitor_period`](NodeLifecycleConfig::node_monitor_period) (5 s). A node whose
//!   kubelet neither renewed its Lease (`kube-node-lease/<node>`) nor posted a new status
//!   heartbeat within [`node_monitor_grace_period`](NodeLifecycleConfig::node_monitor_grace_period)
//!   (40 s) gets its `Ready`, `MemoryPressure`, `DiskPressure` and `PIDPressure` conditions set
//!   to `Unknown` (reason `NodeStatusUnknown`, "Kubelet stopped posting node status."), a
//!   `NodeNotReady` Event, and its pods marked not ready. A node not ready gets the
//!   `NoExecute` taint `node.kubernetes.io/unreachable` (status `Unknown`) or
//!   `node.kubernetes.io/not-ready` (status `False`, as its kubelet reports), at the pace the
//!   health of its zone allows ([`zones`]); both are removed when it is `Ready` again.
//! - **Condition taints** ([`no_schedule`]): on every node change, the `NoSchedule` taints of
//!   its conditions (`not-ready`, `unreachable`, pressure, network, `unschedulable`).
//! - **Taint-based eviction** ([`taint_eviction`]): pods on a node with `NoExecute` taints they
//!   do not tolerate are deleted at once; those that tolerate them for `tolerationSeconds` are
//!   deleted when that runs out; those that tolerate them for ever stay.
//!
//! The controllers read nodes, Leases and pods from the shared informers and write through the
//! [`Client`](orchestra_api::Client): node status for the conditions, the node for its taints,
//! pod status and pod deletion for evictions.
//!
//! ```no_run
//! # fn demo(manager: &orchestra_controller::manager::Manager) {
//! use std::time::Duration;
//! use orchestra_controller::builtin::node_lifecycle::{self, NodeLifecycleConfig};
//!
//! node_lifecycle::add_to(manager, NodeLifecycleConfig {
//!     node_monitor_grace_period: Duration::from_secs(20),
//!     ..NodeLifecycleConfig::default()
//! });
//! # }
//! ```

pub mod clock;
pub mod health;
pub mod monitor;
pub mod no_schedule;
pub mod taint_eviction;
pub mod taints;
pub mod zones;

pub use self::clock::WallClock;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestra_api::k8s_openapi::api::coordination::v1::Lease;
use orchestra_api::k8s_openapi::api::core::v1::{Node, Pod};
use orchestra_api::{Client, Status};

use self::no_schedule::NoScheduleContext;
use self::taint_eviction::{EvictionContext, FirstSeen};
use self::taints::no_execute_taints;
use crate::builtin::endpointslice::{component_recorder, ensure_indexer};
use crate::controller::{Controller, Retry};
use crate::events::Recorder;
use crate::informer::{Indexer, Informer, NODE_NAME_INDEX, ObjectKey};
use crate::manager::Manager;

/// The namespace of the kubelets' Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// How the node lifecycle controllers run. The defaults are Kubernetes'.
#[derive(Debug, Clone)]
pub struct NodeLifecycleConfig {
    /// How often nodes are looked at (`--node-monitor-period`, 5 s).
    pub node_monitor_period: Duration,
    /// How long a node may stay silent before it is `Unknown`
    /// (`--node-monitor-grace-period`, 40 s).
    pub node_monitor_grace_period: Duration,
    /// The same for a node that never reported (`--node-startup-grace-period`, 60 s).
    pub node_startup_grace_period: Duration,
    /// Nodes per second tainted `NoExecute` in a healthy zone (`--node-eviction-rate`, 0.1).
    pub node_eviction_rate: f64,
    /// Nodes per second tainted in a partially disrupted large zone
    /// (`--secondary-node-eviction-rate`, 0.01).
    pub secondary_node_eviction_rate: f64,
    /// Zones of at most this many nodes are not tainted at all when partially disrupted
    /// (`--large-cluster-size-threshold`, 50).
    pub large_cluster_size_threshold: usize,
    /// The share of not-ready nodes (with more than two) that makes a zone partially disrupted
    /// (`--unhealthy-zone-threshold`, 0.55).
    pub unhealthy_zone_threshold: f64,
    /// Whether the taint eviction controller runs (on by default, as in Kubernetes).
    pub taint_eviction: bool,
    /// Pods reconciled at once by the taint eviction controller.
    pub taint_eviction_workers: usize,
    /// The wall clock for condition and taint times and toleration deadlines.
    pub clock: WallClock,
}

impl Default for NodeLifecycleConfig {
    fn default() -> Self {
        Self {
            node_monitor_period: Duration::from_secs(5),
            node_monitor_grace_period: Duration::from_secs(40),
            node_startup_grace_period: Duration::from_secs(60),
            node_eviction_rate: 0.1,
            secondary_node_eviction_rate: 0.01,
            large_cluster_size_threshold: 50,
            unhealthy_zone_threshold: 0.55,
            taint_eviction: true,
            taint_eviction_workers: 8,
            clock: WallClock::system(),
        }
    }
}

/// What the node monitor reads and writes with.
struct LifecycleContext {
    client: Arc<dyn Client>,
    config: NodeLifecycleConfig,
    clock: WallClock,
    nodes: Informer<Node>,
    leases: Informer<Lease>,
    pods: Informer<Pod>,
    recorder: Recorder,
}

/// Registers the node monitor, the condition-taint controller and (if configured) the taint
/// eviction controller with `manager`.
pub fn add_to(manager: &Manager, config: NodeLifecycleConfig) {
    let factory = manager.factory();
    let mut config = config;
    if config.node_monitor_period.is_zero() {
        tracing::warn!("a node monitor period of zero would spin; using Kubernetes' 5 s");
        config.node_monitor_period = Duration::from_secs(5);
    }
    let nodes = factory.informer::<Node>();
    let pods = factory.informer::<Pod>();
    ensure_indexer(&pods, Indexer::node_name());
    let leases = factory.namespaced_informer::<Lease>(NODE_LEASE_NAMESPACE);
    let clock = config.clock.clone();

    let ctx = Arc::new(LifecycleContext {
        client: Arc::clone(manager.client()),
        clock: clock.clone(),
        nodes: nodes.clone(),
        leases,
        pods: pods.clone(),
        recorder: component_recorder(manager, "node-controller"),
        config: config.clone(),
    });
    manager.add_task("node-lifecycle-controller", move || {
        monitor::run(Arc::clone(&ctx))
    });

    let ctx = Arc::new(NoScheduleContext {
        client: Arc::clone(manager.client()),
        clock: clock.clone(),
    });
    let controller = Controller::<Node>::new(factory).name("node-lifecycle-taint-by-condition");
    manager.add(
        controller,
        no_schedule::reconcile,
        |_, _: &Status, _| Retry::Backoff,
        ctx,
    );

    if config.taint_eviction {
        let ctx = Arc::new(EvictionContext {
            client: Arc::clone(manager.client()),
            nodes: nodes.cache(),
            clock,
            recorder: component_recorder(manager, "taint-eviction-controller"),
            scheduled: Mutex::default(),
            first_seen: FirstSeen::default(),
        });
        let pods_cache = pods.cache();
        // A node's change wakes its pods only while the node has NoExecute taints (or, for an
        // update, had them): the pods of healthy nodes have nothing to fear.
        let controller = Controller::<Pod>::new(factory)
            .name("taint-eviction-controller")
            .watches::<Node, _>(move |node| {
                if no_execute_taints(node).is_empty() {
                    return Vec::new();
                }
                let name = node.metadata.name.as_deref().unwrap_or_default();
                pods_cache
                    .index_keys(NODE_NAME_INDEX, name)
                    .unwrap_or_default()
                    .into_iter()
                    .collect::<Vec<ObjectKey>>()
            })
            .workers(config.taint_eviction_workers.max(1));
        manager.add(
            controller,
            taint_eviction::reconcile,
            |_, _: &Status, _| Retry::Backoff,
            ctx,
        );
    }
}
