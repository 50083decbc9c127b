//! Namespaces: the name is a DNS-1123 label, and `spec.finalizers` are qualified names or the
//! standard `kubernetes` finalizer.

use k8s_openapi::api::core::v1::Namespace;

use super::field_error::FieldErrors;
use super::metadata::{NamespaceRule, kube_finalizer_name, object_meta, object_meta_update};
use super::names::{is_qualified_name, name_is_dns_label};
use super::path::{Path, invalid_each};

/// Checks a Namespace about to be created.
pub fn validate_namespace(namespace: &Namespace) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &namespace.metadata,
        NamespaceRule::Forbidden,
        name_is_dns_label,
        &Path::root("metadata"),
    );
    let spec_path = Path::root("spec");
    let finalizers_path = spec_path.child("finalizers");
    let finalizers = namespace
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_deref());
    for finalizer in finalizers.unwrap_or_default() {
        invalid_each(
            &mut errors,
            &finalizers_path,
            finalizer,
            is_qualified_name(finalizer),
        );
        kube_finalizer_name(&mut errors, finalizer, &finalizers_path);
    }
    errors
}

/// Checks a Namespace replacing `old` (only its metadata rules apply).
pub fn validate_namespace_update(new: &Namespace, old: &Namespace) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    errors
}
