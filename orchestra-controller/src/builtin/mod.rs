//! The built-in controllers of the controller manager, each behaving as its Kubernetes v1.33
//! counterpart. They use only the public runtime of this crate — shared informers, the
//! [`Controller`](crate::controller::Controller) builder, the [`Recorder`](crate::events::Recorder)
//! — and talk to the cluster only through the [`Client`](orchestra_api::Client) trait, so every
//! write they make passes validation, admission and optimistic concurrency like any user's, and
//! the same controller runs in-process or in another process over HTTP.
//!
//! | module | what it reconciles |
//! |---|---|
//! | [`replicaset`] | ReplicaSets and ReplicationControllers: pods to match `replicas`, adoption, status |
//! | [`deployment`] | Deployments: rolling update and recreate, rollback, pause, progress conditions |
//! | [`endpointslice`] | Services: their EndpointSlices and the legacy Endpoints mirror |
//! | [`node_lifecycle`] | Nodes: Ready=Unknown on missed leases, NoExecute taints, taint-based eviction |
//! | [`node_ipam`] | Nodes: a `podCIDR` per node from the cluster CIDR |
//! | [`namespace`] | Namespaces: deleting everything in a terminating namespace |
//! | [`garbage_collector`] | ownerReferences: background, foreground and orphan deletion |
//! | [`serviceaccount`] | Namespaces: a `default` ServiceAccount in each |
//!
//! [`pod_state`] and [`ownership`] hold the pod-readiness and controller-reference rules
//! several of them share.

pub mod deployment;
pub mod endpointslice;
pub mod garbage_collector;
pub mod namespace;
pub mod node_ipam;
pub mod node_lifecycle;
pub mod ownership;
pub mod pod_state;
pub mod replicaset;
pub mod serviceaccount;

use std::collections::BTreeSet;

use crate::manager::Manager;

/// The built-in controllers by their kube-controller-manager names (`--controllers`).
pub const CONTROLLER_NAMES: &[&str] = &[
    "deployment-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "node-ipam-controller",
    "node-lifecycle-controller",
    "replicaset-controller",
    "replicationcontroller-controller",
    "serviceaccount-controller",
    "taint-eviction-controller",
];

/// Which built-in controllers run, as kube-controller-manager's `--controllers` flag says:
/// `*` for every controller on by default, `name` to enable one, `-name` to disable one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerSelection {
    enabled: BTreeSet<&'static str>,
}

impl Default for ControllerSelection {
    /// Every built-in controller.
    fn default() -> Self {
        Self {
            enabled: CONTROLLER_NAMES.iter().copied().collect(),
        }
    }
}

impl ControllerSelection {
    /// Reads a `--controllers` value such as `*,-node-ipam-controller`. The short names of
    /// Kubernetes before v1.28 (`replicaset`, `nodeipam`, …) are accepted too.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut enabled = BTreeSet::new();
        let mut disabled = BTreeSet::new();
        let mut everything = false;
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if item == "*" {
                everything = true;
                continue;
            }
            let (target, name) = match item.strip_prefix('-') {
                Some(name) => (&mut disabled, name),
                None => (&mut enabled, item),
            };
            let known = canonical_name(name).ok_or_else(|| {
                format!(
                    "{name:?} is not a known controller; known: {}",
                    CONTROLLER_NAMES.join(", ")
                )
            })?;
            target.insert(known);
        }
        if everything {
            enabled.extend(CONTROLLER_NAMES.iter().copied());
        }
        enabled.retain(|name| !disabled.contains(name));
        Ok(Self { enabled })
    }

    /// Whether the controller named `name` runs.
    pub fn is_enabled(&self, name: &str) -> bool {
        canonical_name(name).is_some_and(|name| self.enabled.contains(name))
    }
}

/// A controller's current name from its current or pre-v1.28 short name.
fn canonical_name(name: &str) -> Option<&'static str> {
    let long = CONTROLLER_NAMES.iter().copied().find(|n| *n == name);
    long.or_else(|| {
        CONTROLLER_NAMES.iter().copied().find(|n| {
            n.strip_suffix("-controller")
                .is_some_and(|short| short.replace('-', "") == name)
        })
    })
}

