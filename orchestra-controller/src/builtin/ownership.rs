//! Controller references: the `ownerReferences` entry with `controller: true` that ties a
//! child (a pod, a ReplicaSet) to the one object managing it, and how a controller writes one
//! when it creates or adopts a child.
//!
//! A controller *claims* its children as Kubernetes' `ControllerRefManager` does
//! ([`claim_children`]): the children it controls that still match its selector are its own;
//! those that stopped matching are *released* (their controller reference is removed); orphans
//! (no controller at all) that match are *adopted* (a controller reference is added) — but
//! only after a fresh read of the owner confirms it still exists and is not being deleted, so
//! a controller never adopts for an owner that is already gone. Both writes are strategic
//! merge patches that carry the child's uid as a precondition.
//!
//! Controllers find their candidates through two cache indexes: the standard
//! [`OWNER_UID_INDEX`](crate::informer::OWNER_UID_INDEX) (children by owner uid) and [`ORPHAN_NAMESPACE_INDEX`] (children
//! without a controller, by namespace), so a claim never scans a whole namespace.

use std::collections::BTreeMap;
use std::sync::Arc;

use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use orchestra_api::{
    Client, GetParams, LabelSelector, Object, Patch, PatchParams, Served, Status, StatusReason,
};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::informer::{IndexError, Indexer, Informer};

/// Name of the index of objects that have no controller reference, by namespace: the orphans
/// a controller may adopt.
pub const ORPHAN_NAMESPACE_INDEX: &str = "orphans.namespace";

/// The owner reference that marks the object's managing controller, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// Whether the object's controller is the owner with this uid.
pub fn is_controlled_by(meta: &ObjectMeta, owner_uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == owner_uid)
}

