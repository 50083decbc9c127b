//! Builders of nodes and pods for the plugins' unit tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A pod in `default` with a fresh name and UID and this spec (no containers unless given).
pub fn pod(spec: Value) -> PodInfo {
    pod_with(json!({}), spec)
}

/// A pod with extra metadata (labels, namespace, …) and this spec.
pub fn pod_with(metadata: Value, mut spec: Value) -> PodInfo {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut meta =
        json!({"name": format!("pod-{n}"), "namespace": "default", "uid": format!("uid-{n}")});
    if let (Some(m), Some(extra)) = (meta.as_object_mut(), metadata.as_object()) {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
    if spec.get("containers").is_none() {
        spec["containers"] = json!([]);
    }
    let pod: Pod =
        serde_json::from_value(json!({"metadata": meta, "spec": spec})).expect("test pod");
    PodInfo::new(pod)
}

/// A pod requesting cpu and memory (one container).
pub fn pod_requesting(cpu: &str, memory: &str) -> PodInfo {
    pod(json!({"containers": [{"name": "c", "image": "i",
        "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}))
}

/// A node object with this spec and status (allocatable defaults to 4 cpu, 8Gi, 110 pods).
pub fn node_object(name: &str, spec: Value, status: Value) -> Node {
    node_object_labeled(name, json!({}), spec, status)
}

/// A node object with labels.
pub fn node_object_labeled(name: &str, labels: Value, spec: Value, mut status: Value) -> Node {
    if status.get("allocatable").is_none() {
        status["allocatable"] = json!({"cpu": "4", "memory": "8Gi", "pods": "110"});
    }
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "spec": spec, "status": status}),
    )
    .expect("test node")
}

/// A node without pods.
pub fn node(name: &str, spec: Value, status: Value) -> NodeInfo {
    NodeInfo::new(node_object(name, spec, status))
}

/// A node with these pods on it.
pub fn node_with_pods(name: &str, status: Value, pods: Vec<PodInfo>) -> NodeInfo {
    let mut info = NodeInfo::new(node_object(name, json!({}), status));
    for p in pods {
        info.add_pod(Arc::new(p));
    }
    info
}
