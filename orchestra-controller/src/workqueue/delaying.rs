//! The delayed half of the work queue: keys waiting for a point in time before they are
//! added ([`WorkQueue::add_after`](super::WorkQueue::add_after)).
//!
//! Each key waits at most once: adding a waiting key again keeps the earlier of the two
//! ready times (client-go's `delaying_queue`). There is no background task: whoever touches
//! the queue moves the keys whose time has come into the ready queue, and idle workers sleep
//! until the earliest ready time.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;

use tokio::time::Instant;

/// Keys waiting to be added, ordered by the instant they become ready.
#[derive(Debug)]
pub(crate) struct Waiting<K> {
    /// Min-heap on `(ready_at, seq)`. An entry whose `seq` no longer matches `by_key` was
    /// superseded by an earlier ready time and is skipped when it surfaces.
    heap: BinaryHeap<Entry<K>>,
    /// The live entry of each waiting key: its ready time and sequence number.
    by_key: HashMap<K, (Instant, u64)>,
    next_seq: u64,
}

#[derive(Debug)]
struct Entry<K> {
    ready_at: Instant,
    seq: u64,
    key: K,
}

impl<K> PartialEq for Entry<K> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<K> Eq for Entry<K> {}

impl<K> PartialOrd for Entry<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K> Ord for Entry<K> {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest entry first; ties go to
    /// the entry inserted first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.ready_at, other.seq).cmp(&(self.ready_at, self.seq))
    }
}

impl<K: Clone + Eq + Hash> Waiting<K> {
    pub(crate) fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
            by_key: HashMap::new(),
            next_seq: 0,
        }
    }

    /// Makes `key` wait until `ready_at`, or until its current ready time if that is earlier.
    pub(crate) fn insert(&mut self, key: K, ready_at: Instant) {
        if let Some(&(current, _)) = self.by_key.get(&key) {
            if current <= ready_at {
                return;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_key.insert(key.clone(), (ready_at, seq));
        self.heap.push(Entry { ready_at, seq, key });
        self.compact_if_mostly_stale();
    }

    /// Removes and returns the earliest key whose ready time is at or before `now`, with
    /// that ready time.
    pub(crate) fn pop_ready(&mut self, now: Instant) -> Option<(K, Instant)> {
        self.drop_stale_head();
        if self.heap.peek()?.ready_at > now {
            return None;
        }
        let entry = self.heap.pop()?;
        self.by_key.remove(&entry.key);
        Some((entry.key, entry.ready_at))
    }

    /// The earliest ready time of any waiting key.
    pub(crate) fn next_ready_at(&mut self) -> Option<Instant> {
        self.drop_stale_head();
        self.heap.peek().map(|entry| entry.ready_at)
    }

    /// Drops every waiting key.
    pub(crate) fn clear(&mut self) {
        self.heap.clear();
        self.by_key.clear();
    }

    fn is_live(&self, entry: &Entry<K>) -> bool {
        self.by_key
            .get(&entry.key)
            .is_some_and(|&(_, seq)| seq == entry.seq)
    }

    fn drop_stale_head(&mut self) {
        while let Some(head) = self.heap.peek() {
            if self.is_live(head) {
                return;
            }
            self.heap.pop();
        }
    }

    /// Keeps superseded entries from piling up when keys are re-added with ever earlier
    /// times: rebuilds the heap once more than half of it is stale.
    fn compact_if_mostly_stale(&mut self) {
        if self.heap.len() > 64 && self.heap.len() > 2 * self.by_key.len() {
            let heap = std::mem::take(&mut self.heap);
            self.heap = heap
                .into_iter()
                .filter(|entry| self.is_live(entry))
                .collect();
        }
    }
}

impl<K> Waiting<K> {
    /// How many keys are waiting.
    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn keys_become_ready_in_ready_time_order() {
        let t0 = Instant::now();
        let mut waiting = Waiting::new();
        waiting.insert("late", t0 + Duration::from_secs(2));
        waiting.insert("early", t0 + Duration::from_secs(1));
        assert_eq!(waiting.next_ready_at(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(waiting.pop_ready(t0), None);
        let at = t0 + Duration::from_secs(5);
        assert_eq!(waiting.pop_ready(at).map(|(k, _)| k), Some("early"));
        assert_eq!(waiting.pop_ready(at).map(|(k, _)| k), Some("late"));
        assert_eq!(waiting.pop_ready(at), None);
    }

    #[test]
    fn re_adding_a_waiting_key_keeps_the_earlier_ready_time() {
        let t0 = Instant::now();
        let mut waiting = Waiting::new();
        waiting.insert("a", t0 + Duration::from_secs(10));
        waiting.insert("a", t0 + Duration::from_secs(20));
        assert_eq!(waiting.next_ready_at(), Some(t0 + Duration::from_secs(10)));
        waiting.insert("a", t0 + Duration::from_secs(1));
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting.next_ready_at(), Some(t0 + Duration::from_secs(1)));
        let at = t0 + Duration::from_secs(30);
        assert_eq!(
            waiting.pop_ready(at),
            Some(("a", t0 + Duration::from_secs(1)))
        );
        assert_eq!(waiting.pop_ready(at), None, "the superseded entry is gone");
    }

    #[test]
    fn stale_entries_are_compacted() {
        let t0 = Instant::now();
        let mut waiting = Waiting::new();
        for i in (0..1000u64).rev() {
            waiting.insert("a", t0 + Duration::from_millis(i));
        }
        assert_eq!(waiting.len(), 1);
        assert!(
            waiting.heap.len() <= 130,
            "heap holds {}",
            waiting.heap.len()
        );
    }
}
