//! `NodeToStatus`: why each node was rejected in one scheduling attempt.
//!
//! Filter failures are recorded per node, by the node's position in the cycle's
//! [`Snapshot`]; nodes that were never evaluated (a PreFilter result excluded them, or
//! PreFilter rejected the pod outright) share one "absent" status. Preemption
//! reads it to find the nodes where evicting pods could help (those rejected as
//! `Unschedulable`), and the failure message counts its reasons.

use std::collections::BTreeMap;

use crate::fast_map::FastMap;

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
        self.count_reasons(num_all_nodes, |_| "")
            .into_iter()
            .map(|((_, r), n)| (r.to_owned(), n))
            .fold(BTreeMap::new(), |mut counts, (r, n)| {
                *counts.entry(r).or_default() += n;
                counts
            })
    }

    /// How many nodes each plugin rejected and for which reason: `(plugin, reason) → nodes`.
    pub fn plugin_reason_histogram(
        &self,
        num_all_nodes: usize,
    ) -> BTreeMap<(String, String), usize> {
        self.count_reasons(num_all_nodes, |s| s.plugin().unwrap_or(""))
            .into_iter()
            .map(|((p, r), n)| ((p.to_owned(), r.to_owned()), n))
            .collect()
    }

    /// Counts `(plugin_of(status), reason)` pairs over all nodes. Thousands of nodes usually
    /// share a handful of reasons, most often the very same string as the node before, so a
    /// pair equal (by address) to the previous one is counted without hashing.
    fn count_reasons<'a>(
        &'a self,
        num_all_nodes: usize,
        plugin_of: impl Fn(&'a Status) -> &'a str,
    ) -> Vec<((&'a str, &'a str), usize)> {
        let mut counts: Vec<((&str, &str), usize)> = Vec::new();
        let mut index: FastMap<(&str, &str), usize> = FastMap::default();
        // The previous pair's strings by address and length: the same addresses and lengths
        // are the same strings, without reading them.
        type Key = (*const u8, usize, *const u8, usize);
        let key_of =
            |pair: (&str, &str)| (pair.0.as_ptr(), pair.0.len(), pair.1.as_ptr(), pair.1.len());
        let mut last: Option<(Key, usize)> = None;
        let mut count = |pair: (&'a str, &'a str), n: usize| {
            let key = key_of(pair);
            if let Some((previous, i)) = last {
                if previous == key {
                    counts[i].1 += n;
                    return;
                }
            }
            let i = *index.entry(pair).or_insert_with(|| {
                counts.push((pair, 0));
                counts.len() - 1
            });
            counts[i].1 += n;
            last = Some((key, i));
        };
        for (_, status) in &self.entries {
            let plugin = plugin_of(status);
            for reason in status.reasons() {
                count((plugin, reason.as_str()), 1);
            }
        }
        let absent = num_all_nodes.saturating_sub(self.entries.len());
        if absent > 0 {
            let plugin = plugin_of(&self.absent);
            for reason in self.absent.reasons() {
                count((plugin, reason.as_str()), absent);
            }
        }
        counts
    }
}
