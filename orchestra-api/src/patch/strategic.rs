//! Strategic merge patch: Kubernetes' own patch format, the one `kubectl patch` sends by
//! default and `kubectl apply` (client-side) computes.
//!
//! It is a JSON merge patch that knows the type it patches. Maps merge key by key and a `null`
//! deletes a key, as in RFC 7386; but a list whose field is tagged `patchStrategy: merge`
//! ([`PatchSchema`]) is merged element by element, matched by its merge key, instead of being
//! replaced. Directives in the patch refine that:
//!
//! | directive | where | effect |
//! |---|---|---|
//! | `$patch: replace` | a map | the map replaces the live one instead of merging into it |
//! | `$patch: delete` | a map | the live map is cleared (`{}`) |
//! | `{"name": "x", "$patch": "delete"}` | an element of a merged list | removes every live element with that merge key |
//! | `{"$patch": "replace"}` | an element of a merged list | the patch list (without that element) replaces the live list |
//! | `$deleteFromPrimitiveList/<field>: [..]` | beside a list of scalars | removes those values |
//! | `$setElementOrder/<field>: [..]` | beside a merged list | orders the result as listed |
//! | `$retainKeys: [..]` | a map | drops every live key not listed |
//!
//! ```
//! use orchestra_api::patch::{strategic_merge, PatchSchema};
//! use serde_json::json;
//!
//! let pod = json!({"spec": {"containers": [
//!     {"name": "web", "image": "nginx:1.27"},
//!     {"name": "log", "image": "fluentd"},
//! ]}});
//! let schema = PatchSchema::for_kind("", "v1", "Pod").unwrap();
//!
//! // Only the named container changes; the other one stays.
//! let patched = strategic_merge(
//!     &pod,
//!     &json!({"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}),
//!     schema,
//! )
//! .unwrap();
//! assert_eq!(patched["spec"]["containers"], json!([
//!     {"name": "web", "image": "nginx:1.28"},
//!     {"name": "log", "image": "fluentd"},
//! ]));
//!
//! // `$patch: delete` removes one container by name.
//! let patched = strategic_merge(
//!     &patched,
//!     &json!({"spec": {"containers": [{"name": "log", "$patch": "delete"}]}}),
//!     schema,
//! )
//! .unwrap();
//! assert_eq!(patched["spec"]["containers"], json!([{"name": "web", "image": "nginx:1.28"}]));
//! ```
//!
//! This follows `k8s.io/apimachinery/pkg/util/strategicpatch` as the API server runs it
//! (`StrategicMergeMapPatch`): nulls in new values are dropped, directives never reach the
//! stored object, and merged lists keep Kubernetes' order (patch elements in patch order,
//! interleaved with the live-only elements by their live position). Where Kubernetes'
//! behaviour depends on Go's random map order, deletions from primitive lists are applied
//! after additions. A `$deleteFromPrimitiveList` whose value or target is not a list is
//! ignored, and a `$setElementOrder` over two empty lists yields the empty list rather than
//! Kubernetes' internal error.

mod list;

use serde_json::{Map, Value};

use super::error::PatchError;
use super::schema::{PatchMeta, PatchSchema, PatchStrategy};
use list::ListMode;

/// The key of the `$patch` directive.
const DIRECTIVE_MARKER: &str = "$patch";
/// `$patch: delete`.
const DELETE: &str = "delete";
/// `$patch: replace`.
const REPLACE: &str = "replace";
/// `$patch: merge`.
const MERGE: &str = "merge";
/// The `$retainKeys` directive.
const RETAIN_KEYS: &str = "$retainKeys";
/// The prefix of `$deleteFromPrimitiveList/<field>`.
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
/// The prefix of `$setElementOrder/<field>`.
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// A JSON object.
type Object = Map<String, Value>;

/// Applies the strategic merge patch `patch` to `original`, a Kubernetes object of the type
/// `schema` describes (see [`PatchSchema::for_kind`]), and returns the patched object.
///
/// `patch` must be a JSON object; `original` a JSON object (or `null`, read as `{}`). Neither
/// is modified. The errors are Kubernetes' (see [`PatchError`] for the HTTP answer to each):
/// a malformed directive, a merged-list element without its merge key, a list of lists.
pub fn strategic_merge(
    original: &Value,
    patch: &Value,
    schema: &PatchSchema,
) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::BadJsonDocument(format!(
            "a strategic merge patch must be a JSON object, not {}",
            json_type(patch)
        )));
    };
    let original = match original {
        Value::Object(original) => original.clone(),
        Value::Null => Object::new(),
        other => {
            return Err(PatchError::BadJsonDocument(format!(
                "the object to patch must be a JSON object, not {}",
                json_type(other)
            )));
        }
    };
    merge_map(original, patch.clone(), Some(schema)).map(Value::Object)
}

