//! Walks over JSON objects that know their type's list and map semantics: the field set an
//! applied configuration specifies, the comparison of two versions of an object, the merge of
//! an applied configuration into the live object, and the removal of a set of fields.
//!
//! This is the structured-merge-diff model Kubernetes' server-side apply runs on. The type
//! information comes from the kind's [`PatchSchema`]: a list is `map` (elements identified
//! by key fields), `set` (distinct scalars) or `atomic` (one value), and a struct or map is
//! granular (each field its own) unless marked atomic. Fields the schema does not describe
//! are granular when they hold objects and atomic when they hold lists, as Kubernetes treats
//! lists without a `listType`.
//!
//! ```
//! use orchestra_api::apply::typed::{field_set_of, merge};
//! use orchestra_api::patch::PatchSchema;
//! use serde_json::json;
//!
//! let schema = PatchSchema::for_kind("", "v1", "Pod").unwrap();
//! let live = json!({"spec": {"containers": [{"name": "web", "image": "nginx"}]}});
//! let config = json!({"spec": {"containers": [{"name": "log", "image": "fluentd"}]}});
//! // Containers are a `listType=map` keyed by name: the applied one is added.
//! let merged = merge(&live, &config, schema).unwrap();
//! assert_eq!(merged["spec"]["containers"].as_array().unwrap().len(), 2);
//! let owned: Vec<String> = field_set_of(&config, schema).unwrap().paths().iter().map(ToString::to_string).collect();
//! assert_eq!(owned, [
//!     ".spec.containers[name=\"log\"]",
//!     ".spec.containers[name=\"log\"].image",
//!     ".spec.containers[name=\"log\"].name",
//! ]);
//! ```

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::field_set::{FieldSet, Path, PathElement};
use crate::patch::{FieldSchema, ListType, PatchSchema};

/// What the schema says about the value at one point of an object.
#[derive(Debug, Clone, Copy, Default)]
struct TypeRef {
    /// The field's metadata, when the schema describes the field.
    field: Option<&'static FieldSchema>,
    /// The schema of the value (or of each list element).
    schema: Option<&'static PatchSchema>,
}

impl TypeRef {
    /// The type of the field `key` of a map of this type.
    fn field(self, key: &str) -> TypeRef {
        let field = self.schema.and_then(|schema| schema.field(key));
        TypeRef {
            field,
            schema: field.and_then(FieldSchema::schema),
        }
    }

    /// The type of an element of a list of this type.
    fn element(self) -> TypeRef {
        TypeRef {
            field: None,
            schema: self.schema,
        }
    }

    /// How a value of this type is walked.
    fn shape(self, value: &Value) -> Shape {
        match value {
            Value::Object(map) if map.is_empty() => Shape::Leaf,
            Value::Object(_) if self.field.is_some_and(FieldSchema::is_atomic) => Shape::Leaf,
            Value::Object(_) => Shape::Map,
            Value::Array(items) if items.is_empty() => Shape::Leaf,
            Value::Array(_) => match self.field.map(FieldSchema::list_type) {
                Some(ListType::Atomic) | None => Shape::Leaf,
                Some(list_type) => Shape::List(list_type),
            },
            _ => Shape::Leaf,
        }
    }

    /// The shape of a pair of values: a leaf when both are empty, when the type is atomic or
    /// when their JSON types differ.
    fn shape_of_pair(self, left: &Value, right: &Value) -> Shape {
        match (left, right) {
            (Value::Object(l), Value::Object(r)) => {
                if (l.is_empty() && r.is_empty()) || self.field.is_some_and(FieldSchema::is_atomic)
                {
                    Shape::Leaf
                } else {
                    Shape::Map
                }
            }
            (Value::Array(l), Value::Array(r)) => match self.field.map(FieldSchema::list_type) {
                Some(ListType::Atomic) | None => Shape::Leaf,
                Some(_) if l.is_empty() && r.is_empty() => Shape::Leaf,
                Some(list_type) => Shape::List(list_type),
            },
            _ => Shape::Leaf,
        }
    }
}

/// How a value is walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One value: a scalar, an atomic list, map or struct, or an empty map or list.
    Leaf,
    /// A granular map or struct.
    Map,
    /// A `map` or `set` list.
    List(ListType),
}

