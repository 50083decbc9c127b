//! `Cache`: the scheduler's own record of which pod is on which node.
//!
//! Informers tell the cache about nodes and about pods that are bound. Between deciding where
//! a pod goes and the API server confirming the binding, the scheduler *assumes* the pod onto
//! its node ([`Cache::assume_pod`]) so the next cycle already counts it; a failed binding
//! *forgets* it ([`Cache::forget_pod`]), and the informer's event for the bound pod *confirms*
//! it ([`Cache::add_pod`] of an assumed pod). As in Kubernetes v1.33, an assumed pod whose
//! binding finished does not expire: it stays until confirmed or forgotten.
//!
//! Every change records the node's new generation in a change log ordered by generation, so
//! [`Cache::update_snapshot`] visits only the nodes changed since the snapshot's generation.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use thiserror::Error;

use crate::cluster_objects::ClusterObjects;
use crate::node_info::{LabelInterner, NodeInfo, next_generation};
use crate::node_tree::{NodeTree, zone_key};
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

/// What the cache refuses to do.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CacheError {
    /// The pod is already in the cache (assumed or added).
    #[error("pod {0} is already in the cache")]
    AlreadyPresent(String),
    /// The pod is not in the cache.
    #[error("pod {0} is not in the cache")]
    NotFound(String),
    /// The pod is in the cache but not assumed.
    #[error("pod {0} is not assumed")]
    NotAssumed(String),
    /// The pod has no node to go to.
    #[error("pod {0} has no node name")]
    NoNodeName(String),
}

#[derive(Debug)]
struct CachedPod {
    info: Arc<PodInfo>,
    node: String,
    assumed: bool,
    binding_finished: bool,
}

#[derive(Debug)]
struct CachedNode {
    info: NodeInfo,
    change: u64,
    zone: Option<String>,
}

/// The scheduler's record of nodes and the pods on them. See the module docs.
#[derive(Debug, Default)]
pub struct Cache {
    nodes: HashMap<String, CachedNode>,
    changes: BTreeMap<u64, String>,
    pods: HashMap<String, CachedPod>,
    tree: NodeTree,
    tree_generation: u64,
    affinity_generation: u64,
    pvc_counts: HashMap<String, usize>,
    pvc_generation: u64,
    image_nodes: HashMap<String, usize>,
    image_generation: u64,
    objects: Arc<ClusterObjects>,
    objects_generation: u64,
    labels: LabelInterner,
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Cache {
        Cache::default()
    }

    /// Replaces the non-node, non-pod objects plugins consult.
    pub fn set_cluster_objects(&mut self, objects: Arc<ClusterObjects>) {
        self.objects = objects;
        self.objects_generation = next_generation();
    }

    /// The objects plugins consult.
    pub fn cluster_objects(&self) -> &Arc<ClusterObjects> {
        &self.objects
    }

    /// How many nodes with a Node object the cache holds.
    pub fn node_count(&self) -> usize {
        self.tree.len()
    }

