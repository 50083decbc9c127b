//! The scheduler's scale workloads, shaped like Kubernetes' `scheduler_perf` test cases: nodes
//! without kubelets, and pods to place with the default profile.
//!
//! - `basic`: nodes of 4 cpu / 32 GiB / 110 pods, pods requesting 100m / 500 MiB;
//! - `anti-affinity`: the same pods in groups, each with required anti-affinity to its own group
//!   over `kubernetes.io/hostname` (at most one pod of a group per node);
//! - `spread`: the same pods with a required topology spread constraint (maxSkew 1) over 10
//!   zones;
//! - `preemption`: every node already full with four 1-cpu pods of priority 1, and pods of
//!   priority 100 requesting 1 cpu, each of which must preempt.

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

/// The workloads.
pub const WORKLOADS: [&str; 4] = ["basic", "anti-affinity", "spread", "preemption"];

/// Zones of the `spread` workload.
pub const ZONES: usize = 10;

/// A node of the workloads.
pub fn node(i: usize) -> Node {
    let name = format!("node-{i}");
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "topology.kubernetes.io/zone": format!("zone-{}", i % ZONES)}},
        "status": {"allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"}}
    }))
    .unwrap_or_default()
}

fn pod(name: &str, labels: Value, cpu: &str, memory: &str, extra: Value) -> Pod {
    let mut spec = json!({"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.9",
        "resources": {"requests": {"cpu": cpu, "memory": memory}}}]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": name, "labels": labels},
        "spec": spec
    }))
    .unwrap_or_default()
}

/// The nodes and pods of a workload (`None` for an unknown name). Pods already bound (the
/// preemption workload's victims) name their node.
pub fn workload(name: &str, nodes: usize, pods: usize) -> Option<(Vec<Node>, Vec<Pod>)> {
    let node_list: Vec<Node> = (0..nodes).map(node).collect();
    let mut pod_list = Vec::with_capacity(pods);
    match name {
        "basic" => {
            for i in 0..pods {
                pod_list.push(pod(
                    &format!("pod-{i}"),
                    json!({"app": "basic"}),
                    "100m",
                    "500Mi",
                    json!({}),
                ));
            }
        }
        "anti-affinity" => {
            let groups = pods.div_ceil(nodes.max(1)).max(1);
            for i in 0..pods {
                let group = format!("group-{}", i % groups);
                pod_list.push(pod(
                    &format!("pod-{i}"),
                    json!({"group": group}),
                    "100m",
                    "500Mi",
                    json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": {"group": group}}, "topologyKey": "kubernetes.io/hostname"}]}}}),
                ));
            }
        }
        "spread" => {
            for i in 0..pods {
                pod_list.push(pod(
                    &format!("pod-{i}"),
                    json!({"app": "spread"}),
                    "100m",
                    "500Mi",
                    json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "spread"}}}]}),
                ));
            }
        }
        "preemption" => {
            for n in 0..nodes {
                for k in 0..4 {
                    pod_list.push(pod(
                        &format!("low-{n}-{k}"),
                        json!({"app": "low"}),
                        "1",
                        "1Gi",
                        json!({"priority": 1, "nodeName": format!("node-{n}")}),
                    ));
                }
            }
            for i in 0..pods {
                pod_list.push(pod(
                    &format!("pod-{i}"),
                    json!({"app": "high"}),
                    "1",
                    "1Gi",
                    json!({"priority": 100}),
                ));
            }
        }
        _ => return None,
    }
    Some((node_list, pod_list))
}