/// A controller reference to `owner`, with `blockOwnerDeletion` set as Kubernetes'
/// controllers set it, so foreground deletion of the owner waits for the child.
pub fn controller_reference(owner: &dyn Object) -> OwnerReference {
    let meta = owner.metadata();
    OwnerReference {
        api_version: owner.api_version().into_owned(),
        kind: owner.kind().into_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// [`ORPHAN_NAMESPACE_INDEX`]: objects without a controller reference, by namespace.
pub fn orphans_by_namespace<K: Object>() -> Indexer<K> {
    Indexer::new(ORPHAN_NAMESPACE_INDEX, |object: &K| {
        let meta = object.metadata();
        match (controller_of(meta), meta.namespace.as_deref()) {
            (None, Some(namespace)) if !namespace.is_empty() => vec![namespace.to_owned()],
            _ => Vec::new(),
        }
    })
}

/// Adds `indexer` to the informer's cache unless an index of that name is already there
/// (another controller sharing the informer added the same index first).
pub fn ensure_indexer<K: Object + DeserializeOwned>(informer: &Informer<K>, indexer: Indexer<K>) {
    match informer.add_indexer(indexer) {
        Ok(()) | Err(IndexError::AlreadyExists(_)) => {}
        Err(error) => tracing::warn!(%error, "could not add an index"),
    }
}

/// The strategic merge patch that makes `owner` the controller of the child with uid
/// `child_uid` (Kubernetes' adoption patch; the uid is a precondition).
pub fn adoption_patch(owner: &dyn Object, child_uid: &str) -> Patch {
    let reference = controller_reference(owner);
    Patch::Strategic(json!({
        "metadata": {
            "ownerReferences": [reference],
            "uid": child_uid,
        }
    }))
}

/// The strategic merge patch that removes the owner reference to `owner_uid` from the child
/// with uid `child_uid` (Kubernetes' release patch; the uid is a precondition).
pub fn release_patch(owner_uid: &str, child_uid: &str) -> Patch {
    Patch::Strategic(json!({
        "metadata": {
            "ownerReferences": [{"$patch": "delete", "uid": owner_uid}],
            "uid": child_uid,
        }
    }))
}

fn labels_of(meta: &ObjectMeta) -> &BTreeMap<String, String> {
    static NONE: BTreeMap<String, String> = BTreeMap::new();
    meta.labels.as_ref().unwrap_or(&NONE)
}

/// Confirms, with a read that bypasses every cache, that `owner` still exists with the same
/// uid and is not being deleted: the condition to adopt anything for it (Kubernetes'
/// `RecheckDeletionTimestamp`).
async fn confirm_owner_can_adopt<O: Served>(
    client: &Arc<dyn Client>,
    owner: &O,
) -> Result<(), Status> {
    let meta = owner.metadata();
    let name = meta.name.as_deref().unwrap_or_default();
    let kind = O::resource_kind();
    let fresh = client
        .get(kind, meta.namespace.as_deref(), name, &GetParams::default())
        .await?;
    let fresh = fresh.metadata();
    if fresh.uid != meta.uid {
        return Err(Status::conflict(
            &kind.group,
            &kind.plural,
            name,
            format!(
                "the original {} {name} is gone: got uid {}, wanted {}",
                kind.kind,
                fresh.uid.as_deref().unwrap_or_default(),
                meta.uid.as_deref().unwrap_or_default()
            ),
        ));
    }
    if fresh.deletion_timestamp.is_some() {
        return Err(Status::conflict(
            &kind.group,
            &kind.plural,
            name,
            format!("{} {name} is being deleted and adopts nothing", kind.kind),
        ));
    }
    Ok(())
}

/// Claims children of kind `C` for `owner`, as Kubernetes' `ControllerRefManager` does, and
/// answers the children it controls afterwards.
///
/// `candidates` are the children controlled by `owner` and the orphans it might adopt (any
/// other child is ignored). A controlled child that matches `selector` is kept; one that
/// does not is released, unless the owner is being deleted. A matching orphan that is not
/// being deleted is adopted, once [the owner is confirmed](confirm_owner_can_adopt) (one
/// fresh read per claim, only when there is something to adopt). Children that vanish
/// meanwhile are skipped. Every candidate is processed; the first failure is answered after.
pub async fn claim_children<O: Served, C: Served>(
    client: &Arc<dyn Client>,
    owner: &O,
    selector: &LabelSelector,
    candidates: impl IntoIterator<Item = Arc<C>>,
) -> Result<Vec<Arc<C>>, Status> {
    let owner_meta = owner.metadata();
    let owner_uid = owner_meta.uid.as_deref().unwrap_or_default();
    let owner_deleting = owner_meta.deletion_timestamp.is_some();
    let kind = C::resource_kind();
    let mut claimed = Vec::new();
    let mut first_error: Option<Status> = None;
    let mut can_adopt: Option<Result<(), Status>> = None;
    for child in candidates {
        let meta = child.metadata();
        let matches = selector.matches(labels_of(meta));
        let namespace = meta.namespace.as_deref();
        let name = meta.name.as_deref().unwrap_or_default();
        let child_uid = meta.uid.as_deref().unwrap_or_default();
        match controller_of(meta) {
            Some(reference) if reference.uid == owner_uid => {
                if matches {
                    claimed.push(child);
                } else if !owner_deleting {
                    let patch = release_patch(owner_uid, child_uid);
                    match client
                        .patch(kind, namespace, name, None, &patch, &PatchParams::default())
                        .await
                    {
                        Ok(_) => tracing::debug!(child = name, "released"),
                        // Gone, or replaced by another object of the same name: nothing
                        // left to release.
                        Err(status)
                            if matches!(
                                status.reason,
                                StatusReason::NotFound
                                    | StatusReason::Invalid
                                    | StatusReason::Conflict
                            ) => {}
                        Err(status) => {
                            first_error.get_or_insert(status);
                        }
                    }
                }
            }
            Some(_) => {}
            None => {
                if owner_deleting || !matches || meta.deletion_timestamp.is_some() {
                    continue;
                }
                let confirmed = match &can_adopt {
                    Some(result) => result.clone(),
                    None => {
                        let result = confirm_owner_can_adopt(client, owner).await;
                        can_adopt = Some(result.clone());
                        result
                    }
                };
                if let Err(status) = confirmed {
                    first_error.get_or_insert(status);
                    continue;
                }
                let patch = adoption_patch(owner, child_uid);
                match client
                    .patch(kind, namespace, name, None, &patch, &PatchParams::default())
                    .await
                {
                    Ok(adopted) => match orchestra_api::object::downcast_arc::<C>(adopted) {
                        Ok(adopted) => {
                            tracing::debug!(child = name, "adopted");
                            claimed.push(adopted);
                        }
                        Err(error) => {
                            first_error.get_or_insert(Status::internal(error));
                        }
                    },
                    Err(status)
                        if matches!(
                            status.reason,
                            StatusReason::NotFound | StatusReason::Conflict
                        ) => {}
                    Err(status) => {
                        first_error.get_or_insert(status);
                    }
                }
            }
        }
    }
    match first_error {
        Some(status) => Err(status),
        None => Ok(claimed),
    }
}

#[cfg(test)]
mod tests {
    use orchestra_api::k8s_openapi::api::apps::v1::ReplicaSet;

    use super::*;

    #[test]
    fn a_controller_reference_names_the_owner_and_is_found_again() {
        let mut owner = ReplicaSet::default();
        owner.metadata.name = Some("web-1".into());
        owner.metadata.uid = Some("u-1".into());
        let reference = controller_reference(&owner);
        assert_eq!(
            (reference.api_version.as_str(), reference.kind.as_str()),
            ("apps/v1", "ReplicaSet")
        );
        assert_eq!(reference.block_owner_deletion, Some(true));

        let mut child = ObjectMeta {
            owner_references: Some(vec![
                OwnerReference {
                    uid: "other".into(),
                    ..Default::default()
                },
                reference,
            ]),
            ..Default::default()
        };
        assert!(is_controlled_by(&child, "u-1"));
        assert!(!is_controlled_by(&child, "other"));
        child.owner_references = None;
        assert!(controller_of(&child).is_none());
    }
}
