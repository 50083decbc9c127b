//! `NodeTree`: the order in which the scheduler visits nodes.
//!
//! Kubernetes lists nodes zone by zone in turn — the first node of each zone, then the second
//! of each, and so on — so that when only a share of the nodes is examined
//! (`percentageOfNodesToScore`), the examined nodes still spread over every zone. A node's zone
//! is its `topology.kubernetes.io/region` and `topology.kubernetes.io/zone` labels (or their
//! deprecated `failure-domain.beta.kubernetes.io` forms); nodes without them share one zone.

use std::collections::BTreeMap;

/// Node names grouped by zone, listed zone by zone in turn. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct NodeTree {
    zones: Vec<(String, Vec<String>)>,
    count: usize,
}

/// The zone key of a node's labels.
pub fn zone_key(labels: &BTreeMap<String, String>) -> String {
    let get = |key: &str, deprecated: &str| {
        labels
            .get(key)
            .or_else(|| labels.get(deprecated))
            .map(String::as_str)
            .unwrap_or("")
    };
    let region = get(
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/region",
    );
    let zone = get(
        "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/zone",
    );
    if region.is_empty() && zone.is_empty() {
        String::new()
    } else {
        format!("{region}:\x00:{zone}")
    }
}

impl NodeTree {
    /// Adds a node to its zone (no-op when already present there).
    pub fn add(&mut self, zone: &str, name: &str) {
        match self.zones.iter_mut().find(|(z, _)| z == zone) {
            Some((_, names)) => {
                if names.iter().any(|n| n == name) {
                    return;
                }
                names.push(name.to_owned());
            }
            None => self.zones.push((zone.to_owned(), vec![name.to_owned()])),
        }
        self.count += 1;
    }

    /// Removes a node from its zone; answers whether it was there.
    pub fn remove(&mut self, zone: &str, name: &str) -> bool {
        let Some(z) = self.zones.iter().position(|(z, _)| z == zone) else {
            return false;
        };
        let names = &mut self.zones[z].1;
        let Some(i) = names.iter().position(|n| n == name) else {
            return false;
        };
        names.remove(i);
        if names.is_empty() {
            self.zones.remove(z);
        }
        self.count -= 1;
        true
    }

    /// How many nodes the tree holds.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the tree holds no node.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The node names, zone by zone in turn.
    pub fn list(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.count);
        let mut round = 0;
        while out.len() < self.count {
            for (_, names) in &self.zones {
                if let Some(name) = names.get(round) {
                    out.push(name.clone());
                }
            }
            round += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_zones_in_turn() {
        let mut tree = NodeTree::default();
        for (zone, name) in [
            ("a", "a1"),
            ("a", "a2"),
            ("a", "a3"),
            ("b", "b1"),
            ("c", "c1"),
            ("c", "c2"),
        ] {
            tree.add(zone, name);
        }
        assert_eq!(tree.list(), ["a1", "b1", "c1", "a2", "c2", "a3"]);
        assert!(tree.remove("b", "b1"));
        assert_eq!(tree.list(), ["a1", "c1", "a2", "c2", "a3"]);
        assert_eq!(tree.len(), 5);
    }

    #[test]
    fn zone_key_uses_region_and_zone() {
        let labels = BTreeMap::from([
            ("topology.kubernetes.io/region".to_owned(), "eu".to_owned()),
            (
                "failure-domain.beta.kubernetes.io/zone".to_owned(),
                "eu-1".to_owned(),
            ),
        ]);
        assert_eq!(zone_key(&labels), "eu:\x00:eu-1");
        assert_eq!(zone_key(&BTreeMap::new()), "");
    }
}