/// The path element that identifies `item` in a list of `list_type`, or why it has none.
fn element_of(list_type: ListType, item: &Value) -> Result<PathElement, String> {
    match list_type {
        ListType::Set => match item {
            Value::Object(_) | Value::Array(_) => {
                Err(format!("a set element must be a scalar, not {item}"))
            }
            scalar => Ok(PathElement::value(scalar)),
        },
        ListType::Map(keys) => {
            let Value::Object(fields) = item else {
                return Err(format!(
                    "an element of a keyed list must be an object, not {item}"
                ));
            };
            let mut key = Vec::with_capacity(keys.len());
            let defaults: Vec<Value> = keys
                .iter()
                .map(|k| k.default.map_or(Value::Null, Value::from))
                .collect();
            for (field, default) in keys.iter().zip(&defaults) {
                match fields.get(field.name).filter(|v| !v.is_null()) {
                    Some(value) => key.push((field.name, value)),
                    None if !default.is_null() => key.push((field.name, default)),
                    None => {
                        return Err(format!(
                            "associative list with keys has an element that omits key field {:?} (and doesn't have default value)",
                            field.name
                        ));
                    }
                }
            }
            Ok(PathElement::key(&key))
        }
        ListType::Atomic => Err("an atomic list has no element identities".to_owned()),
    }
}

/// The elements of a list with their identities, or why the list cannot be walked element
/// by element (an element without its key, a duplicate).
fn elements(list_type: ListType, items: &[Value]) -> Result<Vec<(PathElement, &Value)>, String> {
    let mut seen = HashSet::with_capacity(items.len());
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let element = element_of(list_type, item).map_err(|e| format!("element {index}: {e}"))?;
        if !seen.insert(element.clone()) {
            return Err(format!("duplicate entries for key {element}"));
        }
        out.push((element, item));
    }
    Ok(out)
}

/// An applied configuration that Kubernetes cannot type: `400 BadRequest`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct TypeError {
    /// Where.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// The field set an applied configuration specifies: every scalar and atomic value, every
/// element of a `map` or `set` list (and its fields), every empty map. Maps and structs are
/// members only through their fields. Fails on an element of a keyed list that lacks a key
/// field, or on duplicate elements.
pub fn field_set_of(config: &Value, schema: &'static PatchSchema) -> Result<FieldSet, TypeError> {
    let mut set = FieldSet::default();
    let root = TypeRef {
        field: None,
        schema: Some(schema),
    };
    if let Value::Object(map) = config {
        collect_map(map, root, &Path::root(), &mut set)?;
    }
    Ok(set)
}

fn collect_map(
    map: &Map<String, Value>,
    type_ref: TypeRef,
    path: &Path,
    set: &mut FieldSet,
) -> Result<(), TypeError> {
    for (key, value) in map {
        if value.is_null() {
            continue;
        }
        collect(
            value,
            type_ref.field(key),
            &path.child(PathElement::field(key)),
            set,
        )?;
    }
    Ok(())
}

fn collect(
    value: &Value,
    type_ref: TypeRef,
    path: &Path,
    set: &mut FieldSet,
) -> Result<(), TypeError> {
    match (type_ref.shape(value), value) {
        (Shape::Map, Value::Object(map)) => collect_map(map, type_ref, path, set),
        (Shape::List(list_type), Value::Array(items)) => {
            let items = elements(list_type, items).map_err(|reason| TypeError {
                path: path.to_string(),
                reason,
            })?;
            for (element, item) in items {
                let item_path = path.child(element);
                if let Value::Object(fields) = item {
                    collect_map(fields, type_ref.element(), &item_path, set)?;
                }
                set.insert(&item_path);
            }
            Ok(())
        }
        _ => {
            set.insert(path);
            Ok(())
        }
    }
}

/// The difference between two versions of an object, as paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Fields only in the new version (maps, list elements and leaves alike).
    pub added: FieldSet,
    /// Leaves whose value changed.
    pub modified: FieldSet,
    /// Fields only in the old version.
    pub removed: FieldSet,
}

impl Comparison {
    /// Whether the versions are the same.
    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }
}

/// Compares two versions of an object of the type `schema` describes. A list that cannot be
/// walked element by element (duplicate keys in a live object) is compared as one value.
pub fn compare(old: &Value, new: &Value, schema: &'static PatchSchema) -> Comparison {
    let mut comparison = Comparison::default();
    let root = TypeRef {
        field: None,
        schema: Some(schema),
    };
    compare_maps(
        old.as_object(),
        new.as_object(),
        root,
        &mut Path::root(),
        &mut comparison,
    );
    comparison
}

fn present(value: Option<&Value>) -> Option<&Value> {
    value.filter(|value| !value.is_null())
}

