//! Controller references: the `ownerReferences` entry with `controller: true` that ties a
//! child (a pod, a ReplicaSet) to the one object managing it, and how a controller writes one
//! when it creates or adopts a child.

use orchestra_api::Object;
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

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
