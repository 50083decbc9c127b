//! `FitError`: why no node fits a pod, in Kubernetes' words.
//!
//! The message counts each reason over all nodes, sorted as strings, after
//! `0/<nodes> nodes are available:` — for example
//! `0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had untolerated taint {gpu: true}.` —
//! followed by what preemption found (`preemption: 0/5 nodes are available: …`). When PreFilter
//! already rejected the pod, its message stands in for the per-node reasons.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::framework::NodeToStatus;

/// What the scheduler learned while failing to place a pod.
#[derive(Debug, Clone, Default)]
pub struct Diagnosis {
    /// Why each node was rejected.
    pub node_to_status: NodeToStatus,
    /// The plugins that rejected the pod (they decide which events retry it).
    pub unschedulable_plugins: BTreeSet<String>,
    /// The message of a rejecting PreFilter plugin.
    pub pre_filter_message: String,
    /// The message of PostFilter (preemption).
    pub post_filter_message: String,
}

/// No node fits the pod. `Display` gives Kubernetes' message.
#[derive(Debug, Clone, Default)]
pub struct FitError {
    /// How many nodes the cluster has.
    pub num_all_nodes: usize,
    /// The details.
    pub diagnosis: Diagnosis,
}

impl FitError {
    /// Nodes per reason.
    pub fn reason_histogram(&self) -> BTreeMap<String, usize> {
        self.diagnosis
            .node_to_status
            .reason_histogram(self.num_all_nodes)
    }
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0/{} nodes are available:", self.num_all_nodes)?;
        if !self.diagnosis.pre_filter_message.is_empty() {
            write!(f, " {}.", self.diagnosis.pre_filter_message)?;
        } else {
            let mut parts: Vec<String> = self
                .reason_histogram()
                .into_iter()
                .map(|(reason, count)| format!("{count} {reason}"))
                .collect();
            parts.sort();
            if !parts.is_empty() {
                write!(f, " {}.", parts.join(", "))?;
            }
        }
        if !self.diagnosis.post_filter_message.is_empty() {
            write!(f, " {}.", self.diagnosis.post_filter_message)?;
        }
        Ok(())
    }
}

impl std::error::Error for FitError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Status;

    #[test]
    fn message_counts_sorted_reasons() {
        let mut statuses = NodeToStatus::new();
        statuses.set(0, Status::unschedulable("Insufficient cpu"));
        statuses.set(1, Status::unschedulable("Insufficient cpu"));
        statuses.set(
            2,
            Status::unresolvable("node(s) had untolerated taint {gpu: true}"),
        );
        let error = FitError {
            num_all_nodes: 3,
            diagnosis: Diagnosis {
                node_to_status: statuses,
                post_filter_message: "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling".into(),
                ..Diagnosis::default()
            },
        };
        assert_eq!(
            error.to_string(),
            "0/3 nodes are available: 1 node(s) had untolerated taint {gpu: true}, 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
    }
}