/// Everything the controller manager runs, and how.
#[derive(Debug, Clone, Default)]
pub struct ControllerManagerConfig {
    /// Which controllers run.
    pub controllers: ControllerSelection,
    /// The ReplicaSet and ReplicationController controllers.
    pub replica_set: replicaset::ReplicaSetConfig,
    /// The Deployment controller.
    pub deployment: deployment::DeploymentConfig,
    /// The EndpointSlice and Endpoints controllers.
    pub endpoint_slice: endpointslice::EndpointSliceConfig,
    /// Node IPAM (`--allocate-node-cidrs` with `--cluster-cidr`).
    pub node_ipam: node_ipam::NodeIpamConfig,
    /// The node lifecycle and taint eviction controllers.
    pub node_lifecycle: node_lifecycle::NodeLifecycleConfig,
    /// The namespace controller.
    pub namespace: namespace::NamespaceConfig,
    /// The garbage collector (`--enable-garbage-collector` is its selection).
    pub garbage_collector: garbage_collector::GarbageCollectorConfig,
    /// The ServiceAccount controller.
    pub service_account: serviceaccount::ServiceAccountConfig,
}

/// Why the controllers could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ControllerManagerError {
    /// Node IPAM's configuration does not hold.
    #[error("node-ipam-controller: {0}")]
    NodeIpam(#[from] node_ipam::NodeIpamError),
}

/// Registers every selected built-in controller with `manager`.
pub fn add_all(
    manager: &Manager,
    config: ControllerManagerConfig,
) -> Result<(), ControllerManagerError> {
    let on = |name| config.controllers.is_enabled(name);
    if on("replicaset-controller") || on("replicationcontroller-controller") {
        let mut replica_set = config.replica_set;
        replica_set.replica_sets &= on("replicaset-controller");
        replica_set.replication_controllers &= on("replicationcontroller-controller");
        replicaset::add_to(manager, replica_set);
    }
    if on("deployment-controller") {
        deployment::add_to(manager, config.deployment);
    }
    if on("endpointslice-controller") || on("endpoints-controller") {
        let mut endpoint_slice = config.endpoint_slice;
        endpoint_slice.endpointslice_controller &= on("endpointslice-controller");
        endpoint_slice.endpoints_controller &= on("endpoints-controller");
        endpointslice::add_to(manager, endpoint_slice);
    }
    // Taint eviction acts on the taints the node lifecycle controller sets, so it runs
    // beside it.
    if on("node-lifecycle-controller") {
        let mut node_lifecycle = config.node_lifecycle;
        node_lifecycle.taint_eviction &= on("taint-eviction-controller");
        node_lifecycle::add_to(manager, node_lifecycle);
    }
    if on("node-ipam-controller") {
        node_ipam::add_to(manager, config.node_ipam)?;
    }
    if on("namespace-controller") {
        namespace::add_to(manager, config.namespace);
    }
    if on("garbage-collector-controller") {
        garbage_collector::add_to(manager, config.garbage_collector);
    }
    if on("serviceaccount-controller") {
        serviceaccount::add_to(manager, config.service_account);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_controllers_flag_enables_and_disables_by_name() {
        let all = ControllerSelection::parse("*").unwrap();
        assert_eq!(all, ControllerSelection::default());
        let without_ipam = ControllerSelection::parse("*,-node-ipam-controller").unwrap();
        assert!(!without_ipam.is_enabled("node-ipam-controller"));
        assert!(without_ipam.is_enabled("deployment-controller"));
        // Short names from before v1.28 name the same controllers.
        let two = ControllerSelection::parse("replicaset, deployment").unwrap();
        assert!(two.is_enabled("replicaset-controller") && two.is_enabled("deployment"));
        assert!(!two.is_enabled("endpointslice-controller"));
    }

    #[test]
    fn an_unknown_controller_is_named_in_the_error() {
        let error = ControllerSelection::parse("*,-cronjob-controller").unwrap_err();
        assert!(
            error.starts_with("\"cronjob-controller\" is not a known controller"),
            "{error}"
        );
    }
}
