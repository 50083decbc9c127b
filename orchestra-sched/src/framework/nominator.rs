//! The nominator: pods that preemption made room for, by node.
//!
//! After preemption evicts pods for a preemptor, the preemptor is *nominated* to that node
//! (`status.nominatedNodeName`) until it is scheduled. Meanwhile other pods of lower priority
//! must not take the room: Filter runs with the nominated pods of equal or higher priority
//! added to the node (Kubernetes' `RunFilterPluginsWithNominatedPods`).
//!
//! A node with nominated pods is checked that way by every pod that comes by, each time on a
//! copy of the node with those pods added. When every pod nominated to the node counts for the
//! pod being checked (the usual case: they have its priority or more), that copy is the same
//! for all of them, so the nominator keeps it, built once per state of the node (its
//! generation) and of its nominations ([`NominatedView::for_node`]).

use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use crate::fast_map::{FastMap, name_hash};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

/// Nominations by the hash of the node name ([`name_hash`], which every `NodeInfo` keeps), so
/// that a lookup per node per Filter pass touches no string but the entry's own.
#[derive(Debug, Default)]
struct Nominations {
    by_node: FastMap<u64, Vec<NodeNominations>>,
    node_of: FastMap<String, String>,
}

impl Nominations {
    fn entry(&self, node: &str) -> Option<&NodeNominations> {
        self.by_node
            .get(&name_hash(node))?
            .iter()
            .find(|e| e.node == node)
    }
}

/// The pods nominated to one node, what decides quickly whether they all count for a pod (the
/// lowest priority among them, and one bit per pod UID hash), and the node with all of them
/// added, for the node generation it was built from.
#[derive(Debug)]
struct NodeNominations {
    node: String,
    min_priority: i32,
    uid_bits: u64,
    pods: Vec<Arc<PodInfo>>,
    with_pods: Mutex<Option<(u64, Arc<NodeInfo>)>>,
}

impl NodeNominations {
    fn changed(&mut self) {
        self.min_priority = self
            .pods
            .iter()
            .map(|p| p.priority)
            .min()
            .unwrap_or(i32::MAX);
        self.uid_bits = self.pods.iter().fold(0, |bits, p| bits | uid_bit(p.uid()));
        *self.with_pods.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// One of 64 bits, chosen by the UID's hash: a pod whose bit is not among a node's bits is not
/// nominated there.
fn uid_bit(uid: &str) -> u64 {
    1 << (name_hash(uid) & 63)
}

/// What Filter must count in on a node for one pod (see [`NominatedView::for_node`]).
#[derive(Debug)]
pub enum NominatedOnNode {
    /// No nominated pod counts.
    Nothing,
    /// Every pod nominated to the node counts: here is the node with all of them added.
    All(Arc<NodeInfo>),
    /// Only these of the node's nominated pods count.
    Some(Vec<Arc<PodInfo>>),
}

/// Nominated pods by node. See the module docs.
#[derive(Debug, Default)]
pub struct Nominator {
    inner: RwLock<Nominations>,
}

impl Nominator {
    /// Nominates `pod` to `node` (replacing an earlier nomination of the same pod).
    pub fn add(&self, pod: Arc<PodInfo>, node: &str) {
        self.remove(pod.uid());
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        inner.node_of.insert(pod.uid().to_owned(), node.to_owned());
        let bucket = inner.by_node.entry(name_hash(node)).or_default();
        let i = match bucket.iter().position(|e| e.node == node) {
            Some(i) => i,
            None => {
                bucket.push(NodeNominations {
                    node: node.to_owned(),
                    min_priority: i32::MAX,
                    uid_bits: 0,
                    pods: Vec::new(),
                    with_pods: Mutex::new(None),
                });
                bucket.len() - 1
            }
        };
        bucket[i].pods.push(pod);
        bucket[i].changed();
    }

    /// Drops a pod's nomination.
    pub fn remove(&self, uid: &str) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if let Some(node) = inner.node_of.remove(uid) {
            let hash = name_hash(&node);
            if let Some(bucket) = inner.by_node.get_mut(&hash) {
                for entry in bucket.iter_mut().filter(|e| e.node == node) {
                    entry.pods.retain(|p| p.uid() != uid);
                    entry.changed();
                }
                bucket.retain(|e| !e.pods.is_empty());
                if bucket.is_empty() {
                    inner.by_node.remove(&hash);
                }
            }
        }
    }

    /// The nominations as they are now, held for one Filter pass: every node's lookup reads
    /// the same state without copying it (writers wait until the view is dropped).
    pub fn view(&self) -> NominatedView<'_> {
        NominatedView {
            inner: self.inner.read().unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// The pods nominated to `node` of at least `priority`, other than `uid`: what Filter must
    /// count in on that node for a pod of that priority.
    pub fn pods_for_node_at_least(
        &self,
        node: &str,
        priority: i32,
        uid: &str,
    ) -> Vec<Arc<PodInfo>> {
        self.view().pods_for_node_at_least(node, priority, uid)
    }

    /// The pods nominated to `node`.
    pub fn pods_for_node(&self, node: &str) -> Vec<Arc<PodInfo>> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        inner
            .entry(node)
            .map(|entry| entry.pods.clone())
            .unwrap_or_default()
    }

    /// Whether any pod is nominated anywhere (lets Filter skip the lookup).
    pub fn is_empty(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .node_of
            .is_empty()
    }

    /// The node a pod is nominated to.
    pub fn node_of(&self, uid: &str) -> Option<String> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .node_of
            .get(uid)
            .cloned()
    }
}

