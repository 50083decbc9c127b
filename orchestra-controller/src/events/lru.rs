//! A bounded map that forgets its least recently used entry when full: the memory of the
//! event correlator, which must not grow with every object a long-running process ever
//! reported on (client-go bounds each of its caches at 4,096 entries the same way).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// A map of at most `capacity` entries; reading or writing an entry makes it the most
/// recently used, and inserting into a full map evicts the least recently used.
#[derive(Debug)]
pub(crate) struct Lru<K, V> {
    capacity: usize,
    tick: u64,
    entries: HashMap<K, (V, u64)>,
    /// Last use → key, oldest first.
    order: BTreeMap<u64, K>,
}

impl<K: Clone + Eq + Hash, V> Lru<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            tick: 0,
            entries: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    fn touch(&mut self, key: &K) -> u64 {
        self.tick += 1;
        if let Some((_, used)) = self.entries.get_mut(key) {
            self.order.remove(used);
            *used = self.tick;
            self.order.insert(self.tick, key.clone());
        }
        self.tick
    }

    /// The entry of `key`, now the most recently used.
    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.touch(key);
        self.entries.get_mut(key).map(|(value, _)| value)
    }

    /// Sets `key` to `value`, the most recently used; evicts the least recently used entry
    /// if the map is full.
    pub(crate) fn put(&mut self, key: K, value: V) {
        self.tick += 1;
        let tick = self.tick;
        if let Some((_, used)) = self.entries.insert(key.clone(), (value, tick)) {
            self.order.remove(&used);
        }
        self.order.insert(tick, key);
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_map_forgets_the_least_recently_used_entry() {
        let mut lru = Lru::new(2);
        lru.put("a", 1);
        lru.put("b", 2);
        assert_eq!(lru.get_mut(&"a"), Some(&mut 1), "a is now the most recent");
        lru.put("c", 3);
        assert_eq!(lru.len(), 2);
        assert!(lru.get_mut(&"b").is_none(), "b was the least recently used");
        assert_eq!(lru.get_mut(&"a"), Some(&mut 1));
        lru.put("a", 10);
        lru.put("d", 4);
        assert!(lru.get_mut(&"c").is_none());
        assert_eq!(lru.get_mut(&"a"), Some(&mut 10));
    }
}
