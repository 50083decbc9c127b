//! `metadata` of every object: name and generateName by the kind's name rule, namespace by the
//! kind's scope, labels, annotations (keys, and 256 KiB in total), ownerReferences, finalizers,
//! managedFields; and on update the fields that never change (name, namespace, uid,
//! creationTimestamp, …).
//!
//! This mirrors `ValidateObjectMeta` and `ValidateObjectMetaUpdate` of Kubernetes'
//! `k8s.io/apimachinery/pkg/api/validation`, plus the finalizer rule of the core group. As in
//! Kubernetes, validation runs after name generation: an object without a `name` is invalid
//! even if it has a `generateName`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    ManagedFieldsEntry, ObjectMeta, OwnerReference,
};

use super::field_error::FieldErrors;
use super::names::{NameValidator, is_qualified_name, is_valid_label_value, name_is_dns_label};
use super::path::{Path, forbidden, immutable, invalid, json, non_negative, required, too_long};

/// The most bytes all annotation keys and values of one object may take together (256 KiB).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Finalizers Kubernetes knows without a domain prefix.
const STANDARD_FINALIZERS: [&str; 3] = ["kubernetes", "orphan", "foregroundDeletion"];

/// How `metadata.namespace` is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceRule {
    /// A namespaced kind whose objects must carry their namespace (`metadata.namespace:
    /// Required value`), as Kubernetes checks them once the request's namespace is filled in.
    Required,
    /// A namespaced kind, or one whose scope is unknown: a namespace, when present, must be a
    /// DNS label; whether one must be present is the caller's decision. The kind validators use
    /// this rule, because the registry, which knows the namespace of the request, puts it in
    /// the object (and rejects a missing one) before validating.
    Optional,
    /// A cluster-scoped kind: no namespace (`Forbidden: not allowed on this type`).
    Forbidden,
}

/// Checks the metadata of an object about to be created: `name` (or `generateName`) by the
/// kind's name rule, such as [`name_is_dns_subdomain`](super::name_is_dns_subdomain), the
/// namespace by `namespace`, then labels, annotations, owner references, finalizers and
/// managed fields.
pub fn validate_object_meta(
    meta: &ObjectMeta,
    namespace: NamespaceRule,
    name: NameValidator,
) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(&mut errors, meta, namespace, name, &Path::root("metadata"));
    errors
}

/// Checks the metadata of an object replacing `old`: what may never change, and that labels,
/// annotations, owner references and finalizers are still well-formed.
pub fn validate_object_meta_update(new: &ObjectMeta, old: &ObjectMeta) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta_update(&mut errors, new, old, &Path::root("metadata"));
    errors
}

pub(crate) fn object_meta(
    errors: &mut FieldErrors,
    meta: &ObjectMeta,
    namespace_rule: NamespaceRule,
    name_rule: NameValidator,
    path: &Path<'_>,
) {
    if let Some(generate_name) = meta.generate_name.as_deref().filter(|g| !g.is_empty()) {
        let generate_path = path.child("generateName");
        for message in name_rule(generate_name, true) {
            errors.push(invalid(&generate_path, generate_name, message));
        }
    }
    match meta.name.as_deref().filter(|n| !n.is_empty()) {
        None => errors.push(required(
            &path.child("name"),
            "name or generateName is required",
        )),
        Some(name) => {
            let name_path = path.child("name");
            for message in name_rule(name, false) {
                errors.push(invalid(&name_path, name, message));
            }
        }
    }
    let namespace = meta.namespace.as_deref().unwrap_or_default();
    match namespace_rule {
        NamespaceRule::Required if namespace.is_empty() => {
            errors.push(required(&path.child("namespace"), ""));
        }
        NamespaceRule::Forbidden if !namespace.is_empty() => {
            errors.push(forbidden(
                &path.child("namespace"),
                "not allowed on this type",
            ));
        }
        NamespaceRule::Required | NamespaceRule::Optional if !namespace.is_empty() => {
            let namespace_path = path.child("namespace");
            for message in name_is_dns_label(namespace, false) {
                errors.push(invalid(&namespace_path, namespace, message));
            }
        }
        _ => {}
    }
    non_negative(
        errors,
        &path.child("generation"),
        meta.generation.unwrap_or_default(),
    );
    mutable_parts(errors, meta, path);
}

/// What create and update both check: labels, annotations, owners, finalizers, managed fields.
fn mutable_parts(errors: &mut FieldErrors, meta: &ObjectMeta, path: &Path<'_>) {
    if let Some(map) = &meta.labels {
        labels(errors, map, &path.child("labels"));
    }
    if let Some(map) = &meta.annotations {
        annotations(errors, map, &path.child("annotations"));
    }
    if let Some(owners) = &meta.owner_references {
        owner_references(errors, owners, &path.child("ownerReferences"));
    }
    if let Some(list) = &meta.finalizers {
        finalizers(errors, list, &path.child("finalizers"));
    }
    if let Some(entries) = &meta.managed_fields {
        managed_fields(errors, entries, &path.child("managedFields"));
    }
}

