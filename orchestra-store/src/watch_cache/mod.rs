//! `WatchCache`: the current objects of one kind, their indexes and a window of recent
//! changes, kept in memory and fed, in revision order, from the store's watch.
//!
//! It answers get, list and watch without touching the store, as Kubernetes' cacher does:
//! - objects are shared as [`ArcObject`]s (decoded once per write, then shared by every
//!   reader and watcher);
//! - lists are consistent at the cache's revision and can be narrowed by namespace, labels,
//!   fields and indexes (pods by `spec.nodeName`, plus user-defined indexers);
//! - a watch can start from any revision still in the ring of recent events (older ones get
//!   410 Expired, so the client re-lists), or from "now" with the current objects replayed as
//!   `ADDED` events;
//! - every watcher has its own bounded queue: one that falls behind is closed with an error
//!   instead of slowing the others; bookmarks are sent on request and periodically.
//!
//! ```
//! use std::sync::Arc;
//! use orchestra_api::{kinds, k8s_openapi::api::core::v1::Pod, ArcObject};
//! use orchestra_store::watch_cache::{Filter, WatchCache, WatchCacheConfig};
//!
//! let cache = WatchCache::new(kinds::PODS.clone(), WatchCacheConfig::default());
//! let mut pod = Pod::default();
//! pod.metadata.name = Some("web".into());
//! pod.metadata.namespace = Some("default".into());
//! pod.metadata.resource_version = Some("7".into());
//! cache.apply(7, "default/web", Some(Arc::new(pod) as ArcObject));
//! assert_eq!(cache.revision(), 7);
//! assert_eq!(cache.list(&Filter::everything(), None, None).items.len(), 1);
//! assert!(cache.get("default", "web").is_some());
//! ```

mod filter;
mod index;
mod watchers;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use futures::StreamExt;
use orchestra_api::client::initial_events_end_annotations;
use orchestra_api::watch::{Bookmark, BookmarkMeta};
use orchestra_api::{ArcObject, ResourceKind, Status, WatchEvent, WatchStream};
use tokio::sync::{mpsc, watch};

pub use filter::Filter;
pub use index::{IndexFn, Indexer};

use index::Indexes;
use watchers::WatcherSet;

/// Tuning of a watch cache.
#[derive(Debug, Clone)]
pub struct WatchCacheConfig {
    /// How many recent events the ring keeps for watches that start in the past.
    pub history_capacity: usize,
    /// How many events may wait in one watcher's queue before it is closed as too slow.
    pub watcher_queue_capacity: usize,
}

