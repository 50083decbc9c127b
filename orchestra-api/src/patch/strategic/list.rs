//! Merging and ordering lists: the `patchStrategy: merge` half of strategic merge patch.
//!
//! A merged list of objects pairs live and patch elements by merge key; a merged list of
//! scalars is a set union. The result keeps Kubernetes' order: the elements the patch names,
//! in patch order (or `$setElementOrder` order), interleaved with the live-only elements,
//! which keep their live order and stay before any patch element that came after them in the
//! live list. A new element therefore goes before the live-only ones that follow no patch
//! element — `kubectl patch` adding a container puts it first.

use std::cmp::Ordering;

use serde_json::Value;

use super::{DELETE, DIRECTIVE_MARKER, MERGE, REPLACE, json_type, merge_map, sanitize, wrong_type};
use crate::patch::error::PatchError;
use crate::patch::schema::{PatchMeta, PatchSchema, PatchStrategy};

/// What to do with the patch's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ListMode {
    /// The field's own patch list.
    Merge,
    /// A `$deleteFromPrimitiveList/<field>` list: remove these scalars.
    DeleteScalars,
}

/// Merges the patch list of `field` into its live list, by the field's strategy.
pub(super) fn merge_field_list(
    field: &str,
    current: Vec<Value>,
    patch: Vec<Value>,
    meta: PatchMeta,
    element: Option<&PatchSchema>,
    mode: ListMode,
) -> Result<Vec<Value>, PatchError> {
    if meta.strategy != PatchStrategy::Merge && mode == ListMode::Merge {
        // No strategy: the patch list replaces the live one.
        return Ok(patch.into_iter().map(sanitize).collect());
    }
    if current.is_empty() && patch.is_empty() {
        return Ok(current);
    }
    match element_kind(field, &current, &patch)? {
        Some(ElementKind::Object) => {
            let Some(merge_key) = meta.merge_key else {
                return Err(PatchError::NoMergeKeyDeclared(field.to_owned()));
            };
            merge_objects(field, current, patch, merge_key, element)
        }
        _ if mode == ListMode::DeleteScalars => Ok(current
            .into_iter()
            .filter(|value| !patch.contains(value))
            .collect()),
        _ => Ok(union_scalars(current, patch)),
    }
}

/// The kinds of list elements that merge differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ElementKind {
    /// Objects, merged by merge key.
    Object,
    /// Strings, numbers, booleans or nulls, merged as a set.
    Scalar,
}

/// The one JSON type of every element of `current` and `patch` together, or `None` if both
/// are empty. Lists of lists and mixed lists are errors, as in Kubernetes.
pub(super) fn element_kind(
    field: &str,
    current: &[Value],
    patch: &[Value],
) -> Result<Option<ElementKind>, PatchError> {
    let mut seen: Option<&'static str> = None;
    for value in current.iter().chain(patch) {
        let kind = json_type(value);
        match seen {
            None if value.is_array() => return Err(PatchError::ListOfLists),
            None => seen = Some(kind),
            Some(first) if first != kind => {
                return Err(PatchError::MixedListElements(format!(
                    "{field}: {first} and {kind} elements in {} and {}",
                    Value::Array(current.to_vec()),
                    Value::Array(patch.to_vec())
                )));
            }
            Some(_) => {}
        }
    }
    Ok(seen.map(|kind| {
        if kind == "map" {
            ElementKind::Object
        } else {
            ElementKind::Scalar
        }
    }))
}

/// The set union of two lists of scalars, in Kubernetes' order.
fn union_scalars(current: Vec<Value>, patch: Vec<Value>) -> Vec<Value> {
    let server_order = current.clone();
    let mut patch_items: Vec<Value> = Vec::with_capacity(patch.len());
    for value in patch {
        if !patch_items.contains(&value) {
            patch_items.push(value);
        }
    }
    let mut server_only: Vec<Value> = Vec::with_capacity(current.len());
    for value in current {
        if !patch_items.contains(&value) && !server_only.contains(&value) {
            server_only.push(value);
        }
    }
    interleave(server_only, patch_items, &server_order, None)
}

/// Merges a patch list of objects into the live list by `merge_key`.
fn merge_objects(
    field: &str,
    current: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    element: Option<&PatchSchema>,
) -> Result<Vec<Value>, PatchError> {
    let (current, patch) = apply_list_directives(current, patch, merge_key)?;
    let server_order = current.clone();
    let patch_order = patch.clone();
    let mut merged = current;
    for item in patch {
        let Value::Object(item) = item else {
            return Err(wrong_type("map", &item, field));
        };
        let Some(key) = item.get(merge_key) else {
            return Err(missing_merge_key(&Value::Object(item), merge_key));
        };
        match merged
            .iter()
            .position(|live| live.get(merge_key) == Some(key))
        {
            Some(at) => {
                let Value::Object(live) = std::mem::take(&mut merged[at]) else {
                    return Err(wrong_type("map", &merged[at], field));
                };
                merged[at] = Value::Object(merge_map(live, item, element)?);
            }
            None => merged.push(sanitize(Value::Object(item))),
        }
    }
    order_as_listed(field, merged, &patch_order, &server_order, Some(merge_key))
}

/// Applies the `$patch` elements of a merged list: `delete` removes live elements by merge
/// key, `replace` makes the rest of the patch list the live list. Returns the live list and
/// the patch elements left to merge.
fn apply_list_directives(
    mut current: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut rest = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(DIRECTIVE_MARKER) else {
            rest.push(item);
            continue;
        };
        match directive.as_str() {
            Some(DELETE) => {
                let Some(key) = item.get(merge_key) else {
                    return Err(missing_merge_key(&item, merge_key));
                };
                current.retain(|live| live.get(merge_key) != Some(key));
            }
            Some(REPLACE) => replace = true,
            Some(MERGE) => return Err(PatchError::MergeDirectiveInList),
            _ => {
                return Err(PatchError::UnknownPatchType {
                    directive: directive.to_string(),
                    element: item.to_string(),
                });
            }
        }
    }
    if replace {
        Ok((rest.into_iter().map(sanitize).collect(), Vec::new()))
    } else {
        Ok((current, rest))
    }
}

