//! `TopologyCounts`: a number per topology pair (label key, label value), for the affinity and
//! spreading plugins. Nested maps so that lookups by `&str` need no allocation.

use std::collections::BTreeMap;

use crate::plugins::node_contributions::FastMap;

/// Counts per (topology key, topology value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopologyCounts {
    counts: FastMap<String, FastMap<String, i64>>,
}

impl TopologyCounts {
    /// Adds `delta` to a pair; a pair that reaches zero is removed.
    pub fn add(&mut self, key: &str, value: &str, delta: i64) {
        let values = match self.counts.get_mut(key) {
            Some(values) => values,
            None => self.counts.entry(key.to_owned()).or_default(),
        };
        let remove = match values.get_mut(value) {
            Some(count) => {
                *count += delta;
                *count == 0
            }
            None => {
                if delta != 0 {
                    values.insert(value.to_owned(), delta);
                }
                false
            }
        };
        if remove {
            values.remove(value);
            if values.is_empty() {
                self.counts.remove(key);
            }
        }
    }

    /// The count of a pair (0 when absent).
    pub fn get(&self, key: &str, value: &str) -> i64 {
        self.counts
            .get(key)
            .and_then(|v| v.get(value))
            .copied()
            .unwrap_or(0)
    }

    /// Whether no pair has a count.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Adds every pair of `other`.
    pub fn merge(&mut self, other: TopologyCounts) {
        if self.counts.is_empty() {
            *self = other;
            return;
        }
        for (key, values) in other.counts {
            for (value, count) in values {
                self.add(&key, &value, count);
            }
        }
    }

    /// The sum over the pairs whose key is a label of the node and value that label's value.
    pub fn sum_for_labels(&self, labels: &BTreeMap<String, String>) -> i64 {
        self.counts
            .iter()
            .filter_map(|(key, values)| labels.get(key).and_then(|v| values.get(v)))
            .sum()
    }

    /// Whether some label of the node names a pair with a positive count.
    pub fn any_positive_for_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        if self.counts.is_empty() {
            return false;
        }
        self.counts.iter().any(|(key, values)| {
            labels
                .get(key)
                .and_then(|v| values.get(v))
                .is_some_and(|c| *c > 0)
        })
    }
}
