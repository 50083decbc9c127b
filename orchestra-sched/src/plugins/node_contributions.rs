//! `ContributionCache`: topology counts kept across scheduling cycles, recounting only the
//! nodes that changed.
//!
//! PodTopologySpread and InterPodAffinity count, for every pod they schedule, the matching pods
//! in every topology domain of the cluster — thousands of nodes and pods, for an answer that
//! differs from the previous pod's by the one node that pod went to. The count of a node
//! depends only on the node's state (its labels and pods) and on what is being counted, so the
//! cache keeps each node's contribution with the node's generation, and on the next pod with
//! the same question ([`ContributionCache::counts`] with the same key) recounts only nodes
//! whose generation differs in the snapshot ([`Snapshot::generations`]). The result is exactly
//! a full recount's.
//!
//! A contribution is a list of `(slot, topology value, count)`: the slot says which
//! constraint or topology key it belongs to; a count of zero still makes the domain exist (a
//! domain with no matching pods counts for the minimum of topology spreading).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::node_info::NodeInfo;
use crate::snapshot::Snapshot;

/// One node's contribution: `(slot, topology value, count)`.
pub type Contribution = Vec<(usize, String, i64)>;

/// Per slot and topology value: the count and how many nodes make the domain exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotTotals {
    domains: HashMap<String, (i64, u32)>,
}

impl SlotTotals {
    fn add(&mut self, value: &str, count: i64) {
        match self.domains.get_mut(value) {
            Some(entry) => {
                entry.0 += count;
                entry.1 += 1;
            }
            None => {
                self.domains.insert(value.to_owned(), (count, 1));
            }
        }
    }

    fn remove(&mut self, value: &str, count: i64) {
        if let Some(entry) = self.domains.get_mut(value) {
            entry.0 -= count;
            entry.1 -= 1;
            if entry.1 == 0 {
                self.domains.remove(value);
            }
        }
    }

    /// The domains and their counts.
    pub fn counts(&self) -> impl Iterator<Item = (&str, i64)> + '_ {
        self.domains.iter().map(|(v, (c, _))| (v.as_str(), *c))
    }

    /// The count of a domain, `None` when no node makes it exist.
    pub fn get(&self, value: &str) -> Option<i64> {
        self.domains.get(value).map(|(c, _)| *c)
    }

    /// How many domains exist.
    pub fn len(&self) -> usize {
        self.domains.len()
    }

    /// Whether no domain exists.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }
}

struct Entry {
    key: String,
    generations: Vec<u64>,
    contributions: Vec<Contribution>,
    totals: Vec<SlotTotals>,
    last_used: u64,
}

/// Counts per key, refreshed incrementally. See the module docs.
pub struct ContributionCache {
    entries: Mutex<(Vec<Entry>, u64)>,
    capacity: usize,
}

impl std::fmt::Debug for ContributionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContributionCache")
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl ContributionCache {
    /// A cache remembering the counts of up to `capacity` different questions.
    pub fn new(capacity: usize) -> ContributionCache {
        ContributionCache {
            entries: Mutex::new((Vec::new(), 0)),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, (Vec<Entry>, u64)> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The totals of `slots` slots over every node of `snapshot`, where `contribute` gives one
    /// node's contribution; `key` must identify everything `contribute` depends on besides the
    /// node.
    pub fn counts(
        &self,
        key: &str,
        slots: usize,
        snapshot: &Snapshot,
        contribute: impl Fn(&NodeInfo) -> Contribution,
    ) -> Vec<SlotTotals> {
        let mut guard = self.lock();
        let (entries, clock) = &mut *guard;
        *clock += 1;
        let now = *clock;
        let position = match entries.iter().position(|e| e.key == key) {
            Some(i) => i,
            None => {
                if entries.len() >= self.capacity {
                    if let Some(oldest) = entries
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, e)| e.last_used)
                        .map(|(i, _)| i)
                    {
                        entries.swap_remove(oldest);
                    }
                }
                entries.push(Entry {
                    key: key.to_owned(),
                    generations: Vec::new(),
                    contributions: Vec::new(),
                    totals: vec![SlotTotals::default(); slots],
                    last_used: now,
                });
                entries.len() - 1
            }
        };
        let entry = &mut entries[position];
        entry.last_used = now;
        let generations = snapshot.generations();
        let nodes = snapshot.nodes();
        // Nodes beyond the snapshot's end are gone.
        while entry.generations.len() > generations.len() {
            entry.generations.pop();
            if let Some(old) = entry.contributions.pop() {
                for (slot, value, count) in &old {
                    entry.totals[*slot].remove(value, *count);
                }
            }
        }
        for (i, generation) in generations.iter().enumerate() {
            if entry.generations.get(i) == Some(generation) {
                continue;
            }
            let fresh = contribute(&nodes[i]);
            for (slot, value, count) in &fresh {
                entry.totals[*slot].add(value, *count);
            }
            if i < entry.generations.len() {
                let old = std::mem::replace(&mut entry.contributions[i], fresh);
                for (slot, value, count) in &old {
                    entry.totals[*slot].remove(value, *count);
                }
                entry.generations[i] = *generation;
            } else {
                entry.contributions.push(fresh);
                entry.generations.push(*generation);
            }
        }
        entry.totals.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Cache;
    use crate::plugins::testing::{node_object_labeled, pod};
    use serde_json::json;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn count_pods(node: &NodeInfo) -> Contribution {
        let zone = node.labels().get("zone").cloned().unwrap_or_default();
        vec![(0, zone, node.pods().len() as i64)]
    }

    #[test]
    fn recounts_only_changed_nodes_and_equals_a_full_count() {
        let mut cache = Cache::new();
        for (name, zone) in [("a", "z1"), ("b", "z1"), ("c", "z2")] {
            cache.add_node(Arc::new(node_object_labeled(
                name,
                json!({"zone": zone}),
                json!({}),
                json!({}),
            )));
        }
        let mut snapshot = Snapshot::new();
        cache.update_snapshot(&mut snapshot);
        let counted = AtomicUsize::new(0);
        let counting = |n: &NodeInfo| {
            counted.fetch_add(1, Ordering::Relaxed);
            count_pods(n)
        };
        let contributions = ContributionCache::new(2);
        let totals = contributions.counts("k", 1, &snapshot, counting);
        assert_eq!(
            (totals[0].get("z1"), totals[0].get("z2")),
            (Some(0), Some(0))
        );
        assert_eq!(counted.load(Ordering::Relaxed), 3);
        let mut info = (*Arc::new(pod(json!({})))).clone();
        let mut object = (*info.pod).clone();
        object.spec.get_or_insert_with(Default::default).node_name = Some("b".into());
        info = crate::pod_info::PodInfo::new(object);
        cache.add_pod(Arc::new(info)).expect("add");
        cache.update_snapshot(&mut snapshot);
        let totals = contributions.counts("k", 1, &snapshot, counting);
        assert_eq!(totals[0].get("z1"), Some(1));
        assert_eq!(
            counted.load(Ordering::Relaxed),
            4,
            "only node b was recounted"
        );
        cache.remove_node("c");
        cache.update_snapshot(&mut snapshot);
        let totals = contributions.counts("k", 1, &snapshot, counting);
        assert_eq!(
            totals[0].get("z2"),
            None,
            "the zone of a removed node is gone"
        );
        assert_eq!(
            totals,
            contributions.counts("other-key", 1, &snapshot, count_pods)
        );
    }
}
