//! The ready half of the work queue: a FIFO of keys that deduplicates while keys wait and
//! keeps a key away from a second worker while one holds it (client-go's `queue.go`).
//!
//! Three sets describe every key the queue knows:
//!
//! - *dirty*: the key needs processing (it was added and no worker has taken it since);
//! - *processing*: a worker holds the key (between `pop` and `done`);
//! - *fifo*: the order in which dirty keys that no worker holds are handed out.
//!
//! A key in the FIFO is always dirty and never processing. A key that is both dirty and
//! processing was re-added while a worker held it: it joins the FIFO when that worker is done.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

/// What [`Queue::add`] did with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Added {
    /// The key was already waiting for a worker: nothing changed.
    AlreadyQueued,
    /// A worker holds the key: it joins the FIFO when that worker is done.
    AfterDone,
    /// The key joined the back of the FIFO.
    Queued,
}

/// What [`Queue::done`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Finished {
    /// How long the worker held the key.
    pub(crate) held_for: Duration,
    /// Whether the key was re-added meanwhile and is back in the FIFO.
    pub(crate) requeued: bool,
}

/// The deduplicating FIFO with its processing set.
#[derive(Debug)]
pub(crate) struct Queue<K> {
    fifo: VecDeque<K>,
    /// Dirty keys, with the instant each was added (for the queue-duration metric).
    dirty: HashMap<K, Instant>,
    /// Keys held by a worker, with the instant it took each.
    processing: HashMap<K, Instant>,
}

impl<K: Clone + Eq + Hash> Queue<K> {
    pub(crate) fn new() -> Self {
        Self {
            fifo: VecDeque::new(),
            dirty: HashMap::new(),
            processing: HashMap::new(),
        }
    }

    /// Marks `key` as needing processing; `added_at` starts its queue-duration clock.
    pub(crate) fn add(&mut self, key: K, added_at: Instant) -> Added {
        if self.dirty.contains_key(&key) {
            return Added::AlreadyQueued;
        }
        let in_flight = self.processing.contains_key(&key);
        if in_flight {
            self.dirty.insert(key, added_at);
            Added::AfterDone
        } else {
            self.dirty.insert(key.clone(), added_at);
            self.fifo.push_back(key);
            Added::Queued
        }
    }

    /// Hands the front key to a worker, with how long it waited since it was added.
    pub(crate) fn pop(&mut self, now: Instant) -> Option<(K, Duration)> {
        let key = self.fifo.pop_front()?;
        let waited = self.dirty.remove(&key).map_or(Duration::ZERO, |added_at| {
            now.saturating_duration_since(added_at)
        });
        self.processing.insert(key.clone(), now);
        Some((key, waited))
    }

    /// Releases `key` from its worker; `None` if no worker held it.
    pub(crate) fn done(&mut self, key: &K, now: Instant) -> Option<Finished> {
        let (key, taken_at) = self.processing.remove_entry(key)?;
        let requeued = self.dirty.contains_key(&key);
        if requeued {
            self.fifo.push_back(key);
        }
        Some(Finished {
            held_for: now.saturating_duration_since(taken_at),
            requeued,
        })
    }

    /// The total and the longest time the keys in flight have been held so far.
    pub(crate) fn unfinished_work(&self, now: Instant) -> (Duration, Duration) {
        self.processing
            .values()
            .map(|&taken_at| now.saturating_duration_since(taken_at))
            .fold((Duration::ZERO, Duration::ZERO), |(sum, longest), held| {
                (sum.saturating_add(held), longest.max(held))
            })
    }
}

impl<K> Queue<K> {
    /// Keys ready for a worker now.
    pub(crate) fn len(&self) -> usize {
        self.fifo.len()
    }

    /// Keys added and not yet handed out, including re-adds of keys in flight.
    pub(crate) fn depth(&self) -> usize {
        self.dirty.len()
    }

    /// Keys a worker holds.
    pub(crate) fn in_flight(&self) -> usize {
        self.processing.len()
    }

    /// No key is ready and no worker holds one: nothing is left to do.
    pub(crate) fn is_idle(&self) -> bool {
        self.fifo.is_empty() && self.processing.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_a_waiting_key_again_changes_nothing() {
        let now = Instant::now();
        let mut queue = Queue::new();
        assert_eq!(queue.add("a", now), Added::Queued);
        assert_eq!(queue.add("b", now), Added::Queued);
        assert_eq!(queue.add("a", now), Added::AlreadyQueued);
        assert_eq!(queue.len(), 2);
        assert_eq!(
            queue.pop(now).map(|(k, _)| k),
            Some("a"),
            "first added first"
        );
    }

    #[test]
    fn key_re_added_in_flight_returns_to_the_back_when_done() {
        let now = Instant::now();
        let mut queue = Queue::new();
        queue.add("a", now);
        let (a, _) = queue.pop(now).expect("a is ready");
        assert_eq!(queue.add("a", now), Added::AfterDone);
        queue.add("b", now);
        assert_eq!(queue.len(), 1, "only b is ready while a is in flight");
        assert_eq!(queue.depth(), 2);
        let finished = queue.done(&a, now).expect("a was in flight");
        assert!(finished.requeued);
        assert_eq!(queue.pop(now).map(|(k, _)| k), Some("b"));
        assert_eq!(queue.pop(now).map(|(k, _)| k), Some("a"));
    }

    #[test]
    fn done_on_a_key_nobody_holds_is_ignored() {
        let now = Instant::now();
        let mut queue = Queue::new();
        queue.add("a", now);
        assert_eq!(queue.done(&"a", now), None);
        assert_eq!(queue.len(), 1, "no duplicate in the FIFO");
    }
}
