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

/// What the default profile's Filter says of `incoming` on each node (in node order), with
/// `existing` pods on the nodes their `spec.nodeName` names and `objects` (namespaces, …) as
/// the cluster's other objects: the feasible set of a scenario, and which plugin rejected
/// each other node for which reason.
pub fn filter_statuses(
    nodes: &[Node],
    existing: &[Pod],
    objects: orchestra_sched::ClusterObjects,
    incoming: &Pod,
) -> Vec<(String, orchestra_sched::framework::Status)> {
    use std::sync::Arc;

    use orchestra_sched::config::KubeSchedulerConfiguration;
    use orchestra_sched::framework::{CycleState, Handle, Registry};
    use orchestra_sched::profiles::build_frameworks;
    use orchestra_sched::{Cache, PodInfo, Snapshot};

    let mut cache = Cache::new();
    cache.set_cluster_objects(Arc::new(objects));
    for node in nodes {
        cache.add_node(Arc::new(node.clone()));
    }
    for pod in existing {
        cache
            .add_pod(Arc::new(PodInfo::new(pod.clone())))
            .expect("existing pods name their node");
    }
    let mut snapshot = Snapshot::new();
    cache.update_snapshot(&mut snapshot);
    let handle = Arc::new(Handle::new(None, 1));
    let frameworks = build_frameworks(
        &KubeSchedulerConfiguration::default_config(),
        &Registry::with_default_plugins(),
        &handle,
    )
    .expect("default profile");
    let framework = &frameworks["default-scheduler"];
    let incoming = PodInfo::new(incoming.clone());
    let mut state = CycleState::new();
    let pre = framework.run_pre_filter(&mut state, &incoming, &snapshot);
    snapshot
        .nodes()
        .iter()
        .map(|node| {
            let status = if pre.status.is_success() {
                framework.run_filter(&state, &incoming, node)
            } else {
                pre.status.clone()
            };
            (node.name().to_owned(), status)
        })
        .collect()
}

/// The nodes `filter_statuses` found feasible.
pub fn feasible(statuses: &[(String, orchestra_sched::framework::Status)]) -> Vec<&str> {
    statuses
        .iter()
        .filter(|(_, s)| s.is_success())
        .map(|(n, _)| n.as_str())
        .collect()
}

/// The plugin and message that rejected `node`, if it was rejected.
pub fn rejection<'s>(
    statuses: &'s [(String, orchestra_sched::framework::Status)],
    node: &str,
) -> Option<(&'s str, String)> {
    statuses
        .iter()
        .find(|(n, _)| n == node)
        .filter(|(_, s)| !s.is_success())
        .map(|(_, s)| (s.plugin().unwrap_or_default(), s.message()))
}

/// `pod` in namespace `namespace` (with a UID derived from both).
pub fn in_namespace(mut pod: Pod, namespace: &str) -> Pod {
    let name = pod.metadata.name.clone().unwrap_or_default();
    pod.metadata.namespace = Some(namespace.to_owned());
    pod.metadata.uid = Some(format!("uid-{namespace}-{name}"));
    pod
}
