//! Why a patch could not be applied, and how Kubernetes answers each case.
//!
//! Every [`PatchError`] knows the HTTP code, `reason` and message Kubernetes v1.33 puts in its
//! `Status` for the same failure, so the API server answers exactly as `kubectl` expects:
//!
//! ```
//! use orchestra_api::patch::{json_patch, PatchError};
//! use serde_json::json;
//!
//! let failed = json_patch(
//!     &json!({"spec": {"replicas": 1}}),
//!     &json!([{"op": "test", "path": "/spec/replicas", "value": 2}]),
//! )
//! .unwrap_err();
//! assert_eq!(failed.status_code(), 422);
//! let status = failed.to_status();
//! assert_eq!(status.reason.as_str(), "Invalid");
//! assert_eq!(
//!     status.message,
//!     "the server rejected our request due to an error in our request"
//! );
//! ```

use crate::Status;
use crate::status::{StatusCause, StatusDetails, StatusReason};

/// The message Kubernetes puts in a 422 it raises itself while applying a patch
/// (`NewGenericServerResponse(422, …)` with no resource): a fixed text that names neither the
/// operation nor the path. [`PatchError::to_status`] adds the detail as a cause.
pub const GENERIC_INVALID_MESSAGE: &str =
    "the server rejected our request due to an error in our request";

/// The most operations Kubernetes accepts in one JSON patch (`maxJSONPatchOperations`).
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// A patch that could not be applied.
///
/// The variants follow the errors of Kubernetes' `strategicpatch` and `mergepatch` packages
/// and of its JSON-patch handler. [`status_code`](Self::status_code) and
/// [`to_status`](Self::to_status) give Kubernetes' answer for each, including its quirks:
/// a malformed directive is `400 BadRequest`, a list of lists and a failed JSON patch
/// operation are `422 Invalid`, and the errors Kubernetes does not classify (a list element
/// without its merge key, an unknown `$patch` value) reach the client as
/// `500` with an empty reason and the error text as message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// The patch body is not a JSON object (`400`; Kubernetes' `ErrBadJSONDoc`).
    #[error("invalid JSON document: {0}")]
    BadJsonDocument(String),

    /// A `$deleteFromPrimitiveList` key that is not `$deleteFromPrimitiveList/<field>`
    /// (`400`; `ErrBadPatchFormatForPrimitiveList`).
    #[error(
        "invalid patch format of primitive list: {key:?} is not of the form \"$deleteFromPrimitiveList/<field>\""
    )]
    BadDeleteFromPrimitiveList {
        /// The offending key.
        key: String,
    },

    /// A `$retainKeys` directive that is not a list, or a patch that sets a field its own
    /// `$retainKeys` list does not keep (`400`; `ErrBadPatchFormatForRetainKeys`).
    #[error("invalid patch format of retainKeys: {detail}")]
    BadRetainKeys {
        /// What is wrong with it.
        detail: String,
    },

    /// A `$setElementOrder` key that is not `$setElementOrder/<field>`
    /// (`400`; `ErrBadPatchFormatForSetElementOrderList`).
    #[error("invalid patch format of setElementOrder list: {detail}")]
    BadSetElementOrder {
        /// What is wrong with it.
        detail: String,
    },

    /// The patch list names elements in an order that contradicts its `$setElementOrder` list,
    /// or names elements the order list lacks (`500`, unclassified in Kubernetes).
    #[error("the order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}")]
    SetElementOrderMismatch {
        /// The patch list, as JSON.
        patch: String,
        /// The `$setElementOrder` list, as JSON.
        order: String,
    },

    /// An element of a merged list lacks the list's merge key (`500`, unclassified in
    /// Kubernetes): every container in a `containers` patch needs its `name`.
    #[error("map: {element} does not contain declared merge key: {merge_key}")]
    MissingMergeKey {
        /// The element, as JSON.
        element: String,
        /// The merge key it lacks.
        merge_key: String,
    },

    /// A `$patch` directive other than `replace` or `delete` in a map, or other than
    /// `replace`, `delete` or `merge` in a list element (`500`, unclassified in Kubernetes).
    #[error("unknown patch type: {directive} in map: {element}")]
    UnknownPatchType {
        /// The directive's value, as JSON.
        directive: String,
        /// The map that holds it, as JSON.
        element: String,
    },

    /// `$patch: merge` in an element of a merged list, which Kubernetes has never implemented
    /// (`500`, unclassified in Kubernetes).
    #[error("merging lists cannot yet be specified in the patch")]
    MergeDirectiveInList,

    /// A list whose elements are lists (`422`; `ErrNoListOfLists`).
    #[error("lists of lists are not supported")]
    ListOfLists,

    /// A merged list whose elements are not all of one JSON type, in the live object and the
    /// patch together (`500`, unclassified in Kubernetes).
    #[error("list element types are not identical: {0}")]
    MixedListElements(String),

    /// A list of objects was patched where the schema declares a merge strategy but no merge
    /// key (a list of scalars such as `finalizers` given objects) (`500`).
    #[error("cannot merge lists without merge key for {0}")]
    NoMergeKeyDeclared(String),

    /// A directive whose value has the wrong JSON type, or a `$setElementOrder` for a field
    /// that is not a list (`500`, unclassified in Kubernetes).
    #[error("expected a {expected}, but received a {found} for {field:?}")]
    WrongType {
        /// The JSON type expected.
        expected: &'static str,
        /// The JSON type received.
        found: &'static str,
        /// The key concerned.
        field: String,
    },

    /// A JSON patch body that is not a list of RFC 6902 operations (`400`).
    #[error("invalid JSON patch: {0}")]
    BadJsonPatch(String),

    /// A JSON patch with more than [`MAX_JSON_PATCH_OPERATIONS`] operations (`413`).
    #[error(
        "Request entity too large: The allowed maximum operations in a JSON patch is {max}, got {count}"
    )]
    TooManyOperations {
        /// Operations in the patch.
        count: usize,
        /// The limit.
        max: usize,
    },

    /// A JSON patch operation failed: a `test` that did not hold, a path that does not exist,
    /// a move into its own child (`422 Invalid`, with Kubernetes' fixed message
    /// [`GENERIC_INVALID_MESSAGE`]).
    #[error("JSON patch operation {index} ({op} {path}) failed: {reason}")]
    JsonPatchFailed {
        /// Zero-based index of the failed operation.
        index: usize,
        /// The operation (`test`, `add`, …).
        op: &'static str,
        /// The operation's `path`.
        path: String,
        /// Why it failed.
        reason: String,
    },
}

