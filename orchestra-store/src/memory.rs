//! `MemoryKv`: the [`KvStore`] kept in memory, for tests and simulations.
//!
//! Its MVCC state is two plain structures behind one mutex: a `BTreeMap` from each key to its
//! versions (ascending by `mod_revision`, a deletion being a tombstone version), which answers
//! reads at the current or any retained past revision, and the [event log](crate::event_log)
//! of every retained revision, which feeds watchers. Compaction to revision `C` keeps, per
//! key, the last version at or below `C` (unless it is a tombstone) and every later one.
//!
//! The history is bounded: with [`MemoryOptions::history_revisions`] set (the default), the
//! store compacts itself so that it keeps about that many past revisions, like etcd's
//! `--auto-compaction-mode=revision`.
//!
//! ```
//! use bytes::Bytes;
//! use futures::StreamExt;
//! use orchestra_store::{KvStore, MemoryKv, WatchEvent, WatchRequest};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> orchestra_store::Result<()> {
//! let store = MemoryKv::new();
//! let first = store.put(Bytes::from("/a"), Bytes::from("1")).await?;
//! store.delete(Bytes::from("/a"), Some(first.mod_revision)).await?;
//!
//! // Replay both changes from the first one's revision.
//! let mut watch = store.watch(WatchRequest::prefix("/").from_revision(first.mod_revision)).await?;
//! let put = watch.next().await.expect("a batch")?;
//! let delete = watch.next().await.expect("a batch")?;
//! assert!(matches!(&put.events[0], WatchEvent::Put { prev: None, .. }));
//! assert!(matches!(&delete.events[0], WatchEvent::Delete { prev, .. } if prev.value == "1"));
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;

use crate::event_log::{EventLog, watch_stream};
use crate::kv::{
    KeyValue, KvStore, Limits, Precondition, RangeRequest, RangeResponse, Result, Revision,
    StoreError, WatchBatch, WatchEvent, WatchRequest, WatchStream, check_key, prefix_end,
};

/// How the store is configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryOptions {
    /// Limits on what is written.
    pub limits: Limits,
    /// How many past revisions to keep for reads and watches at past revisions; older ones are
    /// compacted automatically. `None` keeps everything until [`KvStore::compact`].
    pub history_revisions: Option<i64>,
}

impl Default for MemoryOptions {
    fn default() -> Self {
        MemoryOptions {
            limits: Limits::default(),
            history_revisions: Some(100_000),
        }
    }
}

/// An in-memory [`KvStore`]; see the [module docs](self). Clones share the same store.
#[derive(Clone, Debug)]
pub struct MemoryKv {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    log: Arc<EventLog>,
    options: MemoryOptions,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.log.close();
    }
}

/// One version of a key.
#[derive(Clone, Debug)]
struct Version {
    mod_revision: Revision,
    create_revision: Revision,
    version: i64,
    /// `None` for the tombstone a deletion leaves.
    value: Option<Bytes>,
}

impl Version {
    fn to_kv(&self, key: &Bytes) -> Option<KeyValue> {
        let value = self.value.clone()?;
        Some(KeyValue {
            key: key.clone(),
            value,
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
        })
    }
}

#[derive(Debug)]
struct State {
    revision: Revision,
    compacted: Revision,
    /// Each key's versions, ascending by `mod_revision`; never empty.
    keys: BTreeMap<Bytes, Vec<Version>>,
    /// The key each revision after `compacted` changed, ascending: what compaction visits.
    changes: VecDeque<(Revision, Bytes)>,
}

impl MemoryKv {
    /// An empty store with the default options.
    pub fn new() -> Self {
        Self::with_options(MemoryOptions::default())
    }

