//! Nodes: taints, pod CIDRs (valid, at most one per IP family), capacity and allocatable
//! quantities; on update the pod CIDRs and provider ID may only be set once.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Node, NodeSpec, NodeStatus};

use super::affinity::taints;
use super::field_error::FieldErrors;
use super::metadata::{NamespaceRule, object_meta, object_meta_update};
use super::names::{is_valid_cidr, name_is_dns_subdomain, parse_cidr};
use super::path::{Path, duplicate, forbidden, invalid, invalid_each, json};
use super::resources::resource_quantity;

/// Checks a Node about to be created.
pub fn validate_node(node: &Node) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &node.metadata,
        NamespaceRule::Forbidden,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    node_fields(&mut errors, node);
    errors
}

fn node_fields(errors: &mut FieldErrors, node: &Node) {
    let default_spec = NodeSpec::default();
    let spec = node.spec.as_ref().unwrap_or(&default_spec);
    let spec_path = Path::root("spec");
    if let Some(list) = &spec.taints {
        taints(errors, list, &spec_path.child("taints"));
    }
    let cidrs = spec.pod_cidrs.as_deref().unwrap_or_default();
    let cidrs_path = spec_path.child("podCIDRs");
    let mut valid = true;
    for (i, cidr) in cidrs.iter().enumerate() {
        let messages = is_valid_cidr(cidr);
        valid &= messages.is_empty();
        invalid_each(errors, &cidrs_path.index(i), cidr, messages);
    }
    if cidrs.len() > 1 && valid {
        let v6 = cidrs
            .iter()
            .filter(|c| parse_cidr(c).is_some_and(|(ip, _)| ip.is_ipv6()))
            .count();
        if cidrs.len() > 2 || v6 != 1 {
            errors.push(invalid(
                &cidrs_path,
                json(cidrs),
                "may specify no more than one CIDR for each IP family",
            ));
        }
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for (i, cidr) in cidrs.iter().enumerate() {
            if !seen.insert(cidr.as_str()) {
                errors.push(duplicate(&cidrs_path.index(i), cidr.as_str()));
            }
        }
    }
    let default_status = NodeStatus::default();
    let status = node.status.as_ref().unwrap_or(&default_status);
    let status_path = Path::root("status");
    for (list, child) in [
        (&status.capacity, "capacity"),
        (&status.allocatable, "allocatable"),
    ] {
        let list_path = status_path.child(child);
        for (name, quantity) in list.iter().flatten() {
            resource_quantity(errors, name, quantity, &list_path.child(name));
        }
    }
}

/// Checks a Node replacing `old`: pod CIDRs and provider ID may only go from unset to set, the
/// external ID never changes, and addresses are unique.
pub fn validate_node_update(new: &Node, old: &Node) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    node_fields(&mut errors, new);
    let default_spec = NodeSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&default_spec);
    let old_spec = old.spec.as_ref().unwrap_or(&default_spec);
    let spec_path = Path::root("spec");
    let old_cidrs = old_spec.pod_cidrs.as_deref().unwrap_or_default();
    let new_cidrs = new_spec.pod_cidrs.as_deref().unwrap_or_default();
    if !old_cidrs.is_empty() && old_cidrs != new_cidrs {
        errors.push(forbidden(
            &spec_path.child("podCIDRs"),
            "node updates may not change podCIDR except from \"\" to valid",
        ));
    }
    let old_provider = old_spec.provider_id.as_deref().unwrap_or_default();
    if !old_provider.is_empty() && new_spec.provider_id.as_deref() != Some(old_provider) {
        errors.push(forbidden(
            &spec_path.child("providerID"),
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
    if new_spec.external_id != old_spec.external_id {
        errors.push(forbidden(
            &spec_path.child("externalID"),
            "may not be updated",
        ));
    }
    let status_path = Path::root("status");
    let addresses_path = status_path.child("addresses");
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    let addresses = new.status.as_ref().and_then(|s| s.addresses.as_deref());
    for (i, address) in addresses.unwrap_or_default().iter().enumerate() {
        if !seen.insert((address.type_.as_str(), address.address.as_str())) {
            errors.push(duplicate(&addresses_path.index(i), json(address)));
        }
    }
    errors
}
