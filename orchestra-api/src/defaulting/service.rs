//! Service defaults, and the port protocols of Endpoints and EndpointSlices.
//!
//! A Service is `ClusterIP` with session affinity `None` (a `ClientIP` affinity sticks for
//! 10800 s, three hours); each port is `TCP` and targets the same port number on the pods; the
//! internal traffic policy is `Cluster`, and so is the external one when the Service is
//! reachable from outside (NodePort, LoadBalancer, or ClusterIP with external IPs); a
//! LoadBalancer allocates node ports, and its ingress IPs are `VIP`s.
//!
//! The IP families of a Service are not defaults in Kubernetes: the Service registry picks them
//! when it allocates the ClusterIPs, from the families the cluster serves. The registry calls
//! [`default_service_ip_families`] for that, after validation and before allocation.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{ClientIPConfig, Endpoints, Service, SessionAffinityConfig};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{default_string, default_value, each_mut};

/// How long a `ClientIP` session affinity sticks by default: three hours.
const CLIENT_IP_AFFINITY_SECONDS: i32 = 10800;

/// Defaults a Service (`SetDefaults_Service` of `core/v1`); its IP families are left to
/// [`default_service_ip_families`].
pub fn default_service(service: &mut Service) {
    let spec = service.spec.get_or_insert_default();
    default_string(&mut spec.session_affinity, "None");
    match spec.session_affinity.as_deref() {
        Some("None") => spec.session_affinity_config = None,
        Some("ClientIP") => {
            let timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds);
            if timeout.is_none() {
                // Kubernetes replaces the whole config, as it has nothing else in it.
                spec.session_affinity_config = Some(SessionAffinityConfig {
                    client_ip: Some(ClientIPConfig {
                        timeout_seconds: Some(CLIENT_IP_AFFINITY_SECONDS),
                    }),
                });
            }
        }
        _ => {}
    }
    default_string(&mut spec.type_, "ClusterIP");
    for port in each_mut(&mut spec.ports) {
        default_string(&mut port.protocol, "TCP");
        let unset = match &port.target_port {
            None => true,
            Some(IntOrString::Int(target)) => *target == 0,
            Some(IntOrString::String(target)) => target.is_empty(),
        };
        if unset {
            port.target_port = Some(IntOrString::Int(port.port));
        }
    }

    let service_type = spec.type_.as_deref().unwrap_or_default();
    let has_external_ips = spec
        .external_ips
        .as_ref()
        .is_some_and(|ips| !ips.is_empty());
    let externally_accessible = matches!(service_type, "NodePort" | "LoadBalancer")
        || service_type == "ClusterIP" && has_external_ips;
    if externally_accessible {
        default_string(&mut spec.external_traffic_policy, "Cluster");
    }
    if matches!(service_type, "NodePort" | "LoadBalancer" | "ClusterIP") {
        default_value(&mut spec.internal_traffic_policy, || "Cluster".to_owned());
    }
    if service_type == "LoadBalancer" {
        default_value(&mut spec.allocate_load_balancer_node_ports, || true);
        let ingresses = service
            .status
            .as_mut()
            .and_then(|s| s.load_balancer.as_mut())
            .and_then(|lb| lb.ingress.as_mut());
        for ingress in ingresses.into_iter().flatten() {
            if ingress.ip.as_deref().is_some_and(|ip| !ip.is_empty()) {
                default_value(&mut ingress.ip_mode, || "VIP".to_owned());
            }
        }
    }
}

/// An IP family a cluster can serve Services in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpFamily {
    /// IPv4.
    IPv4,
    /// IPv6.
    IPv6,
}

impl IpFamily {
    /// The name Kubernetes uses in `ipFamilies`.
    pub fn as_str(self) -> &'static str {
        match self {
            IpFamily::IPv4 => "IPv4",
            IpFamily::IPv6 => "IPv6",
        }
    }

    fn other(self) -> Self {
        match self {
            IpFamily::IPv4 => IpFamily::IPv6,
            IpFamily::IPv6 => IpFamily::IPv4,
        }
    }

    fn of(ip: &str) -> Option<Self> {
        match ip.parse::<IpAddr>().ok()? {
            IpAddr::V4(_) => Some(IpFamily::IPv4),
            IpAddr::V6(_) => Some(IpFamily::IPv6),
        }
    }
}

