//! The Namespace registry's own rules, on top of the generic lifecycle, as Kubernetes'
//! namespace storage applies them:
//!
//! - a new namespace always carries the `kubernetes` finalizer in `spec.finalizers`: the
//!   namespace controller's promise to empty the namespace before it goes;
//! - an update of the namespace itself keeps `spec.finalizers` as they are; only the
//!   `finalize` subresource ([`finalize`]) changes them;
//! - the first delete marks the namespace (`deletionTimestamp`, phase `Terminating`, the
//!   garbage collector's finalizers the request asks for) and keeps it while
//!   `spec.finalizers` is not empty; once it is, the namespace goes like any object, as soon
//!   as its `metadata.finalizers` are gone too.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use orchestra_api::{DeleteParams, Object, ResourceKind, Status, validation};

use super::lifecycle::{DeletePlan, deletion_finalizers, name_of};

/// The finalizer of the namespace controller, which empties a terminating namespace.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";

/// The phase of a namespace being deleted.
pub const TERMINATING: &str = "Terminating";

/// The namespace's `spec.finalizers`, or none.
pub fn spec_finalizers(namespace: &Namespace) -> &[String] {
    namespace
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_deref())
        .unwrap_or_default()
}

/// Whether every `spec.finalizers` entry has been removed.
pub fn is_finalized(namespace: &Namespace) -> bool {
    spec_finalizers(namespace).is_empty()
}

/// Whether the namespace is being deleted (it has a `deletionTimestamp` or is `Terminating`).
pub fn is_terminating(namespace: &Namespace) -> bool {
    namespace.metadata.deletion_timestamp.is_some()
        || namespace.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(TERMINATING)
}

/// Adds the `kubernetes` finalizer to a namespace being created, after any it names.
pub fn require_kubernetes_finalizer(namespace: &mut Namespace) {
    let finalizers = namespace
        .spec
        .get_or_insert_with(NamespaceSpec::default)
        .finalizers
        .get_or_insert_with(Vec::new);
    if !finalizers.iter().any(|f| f == KUBERNETES_FINALIZER) {
        finalizers.push(KUBERNETES_FINALIZER.to_owned());
    }
}

/// What a create of `object` gets from the Namespace registry: the `kubernetes` finalizer.
pub fn prepare_for_create(object: &mut dyn Object) {
    if let Some(namespace) = object.as_any_mut().downcast_mut::<Namespace>() {
        require_kubernetes_finalizer(namespace);
    }
}

/// What an update of the namespace itself may not change: its `spec.finalizers`.
pub fn prepare_for_update(new: &mut dyn Object, old: &dyn Object) {
    if let (Some(new), Some(old)) = (
        new.as_any_mut().downcast_mut::<Namespace>(),
        old.as_any().downcast_ref::<Namespace>(),
    ) {
        let kept = old.spec.as_ref().and_then(|s| s.finalizers.clone());
        match (new.spec.as_mut(), kept) {
            (Some(spec), kept) => spec.finalizers = kept,
            (None, Some(kept)) => {
                new.spec = Some(NamespaceSpec {
                    finalizers: Some(kept),
                });
            }
            (None, None) => {}
        }
    }
}

/// The namespace a `finalize` request leaves: `old` with the request's `spec.finalizers`,
/// nothing else changed. The request's `resourceVersion`, when set, must be the current one.
pub fn finalize(
    old: &dyn Object,
    requested: &Namespace,
    kind: &ResourceKind,
) -> Result<Namespace, Status> {
    let current = old
        .as_any()
        .downcast_ref::<Namespace>()
        .ok_or_else(|| Status::internal("the namespaces registry holds a non-namespace"))?;
    let name = name_of(&current.metadata);
    if let Some(rv) = requested
        .metadata
        .resource_version
        .as_deref()
        .filter(|rv| !rv.is_empty())
        && Some(rv) != current.metadata.resource_version.as_deref()
    {
        return Err(Status::conflict(
            &kind.group,
            &kind.plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    if let Some(uid) = requested.metadata.uid.as_deref().filter(|u| !u.is_empty())
        && Some(uid) != current.metadata.uid.as_deref()
    {
        return Err(Status::conflict(
            &kind.group,
            &kind.plural,
            name,
            format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                current.metadata.uid.as_deref().unwrap_or("")
            ),
        ));
    }
    let mut finalized = current.clone();
    let finalizers = requested
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.clone())
        .unwrap_or_default();
    finalized
        .spec
        .get_or_insert_with(NamespaceSpec::default)
        .finalizers = Some(finalizers);
    let errors = validation::validate_create(&finalized);
    if !errors.is_empty() {
        return Err(Status::invalid(&kind.group, &kind.kind, name, &errors));
    }
    Ok(finalized)
}

/// What a delete does to a namespace, or `None` when the generic rules decide (the
/// namespace is already finalized).
///
/// The first delete sets `deletionTimestamp` and the `Terminating` phase and puts the
/// garbage collector's finalizers as the request asks; later ones change nothing while
/// `spec.finalizers` remain.
pub fn plan_delete(
    namespace: &Namespace,
    kind: &ResourceKind,
    params: &DeleteParams,
    now: Timestamp,
) -> Option<DeletePlan> {
    if namespace.metadata.deletion_timestamp.is_none() {
        let mut marked = namespace.clone();
        marked.metadata.deletion_timestamp = Some(Time(now));
        marked.status.get_or_insert_with(Default::default).phase = Some(TERMINATING.to_owned());
        if let Some(finalizers) = deletion_finalizers(&namespace.metadata, kind, params) {
            marked.metadata.finalizers = Some(finalizers);
        }
        let held = marked
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| !f.is_empty());
        if !is_finalized(namespace) || held {
            return Some(DeletePlan::Mark(Box::new(marked)));
        }
        return Some(DeletePlan::Remove);
    }
    (!is_finalized(namespace)).then_some(DeletePlan::Unchanged)
}

