//! Pod admission: whether the node can take a pod the scheduler bound to it.
//!
//! The scheduler decided on a possibly stale view, so the kubelet checks again before it runs
//! a pod, as Kubernetes' kubelet does with its `GeneralPredicates`: the pod's effective
//! requests must fit in the node's allocatable resources next to the pods already admitted,
//! the node must have room for one more pod, and the pod's `nodeSelector` must match the
//! node's labels. A rejected pod is failed with the predicate's reason (`OutOfcpu`,
//! `OutOfmemory`, `OutOfpods`, `NodeAffinity`) and never started.

use std::collections::BTreeMap;

use orchestra_api::ResourceList;
use orchestra_api::k8s_openapi::api::core::v1::{Container, Pod};

/// The resources the kubelet checks.
const CHECKED: [&str; 3] = ["cpu", "memory", "ephemeral-storage"];

/// Why a pod was not admitted: the reason and message the pod's status gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// `OutOfcpu`, `OutOfmemory`, `OutOfpods`, `NodeAffinity`, …
    pub reason: String,
    /// What was short.
    pub message: String,
}

fn container_requests(container: &Container) -> ResourceList {
    let requests = container
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref());
    match requests {
        Some(requests) => ResourceList::from_k8s(requests).unwrap_or_default(),
        None => ResourceList::new(),
    }
}

/// A pod's effective requests, as Kubernetes computes them: the sum of its app containers
/// and sidecars, or the largest init container plus the sidecars started before it if that
/// is more, plus the pod overhead.
pub fn pod_requests(pod: &Pod) -> ResourceList {
    let Some(spec) = pod.spec.as_ref() else {
        return ResourceList::new();
    };
    let mut requests = ResourceList::new();
    for container in &spec.containers {
        requests.add(&container_requests(container));
    }
    let mut sidecars = ResourceList::new();
    let mut init_peak = ResourceList::new();
    for container in spec.init_containers.iter().flatten() {
        let own = container_requests(container);
        if container.restart_policy.as_deref() == Some("Always") {
            requests.add(&own);
            sidecars.add(&own);
        } else {
            let mut with_sidecars = own;
            with_sidecars.add(&sidecars);
            init_peak.max(&with_sidecars);
        }
    }
    requests.max(&init_peak);
    if let Some(overhead) = &spec.overhead
        && let Ok(overhead) = ResourceList::from_k8s(overhead)
    {
        requests.add(&overhead);
    }
    requests
}

/// Checks `pod` against the node: `allocatable` resources, `labels`, and the pods already
/// admitted (their requests summed in `used`, their number in `admitted_pods`).
pub fn admit(
    pod: &Pod,
    allocatable: &ResourceList,
    labels: &BTreeMap<String, String>,
    used: &ResourceList,
    admitted_pods: usize,
) -> Result<(), Rejection> {
    let max_pods = allocatable.get("pods");
    let admitted = i64::try_from(admitted_pods).unwrap_or(i64::MAX);
    if admitted + 1 > max_pods {
        return Err(insufficient("pods", 1, admitted, max_pods));
    }
    let requests = pod_requests(pod);
    for name in CHECKED {
        let requested = requests.get(name);
        if requested <= 0 {
            continue;
        }
        let capacity = allocatable.get(name);
        let in_use = used.get(name);
        if in_use.saturating_add(requested) > capacity {
            return Err(insufficient(name, requested, in_use, capacity));
        }
    }
    let selector = pod.spec.as_ref().and_then(|s| s.node_selector.as_ref());
    if let Some(selector) = selector
        && !selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    {
        return Err(Rejection {
            reason: "NodeAffinity".to_owned(),
            message:
                "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
                    .to_owned(),
        });
    }
    Ok(())
}

fn insufficient(resource: &str, requested: i64, used: i64, capacity: i64) -> Rejection {
    Rejection {
        reason: format!("OutOf{resource}"),
        message: format!(
            "Node didn't have enough resource: {resource}, requested: {requested}, used: {used}, capacity: {capacity}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestra_api::k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    fn allocatable(cpu: &str, memory: &str, pods: &str) -> ResourceList {
        let map: BTreeMap<String, K8sQuantity> = [("cpu", cpu), ("memory", memory), ("pods", pods)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), K8sQuantity(v.to_owned())))
            .collect();
        ResourceList::from_k8s(&map).unwrap()
    }

    #[test]
    fn effective_requests_take_the_larger_of_init_and_app_containers() {
        let p = pod(serde_json::json!({"spec": {
            "initContainers": [
                {"name": "big-init", "resources": {"requests": {"cpu": "2"}}},
                {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m", "memory": "10Mi"}}},
                {"name": "late-init", "resources": {"requests": {"cpu": "500m"}}}
            ],
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "250m"}}}
            ],
            "overhead": {"cpu": "10m"}
        }}));
        let requests = pod_requests(&p);
        // max(0.5 + 0.25 + 0.1 sidecar, 2) + overhead.
        assert_eq!(requests.get("cpu"), 2010);
        assert_eq!(requests.get("memory"), (64 << 20) + (10 << 20));
    }

    #[test]
    fn rejections_name_the_short_resource_as_kubernetes_does() {
        let p = pod(serde_json::json!({"spec": {"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "1500m"}}}
        ]}}));
        let node = allocatable("2", "1Gi", "3");
        let labels = BTreeMap::new();
        assert_eq!(admit(&p, &node, &labels, &ResourceList::new(), 0), Ok(()));
        let mut used = ResourceList::new();
        used.set("cpu", 1000);
        let rejection = admit(&p, &node, &labels, &used, 1).unwrap_err();
        assert_eq!(rejection.reason, "OutOfcpu");
        assert_eq!(
            rejection.message,
            "Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000"
        );
        let full = admit(&p, &node, &labels, &ResourceList::new(), 3).unwrap_err();
        assert_eq!(full.reason, "OutOfpods");
    }

    #[test]
    fn a_node_selector_that_does_not_match_is_rejected() {
        let p = pod(
            serde_json::json!({"spec": {"nodeSelector": {"disk": "ssd"}, "containers": [{"name": "a"}]}}),
        );
        let node = allocatable("2", "1Gi", "10");
        let err = admit(&p, &node, &BTreeMap::new(), &ResourceList::new(), 0).unwrap_err();
        assert_eq!(err.reason, "NodeAffinity");
        let labels = BTreeMap::from([("disk".to_owned(), "ssd".to_owned())]);
        assert!(admit(&p, &node, &labels, &ResourceList::new(), 0).is_ok());
    }
}
