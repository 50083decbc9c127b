//! The local cache of an informer: the objects of one kind as the watch last described them,
//! shared as `Arc<K>`, with secondary indexes.
//!
//! A [`Writer`] applies the watcher's [`Event`]s and answers with the [`Change`]s they made;
//! any number of [`Cache`] handles read the same state. Reads never wait for the network:
//! controllers read the cache and write through the client, as Kubernetes' level-triggered
//! controllers do ("watches are hints, the cache is the truth").
//!
//! A (re)list is applied atomically: objects of an `Init … InitDone` sequence are buffered and
//! replace the cache's contents in one step at `InitDone`, so readers never see a half-listed
//! state, and the changes it reports include a [`Change::Deleted`] for every object that
//! vanished while the watch was down.
//!
//! ```
//! use std::sync::Arc;
//! use orchestra_api::k8s_openapi::api::core::v1::ConfigMap;
//! use orchestra_controller::informer::{Change, Event, Writer};
//!
//! fn config_map(name: &str, rv: &str) -> Arc<ConfigMap> {
//!     let mut cm = ConfigMap::default();
//!     cm.metadata.name = Some(name.into());
//!     cm.metadata.namespace = Some("default".into());
//!     cm.metadata.resource_version = Some(rv.into());
//!     Arc::new(cm)
//! }
//!
//! let mut writer = Writer::<ConfigMap>::new();
//! let cache = writer.cache();
//! writer.apply(Event::Init);
//! writer.apply(Event::InitApply(config_map("a", "1")));
//! writer.apply(Event::InitApply(config_map("b", "2")));
//! assert!(!cache.has_synced() && cache.is_empty(), "a list is applied at its end");
//! writer.apply(Event::InitDone);
//! assert!(cache.has_synced());
//! assert_eq!(cache.len(), 2);
//!
//! // A re-list after a disconnect: "a" is gone, "b" changed.
//! writer.apply(Event::Init);
//! writer.apply(Event::InitApply(config_map("b", "5")));
//! let changes = writer.apply(Event::InitDone);
//! assert!(matches!(&changes[..], [Change::Updated { .. }, Change::Deleted(gone)]
//!     if gone.metadata.name.as_deref() == Some("a")));
//! assert_eq!(cache.get(Some("default"), "b").unwrap().metadata.resource_version.as_deref(), Some("5"));
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use orchestra_api::Object;
use tokio::sync::watch;

use super::index::{IndexError, Indexer, Indexes};
use super::watcher::Event;

/// Names one object of a kind: its namespace (none for cluster-scoped kinds) and name.
///
/// Its text form is client-go's `MetaNamespaceKeyFunc`: `namespace/name`, or `name` alone.
/// It is what event handlers put on a [`WorkQueue`](crate::workqueue::WorkQueue).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// The namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl ObjectKey {
    /// The key of `name` in `namespace`.
    pub fn new(namespace: Option<&str>, name: &str) -> Self {
        Self {
            namespace: namespace.filter(|ns| !ns.is_empty()).map(str::to_owned),
            name: name.to_owned(),
        }
    }

    /// The key of `object`, from its metadata.
    pub fn of(object: &dyn Object) -> Self {
        let meta = object.metadata();
        Self::new(
            meta.namespace.as_deref(),
            meta.name.as_deref().unwrap_or_default(),
        )
    }

    /// Parses the text form (`namespace/name` or `name`).
    pub fn parse(key: &str) -> Self {
        match key.split_once('/') {
            Some((namespace, name)) => Self::new(Some(namespace), name),
            None => Self::new(None, key),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{namespace}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// What applying an event changed in the cache: what event handlers are told.
#[derive(Debug)]
pub enum Change<K> {
    /// An object entered the cache.
    Added(Arc<K>),
    /// An object in the cache changed (or, on a resync, is re-announced: `old` and `new` are
    /// then the same object).
    Updated {
        /// The state the cache held before.
        old: Arc<K>,
        /// The state it holds now.
        new: Arc<K>,
    },
    /// An object left the cache; its last known state (its final state when the watch saw
    /// the delete, the last state the cache held when a re-list found it gone).
    Deleted(Arc<K>),
}

impl<K> Clone for Change<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Added(obj) => Self::Added(Arc::clone(obj)),
            Self::Updated { old, new } => Self::Updated {
                old: Arc::clone(old),
                new: Arc::clone(new),
            },
            Self::Deleted(obj) => Self::Deleted(Arc::clone(obj)),
        }
    }
}