/// Clears, on an update that changes a Service's type, the fields the old type needed and
/// the new one does not, as Kubernetes' Service registry does before validation: only those
/// the update left as they were (the server may have filled them in), never ones the user
/// changed. Leaving ClusterIP-less types drops the cluster IPs and families, leaving
/// NodePort/LoadBalancer drops node ports and the external traffic policy, leaving
/// LoadBalancer drops its node-port allocation flag, class and status.
pub fn drop_service_type_dependent_fields(old: &Service, new: &mut Service) {
    let (Some(old_spec), Some(spec)) = (old.spec.as_ref(), new.spec.as_mut()) else {
        return;
    };
    let type_of = |t: &Option<String>| t.clone().unwrap_or_else(|| "ClusterIP".to_owned());
    let (old_type, new_type) = (type_of(&old_spec.type_), type_of(&spec.type_));
    let needs_cluster_ip = |t: &str| t != "ExternalName";
    let needs_node_port = |t: &str, allocate: Option<bool>| {
        t == "NodePort" || (t == "LoadBalancer" && allocate != Some(false))
    };
    let externally_accessible = |t: &str, external_ips: &Option<Vec<String>>| {
        t == "NodePort"
            || t == "LoadBalancer"
            || (t == "ClusterIP" && external_ips.as_ref().is_some_and(|ips| !ips.is_empty()))
    };
    let needs_health_port = |t: &str, policy: &Option<String>| {
        t == "LoadBalancer" && policy.as_deref() == Some("Local")
    };

    if needs_cluster_ip(&old_type) && !needs_cluster_ip(&new_type) {
        if spec.cluster_ip == old_spec.cluster_ip && spec.cluster_ips == old_spec.cluster_ips {
            spec.cluster_ip = None;
            spec.cluster_ips = None;
        }
        if spec.ip_families == old_spec.ip_families {
            spec.ip_families = None;
        }
        if spec.ip_family_policy == old_spec.ip_family_policy {
            spec.ip_family_policy = None;
        }
    }
    let node_ports =
        |ports: &Option<Vec<k8s_openapi::api::core::v1::ServicePort>>| -> Vec<Option<i32>> {
            ports.iter().flatten().map(|p| p.node_port).collect()
        };
    if needs_node_port(&old_type, old_spec.allocate_load_balancer_node_ports)
        && !needs_node_port(&new_type, spec.allocate_load_balancer_node_ports)
        && node_ports(&spec.ports) == node_ports(&old_spec.ports)
    {
        for port in spec.ports.iter_mut().flatten() {
            port.node_port = None;
        }
    }
    if needs_health_port(&old_type, &old_spec.external_traffic_policy)
        && !needs_health_port(&new_type, &spec.external_traffic_policy)
        && spec.health_check_node_port == old_spec.health_check_node_port
    {
        spec.health_check_node_port = None;
    }
    if old_type == "LoadBalancer" && new_type != "LoadBalancer" {
        if spec.allocate_load_balancer_node_ports == old_spec.allocate_load_balancer_node_ports {
            spec.allocate_load_balancer_node_ports = None;
        }
        if spec.load_balancer_class == old_spec.load_balancer_class {
            spec.load_balancer_class = None;
        }
    }
    if externally_accessible(&old_type, &old_spec.external_ips)
        && !externally_accessible(&new_type, &spec.external_ips)
        && spec.external_traffic_policy == old_spec.external_traffic_policy
    {
        spec.external_traffic_policy = None;
    }
    if new_type != "LoadBalancer"
        && let Some(status) = new.status.as_mut()
    {
        status.load_balancer = None;
    }
}

