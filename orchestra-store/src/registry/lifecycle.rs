//! The object lifecycle rules every kind shares, as Kubernetes' generic registry applies them:
//! what a create fills in, what an update may and may not change, and what a delete does
//! (finalizers, graceful deletion of pods, preconditions).
//!
//! Everything here is a pure function of the objects involved and the current time, so the
//! rules are tested without a store.

use std::borrow::Cow;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    Namespace, NamespaceStatus, PersistentVolume, PersistentVolumeClaim,
    PersistentVolumeClaimStatus, PersistentVolumeStatus, Pod, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use orchestra_api::validation::{FieldError, FieldPath};
use orchestra_api::{DeleteParams, Object, PropagationPolicy, ResourceKind, Status};

/// Characters Kubernetes uses for `generateName` suffixes (no vowels, no look-alikes).
const NAME_SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Length of the random suffix appended to `generateName`.
const NAME_SUFFIX_LEN: usize = 5;
/// Longest name a generated name is cut to before the suffix, as Kubernetes does.
const MAX_GENERATED_PREFIX: usize = 63 - NAME_SUFFIX_LEN;

/// The finalizer that makes the garbage collector orphan dependents before the delete ends.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// The finalizer that makes the garbage collector delete dependents first.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// A fresh object UID (a random UUID, as Kubernetes uses).
pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `generateName` plus a random suffix of five characters.
pub fn generate_name(prefix: &str) -> String {
    let mut cut = prefix.len().min(MAX_GENERATED_PREFIX);
    while !prefix.is_char_boundary(cut) {
        cut -= 1;
    }
    let random = uuid::Uuid::new_v4();
    let suffix =
        random.as_bytes().iter().take(NAME_SUFFIX_LEN).map(|b| {
            char::from(NAME_SUFFIX_ALPHABET[usize::from(*b) % NAME_SUFFIX_ALPHABET.len()])
        });
    let mut name = String::with_capacity(cut + NAME_SUFFIX_LEN);
    name.push_str(&prefix[..cut]);
    name.extend(suffix);
    name
}

/// The name of an object, or `""`.
pub fn name_of(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

fn qualified<'a>(kind: &'a ResourceKind) -> (Cow<'a, str>, Cow<'a, str>) {
    (kind.group.clone(), kind.plural.clone())
}

