//! Kubernetes patch semantics: the three patch types the API server accepts on `PATCH`, as
//! pure functions over JSON values.
//!
//! | content type | function | what it is |
//! |---|---|---|
//! | `application/strategic-merge-patch+json` | [`strategic_merge`] | merge patch that merges the lists Kubernetes tags `patchStrategy: merge`, with `$patch` and friends |
//! | `application/merge-patch+json` | [`json_merge_patch`] | RFC 7386: maps merge, `null` deletes, lists are replaced |
//! | `application/json-patch+json` | [`json_patch()`] | RFC 6902: a list of pointer operations, all or nothing |
//!
//! A strategic merge patch needs the patch metadata of the object's type: [`PatchSchema`]
//! holds it for every served kind, and [`PatchSchema::for_kind`] answers `None` for custom
//! resources and unknown kinds, which Kubernetes refuses with `415 UnsupportedMediaType`.
//! Every failure is a [`PatchError`] that knows the `Status` Kubernetes answers it with.
//!
//! ```
//! use orchestra_api::patch::{json_merge_patch, strategic_merge, PatchSchema};
//! use serde_json::json;
//!
//! let deployment = json!({"spec": {"template": {"spec": {
//!     "containers": [{"name": "web", "image": "nginx"}],
//!     "tolerations": [{"key": "a", "operator": "Exists"}],
//! }}}});
//! let patch = json!({"spec": {"template": {"spec": {
//!     "containers": [{"name": "sidecar", "image": "envoy"}],
//!     "tolerations": [{"key": "b", "operator": "Exists"}],
//! }}}});
//!
//! // Strategic: containers merge by name, tolerations (no strategy) are replaced.
//! let schema = PatchSchema::for_kind("apps", "v1", "Deployment").unwrap();
//! let strategic = strategic_merge(&deployment, &patch, schema).unwrap();
//! let spec = &strategic["spec"]["template"]["spec"];
//! assert_eq!(spec["containers"].as_array().unwrap().len(), 2);
//! assert_eq!(spec["tolerations"], json!([{"key": "b", "operator": "Exists"}]));
//!
//! // Merge patch: every list is replaced.
//! let merged = json_merge_patch(&deployment, &patch);
//! assert_eq!(merged["spec"]["template"]["spec"]["containers"].as_array().unwrap().len(), 1);
//! ```

mod error;
mod json;
mod schema;
mod strategic;

pub use error::{GENERIC_INVALID_MESSAGE, MAX_JSON_PATCH_OPERATIONS, PatchError};
pub use json::{json_merge_patch, json_patch};
pub use schema::{FieldSchema, ListMapKey, ListType, PatchMeta, PatchSchema, PatchStrategy};
pub use strategic::strategic_merge;
