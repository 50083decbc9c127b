//! The nominator: pods that preemption made room for, by node.
//!
//! After preemption evicts pods for a preemptor, the preemptor is *nominated* to that node
//! (`status.nominatedNodeName`) until it is scheduled. Meanwhile other pods of lower priority
//! must not take the room: Filter runs with the nominated pods of equal or higher priority
//! added to the node (Kubernetes' `RunFilterPluginsWithNominatedPods`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::pod_info::PodInfo;

#[derive(Debug, Default)]
struct Nominations {
    by_node: HashMap<String, Vec<Arc<PodInfo>>>,
    node_of: HashMap<String, String>,
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

    /// The nominated pods of at least `priority`, other than `uid`, by node: what Filter must
    /// count in for a pod of that priority.
    pub fn pods_of_priority_at_least(
        &self,
        priority: i32,
        uid: &str,
    ) -> HashMap<String, Vec<Arc<PodInfo>>> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let mut out: HashMap<String, Vec<Arc<PodInfo>>> = HashMap::new();
        for (node, pods) in &inner.by_node {
            let relevant: Vec<Arc<PodInfo>> = pods
                .iter()
                .filter(|p| p.priority >= priority && p.uid() != uid)
                .cloned()
                .collect();
            if !relevant.is_empty() {
                out.insert(node.clone(), relevant);
            }
        }
        out
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