#[cfg(test)]
mod tests {
    use orchestra_api::{PropagationPolicy, kinds};

    use super::*;

    fn namespace(name: &str) -> Namespace {
        let mut ns = Namespace::default();
        ns.metadata.name = Some(name.into());
        ns.metadata.uid = Some("u-1".into());
        ns.metadata.resource_version = Some("7".into());
        require_kubernetes_finalizer(&mut ns);
        ns
    }

    #[test]
    fn a_new_namespace_carries_the_kubernetes_finalizer_once_after_its_own() {
        let mut ns = Namespace {
            spec: Some(NamespaceSpec {
                finalizers: Some(vec!["example.com/cleanup".into()]),
            }),
            ..Namespace::default()
        };
        prepare_for_create(&mut ns);
        prepare_for_create(&mut ns);
        assert_eq!(spec_finalizers(&ns), ["example.com/cleanup", "kubernetes"]);
    }

    #[test]
    fn an_update_keeps_the_spec_finalizers() {
        let old = namespace("team-a");
        let mut new = old.clone();
        new.spec = None;
        prepare_for_update(&mut new, &old);
        assert_eq!(spec_finalizers(&new), ["kubernetes"]);
        new.spec.as_mut().unwrap().finalizers = Some(vec![]);
        prepare_for_update(&mut new, &old);
        assert_eq!(spec_finalizers(&new), ["kubernetes"]);
    }

    #[test]
    fn the_first_delete_marks_the_namespace_terminating_and_later_ones_change_nothing() {
        let ns = namespace("team-a");
        let now = Timestamp::from_second(1_000).unwrap();
        let Some(DeletePlan::Mark(marked)) =
            plan_delete(&ns, &kinds::NAMESPACES, &DeleteParams::default(), now)
        else {
            panic!("the first delete marks the namespace");
        };
        let marked = marked.as_any().downcast_ref::<Namespace>().unwrap().clone();
        assert_eq!(marked.metadata.deletion_timestamp, Some(Time(now)));
        assert!(is_terminating(&marked));
        assert_eq!(
            marked.metadata.finalizers, None,
            "background: no GC finalizer"
        );
        assert!(matches!(
            plan_delete(&marked, &kinds::NAMESPACES, &DeleteParams::default(), now),
            Some(DeletePlan::Unchanged)
        ));
        let mut finalized = marked.clone();
        finalized.spec = Some(NamespaceSpec::default());
        assert!(
            plan_delete(
                &finalized,
                &kinds::NAMESPACES,
                &DeleteParams::default(),
                now
            )
            .is_none(),
            "a finalized namespace goes by the generic rules"
        );
    }

    #[test]
    fn an_orphan_delete_adds_the_orphan_finalizer() {
        let ns = namespace("team-a");
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Orphan),
            ..DeleteParams::default()
        };
        let Some(DeletePlan::Mark(marked)) =
            plan_delete(&ns, &kinds::NAMESPACES, &params, Timestamp::UNIX_EPOCH)
        else {
            panic!("marked");
        };
        assert_eq!(
            marked.metadata().finalizers.as_deref(),
            Some(&["orphan".to_owned()][..])
        );
    }

    #[test]
    fn finalize_replaces_only_the_spec_finalizers_and_checks_the_version() {
        let old = namespace("team-a");
        let mut request = old.clone();
        request.metadata.labels = Some([("x".to_owned(), "y".to_owned())].into());
        request.spec = Some(NamespaceSpec {
            finalizers: Some(vec![]),
        });
        let finalized = finalize(&old, &request, &kinds::NAMESPACES).unwrap();
        assert!(is_finalized(&finalized));
        assert_eq!(
            finalized.metadata.labels, None,
            "only spec.finalizers change"
        );

        request.metadata.resource_version = Some("6".into());
        let stale = finalize(&old, &request, &kinds::NAMESPACES).unwrap_err();
        assert_eq!(stale.code, 409);

        let mut invalid = old.clone();
        invalid.metadata.resource_version = None;
        invalid.spec = Some(NamespaceSpec {
            finalizers: Some(vec!["not a name".into()]),
        });
        assert_eq!(
            finalize(&old, &invalid, &kinds::NAMESPACES)
                .unwrap_err()
                .code,
            422
        );
    }
}
