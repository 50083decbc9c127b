//! The conditions the namespace controller keeps on a terminating namespace, as Kubernetes'
//! sets them: each of the five types is always present, `True` with what went wrong or
//! remains, or `False` with Kubernetes' "all is well" reason and message.
//!
//! | type | `True` reason |
//! |---|---|
//! | `NamespaceDeletionDiscoveryFailure` | `DiscoveryFailed` |
//! | `NamespaceDeletionGroupVersionParsingFailure` | `GroupVersionParsingFailed` |
//! | `NamespaceDeletionContentFailure` | `ContentDeletionFailed`: `Failed to delete all resource types, N remaining: …` |
//! | `NamespaceContentRemaining` | `SomeResourcesRemain`: `Some resources are remaining: pods. has 2 resource instances` |
//! | `NamespaceFinalizersRemaining` | `SomeFinalizersRemain`: `Some content in the namespace has finalizers remaining: example.com/x in 1 resource instances` |

use std::collections::BTreeMap;

use orchestra_api::k8s_openapi::api::core::v1::{NamespaceCondition, NamespaceStatus};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use orchestra_api::k8s_openapi::jiff::Timestamp;

/// Discovery of the resources to delete failed.
pub const DISCOVERY_FAILURE: &str = "NamespaceDeletionDiscoveryFailure";
/// A group version could not be parsed.
pub const GROUP_VERSION_PARSING_FAILURE: &str = "NamespaceDeletionGroupVersionParsingFailure";
/// Deleting some content failed.
pub const CONTENT_FAILURE: &str = "NamespaceDeletionContentFailure";
/// Content is still there.
pub const CONTENT_REMAINING: &str = "NamespaceContentRemaining";
/// Content is held by finalizers.
pub const FINALIZERS_REMAINING: &str = "NamespaceFinalizersRemaining";

/// Every condition type the controller maintains, in Kubernetes' order.
pub const CONDITION_TYPES: [&str; 5] = [
    DISCOVERY_FAILURE,
    GROUP_VERSION_PARSING_FAILURE,
    CONTENT_FAILURE,
    CONTENT_REMAINING,
    FINALIZERS_REMAINING,
];

/// The `False` reason and message of a condition type.
fn all_well(condition_type: &str) -> (&'static str, &'static str) {
    match condition_type {
        DISCOVERY_FAILURE => (
            "ResourcesDiscovered",
            "All resources successfully discovered",
        ),
        GROUP_VERSION_PARSING_FAILURE => (
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
        CONTENT_FAILURE => (
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
        ),
        _ => ("ContentRemoved", "All content successfully removed"),
    }
}

/// What one pass over a terminating namespace found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentReport {
    /// Why discovering the kinds to delete failed, if it did.
    pub discovery_failure: Option<String>,
    /// The errors deleting content gave.
    pub delete_errors: Vec<String>,
    /// Objects left, by resource (`pods.`, `deployments.apps`).
    pub remaining: BTreeMap<String, usize>,
    /// Objects left holding each finalizer.
    pub finalizers: BTreeMap<String, usize>,
}

impl ContentReport {
    /// The conditions of `True` status the report gives.
    fn failures(&self) -> Vec<(&'static str, &'static str, String)> {
        let mut failures = Vec::new();
        if let Some(message) = &self.discovery_failure {
            failures.push((DISCOVERY_FAILURE, "DiscoveryFailed", message.clone()));
        }
        if !self.delete_errors.is_empty() {
            let mut errors = self.delete_errors.clone();
            errors.sort();
            failures.push((
                CONTENT_FAILURE,
                "ContentDeletionFailed",
                format!(
                    "Failed to delete all resource types, {} remaining: {}",
                    errors.len(),
                    errors.join(", ")
                ),
            ));
        }
        let remaining: Vec<String> = self
            .remaining
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(resource, n)| format!("{resource} has {n} resource instances"))
            .collect();
        if !remaining.is_empty() {
            failures.push((
                CONTENT_REMAINING,
                "SomeResourcesRemain",
                format!("Some resources are remaining: {}", remaining.join(", ")),
            ));
        }
        let finalizers: Vec<String> = self
            .finalizers
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(finalizer, n)| format!("{finalizer} in {n} resource instances"))
            .collect();
        if !finalizers.is_empty() {
            failures.push((
                FINALIZERS_REMAINING,
                "SomeFinalizersRemain",
                format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    finalizers.join(", ")
                ),
            ));
        }
        failures
    }
}