/// Chooses a new Service's `ipFamilyPolicy` and `ipFamilies` as the Kubernetes Service
/// registry does on create (`initIPFamilyFields`), for a cluster that serves
/// `cluster_families` (the first is the default; none means IPv4 only).
///
/// This is not part of [`default_object`](super::default_object): in Kubernetes it happens in
/// the registry, together with ClusterIP allocation, because it depends on the cluster's
/// configuration. The registry calls it on create, after validation and before allocating.
///
/// * ExternalName Services get nothing.
/// * Families are first inferred from the requested `clusterIPs`.
/// * Headless Services without a selector default to `RequireDualStack` and get both families,
///   even on a single-stack cluster (their endpoints are managed by the user).
/// * Otherwise two families mean `RequireDualStack`, and anything else `SingleStack`; no family
///   means the cluster's default; a dual-stack policy on a dual-stack cluster adds the other
///   family.
///
/// Inconsistent requests (a family the cluster does not serve, three families) are left for
/// validation to reject.
///
/// ```
/// use orchestra_api::defaulting::{default_service_ip_families, IpFamily};
/// use orchestra_api::k8s_openapi::api::core::v1::Service;
/// let mut service = Service::default();
/// default_service_ip_families(&mut service, &[IpFamily::IPv4]);
/// let spec = service.spec.unwrap();
/// assert_eq!(spec.ip_family_policy.as_deref(), Some("SingleStack"));
/// assert_eq!(spec.ip_families, Some(vec!["IPv4".to_string()]));
/// ```
pub fn default_service_ip_families(service: &mut Service, cluster_families: &[IpFamily]) {
    let spec = service.spec.get_or_insert_default();
    if spec.type_.as_deref() == Some("ExternalName") {
        return;
    }
    let default_family = cluster_families.first().copied().unwrap_or(IpFamily::IPv4);
    let cluster_is_dual_stack = cluster_families.contains(&default_family.other());

    let requested_ips: Vec<&str> = match spec.cluster_ips.as_deref() {
        Some(ips) if !ips.is_empty() => ips.iter().map(String::as_str).collect(),
        _ => spec.cluster_ip.as_deref().into_iter().collect(),
    };
    let headless = requested_ips.first() == Some(&"None");
    let families = spec.ip_families.get_or_insert_default();
    for (index, ip) in requested_ips.iter().enumerate() {
        if *ip == "None" {
            break;
        }
        if index >= families.len() {
            if let Some(family) = IpFamily::of(ip) {
                families.push(family.as_str().to_owned());
            }
        }
    }
    if spec.ip_family_policy.is_none() && families.len() == 2 {
        spec.ip_family_policy = Some("RequireDualStack".to_owned());
    }

    let selectorless = spec.selector.as_ref().is_none_or(|s| s.is_empty());
    let policy = if headless && selectorless {
        spec.ip_family_policy
            .get_or_insert_with(|| "RequireDualStack".to_owned())
    } else {
        spec.ip_family_policy
            .get_or_insert_with(|| "SingleStack".to_owned())
    };
    let wants_two = policy.as_str() != "SingleStack";
    if families.is_empty() {
        families.push(default_family.as_str().to_owned());
    }
    let may_add_other = headless && selectorless || cluster_is_dual_stack;
    let only_family = match families.as_slice() {
        [only] if only == "IPv6" => Some(IpFamily::IPv6),
        [_] => Some(IpFamily::IPv4),
        _ => None,
    };
    if let Some(first) = only_family.filter(|_| wants_two && may_add_other) {
        families.push(first.other().as_str().to_owned());
    }
}

/// Defaults Endpoints: each port of each subset is `TCP` unless set.
pub fn default_endpoints(endpoints: &mut Endpoints) {
    for subset in each_mut(&mut endpoints.subsets) {
        for port in each_mut(&mut subset.ports) {
            default_string(&mut port.protocol, "TCP");
        }
    }
}