/// The comparison walks with one `path`, stepping into each field and back out.
fn compare_maps(
    old: Option<&Map<String, Value>>,
    new: Option<&Map<String, Value>>,
    type_ref: TypeRef,
    path: &mut Path,
    out: &mut Comparison,
) {
    let empty = Map::new();
    let (old, new) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    for (key, value) in old {
        path.push(PathElement::field(key));
        compare_values(
            present(Some(value)),
            present(new.get(key)),
            type_ref.field(key),
            path,
            out,
        );
        path.pop();
    }
    for (key, value) in new {
        if present(old.get(key)).is_none() {
            path.push(PathElement::field(key));
            compare_values(None, present(Some(value)), type_ref.field(key), path, out);
            path.pop();
        }
    }
}

fn compare_values(
    old: Option<&Value>,
    new: Option<&Value>,
    type_ref: TypeRef,
    path: &mut Path,
    out: &mut Comparison,
) {
    let shape = match (old, new) {
        (None, None) => return,
        (Some(old), Some(new)) => type_ref.shape_of_pair(old, new),
        (Some(only), None) | (None, Some(only)) => type_ref.shape(only),
    };
    match shape {
        Shape::Map => compare_maps(
            old.and_then(Value::as_object),
            new.and_then(Value::as_object),
            type_ref,
            path,
            out,
        ),
        Shape::List(list_type) => {
            let none = Vec::new();
            let old_items = old.and_then(Value::as_array).unwrap_or(&none);
            let new_items = new.and_then(Value::as_array).unwrap_or(&none);
            match (
                elements(list_type, old_items),
                elements(list_type, new_items),
            ) {
                (Ok(old_items), Ok(new_items)) => {
                    for (element, item) in &old_items {
                        let other = new_items
                            .iter()
                            .find(|(candidate, _)| candidate == element)
                            .map(|(_, item)| *item);
                        path.push(element.clone());
                        compare_element(Some(item), other, type_ref, path, out);
                        path.pop();
                    }
                    for (element, item) in &new_items {
                        if !old_items.iter().any(|(candidate, _)| candidate == element) {
                            path.push(element.clone());
                            compare_element(None, Some(item), type_ref, path, out);
                            path.pop();
                        }
                    }
                }
                _ => {
                    compare_leaf(old, new, path, out);
                    return;
                }
            }
        }
        Shape::Leaf => {
            compare_leaf(old, new, path, out);
            return;
        }
    }
    match (old, new) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        _ => {}
    }
}

fn compare_element(
    old: Option<&Value>,
    new: Option<&Value>,
    type_ref: TypeRef,
    path: &mut Path,
    out: &mut Comparison,
) {
    match (old, new) {
        (Some(Value::Object(_)) | None, Some(Value::Object(_)) | None) => {
            compare_maps(
                old.and_then(Value::as_object),
                new.and_then(Value::as_object),
                type_ref.element(),
                path,
                out,
            );
            match (old, new) {
                (None, Some(_)) => out.added.insert(path),
                (Some(_), None) => out.removed.insert(path),
                _ => {}
            }
        }
        _ => compare_leaf(old, new, path, out),
    }
}

fn compare_leaf(old: Option<&Value>, new: Option<&Value>, path: &Path, out: &mut Comparison) {
    match (old, new) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        // Values compare as written, as structured-merge-diff compares them: a number applied
        // where the object holds the same quantity as a string (`cpu: 1` against `"1"`) is a
        // different value, which conflicts with another owner of the field.
        (Some(old), Some(new)) if old != new => out.modified.insert(path),
        _ => {}
    }
}

/// Merges an applied configuration into the live object: granular maps merge field by
/// field, `map` and `set` lists element by element (live elements first, in live order, then
/// the new ones in applied order), and everything else takes the applied value. A `null` in
/// the configuration removes the field.
pub fn merge(
    live: &Value,
    config: &Value,
    schema: &'static PatchSchema,
) -> Result<Value, TypeError> {
    let root = TypeRef {
        field: None,
        schema: Some(schema),
    };
    let empty = Map::new();
    Ok(Value::Object(merge_maps(
        live.as_object().unwrap_or(&empty),
        config.as_object().unwrap_or(&empty),
        root,
        &Path::root(),
    )?))
}

fn merge_maps(
    live: &Map<String, Value>,
    config: &Map<String, Value>,
    type_ref: TypeRef,
    path: &Path,
) -> Result<Map<String, Value>, TypeError> {
    let mut merged = live.clone();
    for (key, value) in config {
        if value.is_null() {
            merged.remove(key);
            continue;
        }
        let child = match live.get(key).filter(|v| !v.is_null()) {
            Some(current) => merge_values(
                current,
                value,
                type_ref.field(key),
                &path.child(PathElement::field(key)),
            )?,
            None => without_nulls(value),
        };
        merged.insert(key.clone(), child);
    }
    Ok(merged)
}

