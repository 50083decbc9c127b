//! `MemoryKv`: the [`KvStore`] kept in memory, for tests and simulations.
//!
//! Its MVCC state is two structures behind one mutex: the key index (module `key_index`), every
//! retained version of every key with its value, which answers reads at the current or any
//! retained past revision, and the event log (module `event_log`) of every retained revision,
//! which feeds watchers. Compaction to revision `C` keeps, per key, the last version at or below
//! `C` (unless it is a tombstone) and every later one.
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

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;

use crate::event_log::{EventLog, watch_stream};
use crate::key_index::{KeyIndex, Version};
use crate::kv::{
    KeyValue, KvStore, Limits, Precondition, RangeRequest, RangeResponse, Result, Revision,
    StoreError, WatchEvent, WatchRequest, WatchStream, check_key,
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
    index: Mutex<KeyIndex<Bytes>>,
    log: Arc<EventLog>,
    options: MemoryOptions,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.log.close();
    }
}

/// The key-value a version of `key` describes; `None` for a tombstone.
fn to_kv(key: &Bytes, version: &Version<Bytes>) -> Option<KeyValue> {
    Some(KeyValue {
        key: key.clone(),
        value: version.value.clone()?,
        create_revision: version.create_revision,
        mod_revision: version.mod_revision,
        version: version.version,
    })
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
                index: Mutex::new(KeyIndex::new(revision, 0)),
                log: Arc::new(EventLog::new(revision, None)),
                options,
            }),
        }
    }

    fn index(&self) -> MutexGuard<'_, KeyIndex<Bytes>> {
        // Every write checks its preconditions before it mutates anything, and mutations
        // cannot panic halfway, so a poisoned lock still guards a consistent state.
        self.shared
            .index
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
        let mut index = self.index();
        let (prev, new) = index.write(key.clone(), value, precondition)?;
        let revision = new.mod_revision;
        let prev = prev.and_then(|prev| to_kv(&key, prev));
        let (result, event) = match (to_kv(&key, new), prev) {
            (Some(kv), prev) => (kv.clone(), WatchEvent::Put { kv, prev }),
            (None, Some(prev)) => (prev.clone(), WatchEvent::Delete { prev, revision }),
            // Unreachable: a deletion's precondition requires the key to exist.
            (None, None) => return Err(StoreError::NotFound { key }),
        };
        // Appended under the index lock, so the log's order is the revisions' order.
        self.shared.log.append([event]);
        if let Some(history) = self.shared.options.history_revisions {
            // Compact in steps of an eighth of the history, so the cost is amortized.
            let history = history.max(1);
            if revision - index.compacted() > history + history / 8 {
                self.compact_locked(&mut index, revision - history);
            }
        }
        Ok(result)
    }

    /// Compacts to `revision`, which must be above the compacted and at most the current one.
    fn compact_locked(&self, index: &mut KeyIndex<Bytes>, revision: Revision) {
        // The log holds every revision after the compacted one: it names the keys to visit.
        let changes = self.shared.log.changes_through(revision);
        index.compact(revision, changes.iter().map(|(r, key)| (*r, key.as_ref())));
        self.shared.log.trim_through(revision);
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
        Ok(self.index().revision())
    }

    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        let index = self.index();
        Ok(index
            .current(key)
            .and_then(|(key, version)| to_kv(key, version)))
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        let index = self.index();
        let (current, compacted) = (index.revision(), index.compacted());
        let revision = match request.revision {
            None => current,
            Some(revision) if revision <= 0 => current,
            Some(revision) if revision < compacted => {
                return Err(StoreError::Compacted {
                    requested: revision,
                    compacted,
                });
            }
            Some(revision) if revision > current => {
                return Err(StoreError::FutureRevision {
                    requested: revision,
                    current,
                });
            }
            Some(revision) => revision,
        };
        let page = index.range(&request, revision);
        Ok(RangeResponse {
            kvs: page
                .entries
                .into_iter()
                .filter_map(|(key, version)| to_kv(key, version))
                .collect(),
            more: page.more,
            revision,
        })
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
        let mut index = self.index();
        if revision <= index.compacted() {
            return Err(StoreError::Compacted {
                requested: revision,
                compacted: index.compacted(),
            });
        }
        if revision > index.revision() {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: index.revision(),
            });
        }
        self.compact_locked(&mut index, revision);
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
