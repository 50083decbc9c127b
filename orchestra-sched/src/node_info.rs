//! `NodeInfo`: a node with the aggregates of the pods on it.
//!
//! Everything a Filter or Score plugin asks about a node is kept up to date as pods come and go,
//! so that answering is a lookup: the allocatable resources, the sum of the pods' requests (as
//! the fit check sees them, and with the scoring defaults for pods that request nothing), the
//! host ports in use, the images present and their sizes, the pods with pod (anti-)affinity
//! and the PersistentVolumeClaims in use. Each change bumps the node's generation, which is
//! how the [`Snapshot`](crate::Snapshot) knows which nodes to copy.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::core::v1::{Node, Taint};

use crate::pod_info::{HostPort, PodInfo};
use crate::resources::Resource;

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// The next generation, larger than every one handed out before.
pub(crate) fn next_generation() -> u64 {
    GENERATION.fetch_add(1, Ordering::Relaxed)
}

static EMPTY_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// Shares label strings between nodes: every node's `topology.kubernetes.io/zone` key (and
/// every node of a zone's value) is one allocation, which stays in the processor's cache while
/// a cycle looks up the label on thousands of nodes.
#[derive(Debug, Default)]
pub struct LabelInterner {
    strings: std::collections::HashSet<Arc<str>>,
}

impl LabelInterner {
    fn intern(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.strings.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        self.strings.insert(shared.clone());
        shared
    }
}

/// A node's labels as a sorted slice of shared strings, for fast lookups on the hot path.
/// Copying a `NodeInfo` (as preemption's dry runs do) shares the slice.
#[derive(Debug, Clone, Default)]
pub struct NodeLabels {
    entries: Arc<[(Arc<str>, Arc<str>)]>,
}

impl NodeLabels {
    fn new(labels: &BTreeMap<String, String>, interner: Option<&mut LabelInterner>) -> NodeLabels {
        let entries = match interner {
            Some(interner) => labels
                .iter()
                .map(|(k, v)| (interner.intern(k), interner.intern(v)))
                .collect(),
            None => labels
                .iter()
                .map(|(k, v)| (Arc::from(k.as_str()), Arc::from(v.as_str())))
                .collect(),
        };
        NodeLabels { entries }
    }

    /// The value of a label.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.get_shared(key).map(|(_, v)| &**v)
    }

    /// A label's key and value as the shared strings.
    pub fn get_shared(&self, key: &str) -> Option<(&Arc<str>, &Arc<str>)> {
        self.entries
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| (&self.entries[i].0, &self.entries[i].1))
    }
}

/// The host ports in use on a node (Kubernetes' `HostPortInfo`).
#[derive(Debug, Clone, Default)]
pub struct HostPortInfo {
    ports: Vec<HostPort>,
}

impl HostPortInfo {
    /// Records a port as used.
    pub fn add(&mut self, port: &HostPort) {
        self.ports.push(port.clone());
    }

    /// Releases one use of a port.
    pub fn remove(&mut self, port: &HostPort) {
        if let Some(i) = self.ports.iter().position(|p| p == port) {
            self.ports.swap_remove(i);
        }
    }

    /// Whether `port` conflicts with a port in use: same protocol and number, and either IP
    /// is the wildcard `0.0.0.0` or the IPs are equal.
    pub fn conflicts(&self, port: &HostPort) -> bool {
        if port.port <= 0 {
            return false;
        }
        self.ports.iter().any(|used| {
            used.port == port.port
                && used.protocol == port.protocol
                && (port.ip == "0.0.0.0" || used.ip == "0.0.0.0" || used.ip == port.ip)
        })
    }

    /// How many port uses are recorded.
    pub fn len(&self) -> usize {
        self.ports.len()
    }

    /// Whether no port is in use.
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }
}

fn has_scoring_terms(pod: &PodInfo) -> bool {
    !pod.required_affinity_terms.is_empty()
        || !pod.preferred_affinity_terms.is_empty()
        || !pod.preferred_anti_affinity_terms.is_empty()
}