/// Returned by [`Cache::wait_synced`] when the cache's writer (the informer) stopped before
/// the first list completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the informer stopped before its cache synced")]
pub struct Stopped;

/// Whether the cache has been filled, and whether anything still fills it.
#[derive(Debug, Clone, Copy)]
struct Phase {
    synced: bool,
    writer_alive: bool,
}

struct State<K> {
    objects: BTreeMap<ObjectKey, Arc<K>>,
    indexes: Indexes<K>,
}

struct Inner<K> {
    state: RwLock<State<K>>,
    phase: watch::Sender<Phase>,
}

/// A read handle on an informer's local cache. Cheap to clone; every clone sees the same
/// state.
pub struct Cache<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for Cache<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K> fmt::Debug for Cache<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("len", &self.read().objects.len())
            .field("synced", &self.has_synced())
            .finish()
    }
}

impl<K> Cache<K> {
    fn read(&self) -> RwLockReadGuard<'_, State<K>> {
        self.inner
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State<K>> {
        self.inner
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The object `name` in `namespace` (`None` for cluster-scoped kinds).
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<Arc<K>> {
        self.get_by_key(&ObjectKey::new(namespace, name))
    }

    /// The object `key` names.
    pub fn get_by_key(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.read().objects.get(key).cloned()
    }

    /// Every object, ordered by key.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.read().objects.values().cloned().collect()
    }

    /// The keys of every object, in order.
    pub fn keys(&self) -> Vec<ObjectKey> {
        self.read().objects.keys().cloned().collect()
    }

    /// How many objects the cache holds.
    pub fn len(&self) -> usize {
        self.read().objects.len()
    }

    /// Whether the cache holds no object.
    pub fn is_empty(&self) -> bool {
        self.read().objects.is_empty()
    }

    /// The objects `index` maps `value` to, ordered by key; an error if there is no such
    /// index.
    pub fn by_index(&self, index: &str, value: &str) -> Result<Vec<Arc<K>>, IndexError> {
        let state = self.read();
        Ok(state
            .indexes
            .keys(index, value)?
            .into_iter()
            .flatten()
            .filter_map(|key| state.objects.get(key).cloned())
            .collect())
    }

    /// The keys of the objects `index` maps `value` to, in order.
    pub fn index_keys(&self, index: &str, value: &str) -> Result<Vec<ObjectKey>, IndexError> {
        Ok(self
            .read()
            .indexes
            .keys(index, value)?
            .into_iter()
            .flatten()
            .cloned()
            .collect())
    }

    /// The values `index` has objects for, sorted.
    pub fn index_values(&self, index: &str) -> Result<Vec<String>, IndexError> {
        self.read().indexes.values(index)
    }

    /// Adds an index, filled at once from the objects already cached; an error if the name
    /// is taken. Indexes may be added at any time, before or after the informer starts.
    pub fn add_indexer(&self, indexer: Indexer<K>) -> Result<(), IndexError> {
        let mut state = self.write();
        let State { objects, indexes } = &mut *state;
        indexes.add(indexer, objects.iter())
    }

    /// Whether the first list has been applied (client-go's `HasSynced`). Until then the
    /// cache is empty and a controller must not act on what it does not see.
    pub fn has_synced(&self) -> bool {
        self.inner.phase.borrow().synced
    }

