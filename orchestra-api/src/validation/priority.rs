//! PriorityClasses: names with the `system-` prefix are reserved for Kubernetes' own classes,
//! user classes may not exceed one billion, and the value never changes.

use k8s_openapi::api::scheduling::v1::PriorityClass;

use super::field_error::FieldErrors;
use super::metadata::{NamespaceRule, object_meta, object_meta_update};
use super::names::name_is_dns_subdomain;
use super::path::{Path, forbidden, immutable, not_supported, required};

/// The highest priority a user-defined class may have.
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i32 = 1_000_000_000;

const SYSTEM_CLASSES: [(&str, i32); 2] = [
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

/// Checks a PriorityClass about to be created.
pub fn validate_priority_class(class: &PriorityClass) -> FieldErrors {
    let mut errors = FieldErrors::new();
    let meta_path = Path::root("metadata");
    object_meta(
        &mut errors,
        &class.metadata,
        NamespaceRule::Forbidden,
        name_is_dns_subdomain,
        &meta_path,
    );
    let name = class.metadata.name.as_deref().unwrap_or_default();
    if name.starts_with("system-") {
        let problem = match SYSTEM_CLASSES.iter().find(|(n, _)| *n == name) {
            None => Some(format!("{name} is not a known system priority class")),
            Some((_, value)) if *value != class.value => {
                Some(format!("value of {name} PriorityClass must be {value}"))
            }
            Some(_) if class.global_default == Some(true) => {
                Some("globalDefault must be false".to_owned())
            }
            Some(_) => None,
        };
        if let Some(problem) = problem {
            errors.push(forbidden(
                &meta_path.child("name"),
                format!(
                    "priority class names with 'system-' prefix are reserved for system use only. error: {problem}"
                ),
            ));
        }
    } else if class.value > HIGHEST_USER_DEFINABLE_PRIORITY {
        errors.push(forbidden(
            &Path::root("value"),
            format!(
                "maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"
            ),
        ));
    }
    if let Some(policy) = class.preemption_policy.as_deref() {
        let policy_path = Path::root("preemptionPolicy");
        match policy {
            "PreemptLowerPriority" | "Never" => {}
            "" => errors.push(required(&policy_path, "")),
            other => errors.push(not_supported(
                &policy_path,
                other,
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
    errors
}

/// Checks a PriorityClass replacing `old`: its value and preemption policy never change.
pub fn validate_priority_class_update(new: &PriorityClass, old: &PriorityClass) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    if new.value != old.value {
        errors.push(forbidden(
            &Path::root("value"),
            "may not be changed in an update.",
        ));
    }
    immutable(
        &mut errors,
        &Path::root("preemptionPolicy"),
        &new.preemption_policy,
        &old.preemption_policy,
    );
    errors
}