/// A node and the aggregates of the pods assigned or assumed to it.
///
/// The fields Filter and Score read for every node come first (`repr(C)` keeps the order), and
/// the snapshot keeps node infos side by side in one vector, so that walking hundreds of nodes
/// per pod reads memory in order instead of chasing pointers.
#[derive(Debug, Clone)]
#[repr(C)]
pub struct NodeInfo {
    /// `status.allocatable`.
    pub allocatable: Resource,
    /// Sum of the pods' requests.
    pub requested: Resource,
    /// Sum of the pods' requests with the scoring defaults for missing cpu and memory
    /// requests (only cpu and memory differ from [`NodeInfo::requested`]).
    pub non_zero_requested: Resource,
    unschedulable: bool,
    largest_image: i64,
    fast_labels: NodeLabels,
    pods_with_scoring_terms: u32,
    taints: Arc<[Taint]>,
    pods: Vec<Arc<PodInfo>>,
    node: Option<Arc<Node>>,
    name: Arc<str>,
    name_hash: u64,
    pods_with_affinity: Vec<Arc<PodInfo>>,
    pods_with_required_anti_affinity: Vec<Arc<PodInfo>>,
    /// Host ports in use.
    pub used_ports: HostPortInfo,
    /// Images on the node (every name an image is known by) and their sizes in bytes.
    pub image_sizes: Arc<HashMap<String, i64>>,
    /// How many pods on the node use each PersistentVolumeClaim (`namespace/name`).
    pub pvc_ref_counts: HashMap<String, usize>,
    generation: u64,
}

impl NodeInfo {
    /// A node without pods.
    pub fn new(node: impl Into<Arc<Node>>) -> NodeInfo {
        let mut info = NodeInfo::without_node(String::new());
        info.set_node(node.into());
        info
    }

    /// Aggregates for a node name whose Node object is not known yet (pods can be assigned to
    /// a node before the scheduler sees it).
    pub(crate) fn without_node(name: String) -> NodeInfo {
        NodeInfo {
            allocatable: Resource::default(),
            requested: Resource::default(),
            non_zero_requested: Resource::default(),
            unschedulable: false,
            largest_image: 0,
            fast_labels: NodeLabels::default(),
            pods_with_scoring_terms: 0,
            taints: Arc::default(),
            pods: Vec::new(),
            node: None,
            name_hash: crate::fast_map::name_hash(&name),
            name: Arc::from(name),
            pods_with_affinity: Vec::new(),
            pods_with_required_anti_affinity: Vec::new(),
            used_ports: HostPortInfo::default(),
            image_sizes: Arc::new(HashMap::new()),
            pvc_ref_counts: HashMap::new(),
            generation: next_generation(),
        }
    }

    /// Replaces the Node object (a status or label update), keeping the pods.
    pub fn set_node(&mut self, node: Arc<Node>) {
        self.set_node_interned(node, None);
    }

    /// Replaces the Node object, sharing label strings through `interner`.
    pub(crate) fn set_node_interned(
        &mut self,
        node: Arc<Node>,
        interner: Option<&mut LabelInterner>,
    ) {
        self.fast_labels = NodeLabels::new(
            node.metadata.labels.as_ref().unwrap_or(&EMPTY_LABELS),
            interner,
        );
        self.name = Arc::from(node.metadata.name.as_deref().unwrap_or_default());
        self.name_hash = crate::fast_map::name_hash(&self.name);
        let status = node.status.as_ref();
        self.allocatable = status
            .and_then(|s| s.allocatable.as_ref())
            .map(Resource::from_k8s)
            .unwrap_or_default();
        let mut images = HashMap::new();
        for image in status.and_then(|s| s.images.as_ref()).into_iter().flatten() {
            let size = image.size_bytes.unwrap_or(0);
            for name in image.names.iter().flatten() {
                images.insert(name.clone(), size);
            }
        }
        self.largest_image = images
            .values()
            .copied()
            .max()
            .unwrap_or(0)
            .max(i64::from(!images.is_empty()));
        self.image_sizes = Arc::new(images);
        let spec = node.spec.as_ref();
        self.unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        self.taints = spec
            .and_then(|s| s.taints.as_deref())
            .map(Arc::from)
            .unwrap_or_default();
        self.node = Some(node);
        self.generation = next_generation();
    }

