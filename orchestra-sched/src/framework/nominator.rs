//! The nominator: pods that preemption made room for, by node.
//!
//! After preemption evicts pods for a preemptor, the preemptor is *nominated* to that node
//! (`status.nominatedNodeName`) until it is scheduled. Meanwhile other pods of lower priority
//! must not take the room: Filter runs with the nominated pods of equal or higher priority
//! added to the node (Kubernetes' `RunFilterPluginsWithNominatedPods`).

use std::sync::{Arc, RwLock, RwLockReadGuard};

use crate::fast_map::FastMap;
use crate::pod_info::PodInfo;

#[derive(Debug, Default)]
struct Nominations {
    by_node: FastMap<String, Vec<Arc<PodInfo>>>,
    node_of: FastMap<String, String>,
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
        inner.by_node.entry(node.to_owned()).or_default().push(pod);
    }

    /// Drops a pod's nomination.
    pub fn remove(&self, uid: &str) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if let Some(node) = inner.node_of.remove(uid) {
            if let Some(pods) = inner.by_node.get_mut(&node) {
                pods.retain(|p| p.uid() != uid);
                if pods.is_empty() {
                    inner.by_node.remove(&node);
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
        inner.by_node.get(node).cloned().unwrap_or_default()
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
        match self.inner.by_node.get(node) {
            Some(pods) => pods
                .iter()
                .filter(|p| p.priority >= priority && p.uid() != uid)
                .cloned()
                .collect(),
            None => Vec::new(),
        }
    }
}

impl std::fmt::Debug for NominatedView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NominatedView")
            .field("pods", &self.inner.node_of.len())
            .finish()
    }
}