    /// An empty store with `options`.
    pub fn with_options(options: MemoryOptions) -> Self {
        let revision = 1;
        MemoryKv {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    revision,
                    compacted: 0,
                    keys: BTreeMap::new(),
                    changes: VecDeque::new(),
                }),
                log: Arc::new(EventLog::new(revision, None)),
                options,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every write checks its preconditions before it mutates anything, and mutations
        // cannot panic halfway, so a poisoned lock still guards a consistent state.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies one write: checks `precondition`, then stores `value` (or a tombstone for
    /// `None`) at the next revision and publishes the event. Returns the new state (or, for a
    /// deletion, the deleted one).
    fn write(
        &self,
        key: Bytes,
        value: Option<Bytes>,
        precondition: Precondition,
    ) -> Result<KeyValue> {
        match &value {
            Some(value) => self.shared.options.limits.check(&key, value)?,
            None => check_key(&key)?,
        }
        let mut state = self.state();
        let revision = state.revision + 1;
        let versions = state.keys.entry(key.clone()).or_default();
        let current = versions.last().and_then(|version| version.to_kv(&key));
        if let Err(refused) = precondition.check(&key, current.as_ref()) {
            if versions.is_empty() {
                state.keys.remove(&key);
            }
            return Err(refused);
        }
        let (result, event) = match value {
            Some(value) => {
                let kv = KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: current.as_ref().map_or(revision, |c| c.create_revision),
                    mod_revision: revision,
                    version: current.as_ref().map_or(1, |c| c.version + 1),
                };
                versions.push(Version {
                    mod_revision: revision,
                    create_revision: kv.create_revision,
                    version: kv.version,
                    value: Some(value),
                });
                let event = WatchEvent::Put {
                    kv: kv.clone(),
                    prev: current,
                };
                (kv, event)
            }
            None => {
                let Some(prev) = current else {
                    // Unreachable: a deletion's precondition requires the key to exist.
                    return Err(StoreError::NotFound { key });
                };
                versions.push(Version {
                    mod_revision: revision,
                    create_revision: 0,
                    version: 0,
                    value: None,
                });
                let event = WatchEvent::Delete {
                    prev: prev.clone(),
                    revision,
                };
                (prev, event)
            }
        };
        state.revision = revision;
        state.changes.push_back((revision, key));
        // Appended under the state lock, so the log's order is the revisions' order.
        self.shared.log.append([WatchBatch {
            revision,
            events: vec![event],
        }]);
        if let Some(history) = self.shared.options.history_revisions {
            // Compact in steps of an eighth of the history, so the cost is amortized.
            let history = history.max(1);
            if revision - state.compacted > history + history / 8 {
                self.compact_locked(&mut state, revision - history);
            }
        }
        Ok(result)
    }

    /// Compacts to `revision`, which must be above the compacted and at most the current one.
    fn compact_locked(&self, state: &mut State, revision: Revision) {
        while state
            .changes
            .front()
            .is_some_and(|(changed, _)| *changed <= revision)
        {
            let Some((_, key)) = state.changes.pop_front() else {
                break;
            };
            let Some(versions) = state.keys.get_mut(&key) else {
                continue;
            };
            // Keep the last version at or below `revision` (the state then) and every later one.
            let visible = versions.partition_point(|version| version.mod_revision <= revision);
            if visible > 1 {
                versions.drain(..visible - 1);
            }
            if versions
                .first()
                .is_some_and(|first| first.mod_revision <= revision && first.value.is_none())
            {
                versions.remove(0);
            }
            if versions.is_empty() {
                state.keys.remove(&key);
            }
        }
        state.compacted = revision;
        self.shared.log.trim_through(revision);
    }

    /// The state of every key in `request`'s range, as of `revision`.
    fn range_locked(state: &State, request: &RangeRequest, revision: Revision) -> RangeResponse {
        let start = match &request.start_after {
            Some(after) if after.as_ref() >= request.prefix.as_ref() => {
                Bound::Excluded(after.as_ref())
            }
            _ => Bound::Included(request.prefix.as_ref()),
        };
        let end = prefix_end(&request.prefix);
        let end: Bound<&[u8]> = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let limit = request.limit.unwrap_or(usize::MAX);
        let mut kvs = Vec::new();
        let mut more = false;
        for (key, versions) in state.keys.range::<[u8], _>((start, end)) {
            let visible = if revision == state.revision {
                versions.last()
            } else {
                let count = versions.partition_point(|version| version.mod_revision <= revision);
                count.checked_sub(1).map(|last| &versions[last])
            };
            let Some(kv) = visible.and_then(|version| version.to_kv(key)) else {
                continue;
            };
            if kvs.len() == limit {
                more = true;
                break;
            }
            kvs.push(kv);
        }
        RangeResponse {
            kvs,
            more,
            revision,
        }
    }
}

