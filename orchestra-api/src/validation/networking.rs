//! `networking.k8s.io`: Ingresses (a default backend or rules, DNS hosts, absolute paths of a
//! known type, backends naming a Service port or a resource, TLS hosts and secrets),
//! IngressClasses (a domain-prefixed controller that never changes, parameter references) and
//! NetworkPolicies (selectors, ports and port ranges, peers, IP blocks, policy types).

use std::net::IpAddr;

use k8s_openapi::api::networking::v1::{
    Ingress, IngressBackend, IngressClass, IngressClassSpec, IngressSpec, NetworkPolicy,
    NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::field_error::FieldErrors;
use super::metadata::{NamespaceRule, identity_update, object_meta};
use super::names::{
    is_dns1123_subdomain, is_domain_prefixed_path, is_ip, is_valid_cidr, is_valid_port_name,
    is_valid_port_num, is_wildcard_dns1123_subdomain, name_is_dns_label, name_is_dns_subdomain,
    name_is_dns1035_label, parse_cidr, path_segment_name,
};
use super::path::{
    Path, forbidden, immutable, invalid, invalid_each, json, not_supported, required, too_long,
};
use super::selector::label_selector;

fn host(errors: &mut FieldErrors, host: &str, path: &Path<'_>) {
    if host.contains('*') {
        invalid_each(errors, path, host, is_wildcard_dns1123_subdomain(host));
    } else {
        invalid_each(errors, path, host, is_dns1123_subdomain(host));
    }
}

fn typed_reference(
    errors: &mut FieldErrors,
    api_group: Option<&str>,
    kind: &str,
    name: &str,
    path: &Path<'_>,
) {
    if let Some(group) = api_group {
        invalid_each(
            errors,
            &path.child("apiGroup"),
            group,
            is_dns1123_subdomain(group),
        );
    }
    for (value, child) in [(kind, "kind"), (name, "name")] {
        let value_path = path.child(child);
        if value.is_empty() {
            errors.push(required(&value_path, &format!("{child} is required")));
        } else {
            invalid_each(errors, &value_path, value, path_segment_name(value, false));
        }
    }
}

fn backend(errors: &mut FieldErrors, backend: &IngressBackend, path: &Path<'_>) {
    match (&backend.resource, &backend.service) {
        (Some(_), Some(_)) => errors.push(invalid(
            path,
            "",
            "cannot set both resource and service backends",
        )),
        (Some(resource), None) => typed_reference(
            errors,
            resource.api_group.as_deref(),
            &resource.kind,
            &resource.name,
            &path.child("resource"),
        ),
        (None, Some(service)) => {
            let service_path = path.child("service");
            let name_path = service_path.child("name");
            if service.name.is_empty() {
                errors.push(required(&name_path, ""));
            } else {
                invalid_each(
                    errors,
                    &name_path,
                    &service.name,
                    name_is_dns1035_label(&service.name, false),
                );
            }
            let port = service.port.clone().unwrap_or_default();
            let port_name = port.name.as_deref().unwrap_or_default();
            let port_number = port.number.unwrap_or_default();
            let port_path = service_path.child("port");
            match (port_name.is_empty(), port_number == 0) {
                (false, false) => {
                    errors.push(invalid(path, "", "cannot set both port name & port number"))
                }
                (false, true) => invalid_each(
                    errors,
                    &port_path.child("name"),
                    port_name,
                    is_valid_port_name(port_name),
                ),
                (true, false) => {
                    for message in is_valid_port_num(i64::from(port_number)) {
                        errors.push(invalid(&port_path.child("number"), port_number, message));
                    }
                }
                (true, true) => errors.push(required(path, "port name or number is required")),
            }
        }
        (None, None) => errors.push(invalid(path, "", "resource or service backend is required")),
    }
}

fn ingress_spec(errors: &mut FieldErrors, spec: &IngressSpec, path: &Path<'_>) {
    let rules = spec.rules.as_deref().unwrap_or_default();
    if rules.is_empty() && spec.default_backend.is_none() {
        errors.push(invalid(
            path,
            json(rules),
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(default_backend) = &spec.default_backend {
        backend(errors, default_backend, &path.child("defaultBackend"));
    }
    let rules_path = path.child("rules");
    for (i, rule) in rules.iter().enumerate() {
        let rule_path = rules_path.index(i);
        if let Some(rule_host) = rule.host.as_deref().filter(|h| !h.is_empty()) {
            let host_path = rule_path.child("host");
            if is_ip(rule_host) {
                errors.push(invalid(
                    &host_path,
                    rule_host,
                    "must be a DNS name, not an IP address",
                ));
            }
            host(errors, rule_host, &host_path);
        }
        let Some(http) = &rule.http else { continue };
        let http_path = rule_path.child("http");
        let paths_path = http_path.child("paths");
        if http.paths.is_empty() {
            errors.push(required(&paths_path, ""));
        }
        for (j, http_path_rule) in http.paths.iter().enumerate() {
            let entry_path = paths_path.index(j);
            let value = http_path_rule.path.as_deref().unwrap_or_default();
            let value_path = entry_path.child("path");
            match http_path_rule.path_type.as_str() {
                "" => {
                    errors.push(required(
                        &entry_path.child("pathType"),
                        "pathType must be specified",
                    ));
                    continue;
                }
                "Exact" | "Prefix" => {
                    if !value.starts_with('/') {
                        errors.push(invalid(&value_path, value, "must be an absolute path"));
                    }
                    for sequence in ["//", "/./", "/../", "%2f", "%2F"] {
                        if value.contains(sequence) {
                            errors.push(invalid(
                                &value_path,
                                value,
                                format!("must not contain '{sequence}'"),
                            ));
                        }
                    }
                    for suffix in ["/..", "/."] {
                        if value.ends_with(suffix) {
                            errors.push(invalid(
                                &value_path,
                                value,
                                format!("cannot end with '{suffix}'"),
                            ));
                        }
                    }
                }
                "ImplementationSpecific" => {
                    if !value.is_empty() && !value.starts_with('/') {
                        errors.push(invalid(&value_path, value, "must be an absolute path"));
                    }
                }
                other => {
                    errors.push(not_supported(
                        &entry_path.child("pathType"),
                        other,
                        &["Exact", "ImplementationSpecific", "Prefix"],
                    ));
                    continue;
                }
            }
            backend(
                errors,
                &http_path_rule.backend,
                &entry_path.child("backend"),
            );
        }
    }
    let tls_path = path.child("tls");
    for (i, tls) in spec.tls.iter().flatten().enumerate() {
        let entry_path = tls_path.index(i);
        let hosts_path = entry_path.child("hosts");
        for (j, tls_host) in tls.hosts.iter().flatten().enumerate() {
            host(errors, tls_host, &hosts_path.index(j));
        }
        if let Some(secret) = tls.secret_name.as_deref().filter(|s| !s.is_empty()) {
            invalid_each(
                errors,
                &entry_path.child("secretName"),
                secret,
                name_is_dns_subdomain(secret, false),
            );
        }
    }
    if let Some(class) = &spec.ingress_class_name {
        invalid_each(
            errors,
            &path.child("ingressClassName"),
            class,
            name_is_dns_subdomain(class, false),
        );
    }
}

/// Checks an Ingress (on create and update alike).
pub fn validate_ingress(ingress: &Ingress) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &ingress.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let default_spec = IngressSpec::default();
    ingress_spec(
        &mut errors,
        ingress.spec.as_ref().unwrap_or(&default_spec),
        &Path::root("spec"),
    );
    errors
}

/// Checks an Ingress replacing `old`.
pub fn validate_ingress_update(new: &Ingress, old: &Ingress) -> FieldErrors {
    let mut errors = validate_ingress(new);
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    errors
}

/// Checks an IngressClass about to be created.
pub fn validate_ingress_class(class: &IngressClass) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &class.metadata,
        NamespaceRule::Forbidden,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let default_spec = IngressClassSpec::default();
    let spec = class.spec.as_ref().unwrap_or(&default_spec);
    let spec_path = Path::root("spec");
    let controller = spec.controller.as_deref().unwrap_or_default();
    let controller_path = spec_path.child("controller");
    if controller.len() > 250 {
        errors.push(too_long(&controller_path, 250));
    }
    if controller.is_empty() {
        errors.push(required(&controller_path, ""));
    } else {
        invalid_each(
            &mut errors,
            &controller_path,
            controller,
            is_domain_prefixed_path(controller),
        );
    }
    if let Some(parameters) = &spec.parameters {
        let parameters_path = spec_path.child("parameters");
        typed_reference(
            &mut errors,
            parameters.api_group.as_deref(),
            &parameters.kind,
            &parameters.name,
            &parameters_path,
        );
        let scope_path = parameters_path.child("scope");
        let namespace_path = parameters_path.child("namespace");
        match parameters.scope.as_deref() {
            None => errors.push(required(&scope_path, "")),
            Some("Namespace") => match parameters.namespace.as_deref() {
                None => errors.push(required(
                    &namespace_path,
                    "`parameters.scope` is set to 'Namespace'",
                )),
                Some(namespace) => invalid_each(
                    &mut errors,
                    &namespace_path,
                    namespace,
                    name_is_dns_label(namespace, false),
                ),
            },
            Some("Cluster") => {
                if parameters.namespace.is_some() {
                    errors.push(forbidden(
                        &namespace_path,
                        "`parameters.scope` is set to 'Cluster'",
                    ));
                }
            }
            Some(other) => {
                errors.push(not_supported(&scope_path, other, &["Cluster", "Namespace"]));
            }
        }
    }
    errors
}

/// Checks an IngressClass replacing `old`: its controller never changes.
pub fn validate_ingress_class_update(new: &IngressClass, old: &IngressClass) -> FieldErrors {
    let mut errors = validate_ingress_class(new);
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    let controller = |class: &IngressClass| {
        class
            .spec
            .as_ref()
            .and_then(|s| s.controller.clone())
            .unwrap_or_default()
    };
    let spec_path = Path::root("spec");
    immutable(
        &mut errors,
        &spec_path.child("controller"),
        &controller(new),
        &controller(old),
    );
    errors
}

fn policy_port(errors: &mut FieldErrors, port: &NetworkPolicyPort, path: &Path<'_>) {
    if let Some(protocol) = port
        .protocol
        .as_deref()
        .filter(|p| !["TCP", "UDP", "SCTP"].contains(p))
    {
        errors.push(not_supported(
            &path.child("protocol"),
            protocol,
            &["TCP", "UDP", "SCTP"],
        ));
    }
    let end_path = path.child("endPort");
    match &port.port {
        Some(IntOrString::Int(number)) => {
            for message in is_valid_port_num(i64::from(*number)) {
                errors.push(invalid(&path.child("port"), *number, message));
            }
            if let Some(end) = port.end_port {
                if end < *number {
                    errors.push(invalid(
                        &end_path,
                        *number,
                        "must be greater than or equal to `port`",
                    ));
                }
                for message in is_valid_port_num(i64::from(end)) {
                    errors.push(invalid(&end_path, end, message));
                }
            }
        }
        Some(IntOrString::String(name)) => {
            if let Some(end) = port.end_port {
                errors.push(invalid(
                    &end_path,
                    end,
                    "may not be specified when `port` is non-numeric",
                ));
            }
            invalid_each(errors, &path.child("port"), name, is_valid_port_name(name));
        }
        None => {
            if let Some(end) = port.end_port {
                errors.push(invalid(
                    &end_path,
                    end,
                    "may not be specified when `port` is not specified",
                ));
            }
        }
    }
}

/// Whether `inner` lies strictly inside `outer` (both parsed CIDRs).
fn is_strict_subset(outer: (IpAddr, u8), inner: (IpAddr, u8)) -> bool {
    let to_bits = |ip: IpAddr| -> (u128, u8) {
        match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
            IpAddr::V6(v6) => (u128::from(v6), 128),
        }
    };
    let (outer_bits, outer_width) = to_bits(outer.0);
    let (inner_bits, inner_width) = to_bits(inner.0);
    if outer_width != inner_width || outer.1 >= inner.1 {
        return false;
    }
    let shift = u32::from(outer_width - outer.1);
    let prefix = |bits: u128| bits.checked_shr(shift).unwrap_or(0);
    prefix(outer_bits) == prefix(inner_bits)
}

fn policy_peer(errors: &mut FieldErrors, peer: &NetworkPolicyPeer, path: &Path<'_>) {
    let mut count = 0;
    if let Some(selector) = &peer.pod_selector {
        count += 1;
        label_selector(errors, selector, &path.child("podSelector"));
    }
    if let Some(selector) = &peer.namespace_selector {
        count += 1;
        label_selector(errors, selector, &path.child("namespaceSelector"));
    }
    if let Some(block) = &peer.ip_block {
        count += 1;
        let block_path = path.child("ipBlock");
        let cidr_path = block_path.child("cidr");
        if block.cidr.is_empty() {
            errors.push(required(&cidr_path, ""));
        } else {
            invalid_each(errors, &cidr_path, &block.cidr, is_valid_cidr(&block.cidr));
            if let Some(outer) = parse_cidr(&block.cidr) {
                let except_path = block_path.child("except");
                for (i, except) in block.except.iter().flatten().enumerate() {
                    let entry_path = except_path.index(i);
                    let messages = is_valid_cidr(except);
                    if !messages.is_empty() {
                        invalid_each(errors, &entry_path, except, messages);
                        continue;
                    }
                    let inner = parse_cidr(except);
                    if !inner.is_some_and(|inner| is_strict_subset(outer, inner)) {
                        errors.push(invalid(
                            &entry_path,
                            except.as_str(),
                            "must be a strict subset of `cidr`",
                        ));
                    }
                }
            }
        }
    }
    if count == 0 {
        errors.push(required(path, "must specify a peer"));
    } else if count > 1 && peer.ip_block.is_some() {
        errors.push(forbidden(
            path,
            "may not specify both ipBlock and another peer",
        ));
    }
}

fn network_policy_spec(errors: &mut FieldErrors, spec: &NetworkPolicySpec, path: &Path<'_>) {
    if let Some(selector) = &spec.pod_selector {
        label_selector(errors, selector, &path.child("podSelector"));
    }
    let ingress_path = path.child("ingress");
    for (i, rule) in spec.ingress.iter().flatten().enumerate() {
        let rule_path = ingress_path.index(i);
        let ports_path = rule_path.child("ports");
        for (j, port) in rule.ports.iter().flatten().enumerate() {
            policy_port(errors, port, &ports_path.index(j));
        }
        let from_path = rule_path.child("from");
        for (j, peer) in rule.from.iter().flatten().enumerate() {
            policy_peer(errors, peer, &from_path.index(j));
        }
    }
    let egress_path = path.child("egress");
    for (i, rule) in spec.egress.iter().flatten().enumerate() {
        let rule_path = egress_path.index(i);
        let ports_path = rule_path.child("ports");
        for (j, port) in rule.ports.iter().flatten().enumerate() {
            policy_port(errors, port, &ports_path.index(j));
        }
        let to_path = rule_path.child("to");
        for (j, peer) in rule.to.iter().flatten().enumerate() {
            policy_peer(errors, peer, &to_path.index(j));
        }
    }
    let types = spec.policy_types.as_deref().unwrap_or_default();
    let types_path = path.child("policyTypes");
    if types.len() > 2 {
        errors.push(invalid(
            &types_path,
            json(types),
            "may not specify more than two policyTypes",
        ));
        return;
    }
    for (i, kind) in types.iter().enumerate() {
        if kind != "Ingress" && kind != "Egress" {
            errors.push(not_supported(
                &types_path.index(i),
                kind.as_str(),
                &["Ingress", "Egress"],
            ));
        }
    }
}

/// Checks a NetworkPolicy (on create and update alike).
pub fn validate_network_policy(policy: &NetworkPolicy) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &policy.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let default_spec = NetworkPolicySpec::default();
    network_policy_spec(
        &mut errors,
        policy.spec.as_ref().unwrap_or(&default_spec),
        &Path::root("spec"),
    );
    errors
}

/// Checks a NetworkPolicy replacing `old`.
pub fn validate_network_policy_update(new: &NetworkPolicy, old: &NetworkPolicy) -> FieldErrors {
    let mut errors = validate_network_policy(new);
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn except_blocks_must_lie_strictly_inside_the_cidr() {
        let outer = parse_cidr("10.0.0.0/8").unwrap();
        assert!(is_strict_subset(outer, parse_cidr("10.1.0.0/16").unwrap()));
        assert!(!is_strict_subset(outer, parse_cidr("10.0.0.0/8").unwrap()));
        assert!(!is_strict_subset(outer, parse_cidr("11.0.0.0/16").unwrap()));
        assert!(!is_strict_subset(outer, parse_cidr("::/64").unwrap()));
        let all = parse_cidr("0.0.0.0/0").unwrap();
        assert!(is_strict_subset(all, parse_cidr("192.168.0.0/16").unwrap()));
    }
}
