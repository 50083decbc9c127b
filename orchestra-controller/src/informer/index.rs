//! Secondary indexes of an informer's [`Cache`](super::Cache): from a value computed from each
//! object (its namespace, the uid of an owner, the node it runs on, anything a controller
//! defines) to the objects that have it.
//!
//! An [`Indexer`] is a name and a function from an object to its index values (none, one or
//! several). The cache keeps every index current as objects change, so "the pods on node-1"
//! or "the ReplicaSets owned by this Deployment" is a map lookup instead of a scan, as with
//! client-go's `cache.Indexers`.
//!
//! ```
//! use std::sync::Arc;
//! use orchestra_api::k8s_openapi::api::core::v1::Pod;
//! use orchestra_controller::informer::{Cache, Event, Indexer, NODE_NAME_INDEX, Writer};
//!
//! let mut writer = Writer::<Pod>::new();
//! let cache: Cache<Pod> = writer.cache();
//! cache.add_indexer(Indexer::node_name()).unwrap();
//! cache
//!     .add_indexer(Indexer::new("image", |pod: &Pod| {
//!         let spec = pod.spec.iter().flat_map(|s| &s.containers);
//!         spec.filter_map(|c| c.image.clone()).collect()
//!     }))
//!     .unwrap();
//!
//! let mut pod = Pod::default();
//! pod.metadata.name = Some("web".into());
//! pod.metadata.namespace = Some("default".into());
//! pod.spec.get_or_insert_with(Default::default).node_name = Some("node-1".into());
//! writer.apply(Event::Apply(Arc::new(pod)));
//!
//! assert_eq!(cache.by_index(NODE_NAME_INDEX, "node-1").unwrap().len(), 1);
//! assert!(cache.by_index("image", "nginx").unwrap().is_empty());
//! assert!(cache.by_index("no-such-index", "x").is_err());
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use orchestra_api::Object;

use super::cache::ObjectKey;

/// Name of the index of objects by namespace (client-go's `cache.NamespaceIndex`).
pub const NAMESPACE_INDEX: &str = "namespace";
/// Name of the index of objects by the uid of each of their owners (`ownerReferences`).
pub const OWNER_UID_INDEX: &str = "ownerUID";
/// Name of the index of objects by the node they are bound to (`spec.nodeName`, for pods).
pub const NODE_NAME_INDEX: &str = "spec.nodeName";

/// Computes the index values of an object.
pub type IndexFn<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

/// A named index function.
pub struct Indexer<K> {
    name: String,
    func: IndexFn<K>,
}

impl<K> Clone for Indexer<K> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            func: Arc::clone(&self.func),
        }
    }
}

impl<K> fmt::Debug for Indexer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Indexer")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<K> Indexer<K> {
    /// An index named `name` over the values `func` returns for each object.
    pub fn new(
        name: impl Into<String>,
        func: impl Fn(&K) -> Vec<String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            func: Arc::new(func),
        }
    }

    /// The index's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The index values of `object`.
    pub fn values(&self, object: &K) -> Vec<String> {
        (self.func)(object)
    }
}

impl<K: Object> Indexer<K> {
    /// [`NAMESPACE_INDEX`]: objects by `metadata.namespace` (cluster-scoped objects have no
    /// entry). Every informer cache has it.
    pub fn namespace() -> Self {
        Self::new(NAMESPACE_INDEX, |obj: &K| {
            obj.metadata()
                .namespace
                .iter()
                .filter(|ns| !ns.is_empty())
                .cloned()
                .collect()
        })
    }

    /// [`OWNER_UID_INDEX`]: objects by the uid of every entry of
    /// `metadata.ownerReferences`, to find the dependents of an owner.
    pub fn owner_uid() -> Self {
        Self::new(OWNER_UID_INDEX, |obj: &K| {
            obj.metadata()
                .owner_references
                .iter()
                .flatten()
                .map(|owner| owner.uid.clone())
                .collect()
        })
    }

