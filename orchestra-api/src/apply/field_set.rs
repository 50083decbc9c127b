//! Field paths and sets of them: what a manager owns, in Kubernetes' `FieldsV1` format.
//!
//! A [`Path`] names one field of an object, stepping through maps by field name, through
//! `listType=map` lists by the element's key fields, through `listType=set` lists by the
//! element's value. A [`FieldSet`] is a set of paths stored as a tree; it serializes to the
//! `fieldsV1` of a `managedFields` entry, where `f:<name>` steps into a field,
//! `k:{"name":"web"}` into a list element by key, `v:"value"` into a set element, and `.`
//! marks a node that is itself a member when it also has children:
//!
//! ```
//! use orchestra_api::apply::{FieldSet, Path, PathElement};
//! use serde_json::json;
//!
//! let mut set = FieldSet::default();
//! let container = Path::from(vec![
//!     PathElement::field("spec"),
//!     PathElement::field("containers"),
//!     PathElement::key(&[("name", &json!("web"))]),
//! ]);
//! set.insert(&container);
//! set.insert(&container.child(PathElement::field("image")));
//! assert_eq!(
//!     set.to_fields_v1(),
//!     json!({"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}}}}})
//! );
//! assert_eq!(container.to_string(), ".spec.containers[name=\"web\"]");
//! assert_eq!(FieldSet::from_fields_v1(&set.to_fields_v1()).unwrap(), set);
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// One step of a [`Path`]. The order (fields, then keys, then values, then indexes) is the
/// order Kubernetes lists paths in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of a struct or an entry of a map.
    Field(String),
    /// An element of a `listType=map` list: its key fields as a canonical JSON object
    /// (`{"containerPort":80,"protocol":"TCP"}`, keys sorted).
    Key(String),
    /// An element of a `listType=set` list: its value as JSON (`"example.com/cleanup"`).
    Value(String),
    /// An element of a list addressed by position.
    Index(usize),
}

impl PathElement {
    /// A field step.
    pub fn field(name: impl Into<String>) -> Self {
        Self::Field(name.into())
    }

    /// A key step from the element's key fields, in any order.
    pub fn key(fields: &[(&str, &Value)]) -> Self {
        let mut fields = fields.to_vec();
        fields.sort_by(|left, right| left.0.cmp(right.0));
        let parts: Vec<String> = fields
            .iter()
            .map(|(name, value)| format!("{}:{}", Value::from(*name), value))
            .collect();
        Self::Key(format!("{{{}}}", parts.join(",")))
    }

    /// A set-element step.
    pub fn value(value: &Value) -> Self {
        Self::Value(value.to_string())
    }

    /// The key of this step in `fieldsV1`.
    fn to_fields_v1_key(&self) -> String {
        match self {
            Self::Field(name) => format!("f:{name}"),
            Self::Key(key) => format!("k:{key}"),
            Self::Value(value) => format!("v:{value}"),
            Self::Index(index) => format!("i:{index}"),
        }
    }

    /// Parses a `fieldsV1` key.
    fn from_fields_v1_key(key: &str) -> Result<Self, String> {
        let (kind, rest) = key
            .split_once(':')
            .ok_or_else(|| format!("{key:?} is not a fieldsV1 path element"))?;
        match kind {
            "f" => Ok(Self::Field(rest.to_owned())),
            "k" => {
                let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(rest) else {
                    return Err(format!("{key:?}: the key is not a JSON object"));
                };
                let fields: Vec<(&str, &Value)> = fields
                    .iter()
                    .map(|(name, value)| (name.as_str(), value))
                    .collect();
                Ok(Self::key(&fields))
            }
            "v" => serde_json::from_str::<Value>(rest)
                .map(|value| Self::value(&value))
                .map_err(|error| format!("{key:?}: the value is not JSON: {error}")),
            "i" => rest
                .parse()
                .map(Self::Index)
                .map_err(|_| format!("{key:?}: the index is not a number")),
            _ => Err(format!("{key:?}: unknown path element type {kind:?}")),
        }
    }
}

impl fmt::Display for PathElement {
    /// Kubernetes' notation: `.name`, `[name="web"]`, `[="value"]`, `[0]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Field(name) => write!(f, ".{name}"),
            Self::Key(key) => {
                let fields: Map<String, Value> = serde_json::from_str(key).unwrap_or_default();
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            Self::Value(value) => write!(f, "[={value}]"),
            Self::Index(index) => write!(f, "[{index}]"),
        }
    }
}

/// A path from the root of an object to one of its fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path(Vec<PathElement>);