impl Default for MemoryKv {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl KvStore for MemoryKv {
    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.state().revision)
    }

    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        let state = self.state();
        Ok(state
            .keys
            .get_key_value(key)
            .and_then(|(key, versions)| versions.last().and_then(|version| version.to_kv(key))))
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        let state = self.state();
        let revision = match request.revision {
            None => state.revision,
            Some(revision) if revision <= 0 => state.revision,
            Some(revision) if revision < state.compacted => {
                return Err(StoreError::Compacted {
                    requested: revision,
                    compacted: state.compacted,
                });
            }
            Some(revision) if revision > state.revision => {
                return Err(StoreError::FutureRevision {
                    requested: revision,
                    current: state.revision,
                });
            }
            Some(revision) => revision,
        };
        Ok(Self::range_locked(&state, &request, revision))
    }

    async fn create(&self, key: Bytes, value: Bytes) -> Result<KeyValue> {
        self.write(key, Some(value), Precondition::Absent)
    }

    async fn put(&self, key: Bytes, value: Bytes) -> Result<KeyValue> {
        self.write(key, Some(value), Precondition::Any)
    }

    async fn update(
        &self,
        key: Bytes,
        value: Bytes,
        expected_mod_revision: Revision,
    ) -> Result<KeyValue> {
        self.write(
            key,
            Some(value),
            Precondition::ModRevision(Some(expected_mod_revision)),
        )
    }

    async fn delete(
        &self,
        key: Bytes,
        expected_mod_revision: Option<Revision>,
    ) -> Result<KeyValue> {
        self.write(key, None, Precondition::ModRevision(expected_mod_revision))
    }

    async fn watch(&self, request: WatchRequest) -> Result<WatchStream> {
        let cursor = if request.start_revision > 0 {
            request.start_revision
        } else {
            self.shared.log.last_revision() + 1
        };
        Ok(watch_stream(
            self.shared.log.clone(),
            None,
            request.prefix,
            cursor,
        ))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let mut state = self.state();
        if revision <= state.compacted {
            return Err(StoreError::Compacted {
                requested: revision,
                compacted: state.compacted,
            });
        }
        if revision > state.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: state.revision,
            });
        }
        self.compact_locked(&mut state, revision);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use futures::StreamExt;
    use proptest::prelude::*;

    use super::*;

    /// Which `mod_revision` a conditional write expects.
    #[derive(Clone, Debug)]
    enum Expect {
        /// The key's current one (0 if absent): the write should succeed if the key exists.
        Current,
        /// An arbitrary one: usually stale.
        Other(Revision),
    }

    #[derive(Clone, Debug)]
    enum Op {
        Create(u8, u8),
        Put(u8, u8),
        Update(u8, u8, Expect),
        Delete(u8, Option<Expect>),
    }

    fn expect() -> impl Strategy<Value = Expect> {
        prop_oneof![Just(Expect::Current), (0i64..40).prop_map(Expect::Other)]
    }

    fn op() -> impl Strategy<Value = Op> {
        let key = 0u8..4;
        let value = 0u8..8;
        prop_oneof![
            (key.clone(), value.clone()).prop_map(|(k, v)| Op::Create(k, v)),
            (key.clone(), value.clone()).prop_map(|(k, v)| Op::Put(k, v)),
            (key.clone(), value, expect()).prop_map(|(k, v, e)| Op::Update(k, v, e)),
            (key, proptest::option::of(expect())).prop_map(|(k, e)| Op::Delete(k, e)),
        ]
    }

    fn key(k: u8) -> Bytes {
        Bytes::from(format!("/p/{k}"))
    }

    fn value(v: u8) -> Bytes {
        Bytes::from(format!("value-{v}"))
    }

    /// How a write failed, without the details.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Refusal {
        AlreadyExists,
        NotFound,
        Conflict,
    }

    fn refusal(error: &StoreError) -> Refusal {
        match error {
            StoreError::AlreadyExists { .. } => Refusal::AlreadyExists,
            StoreError::NotFound { .. } => Refusal::NotFound,
            StoreError::Conflict { .. } => Refusal::Conflict,
            other => panic!("unexpected error {other}"),
        }
    }

    /// The obviously correct model: the whole state after every revision, and the events.
    struct Model {
        states: Vec<BTreeMap<Bytes, KeyValue>>,
        events: Vec<WatchEvent>,
    }

    impl Model {
        fn new() -> Self {
            // Revision 0 and the initial revision 1 are both empty.
            Model {
                states: vec![BTreeMap::new(), BTreeMap::new()],
                events: Vec::new(),
            }
        }

        fn revision(&self) -> Revision {
            self.states.len() as Revision - 1
        }

        fn expected(&self, k: u8, expect: &Expect) -> Revision {
            match expect {
                Expect::Current => self.current(k).map_or(0, |kv| kv.mod_revision),
                Expect::Other(revision) => *revision,
            }
        }

        fn current(&self, k: u8) -> Option<&KeyValue> {
            self.states.last().and_then(|state| state.get(&key(k)))
        }

        fn apply(&mut self, op: &Op) -> std::result::Result<KeyValue, Refusal> {
            let (k, new_value) = match op {
                Op::Create(k, v) | Op::Put(k, v) | Op::Update(k, v, _) => (*k, Some(*v)),
                Op::Delete(k, _) => (*k, None),
            };
            let current = self.current(k).cloned();
            let refused = match (op, &current) {
                (Op::Create(..), Some(_)) => Some(Refusal::AlreadyExists),
                (Op::Update(..) | Op::Delete(..), None) => Some(Refusal::NotFound),
                (Op::Update(_, _, expect) | Op::Delete(_, Some(expect)), Some(current))
                    if current.mod_revision != self.expected(k, expect) =>
                {
                    Some(Refusal::Conflict)
                }
                _ => None,
            };
            if let Some(refused) = refused {
                return Err(refused);
            }
            let revision = self.revision() + 1;
            let mut state = self.states.last().cloned().unwrap_or_default();
            let result = match new_value {
                Some(v) => {
                    let kv = KeyValue {
                        key: key(k),
                        value: value(v),
                        create_revision: current.as_ref().map_or(revision, |c| c.create_revision),
                        mod_revision: revision,
                        version: current.as_ref().map_or(1, |c| c.version + 1),
                    };
                    state.insert(key(k), kv.clone());
                    self.events.push(WatchEvent::Put {
                        kv: kv.clone(),
                        prev: current,
                    });
                    kv
                }
                None => {
                    let prev = current.ok_or(Refusal::NotFound)?;
                    state.remove(&key(k));
                    self.events.push(WatchEvent::Delete {
                        prev: prev.clone(),
                        revision,
                    });
                    prev
                }
            };
            self.states.push(state);
            Ok(result)
        }
    }

    async fn run(store: &MemoryKv, op: &Op, model: &Model) -> Result<KeyValue> {
        match op {
            Op::Create(k, v) => store.create(key(*k), value(*v)).await,
            Op::Put(k, v) => store.put(key(*k), value(*v)).await,
            Op::Update(k, v, e) => {
                store
                    .update(key(*k), value(*v), model.expected(*k, e))
                    .await
            }
            Op::Delete(k, e) => {
                let expected = e.as_ref().map(|e| model.expected(*k, e));
                store.delete(key(*k), expected).await
            }
        }
    }

    fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    proptest! {
        /// Every answer, every past state and the automatic compaction agree with the model.
        #[test]
        fn random_operations_agree_with_a_model_at_every_revision(
            ops in proptest::collection::vec(op(), 1..60),
            history in 4i64..40,
        ) {
            block_on(async {
                let store = MemoryKv::with_options(MemoryOptions {
                    history_revisions: Some(history),
                    ..MemoryOptions::default()
                });
                let mut model = Model::new();
                let mut compacted = 0;
                for op in &ops {
                    let answer = run(&store, op, &model).await;
                    let expected = model.apply(op);
                    prop_assert_eq!(answer.as_ref().map_err(refusal), expected.as_ref().map_err(|r| *r), "{:?}", op);
                    let revision = model.revision();
                    if revision - compacted > history + history / 8 {
                        compacted = revision - history;
                    }
                }
                prop_assert_eq!(store.current_revision().await?, model.revision());
                for revision in 1..=model.revision() {
                    let listed = store.range(RangeRequest::prefix("/p/").at_revision(revision)).await;
                    if revision < compacted {
                        prop_assert!(matches!(listed, Err(StoreError::Compacted { .. })), "{listed:?}");
                    } else {
                        let expected: Vec<KeyValue> = model.states[revision as usize].values().cloned().collect();
                        prop_assert_eq!(listed?.kvs, expected, "at revision {}", revision);
                    }
                }
                Ok(())
            })?;
        }

        /// A watch from any retained revision replays exactly the committed sequence.
        #[test]
        fn watch_replays_exactly_the_committed_sequence(
            ops in proptest::collection::vec(op(), 1..60),
            start in 0usize..60,
        ) {
            block_on(async {
                let store = MemoryKv::new();
                let mut model = Model::new();
                for op in &ops {
                    let _ = run(&store, op, &model).await;
                    let _ = model.apply(op);
                }
                let start = start.min(model.events.len());
                let from = model.events.get(start).map_or(model.revision() + 1, WatchEvent::revision);
                let mut watch = store.watch(WatchRequest::prefix("/p/").from_revision(from)).await?;
                // A sentinel ends the replay: everything before it must be the model's suffix.
                let sentinel = store.put(Bytes::from("/p/~end"), Bytes::new()).await?;
                let mut replayed = Vec::new();
                while let Some(batch) = watch.next().await {
                    let batch = batch?;
                    if batch.revision == sentinel.mod_revision {
                        break;
                    }
                    replayed.extend(batch.events);
                }
                prop_assert_eq!(&replayed[..], &model.events[start..]);
                Ok(())
            })?;
        }
    }

    #[tokio::test]
    async fn a_watcher_that_falls_behind_the_history_gets_compacted() {
        let store = MemoryKv::with_options(MemoryOptions {
            history_revisions: Some(8),
            ..MemoryOptions::default()
        });
        let first = store.put(key(0), value(0)).await.expect("put");
        let mut watch = store
            .watch(WatchRequest::prefix("/p/").from_revision(first.mod_revision))
            .await
            .expect("watch");
        for v in 1..40 {
            store.put(key(0), value(v)).await.expect("put");
        }
        match watch.next().await {
            Some(Err(StoreError::Compacted {
                requested,
                compacted,
            })) => {
                assert_eq!(requested, first.mod_revision);
                assert!(compacted >= first.mod_revision);
            }
            other => panic!("a watcher left behind must learn it, got {other:?}"),
        }
        assert!(watch.next().await.is_none(), "and its watch ends");
    }

    #[tokio::test]
    async fn watches_end_when_the_store_is_dropped() {
        let store = MemoryKv::new();
        let mut watch = store.watch(WatchRequest::prefix("")).await.expect("watch");
        drop(store);
        assert!(matches!(
            watch.next().await,
            Some(Err(StoreError::Unavailable { .. }))
        ));
    }
}
