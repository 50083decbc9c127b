//! `NamespaceLifecycle`: objects live only in namespaces that exist and are not being
//! deleted, and the namespaces the cluster itself needs are never deleted.
//!
//! - A create in a namespace that does not exist answers `404 NotFound` for the namespace
//!   (`namespaces "x" not found`).
//! - A create in a terminating namespace answers `403 Forbidden` with Kubernetes' message
//!   (`unable to create new content in namespace x because it is being terminated`) and a
//!   `NamespaceTerminating` cause, so that nothing new appears while the namespace
//!   controller empties it.
//! - Deleting `default`, `kube-system` or `kube-public` answers `403 Forbidden` (`this
//!   namespace may not be deleted`).
//!
//! Updates and deletes of objects in a terminating namespace stay allowed: the namespace
//! controller and the garbage collector need them to finish.

use k8s_openapi::api::core::v1::Namespace;
use orchestra_api::status::StatusCause;
use orchestra_api::{ResourceKind, Status};

use crate::registry::namespace::is_terminating;

/// The namespaces that may never be deleted.
pub const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

/// Checks a create of `name` (of `kind`) in `namespace`, which is `found` (or missing).
pub fn check_create(
    kind: &ResourceKind,
    name: &str,
    namespace: &str,
    found: Option<&Namespace>,
) -> Result<(), Status> {
    let Some(found) = found else {
        return Err(Status::not_found("", "namespaces", namespace));
    };
    if !is_terminating(found) {
        return Ok(());
    }
    let forbidden = Status::forbidden(
        &kind.group,
        &kind.plural,
        name,
        format!(
            "unable to create new content in namespace {namespace} because it is being terminated"
        ),
    );
    let mut details = forbidden.details.as_deref().cloned().unwrap_or_default();
    details.causes.push(StatusCause {
        reason: "NamespaceTerminating".to_owned(),
        message: format!("namespace {namespace} is being terminated"),
        field: "metadata.namespace".to_owned(),
    });
    Err(forbidden.with_details(details))
}

/// Checks a delete of `name` (of `kind`): the immortal namespaces stay.
pub fn check_delete(kind: &ResourceKind, name: &str) -> Result<(), Status> {
    let is_namespace = kind.group.is_empty() && kind.plural == "namespaces";
    if is_namespace && IMMORTAL_NAMESPACES.contains(&name) {
        return Err(Status::forbidden(
            "",
            "namespaces",
            name,
            "this namespace may not be deleted",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::NamespaceStatus;
    use orchestra_api::kinds;

    use super::*;

    fn namespace(phase: &str) -> Namespace {
        Namespace {
            status: Some(NamespaceStatus {
                phase: Some(phase.to_owned()),
                ..NamespaceStatus::default()
            }),
            ..Namespace::default()
        }
    }

    #[test]
    fn creates_need_an_existing_active_namespace() {
        assert!(check_create(&kinds::PODS, "web", "team", Some(&namespace("Active"))).is_ok());

        let missing = check_create(&kinds::PODS, "web", "nowhere", None).unwrap_err();
        assert_eq!(missing.code, 404);
        assert_eq!(missing.message, "namespaces \"nowhere\" not found");

        let refused =
            check_create(&kinds::PODS, "web", "team", Some(&namespace("Terminating"))).unwrap_err();
        assert_eq!(refused.code, 403);
        assert_eq!(
            refused.message,
            "pods \"web\" is forbidden: unable to create new content in namespace team because it is being terminated"
        );
        let cause = &refused.details.as_ref().unwrap().causes[0];
        assert_eq!(
            (cause.reason.as_str(), cause.field.as_str()),
            ("NamespaceTerminating", "metadata.namespace")
        );
    }

    #[test]
    fn the_system_namespaces_may_not_be_deleted() {
        for name in IMMORTAL_NAMESPACES {
            let refused = check_delete(&kinds::NAMESPACES, name).unwrap_err();
            assert_eq!(
                refused.message,
                format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted")
            );
        }
        assert!(check_delete(&kinds::NAMESPACES, "kube-node-lease").is_ok());
        assert!(check_delete(&kinds::NAMESPACES, "team").is_ok());
        assert!(check_delete(&kinds::CONFIGMAPS, "default").is_ok());
    }
}
