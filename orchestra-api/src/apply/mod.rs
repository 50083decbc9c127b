//! Server-side apply and field ownership (`metadata.managedFields`), as Kubernetes v1.33 runs
//! them: pure functions over JSON objects and the kind's [`PatchSchema`].
//!
//! | module | concept |
//! |---|---|
//! | [`field_set`] | field paths and sets of them, in the `FieldsV1` format |
//! | [`typed`] | field sets, comparisons, merges and removals that honour list and map types |
//! | [`managed_fields`] | the managers of an object and what each owns |
//! | [`updater`] | apply (with conflicts, `force` and removal of dropped fields) and the bookkeeping of every other write |
//! | [`conflict`] | the `409 Conflict` of an apply |
//! | [`last_applied`] | the upgrade from client-side to server-side `kubectl apply` |
//!
//! [`PatchSchema`]: crate::patch::PatchSchema

pub mod conflict;
pub mod field_set;
pub mod last_applied;
pub mod managed_fields;
pub mod typed;
pub mod updater;

pub use conflict::{Conflict, Conflicts};
pub use field_set::{FieldSet, Path, PathElement};
pub use managed_fields::{ManagedEntry, ManagedFields, Manager, Operation};
pub use updater::{ApplyError, Updater, WriteScope};
