//! Secondary indexes of a watch cache: from a value computed from each object (its node, an
//! owner, anything a user defines) to the keys of the objects that have it.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use orchestra_api::{ArcObject, Object};

use super::Filter;

/// Computes the index values of an object.
pub type IndexFn = Arc<dyn Fn(&dyn Object) -> Vec<String> + Send + Sync>;

/// A named index function.
#[derive(Clone)]
pub struct Indexer {
    name: String,
    func: IndexFn,
    /// The field-selector label this index answers exact matches for.
    field: Option<String>,
}

impl fmt::Debug for Indexer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Indexer")
            .field("name", &self.name)
            .field("field", &self.field)
            .finish_non_exhaustive()
    }
}

impl Indexer {
    /// An index named `name` over the values `func` returns for each object.
    pub fn new(
        name: impl Into<String>,
        func: impl Fn(&dyn Object) -> Vec<String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            func: Arc::new(func),
            field: None,
        }
    }

    /// An index over a field-selector label (`spec.nodeName`), which also serves field
    /// selectors that require an exact value of it.
    pub fn field(field: &str) -> Self {
        let owned = field.to_owned();
        Self {
            name: field.to_owned(),
            func: Arc::new(move |obj: &dyn Object| {
                obj.field_value(&owned)
                    .filter(|v| !v.is_empty())
                    .map(|v| vec![v.into_owned()])
                    .unwrap_or_default()
            }),
            field: Some(field.to_owned()),
        }
    }

    /// The index's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One index and its contents.
struct Index {
    indexer: Indexer,
    entries: HashMap<String, BTreeSet<String>>,
}

impl Index {
    fn insert(&mut self, key: &str, obj: &dyn Object) {
        for value in (self.indexer.func)(obj) {
            self.entries
                .entry(value)
                .or_default()
                .insert(key.to_owned());
        }
    }

    fn remove(&mut self, key: &str, obj: &dyn Object) {
        for value in (self.indexer.func)(obj) {
            if let Some(keys) = self.entries.get_mut(&value) {
                keys.remove(key);
                if keys.is_empty() {
                    self.entries.remove(&value);
                }
            }
        }
    }
}

/// All indexes of one cache: the label index (every `key=value` label to the objects that
/// carry it) and the named indexers.
#[derive(Default)]
pub(super) struct Indexes {
    labels: HashMap<(String, String), BTreeSet<String>>,
    indexes: Vec<Index>,
}

fn labels_of(obj: &dyn Object) -> impl Iterator<Item = (&String, &String)> {
    obj.metadata().labels.iter().flatten()
}

impl Indexes {
    /// Adds an index (empty: use on an empty cache).
    pub(super) fn add(&mut self, indexer: Indexer) {
        self.add_with(indexer, std::iter::empty());
    }

    /// Adds an index built over `objects`, replacing one of the same name.
    pub(super) fn add_with<'a>(
        &mut self,
        indexer: Indexer,
        objects: impl Iterator<Item = (&'a String, &'a ArcObject)>,
    ) {
        self.indexes.retain(|i| i.indexer.name != indexer.name);
        let mut index = Index {
            indexer,
            entries: HashMap::new(),
        };
        for (key, obj) in objects {
            index.insert(key, &**obj);
        }
        self.indexes.push(index);
    }

    /// Rebuilds every index over `objects`.
    pub(super) fn rebuild<'a>(
        &mut self,
        objects: impl Iterator<Item = (&'a String, &'a ArcObject)> + Clone,
    ) {
        self.labels.clear();
        for (key, obj) in objects.clone() {
            self.insert_labels(key, &**obj);
        }
        for index in &mut self.indexes {
            index.entries.clear();
            for (key, obj) in objects.clone() {
                index.insert(key, &**obj);
            }
        }
    }

    fn insert_labels(&mut self, key: &str, obj: &dyn Object) {
        for (name, value) in labels_of(obj) {
            self.labels
                .entry((name.clone(), value.clone()))
                .or_default()
                .insert(key.to_owned());
        }
    }

    fn remove_labels(&mut self, key: &str, obj: &dyn Object) {
        for (name, value) in labels_of(obj) {
            let entry = (name.clone(), value.clone());
            if let Some(keys) = self.labels.get_mut(&entry) {
                keys.remove(key);
                if keys.is_empty() {
                    self.labels.remove(&entry);
                }
            }
        }
    }

    /// Moves `key` from the values of `old` to those of `new`.
    pub(super) fn update(&mut self, key: &str, old: Option<&dyn Object>, new: Option<&dyn Object>) {
        if old.and_then(|o| o.metadata().labels.as_ref())
            != new.and_then(|n| n.metadata().labels.as_ref())
        {
            if let Some(old) = old {
                self.remove_labels(key, old);
            }
            if let Some(new) = new {
                self.insert_labels(key, new);
            }
        }
        for index in &mut self.indexes {
            if let Some(old) = old {
                index.remove(key, old);
            }
            if let Some(new) = new {
                index.insert(key, new);
            }
        }
    }

    /// The keys `index` maps `value` to, sorted.
    pub(super) fn keys(&self, index: &str, value: &str) -> Vec<String> {
        self.indexes
            .iter()
            .find(|i| i.indexer.name == index)
            .and_then(|i| i.entries.get(value))
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The keys that can match `filter`, sorted, when an index narrows them down (a field
    /// selector requiring an exact value of an indexed field, or a label selector requiring
    /// an exact label); `None` means "scan". The smallest candidate set wins.
    pub(super) fn candidates(&self, filter: &Filter) -> Option<Vec<&String>> {
        let by_field = self.field_candidates(filter);
        let by_label = self.label_candidates(filter);
        match (by_field, by_label) {
            (Some(f), Some(l)) => Some(if f.len() <= l.len() { f } else { l }),
            (f, l) => f.or(l),
        }
    }

    fn label_candidates(&self, filter: &Filter) -> Option<Vec<&String>> {
        let selector = filter.labels.as_ref()?;
        selector
            .requirements()
            .iter()
            .filter_map(|r| {
                let value = selector.requires_exact_match(r.key())?;
                Some(
                    self.labels
                        .get(&(r.key().to_owned(), value.to_owned()))
                        .map(|keys| keys.iter().collect::<Vec<_>>())
                        .unwrap_or_default(),
                )
            })
            .min_by_key(Vec::len)
    }

    fn field_candidates(&self, filter: &Filter) -> Option<Vec<&String>> {
        let fields = filter.fields.as_ref()?;
        self.indexes.iter().find_map(|index| {
            let field = index.indexer.field.as_deref()?;
            // Empty values are not indexed, so `spec.nodeName=` (unscheduled pods) scans.
            let value = fields.exact_match(field).filter(|v| !v.is_empty())?;
            Some(
                index
                    .entries
                    .get(value)
                    .map(|keys| keys.iter().collect())
                    .unwrap_or_default(),
            )
        })
    }
}