/// Fills in what the server sets on create and checks what a create may carry:
/// namespace from the request, `generateName`, `uid`, `creationTimestamp`, `generation`,
/// no `resourceVersion`, no deletion fields, and the status reset each kind applies.
pub fn prepare_for_create(
    object: &mut dyn Object,
    kind: &ResourceKind,
    namespace: Option<&str>,
    now: Timestamp,
) -> Result<(), Status> {
    let has_spec = object.has_spec();
    let meta = object.metadata_mut();
    match (kind.is_namespaced(), namespace) {
        (true, Some(ns)) => match meta.namespace.as_deref() {
            None | Some("") => meta.namespace = Some(ns.to_owned()),
            Some(own) if own == ns => {}
            Some(_) => {
                return Err(Status::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        },
        (true, None) => {
            if meta.namespace.as_deref().unwrap_or("").is_empty() {
                return Err(Status::bad_request(
                    "the namespace of the object is required for a namespaced resource",
                ));
            }
        }
        (false, _) => meta.namespace = None,
    }
    if meta
        .resource_version
        .as_deref()
        .is_some_and(|rv| !rv.is_empty())
    {
        return Err(Status::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    if meta.name.as_deref().unwrap_or("").is_empty() {
        match meta.generate_name.as_deref() {
            Some(prefix) if !prefix.is_empty() => meta.name = Some(generate_name(prefix)),
            _ => {
                let errors = [FieldError::required(
                    FieldPath::new("metadata").child("name"),
                    "name or generateName is required",
                )];
                return Err(Status::invalid(&kind.group, &kind.kind, "", &errors));
            }
        }
    }
    meta.uid = Some(new_uid());
    meta.creation_timestamp = Some(Time(now));
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
    meta.self_link = None;
    meta.generation = has_spec.then_some(1);
    reset_status_for_create(object);
    Ok(())
}

/// The status a new object starts with: empty for most kinds, with the initial phase for
/// pods, namespaces and volumes, and as given for nodes (which report their own status on
/// registration, as Kubernetes allows).
fn reset_status_for_create(object: &mut dyn Object) {
    let any = object.as_any_mut();
    if any.is::<k8s_openapi::api::core::v1::Node>() {
        return;
    }
    if let Some(pod) = any.downcast_mut::<Pod>() {
        pod.status = Some(PodStatus {
            phase: Some("Pending".to_owned()),
            qos_class: Some(orchestra_api::qos::pod_qos_class(pod).as_str().to_owned()),
            ..PodStatus::default()
        });
    } else if let Some(ns) = any.downcast_mut::<Namespace>() {
        ns.status = Some(NamespaceStatus {
            phase: Some("Active".to_owned()),
            ..NamespaceStatus::default()
        });
    } else if let Some(pv) = any.downcast_mut::<PersistentVolume>() {
        pv.status = Some(PersistentVolumeStatus {
            phase: Some("Pending".to_owned()),
            ..PersistentVolumeStatus::default()
        });
    } else if let Some(pvc) = any.downcast_mut::<PersistentVolumeClaim>() {
        pvc.status = Some(PersistentVolumeClaimStatus {
            phase: Some("Pending".to_owned()),
            ..PersistentVolumeClaimStatus::default()
        });
    } else {
        object.clear_status();
    }
}

/// Which part of an object an update writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateTarget {
    /// The main resource: everything but the status.
    Main,
    /// The `status` subresource: only the status.
    Status,
    /// A server-internal write of the whole object (the `binding` subresource): nothing is
    /// carried over but identity, and update validation does not apply.
    Internal,
}

/// Checks an update against the stored object and carries over what an update may not
/// change. For a main-resource update the stored status is kept and `generation` is bumped
/// when the spec changed; for a status update everything but the status is kept.
///
/// Returns the object to store.
pub fn prepare_for_update(
    new: Box<dyn Object>,
    old: &dyn Object,
    kind: &ResourceKind,
    target: UpdateTarget,
) -> Result<Box<dyn Object>, Status> {
    let old_meta = old.metadata();
    let name = name_of(old_meta);
    let (group, plural) = qualified(kind);
    let new_meta = new.metadata();
    if let Some(uid) = new_meta.uid.as_deref().filter(|u| !u.is_empty())
        && Some(uid) != old_meta.uid.as_deref()
    {
        return Err(Status::conflict(
            &group,
            &plural,
            name,
            format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                old_meta.uid.as_deref().unwrap_or("")
            ),
        ));
    }
    if let Some(rv) = new_meta
        .resource_version
        .as_deref()
        .filter(|r| !r.is_empty())
        && Some(rv) != old_meta.resource_version.as_deref()
    {
        return Err(Status::conflict(
            &group,
            &plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    let mut result = match target {
        UpdateTarget::Main => {
            let mut result = new;
            if result.has_status() {
                result.copy_status_from(old);
            }
            let generation = old.has_spec().then(|| {
                let bump = !result.spec_eq(old);
                old_meta.generation.unwrap_or(1) + i64::from(bump)
            });
            result.metadata_mut().generation = generation;
            result
        }
        UpdateTarget::Status => {
            let mut result = old.clone_object();
            result.copy_status_from(&*new);
            result
        }
        UpdateTarget::Internal => new,
    };
    let meta = result.metadata_mut();
    meta.uid.clone_from(&old_meta.uid);
    meta.creation_timestamp
        .clone_from(&old_meta.creation_timestamp);
    meta.deletion_timestamp
        .clone_from(&old_meta.deletion_timestamp);
    meta.deletion_grace_period_seconds = old_meta.deletion_grace_period_seconds;
    meta.namespace.clone_from(&old_meta.namespace);
    meta.name.clone_from(&old_meta.name);
    meta.resource_version.clone_from(&old_meta.resource_version);
    meta.self_link = None;
    if meta.generation.is_none() {
        meta.generation = old_meta.generation;
    }
    Ok(result)
}

/// Whether an object whose deletion has started may now be removed from the store: no
/// finalizers remain (for a Namespace, none in `spec.finalizers` either) and no grace period
/// is running.
pub fn deletion_complete(object: &dyn Object) -> bool {
    let meta = object.metadata();
    meta.deletion_timestamp.is_some()
        && meta.finalizers.as_ref().is_none_or(Vec::is_empty)
        && meta.deletion_grace_period_seconds.unwrap_or(0) == 0
        && object
            .as_any()
            .downcast_ref::<Namespace>()
            .is_none_or(super::namespace::is_finalized)
}

/// What a delete request does to an object.
#[derive(Debug)]
pub enum DeletePlan {
    /// Remove the object from the store now.
    Remove,
    /// Keep the object, updated to this state (deletion started: `deletionTimestamp` set,
    /// finalizers added by the propagation policy, or a grace period running).
    Mark(Box<dyn Object>),
    /// Deletion is already under way and this request changes nothing.
    Unchanged,
}

/// What the garbage collector does with an object's dependents when the object is deleted
/// and the request names no `propagationPolicy` (a kind's `DefaultGarbageCollectionPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultPropagation {
    /// Delete the dependents after the owner is gone (the default of almost every kind).
    Background,
    /// Keep the dependents, removing their owner references: core/v1 ReplicationControllers
    /// and batch/v1 Jobs, for compatibility with the clients that predate the collector.
    Orphan,
}

/// The propagation a delete of `kind` gets when the request names none.
pub fn default_propagation(kind: &ResourceKind) -> DefaultPropagation {
    match (
        kind.group.as_ref(),
        kind.version.as_ref(),
        kind.plural.as_ref(),
    ) {
        ("", "v1", "replicationcontrollers") | ("batch", "v1", "jobs") => {
            DefaultPropagation::Orphan
        }
        _ => DefaultPropagation::Background,
    }
}

/// The finalizers an object should carry once a delete with `params` has been asked for, as
/// Kubernetes' generic registry decides them for the garbage collector: `orphan` when the
/// request (or, without a policy in the request, an `orphan` finalizer already present, or
/// the kind's default) says to orphan; `foregroundDeletion` when the request says
/// `Foreground` (or the finalizer is already there and the request names no policy).
///
/// `None` when the finalizers stay as they are.
pub fn deletion_finalizers(
    meta: &ObjectMeta,
    kind: &ResourceKind,
    params: &DeleteParams,
) -> Option<Vec<String>> {
    let current = meta.finalizers.as_deref().unwrap_or_default();
    let has = |name: &str| current.iter().any(|f| f == name);
    let (orphan, foreground) = match params.propagation_policy {
        Some(PropagationPolicy::Orphan) => (true, false),
        Some(PropagationPolicy::Foreground) => (false, true),
        Some(PropagationPolicy::Background) => (false, false),
        None if has(ORPHAN_FINALIZER) => (true, false),
        None if has(FOREGROUND_FINALIZER) => (false, true),
        None => (
            default_propagation(kind) == DefaultPropagation::Orphan,
            false,
        ),
    };
    let mut wanted: Vec<String> = current
        .iter()
        .filter(|f| *f != ORPHAN_FINALIZER && *f != FOREGROUND_FINALIZER)
        .cloned()
        .collect();
    if orphan {
        wanted.push(ORPHAN_FINALIZER.to_owned());
    }
    if foreground {
        wanted.push(FOREGROUND_FINALIZER.to_owned());
    }
    let same = wanted.len() == current.len() && wanted.iter().all(|f| has(f));
    (!same).then_some(wanted)
}

/// Checks a delete's `preconditions` on uid and resourceVersion (409 Conflict when one does
/// not hold).
pub fn check_preconditions(
    meta: &ObjectMeta,
    kind: &ResourceKind,
    params: &DeleteParams,
) -> Result<(), Status> {
    let Some(pre) = &params.preconditions else {
        return Ok(());
    };
    let name = name_of(meta);
    let (group, plural) = qualified(kind);
    if let Some(uid) = &pre.uid
        && Some(uid.as_str()) != meta.uid.as_deref()
    {
        return Err(Status::conflict(
            &group,
            &plural,
            name,
            format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta.uid.as_deref().unwrap_or("")
            ),
        ));
    }
    if let Some(rv) = &pre.resource_version
        && Some(rv.as_str()) != meta.resource_version.as_deref()
    {
        return Err(Status::conflict(
            &group,
            &plural,
            name,
            format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta.resource_version.as_deref().unwrap_or("")
            ),
        ));
    }
    Ok(())
}

/// Checks a delete's preconditions and decides what it does, as Kubernetes' generic
/// registry and pod strategy do.
///
/// - `preconditions` on uid and resourceVersion must hold (else 409 Conflict);
/// - a Namespace is first marked `Terminating` and stays until its `spec.finalizers` are
///   gone ([`super::namespace`]);
/// - a pod bound to a node and not yet terminal is deleted gracefully: `deletionTimestamp`
///   is set `gracePeriodSeconds` (or the pod's `terminationGracePeriodSeconds`, 30 by
///   default) ahead, and the kubelet removes it; a shorter grace period shortens a running
///   one, and nothing else changes while it runs;
/// - the garbage collector's finalizers follow the propagation policy
///   ([`deletion_finalizers`]); an object left with finalizers is marked with
///   `deletionTimestamp` and stays until they are removed;
/// - anything else is removed now.
pub fn plan_delete(
    object: &dyn Object,
    kind: &ResourceKind,
    params: &DeleteParams,
    now: Timestamp,
) -> Result<DeletePlan, Status> {
    let meta = object.metadata();
    check_preconditions(meta, kind, params)?;
    if let Some(namespace) = object.as_any().downcast_ref::<Namespace>()
        && let Some(plan) = super::namespace::plan_delete(namespace, kind, params, now)
    {
        return Ok(plan);
    }

    let grace = graceful_period(object, params);
    let has_finalizers = meta.finalizers.as_ref().is_some_and(|f| !f.is_empty());
    let running_grace = meta.deletion_grace_period_seconds.unwrap_or(0);

    if meta.deletion_timestamp.is_some() && running_grace > 0 {
        // A graceful deletion is running: only a shorter grace period changes anything.
        return Ok(match grace {
            Some(g) if g < running_grace => {
                if g == 0 && !has_finalizers {
                    DeletePlan::Remove
                } else {
                    DeletePlan::Mark(mark_deleting(object, now, g, None))
                }
            }
            _ => DeletePlan::Unchanged,
        });
    }

    let finalizers = deletion_finalizers(meta, kind, params);
    let keeps_finalizers = match &finalizers {
        Some(wanted) => !wanted.is_empty(),
        None => has_finalizers,
    };
    if meta.deletion_timestamp.is_some() {
        // Already marked, waiting for its finalizers: a new policy may change them.
        return Ok(match (finalizers, keeps_finalizers) {
            (_, false) => DeletePlan::Remove,
            (Some(wanted), true) => {
                let mut marked = object.clone_object();
                marked.metadata_mut().finalizers = Some(wanted);
                DeletePlan::Mark(marked)
            }
            (None, true) => DeletePlan::Unchanged,
        });
    }
    match (grace, keeps_finalizers) {
        (Some(g), _) if g > 0 => Ok(DeletePlan::Mark(mark_deleting(object, now, g, finalizers))),
        (_, true) => Ok(DeletePlan::Mark(mark_deleting(object, now, 0, finalizers))),
        _ => Ok(DeletePlan::Remove),
    }
}

/// The grace period a delete gives the object, `None` for kinds deleted without one.
fn graceful_period(object: &dyn Object, params: &DeleteParams) -> Option<i64> {
    let pod = object.as_any().downcast_ref::<Pod>()?;
    let spec = pod.spec.as_ref();
    let bound = spec
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if !bound || matches!(phase, Some("Succeeded" | "Failed")) {
        return Some(0);
    }
    let grace = params
        .grace_period_seconds
        .or_else(|| spec.and_then(|s| s.termination_grace_period_seconds))
        .unwrap_or(30);
    // Kubernetes turns a negative grace period into the minimum of 1 second.
    Some(if grace < 0 { 1 } else { grace })
}

fn mark_deleting(
    object: &dyn Object,
    now: Timestamp,
    grace_seconds: i64,
    finalizers: Option<Vec<String>>,
) -> Box<dyn Object> {
    let mut marked = object.clone_object();
    let meta = marked.metadata_mut();
    let deadline = now
        .checked_add(jiff::SignedDuration::from_secs(grace_seconds))
        .unwrap_or(now);
    meta.deletion_timestamp = Some(Time(deadline));
    meta.deletion_grace_period_seconds = Some(grace_seconds);
    if let Some(finalizers) = finalizers {
        meta.finalizers = Some(finalizers);
    }
    marked
}
