//! Namespace defaults: the `kubernetes.io/metadata.name` label, always equal to the name (so
//! that label selectors, such as a NetworkPolicy's `namespaceSelector`, can pick namespaces by
//! name), and phase `Active`.
//!
//! A namespace created with `generateName` has no name yet when defaulting runs; Kubernetes
//! sets the label again once the name is generated, and this function, being idempotent, can
//! simply be called again then. The `kubernetes` finalizer is added by the Namespace registry on
//! create, not by defaulting.

use k8s_openapi::api::core::v1::Namespace;

use super::default_string;

/// The label that carries a namespace's own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Defaults a Namespace: its name label (overwriting any other value) and phase `Active`.
pub fn default_namespace(namespace: &mut Namespace) {
    if let Some(name) = namespace.metadata.name.as_deref().filter(|n| !n.is_empty()) {
        namespace
            .metadata
            .labels
            .get_or_insert_default()
            .insert(NAMESPACE_NAME_LABEL.to_owned(), name.to_owned());
    }
    let status = namespace.status.get_or_insert_default();
    default_string(&mut status.phase, "Active");
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn namespaces_are_active_and_labelled_with_their_name() {
        let mut ns = Namespace {
            metadata: ObjectMeta {
                name: Some("team-a".into()),
                labels: Some([(NAMESPACE_NAME_LABEL.to_string(), "spoofed".to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        default_namespace(&mut ns);
        let labels = ns.metadata.labels.unwrap_or_default();
        assert_eq!(
            labels.get(NAMESPACE_NAME_LABEL).map(String::as_str),
            Some("team-a")
        );
        assert_eq!(ns.status.and_then(|s| s.phase).as_deref(), Some("Active"));
    }

    #[test]
    fn unnamed_namespaces_get_no_label_yet() {
        let mut ns = Namespace {
            metadata: ObjectMeta {
                generate_name: Some("team-".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        default_namespace(&mut ns);
        assert_eq!(ns.metadata.labels, None);
    }
}
