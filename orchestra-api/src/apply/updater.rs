//! Field ownership across writes: server-side apply with conflicts, and the bookkeeping of
//! every other write, as Kubernetes' structured-merge-diff `Updater` does it.
//!
//! - **Apply** ([`Updater::apply`]): the configuration is merged into the live object; the
//!   applier's set becomes exactly the fields it specified. Fields it owned before and no
//!   longer specifies are removed from the object unless another manager owns them. Changing
//!   a field another manager owns is a conflict unless `force` is set, which moves ownership.
//!   Setting a field to the value it already has is no conflict: the field becomes shared.
//! - **Update** ([`Updater::update`]): the writer takes every field it added or changed,
//!   from whoever owned it; removed fields leave every set.
//!
//! Only the fields a write may touch are tracked ([`WriteScope`]): the object's own endpoint
//! ignores `status` (for kinds that have one), the `status` subresource ignores everything
//! but `status`, and identity fields (`metadata.name`, `uid`, `resourceVersion`, …) are never
//! owned.
//!
//! ```
//! use orchestra_api::apply::{ManagedFields, Manager, Operation, Updater, WriteScope};
//! use orchestra_api::patch::PatchSchema;
//! use serde_json::json;
//!
//! let updater = Updater::new(PatchSchema::for_kind("", "v1", "ConfigMap").unwrap(), "v1", WriteScope::Object { has_status: false });
//! let mut managed = ManagedFields::default();
//! let alice = Manager::new("alice", Operation::Apply, None);
//! let bob = Manager::new("bob", Operation::Apply, None);
//! let live = updater.apply(&json!({}), &json!({"data": {"a": "1"}}), &mut managed, &alice, false, None).unwrap();
//! // Bob changing Alice's key conflicts; the same value is shared ownership.
//! let conflict = updater.apply(&live, &json!({"data": {"a": "2"}}), &mut managed.clone(), &bob, false, None).unwrap_err();
//! assert_eq!(conflict.to_status().code, 409);
//! updater.apply(&live, &json!({"data": {"a": "1"}}), &mut managed, &bob, false, None).unwrap();
//! assert_eq!(managed.entries().len(), 2);
//! ```

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use super::conflict::{Conflict, Conflicts};
use super::field_set::{FieldSet, Path, PathElement};
use super::managed_fields::{ManagedFields, Manager};
use super::typed::{self, Comparison, TypeError};
use crate::patch::PatchSchema;

/// Which fields a write through one endpoint may own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteScope {
    /// The object itself: everything but `status` when the kind has a status subresource.
    Object {
        /// Whether the kind has a `status` written through its own subresource.
        has_status: bool,
    },
    /// The `status` subresource: only `status`.
    Status,
}

/// The top-level fields whose own nodes no manager owns (only the fields below them).
const TOP_LEVEL: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "status"];

/// The metadata fields no manager owns (Kubernetes' `stripMeta`).
const SERVER_OWNED_METADATA: [&str; 9] = [
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "clusterName",
    "generation",
    "managedFields",
    "resourceVersion",
];

/// Ownership bookkeeping for one kind and endpoint.
#[derive(Debug, Clone)]
pub struct Updater {
    schema: &'static PatchSchema,
    api_version: String,
    scope: WriteScope,
}