impl PatchError {
    /// The HTTP status code Kubernetes answers this error with.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::BadJsonDocument(_)
            | Self::BadDeleteFromPrimitiveList { .. }
            | Self::BadRetainKeys { .. }
            | Self::BadSetElementOrder { .. }
            | Self::BadJsonPatch(_) => 400,
            Self::TooManyOperations { .. } => 413,
            Self::ListOfLists | Self::JsonPatchFailed { .. } => 422,
            Self::SetElementOrderMismatch { .. }
            | Self::MissingMergeKey { .. }
            | Self::UnknownPatchType { .. }
            | Self::MergeDirectiveInList
            | Self::MixedListElements(_)
            | Self::NoMergeKeyDeclared(_)
            | Self::WrongType { .. } => 500,
        }
    }

    /// The `reason` of Kubernetes' `Status`: `BadRequest`, `Invalid`,
    /// `RequestEntityTooLarge`, or the empty reason (`StatusReasonUnknown`) for the errors
    /// Kubernetes does not classify.
    pub fn reason(&self) -> StatusReason {
        match self.status_code() {
            400 => StatusReason::BadRequest,
            413 => StatusReason::RequestEntityTooLarge,
            422 => StatusReason::Invalid,
            _ => StatusReason::Other(String::new()),
        }
    }

    /// The `Status` Kubernetes answers with: same code, reason and message. For the 422s,
    /// whose Kubernetes message is the fixed [`GENERIC_INVALID_MESSAGE`], the precise error
    /// is added as the single cause, so a client can tell what failed.
    pub fn to_status(&self) -> Status {
        let code = self.status_code();
        match code {
            422 => Status::failure(StatusReason::Invalid, GENERIC_INVALID_MESSAGE).with_details(
                StatusDetails {
                    causes: vec![StatusCause {
                        message: self.to_string(),
                        ..StatusCause::default()
                    }],
                    ..StatusDetails::default()
                },
            ),
            _ => Status::failure(self.reason(), self.to_string()).with_code(code),
        }
    }
}

impl From<PatchError> for Status {
    fn from(error: PatchError) -> Self {
        error.to_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_json_patch_operation_is_the_generic_invalid_of_kubernetes() {
        let error = PatchError::JsonPatchFailed {
            index: 0,
            op: "test",
            path: "/spec/replicas".into(),
            reason: "value did not match".into(),
        };
        let status = serde_json::to_value(error.to_status()).unwrap();
        assert_eq!(status["code"], 422);
        assert_eq!(status["reason"], "Invalid");
        assert_eq!(status["message"], GENERIC_INVALID_MESSAGE);
        assert_eq!(
            status["details"]["causes"][0]["message"],
            "JSON patch operation 0 (test /spec/replicas) failed: value did not match"
        );
    }

    #[test]
    fn unclassified_errors_are_500_with_an_empty_reason() {
        let error = PatchError::MissingMergeKey {
            element: r#"{"image":"nginx"}"#.into(),
            merge_key: "name".into(),
        };
        let status = serde_json::to_value(error.to_status()).unwrap();
        assert_eq!(status["code"], 500);
        assert!(status.get("reason").is_none());
        assert_eq!(
            status["message"],
            r#"map: {"image":"nginx"} does not contain declared merge key: name"#
        );
    }

    #[test]
    fn malformed_directives_are_bad_requests() {
        let error = PatchError::BadRetainKeys {
            detail: "$retainKeys must be a list".into(),
        };
        let status = error.to_status();
        assert_eq!(status.code, 400);
        assert_eq!(status.reason, StatusReason::BadRequest);
        assert_eq!(
            status.message,
            "invalid patch format of retainKeys: $retainKeys must be a list"
        );
    }

    #[test]
    fn too_many_operations_is_request_entity_too_large() {
        let error = PatchError::TooManyOperations {
            count: 10_001,
            max: MAX_JSON_PATCH_OPERATIONS,
        };
        let status = error.to_status();
        assert_eq!(status.code, 413);
        assert_eq!(status.reason, StatusReason::RequestEntityTooLarge);
        assert_eq!(
            status.message,
            "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
        );
    }
}