impl Default for WatchCacheConfig {
    fn default() -> Self {
        Self {
            history_capacity: 10_000,
            watcher_queue_capacity: 1_024,
        }
    }
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One change in the ring: the object after it (for deletes, its last state at the delete's
/// revision) and before it.
#[derive(Debug, Clone)]
struct HistoryEntry {
    revision: i64,
    change: ChangeType,
    object: ArcObject,
    prev: Option<ArcObject>,
}

impl HistoryEntry {
    /// The event a watcher with `filter` sees for this change, if any. A modification that
    /// makes an object leave the filter is a `DELETED`, one that makes it enter an `ADDED`.
    fn event_for(&self, filter: &Filter) -> Option<WatchEvent<ArcObject>> {
        let now = filter.matches(&*self.object);
        let before = self.prev.as_deref().is_some_and(|p| filter.matches(p));
        match self.change {
            ChangeType::Added if now => Some(WatchEvent::Added(self.object.clone())),
            ChangeType::Modified if now && before => {
                Some(WatchEvent::Modified(self.object.clone()))
            }
            ChangeType::Modified if now => Some(WatchEvent::Added(self.object.clone())),
            ChangeType::Modified if before => Some(WatchEvent::Deleted(self.object.clone())),
            ChangeType::Deleted if now => Some(WatchEvent::Deleted(self.object.clone())),
            _ => None,
        }
    }
}

/// A registered watcher.
struct Watcher {
    filter: Filter,
    bookmarks: bool,
    tx: mpsc::Sender<WatchEvent<ArcObject>>,
    /// Set when the cache closes this watcher; the stream yields it as its last event.
    closed_with: Arc<OnceLock<Status>>,
}

impl Watcher {
    /// Queues an event; a full queue closes the watcher. Returns whether it is still open.
    fn offer(&self, event: WatchEvent<ArcObject>) -> bool {
        match self.tx.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                let _ = self.closed_with.set(Status::timeout(
                    "the watcher fell too far behind and was closed; re-watch from the last resourceVersion received",
                ));
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// The cache's contents, guarded by one lock.
struct State {
    revision: i64,
    /// Objects by key (`namespace/name`, or `name` for cluster-scoped kinds): sorted, so a
    /// namespace is a range and pages continue after a key.
    objects: BTreeMap<String, ArcObject>,
    indexes: Indexes,
    history: VecDeque<HistoryEntry>,
    /// The oldest revision a watch may start from (events after it are all in the ring).
    oldest_watchable: i64,
}

/// One page of a list from the cache.
#[derive(Debug, Clone)]
pub struct CacheList {
    /// The revision the list is consistent at.
    pub revision: i64,
    /// The objects, in key order.
    pub items: Vec<ArcObject>,
    /// The key of the last item when more items remain.
    pub continue_after: Option<String>,
    /// How many matching items remain after this page.
    pub remaining: usize,
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchStart {
    /// Replay the current objects as `ADDED` events, then every later change.
    Now,
    /// Every change after this revision.
    After(i64),
}

/// Shared state of a watch cache.
struct Inner {
    kind: ResourceKind,
    config: WatchCacheConfig,
    state: RwLock<State>,
    watchers: Mutex<WatcherSet>,
    revision_tx: watch::Sender<i64>,
}

/// The in-memory cache of one kind. Cheap to clone (shared).
#[derive(Clone)]
pub struct WatchCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WatchCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchCache")
            .field("kind", &self.inner.kind.kind)
            .field("revision", &self.revision())
            .finish_non_exhaustive()
    }
}

/// The cache key of an object: `namespace/name`, or `name` for cluster-scoped kinds.
pub fn object_key(kind: &ResourceKind, namespace: &str, name: &str) -> String {
    if kind.is_namespaced() {
        format!("{namespace}/{name}")
    } else {
        name.to_owned()
    }
}

impl WatchCache {
    /// An empty cache for `kind` at revision 0. Pods are indexed by `spec.nodeName`.
    pub fn new(kind: ResourceKind, config: WatchCacheConfig) -> Self {
        let mut indexes = Indexes::default();
        if kind.group.is_empty() && kind.plural == "pods" {
            indexes.add(Indexer::field("spec.nodeName"));
        }
        let (revision_tx, _) = watch::channel(0);
        let watchers = Mutex::new(WatcherSet::new(&kind));
        Self {
            inner: Arc::new(Inner {
                kind,
                config,
                state: RwLock::new(State {
                    revision: 0,
                    objects: BTreeMap::new(),
                    indexes,
                    history: VecDeque::new(),
                    oldest_watchable: 0,
                }),
                watchers,
                revision_tx,
            }),
        }
    }

    /// The kind this cache holds.
    pub fn kind(&self) -> &ResourceKind {
        &self.inner.kind
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn watchers(&self) -> std::sync::MutexGuard<'_, WatcherSet> {
        self.inner
            .watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a user-defined index, built over the current objects at once.
    pub fn add_indexer(&self, indexer: Indexer) {
        let mut state = self.write();
        let State {
            objects, indexes, ..
        } = &mut *state;
        indexes.add_with(indexer, objects.iter());
    }

    /// The revision of the last change applied.
    pub fn revision(&self) -> i64 {
        self.read().revision
    }

    /// The number of objects cached.
    pub fn len(&self) -> usize {
        self.read().objects.len()
    }

    /// Whether the cache holds no objects.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces the whole contents (the initial list, or a re-list after the store's watch
    /// broke). Every watcher is closed with 410 Expired, as its view can no longer be
    /// continued.
    pub fn replace(&self, objects: Vec<(String, ArcObject)>, revision: i64) {
        {
            let mut guard = self.write();
            let state = &mut *guard;
            state.objects = objects.into_iter().collect();
            state.indexes.rebuild(state.objects.iter());
            state.history.clear();
            state.revision = revision;
            state.oldest_watchable = revision;
        }
        self.close_all(Status::expired(
            "the watch cache was re-initialized; re-list and watch again",
        ));
        self.inner.revision_tx.send_replace(revision);
    }

    /// Notes that every change of this kind up to `revision` has been applied (the store's
    /// revision moved on through writes to other kinds).
    pub fn advance(&self, revision: i64) {
        let mut state = self.write();
        if revision > state.revision {
            state.revision = revision;
            if state.history.is_empty() {
                state.oldest_watchable = revision;
            }
            drop(state);
            self.inner.revision_tx.send_replace(revision);
        }
    }

    /// Applies one change at `revision` (which must be newer than the cache's): `Some` puts
    /// the object under `key`, `None` deletes it. The object's `resourceVersion` must already
    /// be `revision`. Every watcher whose filter the change concerns gets its event.
    pub fn apply(&self, revision: i64, key: &str, object: Option<ArcObject>) {
        let mut state = self.write();
        if revision <= state.revision {
            tracing::warn!(
                revision,
                current = state.revision,
                key,
                "ignoring an out-of-order change"
            );
            return;
        }
        let prev = match &object {
            Some(obj) => state.objects.insert(key.to_owned(), obj.clone()),
            None => state.objects.remove(key),
        };
        let entry = match (object, prev) {
            (Some(obj), prev) => {
                state.indexes.update(key, prev.as_deref(), Some(&*obj));
                HistoryEntry {
                    revision,
                    change: if prev.is_some() {
                        ChangeType::Modified
                    } else {
                        ChangeType::Added
                    },
                    object: obj,
                    prev,
                }
            }
            (None, Some(prev)) => {
                state.indexes.update(key, Some(&*prev), None);
                let mut last = prev.clone_object();
                last.metadata_mut().resource_version = Some(revision.to_string());
                HistoryEntry {
                    revision,
                    change: ChangeType::Deleted,
                    object: Arc::from(last),
                    prev: Some(prev),
                }
            }
            (None, None) => {
                // Deleting what the cache never saw: nothing to tell anyone.
                state.revision = revision;
                drop(state);
                self.inner.revision_tx.send_replace(revision);
                return;
            }
        };
        state.revision = revision;
        if state.history.len() == self.inner.config.history_capacity
            && let Some(evicted) = state.history.pop_front()
        {
            state.oldest_watchable = evicted.revision;
        }
        if self.inner.config.history_capacity > 0 {
            state.history.push_back(entry.clone());
        } else {
            state.oldest_watchable = revision;
        }
        // Dispatch while still holding the state lock, so that a watch registering
        // concurrently sees either this change in the ring or gets it from its queue.
        self.dispatch(&entry);
        drop(state);
        self.inner.revision_tx.send_replace(revision);
    }

    /// Records that the value written under `key` at `revision` could not be decoded: a
    /// previous version leaves the cache (watchers that saw it get `DELETED`), and every
    /// watcher that could see the key gets `status` as an `ERROR` event, which ends its
    /// watch as Kubernetes' etcd watcher does; re-watching from the last resourceVersion it
    /// received continues past the undecodable write.
    pub fn apply_undecodable(&self, revision: i64, key: &str, status: Status) {
        self.apply(revision, key, None);
        let namespace = self
            .inner
            .kind
            .is_namespaced()
            .then(|| key.split_once('/').map_or(key, |(ns, _)| ns));
        self.watchers().retain(|watcher| {
            let sees_key = match (&watcher.filter.namespace, namespace) {
                (Some(wanted), Some(ns)) => wanted == ns,
                _ => true,
            };
            if sees_key {
                let _ = watcher.closed_with.set(status.clone());
            }
            !sees_key
        });
    }

    fn dispatch(&self, entry: &HistoryEntry) {
        self.watchers().dispatch(entry);
    }

    fn close_all(&self, status: Status) {
        for watcher in self.watchers().drain() {
            let _ = watcher.closed_with.set(status.clone());
        }
    }

    /// Waits until the cache has applied every change up to `revision`; false on timeout.
    pub async fn wait_for_revision(&self, revision: i64, timeout: Duration) -> bool {
        let mut rx = self.inner.revision_tx.subscribe();
        let reached = rx.wait_for(|current| *current >= revision);
        matches!(tokio::time::timeout(timeout, reached).await, Ok(Ok(_)))
    }

    /// One object by namespace and name.
    pub fn get(&self, namespace: &str, name: &str) -> Option<ArcObject> {
        let key = object_key(&self.inner.kind, namespace, name);
        self.read().objects.get(&key).cloned()
    }

    /// The objects that pass `filter`, in key order, at most `limit` of them, starting after
    /// the key `continue_after`.
    pub fn list(
        &self,
        filter: &Filter,
        limit: Option<usize>,
        continue_after: Option<&str>,
    ) -> CacheList {
        let state = self.read();
        let limit = limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut last_key = None;
        let mut remaining = 0;
        let mut take = |key: &str, obj: &ArcObject| {
            if !filter.matches(&**obj) {
                return;
            }
            if items.len() < limit {
                items.push(obj.clone());
                last_key = Some(key.to_owned());
            } else {
                remaining += 1;
            }
        };
        if let Some(keys) = state.indexes.candidates(filter) {
            for key in keys {
                if continue_after.is_some_and(|after| key.as_str() <= after) {
                    continue;
                }
                if let Some(obj) = state.objects.get(key.as_str()) {
                    take(key, obj);
                }
            }
        } else {
            let lower = match (continue_after, &filter.namespace) {
                (Some(after), _) => std::ops::Bound::Excluded(after.to_owned()),
                (None, Some(ns)) if self.inner.kind.is_namespaced() => {
                    std::ops::Bound::Included(format!("{ns}/"))
                }
                _ => std::ops::Bound::Unbounded,
            };
            let namespace_prefix = filter
                .namespace
                .as_ref()
                .filter(|_| self.inner.kind.is_namespaced())
                .map(|ns| format!("{ns}/"));
            for (key, obj) in state.objects.range((lower, std::ops::Bound::Unbounded)) {
                if let Some(prefix) = &namespace_prefix
                    && !key.starts_with(prefix.as_str())
                {
                    if key.as_str() > prefix.as_str() {
                        break;
                    }
                    continue;
                }
                take(key, obj);
            }
        }
        CacheList {
            revision: state.revision,
            continue_after: (remaining > 0).then_some(last_key).flatten(),
            items,
            remaining,
        }
    }

    /// Starts a watch. `bookmarks` asks for `BOOKMARK` events; `initial_events_end` asks,
    /// for a watch from [`WatchStart::Now`], for a bookmark marking the end of the replayed
    /// objects (`sendInitialEvents`).
    pub fn watch(
        &self,
        start: WatchStart,
        filter: Filter,
        bookmarks: bool,
        initial_events_end: bool,
    ) -> Result<WatchStream, Status> {
        let state = self.read();
        let mut backlog: Vec<WatchEvent<ArcObject>> = Vec::new();
        match start {
            WatchStart::Now => {
                backlog.extend(
                    state
                        .objects
                        .values()
                        .filter(|obj| filter.matches(&***obj))
                        .map(|obj| WatchEvent::Added(obj.clone())),
                );
                if initial_events_end {
                    backlog.push(WatchEvent::Bookmark(
                        self.bookmark(state.revision, initial_events_end_annotations()),
                    ));
                }
            }
            WatchStart::After(revision) => {
                if revision < state.oldest_watchable {
                    return Err(Status::expired(format!(
                        "too old resource version: {revision} ({})",
                        state.oldest_watchable
                    )));
                }
                let first = state.history.partition_point(|e| e.revision <= revision);
                backlog.extend(
                    state
                        .history
                        .range(first..)
                        .filter_map(|entry| entry.event_for(&filter)),
                );
            }
        }
        let (tx, rx) = mpsc::channel(self.inner.config.watcher_queue_capacity.max(1));
        let closed_with = Arc::new(OnceLock::new());
        self.watchers().push(Watcher {
            filter,
            bookmarks,
            tx,
            closed_with: closed_with.clone(),
        });
        drop(state);
        let live = tokio_stream_from(rx);
        let ending = futures::stream::once(async move { closed_with.get().cloned() })
            .filter_map(|status| async move { status.map(WatchEvent::Error) });
        Ok(futures::stream::iter(backlog)
            .chain(live)
            .chain(ending)
            .boxed())
    }

    fn bookmark(
        &self,
        revision: i64,
        annotations: std::collections::BTreeMap<String, String>,
    ) -> Bookmark {
        Bookmark {
            kind: self.inner.kind.kind.to_string(),
            api_version: self.inner.kind.api_version(),
            metadata: BookmarkMeta {
                resource_version: revision.to_string(),
                annotations,
            },
        }
    }

    /// Sends a `BOOKMARK` at the cache's revision to every watcher that asked for bookmarks.
    /// The store calls this periodically.
    pub fn send_bookmarks(&self) {
        let state = self.read();
        let bookmark = self.bookmark(state.revision, Default::default());
        let mut watchers = self.watchers();
        watchers.retain(|w| {
            if w.bookmarks {
                w.offer(WatchEvent::Bookmark(bookmark.clone()))
            } else {
                !w.tx.is_closed()
            }
        });
    }

    /// The number of open watchers.
    pub fn watcher_count(&self) -> usize {
        let mut watchers = self.watchers();
        watchers.retain(|w| !w.tx.is_closed());
        watchers.len()
    }

    /// The keys an index maps `value` to (for user-defined indexers).
    pub fn index_keys(&self, index: &str, value: &str) -> Vec<String> {
        self.read().indexes.keys(index, value)
    }

    /// The objects an index maps `value` to.
    pub fn by_index(&self, index: &str, value: &str) -> Vec<ArcObject> {
        let state = self.read();
        state
            .indexes
            .keys(index, value)
            .iter()
            .filter_map(|k| state.objects.get(k).cloned())
            .collect()
    }
}

/// A receiver as a stream that ends when the sender is gone.
fn tokio_stream_from(
    mut rx: mpsc::Receiver<WatchEvent<ArcObject>>,
) -> impl futures::Stream<Item = WatchEvent<ArcObject>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
