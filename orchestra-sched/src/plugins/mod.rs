//! The default plugins, with Kubernetes v1.33's semantics, reasons and score formulas.
//!
//! | plugin | extension points | what it decides |
//! |---|---|---|
//! | [`PrioritySort`](priority_sort) | QueueSort | higher priority first, then older |
//! | [`SchedulingGates`](scheduling_gates) | PreEnqueue | gated pods wait |
//! | [`NodeUnschedulable`](node_unschedulable) | Filter | cordoned nodes |
//! | [`NodeName`](node_name) | Filter | `spec.nodeName` |
//! | [`NodePorts`](node_ports) | PreFilter, Filter | free host ports |
//! | [`NodeResourcesFit`](node_resources_fit) | Filter, PreScore, Score | requests fit; LeastAllocated / MostAllocated / RequestedToCapacityRatio |
//! | [`NodeResourcesBalancedAllocation`](balanced_allocation) | PreScore, Score | even use of resources |
//! | [`NodeAffinity`](node_affinity) | PreFilter, Filter, PreScore, Score | node selector and node affinity |
//! | [`TaintToleration`](taint_toleration) | Filter, PreScore, Score | taints |
//! | [`InterPodAffinity`](inter_pod_affinity) | PreFilter, Filter, PreScore, Score | pod affinity and anti-affinity |
//! | [`PodTopologySpread`](pod_topology_spread) | PreFilter, Filter, PreScore, Score | spreading over topology domains |
//! | [`ImageLocality`](image_locality) | PreScore, Score | images already present |
//! | [`VolumeRestrictions`](volume_restrictions) | PreFilter, Filter | conflicting disks, ReadWriteOncePod |
//! | [`VolumeBinding`](volume_binding) | PreFilter, Filter, Reserve, PreBind | volumes' node affinity |
//! | [`DefaultPreemption`](default_preemption) | PostFilter | evicting lower-priority pods |
//! | [`DefaultBinder`](default_binder) | Bind | writes `pods/binding` |

pub mod balanced_allocation;
pub mod default_binder;
pub mod default_preemption;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_contributions;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod normalize_score;
pub mod pod_topology_spread;
pub mod priority_sort;
pub mod resource_allocation;
pub mod scheduling_gates;
pub mod taint_toleration;
pub mod topology_counts;
pub mod volume_binding;
pub mod volume_restrictions;

#[cfg(test)]
pub(crate) mod testing;

use std::sync::Arc;

use crate::config::ConfigError;
use crate::config::args::PluginArgs;
use crate::framework::{Handle, PluginInstance, Registry};

/// A default plugin's factory.
type Factory = fn(&PluginArgs<'_>, &Arc<Handle>) -> Result<PluginInstance, ConfigError>;

/// A registry with every default plugin under its Kubernetes name.
pub fn default_registry() -> Registry {
    let mut registry = Registry::new();
    let plugins: [(&str, Factory); 16] = [
        (priority_sort::NAME, priority_sort::factory),
        (scheduling_gates::NAME, scheduling_gates::factory),
        (node_unschedulable::NAME, node_unschedulable::factory),
        (node_name::NAME, node_name::factory),
        (node_ports::NAME, node_ports::factory),
        (node_resources_fit::NAME, node_resources_fit::factory),
        (balanced_allocation::NAME, balanced_allocation::factory),
        (node_affinity::NAME, node_affinity::factory),
        (taint_toleration::NAME, taint_toleration::factory),
        (inter_pod_affinity::NAME, inter_pod_affinity::factory),
        (pod_topology_spread::NAME, pod_topology_spread::factory),
        (image_locality::NAME, image_locality::factory),
        (volume_restrictions::NAME, volume_restrictions::factory),
        (volume_binding::NAME, volume_binding::factory),
        (default_preemption::NAME, default_preemption::factory),
        (default_binder::NAME, default_binder::factory),
    ];
    for (name, factory) in plugins {
        registry.replace(name, factory);
    }
    registry
}