/// Merges `patch` into `original`, both maps of the type `schema` describes.
fn merge_map(
    mut original: Object,
    mut patch: Object,
    schema: Option<&PatchSchema>,
) -> Result<Object, PatchError> {
    if let Some(directive) = patch.remove(DIRECTIVE_MARKER) {
        return match directive.as_str() {
            Some(REPLACE) => Ok(sanitize_object(patch)),
            Some(DELETE) => Ok(Object::new()),
            _ => {
                let shown = directive.to_string();
                patch.insert(DIRECTIVE_MARKER.to_owned(), directive);
                Err(PatchError::UnknownPatchType {
                    directive: shown,
                    element: Value::Object(patch).to_string(),
                })
            }
        };
    }

    apply_retain_keys(&mut original, &mut patch)?;
    apply_set_element_order(&mut original, &mut patch, schema)?;

    let mut deletions = Vec::new();
    for (key, value) in patch {
        if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            let Some(field) = directive_field(&key, DELETE_FROM_PRIMITIVE_LIST) else {
                return Err(PatchError::BadDeleteFromPrimitiveList { key });
            };
            deletions.push((field.to_owned(), value));
            continue;
        }
        merge_field(&mut original, key, value, schema)?;
    }
    for (field, values) in deletions {
        delete_from_list(&mut original, field, values, schema)?;
    }
    Ok(original)
}

/// Merges the patch's `value` for `key` into `original`.
fn merge_field(
    original: &mut Object,
    key: String,
    value: Value,
    schema: Option<&PatchSchema>,
) -> Result<(), PatchError> {
    if value.is_null() {
        original.remove(&key);
        return Ok(());
    }
    let Some(current) = original.remove(&key) else {
        if let Some(value) = new_value(value) {
            original.insert(key, value);
        }
        return Ok(());
    };
    let (meta, field_schema) = field_meta(schema, &key);
    let merged =
        match (current, value) {
            (Value::Object(current), Value::Object(patch)) => {
                Some(Value::Object(if meta.strategy == PatchStrategy::Replace {
                    sanitize_object(patch)
                } else {
                    merge_map(current, patch, field_schema)?
                }))
            }
            (Value::Array(current), Value::Array(patch)) => Some(Value::Array(
                list::merge_field_list(&key, current, patch, meta, field_schema, ListMode::Merge)?,
            )),
            // A scalar, or a value whose JSON type changed: the patch's value wins.
            (_, value) => new_value(value),
        };
    if let Some(merged) = merged {
        original.insert(key, merged);
    }
    Ok(())
}

/// Applies `$deleteFromPrimitiveList/<field>: values`.
fn delete_from_list(
    original: &mut Object,
    field: String,
    values: Value,
    schema: Option<&PatchSchema>,
) -> Result<(), PatchError> {
    let Value::Array(values) = values else {
        return Ok(());
    };
    let Some(Value::Array(current)) = original.remove(&field) else {
        return Ok(());
    };
    let (meta, field_schema) = field_meta(schema, &field);
    let remaining = list::merge_field_list(
        &field,
        current,
        values,
        meta,
        field_schema,
        ListMode::DeleteScalars,
    )?;
    original.insert(field, Value::Array(remaining));
    Ok(())
}

/// Applies and removes the patch's `$retainKeys` list: every key of `original` not listed is
/// cleared, and every key the patch sets must be listed.
fn apply_retain_keys(original: &mut Object, patch: &mut Object) -> Result<(), PatchError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadRetainKeys {
            detail: format!(
                "$retainKeys must be a list of field names, not {}",
                json_type(&retain)
            ),
        });
    };
    let kept = |key: &str| retain.iter().any(|name| name.as_str() == Some(key));
    let unlisted = patch.iter().find(|(key, value)| {
        !value.is_null()
            && !key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            && !key.starts_with(SET_ELEMENT_ORDER)
            && !kept(key)
    });
    if let Some((key, _)) = unlisted {
        return Err(PatchError::BadRetainKeys {
            detail: format!(
                "the patch sets {key:?}, which its $retainKeys list {} does not keep",
                Value::Array(retain.clone())
            ),
        });
    }
    original.retain(|key, _| kept(key));
    Ok(())
}