    /// How many pods (assumed or bound) the cache holds.
    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// A node's current aggregates.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.get(name).map(|n| &n.info)
    }

    /// Whether the pod with this UID is assumed (not yet confirmed).
    pub fn is_assumed(&self, uid: &str) -> bool {
        self.pods.get(uid).is_some_and(|p| p.assumed)
    }

    /// The node a pod is on in the cache.
    pub fn pod_node(&self, uid: &str) -> Option<&str> {
        self.pods.get(uid).map(|p| p.node.as_str())
    }

    /// Applies `change` to the named node's aggregates (creating them if needed) and logs
    /// the change.
    fn touch_node(&mut self, name: &str, change: impl FnOnce(&mut NodeInfo)) {
        let entry = self
            .nodes
            .entry(name.to_owned())
            .or_insert_with(|| CachedNode {
                info: NodeInfo::without_node(name.to_owned()),
                change: 0,
                zone: None,
            });
        let info = &mut entry.info;
        let had_affinity = !info.pods_with_affinity().is_empty();
        let had_anti = !info.pods_with_required_anti_affinity().is_empty();
        change(info);
        if had_affinity == info.pods_with_affinity().is_empty()
            || had_anti == info.pods_with_required_anti_affinity().is_empty()
        {
            self.affinity_generation = next_generation();
        }
        self.changes.remove(&entry.change);
        entry.change = info.generation();
        self.changes.insert(entry.change, name.to_owned());
    }

    fn add_images(&mut self, images: &HashMap<String, i64>, delta: isize) {
        for image in images.keys() {
            let count = self.image_nodes.entry(image.clone()).or_default();
            *count = count.saturating_add_signed(delta);
            if *count == 0 {
                self.image_nodes.remove(image);
            }
        }
        if !images.is_empty() {
            self.image_generation = next_generation();
        }
    }

    /// Adds or updates a node.
    pub fn add_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let zone = zone_key(node.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()));
        if let Some(existing) = self.nodes.get(&name) {
            let old = existing.info.image_sizes.clone();
            self.add_images(&old, -1);
        }
        let mut interner = std::mem::take(&mut self.labels);
        self.touch_node(&name, |info| {
            info.set_node_interned(node, Some(&mut interner))
        });
        self.labels = interner;
        let entry = self
            .nodes
            .get_mut(&name)
            .map(|e| (e.zone.clone(), e.info.image_sizes.clone()));
        if let Some((old_zone, images)) = entry {
            if old_zone.as_deref() != Some(zone.as_str()) {
                if let Some(old_zone) = old_zone {
                    self.tree.remove(&old_zone, &name);
                }
                self.tree.add(&zone, &name);
                self.tree_generation = next_generation();
                if let Some(e) = self.nodes.get_mut(&name) {
                    e.zone = Some(zone);
                }
            }
            self.add_images(&images, 1);
        }
    }

    /// Updates a node (the same as adding it again).
    pub fn update_node(&mut self, node: Arc<Node>) {
        self.add_node(node);
    }

    /// Removes a node. Pods still recorded on it keep their aggregates until they go.
    pub fn remove_node(&mut self, name: &str) {
        let Some(entry) = self.nodes.get(name) else {
            return;
        };
        let images = entry.info.image_sizes.clone();
        let has_pods = !entry.info.pods().is_empty();
        let zone = entry.zone.clone();
        self.add_images(&images, -1);
        if let Some(zone) = zone {
            self.tree.remove(&zone, name);
            self.tree_generation = next_generation();
        }
        if !has_pods {
            if let Some(entry) = self.nodes.remove(name) {
                self.changes.remove(&entry.change);
            }
            // Log the removal under a fresh generation so snapshots notice it.
            self.changes.insert(next_generation(), name.to_owned());
        } else {
            self.touch_node(name, NodeInfo::clear_node);
            if let Some(e) = self.nodes.get_mut(name) {
                e.zone = None;
            }
        }
    }

    fn count_pvcs(&mut self, pod: &PodInfo, add: bool) {
        for claim in &pod.pvc_names {
            let key = format!("{}/{claim}", pod.namespace());
            let count = self.pvc_counts.entry(key.clone()).or_default();
            if add {
                *count += 1;
            } else {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.pvc_counts.remove(&key);
                }
            }
        }
        if !pod.pvc_names.is_empty() {
            self.pvc_generation = next_generation();
        }
    }

    /// Records a pod on a node without any bookkeeping of assumption: the building block of
    /// [`Cache::add_pod`] and [`Cache::assume_pod`].
    pub(crate) fn add_pod_to_node(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.count_pvcs(&pod, true);
        self.touch_node(node, |info| info.add_pod(pod));
    }

    fn remove_pod_from_node(&mut self, pod: &PodInfo, node: &str) {
        self.count_pvcs(pod, false);
        let uid = pod.uid().to_owned();
        self.touch_node(node, |info| {
            info.remove_pod(&uid);
        });
        // A node deleted earlier goes once its last pod does.
        let orphaned = self
            .nodes
            .get(node)
            .is_some_and(|n| n.info.node().is_none() && n.info.pods().is_empty());
        if orphaned {
            if let Some(entry) = self.nodes.remove(node) {
                self.changes.remove(&entry.change);
            }
            self.changes.insert(next_generation(), node.to_owned());
        }
    }

    /// Assumes a pod onto `node` ahead of its binding.
    pub fn assume_pod(&mut self, pod: Arc<PodInfo>, node: &str) -> Result<(), CacheError> {
        if self.pods.contains_key(pod.uid()) {
            return Err(CacheError::AlreadyPresent(pod.key().to_owned()));
        }
        self.add_pod_to_node(pod.clone(), node);
        self.pods.insert(
            pod.uid().to_owned(),
            CachedPod {
                info: pod,
                node: node.to_owned(),
                assumed: true,
                binding_finished: false,
            },
        );
        Ok(())
    }

    /// Records that the binding of an assumed pod finished.
    pub fn finish_binding(&mut self, uid: &str) -> Result<(), CacheError> {
        match self.pods.get_mut(uid) {
            Some(p) if p.assumed => {
                p.binding_finished = true;
                Ok(())
            }
            Some(p) => Err(CacheError::NotAssumed(p.info.key().to_owned())),
            None => Err(CacheError::NotFound(uid.to_owned())),
        }
    }

    /// Forgets an assumed pod (its binding failed).
    pub fn forget_pod(&mut self, uid: &str) -> Result<(), CacheError> {
        match self.pods.get(uid) {
            Some(p) if p.assumed => {}
            Some(p) => return Err(CacheError::NotAssumed(p.info.key().to_owned())),
            None => return Err(CacheError::NotFound(uid.to_owned())),
        }
        if let Some(p) = self.pods.remove(uid) {
            self.remove_pod_from_node(&p.info, &p.node);
        }
        Ok(())
    }

    /// Adds a bound pod (from the informer). An assumed pod is confirmed, moving it if the
    /// API server bound it elsewhere.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) -> Result<(), CacheError> {
        let Some(node) = pod.node_name().map(str::to_owned) else {
            return Err(CacheError::NoNodeName(pod.key().to_owned()));
        };
        if let Some(existing) = self.pods.remove(pod.uid()) {
            if !existing.assumed {
                let key = existing.info.key().to_owned();
                self.pods.insert(pod.uid().to_owned(), existing);
                return Err(CacheError::AlreadyPresent(key));
            }
            self.remove_pod_from_node(&existing.info, &existing.node);
        }
        self.add_pod_to_node(pod.clone(), &node);
        self.pods.insert(
            pod.uid().to_owned(),
            CachedPod {
                info: pod,
                node,
                assumed: false,
                binding_finished: true,
            },
        );
        Ok(())
    }

    /// Replaces a bound pod's record (labels, requests or node changed).
    pub fn update_pod(&mut self, pod: Arc<PodInfo>) -> Result<(), CacheError> {
        let Some(existing) = self.pods.remove(pod.uid()) else {
            return Err(CacheError::NotFound(pod.key().to_owned()));
        };
        self.remove_pod_from_node(&existing.info, &existing.node);
        let node = pod.node_name().map(str::to_owned).unwrap_or(existing.node);
        self.add_pod_to_node(pod.clone(), &node);
        self.pods.insert(
            pod.uid().to_owned(),
            CachedPod {
                info: pod,
                node,
                assumed: existing.assumed,
                binding_finished: existing.binding_finished,
            },
        );
        Ok(())
    }

    /// Removes a pod (deleted, or no longer bound).
    pub fn remove_pod(&mut self, uid: &str) -> Result<Arc<PodInfo>, CacheError> {
        let Some(existing) = self.pods.remove(uid) else {
            return Err(CacheError::NotFound(uid.to_owned()));
        };
        self.remove_pod_from_node(&existing.info, &existing.node);
        Ok(existing.info)
    }

    /// Convenience: parses and adds a bound pod object.
    pub fn add_pod_object(&mut self, pod: Pod) -> Result<(), CacheError> {
        self.add_pod(Arc::new(PodInfo::new(pod)))
    }

    /// Brings `snapshot` up to date, copying only nodes changed since its generation.
    pub fn update_snapshot(&self, snapshot: &mut Snapshot) {
        let mut rebuild_list = snapshot.tree_generation != self.tree_generation;
        let mut rebuild_affinity = snapshot.affinity_generation != self.affinity_generation;
        let from = snapshot.generation.saturating_add(1);
        let mut latest = snapshot.generation;
        for (&generation, name) in self.changes.range(from..) {
            latest = latest.max(generation);
            match self.nodes.get(name).filter(|n| n.info.node().is_some()) {
                Some(cached) => match snapshot.index.get(name) {
                    Some(&i) => {
                        snapshot.node_list[i].clone_from(&cached.info);
                        snapshot.generations[i] = cached.info.generation();
                    }
                    None => rebuild_list = true,
                },
                None => {
                    if snapshot.index.contains_key(name) {
                        rebuild_list = true;
                    }
                }
            }
        }
        if rebuild_list {
            snapshot.node_list.clear();
            snapshot.index.clear();
            for name in self.tree.list() {
                if let Some(cached) = self.nodes.get(&name).filter(|n| n.info.node().is_some()) {
                    snapshot.index.insert(name, snapshot.node_list.len());
                    snapshot.node_list.push(cached.info.clone());
                }
            }
            rebuild_affinity = true;
            snapshot.generations = snapshot
                .node_list
                .iter()
                .map(NodeInfo::generation)
                .collect();
        }
        if rebuild_affinity {
            snapshot.with_affinity.clear();
            snapshot.with_required_anti_affinity.clear();
            for (i, node) in snapshot.node_list.iter().enumerate() {
                if !node.pods_with_affinity().is_empty() {
                    snapshot.with_affinity.push(i);
                }
                if !node.pods_with_required_anti_affinity().is_empty() {
                    snapshot.with_required_anti_affinity.push(i);
                }
            }
        }
        if snapshot.pvc_generation != self.pvc_generation {
            snapshot.used_pvcs = Arc::new(self.pvc_counts.keys().cloned().collect::<HashSet<_>>());
            snapshot.pvc_generation = self.pvc_generation;
        }
        if snapshot.image_generation != self.image_generation {
            snapshot.image_nodes = Arc::new(self.image_nodes.clone());
            snapshot.image_generation = self.image_generation;
        }
        if !Arc::ptr_eq(&snapshot.objects, &self.objects) {
            snapshot.objects = self.objects.clone();
        }
        latest = latest
            .max(self.tree_generation)
            .max(self.affinity_generation)
            .max(self.objects_generation);
        snapshot.tree_generation = self.tree_generation;
        snapshot.affinity_generation = self.affinity_generation;
        snapshot.generation = latest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, zone: &str) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
                "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}
            }))
            .expect("node"),
        )
    }

    fn pod(name: &str, node: Option<&str>, cpu: &str) -> Arc<PodInfo> {
        Arc::new(PodInfo::new(
            serde_json::from_value::<Pod>(serde_json::json!({
                "metadata": {"name": name, "namespace": "default", "uid": name},
                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i",
                    "resources": {"requests": {"cpu": cpu}}}]}
            }))
            .expect("pod"),
        ))
    }

    #[test]
    fn assume_forget_and_confirm() {
        let mut cache = Cache::new();
        cache.add_node(node("n1", "a"));
        cache.add_node(node("n2", "a"));
        cache.assume_pod(pod("p", None, "1"), "n1").expect("assume");
        assert!(cache.is_assumed("p"));
        assert_eq!(cache.node("n1").map(|n| n.requested.milli_cpu), Some(1000));
        assert_eq!(
            cache.assume_pod(pod("p", None, "1"), "n1"),
            Err(CacheError::AlreadyPresent("default/p".into()))
        );
        cache.forget_pod("p").expect("forget");
        assert_eq!(cache.node("n1").map(|n| n.requested.milli_cpu), Some(0));
        cache
            .assume_pod(pod("p", None, "1"), "n1")
            .expect("assume again");
        // The API server bound it to n2 after all: confirmation moves it.
        cache.add_pod(pod("p", Some("n2"), "1")).expect("confirm");
        assert!(!cache.is_assumed("p"));
        assert_eq!(cache.node("n1").map(|n| n.requested.milli_cpu), Some(0));
        assert_eq!(cache.node("n2").map(|n| n.requested.milli_cpu), Some(1000));
        assert_eq!(
            cache.forget_pod("p"),
            Err(CacheError::NotAssumed("default/p".into()))
        );
    }

    #[test]
    fn snapshot_copies_only_changed_nodes() {
        let mut cache = Cache::new();
        for i in 0..4 {
            cache.add_node(node(&format!("n{i}"), if i % 2 == 0 { "a" } else { "b" }));
        }
        let mut snapshot = Snapshot::new();
        cache.update_snapshot(&mut snapshot);
        let names: Vec<&str> = snapshot.nodes().iter().map(|n| n.name()).collect();
        assert_eq!(names, ["n0", "n1", "n2", "n3"]);
        let before: Vec<NodeInfo> = snapshot.nodes().to_vec();
        cache.add_pod(pod("p", Some("n2"), "500m")).expect("add");
        cache.update_snapshot(&mut snapshot);
        for (old, new) in before.iter().zip(snapshot.nodes()) {
            assert_eq!(
                old.generation() == new.generation(),
                new.name() != "n2",
                "node {}",
                new.name()
            );
        }
        assert_eq!(snapshot.get("n2").map(|n| n.requested.milli_cpu), Some(500));
        // The snapshot taken before is unaffected by later cache changes.
        assert_eq!(before[2].requested.milli_cpu, 0);
        cache.remove_node("n1");
        cache.update_snapshot(&mut snapshot);
        assert_eq!(snapshot.len(), 3);
        assert!(snapshot.get("n1").is_none());
    }
}
