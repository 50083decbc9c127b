//! Pod quality-of-service classes (`status.qosClass`), computed from container requests and
//! limits as Kubernetes does: `Guaranteed` when every container limits CPU and memory and the
//! requests equal the limits, `BestEffort` when nothing is requested or limited, `Burstable`
//! otherwise.
//!
//! The classes are computed on defaulted pods: defaulting copies limits into missing requests,
//! so a pod that only sets limits is `Guaranteed` once the API server has stored it.
//!
//! ```
//! use orchestra_api::qos::{pod_qos_class, QosClass};
//! use orchestra_api::defaulting;
//! use k8s_openapi::api::core::v1::Pod;
//! let mut pod: Pod = serde_json::from_value(serde_json::json!({
//!     "spec": {"containers": [{"name": "a", "image": "nginx",
//!         "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}
//! })).unwrap();
//! assert_eq!(pod_qos_class(&pod), QosClass::Burstable);
//! defaulting::default_object(&mut pod);
//! assert_eq!(pod_qos_class(&pod), QosClass::Guaranteed);
//! ```

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

use crate::quantity::Quantity;

/// A pod's quality-of-service class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QosClass {
    /// Every container's CPU and memory requests equal its limits.
    Guaranteed,
    /// Something is requested or limited, but not as `Guaranteed` requires.
    Burstable,
    /// Nothing is requested or limited.
    BestEffort,
}

impl QosClass {
    /// The class as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Guaranteed => "Guaranteed",
            Self::Burstable => "Burstable",
            Self::BestEffort => "BestEffort",
        }
    }
}

/// The resources whose requests and limits decide the class.
const QOS_RESOURCES: [&str; 2] = ["cpu", "memory"];

/// Adds the positive amounts of the QoS resources in `list` to `sums`; returns which of them
/// were present.
fn add_positive(
    sums: &mut BTreeMap<&'static str, Quantity>,
    list: Option<&BTreeMap<String, K8sQuantity>>,
) -> [bool; 2] {
    let mut present = [false; 2];
    let Some(list) = list else {
        return present;
    };
    for (i, name) in QOS_RESOURCES.iter().enumerate() {
        let Some(quantity) = list.get(*name).and_then(|q| Quantity::try_from(q).ok()) else {
            continue;
        };
        if quantity.signum() > 0 {
            present[i] = true;
            let sum = sums.entry(name).or_default();
            *sum = sum.checked_add(quantity).unwrap_or(*sum);
        }
    }
    present
}

/// The QoS class of a pod.
pub fn pod_qos_class(pod: &Pod) -> QosClass {
    let Some(spec) = pod.spec.as_ref() else {
        return QosClass::BestEffort;
    };
    let containers: Vec<&Container> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .collect();
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    let mut guaranteed = true;
    for container in containers {
        let resources = container.resources.as_ref();
        add_positive(&mut requests, resources.and_then(|r| r.requests.as_ref()));
        let limited = add_positive(&mut limits, resources.and_then(|r| r.limits.as_ref()));
        if limited != [true, true] {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return QosClass::BestEffort;
    }
    if guaranteed && requests == limits {
        QosClass::Guaranteed
    } else {
        QosClass::Burstable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(containers: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({"spec": {"containers": containers}})).unwrap()
    }

    #[test]
    fn no_requests_or_limits_is_best_effort() {
        assert_eq!(
            pod_qos_class(&pod(serde_json::json!([{"name": "a"}]))),
            QosClass::BestEffort
        );
    }

    #[test]
    fn requests_below_limits_are_burstable() {
        let p = pod(serde_json::json!([{"name": "a", "resources": {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"cpu": "1", "memory": "1Gi"}}}]));
        assert_eq!(pod_qos_class(&p), QosClass::Burstable);
    }

    #[test]
    fn equal_requests_and_limits_in_every_container_are_guaranteed() {
        let p = pod(serde_json::json!([
            {"name": "a", "resources": {"requests": {"cpu": "1000m", "memory": "1024Mi"},
                                        "limits": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "b", "resources": {"limits": {"cpu": "2", "memory": "2Gi"},
                                        "requests": {"cpu": "2", "memory": "2Gi"}}}]));
        assert_eq!(pod_qos_class(&p), QosClass::Guaranteed);
    }

    #[test]
    fn a_container_without_memory_limit_makes_the_pod_burstable() {
        let p = pod(serde_json::json!([
            {"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "b", "resources": {"limits": {"cpu": "1"}}}]));
        assert_eq!(pod_qos_class(&p), QosClass::Burstable);
    }
}
