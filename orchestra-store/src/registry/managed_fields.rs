//! `metadata.managedFields` on every write: who changed which fields, recorded by the
//! registry as Kubernetes' field manager does before an object is stored.
//!
//! A create, update or non-apply patch is an `Update` by the request's `fieldManager`
//! (Kubernetes falls back to the client's user agent; an in-process client without one is
//! recorded under the empty name, as Kubernetes records a request without either). An
//! apply computes its ownership while merging (`super::apply`) and only has it carried over
//! here. A request that sends `managedFields` of its own replaces the recorded ownership
//! (`[{}]` clears it); one that sends none keeps the stored entries.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, Time};
use orchestra_api::apply::{ManagedFields, Manager, Operation, Updater, WriteScope};
use orchestra_api::patch::PatchSchema;
use orchestra_api::{Object, ResourceKind, Status};
use serde_json::Value;

use super::lifecycle::UpdateTarget;

/// How a write's field ownership is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldTracking<'a> {
    /// Not at all: server-internal writes (`binding`, eviction, scale bookkeeping).
    Off,
    /// An `Update` operation by this manager.
    Update(&'a str),
    /// An apply that already set the object's `managedFields`: keep them.
    Applied,
}

impl<'a> FieldTracking<'a> {
    /// An `Update` by the request's `fieldManager`, or by the unnamed manager.
    pub fn update(field_manager: Option<&'a str>) -> Self {
        Self::Update(field_manager.unwrap_or_default())
    }
}

/// The time Kubernetes records in a manager entry: now, to the second.
pub fn now() -> Time {
    let now = Timestamp::now();
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// The ownership bookkeeping of `kind` for a write through `target`.
pub fn updater_for(kind: &ResourceKind, target: UpdateTarget, has_status: bool) -> Updater {
    let schema = PatchSchema::for_kind(&kind.group, &kind.version, &kind.kind)
        .unwrap_or_else(PatchSchema::schemaless);
    let scope = match target {
        UpdateTarget::Status => WriteScope::Status,
        _ => WriteScope::Object { has_status },
    };
    Updater::new(schema, kind.api_version(), scope)
}

/// The subresource a write goes through, as a manager entry records it.
pub fn subresource_of(target: UpdateTarget) -> Option<&'static str> {
    (target == UpdateTarget::Status).then_some("status")
}

/// The object as JSON without its `managedFields`, the form ownership is computed on.
pub fn content_of(object: &dyn Object) -> Result<Value, Status> {
    let mut value = object
        .to_value()
        .map_err(|e| Status::internal(format!("cannot encode the object: {e}")))?;
    if let Some(Value::Object(metadata)) = value.get_mut("metadata") {
        metadata.remove("managedFields");
    }
    Ok(value)
}

/// The ownership stored in `entries`; unreadable entries are dropped rather than failing
/// every later write of the object.
pub fn decode_or_reset(entries: Option<&[ManagedFieldsEntry]>) -> ManagedFields {
    entries
        .and_then(|entries| ManagedFields::decode(entries).ok())
        .unwrap_or_default()
}

/// Records the ownership of an update of `old` into `new` (after defaulting and the
/// registry's update rules). `requested` is the `managedFields` the request carried.
pub fn track_update(
    tracking: FieldTracking<'_>,
    kind: &ResourceKind,
    target: UpdateTarget,
    old: &dyn Object,
    new: &mut dyn Object,
    requested: Option<Vec<ManagedFieldsEntry>>,
) -> Result<(), Status> {
    match tracking {
        FieldTracking::Off => Ok(()),
        FieldTracking::Applied => {
            new.metadata_mut().managed_fields = requested.filter(|entries| !entries.is_empty());
            if differ_only_in_times(old, new) && content_of(old)? == content_of(new)? {
                keep_old_times(old, new);
            }
            Ok(())
        }
        FieldTracking::Update(manager) => {
            let requested = requested.filter(|entries| !entries.is_empty());
            let mut managed = match (&requested, target) {
                (Some(entries), UpdateTarget::Main) => match ManagedFields::decode(entries) {
                    Ok(managed) => managed,
                    Err(_) => decode_or_reset(old.metadata().managed_fields.as_deref()),
                },
                _ => decode_or_reset(old.metadata().managed_fields.as_deref()),
            };
            let updater = updater_for(kind, target, new.has_status());
            let manager = Manager::new(manager, Operation::Update, subresource_of(target));
            let (old_content, new_content) = (content_of(old)?, content_of(new)?);
            updater.update(
                &old_content,
                &new_content,
                &mut managed,
                &manager,
                Some(now()),
            );
            let entries = managed.encode();
            new.metadata_mut().managed_fields = (!entries.is_empty()).then_some(entries);
            if differ_only_in_times(old, new) && old_content == new_content {
                keep_old_times(old, new);
            }
            Ok(())
        }
    }
}

/// Whether the manager entries of `old` and `new` differ, and only in their times. With
/// contents that are equal too, the write changes nothing but those times and keeps the old
/// ones ([`keep_old_times`]), so that it stays a no-op (Kubernetes'
/// `IgnoreManagedFieldsTimestampsTransformer`): an apply whose values the server completes
/// with defaults does not rewrite the object.
fn differ_only_in_times(old: &dyn Object, new: &dyn Object) -> bool {
    let (old_entries, new_entries) = (
        old.metadata().managed_fields.as_deref().unwrap_or_default(),
        new.metadata().managed_fields.as_deref().unwrap_or_default(),
    );
    old_entries != new_entries
        && old_entries.len() == new_entries.len()
        && old_entries
            .iter()
            .zip(new_entries)
            .all(|(old, new)| same_but_time(old, new))
}

/// Whether two manager entries are equal in everything but their time.
fn same_but_time(old: &ManagedFieldsEntry, new: &ManagedFieldsEntry) -> bool {
    let ManagedFieldsEntry {
        api_version,
        fields_type,
        fields_v1,
        manager,
        operation,
        subresource,
        time: _,
    } = old;
    *api_version == new.api_version
        && *fields_type == new.fields_type
        && *fields_v1 == new.fields_v1
        && *manager == new.manager
        && *operation == new.operation
        && *subresource == new.subresource
}

/// Gives `new` the manager entries of `old` (see [`differ_only_in_times`]).
fn keep_old_times(old: &dyn Object, new: &mut dyn Object) {
    new.metadata_mut().managed_fields = old.metadata().managed_fields.clone();
}

/// Records the ownership of a create: an update from an empty object by the manager, on top
/// of any `managedFields` the request carried.
pub fn track_create(
    tracking: FieldTracking<'_>,
    kind: &ResourceKind,
    object: &mut dyn Object,
) -> Result<(), Status> {
    let FieldTracking::Update(manager) = tracking else {
        return Ok(());
    };
    let mut managed = decode_or_reset(object.metadata().managed_fields.as_deref());
    let updater = updater_for(kind, UpdateTarget::Main, object.has_status());
    let manager = Manager::new(manager, Operation::Update, None);
    updater.update(
        &serde_json::json!({}),
        &content_of(object)?,
        &mut managed,
        &manager,
        Some(now()),
    );
    let entries = managed.encode();
    object.metadata_mut().managed_fields = (!entries.is_empty()).then_some(entries);
    Ok(())
}
