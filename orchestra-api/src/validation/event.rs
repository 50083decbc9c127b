//! Core (`v1`) Events, checked as Kubernetes checks Events written through the `v1` API: the
//! involved object's namespace agrees with the Event's, and Events with an `eventTime` name
//! their reporting controller, instance, action and reason.

use k8s_openapi::api::core::v1::Event;

use super::field_error::FieldErrors;
use super::metadata::{NamespaceRule, identity_update, object_meta};
use super::names::{is_dns1123_subdomain, is_qualified_name, path_segment_name};
use super::path::{Path, invalid, invalid_each, required};

/// Checks an Event (on create and update alike).
pub fn validate_event(event: &Event) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &event.metadata,
        NamespaceRule::Optional,
        path_segment_name,
        &Path::root("metadata"),
    );
    let namespace = event.metadata.namespace.as_deref().unwrap_or_default();
    let involved_namespace = event
        .involved_object
        .namespace
        .as_deref()
        .unwrap_or_default();
    let involved_path = Path::root("involvedObject");
    let namespace_path = involved_path.child("namespace");
    const MISMATCH: &str = "does not match event.namespace";
    if event.event_time.is_none() {
        let mismatch = if involved_namespace.is_empty() {
            !namespace.is_empty() && namespace != "default"
        } else {
            namespace != involved_namespace
        };
        if mismatch {
            errors.push(invalid(&namespace_path, involved_namespace, MISMATCH));
        }
    } else {
        if involved_namespace.is_empty() && namespace != "default" && namespace != "kube-system" {
            errors.push(invalid(&namespace_path, involved_namespace, MISMATCH));
        }
        let controller = event.reporting_component.as_deref().unwrap_or_default();
        let source_path = Path::root("source");
        if controller.is_empty() {
            errors.push(required(&source_path, ""));
        }
        invalid_each(
            &mut errors,
            &source_path,
            controller,
            is_qualified_name(controller),
        );
        for (value, root, limit, required_field) in [
            (&event.reporting_instance, "reportingInstance", 128, true),
            (&event.action, "action", 128, true),
            (&event.reason, "reason", 128, true),
            (&event.message, "message", 1024, false),
        ] {
            let value = value.as_deref().unwrap_or_default();
            let path = Path::root(root);
            if required_field && value.is_empty() {
                errors.push(required(&path, ""));
            }
            if value.len() > limit {
                errors.push(invalid(
                    &path,
                    "",
                    format!("can have at most {limit} characters"),
                ));
            }
        }
    }
    invalid_each(
        &mut errors,
        &Path::root("namespace"),
        namespace,
        is_dns1123_subdomain(namespace),
    );
    errors
}

/// Checks an Event replacing `old`.
pub fn validate_event_update(new: &Event, old: &Event) -> FieldErrors {
    let mut errors = validate_event(new);
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    errors
}
