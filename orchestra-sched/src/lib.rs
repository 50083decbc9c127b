//! # orchestra-sched
//!
//! Kubernetes' scheduler as a library: the scheduling framework (one trait per extension
//! point, plugins by name, profiles from a `KubeSchedulerConfiguration` file, a per-cycle
//! state), the default plugins with Kubernetes v1.33's semantics, reasons and score formulas,
//! the scheduling queue, the node cache and its incremental snapshot, preemption and binding —
//! and [`simulate`], which runs all of it over nodes and pods you hold, with no control plane
//! and no async runtime.
//!
//! ```
//! use orchestra_sched::config::KubeSchedulerConfiguration;
//! use orchestra_sched::{simulate, Outcome};
//! use k8s_openapi::api::core::v1::{Node, Pod};
//!
//! let node = |name: &str, cpu: &str| -> Node {
//!     serde_json::from_value(serde_json::json!({
//!         "metadata": {"name": name},
//!         "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}
//!     })).unwrap()
//! };
//! let pod = |name: &str, cpu: &str| -> Pod {
//!     serde_json::from_value(serde_json::json!({
//!         "metadata": {"name": name, "namespace": "default"},
//!         "spec": {"containers": [{"name": "app", "image": "nginx",
//!             "resources": {"requests": {"cpu": cpu}}}]}
//!     })).unwrap()
//! };
//!
//! let result = simulate(
//!     [node("small", "1"), node("large", "4")],
//!     [pod("web", "500m"), pod("batch", "3"), pod("huge", "16")],
//!     &KubeSchedulerConfiguration::default_config(),
//! )?;
//! assert_eq!(result.placement("default/batch").unwrap().node.as_deref(), Some("large"));
//! let huge = result.placement("default/huge").unwrap();
//! assert_eq!(huge.outcome, Outcome::Unschedulable);
//! assert!(huge.message.as_deref().unwrap().starts_with("0/2 nodes are available: 2 Insufficient cpu."));
//! # Ok::<(), orchestra_sched::config::ConfigError>(())
//! ```
//!
//! ## Two ways in
//!
//! - [`simulate`] / [`Simulation`]: for researchers measuring algorithms on simulated clusters
//!   and traces ([`alibaba_trace`] reads the Alibaba GPU trace), and for platform teams
//!   embedding the algorithm over their own data. Deterministic for a seed.
//! - The scheduler loop over any `orchestra_api::Client` (in-process or over HTTP), selected by
//!   `spec.schedulerName`, which binds through `pods/binding`.
//!
//! ## Extending
//!
//! A plugin implements [`framework::Plugin`] and the traits of the extension points it cares
//! about ([`framework::FilterPlugin`], [`framework::ScorePlugin`],
//! [`framework::PermitPlugin`], …), is registered by name in a [`framework::Registry`], and is
//! enabled in a profile exactly as in kube-scheduler's configuration file. Filter and Score are
//! synchronous functions over a precomputed [`PodInfo`] and [`NodeInfo`] and run in parallel
//! across nodes; only PreBind, Bind and waiting in Permit are async.
//!
//! ## The predicates of old, by their current names
//!
//! The scheduler's earlier "predicates" and "priorities" are the default plugins now:
//!
//! | former name | plugin (extension point) |
//! |---|---|
//! | `PodFitsResources` | [`NodeResourcesFit`](plugins::node_resources_fit) (Filter) |
//! | `PodFitsPorts`, `PodFitsHostPorts` | [`NodePorts`](plugins::node_ports) (Filter) |
//! | `PodFitsHost`, `HostName` | [`NodeName`](plugins::node_name) (Filter) |
//! | `MatchNodeSelector` | [`NodeAffinity`](plugins::node_affinity) (Filter: `nodeSelector` and required node affinity) |
//! | `NoDiskConflict` | [`VolumeRestrictions`](plugins::volume_restrictions) (Filter) |
//! | `CheckNodeLabelPresence` | no plugin of its own: required node affinity with `Exists` / `DoesNotExist` ([`NodeAffinity`](plugins::node_affinity)), or NodeAffinity's `addedAffinity` to enforce it for a whole profile |
//! | `PodSelectorMatches` | [`NodeAffinity`](plugins::node_affinity) (the node selector) |
//! | `CheckServiceAffinity` | removed from Kubernetes; required pod affinity over a topology key ([`InterPodAffinity`](plugins::inter_pod_affinity)) expresses "place with the service's pods" |
//! | `LeastRequestedPriority`, `MostRequestedPriority`, `RequestedToCapacityRatioPriority` | [`NodeResourcesFit`](plugins::node_resources_fit) scoring strategies |
//! | `BalancedResourceAllocation` | [`NodeResourcesBalancedAllocation`](plugins::balanced_allocation) |
//! | `SelectorSpreadPriority` | [`PodTopologySpread`](plugins::pod_topology_spread)'s system default constraints |
//!
//! ## Map
//!
//! [`framework`] (traits, registry, runtime), [`config`] (the configuration file), [`plugins`]
//! (the defaults), [`cache`] and [`snapshot`] (what the scheduler knows of nodes),
//! [`scheduling_queue`], [`schedule_one`] (one attempt for one pod), [`simulate`].

pub mod alibaba_trace;
pub mod cache;
pub mod cluster_objects;
pub mod config;
pub mod fast_map;
pub mod fit_error;
pub mod framework;
pub mod node_info;
pub mod node_selector;
pub mod node_tree;
pub mod plugins;
pub mod pod_info;
pub mod profiles;
pub mod random;
pub mod resources;
pub mod schedule_one;
pub mod scheduler;
pub mod scheduling_queue;
pub mod simulate;
pub mod snapshot;
pub mod taints;

pub use cache::Cache;
pub use cluster_objects::ClusterObjects;
pub use node_info::NodeInfo;
pub use pod_info::PodInfo;
pub use scheduler::Scheduler;
pub use simulate::{Outcome, Placement, PluginReason, Simulation, SimulationResult, simulate};
pub use snapshot::Snapshot;