impl Path {
    /// The root.
    pub fn root() -> Self {
        Self::default()
    }

    /// Steps into `element`, in place (with [`Path::pop`], a walk that builds no path per
    /// step).
    pub(crate) fn push(&mut self, element: PathElement) {
        self.0.push(element);
    }

    /// Steps back out of the last element.
    pub(crate) fn pop(&mut self) {
        self.0.pop();
    }

    /// The path of a field of this one.
    pub fn child(&self, element: PathElement) -> Self {
        let mut elements = self.0.clone();
        elements.push(element);
        Self(elements)
    }

    /// The path's steps.
    pub fn elements(&self) -> &[PathElement] {
        &self.0
    }

    /// Whether the path is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<PathElement>> for Path {
    fn from(elements: Vec<PathElement>) -> Self {
        Self(elements)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for element in &self.0 {
            write!(f, "{element}")?;
        }
        Ok(())
    }
}

/// A set of [`Path`]s, stored as a tree of path elements. Two sets are equal when they hold
/// the same paths.
#[derive(Debug, Clone, Default)]
pub struct FieldSet {
    /// Whether the path leading to this node is in the set.
    member: bool,
    children: BTreeMap<PathElement, FieldSet>,
}

impl PartialEq for FieldSet {
    fn eq(&self, other: &Self) -> bool {
        let non_empty = |set: &FieldSet| {
            set.children
                .iter()
                .filter(|(_, child)| !child.is_empty())
                .map(|(element, child)| (element.clone(), child.clone()))
                .collect::<Vec<_>>()
        };
        self.member == other.member && non_empty(self) == non_empty(other)
    }
}

impl Eq for FieldSet {}

impl FieldSet {
    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// Adds `path`.
    pub fn insert(&mut self, path: &Path) {
        let mut node = self;
        for element in path.elements() {
            // The element is copied only for a node that is not there yet.
            if !node.children.contains_key(element) {
                node.children.insert(element.clone(), FieldSet::default());
            }
            let Some(child) = node.children.get_mut(element) else {
                return; // not reached: the node was just made
            };
            node = child;
        }
        node.member = true;
    }

    /// Whether `path` is in the set.
    pub fn contains(&self, path: &Path) -> bool {
        self.node(path).is_some_and(|node| node.member)
    }

    /// Whether the set holds a path strictly below `path`.
    pub fn has_descendants(&self, path: &Path) -> bool {
        self.node(path)
            .is_some_and(|node| node.children.values().any(|child| !child.is_empty()))
    }

    /// The subtree at `path`, if any path of the set passes through it.
    fn node(&self, path: &Path) -> Option<&FieldSet> {
        path.elements()
            .iter()
            .try_fold(self, |node, element| node.children.get(element))
    }

    /// The paths of the set, each level's members first, then the levels below, in
    /// Kubernetes' order.
    pub fn paths(&self) -> Vec<Path> {
        let mut paths = Vec::new();
        self.collect(&Path::root(), &mut paths);
        paths
    }

    fn collect(&self, prefix: &Path, out: &mut Vec<Path>) {
        for (element, child) in &self.children {
            if child.member {
                out.push(prefix.child(element.clone()));
            }
        }
        for (element, child) in &self.children {
            child.collect(&prefix.child(element.clone()), out);
        }
    }

