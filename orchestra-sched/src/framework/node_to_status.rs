//! `NodeToStatus`: why each node was rejected in one scheduling attempt.
//!
//! Filter failures are recorded per node, by the node's position in the cycle's
//! [`Snapshot`]; nodes that were never evaluated (a PreFilter result excluded them, or
//! PreFilter rejected the pod outright) share one "absent" status. Preemption
//! reads it to find the nodes where evicting pods could help (those rejected as
//! `Unschedulable`), and the failure message counts its reasons.

use std::collections::{BTreeMap, HashMap};

use crate::framework::status::{Code, Status};
use crate::node_info::NodeInfo;
use crate::snapshot::Snapshot;

/// Per-node statuses of one attempt, plus the status of nodes absent from it.
#[derive(Debug, Clone)]
pub struct NodeToStatus {
    entries: Vec<(usize, Status)>,
    absent: Status,
}

impl Default for NodeToStatus {
    fn default() -> NodeToStatus {
        NodeToStatus::new()
    }
}

impl NodeToStatus {
    /// Empty, with absent nodes `UnschedulableAndUnresolvable` without a reason (Kubernetes'
    /// `NewDefaultNodeToStatus`).
    pub fn new() -> NodeToStatus {
        NodeToStatus {
            entries: Vec::new(),
            absent: Status::code_only(Code::UnschedulableAndUnresolvable),
        }
    }

    /// Records the status of the node at `index` of the snapshot. Each node is recorded once
    /// per attempt (the scheduler evaluates a node once), so this does not look for an earlier
    /// entry.
    pub fn set(&mut self, index: usize, status: Status) {
        self.entries.push((index, status));
    }

    /// Sets the status of nodes not recorded.
    pub fn set_absent(&mut self, status: Status) {
        self.absent = status;
    }

    /// The status of nodes not recorded.
    pub fn absent(&self) -> &Status {
        &self.absent
    }

    /// The status of the node at `index`: recorded, or the absent one.
    pub fn get(&self, index: usize) -> &Status {
        self.entries
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, s)| s)
            .unwrap_or(&self.absent)
    }

    /// How many nodes are recorded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no node is recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The recorded node indices and statuses.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Status)> + '_ {
        self.entries.iter().map(|(n, s)| (*n, s))
    }

    /// The nodes of `snapshot` whose status has `code`, absent nodes included when the absent
    /// status has it (Kubernetes' `NodesForStatusCode`).
    pub fn nodes_for_status_code<'s>(
        &self,
        snapshot: &'s Snapshot,
        code: Code,
    ) -> Vec<&'s NodeInfo> {
        if self.absent.code() == code {
            let mut recorded = vec![None; snapshot.len()];
            for (i, s) in &self.entries {
                if let Some(slot) = recorded.get_mut(*i) {
                    *slot = Some(s.code());
                }
            }
            snapshot
                .nodes()
                .iter()
                .zip(recorded)
                .filter(|(_, c)| c.unwrap_or(code) == code)
                .map(|(n, _)| n)
                .collect()
        } else {
            self.entries
                .iter()
                .filter(|(_, s)| s.code() == code)
                .filter_map(|(i, _)| snapshot.nodes().get(*i))
                .collect()
        }
    }

    /// How many nodes gave each reason, absent ones counted with the absent status's reasons
    /// (`num_all_nodes` is how many nodes there are in all).
    pub fn reason_histogram(&self, num_all_nodes: usize) -> BTreeMap<String, usize> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for (_, status) in &self.entries {
            for reason in status.reasons() {
                *counts.entry(reason).or_default() += 1;
            }
        }
        let absent = num_all_nodes.saturating_sub(self.entries.len());
        if absent > 0 {
            for reason in self.absent.reasons() {
                *counts.entry(reason).or_default() += absent;
            }
        }
        counts.into_iter().map(|(r, n)| (r.to_owned(), n)).collect()
    }

    /// How many nodes each plugin rejected and for which reason: `(plugin, reason) → nodes`.
    pub fn plugin_reason_histogram(
        &self,
        num_all_nodes: usize,
    ) -> BTreeMap<(String, String), usize> {
        let mut counts: HashMap<(&str, &str), usize> = HashMap::new();
        for (_, status) in &self.entries {
            let plugin = status.plugin().unwrap_or("");
            for reason in status.reasons() {
                *counts.entry((plugin, reason)).or_default() += 1;
            }
        }
        let absent = num_all_nodes.saturating_sub(self.entries.len());
        if absent > 0 {
            let plugin = self.absent.plugin().unwrap_or("");
            for reason in self.absent.reasons() {
                *counts.entry((plugin, reason)).or_default() += absent;
            }
        }
        counts
            .into_iter()
            .map(|((p, r), n)| ((p.to_owned(), r.to_owned()), n))
            .collect()
    }
}
