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
//! A contribution is a list of `(slot, topology key, topology value, count)`: the slot says
//! which question (constraint, kind of count) it belongs to; a count of zero still makes the
//! domain exist (a domain with no matching pods counts for the minimum of topology
//! spreading). Totals are shared (`Arc`) with the cycle state that reads them and copied only
//! when a preemption dry run changes them.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::node_info::NodeInfo;
use crate::snapshot::Snapshot;

/// One node's contribution: `(slot, topology key, topology value, count)`. Keys and values are
/// best the node's own shared label strings ([`NodeInfo::label_shared`]): lookups then compare
/// memory the node's labels already brought into the cache.
pub type Contribution = Vec<(usize, Arc<str>, Arc<str>, i64)>;

pub use crate::fast_map::{FastHasher as TopologyHasher, FastMap};

/// The domains of one topology key: per value, the count and how many nodes make it exist.
type Domains = FastMap<Arc<str>, (i64, u32)>;

/// Per topology key and value: the count, and how many nodes make the domain exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotTotals {
    keys: FastMap<Arc<str>, Domains>,
}

impl SlotTotals {
    fn add(&mut self, key: &Arc<str>, value: &Arc<str>, count: i64) {
        let values = self.keys.entry(key.clone()).or_default();
        let entry = values.entry(value.clone()).or_insert((0, 0));
        entry.0 += count;
        entry.1 += 1;
    }

    fn remove(&mut self, key: &str, value: &str, count: i64) {
        let Some(values) = self.keys.get_mut(key) else {
            return;
        };
        if let Some(entry) = values.get_mut(value) {
            entry.0 -= count;
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 && entry.0 == 0 {
                values.remove(value);
            }
        }
        if values.is_empty() {
            self.keys.remove(key);
        }
    }

    /// Changes a domain's count by `delta` without a node (a pod added or removed in a
    /// preemption dry run); a domain left with no count and no node disappears.
    pub fn adjust(&mut self, key: &str, value: &str, delta: i64) {
        let values = match self.keys.get_mut(key) {
            Some(values) => values,
            None => self.keys.entry(Arc::from(key)).or_default(),
        };
        let entry = match values.get_mut(value) {
            Some(entry) => entry,
            None => values.entry(Arc::from(value)).or_insert((0, 0)),
        };
        entry.0 += delta;
        if entry.0 == 0 && entry.1 == 0 {
            values.remove(value);
            if values.is_empty() {
                self.keys.remove(key);
            }
        }
    }

    /// The count of a domain, `None` when it does not exist.
    pub fn get(&self, key: &str, value: &str) -> Option<i64> {
        self.keys.get(key)?.get(value).map(|(c, _)| *c)
    }

    /// The domains of a topology key and their counts.
    pub fn domains<'a>(&'a self, key: &str) -> impl Iterator<Item = (&'a str, i64)> + 'a {
        self.keys
            .get(key)
            .into_iter()
            .flat_map(|values| values.iter().map(|(v, (c, _))| (&**v, *c)))
    }

    /// How many domains a topology key has.
    pub fn domain_count(&self, key: &str) -> usize {
        self.keys.get(key).map_or(0, FastMap::len)
    }

    /// Whether some domain has a positive count.
    pub fn any_positive(&self) -> bool {
        self.keys
            .values()
            .any(|values| values.values().any(|(c, _)| *c > 0))
    }

    /// Whether one of the node's labels names a domain with a positive count.
    pub fn any_positive_for_node(&self, node: &NodeInfo) -> bool {
        self.keys.iter().any(|(key, values)| {
            node.label(key)
                .and_then(|v| values.get(v))
                .is_some_and(|(c, _)| *c > 0)
        })
    }
}

struct Entry {
    key: String,
    generations: Vec<u64>,
    contributions: Vec<Contribution>,
    totals: Vec<Arc<SlotTotals>>,
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
    ) -> Vec<Arc<SlotTotals>> {
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
                    totals: (0..slots)
                        .map(|_| Arc::new(SlotTotals::default()))
                        .collect(),
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
                for (slot, key, value, count) in &old {
                    Arc::make_mut(&mut entry.totals[*slot]).remove(key, value, *count);
                }
            }
        }
        for (i, generation) in generations.iter().enumerate() {
            if entry.generations.get(i) == Some(generation) {
                continue;
            }
            let fresh = contribute(&nodes[i]);
            for (slot, key, value, count) in &fresh {
                Arc::make_mut(&mut entry.totals[*slot]).add(key, value, *count);
            }
            if i < entry.generations.len() {
                let old = std::mem::replace(&mut entry.contributions[i], fresh);
                for (slot, key, value, count) in &old {
                    Arc::make_mut(&mut entry.totals[*slot]).remove(key, value, *count);
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
        let zone: Arc<str> = Arc::from(node.label("zone").unwrap_or_default());
        vec![(0, Arc::from("zone"), zone, node.pods().len() as i64)]
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
            (totals[0].get("zone", "z1"), totals[0].get("zone", "z2")),
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
        assert_eq!(totals[0].get("zone", "z1"), Some(1));
        assert_eq!(
            counted.load(Ordering::Relaxed),
            4,
            "only node b was recounted"
        );
        cache.remove_node("c");
        cache.update_snapshot(&mut snapshot);
        let totals = contributions.counts("k", 1, &snapshot, counting);
        assert_eq!(
            totals[0].get("zone", "z2"),
            None,
            "the zone of a removed node is gone"
        );
        assert_eq!(
            totals,
            contributions.counts("other-key", 1, &snapshot, count_pods)
        );
    }
}