/// Checks a patch list against its `$setElementOrder` list: the patch's elements (but its
/// directives) must appear in the order list, in the same relative order.
pub(super) fn validate_order(
    field: &str,
    patch: &[Value],
    order: &[Value],
    merge_key: Option<&str>,
) -> Result<(), PatchError> {
    if order.is_empty() || patch.is_empty() {
        return Ok(());
    }
    let mut listed = Vec::with_capacity(patch.len());
    for item in patch {
        if merge_key.is_some() && !item.is_object() {
            return Err(wrong_type("map", item, field));
        }
        if merge_key.is_none() || item.get(DIRECTIVE_MARKER).and_then(Value::as_str) != Some(DELETE)
        {
            listed.push(item);
        }
    }
    let (mut at_patch, mut at_order) = (0, 0);
    while at_patch < listed.len() && at_order < order.len() {
        if listed[at_patch].get(DIRECTIVE_MARKER).is_some() {
            at_patch += 1;
            continue;
        }
        if same_identity(field, listed[at_patch], &order[at_order], merge_key)? {
            at_patch += 1;
        }
        at_order += 1;
    }
    if at_patch < listed.len() {
        return Err(PatchError::SetElementOrderMismatch {
            patch: Value::Array(patch.to_vec()).to_string(),
            order: Value::Array(order.to_vec()).to_string(),
        });
    }
    Ok(())
}

/// Whether two elements are the same element: same merge key, or equal scalars.
fn same_identity(
    field: &str,
    left: &Value,
    right: &Value,
    merge_key: Option<&str>,
) -> Result<bool, PatchError> {
    let Some(merge_key) = merge_key else {
        return Ok(left == right);
    };
    Ok(required_key(field, left, merge_key)? == required_key(field, right, merge_key)?)
}

/// Orders `merged` as Kubernetes does: the elements named in `listed` (the patch list or its
/// `$setElementOrder`) in that order, interleaved with the others in `server_order`.
pub(super) fn order_as_listed(
    field: &str,
    merged: Vec<Value>,
    listed: &[Value],
    server_order: &[Value],
    merge_key: Option<&str>,
) -> Result<Vec<Value>, PatchError> {
    if let Some(merge_key) = merge_key {
        for item in listed.iter().chain(server_order) {
            required_key(field, item, merge_key)?;
        }
    }
    let mut named = Vec::new();
    let mut server_only = Vec::new();
    for item in merged {
        let identity = match merge_key {
            Some(merge_key) => Some(required_key(field, &item, merge_key)?),
            None => Some(&item),
        };
        if listed
            .iter()
            .any(|entry| identity_of(entry, merge_key) == identity)
        {
            named.push(item);
        } else {
            server_only.push(item);
        }
    }
    sort_by_position(&mut named, listed, merge_key);
    sort_by_position(&mut server_only, server_order, merge_key);
    Ok(interleave(server_only, named, server_order, merge_key))
}

/// Stable-sorts `items` by their position in `order`; items not in it go last.
fn sort_by_position(items: &mut [Value], order: &[Value], merge_key: Option<&str>) {
    items.sort_by_key(|item| position(order, item, merge_key).unwrap_or(usize::MAX));
}

/// Merges two sorted lists: a live-only element goes before a named one exactly when it came
/// first in the live list; otherwise the named element goes first.
fn interleave(
    server_only: Vec<Value>,
    named: Vec<Value>,
    server_order: &[Value],
    merge_key: Option<&str>,
) -> Vec<Value> {
    let mut result = Vec::with_capacity(server_only.len() + named.len());
    let mut server_only = server_only.into_iter().peekable();
    let mut named = named.into_iter().peekable();
    loop {
        let take_server = match (server_only.peek(), named.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(live), Some(patched)) => matches!(
                (
                    position(server_order, live, merge_key),
                    position(server_order, patched, merge_key),
                ),
                (Some(l), Some(p)) if l.cmp(&p) == Ordering::Less
            ),
        };
        let next = if take_server {
            server_only.next()
        } else {
            named.next()
        };
        result.extend(next);
    }
    result
}

/// The position in `order` of the element with `item`'s identity.
fn position(order: &[Value], item: &Value, merge_key: Option<&str>) -> Option<usize> {
    let identity = identity_of(item, merge_key);
    order
        .iter()
        .position(|entry| identity_of(entry, merge_key) == identity)
}

/// What identifies an element: its merge key's value, or the whole scalar.
fn identity_of<'v>(item: &'v Value, merge_key: Option<&str>) -> Option<&'v Value> {
    match merge_key {
        Some(merge_key) => item.get(merge_key),
        None => Some(item),
    }
}

/// The value of `merge_key` in `item`, which must be an object holding it.
fn required_key<'v>(
    field: &str,
    item: &'v Value,
    merge_key: &str,
) -> Result<&'v Value, PatchError> {
    if !item.is_object() {
        return Err(wrong_type("map", item, field));
    }
    item.get(merge_key)
        .ok_or_else(|| missing_merge_key(item, merge_key))
}

/// [`PatchError::MissingMergeKey`] for `item`.
fn missing_merge_key(item: &Value, merge_key: &str) -> PatchError {
    PatchError::MissingMergeKey {
        element: item.to_string(),
        merge_key: merge_key.to_owned(),
    }
}