    /// The paths in `self` or `other`.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut result = self.clone();
        result.merge(other);
        result
    }

    /// Adds the paths of `other`, in place: [`FieldSet::union`] without copying `self`.
    pub fn merge(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (element, child) in &other.children {
            match self.children.get_mut(element) {
                Some(mine) => mine.merge(child),
                None => {
                    self.children.insert(element.clone(), child.clone());
                }
            }
        }
    }

    /// The paths in `self` but not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut result = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (element, child) in &self.children {
            let remaining = match other.children.get(element) {
                Some(theirs) => child.difference(theirs),
                None => child.clone(),
            };
            if !remaining.is_empty() {
                result.children.insert(element.clone(), remaining);
            }
        }
        result
    }

    /// The paths in both `self` and `other`.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut result = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (element, child) in &self.children {
            if let Some(theirs) = other.children.get(element) {
                let common = child.intersection(theirs);
                if !common.is_empty() {
                    result.children.insert(element.clone(), common);
                }
            }
        }
        result
    }

    /// The set without `path` and every path below it.
    pub fn without_subtree(&self, path: &Path) -> FieldSet {
        let mut result = self.clone();
        let Some((last, parents)) = path.elements().split_last() else {
            return FieldSet::default();
        };
        let mut node = &mut result;
        for element in parents {
            match node.children.get_mut(element) {
                Some(child) => node = child,
                None => return result,
            }
        }
        node.children.remove(last);
        result.prune();
        result
    }

    /// Removes `path` itself, keeping the paths below it. Leaves empty nodes behind until
    /// [`FieldSet::prune`].
    fn unmark(&mut self, path: &Path) {
        let mut node = self;
        for element in path.elements() {
            match node.children.get_mut(element) {
                Some(child) => node = child,
                None => return,
            }
        }
        node.member = false;
    }

    /// Removes `path` and every path below it. Leaves empty nodes behind until
    /// [`FieldSet::prune`].
    fn cut(&mut self, path: &Path) {
        let Some((last, parents)) = path.elements().split_last() else {
            *self = FieldSet::default();
            return;
        };
        let mut node = self;
        for element in parents {
            match node.children.get_mut(element) {
                Some(child) => node = child,
                None => return,
            }
        }
        node.children.remove(last);
    }

    /// Keeps only `path` and the paths below it, in place.
    fn keep_only(&mut self, path: &Path) {
        let mut node = std::mem::take(self);
        for element in path.elements() {
            match node.children.remove(element) {
                Some(child) => node = child,
                None => return,
            }
        }
        for element in path.elements().iter().rev() {
            let mut parent = FieldSet::default();
            parent.children.insert(element.clone(), node);
            node = parent;
        }
        *self = node;
    }

    /// Removes, in place, the members at `members` (keeping what is below them) and the
    /// subtrees at `subtrees`, then keeps only the subtree at `only` when given: what
    /// [`FieldSet::difference`] with each member, [`FieldSet::without_subtree`] of each
    /// subtree and [`FieldSet::only_subtree`] give, without copying the set for each step.
    pub fn retain_outside(&mut self, members: &[Path], subtrees: &[Path], only: Option<&Path>) {
        for path in members {
            self.unmark(path);
        }
        for path in subtrees {
            self.cut(path);
        }
        if let Some(path) = only {
            self.keep_only(path);
        }
        self.prune();
    }

    /// Drops the nodes that lead to no member.
    fn prune(&mut self) {
        self.children.retain(|_, child| {
            child.prune();
            !child.is_empty()
        });
    }

    /// Only `path` and the paths below it.
    pub fn only_subtree(&self, path: &Path) -> FieldSet {
        let Some(node) = self.node(path) else {
            return FieldSet::default();
        };
        let mut result = node.clone();
        for element in path.elements().iter().rev() {
            let mut parent = FieldSet::default();
            parent.children.insert(element.clone(), result);
            result = parent;
        }
        result
    }

    /// The set as the `fieldsV1` of a `managedFields` entry.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        for (element, child) in &self.children {
            if child.is_empty() {
                continue;
            }
            let mut encoded = child.to_fields_v1();
            if child.member
                && let Value::Object(fields) = &mut encoded
                && !fields.is_empty()
            {
                fields.insert(".".to_owned(), Value::Object(Map::new()));
            }
            map.insert(element.to_fields_v1_key(), encoded);
        }
        Value::Object(map)
    }

    /// Parses the `fieldsV1` of a `managedFields` entry.
    pub fn from_fields_v1(fields: &Value) -> Result<FieldSet, String> {
        let Value::Object(map) = fields else {
            return Err(format!("fieldsV1 must be a JSON object, not {fields}"));
        };
        let mut set = FieldSet::default();
        for (key, value) in map {
            if key == "." {
                continue;
            }
            let element = PathElement::from_fields_v1_key(key)?;
            let mut child = FieldSet::from_fields_v1(value)?;
            let Value::Object(inner) = value else {
                return Err(format!("{key:?}: fieldsV1 entries must be JSON objects"));
            };
            child.member = inner.is_empty() || inner.contains_key(".");
            set.children.insert(element, child);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(elements: &[PathElement]) -> Path {
        Path::from(elements.to_vec())
    }

    #[test]
    fn keys_are_canonical_whatever_the_order_of_their_fields() {
        let one = PathElement::key(&[("protocol", &json!("TCP")), ("containerPort", &json!(80))]);
        let other = PathElement::key(&[("containerPort", &json!(80)), ("protocol", &json!("TCP"))]);
        assert_eq!(one, other);
        assert_eq!(one.to_string(), "[containerPort=80,protocol=\"TCP\"]");
        assert_eq!(
            one.to_fields_v1_key(),
            "k:{\"containerPort\":80,\"protocol\":\"TCP\"}"
        );
    }

    #[test]
    fn set_operations_work_on_members_not_prefixes() {
        let spec = PathElement::field("spec");
        let replicas = path(&[spec.clone(), PathElement::field("replicas")]);
        let paused = path(&[spec.clone(), PathElement::field("paused")]);
        let mut left = FieldSet::default();
        left.insert(&replicas);
        left.insert(&paused);
        let mut right = FieldSet::default();
        right.insert(&replicas);
        assert_eq!(left.intersection(&right), right);
        let difference = left.difference(&right);
        assert_eq!(difference.paths(), std::slice::from_ref(&paused));
        assert!(difference.has_descendants(&path(&[spec])));
        assert!(!difference.contains(&replicas));
        assert_eq!(right.union(&difference), left);
    }

    #[test]
    fn fields_v1_marks_members_with_children_by_a_dot() {
        let fields = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:finalizers": {"v:\"a.io/x\"": {}}, "f:selector": {}}
        });
        let set = FieldSet::from_fields_v1(&fields).unwrap();
        let labels = path(&[PathElement::field("metadata"), PathElement::field("labels")]);
        assert!(set.contains(&labels));
        assert!(!set.contains(&path(&[PathElement::field("metadata")])));
        assert!(set.contains(&path(&[
            PathElement::field("spec"),
            PathElement::field("finalizers"),
            PathElement::value(&json!("a.io/x")),
        ])));
        assert_eq!(set.to_fields_v1(), fields);
        let shown: Vec<String> = set.paths().iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                ".metadata.labels",
                ".metadata.labels.app",
                ".spec.selector",
                ".spec.finalizers[=\"a.io/x\"]"
            ]
        );
    }

    #[test]
    fn malformed_fields_v1_is_an_error() {
        assert!(FieldSet::from_fields_v1(&json!({"x:spec": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"k:notjson": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!([1])).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"f:spec": 1})).is_err());
    }

    #[test]
    fn sets_holding_the_same_paths_are_equal() {
        let name = path(&[PathElement::field("metadata"), PathElement::field("name")]);
        let mut left = FieldSet::default();
        left.insert(&name);
        let left = left.without_subtree(&name);
        assert_eq!(left, FieldSet::default());
        assert!(left.is_empty());
    }

    #[test]
    fn subtrees_can_be_kept_or_dropped() {
        let mut set = FieldSet::default();
        let status = path(&[PathElement::field("status"), PathElement::field("phase")]);
        let spec = path(&[PathElement::field("spec"), PathElement::field("replicas")]);
        set.insert(&status);
        set.insert(&spec);
        let top = path(&[PathElement::field("status")]);
        assert_eq!(set.without_subtree(&top).paths(), [spec]);
        assert_eq!(set.only_subtree(&top).paths(), [status]);
    }

    use proptest::prelude::*;

    /// Paths over a small alphabet, so that generated paths share prefixes.
    fn arbitrary_path() -> impl Strategy<Value = Path> {
        let element = prop_oneof![
            prop::sample::select(vec!["metadata", "spec", "status", "name", "a"])
                .prop_map(PathElement::field),
            (0usize..2).prop_map(PathElement::Index),
        ];
        prop::collection::vec(element, 0..4).prop_map(Path::from)
    }

    proptest! {
        /// Filtering in place removes exactly what the set operations remove, one copy each.
        #[test]
        fn retain_outside_equals_the_set_operations_it_stands_for(
            inserted in prop::collection::vec(arbitrary_path(), 0..12),
            members in prop::collection::vec(arbitrary_path(), 0..3),
            subtrees in prop::collection::vec(
                arbitrary_path().prop_filter("not the root", |p| !p.is_root()),
                0..3,
            ),
            only in prop::option::of(
                arbitrary_path().prop_filter("not the root", |p| !p.is_root()),
            ),
        ) {
            let mut set = FieldSet::default();
            for path in &inserted {
                set.insert(path);
            }
            let mut expected = set.clone();
            for path in &members {
                let mut member = FieldSet::default();
                member.insert(path);
                expected = expected.difference(&member);
            }
            for path in &subtrees {
                expected = expected.without_subtree(path);
            }
            if let Some(path) = &only {
                expected = expected.only_subtree(path);
            }
            let mut actual = set;
            actual.retain_outside(&members, &subtrees, only.as_ref());
            prop_assert_eq!(actual.paths(), expected.paths());
            prop_assert_eq!(actual.to_fields_v1(), expected.to_fields_v1());
        }
    }
}
