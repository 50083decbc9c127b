//! Services and the endpoints behind them: Service ports (numbers, names unique and required
//! when there are several, protocols, target ports, node ports), types, cluster IP forms
//! (`None`, empty or an IP), external names, traffic policies and session affinity; what a
//! Service update may not change (its cluster IPs); Endpoints; and EndpointSlices.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, Endpoints, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::container::port_num_or_name;
use super::field_error::FieldErrors;
use super::metadata::{NamespaceRule, identity_update, labels, object_meta};
use super::names::{
    is_dns1123_label, is_dns1123_subdomain, is_fully_qualified_domain_name, is_qualified_name,
    is_valid_cidr, is_valid_ip, is_valid_port_num, name_is_dns_subdomain, name_is_dns1035_label,
};
use super::path::{
    Path, duplicate, forbidden, immutable, invalid, invalid_each, json, not_supported, required,
    too_many,
};

const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];
const SERVICE_TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

/// The cluster IPs a Service asks for: `clusterIPs`, or `clusterIP` alone (Kubernetes' service
/// strategy copies one into the other before validating; this does the same).
fn cluster_ips(spec: &ServiceSpec) -> Vec<&str> {
    match spec.cluster_ips.as_deref() {
        Some(ips) if !ips.is_empty() => ips.iter().map(String::as_str).collect(),
        _ => spec
            .cluster_ip
            .as_deref()
            .filter(|ip| !ip.is_empty())
            .into_iter()
            .collect(),
    }
}

fn is_headless(spec: &ServiceSpec) -> bool {
    cluster_ips(spec) == ["None"]
}

fn service_type(spec: &ServiceSpec) -> &str {
    spec.type_.as_deref().unwrap_or_default()
}

/// Checks a Service about to be created.
pub fn validate_service(service: &Service) -> FieldErrors {
    let mut errors = FieldErrors::new();
    service_fields(&mut errors, service);
    errors
}