/// Defaults an EndpointSlice: each port gets protocol `TCP` and the empty name unless set.
pub fn default_endpoint_slice(slice: &mut EndpointSlice) {
    for port in each_mut(&mut slice.ports) {
        default_value(&mut port.name, String::new);
        default_value(&mut port.protocol, || "TCP".to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        LoadBalancerIngress, LoadBalancerStatus, ServicePort, ServiceSpec, ServiceStatus,
    };

    fn service(spec: ServiceSpec) -> Service {
        Service {
            spec: Some(spec),
            ..Default::default()
        }
    }

    fn port(port: i32) -> ServicePort {
        ServicePort {
            port,
            ..Default::default()
        }
    }

    #[test]
    fn services_are_cluster_ips_without_affinity_targeting_the_same_port() {
        let mut s = service(ServiceSpec {
            ports: Some(vec![
                port(80),
                ServicePort {
                    target_port: Some(IntOrString::String("http".into())),
                    ..port(81)
                },
                ServicePort {
                    target_port: Some(IntOrString::Int(0)),
                    ..port(82)
                },
            ]),
            ..Default::default()
        });
        default_service(&mut s);
        let spec = s.spec.unwrap_or_default();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        assert_eq!(spec.session_affinity.as_deref(), Some("None"));
        assert_eq!(spec.internal_traffic_policy.as_deref(), Some("Cluster"));
        assert_eq!(spec.external_traffic_policy, None);
        assert_eq!(spec.allocate_load_balancer_node_ports, None);
        assert_eq!(spec.ip_families, None, "chosen by the registry");
        let ports = spec.ports.unwrap_or_default();
        assert!(ports.iter().all(|p| p.protocol.as_deref() == Some("TCP")));
        let targets: Vec<_> = ports.into_iter().map(|p| p.target_port).collect();
        assert_eq!(
            targets,
            [
                Some(IntOrString::Int(80)),
                Some(IntOrString::String("http".into())),
                Some(IntOrString::Int(82))
            ]
        );
    }

    #[test]
    fn client_ip_affinity_sticks_for_three_hours() {
        let mut s = service(ServiceSpec {
            session_affinity: Some("ClientIP".into()),
            session_affinity_config: Some(SessionAffinityConfig {
                client_ip: Some(ClientIPConfig::default()),
            }),
            ..Default::default()
        });
        default_service(&mut s);
        let timeout = s
            .spec
            .and_then(|s| s.session_affinity_config)
            .and_then(|c| c.client_ip)
            .and_then(|c| c.timeout_seconds);
        assert_eq!(timeout, Some(10800));

        let mut none = service(ServiceSpec {
            session_affinity_config: Some(SessionAffinityConfig::default()),
            ..Default::default()
        });
        default_service(&mut none);
        assert_eq!(none.spec.and_then(|s| s.session_affinity_config), None);
    }

    #[test]
    fn load_balancers_are_external_cluster_policy_with_node_ports_and_vip_ingress() {
        let mut s = Service {
            spec: Some(ServiceSpec {
                type_: Some("LoadBalancer".into()),
                ..Default::default()
            }),
            status: Some(ServiceStatus {
                load_balancer: Some(LoadBalancerStatus {
                    ingress: Some(vec![
                        LoadBalancerIngress {
                            ip: Some("203.0.113.7".into()),
                            ..Default::default()
                        },
                        LoadBalancerIngress {
                            hostname: Some("lb.example.com".into()),
                            ..Default::default()
                        },
                    ]),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        default_service(&mut s);
        let spec = s.spec.unwrap_or_default();
        assert_eq!(spec.external_traffic_policy.as_deref(), Some("Cluster"));
        assert_eq!(spec.allocate_load_balancer_node_ports, Some(true));
        let ingress = s
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|lb| lb.ingress)
            .unwrap_or_default();
        assert_eq!(ingress[0].ip_mode.as_deref(), Some("VIP"));
        assert_eq!(ingress[1].ip_mode, None);
    }

    #[test]
    fn cluster_ips_with_external_ips_are_externally_accessible() {
        let mut s = service(ServiceSpec {
            external_ips: Some(vec!["198.51.100.1".into()]),
            ..Default::default()
        });
        default_service(&mut s);
        let policy = s.spec.and_then(|s| s.external_traffic_policy);
        assert_eq!(policy.as_deref(), Some("Cluster"));
    }

    #[test]
    fn external_names_get_no_traffic_policies() {
        let mut s = service(ServiceSpec {
            type_: Some("ExternalName".into()),
            external_name: Some("db.example.com".into()),
            ..Default::default()
        });
        default_service(&mut s);
        let spec = s.spec.unwrap_or_default();
        assert_eq!(spec.internal_traffic_policy, None);
        assert_eq!(spec.external_traffic_policy, None);
    }

    fn families(spec: &ServiceSpec) -> (Option<&str>, Vec<&str>) {
        (
            spec.ip_family_policy.as_deref(),
            spec.ip_families
                .iter()
                .flatten()
                .map(String::as_str)
                .collect(),
        )
    }

    #[test]
    fn ip_families_follow_the_cluster_and_the_request() {
        let v4 = [IpFamily::IPv4];
        let dual = [IpFamily::IPv6, IpFamily::IPv4];
        let selector = Some([("app".to_string(), "web".to_string())].into());

        let mut plain = service(ServiceSpec {
            selector: selector.clone(),
            ..Default::default()
        });
        default_service_ip_families(&mut plain, &dual);
        let spec = plain.spec.unwrap_or_default();
        assert_eq!(families(&spec), (Some("SingleStack"), vec!["IPv6"]));

        let mut prefer = service(ServiceSpec {
            selector: selector.clone(),
            ip_family_policy: Some("PreferDualStack".into()),
            ..Default::default()
        });
        default_service_ip_families(&mut prefer, &dual);
        let spec = prefer.spec.unwrap_or_default();
        assert_eq!(
            families(&spec),
            (Some("PreferDualStack"), vec!["IPv6", "IPv4"])
        );

        let mut prefer_single = service(ServiceSpec {
            selector: selector.clone(),
            ip_family_policy: Some("PreferDualStack".into()),
            ..Default::default()
        });
        default_service_ip_families(&mut prefer_single, &v4);
        let spec = prefer_single.spec.unwrap_or_default();
        assert_eq!(families(&spec), (Some("PreferDualStack"), vec!["IPv4"]));

        let mut from_ips = service(ServiceSpec {
            selector: selector.clone(),
            cluster_ips: Some(vec!["10.0.0.10".into(), "fd00::10".into()]),
            ..Default::default()
        });
        default_service_ip_families(&mut from_ips, &dual);
        let spec = from_ips.spec.unwrap_or_default();
        assert_eq!(
            families(&spec),
            (Some("RequireDualStack"), vec!["IPv4", "IPv6"])
        );

        let mut headless = service(ServiceSpec {
            cluster_ip: Some("None".into()),
            ..Default::default()
        });
        default_service_ip_families(&mut headless, &v4);
        let spec = headless.spec.unwrap_or_default();
        assert_eq!(
            families(&spec),
            (Some("RequireDualStack"), vec!["IPv4", "IPv6"])
        );

        let mut external = service(ServiceSpec {
            type_: Some("ExternalName".into()),
            ..Default::default()
        });
        default_service_ip_families(&mut external, &v4);
        assert_eq!(families(&external.spec.unwrap_or_default()), (None, vec![]));
    }

    #[test]
    fn endpoint_ports_default_to_tcp() {
        use k8s_openapi::api::core::v1::{EndpointPort, EndpointSubset};
        let mut endpoints = Endpoints {
            subsets: Some(vec![EndpointSubset {
                ports: Some(vec![EndpointPort {
                    port: 80,
                    ..Default::default()
                }]),
                ..Default::default()
            }]),
            ..Default::default()
        };
        default_endpoints(&mut endpoints);
        let port = &endpoints.subsets.unwrap_or_default()[0];
        let protocol = port.ports.as_deref().unwrap_or_default()[0]
            .protocol
            .clone();
        assert_eq!(protocol.as_deref(), Some("TCP"));

        let mut slice = EndpointSlice {
            ports: Some(vec![Default::default()]),
            ..Default::default()
        };
        default_endpoint_slice(&mut slice);
        let port = &slice.ports.unwrap_or_default()[0];
        assert_eq!(port.protocol.as_deref(), Some("TCP"));
        assert_eq!(port.name.as_deref(), Some(""));
    }
}
