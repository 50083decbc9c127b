//! Node IPAM: a pod CIDR for every node, cut from the cluster CIDR — Kubernetes' node IPAM
//! controller with its default `RangeAllocator`.
//!
//! Each node without `spec.podCIDRs` gets the next free node CIDR (`/24` by default for IPv4,
//! `/64` for IPv6) of each cluster CIDR (one per IP family for dual-stack), written as
//! `spec.podCIDR` and `spec.podCIDRs`; the node agent then hands out pod IPs from it. No two
//! nodes get the same CIDR. A deleted node's CIDRs return to the pool. Node CIDRs that
//! overlap the Service CIDR are never handed out.
//!
//! The allocation map lives in memory and is rebuilt from the nodes at every start: a handler
//! on the shared node informer marks the CIDRs of every node it sees as taken (first the whole
//! first list, before anything is allocated) and frees those of deleted nodes, so a restarted
//! controller never hands out a CIDR a node already has. When the cluster CIDR is exhausted,
//! the node gets a `CIDRNotAvailable` Event and is retried with back-off.
//!
//! ```no_run
//! # fn demo(manager: &orchestra_controller::manager::Manager) -> Result<(), orchestra_controller::builtin::node_ipam::NodeIpamError> {
//! use orchestra_controller::builtin::node_ipam::{self, NodeIpamConfig};
//!
//! node_ipam::add_to(manager, NodeIpamConfig {
//!     cluster_cidrs: vec!["10.100.0.0/14".parse().unwrap()],
//!     ..NodeIpamConfig::default()
//! })?;
//! # Ok(()) }
//! ```

mod cidr_set;

pub use self::cidr_set::{CidrSet, CidrSetError, MAX_IPV6_SUBNET_BITS};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ipnet::IpNet;
use orchestra_api::k8s_openapi::api::core::v1::Node;
use orchestra_api::{Api, Client, Patch, PatchParams, Status, StatusReason};
use serde_json::json;
use tokio::sync::OnceCell;

use crate::builtin::endpointslice::component_recorder;
use crate::controller::{Action, Controller, ReconcileError, Retry};
use crate::events::{EventType, Recorder};
use crate::informer::{HandlerFns, HandlerRegistration, Informer};
use crate::manager::Manager;

/// How node IPAM allocates. The defaults are Kubernetes' (with the cluster CIDR many
/// installers use, since Kubernetes has none by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIpamConfig {
    /// The cluster CIDRs pod CIDRs are cut from, at most one per IP family (`--cluster-cidr`;
    /// default `10.244.0.0/16`).
    pub cluster_cidrs: Vec<IpNet>,
    /// The mask size of IPv4 node CIDRs (`--node-cidr-mask-size-ipv4`, 24).
    pub node_cidr_mask_size_ipv4: u8,
    /// The mask size of IPv6 node CIDRs (`--node-cidr-mask-size-ipv6`, 64).
    pub node_cidr_mask_size_ipv6: u8,
    /// Service CIDRs (`--service-cluster-ip-range`): node CIDRs overlapping them are never
    /// handed out. Default none.
    pub service_cidrs: Vec<IpNet>,
    /// Nodes allocated for at once (Kubernetes' range allocator runs 30 workers).
    pub workers: usize,
}

impl Default for NodeIpamConfig {
    fn default() -> Self {
        Self {
            cluster_cidrs: vec!["10.244.0.0/16".parse().expect("a valid CIDR")],
            node_cidr_mask_size_ipv4: 24,
            node_cidr_mask_size_ipv6: 64,
            service_cidrs: Vec::new(),
            workers: 30,
        }
    }
}

/// Why node IPAM cannot start with a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeIpamError {
    /// No cluster CIDR was given.
    #[error("node IPAM needs at least one cluster CIDR")]
    NoClusterCidr,
    /// More than one cluster CIDR per IP family, or more than two.
    #[error("at most one cluster CIDR per IP family is allowed (dual-stack), got {0:?}")]
    OneCidrPerFamily(Vec<IpNet>),
    /// A cluster CIDR and its node mask size do not fit.
    #[error(transparent)]
    CidrSet(#[from] CidrSetError),
}