fn service_fields(errors: &mut FieldErrors, service: &Service) {
    let meta_path = Path::root("metadata");
    object_meta(
        errors,
        &service.metadata,
        NamespaceRule::Optional,
        name_is_dns1035_label,
        &meta_path,
    );
    let default_spec = ServiceSpec::default();
    let spec = service.spec.as_ref().unwrap_or(&default_spec);
    let spec_path = Path::root("spec");
    let kind = service_type(spec);
    let headless = is_headless(spec);
    let ports = spec.ports.as_deref().unwrap_or_default();
    let ports_path = spec_path.child("ports");
    if ports.is_empty() && !headless && kind != "ExternalName" {
        errors.push(required(&ports_path, ""));
    }
    let ips = cluster_ips(spec);
    let ips_from_list = spec.cluster_ips.as_ref().is_some_and(|l| !l.is_empty());
    match kind {
        "LoadBalancer" | "NodePort" if headless => {
            errors.push(invalid(
                &spec_path.child("clusterIPs").index(0),
                "None",
                format!("may not be set to 'None' for {kind} services"),
            ));
        }
        "ExternalName" => {
            if !ips.is_empty() {
                errors.push(forbidden(
                    &spec_path.child("clusterIPs"),
                    "may not be set for ExternalName services",
                ));
            }
            if spec.ip_families.as_ref().is_some_and(|f| !f.is_empty()) {
                errors.push(forbidden(
                    &spec_path.child("ipFamilies"),
                    "may not be set for ExternalName services",
                ));
            }
            if spec.ip_family_policy.is_some() {
                errors.push(forbidden(
                    &spec_path.child("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                ));
            }
            let external_name = spec.external_name.as_deref().unwrap_or_default();
            let cname = external_name.strip_suffix('.').unwrap_or(external_name);
            let name_path = spec_path.child("externalName");
            if cname.is_empty() {
                errors.push(required(&name_path, ""));
            } else {
                invalid_each(errors, &name_path, cname, is_dns1123_subdomain(cname));
            }
        }
        _ => {}
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        service_port(
            errors,
            port,
            ports.len() > 1,
            &mut names,
            &ports_path.index(i),
        );
    }
    if let Some(selector) = &spec.selector {
        labels(errors, selector, &spec_path.child("selector"));
    }
    let affinity_path = spec_path.child("sessionAffinity");
    let affinity = spec.session_affinity.as_deref().unwrap_or_default();
    match affinity {
        "" => errors.push(required(&affinity_path, "")),
        "ClientIP" => {
            let config_path = spec_path.child("sessionAffinityConfig");
            let client_ip_path = config_path.child("clientIP");
            let timeout_path = client_ip_path.child("timeoutSeconds");
            const WHEN: &str = "when session affinity type is ClientIP";
            match &spec.session_affinity_config {
                None => errors.push(required(&config_path, WHEN)),
                Some(config) => match &config.client_ip {
                    None => errors.push(required(&client_ip_path, WHEN)),
                    Some(client_ip) => match client_ip.timeout_seconds {
                        None => errors.push(required(&timeout_path, WHEN)),
                        Some(timeout) if !(1..=86400).contains(&timeout) => {
                            errors.push(invalid(
                                &timeout_path,
                                timeout,
                                "must be greater than 0 and less than 86400",
                            ));
                        }
                        Some(_) => {}
                    },
                },
            }
        }
        "None" => {
            if spec.session_affinity_config.is_some() {
                errors.push(forbidden(
                    &spec_path.child("sessionAffinityConfig"),
                    "must not be set when session affinity is None",
                ));
            }
        }
        other => errors.push(not_supported(&affinity_path, other, &["ClientIP", "None"])),
    }
    if kind != "ExternalName" {
        cluster_ip_fields(errors, spec, &ips, ips_from_list, &spec_path);
    }
    let external_ips_path = spec_path.child("externalIPs");
    for (i, ip) in spec.external_ips.iter().flatten().enumerate() {
        let ip_path = external_ips_path.index(i);
        let messages = is_valid_ip(ip);
        if messages.is_empty() {
            non_special_ip(errors, ip, &ip_path);
        } else {
            invalid_each(errors, &ip_path, ip, messages);
        }
    }
    let type_path = spec_path.child("type");
    if kind.is_empty() {
        errors.push(required(&type_path, ""));
    } else if !SERVICE_TYPES.contains(&kind) {
        errors.push(not_supported(&type_path, kind, &SERVICE_TYPES));
    }
    let mut node_ports: BTreeSet<(&str, i32)> = BTreeSet::new();
    let mut port_keys: BTreeSet<(&str, i32)> = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let port_path = ports_path.index(i);
        let node_port = port.node_port.unwrap_or_default();
        let protocol = port.protocol.as_deref().unwrap_or_default();
        if node_port != 0 {
            if kind == "ClusterIP" {
                errors.push(forbidden(
                    &port_path.child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
            if !node_ports.insert((protocol, node_port)) {
                errors.push(duplicate(&port_path.child("nodePort"), node_port));
            }
        }
        if !port_keys.insert((protocol, port.port)) {
            errors.push(duplicate(
                &port_path,
                serde_json::json!({"port": port.port, "protocol": protocol}),
            ));
        }
    }
    let ranges = spec
        .load_balancer_source_ranges
        .as_deref()
        .unwrap_or_default();
    if !ranges.is_empty() {
        let ranges_path = spec_path.child("LoadBalancerSourceRanges");
        if kind != "LoadBalancer" {
            errors.push(forbidden(
                &ranges_path,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        for (i, range) in ranges.iter().enumerate() {
            let range = range.trim();
            invalid_each(errors, &ranges_path.index(i), range, is_valid_cidr(range));
        }
    } else if let Some(value) = service
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("service.beta.kubernetes.io/load-balancer-source-ranges"))
    {
        let annotations_path = meta_path.child("annotations");
        let key_path =
            annotations_path.key("service.beta.kubernetes.io/load-balancer-source-ranges");
        if kind != "LoadBalancer" {
            errors.push(forbidden(
                &key_path,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        let value = value.trim();
        if !value.is_empty() {
            for range in value.split(',') {
                let range = range.trim();
                invalid_each(errors, &key_path, range, is_valid_cidr(range));
            }
        }
    }
    if spec.allocate_load_balancer_node_ports.is_some() && kind != "LoadBalancer" {
        errors.push(forbidden(
            &spec_path.child("allocateLoadBalancerNodePorts"),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if kind == "LoadBalancer" && spec.allocate_load_balancer_node_ports.is_none() {
        errors.push(required(&Path::root("allocateLoadBalancerNodePorts"), ""));
    }
    let class_path = spec_path.child("loadBalancerClass");
    match (&spec.load_balancer_class, kind) {
        (Some(class), "LoadBalancer") => {
            invalid_each(errors, &class_path, class, is_qualified_name(class));
        }
        (Some(_), _) => errors.push(forbidden(
            &class_path,
            "may only be used when `type` is 'LoadBalancer'",
        )),
        (None, _) => {}
    }
    traffic_policies(errors, spec, &spec_path);
}

fn service_port(
    errors: &mut FieldErrors,
    port: &ServicePort,
    require_name: bool,
    names: &mut BTreeSet<String>,
    path: &Path<'_>,
) {
    let name = port.name.as_deref().unwrap_or_default();
    let name_path = path.child("name");
    if require_name && name.is_empty() {
        errors.push(required(&name_path, ""));
    } else if !name.is_empty() {
        invalid_each(errors, &name_path, name, is_dns1123_label(name));
        if !names.insert(name.to_owned()) {
            errors.push(duplicate(&name_path, name));
        }
    }
    for message in is_valid_port_num(i64::from(port.port)) {
        errors.push(invalid(&path.child("port"), port.port, message));
    }
    if let Some(node_port) = port.node_port.filter(|p| *p != 0) {
        for message in is_valid_port_num(i64::from(node_port)) {
            errors.push(invalid(&path.child("nodePort"), node_port, message));
        }
    }
    let protocol_path = path.child("protocol");
    match port.protocol.as_deref().unwrap_or_default() {
        "" => errors.push(required(&protocol_path, "")),
        protocol if !PROTOCOLS.contains(&protocol) => {
            errors.push(not_supported(&protocol_path, protocol, &PROTOCOLS));
        }
        _ => {}
    }
    let zero = IntOrString::Int(0);
    port_num_or_name(
        errors,
        port.target_port.as_ref().unwrap_or(&zero),
        &path.child("targetPort"),
    );
    if let Some(app_protocol) = &port.app_protocol {
        invalid_each(
            errors,
            &path.child("appProtocol"),
            app_protocol,
            is_qualified_name(app_protocol),
        );
    }
}

fn cluster_ip_fields(
    errors: &mut FieldErrors,
    spec: &ServiceSpec,
    ips: &[&str],
    ips_from_list: bool,
    path: &Path<'_>,
) {
    let ips_path = path.child("clusterIPs");
    let single_path = path.child("clusterIP");
    if let (Some(ip), Some(list)) = (spec.cluster_ip.as_deref(), spec.cluster_ips.as_deref()) {
        if !ip.is_empty() && list.first().is_some_and(|first| first != ip) {
            errors.push(invalid(
                &ips_path,
                json(list),
                "first value must match `clusterIP`",
            ));
        }
    }
    let families = spec.ip_families.as_deref().unwrap_or_default();
    let families_path = path.child("ipFamilies");
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for (i, family) in families.iter().enumerate() {
        if family != "IPv4" && family != "IPv6" {
            errors.push(not_supported(
                &families_path.index(i),
                family.as_str(),
                &["IPv4", "IPv6"],
            ));
        }
        if !seen.insert(family.as_str()) {
            errors.push(duplicate(&families_path.index(i), family.as_str()));
        }
    }
    if let Some(policy) = spec.ip_family_policy.as_deref() {
        let supported = ["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !supported.contains(&policy) {
            errors.push(not_supported(
                &path.child("ipFamilyPolicy"),
                policy,
                &supported,
            ));
        }
    }
    let mut has_invalid = false;
    for (i, ip) in ips.iter().enumerate() {
        let index_path = ips_path.index(i);
        let ip_path = if ips_from_list {
            &index_path
        } else {
            &single_path
        };
        if i == 0 && *ip == "None" {
            if ips.len() > 1 {
                has_invalid = true;
                errors.push(invalid(
                    &ips_path,
                    json(ips),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        let messages = is_valid_ip(ip);
        if !messages.is_empty() {
            has_invalid = true;
            invalid_each(errors, ip_path, ip, messages);
        }
    }
    if ips.len() > 2 {
        errors.push(invalid(
            &ips_path,
            json(ips),
            "may only hold up to 2 values",
        ));
    }
    if has_invalid {
        return;
    }
    if ips.len() > 1 {
        let v6 = ips.iter().filter(|ip| ip.contains(':')).count();
        if v6 != 1 || ips.len() != 2 {
            errors.push(invalid(
                &ips_path,
                json(ips),
                "may specify no more than one IP for each IP family",
            ));
        }
    }
    if ips != ["None"] {
        for (i, (ip, family)) in ips.iter().zip(families).enumerate() {
            let is_v6 = ip.contains(':');
            if family == "IPv4" && is_v6 {
                errors.push(invalid(
                    &ips_path.index(i),
                    *ip,
                    format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if family == "IPv6" && !is_v6 {
                errors.push(invalid(
                    &ips_path.index(i),
                    *ip,
                    format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
}

fn traffic_policies(errors: &mut FieldErrors, spec: &ServiceSpec, path: &Path<'_>) {
    let kind = service_type(spec);
    let externally_accessible = kind == "LoadBalancer"
        || kind == "NodePort"
        || (kind == "ClusterIP" && spec.external_ips.as_ref().is_some_and(|e| !e.is_empty()));
    let external = spec.external_traffic_policy.as_deref().unwrap_or_default();
    let external_path = path.child("externalTrafficPolicy");
    if !externally_accessible {
        if !external.is_empty() {
            errors.push(invalid(
                &external_path,
                external,
                "may only be set for externally-accessible services",
            ));
        }
    } else if external.is_empty() {
        errors.push(required(&external_path, ""));
    } else if external != "Cluster" && external != "Local" {
        errors.push(not_supported(
            &external_path,
            external,
            &["Cluster", "Local"],
        ));
    }
    let needs_health_check = kind == "LoadBalancer" && external == "Local";
    let health_path = path.child("healthCheckNodePort");
    let health_port = spec.health_check_node_port.unwrap_or_default();
    if !needs_health_check {
        if health_port != 0 {
            errors.push(invalid(
                &health_path,
                health_port,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    } else if health_port == 0 {
        errors.push(required(&health_path, ""));
    } else {
        for message in is_valid_port_num(i64::from(health_port)) {
            errors.push(invalid(&health_path, health_port, message));
        }
    }
    let internal_path = path.child("internalTrafficPolicy");
    match spec.internal_traffic_policy.as_deref() {
        None => {
            if matches!(kind, "NodePort" | "LoadBalancer" | "ClusterIP") {
                errors.push(required(&internal_path, ""));
            }
        }
        Some("Cluster" | "Local") => {}
        Some(other) => errors.push(not_supported(&internal_path, other, &["Cluster", "Local"])),
    }
    if let Some(distribution) = spec.traffic_distribution.as_deref() {
        let supported = ["PreferClose"];
        if !supported.contains(&distribution) {
            errors.push(not_supported(
                &path.child("trafficDistribution"),
                distribution,
                &supported,
            ));
        }
    }
}

/// Checks a Service replacing `old`: allocated cluster IPs and IP families may not change
/// (only a secondary one may be added or released), nor the load balancer class or the health
/// check node port.
pub fn validate_service_update(new: &Service, old: &Service) -> FieldErrors {
    let mut errors = FieldErrors::new();
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    let default_spec = ServiceSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&default_spec);
    let old_spec = old.spec.as_ref().unwrap_or(&default_spec);
    let spec_path = Path::root("spec");
    let ips_path = spec_path.child("clusterIPs");
    let external_name = |s: &ServiceSpec| service_type(s) == "ExternalName";
    let both_headless = is_headless(new_spec) && is_headless(old_spec);
    if !(external_name(new_spec) || external_name(old_spec) || both_headless) {
        let (new_ips, old_ips) = (cluster_ips(new_spec), cluster_ips(old_spec));
        let single_stack = new_spec.ip_family_policy.as_deref() == Some("SingleStack");
        if new_ips.len() == old_ips.len() {
            for (i, (new_ip, old_ip)) in new_ips.iter().zip(&old_ips).enumerate() {
                if new_ip != old_ip {
                    errors.push(invalid(
                        &ips_path.index(i),
                        json(&new_ips),
                        "may not change once set",
                    ));
                }
            }
        } else if new_ips.len() < old_ips.len() {
            if new_ips.is_empty() {
                errors.push(invalid(
                    &ips_path.index(0),
                    json(&new_ips),
                    "primary clusterIP can not be unset",
                ));
            } else if new_ips[0] != old_ips[0] {
                errors.push(invalid(
                    &ips_path.index(0),
                    json(&new_ips),
                    "may not change once set",
                ));
            }
            if new_ips.len() == 1 && !single_stack {
                errors.push(invalid(
                    &spec_path.child("ipFamilyPolicy"),
                    json(&new_spec.ip_family_policy),
                    "must be set to 'SingleStack' when releasing the secondary clusterIP",
                ));
            }
        } else if !old_ips.is_empty() && new_ips[0] != old_ips[0] {
            errors.push(invalid(
                &ips_path.index(0),
                json(&new_ips),
                "may not change once set",
            ));
        }
        if is_headless(new_spec) == is_headless(old_spec) && !is_headless(new_spec) {
            let new_families = new_spec.ip_families.as_deref().unwrap_or_default();
            let old_families = old_spec.ip_families.as_deref().unwrap_or_default();
            let families_path = spec_path.child("ipFamilies");
            let primary_changed = !new_families.is_empty()
                && !old_families.is_empty()
                && new_families[0] != old_families[0];
            let same_length_changed =
                new_families.len() == old_families.len() && new_families != old_families;
            if primary_changed || same_length_changed {
                errors.push(invalid(
                    &families_path.index(0),
                    json(new_families),
                    "may not change once set",
                ));
            }
            if new_families.len() < old_families.len() && new_families.len() == 1 && !single_stack {
                errors.push(invalid(
                    &spec_path.child("ipFamilyPolicy"),
                    json(&new_spec.ip_family_policy),
                    "must be set to 'SingleStack' when releasing the secondary ipFamily",
                ));
            }
        }
    }
    if service_type(new_spec) == "LoadBalancer"
        && service_type(old_spec) == "LoadBalancer"
        && new_spec.load_balancer_class != old_spec.load_balancer_class
    {
        errors.push(invalid(
            &spec_path.child("loadBalancerClass"),
            json(&new_spec.load_balancer_class),
            "may not change once set",
        ));
    }
    let needs_health_check = |s: &ServiceSpec| {
        service_type(s) == "LoadBalancer" && s.external_traffic_policy.as_deref() == Some("Local")
    };
    if needs_health_check(new_spec)
        && needs_health_check(old_spec)
        && new_spec.health_check_node_port != old_spec.health_check_node_port
    {
        errors.push(forbidden(
            &spec_path.child("healthCheckNodePort"),
            "field is immutable",
        ));
    }
    service_fields(&mut errors, new);
    errors
}

/// Unspecified, loopback and link-local addresses may not be endpoints or external IPs.
fn non_special_ip(errors: &mut FieldErrors, ip: &str, path: &Path<'_>) {
    let Ok(address) = ip.parse::<std::net::IpAddr>() else {
        errors.push(invalid(path, ip, "must be a valid IP address"));
        return;
    };
    if address.is_unspecified() {
        errors.push(invalid(path, ip, format!("may not be unspecified ({ip})")));
    }
    if address.is_loopback() {
        errors.push(invalid(
            path,
            ip,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        ));
    }
    let (link_local_unicast, link_local_multicast) = match address {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            (v4.is_link_local(), o[0] == 224 && o[1] == 0 && o[2] == 0)
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            (s[0] & 0xffc0 == 0xfe80, s[0] & 0xff0f == 0xff02)
        }
    };
    if link_local_unicast {
        errors.push(invalid(
            path,
            ip,
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
        ));
    }
    if link_local_multicast {
        errors.push(invalid(
            path,
            ip,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
}

/// Checks an Endpoints object (on create and update alike).
pub fn validate_endpoints(endpoints: &Endpoints) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &endpoints.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let subsets_path = Path::root("subsets");
    for (i, subset) in endpoints.subsets.iter().flatten().enumerate() {
        let subset_path = subsets_path.index(i);
        let addresses = subset.addresses.as_deref().unwrap_or_default();
        let not_ready = subset.not_ready_addresses.as_deref().unwrap_or_default();
        if addresses.is_empty() && not_ready.is_empty() {
            errors.push(required(
                &subset_path,
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for (list, child) in [(addresses, "addresses"), (not_ready, "notReadyAddresses")] {
            let list_path = subset_path.child(child);
            for (j, address) in list.iter().enumerate() {
                endpoint_address(&mut errors, address, &list_path.index(j));
            }
        }
        let ports = subset.ports.as_deref().unwrap_or_default();
        let ports_path = subset_path.child("ports");
        for (j, port) in ports.iter().enumerate() {
            endpoint_port(&mut errors, port, ports.len() > 1, &ports_path.index(j));
        }
    }
    errors
}

/// Checks an Endpoints object replacing `old`.
pub fn validate_endpoints_update(new: &Endpoints, old: &Endpoints) -> FieldErrors {
    let mut errors = FieldErrors::new();
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    errors.extend(validate_endpoints(new));
    errors
}

fn endpoint_address(errors: &mut FieldErrors, address: &EndpointAddress, path: &Path<'_>) {
    let ip_path = path.child("ip");
    invalid_each(errors, &ip_path, &address.ip, is_valid_ip(&address.ip));
    if let Some(hostname) = address.hostname.as_deref().filter(|h| !h.is_empty()) {
        invalid_each(
            errors,
            &path.child("hostname"),
            hostname,
            is_dns1123_label(hostname),
        );
    }
    if let Some(node) = &address.node_name {
        invalid_each(
            errors,
            &path.child("nodeName"),
            node,
            name_is_dns_subdomain(node, false),
        );
    }
    non_special_ip(errors, &address.ip, &ip_path);
}

fn endpoint_port(
    errors: &mut FieldErrors,
    port: &EndpointPort,
    require_name: bool,
    path: &Path<'_>,
) {
    let name = port.name.as_deref().unwrap_or_default();
    if require_name && name.is_empty() {
        errors.push(required(&path.child("name"), ""));
    } else if !name.is_empty() {
        invalid_each(errors, &path.child("name"), name, is_dns1123_label(name));
    }
    for message in is_valid_port_num(i64::from(port.port)) {
        errors.push(invalid(&path.child("port"), port.port, message));
    }
    let protocol_path = path.child("protocol");
    match port.protocol.as_deref().unwrap_or_default() {
        "" => errors.push(required(&protocol_path, "")),
        protocol if !PROTOCOLS.contains(&protocol) => {
            errors.push(not_supported(&protocol_path, protocol, &PROTOCOLS));
        }
        _ => {}
    }
    if let Some(app_protocol) = &port.app_protocol {
        invalid_each(
            errors,
            &path.child("appProtocol"),
            app_protocol,
            is_qualified_name(app_protocol),
        );
    }
}

/// Checks an EndpointSlice: a known address type, endpoints with 1 to 100 addresses of that
/// type, valid names, and ports with unique names and known protocols.
pub fn validate_endpoint_slice(slice: &EndpointSlice) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &slice.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let type_path = Path::root("addressType");
    let address_type = slice.address_type.as_str();
    match address_type {
        "" => errors.push(required(&type_path, "")),
        "IPv4" | "IPv6" | "FQDN" => {}
        other => errors.push(not_supported(&type_path, other, &["FQDN", "IPv4", "IPv6"])),
    }
    let endpoints_path = Path::root("endpoints");
    if slice.endpoints.len() > 1000 {
        errors.push(too_many(&endpoints_path, slice.endpoints.len(), 1000));
    } else {
        for (i, endpoint) in slice.endpoints.iter().enumerate() {
            let endpoint_path = endpoints_path.index(i);
            let addresses_path = endpoint_path.child("addresses");
            if endpoint.addresses.is_empty() {
                errors.push(required(&addresses_path, "must contain at least 1 address"));
            } else if endpoint.addresses.len() > 100 {
                errors.push(too_many(&addresses_path, endpoint.addresses.len(), 100));
            }
            for (j, address) in endpoint.addresses.iter().enumerate() {
                let address_path = addresses_path.index(j);
                match address_type {
                    "IPv4" => {
                        if address.parse::<std::net::Ipv4Addr>().is_err() {
                            errors.push(invalid(
                                &address_path,
                                address.as_str(),
                                "must be a valid IPv4 address",
                            ));
                        } else {
                            non_special_ip(&mut errors, address, &address_path);
                        }
                    }
                    "IPv6" => {
                        if address.parse::<std::net::Ipv6Addr>().is_err() {
                            errors.push(invalid(
                                &address_path,
                                address.as_str(),
                                "must be a valid IPv6 address",
                            ));
                        } else {
                            non_special_ip(&mut errors, address, &address_path);
                        }
                    }
                    "FQDN" => {
                        if address.is_empty() {
                            errors.push(required(&address_path, ""));
                        } else {
                            invalid_each(
                                &mut errors,
                                &address_path,
                                address,
                                is_fully_qualified_domain_name(address),
                            );
                        }
                    }
                    _ => {}
                }
            }
            if let Some(node) = &endpoint.node_name {
                invalid_each(
                    &mut errors,
                    &endpoint_path.child("nodeName"),
                    node,
                    name_is_dns_subdomain(node, false),
                );
            }
            if let Some(topology) = &endpoint.deprecated_topology {
                let topology_path = endpoint_path.child("deprecatedTopology");
                if topology.len() > 16 {
                    errors.push(too_many(&topology_path, topology.len(), 16));
                }
                labels(&mut errors, topology, &topology_path);
            }
            if let Some(zone) = &endpoint.zone {
                let zone_label = [("topology.kubernetes.io/zone".to_owned(), zone.clone())].into();
                labels(&mut errors, &zone_label, &endpoint_path.child("zone"));
            }
            if let Some(hostname) = &endpoint.hostname {
                invalid_each(
                    &mut errors,
                    &endpoint_path.child("hostname"),
                    hostname,
                    is_dns1123_label(hostname),
                );
            }
        }
    }
    let ports = slice.ports.as_deref().unwrap_or_default();
    let ports_path = Path::root("ports");
    if ports.len() > 20000 {
        errors.push(too_many(&ports_path, ports.len(), 20000));
        return errors;
    }
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let port_path = ports_path.index(i);
        let name = port.name.as_deref().unwrap_or_default();
        if !name.is_empty() {
            invalid_each(
                &mut errors,
                &port_path.child("name"),
                name,
                is_dns1123_label(name),
            );
        }
        if !names.insert(name) {
            errors.push(duplicate(&port_path.child("name"), name));
        }
        let protocol_path = port_path.child("protocol");
        match port.protocol.as_deref() {
            None => errors.push(required(&protocol_path, "")),
            Some(protocol) if !PROTOCOLS.contains(&protocol) => {
                errors.push(not_supported(&protocol_path, protocol, &PROTOCOLS));
            }
            Some(_) => {}
        }
        if let Some(app_protocol) = &port.app_protocol {
            invalid_each(
                &mut errors,
                &port_path.child("appProtocol"),
                app_protocol,
                is_qualified_name(app_protocol),
            );
        }
    }
    errors
}

/// Checks an EndpointSlice replacing `old`: its address type is immutable.
pub fn validate_endpoint_slice_update(new: &EndpointSlice, old: &EndpointSlice) -> FieldErrors {
    let mut errors = FieldErrors::new();
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    errors.extend(validate_endpoint_slice(new));
    immutable(
        &mut errors,
        &Path::root("addressType"),
        &new.address_type,
        &old.address_type,
    );
    errors
}
