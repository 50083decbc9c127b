//! # orchestra-sched
//!
//! The scheduling framework (one trait per extension point, profiles, a per-cycle state), the
//! default plugins with Kubernetes' semantics, the scheduling queue, node snapshot, preemption
//! and binding, plus a pure `simulate` entry point that needs no control plane.

pub mod alibaba_trace;
pub mod cache;
pub mod cluster_objects;
pub mod config;
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
pub mod scheduling_queue;
pub mod simulate;
pub mod snapshot;
pub mod taints;

pub use cache::Cache;
pub use cluster_objects::ClusterObjects;
pub use node_info::NodeInfo;
pub use pod_info::PodInfo;
pub use simulate::{Outcome, Placement, PluginReason, Simulation, SimulationResult, simulate};
pub use snapshot::Snapshot;