/// Why one node's allocation failed; it is retried with back-off.
#[derive(Debug, thiserror::Error)]
pub enum AllocationError {
    /// A cluster CIDR has no free node CIDR left.
    #[error(transparent)]
    Exhausted(CidrSetError),
    /// Writing the node failed.
    #[error(transparent)]
    Api(#[from] Status),
    /// The node informer stopped.
    #[error("the node informer stopped")]
    InformerStopped,
}

impl ReconcileError for AllocationError {
    fn status(&self) -> Option<&Status> {
        match self {
            Self::Api(status) => Some(status),
            _ => None,
        }
    }
}

/// The node CIDRs a node has (`spec.podCIDRs`, else `spec.podCIDR`); text that is not a CIDR
/// is skipped.
pub fn node_cidrs(node: &Node) -> Vec<IpNet> {
    let Some(spec) = node.spec.as_ref() else {
        return Vec::new();
    };
    let listed = spec.pod_cidrs.as_deref().unwrap_or_default();
    let texts: Vec<&str> = if listed.is_empty() {
        spec.pod_cidr.as_deref().into_iter().collect()
    } else {
        listed.iter().map(String::as_str).collect()
    };
    texts.into_iter().filter_map(|t| t.parse().ok()).collect()
}

/// The CIDR sets and the allocations written but not yet seen on their nodes.
struct Allocator {
    sets: Vec<CidrSet>,
    /// Node name → (uid, CIDRs reserved for it while the write is in flight).
    pending: HashMap<String, (Option<String>, Vec<IpNet>)>,
}

impl Allocator {
    fn occupy(&mut self, cidrs: &[IpNet], node: &str) {
        for cidr in cidrs {
            let Some(set) = self.sets.iter_mut().find(|s| s.holds_family_of(cidr)) else {
                continue;
            };
            if let Err(error) = set.occupy(*cidr) {
                tracing::warn!(node, %error, "the node's pod CIDR is outside the cluster CIDR");
            }
        }
    }

    fn release(&mut self, cidrs: &[IpNet]) {
        for cidr in cidrs {
            if let Some(set) = self.sets.iter_mut().find(|s| s.holds_family_of(cidr)) {
                let _ = set.release(*cidr);
            }
        }
    }

    /// One node CIDR from each set, or none.
    fn allocate(&mut self) -> Result<Vec<IpNet>, CidrSetError> {
        let mut taken = Vec::with_capacity(self.sets.len());
        for i in 0..self.sets.len() {
            match self.sets[i].allocate_next() {
                Ok(cidr) => taken.push(cidr),
                Err(error) => {
                    self.release(&taken);
                    return Err(error);
                }
            }
        }
        Ok(taken)
    }

    /// A node was seen (added or changed): its CIDRs are taken; a reservation for it is
    /// settled.
    fn observe(&mut self, node: &Node) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let cidrs = node_cidrs(node);
        if cidrs.is_empty() {
            return;
        }
        self.occupy(&cidrs, &name);
        if let Some((_, reserved)) = self.pending.remove(&name) {
            let unused: Vec<IpNet> = reserved
                .into_iter()
                .filter(|c| !cidrs.contains(c))
                .collect();
            self.release(&unused);
        }
    }

    /// A node was deleted: its CIDRs, and any reservation for it, are free again.
    fn forget(&mut self, node: &Node) {
        let name = node.metadata.name.clone().unwrap_or_default();
        self.release(&node_cidrs(node));
        if let Some((_, reserved)) = self.pending.remove(&name) {
            self.release(&reserved);
        }
    }
}

/// What node IPAM's reconciles share.
struct IpamContext {
    client: Arc<dyn Client>,
    nodes: Informer<Node>,
    allocator: Arc<Mutex<Allocator>>,
    tracking: OnceCell<HandlerRegistration>,
    recorder: Recorder,
}

impl IpamContext {
    fn allocator(&self) -> MutexGuard<'_, Allocator> {
        self.allocator
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes sure the allocation map follows the nodes, and has taken in every node of the
    /// first list.
    async fn track_nodes(&self) -> Result<(), AllocationError> {
        let registration = self
            .tracking
            .get_or_init(|| async {
                let (on_add, on_update, on_delete) = (
                    Arc::clone(&self.allocator),
                    Arc::clone(&self.allocator),
                    Arc::clone(&self.allocator),
                );
                self.nodes.add_handler(
                    HandlerFns::new()
                        .on_add(move |node: &Arc<Node>| {
                            on_add
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .observe(node);
                        })
                        .on_update(move |_old: &Arc<Node>, node: &Arc<Node>| {
                            on_update
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .observe(node);
                        })
                        .on_delete(move |node: &Arc<Node>| {
                            on_delete
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .forget(node);
                        }),
                )
            })
            .await;
        registration
            .wait_synced()
            .await
            .map_err(|_| AllocationError::InformerStopped)
    }
}