fn merge_values(
    live: &Value,
    config: &Value,
    type_ref: TypeRef,
    path: &Path,
) -> Result<Value, TypeError> {
    match (type_ref.shape_of_pair(live, config), live, config) {
        (Shape::Map, Value::Object(live), Value::Object(config)) => {
            Ok(Value::Object(merge_maps(live, config, type_ref, path)?))
        }
        (Shape::List(list_type), Value::Array(live_items), Value::Array(config_items)) => {
            let applied = elements(list_type, config_items).map_err(|reason| TypeError {
                path: path.to_string(),
                reason,
            })?;
            let Ok(current) = elements(list_type, live_items) else {
                // A live list Kubernetes could not key (duplicates): the applied one wins.
                return Ok(without_nulls(config));
            };
            let mut merged = Vec::with_capacity(current.len() + applied.len());
            for (element, item) in &current {
                match applied.iter().find(|(candidate, _)| candidate == element) {
                    Some((_, applied_item)) => merged.push(merge_element(
                        item,
                        applied_item,
                        type_ref,
                        &path.child(element.clone()),
                    )?),
                    None => merged.push((*item).clone()),
                }
            }
            for (element, item) in &applied {
                if !current.iter().any(|(candidate, _)| candidate == element) {
                    merged.push(without_nulls(item));
                }
            }
            Ok(Value::Array(merged))
        }
        _ => Ok(without_nulls(config)),
    }
}

fn merge_element(
    live: &Value,
    config: &Value,
    type_ref: TypeRef,
    path: &Path,
) -> Result<Value, TypeError> {
    match (live, config) {
        (Value::Object(live), Value::Object(config)) => Ok(Value::Object(merge_maps(
            live,
            config,
            type_ref.element(),
            path,
        )?)),
        _ => Ok(without_nulls(config)),
    }
}

/// A configured value as it is stored: `null` fields dropped.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        scalar => scalar.clone(),
    }
}

/// Removes from `value` every field and list element whose path is a member of `remove`
/// (with everything below it), keeping what is not named.
pub fn remove(value: &Value, remove: &FieldSet, schema: &'static PatchSchema) -> Value {
    let root = TypeRef {
        field: None,
        schema: Some(schema),
    };
    match value {
        Value::Object(map) => Value::Object(remove_from_map(map, remove, root, &Path::root())),
        other => other.clone(),
    }
}

fn remove_from_map(
    map: &Map<String, Value>,
    remove: &FieldSet,
    type_ref: TypeRef,
    path: &Path,
) -> Map<String, Value> {
    let mut kept = Map::new();
    for (key, value) in map {
        let child_path = path.child(PathElement::field(key));
        if remove.contains(&child_path) {
            continue;
        }
        let value = if remove.has_descendants(&child_path) {
            remove_from_value(value, remove, type_ref.field(key), &child_path)
        } else {
            value.clone()
        };
        kept.insert(key.clone(), value);
    }
    kept
}