/// The update checks of metadata, including the labels, annotations, owners and finalizers of
/// the new object.
pub(crate) fn object_meta_update(
    errors: &mut FieldErrors,
    new: &ObjectMeta,
    old: &ObjectMeta,
    path: &Path<'_>,
) {
    identity_update(errors, new, old, path);
    mutable_parts(errors, new, path);
}

/// The update checks of metadata that compare it with the old object (what may not change),
/// for callers that also run the create checks of the new object.
pub(crate) fn identity_update(
    errors: &mut FieldErrors,
    new: &ObjectMeta,
    old: &ObjectMeta,
    path: &Path<'_>,
) {
    if old.deletion_timestamp.is_some() {
        let old_finalizers = old.finalizers.as_deref().unwrap_or_default();
        let added: Vec<&String> = new
            .finalizers
            .iter()
            .flatten()
            .filter(|f| !old_finalizers.contains(f))
            .collect();
        if !added.is_empty() {
            let quoted: Vec<String> = added.iter().map(|f| format!("{f:?}")).collect();
            errors.push(forbidden(
                &path.child("finalizers"),
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    quoted.join(", ")
                ),
            ));
        }
    }
    let resource_version = new.resource_version.as_deref().unwrap_or_default();
    if resource_version.is_empty() {
        errors.push(invalid(
            &path.child("resourceVersion"),
            resource_version,
            "must be specified for an update",
        ));
    }
    let (new_generation, old_generation) = (
        new.generation.unwrap_or_default(),
        old.generation.unwrap_or_default(),
    );
    if new_generation < old_generation {
        errors.push(invalid(
            &path.child("generation"),
            new_generation,
            "must not be decremented",
        ));
    }
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    immutable(
        errors,
        &path.child("name"),
        &text(&new.name),
        &text(&old.name),
    );
    immutable(
        errors,
        &path.child("namespace"),
        &text(&new.namespace),
        &text(&old.namespace),
    );
    immutable(errors, &path.child("uid"), &text(&new.uid), &text(&old.uid));
    immutable(
        errors,
        &path.child("creationTimestamp"),
        &new.creation_timestamp,
        &old.creation_timestamp,
    );
    if new.deletion_timestamp != old.deletion_timestamp {
        errors.push(invalid(
            &path.child("deletionTimestamp"),
            json(&new.deletion_timestamp),
            "field is immutable; may only be changed via deletion",
        ));
    }
    if new.deletion_grace_period_seconds != old.deletion_grace_period_seconds
        && new.deletion_grace_period_seconds.is_some()
    {
        errors.push(invalid(
            &path.child("deletionGracePeriodSeconds"),
            json(&new.deletion_grace_period_seconds),
            "field is immutable; may only be changed via deletion",
        ));
    }
}

/// Checks a label map: keys are qualified names, values are label values. Errors point at the
/// map itself (`metadata.labels`), as in Kubernetes.
pub(crate) fn labels(errors: &mut FieldErrors, map: &BTreeMap<String, String>, path: &Path<'_>) {
    for (key, value) in map {
        label_key(errors, key, path);
        for message in is_valid_label_value(value) {
            errors.push(invalid(path, value.as_str(), message));
        }
    }
}

/// Checks one label key (a qualified name).
pub(crate) fn label_key(errors: &mut FieldErrors, key: &str, path: &Path<'_>) {
    for message in is_qualified_name(key) {
        errors.push(invalid(path, key, message));
    }
}

