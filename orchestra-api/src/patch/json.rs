//! The two schema-free patch types: JSON merge patch (RFC 7386) and JSON patch (RFC 6902).
//!
//! A merge patch is a partial object: its maps merge into the live object, a `null` deletes a
//! key, and anything else (lists included) replaces what was there. A JSON patch is a list of
//! operations on JSON pointers, applied in order, all or nothing.
//!
//! ```
//! use orchestra_api::patch::{json_merge_patch, json_patch};
//! use serde_json::json;
//!
//! let live = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}});
//! let merged = json_merge_patch(&live, &json!({"metadata": {"labels": {"tier": null}}}));
//! assert_eq!(merged, json!({"metadata": {"labels": {"app": "web"}}}));
//!
//! let patched = json_patch(
//!     &merged,
//!     &json!([{"op": "add", "path": "/metadata/labels/env", "value": "prod"}]),
//! )
//! .unwrap();
//! assert_eq!(patched["metadata"]["labels"]["env"], "prod");
//! ```

use json_patch::{Patch, PatchErrorKind, PatchOperation};
use serde_json::Value;

use super::error::{MAX_JSON_PATCH_OPERATIONS, PatchError};

/// Applies a JSON merge patch (RFC 7386, `application/merge-patch+json`) to `original`.
///
/// This is what Kubernetes applies for `kubectl patch --type merge` and for every patch of a
/// custom resource: maps merge recursively, `null` deletes, lists are replaced whole. A patch
/// that is not an object replaces the document (the API server then rejects a non-object
/// result when it decodes it).
pub fn json_merge_patch(original: &Value, patch: &Value) -> Value {
    let mut merged = original.clone();
    json_patch::merge(&mut merged, patch);
    merged
}

/// Applies a JSON patch (RFC 6902, `application/json-patch+json`): `operations` must be a JSON
/// array of `add`, `remove`, `replace`, `move`, `copy` and `test` operations. Either every
/// operation applies or the error says which one failed and why.
///
/// Errors, as Kubernetes answers them:
/// - a body that is not a list of well-formed operations: [`PatchError::BadJsonPatch`], `400`;
/// - more than 10 000 operations: [`PatchError::TooManyOperations`], `413`;
/// - an operation that fails (a `test` that does not hold, a missing path):
///   [`PatchError::JsonPatchFailed`], `422 Invalid`.
///
/// Unlike Kubernetes (whose JSON-patch library decodes leniently and fails at apply time), an
/// unknown `op` or a missing `value` is found while decoding, and so answered with `400`
/// rather than `422`.
pub fn json_patch(original: &Value, operations: &Value) -> Result<Value, PatchError> {
    let count = operations.as_array().map_or(0, Vec::len);
    if count > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations {
            count,
            max: MAX_JSON_PATCH_OPERATIONS,
        });
    }
    let operations = decode(operations)?;
    let mut patched = original.clone();
    // `patch_unsafe` skips the undo log: on error `patched` is half-done, but it is our own
    // copy and is dropped, which makes the operation all-or-nothing for the caller.
    json_patch::patch_unsafe(&mut patched, &operations).map_err(|error| {
        let op = operations.get(error.operation);
        PatchError::JsonPatchFailed {
            index: error.operation,
            op: op.map_or("?", operation_name),
            path: error.path.to_string(),
            reason: failure_reason(&error.kind, op),
        }
    })?;
    Ok(patched)
}

/// Decodes a JSON patch body, with errors mapped to [`PatchError::BadJsonPatch`].
fn decode(operations: &Value) -> Result<Vec<PatchOperation>, PatchError> {
    if !operations.is_array() {
        return Err(PatchError::BadJsonPatch(format!(
            "a JSON patch must be a JSON array of operations, not {}",
            super::strategic::json_type(operations)
        )));
    }
    serde_json::from_value::<Patch>(operations.clone())
        .map(|Patch(operations)| operations)
        .map_err(|error| PatchError::BadJsonPatch(error.to_string()))
}

fn operation_name(operation: &PatchOperation) -> &'static str {
    match operation {
        PatchOperation::Add(_) => "add",
        PatchOperation::Remove(_) => "remove",
        PatchOperation::Replace(_) => "replace",
        PatchOperation::Move(_) => "move",
        PatchOperation::Copy(_) => "copy",
        PatchOperation::Test(_) => "test",
    }
}

fn failure_reason(kind: &PatchErrorKind, operation: Option<&PatchOperation>) -> String {
    match (kind, operation) {
        (PatchErrorKind::TestFailed, Some(PatchOperation::Test(test))) => {
            format!("the value is not {}", test.value)
        }
        (PatchErrorKind::InvalidPointer, _) => {
            "the path does not exist in the object (its parent must exist, and an array index must be in range)".to_owned()
        }
        (PatchErrorKind::InvalidFromPointer, _) => {
            "the \"from\" path does not exist in the object".to_owned()
        }
        (kind, _) => kind.to_string(),
    }
}