    /// [`NODE_NAME_INDEX`]: objects by the `spec.nodeName` field label (pods bound to a
    /// node; kinds without that field have no entries).
    pub fn node_name() -> Self {
        Self::new(NODE_NAME_INDEX, |obj: &K| {
            obj.field_value(NODE_NAME_INDEX)
                .filter(|node| !node.is_empty())
                .map(|node| vec![node.into_owned()])
                .unwrap_or_default()
        })
    }
}

/// Why an index operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// A lookup named an index the cache does not have.
    #[error("the cache has no index named {0:?}; add it with Cache::add_indexer first")]
    Unknown(String),
    /// An indexer was added under a name that is already taken.
    #[error("the cache already has an index named {0:?}")]
    AlreadyExists(String),
}

/// One index and its entries.
struct Index<K> {
    indexer: Indexer<K>,
    entries: HashMap<String, BTreeSet<ObjectKey>>,
}

impl<K> Index<K> {
    fn insert(&mut self, key: &ObjectKey, object: &K) {
        for value in self.indexer.values(object) {
            self.entries.entry(value).or_default().insert(key.clone());
        }
    }

    fn remove(&mut self, key: &ObjectKey, object: &K) {
        for value in self.indexer.values(object) {
            if let Some(keys) = self.entries.get_mut(&value) {
                keys.remove(key);
                if keys.is_empty() {
                    self.entries.remove(&value);
                }
            }
        }
    }
}

/// Every index of one cache.
pub(crate) struct Indexes<K> {
    by_name: BTreeMap<String, Index<K>>,
}

impl<K> Default for Indexes<K> {
    fn default() -> Self {
        Self {
            by_name: BTreeMap::new(),
        }
    }
}

impl<K> Indexes<K> {
    /// Adds an index and fills it from `objects`.
    pub(crate) fn add<'a>(
        &mut self,
        indexer: Indexer<K>,
        objects: impl Iterator<Item = (&'a ObjectKey, &'a Arc<K>)>,
    ) -> Result<(), IndexError>
    where
        K: 'a,
    {
        if self.by_name.contains_key(indexer.name()) {
            return Err(IndexError::AlreadyExists(indexer.name().to_owned()));
        }
        let mut index = Index {
            indexer,
            entries: HashMap::new(),
        };
        for (key, object) in objects {
            index.insert(key, object);
        }
        self.by_name.insert(index.indexer.name().to_owned(), index);
        Ok(())
    }

    /// Moves `key` from the entries of `old` to those of `new`.
    pub(crate) fn update(&mut self, key: &ObjectKey, old: Option<&K>, new: Option<&K>) {
        for index in self.by_name.values_mut() {
            if let Some(old) = old {
                index.remove(key, old);
            }
            if let Some(new) = new {
                index.insert(key, new);
            }
        }
    }

    /// Empties every index and fills it again from `objects`.
    pub(crate) fn rebuild<'a>(&mut self, objects: impl Iterator<Item = (&'a ObjectKey, &'a Arc<K>)>)
    where
        K: 'a,
    {
        for index in self.by_name.values_mut() {
            index.entries.clear();
        }
        for (key, object) in objects {
            for index in self.by_name.values_mut() {
                index.insert(key, object);
            }
        }
    }

    /// The keys `index` maps `value` to.
    pub(crate) fn keys(
        &self,
        index: &str,
        value: &str,
    ) -> Result<Option<&BTreeSet<ObjectKey>>, IndexError> {
        let index = self
            .by_name
            .get(index)
            .ok_or_else(|| IndexError::Unknown(index.to_owned()))?;
        Ok(index.entries.get(value))
    }

    /// The values `index` currently has entries for.
    pub(crate) fn values(&self, index: &str) -> Result<Vec<String>, IndexError> {
        let index = self
            .by_name
            .get(index)
            .ok_or_else(|| IndexError::Unknown(index.to_owned()))?;
        let mut values: Vec<String> = index.entries.keys().cloned().collect();
        values.sort();
        Ok(values)
    }
}