/// Applies and removes every `$setElementOrder/<field>` list of the patch, merging the
/// field's patch list (if any) in the process.
fn apply_set_element_order(
    original: &mut Object,
    patch: &mut Object,
    schema: Option<&PatchSchema>,
) -> Result<(), PatchError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|key| key.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order) = patch.remove(&key) else {
            continue;
        };
        let Some(field) = directive_field(&key, SET_ELEMENT_ORDER) else {
            return Err(PatchError::BadSetElementOrder {
                detail: format!("{key:?} is not of the form \"$setElementOrder/<field>\""),
            });
        };
        let Value::Array(order) = order else {
            return Err(wrong_type("list", &order, &key));
        };
        let current = take_list(original, field)?;
        let patch_list = take_list(patch, field)?;
        let (meta, field_schema) = field_meta(schema, field);
        list::validate_order(
            field,
            patch_list.as_deref().unwrap_or_default(),
            &order,
            meta.merge_key,
        )?;
        let server_order = current.clone().unwrap_or_default();
        let has_elements = list::element_kind(
            field,
            &server_order,
            patch_list.as_deref().unwrap_or_default(),
        )?
        .is_some();
        let merged = match (current, patch_list) {
            (Some(current), None) => current,
            (None, Some(patch_list)) => patch_list.into_iter().filter_map(new_value).collect(),
            (Some(current), Some(patch_list)) => list::merge_field_list(
                field,
                current,
                patch_list,
                meta,
                field_schema,
                ListMode::Merge,
            )?,
            (None, None) => continue,
        };
        let ordered = if has_elements {
            list::order_as_listed(field, merged, &order, &server_order, meta.merge_key)?
        } else {
            merged
        };
        original.insert(field.to_owned(), Value::Array(ordered));
    }
    Ok(())
}

/// Removes `field` from `map` if it is there, requiring it to be a list.
fn take_list(map: &mut Object, field: &str) -> Result<Option<Vec<Value>>, PatchError> {
    match map.remove(field) {
        None => Ok(None),
        Some(Value::Array(list)) => Ok(Some(list)),
        Some(other) => Err(wrong_type("list", &other, field)),
    }
}

/// The field name of a `<prefix>/<field>` directive key.
fn directive_field<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    key.split_once('/')
        .and_then(|(head, field)| (head == prefix).then_some(field))
}

/// The metadata of `key` in `schema`, and the schema of its value.
fn field_meta(
    schema: Option<&PatchSchema>,
    key: &str,
) -> (PatchMeta, Option<&'static PatchSchema>) {
    schema
        .and_then(|schema| schema.field(key))
        .map_or((PatchMeta::DEFAULT, None), |field| {
            (field.meta(), field.schema())
        })
}

/// Whether `key` is a patch directive rather than a field.
fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE_MARKER
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// A patch value taken where the live object has nothing to merge it into, as Kubernetes
/// stores it: `null`s in maps dropped, maps carrying a `$patch` directive dropped (`None` when
/// `value` itself is one), other directive keys dropped.
fn new_value(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map
                .get(DIRECTIVE_MARKER)
                .is_some_and(|directive| !directive.is_null())
            {
                return None;
            }
            Some(Value::Object(
                map.into_iter()
                    .filter(|(key, value)| !value.is_null() && !is_directive_key(key))
                    .filter_map(|(key, value)| new_value(value).map(|value| (key, value)))
                    .collect(),
            ))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(new_value).collect(),
        )),
        scalar => Some(scalar),
    }
}

/// A value a patch replaces wholesale, as Kubernetes stores it once decoded into its type:
/// `null`s in maps and directive keys dropped.
fn sanitize(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(sanitize_object(map)),
        Value::Array(items) => Value::Array(items.into_iter().map(sanitize).collect()),
        scalar => scalar,
    }
}

/// [`sanitize`] for a map.
fn sanitize_object(map: Object) -> Object {
    map.into_iter()
        .filter(|(key, value)| !value.is_null() && !is_directive_key(key))
        .map(|(key, value)| (key, sanitize(value)))
        .collect()
}

/// The JSON type of `value`, for messages.
pub(super) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

/// [`PatchError::WrongType`] for `found` where a value of type `expected` belongs.
fn wrong_type(expected: &'static str, found: &Value, field: &str) -> PatchError {
    PatchError::WrongType {
        expected,
        found: json_type(found),
        field: field.to_owned(),
    }
}
