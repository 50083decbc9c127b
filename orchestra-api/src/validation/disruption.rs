//! PodDisruptionBudgets: `minAvailable` or `maxUnavailable` (not both), each a non-negative
//! number or a percentage of at most 100%, a valid selector and a known eviction policy.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};

use super::field_error::FieldErrors;
use super::metadata::{NamespaceRule, identity_update, object_meta};
use super::names::name_is_dns_subdomain;
use super::path::{Path, invalid, json, not_supported};
use super::selector::label_selector;
use super::workloads::{not_more_than_100_percent, positive_int_or_percent};

/// Checks a PodDisruptionBudget (on create and update alike: its spec may change).
pub fn validate_pod_disruption_budget(budget: &PodDisruptionBudget) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &budget.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let default_spec = PodDisruptionBudgetSpec::default();
    let spec = budget.spec.as_ref().unwrap_or(&default_spec);
    let spec_path = Path::root("spec");
    if spec.min_available.is_some() && spec.max_unavailable.is_some() {
        errors.push(invalid(
            &spec_path,
            json(spec),
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    for (value, child) in [
        (&spec.min_available, "minAvailable"),
        (&spec.max_unavailable, "maxUnavailable"),
    ] {
        if let Some(value) = value {
            let value_path = spec_path.child(child);
            positive_int_or_percent(&mut errors, value, &value_path);
            not_more_than_100_percent(&mut errors, value, &value_path);
        }
    }
    if let Some(selector) = &spec.selector {
        label_selector(&mut errors, selector, &spec_path.child("selector"));
    }
    if let Some(policy) = spec
        .unhealthy_pod_eviction_policy
        .as_deref()
        .filter(|p| *p != "AlwaysAllow" && *p != "IfHealthyBudget")
    {
        errors.push(not_supported(
            &spec_path.child("unhealthyPodEvictionPolicy"),
            policy,
            &["AlwaysAllow", "IfHealthyBudget"],
        ));
    }
    errors
}

/// Checks a PodDisruptionBudget replacing `old`.
pub fn validate_pod_disruption_budget_update(
    new: &PodDisruptionBudget,
    old: &PodDisruptionBudget,
) -> FieldErrors {
    let mut errors = validate_pod_disruption_budget(new);
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    errors
}