    /// Waits until the first list has been applied; [`Stopped`] if the informer stopped
    /// first. Combine with `tokio::time::timeout` to bound the wait.
    pub async fn wait_synced(&self) -> Result<(), Stopped> {
        let mut phase = self.inner.phase.subscribe();
        match phase
            .wait_for(|phase| phase.synced || !phase.writer_alive)
            .await
        {
            Ok(phase) if phase.synced => Ok(()),
            _ => Err(Stopped),
        }
    }
}

/// The one writer of a [`Cache`]: applies watcher events and reports what they changed.
///
/// Dropping the writer tells [`Cache::wait_synced`] waiters that nothing will fill the cache.
pub struct Writer<K> {
    cache: Cache<K>,
    /// Objects of a list in progress (between `Init` and `InitDone`).
    relist: Option<BTreeMap<ObjectKey, Arc<K>>>,
}

impl<K> fmt::Debug for Writer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("cache", &self.cache)
            .field("listing", &self.relist.as_ref().map(BTreeMap::len))
            .finish()
    }
}

impl<K: Object> Default for Writer<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K> Drop for Writer<K> {
    fn drop(&mut self) {
        self.cache
            .inner
            .phase
            .send_modify(|phase| phase.writer_alive = false);
    }
}

impl<K: Object> Writer<K> {
    /// A writer of a new, empty cache with the [`NAMESPACE_INDEX`](super::NAMESPACE_INDEX).
    pub fn new() -> Self {
        let mut indexes = Indexes::default();
        // A fresh index set has no name taken yet.
        let _ = indexes.add(Indexer::namespace(), std::iter::empty());
        let (phase, _) = watch::channel(Phase {
            synced: false,
            writer_alive: true,
        });
        Self {
            cache: Cache {
                inner: Arc::new(Inner {
                    state: RwLock::new(State {
                        objects: BTreeMap::new(),
                        indexes,
                    }),
                    phase,
                }),
            },
            relist: None,
        }
    }

    /// A read handle on the cache this writer fills.
    pub fn cache(&self) -> Cache<K> {
        self.cache.clone()
    }

    /// Applies one watcher event and returns what it changed, in key order for a list.
    ///
    /// - `Apply` adds or updates the object; `Delete` removes it (reporting nothing if the
    ///   cache did not hold it).
    /// - `Init` starts buffering a list; `InitApply` adds to the buffer; `InitDone` replaces
    ///   the cache with the buffer and marks it synced. Compared with what the cache held,
    ///   an object is reported added, updated (its `resourceVersion` changed), or deleted
    ///   (absent from the list); an object whose `uid` changed was deleted and re-created
    ///   under the same name, and is reported as both. Unchanged objects are not reported.
    pub fn apply(&mut self, event: Event<K>) -> Vec<Change<K>> {
        match event {
            Event::Init => {
                self.relist = Some(BTreeMap::new());
                Vec::new()
            }
            Event::InitApply(object) => {
                let key = ObjectKey::of(&*object);
                self.relist
                    .get_or_insert_with(BTreeMap::new)
                    .insert(key, object);
                Vec::new()
            }
            Event::InitDone => {
                let listed = self.relist.take().unwrap_or_default();
                let changes = self.replace(listed);
                self.cache
                    .inner
                    .phase
                    .send_if_modified(|phase| !std::mem::replace(&mut phase.synced, true));
                changes
            }
            Event::Apply(object) => {
                let key = ObjectKey::of(&*object);
                let mut state = self.cache.write();
                let old = state.objects.insert(key.clone(), Arc::clone(&object));
                state.indexes.update(&key, old.as_deref(), Some(&*object));
                vec![match old {
                    Some(old) => Change::Updated { old, new: object },
                    None => Change::Added(object),
                }]
            }
            Event::Delete(object) => {
                let key = ObjectKey::of(&*object);
                let mut state = self.cache.write();
                match state.objects.remove(&key) {
                    Some(old) => {
                        state.indexes.update(&key, Some(&*old), None);
                        vec![Change::Deleted(object)]
                    }
                    None => Vec::new(),
                }
            }
        }
    }