fn remove_from_value(value: &Value, remove: &FieldSet, type_ref: TypeRef, path: &Path) -> Value {
    match (type_ref.shape(value), value) {
        (Shape::Map, Value::Object(map)) => {
            Value::Object(remove_from_map(map, remove, type_ref, path))
        }
        (Shape::List(list_type), Value::Array(items)) => {
            let mut kept = Vec::with_capacity(items.len());
            for item in items {
                let Ok(element) = element_of(list_type, item) else {
                    kept.push(item.clone());
                    continue;
                };
                let item_path = path.child(element);
                if remove.contains(&item_path) {
                    continue;
                }
                match item {
                    Value::Object(fields) if remove.has_descendants(&item_path) => {
                        kept.push(Value::Object(remove_from_map(
                            fields,
                            remove,
                            type_ref.element(),
                            &item_path,
                        )))
                    }
                    _ => kept.push(item.clone()),
                }
            }
            Value::Array(kept)
        }
        _ => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> &'static PatchSchema {
        PatchSchema::for_kind("", "v1", "Pod").unwrap()
    }

    fn shown(set: &FieldSet) -> Vec<String> {
        set.paths().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn ports_are_keyed_by_port_and_defaulted_protocol() {
        let config =
            json!({"spec": {"containers": [{"name": "web", "ports": [{"containerPort": 80}]}]}});
        let set = field_set_of(&config, pod()).unwrap();
        assert!(shown(&set).contains(
            &".spec.containers[name=\"web\"].ports[containerPort=80,protocol=\"TCP\"]".to_owned()
        ));
    }

    #[test]
    fn atomic_lists_and_empty_maps_are_leaves() {
        let config = json!({"spec": {
            "tolerations": [{"key": "a"}],
            "volumes": [{"name": "data", "emptyDir": {}}],
        }});
        let set = field_set_of(&config, pod()).unwrap();
        assert_eq!(
            shown(&set),
            [
                ".spec.tolerations",
                ".spec.volumes[name=\"data\"]",
                ".spec.volumes[name=\"data\"].emptyDir",
                ".spec.volumes[name=\"data\"].name",
            ]
        );
    }

    #[test]
    fn keyed_elements_without_their_key_are_type_errors() {
        let config = json!({"spec": {"containers": [{"image": "nginx"}]}});
        let error = field_set_of(&config, pod()).unwrap_err();
        assert_eq!(error.path, ".spec.containers");
        let duplicate = json!({"spec": {"containers": [{"name": "a"}, {"name": "a"}]}});
        assert!(field_set_of(&duplicate, pod()).is_err());
    }

    #[test]
    fn comparison_reports_added_modified_and_removed_paths() {
        let old = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"containers": [{"name": "web", "image": "v1"}]}});
        let new = json!({"metadata": {"labels": {"a": "1", "c": "3"}}, "spec": {"containers": [{"name": "web", "image": "v2"}, {"name": "log"}]}});
        let comparison = compare(&old, &new, pod());
        assert_eq!(
            shown(&comparison.added),
            [
                ".metadata.labels.c",
                ".spec.containers[name=\"log\"]",
                ".spec.containers[name=\"log\"].name",
            ]
        );
        assert_eq!(
            shown(&comparison.modified),
            [".spec.containers[name=\"web\"].image"]
        );
        assert_eq!(shown(&comparison.removed), [".metadata.labels.b"]);
        assert!(compare(&old, &old, pod()).is_same());
    }

    #[test]
    fn a_quantity_applied_as_a_number_differs_from_the_stored_string() {
        // Kubernetes compares the applied configuration before decoding it: `cpu: 1` against
        // a stored `"1"` is modified, so another owner of the field sees a conflict.
        let old = json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}});
        let new = json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": 1, "memory": "1Gi"}}}]}});
        let comparison = compare(&old, &new, pod());
        assert!(!comparison.is_same());
        let cpu = Path::from(vec![
            PathElement::field("spec"),
            PathElement::field("containers"),
            PathElement::key(&[("name", &json!("c"))]),
            PathElement::field("resources"),
            PathElement::field("limits"),
            PathElement::field("cpu"),
        ]);
        assert!(comparison.modified.contains(&cpu), "{comparison:?}");
        assert!(compare(&old, &old, pod()).is_same());
    }

    #[test]
    fn merge_keeps_live_elements_first_and_appends_new_ones() {
        let live = json!({"metadata": {"finalizers": ["b", "a"]}, "spec": {"containers": [{"name": "b", "image": "1"}, {"name": "a"}]}});
        let config = json!({"metadata": {"finalizers": ["c", "a"]}, "spec": {"containers": [{"name": "c"}, {"name": "a", "image": "2"}]}});
        let merged = merge(&live, &config, pod()).unwrap();
        assert_eq!(merged["metadata"]["finalizers"], json!(["b", "a", "c"]));
        assert_eq!(
            merged["spec"]["containers"],
            json!([{"name": "b", "image": "1"}, {"name": "a", "image": "2"}, {"name": "c"}])
        );
    }

    #[test]
    fn merge_replaces_atomic_values_and_drops_nulls() {
        let live = json!({"spec": {"tolerations": [{"key": "a"}], "nodeSelector": {"x": "1"}, "hostname": "h"}});
        let config = json!({"spec": {"tolerations": [{"key": "b"}], "nodeSelector": {"y": "2"}, "hostname": null}});
        let merged = merge(&live, &config, pod()).unwrap();
        assert_eq!(
            merged,
            json!({"spec": {"tolerations": [{"key": "b"}], "nodeSelector": {"x": "1", "y": "2"}}})
        );
    }

    #[test]
    fn remove_drops_named_fields_and_elements_only() {
        let value = json!({"spec": {"containers": [{"name": "a", "image": "1", "args": ["x"]}, {"name": "b"}]}});
        let mut set = FieldSet::default();
        let containers = Path::from(vec![
            PathElement::field("spec"),
            PathElement::field("containers"),
        ]);
        set.insert(&containers.child(PathElement::key(&[("name", &json!("b"))])));
        set.insert(
            &containers
                .child(PathElement::key(&[("name", &json!("a"))]))
                .child(PathElement::field("args")),
        );
        assert_eq!(
            remove(&value, &set, pod()),
            json!({"spec": {"containers": [{"name": "a", "image": "1"}]}})
        );
    }
}
