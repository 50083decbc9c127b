//! The registered watchers of one cache, bucketed by the value their field selector pins the
//! kind's trigger field to — `spec.nodeName` for pods, `metadata.name` for other kinds — so
//! that a change is offered only to the watchers that could see it. This is what Kubernetes'
//! cacher does with its trigger functions: a node agent watches the pods of its node, and a
//! pod's change reaches that one agent instead of being matched against every node's watch.

use std::borrow::Cow;
use std::collections::HashMap;

use orchestra_api::{ArcObject, ResourceKind};

use super::{HistoryEntry, Watcher};

/// Every watcher of a cache.
pub(super) struct WatcherSet {
    /// The field whose exact value buckets watchers.
    trigger_field: &'static str,
    /// Watchers whose selector does not pin the trigger field: offered every change.
    everywhere: Vec<Watcher>,
    /// Watchers by the trigger field's value their selector requires.
    by_trigger: HashMap<String, Vec<Watcher>>,
}

impl WatcherSet {
    /// No watchers yet, for a cache of `kind`.
    pub(super) fn new(kind: &ResourceKind) -> Self {
        let trigger_field = if kind.group.is_empty() && kind.plural == "pods" {
            "spec.nodeName"
        } else {
            "metadata.name"
        };
        Self {
            trigger_field,
            everywhere: Vec::new(),
            by_trigger: HashMap::new(),
        }
    }

    /// Registers a watcher.
    pub(super) fn push(&mut self, watcher: Watcher) {
        let pinned = watcher
            .filter
            .fields
            .as_ref()
            .and_then(|fields| fields.exact_match(self.trigger_field))
            .map(str::to_owned);
        match pinned {
            Some(value) => self.by_trigger.entry(value).or_default().push(watcher),
            None => self.everywhere.push(watcher),
        }
    }

    /// Keeps the watchers for which `keep` answers true.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Watcher) -> bool) {
        self.everywhere.retain(&mut keep);
        self.by_trigger.retain(|_, bucket| {
            bucket.retain(&mut keep);
            !bucket.is_empty()
        });
    }

    /// Removes and yields every watcher.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = Watcher> + '_ {
        self.everywhere
            .drain(..)
            .chain(self.by_trigger.drain().flat_map(|(_, bucket)| bucket))
    }

    /// The number of registered watchers.
    pub(super) fn len(&self) -> usize {
        self.everywhere.len() + self.by_trigger.values().map(Vec::len).sum::<usize>()
    }

    /// Offers a change to every watcher that could see it, dropping the watchers that are
    /// closed or too far behind.
    pub(super) fn dispatch(&mut self, entry: &HistoryEntry) {
        let offer = |watcher: &Watcher| match entry.event_for(&watcher.filter) {
            Some(event) => watcher.offer(event),
            None => !watcher.tx.is_closed(),
        };
        self.everywhere.retain(offer);
        if self.by_trigger.is_empty() {
            return;
        }
        let now = self.trigger_value(&entry.object);
        let before = entry.prev.as_ref().and_then(|p| self.trigger_value(p));
        for value in [
            now.as_deref(),
            before.as_deref().filter(|b| Some(*b) != now.as_deref()),
        ]
        .into_iter()
        .flatten()
        {
            if let Some(bucket) = self.by_trigger.get_mut(value) {
                bucket.retain(offer);
                if bucket.is_empty() {
                    self.by_trigger.remove(value);
                }
            }
        }
    }

    /// The value of the trigger field of `object`, borrowed where the object holds it.
    fn trigger_value<'a>(&self, object: &'a ArcObject) -> Option<Cow<'a, str>> {
        object.field_value(self.trigger_field)
    }
}