    /// Accounts for `object`, which the watcher met but could not decode
    /// ([`Error::Undecodable`](super::watcher::Error::Undecodable)); it never enters the
    /// cache itself. What the cache does know stays true to the server:
    ///
    /// - in a list in progress, the cached state of the same object (same `uid`) is kept in
    ///   the new list, so an object that still exists is not reported deleted;
    /// - after a `DELETED` event (`deleted`), the cached state is removed and reported
    ///   deleted;
    /// - otherwise (`ADDED`/`MODIFIED`) the cache keeps the last state it could read, unless
    ///   it holds another object (another `uid`) under that name, which is gone and is
    ///   reported deleted.
    ///
    /// Kubernetes' informers have no such case: their list or watch fails as a whole.
    pub fn skip_undecodable(&mut self, object: &dyn Object, deleted: bool) -> Vec<Change<K>> {
        let key = ObjectKey::of(object);
        let uid = object.metadata().uid.as_deref();
        let same_object = |cached: &Arc<K>| match (uid, cached.metadata().uid.as_deref()) {
            (Some(uid), Some(cached)) => uid == cached,
            _ => true,
        };
        if let Some(listed) = self.relist.as_mut() {
            let cached = self.cache.read().objects.get(&key).cloned();
            if let Some(cached) = cached.filter(same_object) {
                listed.entry(key).or_insert(cached);
            }
            return Vec::new();
        }
        let mut state = self.cache.write();
        let gone = match state.objects.get(&key) {
            Some(cached) => deleted || !same_object(cached),
            None => false,
        };
        if !gone {
            return Vec::new();
        }
        match state.objects.remove(&key) {
            Some(old) => {
                state.indexes.update(&key, Some(&*old), None);
                vec![Change::Deleted(old)]
            }
            None => Vec::new(),
        }
    }

    /// Swaps in a complete list, reporting the difference.
    fn replace(&mut self, listed: BTreeMap<ObjectKey, Arc<K>>) -> Vec<Change<K>> {
        let mut state = self.cache.write();
        let State { objects, indexes } = &mut *state;
        let old = std::mem::replace(objects, listed);
        indexes.rebuild(objects.iter());
        let mut changes = Vec::new();
        for (key, new) in objects.iter() {
            match old.get(key) {
                None => changes.push(Change::Added(Arc::clone(new))),
                Some(old) if old.metadata().uid != new.metadata().uid => {
                    changes.push(Change::Deleted(Arc::clone(old)));
                    changes.push(Change::Added(Arc::clone(new)));
                }
                Some(old) if same_version(&**old, &**new) => {}
                Some(old) => changes.push(Change::Updated {
                    old: Arc::clone(old),
                    new: Arc::clone(new),
                }),
            }
        }
        changes.extend(
            old.into_iter()
                .filter(|(key, _)| !objects.contains_key(key))
                .map(|(_, gone)| Change::Deleted(gone)),
        );
        changes
    }
}