/// Checks an annotation map: keys are qualified names in any case, and keys and values take at
/// most [`TOTAL_ANNOTATION_SIZE_LIMIT`] bytes together.
pub(crate) fn annotations(
    errors: &mut FieldErrors,
    map: &BTreeMap<String, String>,
    path: &Path<'_>,
) {
    let mut total = 0usize;
    for (key, value) in map {
        let lower;
        let checked = if key.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = key.to_ascii_lowercase();
            lower.as_str()
        } else {
            key.as_str()
        };
        for message in is_qualified_name(checked) {
            errors.push(invalid(path, key.as_str(), message));
        }
        total = total.saturating_add(key.len()).saturating_add(value.len());
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errors.push(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
}

fn owner_references(errors: &mut FieldErrors, owners: &[OwnerReference], path: &Path<'_>) {
    let mut first_controller: Option<String> = None;
    for owner in owners {
        let (group, version) = match owner.api_version.split('/').collect::<Vec<_>>()[..] {
            [version] => ("", version),
            [group, version] => (group, version),
            _ => ("", ""),
        };
        if version.is_empty() {
            errors.push(invalid(
                &path.child("apiVersion"),
                owner.api_version.as_str(),
                "version must not be empty",
            ));
        }
        if owner.kind.is_empty() {
            errors.push(invalid(&path.child("kind"), "", "kind must not be empty"));
        }
        if owner.name.is_empty() {
            errors.push(invalid(&path.child("name"), "", "name must not be empty"));
        }
        if owner.uid.is_empty() {
            errors.push(invalid(&path.child("uid"), "", "uid must not be empty"));
        }
        if group.is_empty() && version == "v1" && owner.kind == "Event" {
            errors.push(invalid(
                path,
                json(owner),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if owner.controller == Some(true) {
            let current = format!("{}/{}", owner.kind, owner.name);
            match &first_controller {
                Some(first) => errors.push(invalid(
                    path,
                    json(owners),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
}

fn finalizers(errors: &mut FieldErrors, list: &[String], path: &Path<'_>) {
    for (i, finalizer) in list.iter().enumerate() {
        for message in is_qualified_name(finalizer) {
            errors.push(invalid(path, finalizer.as_str(), message));
        }
        kube_finalizer_name(errors, finalizer, &path.index(i));
    }
    let has = |name: &str| list.iter().any(|f| f == name);
    if has("orphan") && has("foregroundDeletion") {
        errors.push(invalid(
            path,
            json(list),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
}

/// A finalizer without a `/` must be one Kubernetes knows (`kubernetes`, `orphan`,
/// `foregroundDeletion`).
pub(crate) fn kube_finalizer_name(errors: &mut FieldErrors, finalizer: &str, path: &Path<'_>) {
    if !finalizer.contains('/') && !STANDARD_FINALIZERS.contains(&finalizer) {
        errors.push(invalid(
            path,
            finalizer,
            "name is neither a standard finalizer name nor is it fully qualified",
        ));
    }
}

fn managed_fields(errors: &mut FieldErrors, entries: &[ManagedFieldsEntry], path: &Path<'_>) {
    for (i, entry) in entries.iter().enumerate() {
        let entry_path = path.index(i);
        let operation = entry.operation.as_deref().unwrap_or_default();
        if operation != "Apply" && operation != "Update" {
            errors.push(invalid(
                &entry_path.child("operation"),
                operation,
                "must be `Apply` or `Update`",
            ));
        }
        let fields_type = entry.fields_type.as_deref().unwrap_or_default();
        if !fields_type.is_empty() && fields_type != "FieldsV1" {
            errors.push(invalid(
                &entry_path.child("fieldsType"),
                fields_type,
                "must be `FieldsV1`",
            ));
        }
        let manager = entry.manager.as_deref().unwrap_or_default();
        if manager.len() > 128 {
            errors.push(too_long(&entry_path.child("manager"), 128));
        }
        if manager.chars().any(|c| c.is_control()) {
            errors.push(invalid(
                &entry_path.child("manager"),
                manager,
                "must only contain printable characters",
            ));
        }
        if entry.subresource.as_deref().unwrap_or_default().len() > 256 {
            errors.push(too_long(&entry_path.child("subresource"), 256));
        }
    }
}

/// Checks the metadata of an embedded template (pod template, claim template): labels and
/// annotations only.
pub(crate) fn template_labels_and_annotations(
    errors: &mut FieldErrors,
    meta: Option<&ObjectMeta>,
    path: &Path<'_>,
) {
    let Some(meta) = meta else { return };
    if let Some(map) = &meta.labels {
        labels(errors, map, &path.child("labels"));
    }
    if let Some(map) = &meta.annotations {
        annotations(errors, map, &path.child("annotations"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::names::name_is_dns_subdomain;

    fn meta(json: serde_json::Value) -> ObjectMeta {
        serde_json::from_value(json).unwrap()
    }

    fn fields(errors: &FieldErrors) -> Vec<String> {
        errors.iter().map(|e| e.field.to_string()).collect()
    }

    #[test]
    fn name_is_required_even_with_generate_name() {
        let errors = validate_object_meta(
            &meta(serde_json::json!({"generateName": "web-", "namespace": "default"})),
            NamespaceRule::Required,
            name_is_dns_subdomain,
        );
        assert_eq!(fields(&errors), ["metadata.name"]);
        assert_eq!(errors[0].detail, "name or generateName is required");
    }

    #[test]
    fn namespace_follows_the_scope() {
        let m = meta(serde_json::json!({"name": "a", "namespace": "default"}));
        assert!(
            validate_object_meta(&m, NamespaceRule::Required, name_is_dns_subdomain).is_empty()
        );
        assert!(
            validate_object_meta(&m, NamespaceRule::Optional, name_is_dns_subdomain).is_empty()
        );
        let errors = validate_object_meta(&m, NamespaceRule::Forbidden, name_is_dns_subdomain);
        assert_eq!(
            errors[0].to_string(),
            "metadata.namespace: Forbidden: not allowed on this type"
        );
        let m = meta(serde_json::json!({"name": "a"}));
        let errors = validate_object_meta(&m, NamespaceRule::Required, name_is_dns_subdomain);
        assert_eq!(errors[0].to_string(), "metadata.namespace: Required value");
        assert!(
            validate_object_meta(&m, NamespaceRule::Optional, name_is_dns_subdomain).is_empty()
        );
        let m = meta(serde_json::json!({"name": "a", "namespace": "Bad_NS"}));
        let errors = validate_object_meta(&m, NamespaceRule::Optional, name_is_dns_subdomain);
        assert_eq!(errors[0].field.as_str(), "metadata.namespace");
    }

    #[test]
    fn labels_and_annotations_report_at_the_map() {
        let m = meta(serde_json::json!({
            "name": "a",
            "labels": {"bad key!": "v", "ok": "bad value!"},
            "annotations": {"Example.COM/Key": "fine", "a/b/c": "x"}
        }));
        let errors = validate_object_meta(&m, NamespaceRule::Optional, name_is_dns_subdomain);
        assert_eq!(
            fields(&errors),
            ["metadata.labels", "metadata.labels", "metadata.annotations"]
        );
    }

    #[test]
    fn annotations_may_take_at_most_256_kib_in_total() {
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        let m = meta(serde_json::json!({"name": "a", "annotations": {"k": big}}));
        let errors = validate_object_meta(&m, NamespaceRule::Optional, name_is_dns_subdomain);
        assert_eq!(
            errors[0].to_string(),
            "metadata.annotations: Too long: may not be more than 262144 bytes"
        );
    }

    #[test]
    fn only_one_owner_may_be_the_controller() {
        let m = meta(serde_json::json!({"name": "a", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r1", "uid": "1", "controller": true},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r2", "uid": "2", "controller": true},
            {"apiVersion": "", "kind": "", "name": "", "uid": ""},
        ]}));
        let errors = validate_object_meta(&m, NamespaceRule::Optional, name_is_dns_subdomain);
        assert_eq!(
            fields(&errors),
            [
                "metadata.ownerReferences",
                "metadata.ownerReferences.apiVersion",
                "metadata.ownerReferences.kind",
                "metadata.ownerReferences.name",
                "metadata.ownerReferences.uid"
            ]
        );
        assert!(errors[0].detail.contains("ReplicaSet/r1 and ReplicaSet/r2"));
    }

    #[test]
    fn finalizers_must_be_qualified_or_standard() {
        let m = meta(
            serde_json::json!({"name": "a", "finalizers": ["kubernetes", "example.com/x", "custom"]}),
        );
        let errors = validate_object_meta(&m, NamespaceRule::Optional, name_is_dns_subdomain);
        assert_eq!(fields(&errors), ["metadata.finalizers[2]"]);
    }

    #[test]
    fn identity_fields_are_immutable() {
        let old = meta(
            serde_json::json!({"name": "a", "namespace": "ns", "uid": "1", "resourceVersion": "5"}),
        );
        let new = meta(
            serde_json::json!({"name": "b", "namespace": "ns", "uid": "2", "resourceVersion": "5"}),
        );
        let errors = validate_object_meta_update(&new, &old);
        assert_eq!(fields(&errors), ["metadata.name", "metadata.uid"]);
        assert_eq!(
            errors[0].to_string(),
            "metadata.name: Invalid value: \"b\": field is immutable"
        );
        let no_version = meta(serde_json::json!({"name": "a", "namespace": "ns", "uid": "1"}));
        let errors = validate_object_meta_update(&no_version, &old);
        assert_eq!(fields(&errors), ["metadata.resourceVersion"]);
    }

    #[test]
    fn no_finalizer_may_be_added_while_deleting() {
        let old = meta(serde_json::json!({"name": "a", "resourceVersion": "1",
            "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["example.com/a"]}));
        let mut new = old.clone();
        new.finalizers = Some(vec!["example.com/a".into(), "example.com/b".into()]);
        let errors = validate_object_meta_update(&new, &old);
        assert_eq!(fields(&errors), ["metadata.finalizers"]);
        assert!(errors[0].detail.ends_with("[]string{\"example.com/b\"}"));
    }
}
