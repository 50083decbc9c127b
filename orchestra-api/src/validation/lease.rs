//! Leases (`coordination.k8s.io`): a positive duration, non-negative transitions, and a
//! preferred holder only together with a strategy.

use k8s_openapi::api::coordination::v1::Lease;

use super::field_error::FieldErrors;
use super::metadata::{NamespaceRule, identity_update, object_meta};
use super::names::{IS_NEGATIVE_ERROR, name_is_dns_subdomain};
use super::path::{Path, forbidden, invalid, not_supported};

/// Checks a Lease (on create and update alike).
pub fn validate_lease(lease: &Lease) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &lease.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let Some(spec) = &lease.spec else {
        return errors;
    };
    let spec_path = Path::root("spec");
    if let Some(duration) = spec.lease_duration_seconds.filter(|d| *d <= 0) {
        errors.push(invalid(
            &spec_path.child("leaseDurationSeconds"),
            duration,
            "must be greater than 0",
        ));
    }
    if let Some(transitions) = spec.lease_transitions.filter(|t| *t < 0) {
        errors.push(invalid(
            &spec_path.child("leaseTransitions"),
            transitions,
            IS_NEGATIVE_ERROR,
        ));
    }
    let strategy = spec.strategy.as_deref().unwrap_or_default();
    if spec.strategy.is_some() && strategy != "OldestEmulationVersion" {
        errors.push(not_supported(
            &spec_path.child("strategy"),
            strategy,
            &["OldestEmulationVersion"],
        ));
    }
    if !spec
        .preferred_holder
        .as_deref()
        .unwrap_or_default()
        .is_empty()
        && strategy.is_empty()
    {
        errors.push(forbidden(
            &spec_path.child("preferredHolder"),
            "may only be specified if `strategy` is defined",
        ));
    }
    errors
}

/// Checks a Lease replacing `old`.
pub fn validate_lease_update(new: &Lease, old: &Lease) -> FieldErrors {
    let mut errors = validate_lease(new);
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    errors
}