/// Why an apply failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The configuration changes fields other managers own (`409 Conflict`).
    #[error(transparent)]
    Conflicts(#[from] Conflicts),
    /// The configuration cannot be typed: a keyed list element without its key, duplicate
    /// elements (`400 BadRequest`).
    #[error("failed to create typed patch object: {0}")]
    Type(#[from] TypeError),
}

impl ApplyError {
    /// The `Status` Kubernetes answers with.
    pub fn to_status(&self) -> crate::Status {
        match self {
            Self::Conflicts(conflicts) => conflicts.to_status(),
            Self::Type(_) => crate::Status::bad_request(self.to_string()),
        }
    }
}

impl From<ApplyError> for crate::Status {
    fn from(error: ApplyError) -> Self {
        error.to_status()
    }
}

impl Updater {
    /// Bookkeeping for objects of the type `schema` describes, served as `api_version`,
    /// written through `scope`.
    pub fn new(
        schema: &'static PatchSchema,
        api_version: impl Into<String>,
        scope: WriteScope,
    ) -> Self {
        Self {
            schema,
            api_version: api_version.into(),
            scope,
        }
    }

    /// The schema of the type.
    pub fn schema(&self) -> &'static PatchSchema {
        self.schema
    }

    /// The API version the fields are expressed in.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// `set` without the fields this endpoint does not own.
    pub fn tracked(&self, set: &FieldSet) -> FieldSet {
        let mut set = set.clone();
        self.retain_tracked(&mut set);
        set
    }

    /// Removes from `set`, in place, the fields this endpoint does not own.
    fn retain_tracked(&self, set: &mut FieldSet) {
        // `spec` and `status` are plain structs in every Kubernetes type, present even in an
        // empty object, so their own nodes are never added or removed, only their fields.
        let tops = TOP_LEVEL.map(|top| Path::from(vec![PathElement::field(top)]));
        let metadata = SERVER_OWNED_METADATA.map(|field| {
            Path::from(vec![
                PathElement::field("metadata"),
                PathElement::field(field),
            ])
        });
        let status = Path::from(vec![PathElement::field("status")]);
        match self.scope {
            WriteScope::Object { has_status: true } => {
                let mut subtrees = metadata.to_vec();
                subtrees.push(status);
                set.retain_outside(&tops, &subtrees, None);
            }
            WriteScope::Object { has_status: false } => set.retain_outside(&tops, &metadata, None),
            WriteScope::Status => set.retain_outside(&tops, &metadata, Some(&status)),
        }
    }

    /// The comparison of two versions, restricted to the tracked fields.
    fn compare(&self, old: &Value, new: &Value) -> Comparison {
        let mut comparison = typed::compare(old, new, self.schema);
        for set in [
            &mut comparison.added,
            &mut comparison.modified,
            &mut comparison.removed,
        ] {
            self.retain_tracked(set);
        }
        comparison
    }

    /// Records a write that is not an apply: `manager` takes every field it added or changed
    /// from its other owners, and removed fields leave every set. `time` is set on the entry
    /// when the write took anything.
    pub fn update(
        &self,
        old: &Value,
        new: &Value,
        managed: &mut ManagedFields,
        manager: &Manager,
        time: Option<Time>,
    ) {
        let Comparison {
            added: mut taken,
            modified,
            removed,
        } = self.compare(old, new);
        taken.merge(&modified);
        if removed.is_empty() {
            managed.take_from_others(None, &taken);
        } else {
            managed.take_from_others(None, &taken.union(&removed));
        }
        if !taken.is_empty() {
            let owned = match managed.fields(manager) {
                Some(owned) => owned.union(&taken),
                None => taken,
            };
            managed.set(manager, &self.api_version, owned, time);
        }
        managed.tidy();
    }

    /// Applies `config` to `live` for `manager` and returns the new object. With `force`,
    /// conflicting fields change owner; without, they are a [`Conflicts`] error and `managed`
    /// is left as it was.
    pub fn apply(
        &self,
        live: &Value,
        config: &Value,
        managed: &mut ManagedFields,
        manager: &Manager,
        force: bool,
        time: Option<Time>,
    ) -> Result<Value, ApplyError> {
        let mut next = managed.clone();
        let merged = typed::merge(live, config, self.schema)?;
        let applied = self.tracked(&typed::field_set_of(config, self.schema)?);
        let previously = next.fields(manager).cloned().unwrap_or_default();
        next.set(manager, &self.api_version, applied, None);
        let merged = self.prune(merged, &next, &previously);

        let comparison = self.compare(live, &merged);
        let changed = comparison.added.union(&comparison.modified);
        let mut conflicts = Vec::new();
        for entry in next.entries() {
            if &entry.manager == manager {
                continue;
            }
            for path in entry.fields.intersection(&changed).paths() {
                conflicts.push(Conflict {
                    manager: entry.describe(),
                    path,
                });
            }
        }
        if !conflicts.is_empty() && !force {
            return Err(Conflicts::new(conflicts).into());
        }
        next.take_from_others(Some(manager), &changed.union(&comparison.removed));
        let owned_before = managed.fields(manager);
        let stamp =
            !comparison.is_same() || owned_before != next.fields(manager) || owned_before.is_none();
        if stamp {
            let fields = next.fields(manager).cloned().unwrap_or_default();
            next.set(manager, &self.api_version, fields, time);
        }
        next.tidy();
        *managed = next;
        Ok(merged)
    }

    /// Removes from `merged` what the applier owned before, no longer applies, and nobody
    /// else owns (keeping any field that still has owned fields below it).
    fn prune(&self, merged: Value, managed: &ManagedFields, previously: &FieldSet) -> Value {
        let owned = managed
            .entries()
            .iter()
            .fold(FieldSet::default(), |all, entry| all.union(&entry.fields));
        let unowned = previously.difference(&owned);
        let mut removable = FieldSet::default();
        for path in unowned.paths() {
            if !owned.has_descendants(&path) {
                removable.insert(&path);
            }
        }
        if removable.is_empty() {
            return merged;
        }
        typed::remove(&merged, &removable, self.schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::Operation;
    use serde_json::json;

    fn deployments() -> Updater {
        Updater::new(
            PatchSchema::for_kind("apps", "v1", "Deployment").unwrap(),
            "apps/v1",
            WriteScope::Object { has_status: true },
        )
    }

    fn owned(managed: &ManagedFields, manager: &Manager) -> Vec<String> {
        managed
            .fields(manager)
            .map(|set| set.paths().iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    #[test]
    fn identity_and_status_fields_are_never_owned() {
        let updater = deployments();
        let mut managed = ManagedFields::default();
        let alice = Manager::new("alice", Operation::Apply, None);
        updater
            .apply(
                &json!({}),
                &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"a": "1"}}, "status": {"replicas": 3}}),
                &mut managed,
                &alice,
                false,
                None,
            )
            .unwrap();
        assert_eq!(owned(&managed, &alice), [".metadata.labels.a"]);
    }

    #[test]
    fn an_update_takes_changed_fields_from_an_applier() {
        let updater = deployments();
        let mut managed = ManagedFields::default();
        let alice = Manager::new("alice", Operation::Apply, None);
        let editor = Manager::new("kubectl-edit", Operation::Update, None);
        let live = updater
            .apply(
                &json!({}),
                &json!({"spec": {"replicas": 1, "paused": false}}),
                &mut managed,
                &alice,
                false,
                None,
            )
            .unwrap();
        let mut edited = live.clone();
        edited["spec"]["replicas"] = json!(5);
        updater.update(&live, &edited, &mut managed, &editor, None);
        assert_eq!(owned(&managed, &alice), [".spec.paused"]);
        assert_eq!(owned(&managed, &editor), [".spec.replicas"]);
    }

    #[test]
    fn conflicts_list_every_field_and_force_takes_them() {
        let updater = deployments();
        let mut managed = ManagedFields::default();
        let alice = Manager::new("alice", Operation::Apply, None);
        let bob = Manager::new("bob", Operation::Apply, None);
        let live = updater
            .apply(
                &json!({}),
                &json!({"spec": {"replicas": 1, "paused": false}}),
                &mut managed,
                &alice,
                false,
                None,
            )
            .unwrap();
        let config = json!({"spec": {"replicas": 2, "paused": true}});
        let before = managed.clone();
        let error = updater
            .apply(&live, &config, &mut managed, &bob, false, None)
            .unwrap_err();
        assert_eq!(managed, before, "a refused apply changes no ownership");
        let status = error.to_status();
        assert_eq!(status.code, 409);
        assert_eq!(
            status.message,
            "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.paused\n- .spec.replicas"
        );
        let forced = updater
            .apply(&live, &config, &mut managed, &bob, true, None)
            .unwrap();
        assert_eq!(forced["spec"]["replicas"], 2);
        assert!(managed.fields(&alice).is_none());
        assert_eq!(owned(&managed, &bob), [".spec.paused", ".spec.replicas"]);
    }

    #[test]
    fn reapplying_without_a_field_removes_it_unless_someone_else_owns_it() {
        let updater = deployments();
        let mut managed = ManagedFields::default();
        let alice = Manager::new("alice", Operation::Apply, None);
        let bob = Manager::new("bob", Operation::Apply, None);
        let live = updater
            .apply(
                &json!({}),
                &json!({"metadata": {"labels": {"a": "1", "b": "2", "c": "3"}}}),
                &mut managed,
                &alice,
                false,
                None,
            )
            .unwrap();
        let live = updater
            .apply(
                &live,
                &json!({"metadata": {"labels": {"c": "3"}}}),
                &mut managed,
                &bob,
                false,
                None,
            )
            .unwrap();
        let live = updater
            .apply(
                &live,
                &json!({"metadata": {"labels": {"a": "1"}}}),
                &mut managed,
                &alice,
                false,
                None,
            )
            .unwrap();
        assert_eq!(live["metadata"]["labels"], json!({"a": "1", "c": "3"}));
    }

    #[test]
    fn dropping_a_container_removes_it_whole() {
        let updater = deployments();
        let mut managed = ManagedFields::default();
        let alice = Manager::new("alice", Operation::Apply, None);
        let two = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx"}, {"name": "log", "image": "fluentd"}
        ]}}}});
        let one = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx"}
        ]}}}});
        let live = updater
            .apply(&json!({}), &two, &mut managed, &alice, false, None)
            .unwrap();
        let live = updater
            .apply(&live, &one, &mut managed, &alice, false, None)
            .unwrap();
        assert_eq!(
            live["spec"]["template"]["spec"]["containers"],
            one["spec"]["template"]["spec"]["containers"]
        );
    }

    #[test]
    fn the_status_subresource_tracks_only_status() {
        let updater = Updater::new(
            PatchSchema::for_kind("apps", "v1", "Deployment").unwrap(),
            "apps/v1",
            WriteScope::Status,
        );
        let mut managed = ManagedFields::default();
        let controller = Manager::new("controller", Operation::Update, Some("status"));
        updater.update(
            &json!({"spec": {"replicas": 1}}),
            &json!({"spec": {"replicas": 2}, "status": {"replicas": 2}}),
            &mut managed,
            &controller,
            None,
        );
        assert_eq!(owned(&managed, &controller), [".status.replicas"]);
    }
}
