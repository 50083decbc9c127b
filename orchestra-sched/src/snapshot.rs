//! `Snapshot`: the cluster as one scheduling cycle sees it.
//!
//! At the start of each cycle the scheduler brings its snapshot up to date from the
//! [`Cache`](crate::Cache): only nodes whose generation grew since the previous snapshot are
//! copied. The node infos sit side by side in one vector (their pods and images behind shared
//! pointers), so the hundreds of nodes each pod visits are read in memory order. Plugins then read a consistent view while informers keep changing
//! the cache: the node list in zone-interleaved order, nodes by name, the nodes hosting pods
//! with (required anti-)affinity, the PersistentVolumeClaims in use, on how many nodes each
//! image is present, and the [`ClusterObjects`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::cluster_objects::ClusterObjects;
use crate::node_info::NodeInfo;

/// The cluster as one scheduling cycle sees it. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub(crate) node_list: Vec<NodeInfo>,
    pub(crate) generations: Vec<u64>,
    pub(crate) index: HashMap<String, usize>,
    pub(crate) with_affinity: Vec<usize>,
    pub(crate) with_required_anti_affinity: Vec<usize>,
    pub(crate) used_pvcs: Arc<HashSet<String>>,
    pub(crate) image_nodes: Arc<HashMap<String, usize>>,
    pub(crate) objects: Arc<ClusterObjects>,
    pub(crate) generation: u64,
    pub(crate) tree_generation: u64,
    pub(crate) affinity_generation: u64,
    pub(crate) pvc_generation: u64,
    pub(crate) image_generation: u64,
}

impl Snapshot {
    /// An empty snapshot, to be filled by [`Cache::update_snapshot`](crate::Cache::update_snapshot).
    pub fn new() -> Snapshot {
        Snapshot::default()
    }

    /// A snapshot of these nodes and nothing else, for tests and one-off evaluations.
    pub fn from_node_infos(
        nodes: impl IntoIterator<Item = NodeInfo>,
        objects: ClusterObjects,
    ) -> Snapshot {
        let mut cache = crate::cache::Cache::new();
        cache.set_cluster_objects(Arc::new(objects));
        for info in nodes {
            if let Some(node) = info.node() {
                cache.add_node(node.clone());
            }
            for pod in info.pods() {
                cache.add_pod_to_node(pod.clone(), info.name());
            }
        }
        let mut snapshot = Snapshot::new();
        cache.update_snapshot(&mut snapshot);
        snapshot
    }

    /// The nodes, zone by zone in turn.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.node_list
    }

    /// The generation of each node of [`Snapshot::nodes`], side by side: comparing them with
    /// remembered ones tells which nodes changed, without touching the nodes.
    pub fn generations(&self) -> &[u64] {
        &self.generations
    }

    /// How many nodes.
    pub fn len(&self) -> usize {
        self.node_list.len()
    }

    /// Whether there is no node.
    pub fn is_empty(&self) -> bool {
        self.node_list.is_empty()
    }

    /// The position of a node in [`Snapshot::nodes`].
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// A node by name.
    pub fn get(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|&i| &self.node_list[i])
    }

    /// The nodes hosting at least one pod with pod (anti-)affinity.
    pub fn nodes_with_pods_with_affinity(&self) -> impl Iterator<Item = &NodeInfo> + '_ {
        self.with_affinity.iter().map(|&i| &self.node_list[i])
    }

    /// How many nodes host a pod with pod (anti-)affinity.
    pub fn count_nodes_with_pods_with_affinity(&self) -> usize {
        self.with_affinity.len()
    }

    /// The nodes hosting at least one pod with required pod anti-affinity.
    pub fn nodes_with_pods_with_required_anti_affinity(
        &self,
    ) -> impl Iterator<Item = &NodeInfo> + '_ {
        self.with_required_anti_affinity
            .iter()
            .map(|&i| &self.node_list[i])
    }

    /// Whether a pod on some node uses the PersistentVolumeClaim `namespace/name`.
    pub fn is_pvc_used_by_pods(&self, key: &str) -> bool {
        self.used_pvcs.contains(key)
    }

    /// On how many nodes an image (by any of its names) is present.
    pub fn image_num_nodes(&self, image: &str) -> usize {
        self.image_nodes.get(image).copied().unwrap_or(0)
    }

    /// The other objects plugins consult.
    pub fn objects(&self) -> &ClusterObjects {
        &self.objects
    }

    /// The cache generation this snapshot reflects.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}