/// Brings the namespace's conditions in line with `report` at `now`; answers whether
/// anything changed. A condition's `lastTransitionTime` moves only when its status flips.
pub fn update_conditions(
    status: &mut NamespaceStatus,
    report: &ContentReport,
    now: Timestamp,
) -> bool {
    let failures = report.failures();
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let mut changed = false;
    for condition_type in CONDITION_TYPES {
        let (state, reason, message) = match failures.iter().find(|(t, _, _)| *t == condition_type)
        {
            Some((_, reason, message)) => ("True", *reason, message.clone()),
            None => {
                let (reason, message) = all_well(condition_type);
                ("False", reason, message.to_owned())
            }
        };
        match conditions.iter_mut().find(|c| c.type_ == condition_type) {
            None => {
                conditions.push(NamespaceCondition {
                    type_: condition_type.to_owned(),
                    status: state.to_owned(),
                    reason: Some(reason.to_owned()),
                    message: Some(message),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
            Some(existing) => {
                let same = existing.status == state
                    && existing.reason.as_deref() == Some(reason)
                    && existing.message.as_deref() == Some(message.as_str());
                if !same {
                    if existing.status != state {
                        existing.last_transition_time = Some(Time(now));
                    }
                    existing.status = state.to_owned();
                    existing.reason = Some(reason.to_owned());
                    existing.message = Some(message);
                    changed = true;
                }
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition<'a>(status: &'a NamespaceStatus, t: &str) -> &'a NamespaceCondition {
        status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == t)
            .unwrap()
    }

    #[test]
    fn a_clean_pass_sets_every_condition_false_with_kubernetes_wording() {
        let mut status = NamespaceStatus::default();
        let now = Timestamp::from_second(100).unwrap();
        assert!(update_conditions(
            &mut status,
            &ContentReport::default(),
            now
        ));
        assert_eq!(status.conditions.as_ref().unwrap().len(), 5);
        let content = condition(&status, CONTENT_FAILURE);
        assert_eq!(content.status, "False");
        assert_eq!(content.reason.as_deref(), Some("ContentDeleted"));
        assert!(!update_conditions(
            &mut status,
            &ContentReport::default(),
            now
        ));
    }

    #[test]
    fn remaining_content_and_finalizers_are_described() {
        let mut status = NamespaceStatus::default();
        let report = ContentReport {
            remaining: [("pods.".to_owned(), 2), ("deployments.apps".to_owned(), 1)].into(),
            finalizers: [("example.com/hold".to_owned(), 1)].into(),
            delete_errors: vec!["b failed".into(), "a failed".into()],
            ..ContentReport::default()
        };
        let start = Timestamp::from_second(100).unwrap();
        update_conditions(&mut status, &ContentReport::default(), start);
        let later = Timestamp::from_second(200).unwrap();
        assert!(update_conditions(&mut status, &report, later));
        let remaining = condition(&status, CONTENT_REMAINING);
        assert_eq!(remaining.status, "True");
        assert_eq!(
            remaining.message.as_deref(),
            Some(
                "Some resources are remaining: deployments.apps has 1 resource instances, pods. has 2 resource instances"
            )
        );
        assert_eq!(remaining.last_transition_time, Some(Time(later)));
        assert_eq!(
            condition(&status, FINALIZERS_REMAINING).message.as_deref(),
            Some(
                "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
            )
        );
        assert_eq!(
            condition(&status, CONTENT_FAILURE).message.as_deref(),
            Some("Failed to delete all resource types, 2 remaining: a failed, b failed")
        );
        let discovery = condition(&status, DISCOVERY_FAILURE);
        assert_eq!(
            discovery.last_transition_time,
            Some(Time(start)),
            "unchanged"
        );
    }
}
