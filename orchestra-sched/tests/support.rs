//! Builders shared by the integration tests.
#![allow(dead_code)]

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

/// A node with allocatable cpu/memory/pods, labels and extra spec.
pub fn node(name: &str, cpu: &str, memory: &str, labels: Value, spec: Value) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"}}
    }))
    .expect("node")
}

/// A plain node labelled with its hostname.
pub fn simple_node(name: &str, cpu: &str, memory: &str) -> Node {
    node(
        name,
        cpu,
        memory,
        json!({"kubernetes.io/hostname": name}),
        json!({}),
    )
}

/// A pod requesting cpu and memory, with labels and extra spec merged in.
pub fn pod(name: &str, cpu: &str, memory: &str, labels: Value, extra_spec: Value) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9",
        "resources": {"requests": {"cpu": cpu, "memory": memory}}}]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra_spec.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": labels},
        "spec": spec
    }))
    .expect("pod")
}

/// A plain pod.
pub fn simple_pod(name: &str, cpu: &str, memory: &str) -> Pod {
    pod(name, cpu, memory, json!({}), json!({}))
}