/// Whether two states of one object are the same revision of it.
fn same_version(old: &dyn Object, new: &dyn Object) -> bool {
    let (old, new) = (old.metadata(), new.metadata());
    old.resource_version.is_some() && old.resource_version == new.resource_version
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestra_api::k8s_openapi::api::core::v1::Pod;
    use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    use crate::informer::{NAMESPACE_INDEX, NODE_NAME_INDEX, OWNER_UID_INDEX};

    fn pod(ns: &str, name: &str, uid: &str, rv: &str) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.namespace = Some(ns.into());
        pod.metadata.name = Some(name.into());
        pod.metadata.uid = Some(uid.into());
        pod.metadata.resource_version = Some(rv.into());
        pod
    }

    fn names(objects: &[Arc<Pod>]) -> Vec<&str> {
        objects
            .iter()
            .map(|p| p.metadata.name.as_deref().unwrap_or_default())
            .collect()
    }

    #[test]
    fn object_keys_print_and_parse_as_client_go_does() {
        let key = ObjectKey::new(Some("default"), "web");
        assert_eq!(key.to_string(), "default/web");
        assert_eq!(ObjectKey::parse("default/web"), key);
        assert_eq!(ObjectKey::new(None, "node-1").to_string(), "node-1");
        assert_eq!(ObjectKey::parse("node-1"), ObjectKey::new(None, "node-1"));
        assert_eq!(ObjectKey::new(Some(""), "node-1").namespace, None);
    }

    #[test]
    fn indexes_follow_updates_and_deletes() {
        let mut writer = Writer::<Pod>::new();
        let cache = writer.cache();
        cache.add_indexer(Indexer::node_name()).unwrap();
        cache.add_indexer(Indexer::owner_uid()).unwrap();
        let mut a = pod("default", "a", "u-a", "1");
        a.spec.get_or_insert_with(Default::default).node_name = Some("n1".into());
        a.metadata.owner_references = Some(vec![OwnerReference {
            uid: "rs-1".into(),
            ..OwnerReference::default()
        }]);
        writer.apply(Event::Apply(Arc::new(a.clone())));
        writer.apply(Event::Apply(Arc::new(pod("other", "b", "u-b", "2"))));
        assert_eq!(
            names(&cache.by_index(NODE_NAME_INDEX, "n1").unwrap()),
            ["a"]
        );
        assert_eq!(
            names(&cache.by_index(OWNER_UID_INDEX, "rs-1").unwrap()),
            ["a"]
        );
        assert_eq!(
            cache.index_values(NAMESPACE_INDEX).unwrap(),
            ["default", "other"]
        );

        a.spec.get_or_insert_with(Default::default).node_name = Some("n2".into());
        a.metadata.resource_version = Some("3".into());
        writer.apply(Event::Apply(Arc::new(a.clone())));
        assert!(cache.by_index(NODE_NAME_INDEX, "n1").unwrap().is_empty());
        assert_eq!(
            names(&cache.by_index(NODE_NAME_INDEX, "n2").unwrap()),
            ["a"]
        );

        writer.apply(Event::Delete(Arc::new(a)));
        assert!(cache.by_index(NODE_NAME_INDEX, "n2").unwrap().is_empty());
        assert!(cache.by_index(OWNER_UID_INDEX, "rs-1").unwrap().is_empty());
        assert_eq!(
            cache.index_values(NODE_NAME_INDEX).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn an_indexer_added_late_indexes_what_is_already_cached() {
        let mut writer = Writer::<Pod>::new();
        let cache = writer.cache();
        writer.apply(Event::Apply(Arc::new(pod("default", "a", "u", "1"))));
        cache
            .add_indexer(Indexer::new("uid", |p: &Pod| {
                p.metadata.uid.iter().cloned().collect()
            }))
            .unwrap();
        assert_eq!(names(&cache.by_index("uid", "u").unwrap()), ["a"]);
        assert_eq!(
            cache.add_indexer(Indexer::namespace()),
            Err(IndexError::AlreadyExists(NAMESPACE_INDEX.into()))
        );
        assert_eq!(
            cache.by_index("nope", "x").unwrap_err(),
            IndexError::Unknown("nope".into())
        );
    }

    #[test]
    fn a_relist_reports_recreated_objects_as_deleted_then_added_and_skips_unchanged_ones() {
        let mut writer = Writer::<Pod>::new();
        writer.apply(Event::Init);
        writer.apply(Event::InitApply(Arc::new(pod("d", "same", "u1", "1"))));
        writer.apply(Event::InitApply(Arc::new(pod("d", "recreated", "u2", "2"))));
        let first = writer.apply(Event::InitDone);
        assert!(first.iter().all(|c| matches!(c, Change::Added(_))));
        assert_eq!(first.len(), 2);

        writer.apply(Event::Init);
        writer.apply(Event::InitApply(Arc::new(pod("d", "same", "u1", "1"))));
        writer.apply(Event::InitApply(Arc::new(pod("d", "recreated", "u3", "7"))));
        let changes = writer.apply(Event::InitDone);
        match &changes[..] {
            [Change::Deleted(old), Change::Added(new)] => {
                assert_eq!(old.metadata.uid.as_deref(), Some("u2"));
                assert_eq!(new.metadata.uid.as_deref(), Some("u3"));
            }
            other => panic!("unexpected changes {other:?}"),
        }
    }

    /// `pod` as a client that could not decode it hands it on.
    fn undecodable(pod: &Pod) -> orchestra_api::UndecodableObject {
        let mut json = serde_json::to_value(pod).expect("encode");
        json["spec"] = serde_json::json!({"containers": "nginx"});
        orchestra_api::UndecodableObject::new(json, "invalid type: string").expect("object")
    }

    #[test]
    fn an_undecodable_object_never_enters_the_cache_and_a_relist_keeps_its_last_readable_state() {
        let mut writer = Writer::<Pod>::new();
        let cache = writer.cache();
        writer.apply(Event::Init);
        writer.apply(Event::InitApply(Arc::new(pod("d", "good", "u1", "1"))));
        assert!(
            writer
                .skip_undecodable(&undecodable(&pod("d", "never-read", "u0", "2")), false)
                .is_empty()
        );
        writer.apply(Event::InitDone);
        assert_eq!(names(&cache.list()), ["good"]);

        // "good" becomes unreadable: the cache keeps its last readable state…
        let broken = undecodable(&pod("d", "good", "u1", "5"));
        assert!(writer.skip_undecodable(&broken, false).is_empty());
        assert_eq!(
            cache
                .get(Some("d"), "good")
                .unwrap()
                .metadata
                .resource_version
                .as_deref(),
            Some("1")
        );
        // …and a re-list that meets it unreadable does not report it deleted.
        writer.apply(Event::Init);
        assert!(writer.skip_undecodable(&broken, false).is_empty());
        assert!(writer.apply(Event::InitDone).is_empty());
        assert_eq!(names(&cache.list()), ["good"]);
    }

    #[test]
    fn an_undecodable_delete_or_a_recreation_under_the_name_removes_the_cached_object() {
        let mut writer = Writer::<Pod>::new();
        let cache = writer.cache();
        writer.apply(Event::Apply(Arc::new(pod("d", "a", "u1", "1"))));
        writer.apply(Event::Apply(Arc::new(pod("d", "b", "u2", "2"))));
        match &writer.skip_undecodable(&undecodable(&pod("d", "a", "u1", "3")), true)[..] {
            [Change::Deleted(gone)] => assert_eq!(gone.metadata.uid.as_deref(), Some("u1")),
            other => panic!("expected a delete, got {other:?}"),
        }
        // "b" deleted and created again, unreadable: the cached "b" is another object, gone.
        match &writer.skip_undecodable(&undecodable(&pod("d", "b", "u9", "4")), false)[..] {
            [Change::Deleted(gone)] => assert_eq!(gone.metadata.uid.as_deref(), Some("u2")),
            other => panic!("expected a delete, got {other:?}"),
        }
        assert!(cache.is_empty());
        // In a re-list, a recreated object's old state is not carried over either.
        writer.apply(Event::Apply(Arc::new(pod("d", "c", "u3", "5"))));
        writer.apply(Event::Init);
        writer.skip_undecodable(&undecodable(&pod("d", "c", "u4", "6")), false);
        let changes = writer.apply(Event::InitDone);
        assert!(
            matches!(&changes[..], [Change::Deleted(gone)] if gone.metadata.uid.as_deref() == Some("u3"))
        );
    }

    #[test]
    fn deletes_of_unknown_objects_report_nothing() {
        let mut writer = Writer::<Pod>::new();
        assert!(
            writer
                .apply(Event::Delete(Arc::new(pod("d", "x", "u", "1"))))
                .is_empty()
        );
    }

    #[tokio::test]
    async fn waiting_for_sync_ends_when_the_writer_is_dropped() {
        let writer = Writer::<Pod>::new();
        let cache = writer.cache();
        drop(writer);
        assert_eq!(cache.wait_synced().await, Err(Stopped));
    }
}