    /// Forgets the Node object (the node was deleted while pods still point at it).
    pub(crate) fn clear_node(&mut self) {
        self.node = None;
        self.fast_labels = NodeLabels::default();
        self.unschedulable = false;
        self.taints = Arc::default();
        self.generation = next_generation();
    }

    /// The Node object, `None` while it is not known.
    pub fn node(&self) -> Option<&Arc<Node>> {
        self.node.as_ref()
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's name as a string shared with the cache's copies of this node.
    pub fn name_shared(&self) -> &Arc<str> {
        &self.name
    }

    /// The [`name_hash`](crate::fast_map::name_hash) of the node's name.
    pub fn name_hash(&self) -> u64 {
        self.name_hash
    }

    /// The value of one of the node's labels: faster than [`NodeInfo::labels`] for repeated
    /// lookups of the same key over many nodes.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.fast_labels.get(key)
    }

    /// A label's key and value as strings shared between nodes (interned by the cache).
    pub fn label_shared(&self, key: &str) -> Option<(&Arc<str>, &Arc<str>)> {
        self.fast_labels.get_shared(key)
    }

    /// The node's labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        self.node
            .as_ref()
            .and_then(|n| n.metadata.labels.as_ref())
            .unwrap_or(&EMPTY_LABELS)
    }

    /// The node's taints.
    pub fn taints(&self) -> &[Taint] {
        &self.taints
    }

    /// Whether the node reports any image (read without touching the image map).
    pub fn has_images(&self) -> bool {
        self.largest_image > 0
    }

    /// The size in bytes of the node's largest image (at least 1 when the node reports any
    /// image, 0 when none): a bound on what its images can add up to per image of a pod.
    pub fn largest_image(&self) -> i64 {
        self.largest_image
    }

    /// Whether `spec.unschedulable` is set (the node is cordoned).
    pub fn is_unschedulable(&self) -> bool {
        self.unschedulable
    }

    /// The pods on the node, assumed ones included.
    pub fn pods(&self) -> &[Arc<PodInfo>] {
        &self.pods
    }

    /// The pods on the node with any pod (anti-)affinity.
    pub fn pods_with_affinity(&self) -> &[Arc<PodInfo>] {
        &self.pods_with_affinity
    }

    /// How many pods on the node have terms that score other pods (required pod affinity, or
    /// preferred pod affinity or anti-affinity): when none, InterPodAffinity's scoring can skip
    /// the node for pods without preferences of their own.
    pub fn pods_with_scoring_terms(&self) -> usize {
        self.pods_with_scoring_terms as usize
    }

    /// The pods on the node with required pod anti-affinity.
    pub fn pods_with_required_anti_affinity(&self) -> &[Arc<PodInfo>] {
        &self.pods_with_required_anti_affinity
    }

    /// A number that grows with every change of this node's aggregates.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Adds a pod's aggregates.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests.requests);
        self.requested.allowed_pod_number = 0;
        self.non_zero_requested.milli_cpu += pod.requests.non_zero_milli_cpu;
        self.non_zero_requested.memory += pod.requests.non_zero_memory;
        for port in &pod.host_ports {
            self.used_ports.add(port);
        }
        for claim in &pod.pvc_names {
            *self
                .pvc_ref_counts
                .entry(format!("{}/{claim}", pod.namespace()))
                .or_default() += 1;
        }
        if pod.has_affinity() {
            self.pods_with_affinity.push(pod.clone());
        }
        if has_scoring_terms(&pod) {
            self.pods_with_scoring_terms += 1;
        }
        if pod.has_required_anti_affinity() {
            self.pods_with_required_anti_affinity.push(pod.clone());
        }
        self.pods.push(pod);
        self.generation = next_generation();
    }

    /// Removes the pod with this UID; answers whether it was there.
    pub fn remove_pod(&mut self, uid: &str) -> bool {
        let Some(i) = self.pods.iter().position(|p| p.uid() == uid) else {
            return false;
        };
        let pod = self.pods.remove(i);
        if has_scoring_terms(&pod) {
            self.pods_with_scoring_terms = self.pods_with_scoring_terms.saturating_sub(1);
        }
        self.pods_with_affinity.retain(|p| p.uid() != uid);
        self.pods_with_required_anti_affinity
            .retain(|p| p.uid() != uid);
        self.requested.sub(&pod.requests.requests);
        self.requested.allowed_pod_number = 0;
        self.non_zero_requested.milli_cpu -= pod.requests.non_zero_milli_cpu;
        self.non_zero_requested.memory -= pod.requests.non_zero_memory;
        for port in &pod.host_ports {
            self.used_ports.remove(port);
        }
        for claim in &pod.pvc_names {
            let key = format!("{}/{claim}", pod.namespace());
            if let Some(count) = self.pvc_ref_counts.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    self.pvc_ref_counts.remove(&key);
                }
            }
        }
        self.generation = next_generation();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(ip: &str, protocol: &str, port: i32) -> HostPort {
        HostPort {
            ip: ip.into(),
            protocol: protocol.into(),
            port,
        }
    }

    #[test]
    fn host_port_conflicts_follow_kubernetes() {
        let mut used = HostPortInfo::default();
        used.add(&port("127.0.0.1", "TCP", 8080));
        assert!(used.conflicts(&port("127.0.0.1", "TCP", 8080)));
        assert!(used.conflicts(&port("0.0.0.0", "TCP", 8080)));
        assert!(!used.conflicts(&port("127.0.0.2", "TCP", 8080)));
        assert!(!used.conflicts(&port("127.0.0.1", "UDP", 8080)));
        used.add(&port("0.0.0.0", "UDP", 53));
        assert!(used.conflicts(&port("10.0.0.1", "UDP", 53)));
        used.remove(&port("0.0.0.0", "UDP", 53));
        assert!(!used.conflicts(&port("10.0.0.1", "UDP", 53)));
    }

    #[test]
    fn adding_and_removing_pods_keeps_aggregates() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1"},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110", "nvidia.com/gpu": "2"},
                "images": [{"names": ["nginx:1.27", "docker.io/library/nginx:1.27"], "sizeBytes": 50000000}]}
        }))
        .expect("node");
        let mut info = NodeInfo::new(node);
        assert_eq!(info.allocatable.milli_cpu, 4000);
        assert_eq!(info.allocatable.allowed_pod_number, 110);
        assert_eq!(info.allocatable.scalar.get("nvidia.com/gpu"), 2);
        assert_eq!(info.image_sizes.get("nginx:1.27"), Some(&50_000_000));
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.27",
                "resources": {"requests": {"cpu": "500m", "nvidia.com/gpu": "1"}},
                "ports": [{"containerPort": 80, "hostPort": 8080}]}]}
        }))
        .expect("pod");
        let generation = info.generation();
        info.add_pod(Arc::new(PodInfo::new(pod)));
        assert!(info.generation() > generation);
        assert_eq!(info.requested.milli_cpu, 500);
        assert_eq!(info.requested.scalar.get("nvidia.com/gpu"), 1);
        assert_eq!(
            info.non_zero_requested.memory,
            crate::resources::DEFAULT_MEMORY_REQUEST
        );
        assert_eq!(info.used_ports.len(), 1);
        assert!(info.remove_pod("u1"));
        assert_eq!(info.requested.milli_cpu, 0);
        assert_eq!(info.requested.scalar.get("nvidia.com/gpu"), 0);
        assert!(info.used_ports.is_empty());
        assert!(!info.remove_pod("u1"));
    }
}