/// A read-only view of the nominations (see [`Nominator::view`]).
pub struct NominatedView<'a> {
    inner: RwLockReadGuard<'a, Nominations>,
}

impl NominatedView<'_> {
    /// Whether no pod is nominated anywhere.
    pub fn is_empty(&self) -> bool {
        self.inner.node_of.is_empty()
    }

    /// The pods nominated to `node` of at least `priority`, other than `uid` (empty, without
    /// allocating, for a node without such pods).
    pub fn pods_for_node_at_least(
        &self,
        node: &str,
        priority: i32,
        uid: &str,
    ) -> Vec<Arc<PodInfo>> {
        match self.inner.entry(node) {
            Some(entry) => entry
                .pods
                .iter()
                .filter(|p| p.priority >= priority && p.uid() != uid)
                .cloned()
                .collect(),
            None => Vec::new(),
        }
    }

    /// What Filter must count in on `node` for a pod of `priority` with `uid`: nothing, all
    /// the pods nominated there (with the node copy that has them added, kept across pods
    /// while the node and its nominations stay the same), or some of them.
    pub fn for_node(&self, node: &NodeInfo, priority: i32, uid: &str) -> NominatedOnNode {
        let Some(bucket) = self.inner.by_node.get(&node.name_hash()) else {
            return NominatedOnNode::Nothing;
        };
        // The usual case, without touching the pods: all of them count, and the copy kept for
        // this node state (a generation is never shared by two nodes) is there.
        let bit = uid_bit(uid);
        for entry in bucket {
            if entry.min_priority >= priority && entry.uid_bits & bit == 0 {
                let with_pods = entry.with_pods.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((generation, copy)) = &*with_pods {
                    if *generation == node.generation() {
                        return NominatedOnNode::All(copy.clone());
                    }
                }
            }
        }
        let Some(entry) = bucket.iter().find(|e| e.node == node.name()) else {
            return NominatedOnNode::Nothing;
        };
        let counts = |p: &&Arc<PodInfo>| p.priority >= priority && p.uid() != uid;
        let counted = entry.pods.iter().filter(counts).count();
        if counted == 0 {
            return NominatedOnNode::Nothing;
        }
        if counted < entry.pods.len() {
            return NominatedOnNode::Some(entry.pods.iter().filter(counts).cloned().collect());
        }
        let mut with_pods = entry.with_pods.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((generation, copy)) = &*with_pods {
            if *generation == node.generation() {
                return NominatedOnNode::All(copy.clone());
            }
        }
        let mut copy = node.clone();
        for pod in &entry.pods {
            copy.add_pod(pod.clone());
        }
        let copy = Arc::new(copy);
        *with_pods = Some((node.generation(), copy.clone()));
        NominatedOnNode::All(copy)
    }
}

impl std::fmt::Debug for NominatedView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NominatedView")
            .field("pods", &self.inner.node_of.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    fn nominated(cpu: &str, priority: i32) -> Arc<PodInfo> {
        Arc::new(pod(
            json!({"priority": priority, "containers": [{"name": "c", "image": "i",
            "resources": {"requests": {"cpu": cpu}}}]}),
        ))
    }

    #[test]
    fn a_node_whose_nominated_pods_all_count_is_checked_on_one_kept_copy() {
        let nominator = Nominator::default();
        let mut n1 = node("n1", json!({}), json!({}));
        let (a, b) = (nominated("1", 10), nominated("500m", 20));
        nominator.add(a.clone(), "n1");
        nominator.add(b.clone(), "n1");
        let first = match nominator.view().for_node(&n1, 10, "other") {
            NominatedOnNode::All(copy) => copy,
            other => panic!("expected all nominated pods, got {other:?}"),
        };
        assert_eq!(first.requested.milli_cpu, 1500);
        assert_eq!(first.pods().len(), 2);
        // The same node state: the same copy.
        match nominator.view().for_node(&n1, 5, "other") {
            NominatedOnNode::All(copy) => assert!(Arc::ptr_eq(&copy, &first)),
            other => panic!("expected the kept copy, got {other:?}"),
        }
        // A pod of higher priority than one of them counts only the other.
        match nominator.view().for_node(&n1, 15, "other") {
            NominatedOnNode::Some(pods) => assert_eq!(pods.len(), 1),
            other => panic!("expected one pod, got {other:?}"),
        }
        // A nominated pod does not count itself.
        match nominator.view().for_node(&n1, 10, a.uid()) {
            NominatedOnNode::Some(pods) => assert_eq!(pods[0].uid(), b.uid()),
            other => panic!("expected the other pod, got {other:?}"),
        }
        assert!(matches!(
            nominator.view().for_node(&n1, 30, "other"),
            NominatedOnNode::Nothing
        ));
        // A changed node, or changed nominations, give a fresh copy.
        n1.add_pod(nominated("250m", 0));
        match nominator.view().for_node(&n1, 10, "other") {
            NominatedOnNode::All(copy) => assert_eq!(copy.requested.milli_cpu, 1750),
            other => panic!("expected all nominated pods, got {other:?}"),
        }
        nominator.remove(b.uid());
        match nominator.view().for_node(&n1, 10, "other") {
            NominatedOnNode::All(copy) => assert_eq!(copy.requested.milli_cpu, 1250),
            other => panic!("expected the remaining pod, got {other:?}"),
        }
        nominator.remove(a.uid());
        assert!(nominator.view().is_empty());
        assert!(matches!(
            nominator.view().for_node(&n1, 10, "other"),
            NominatedOnNode::Nothing
        ));
    }
}