/// Builds the CIDR sets of a configuration, with the Service CIDRs marked taken.
fn cidr_sets(config: &NodeIpamConfig) -> Result<Vec<CidrSet>, NodeIpamError> {
    if config.cluster_cidrs.is_empty() {
        return Err(NodeIpamError::NoClusterCidr);
    }
    let v4 = config
        .cluster_cidrs
        .iter()
        .filter(|c| matches!(c, IpNet::V4(_)))
        .count();
    let v6 = config.cluster_cidrs.len() - v4;
    if v4 > 1 || v6 > 1 {
        return Err(NodeIpamError::OneCidrPerFamily(
            config.cluster_cidrs.clone(),
        ));
    }
    let mut sets = Vec::with_capacity(config.cluster_cidrs.len());
    for cluster in &config.cluster_cidrs {
        let mask = match cluster {
            IpNet::V4(_) => config.node_cidr_mask_size_ipv4,
            IpNet::V6(_) => config.node_cidr_mask_size_ipv6,
        };
        let mut set = CidrSet::new(*cluster, mask)?;
        for service in &config.service_cidrs {
            // Only overlapping ranges of the same family are taken; others do not concern it.
            let _ = set.occupy(*service);
        }
        sets.push(set);
    }
    Ok(sets)
}

/// Registers node IPAM with `manager`; fails if the configuration is not usable.
pub fn add_to(manager: &Manager, config: NodeIpamConfig) -> Result<(), NodeIpamError> {
    let sets = cidr_sets(&config)?;
    let nodes = manager.factory().informer::<Node>();
    let ctx = Arc::new(IpamContext {
        client: Arc::clone(manager.client()),
        nodes,
        allocator: Arc::new(Mutex::new(Allocator {
            sets,
            pending: HashMap::new(),
        })),
        tracking: OnceCell::new(),
        recorder: component_recorder(manager, "cidrAllocator"),
    });
    let controller = Controller::<Node>::new(manager.factory())
        .name("node-ipam-controller")
        .workers(config.workers.max(1));
    manager.add(
        controller,
        reconcile,
        |_, _: &AllocationError, _| Retry::Backoff,
        ctx,
    );
    Ok(())
}

/// Gives the node its pod CIDRs if it has none.
async fn reconcile(node: Arc<Node>, ctx: Arc<IpamContext>) -> Result<Action, AllocationError> {
    ctx.track_nodes().await?;
    let name = node.metadata.name.clone().unwrap_or_default();
    let existing = node_cidrs(&node);
    if !existing.is_empty() {
        ctx.allocator().occupy(&existing, &name);
        return Ok(Action::await_change());
    }
    if node.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let allocated = {
        let mut allocator = ctx.allocator();
        if allocator
            .pending
            .get(&name)
            .is_some_and(|(uid, _)| *uid == node.metadata.uid)
        {
            // Written already; waiting for the cache to show it.
            return Ok(Action::await_change());
        }
        let allocated = allocator.allocate();
        if let Ok(cidrs) = &allocated {
            allocator
                .pending
                .insert(name.clone(), (node.metadata.uid.clone(), cidrs.clone()));
        }
        allocated
    };
    let cidrs = match allocated {
        Ok(cidrs) => cidrs,
        Err(error) => {
            record_status_change(&ctx.recorder, &node, "CIDRNotAvailable").await;
            return Err(AllocationError::Exhausted(error));
        }
    };
    let texts: Vec<String> = cidrs.iter().map(ToString::to_string).collect();
    let patch = json!({
        "metadata": {"uid": node.metadata.uid},
        "spec": {"podCIDR": texts[0], "podCIDRs": texts},
    });
    let written = Api::<Node>::all(Arc::clone(&ctx.client))
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await;
    match written {
        Ok(_) => {
            tracing::info!(node = %name, pod_cidrs = ?texts, "set the node's pod CIDRs");
            Ok(Action::await_change())
        }
        Err(status) => {
            // Unless the write may have gone through, the CIDRs go back to the pool (a
            // restart returns any that leak).
            if !status.is(&StatusReason::Timeout) && !status.is(&StatusReason::ServerTimeout) {
                let mut allocator = ctx.allocator();
                if let Some((_, reserved)) = allocator.pending.remove(&name) {
                    allocator.release(&reserved);
                }
            }
            if status.is(&StatusReason::NotFound) {
                return Ok(Action::await_change());
            }
            record_status_change(&ctx.recorder, &node, "CIDRAssignmentFailed").await;
            Err(status.into())
        }
    }
}

/// Records a node status change as Kubernetes' node controllers do: a `Normal` Event whose
/// reason is the new status.
async fn record_status_change(recorder: &Recorder, node: &Node, status: &str) {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    let note = format!("Node {name} status is now: {status}");
    if let Err(error) = recorder
        .publish_about(node, EventType::Normal, status, &note)
        .await
    {
        tracing::debug!(%error, "could not record the node status change as an Event");
    }
}
