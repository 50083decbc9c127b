//! From a Service and one of its pods to what the Service publishes for that pod: whether the
//! pod belongs in the endpoints at all, its addresses of each IP family, the ports its named
//! target ports resolve to, and the `ready`/`serving`/`terminating` conditions — Kubernetes'
//! rules (`ShouldPodBeInEndpoints`, `FindPort`, `podToEndpoint`), shared by the EndpointSlice
//! controller and the legacy Endpoints controller.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use orchestra_api::k8s_openapi::api::core::v1::{Node, ObjectReference, Pod, Service, ServicePort};
use orchestra_api::k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};
use orchestra_api::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::builtin::pod_state;

/// The node label naming the node's zone, copied into each endpoint's `zone`.
pub const LABEL_TOPOLOGY_ZONE: &str = "topology.kubernetes.io/zone";

/// An IP family of EndpointSlice addresses (`addressType`). `FQDN` slices are never made by
/// the controller, so they are not modelled here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AddressType {
    /// IPv4 addresses.
    IPv4,
    /// IPv6 addresses.
    IPv6,
}

impl AddressType {
    /// The type as the API spells it (`IPv4`, `IPv6`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IPv4 => "IPv4",
            Self::IPv6 => "IPv6",
        }
    }

    /// The type of an `addressType` field, if the controller manages that type.
    pub fn parse(address_type: &str) -> Option<Self> {
        match address_type {
            "IPv4" => Some(Self::IPv4),
            "IPv6" => Some(Self::IPv6),
            _ => None,
        }
    }

    /// The family of `ip`.
    pub fn of(ip: &IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self::IPv4,
            IpAddr::V6(_) => Self::IPv6,
        }
    }
}

impl fmt::Display for AddressType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Service's label selector, if it has one: services without a selector (or with an
/// empty one, which Kubernetes' storage turns into none) get no endpoints from the controllers;
/// their endpoints are written by someone else.
pub fn service_selector(service: &Service) -> Option<&BTreeMap<String, String>> {
    service
        .spec
        .as_ref()?
        .selector
        .as_ref()
        .filter(|selector| !selector.is_empty())
}

/// Whether the controllers publish endpoints for the Service: it has a selector and is not of
/// type `ExternalName`.
pub fn has_managed_endpoints(service: &Service) -> bool {
    let external_name = service
        .spec
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .is_some_and(|t| t == "ExternalName");
    !external_name && service_selector(service).is_some()
}

/// Whether the pod's labels match the Service's selector (false without a selector).
pub fn selects(service: &Service, pod: &Pod) -> bool {
    let Some(selector) = service_selector(service) else {
        return false;
    };
    let labels = pod.metadata.labels.as_ref();
    selector
        .iter()
        .all(|(key, value)| labels.and_then(|l| l.get(key)) == Some(value))
}

/// Whether the Service has a cluster IP (it is not headless).
pub fn is_service_ip_set(service: &Service) -> bool {
    let cluster_ip = service
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .unwrap_or_default();
    !cluster_ip.is_empty() && cluster_ip != "None"
}

/// Whether `publishNotReadyAddresses` is set.
pub fn publishes_not_ready(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false)
}

/// The address types the Service's EndpointSlices have: one per entry of `ipFamilies`; for a
/// Service written before families existed, the family of its cluster IP, or both families
/// for a headless one.
pub fn address_types(service: &Service) -> BTreeSet<AddressType> {
    let spec = service.spec.as_ref();
    let families: BTreeSet<AddressType> = spec
        .and_then(|s| s.ip_families.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|family| AddressType::parse(family))
        .collect();
    if !families.is_empty() {
        return families;
    }
    if is_service_ip_set(service) {
        let cluster_ip = spec
            .and_then(|s| s.cluster_ip.as_deref())
            .unwrap_or_default();
        let family = match cluster_ip.parse::<IpAddr>() {
            Ok(ip) => AddressType::of(&ip),
            Err(_) => AddressType::IPv4,
        };
        return BTreeSet::from([family]);
    }
    BTreeSet::from([AddressType::IPv4, AddressType::IPv6])
}

/// The pod's IPs, in the order of `status.podIPs` (or `status.podIP` when the list is empty);
/// text that does not parse as an IP is skipped.
pub fn pod_ips(pod: &Pod) -> Vec<IpAddr> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let listed: Vec<&str> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|ip| ip.ip.as_str())
        .collect();
    let texts = if listed.is_empty() {
        status.pod_ip.as_deref().into_iter().collect()
    } else {
        listed
    };
    texts
        .into_iter()
        .filter_map(|ip| ip.trim().parse().ok())
        .collect()
}

/// Whether the pod belongs in a Service's endpoints: it has an IP, has not finished
/// (`Succeeded`/`Failed`), and — unless `include_terminating` — is not being deleted.
pub fn should_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    if matches!(pod_state::phase(pod), "Succeeded" | "Failed") {
        return false;
    }
    let has_ip = pod.status.as_ref().is_some_and(|s| {
        s.pod_ip.as_deref().is_some_and(|ip| !ip.is_empty())
            || s.pod_ips.as_ref().is_some_and(|ips| !ips.is_empty())
    });
    if !has_ip {
        return false;
    }
    include_terminating || !pod_state::is_terminating(pod)
}

/// Whether an endpoint carries the pod's `hostname`: the pod names one and its `subdomain` is
/// the Service's name in the same namespace.
pub fn should_set_hostname(pod: &Pod, service: &Service) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    spec.hostname.as_deref().is_some_and(|h| !h.is_empty())
        && spec.subdomain.as_deref() == service.metadata.name.as_deref()
        && pod.metadata.namespace == service.metadata.namespace
}

/// The protocol of a port, `TCP` when unset (the API's default).
fn protocol_or_tcp(protocol: Option<&str>) -> &str {
    protocol.filter(|p| !p.is_empty()).unwrap_or("TCP")
}

/// The container port a Service port sends traffic to on this pod: a numeric `targetPort` as
/// is (the Service's `port` when unset), a named one looked up among the containers' ports
/// (then the restartable init containers') with the same protocol. `None` when the name is
/// not found.
pub fn find_port(pod: &Pod, service_port: &ServicePort) -> Option<i32> {
    let name = match &service_port.target_port {
        None => return Some(service_port.port),
        Some(IntOrString::Int(port)) => return Some(*port),
        Some(IntOrString::String(name)) => name,
    };
    let protocol = protocol_or_tcp(service_port.protocol.as_deref());
    let spec = pod.spec.as_ref()?;
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| {
            p.name.as_deref() == Some(name.as_str())
                && protocol_or_tcp(p.protocol.as_deref()) == protocol
        })
        .map(|p| p.container_port)
}

/// The EndpointSlice ports of the pod for the Service: one per Service port whose target
/// resolves on this pod, in the Service's order. A headless Service without ports has none.
pub fn endpoint_ports(service: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let ports = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    ports
        .iter()
        .filter_map(|service_port| {
            let port = find_port(pod, service_port)?;
            Some(EndpointPort {
                name: Some(service_port.name.clone().unwrap_or_default()),
                port: Some(port),
                protocol: Some(protocol_or_tcp(service_port.protocol.as_deref()).to_owned()),
                app_protocol: service_port.app_protocol.clone(),
            })
        })
        .collect()
}

/// A reference to the pod, as endpoints carry it (`kind`, namespace, name, uid).
pub fn pod_reference(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".to_owned()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..ObjectReference::default()
    }
}

/// The endpoint of `pod` in the Service's `address_type` slices: its addresses of that family,
/// node, zone (from `node`'s topology label), hostname, a reference to the pod, and the
/// conditions as Kubernetes sets them — `serving` when the pod is ready, `terminating` when it
/// is being deleted, `ready` when serving and not terminating (always, with
/// `publishNotReadyAddresses`).
pub fn pod_to_endpoint(
    pod: &Pod,
    node: Option<&Node>,
    service: &Service,
    address_type: AddressType,
) -> Endpoint {
    let serving = pod_state::is_ready(pod);
    let terminating = pod_state::is_terminating(pod);
    let ready = publishes_not_ready(service) || (serving && !terminating);
    let addresses = pod_ips(pod)
        .into_iter()
        .filter(|ip| AddressType::of(ip) == address_type)
        .map(|ip| ip.to_string())
        .collect();
    let node_name = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty());
    let zone = node
        .and_then(|n| n.metadata.labels.as_ref())
        .and_then(|labels| labels.get(LABEL_TOPOLOGY_ZONE))
        .filter(|zone| !zone.is_empty())
        .cloned();
    let hostname = should_set_hostname(pod, service)
        .then(|| pod.spec.as_ref().and_then(|s| s.hostname.clone()))
        .flatten();
    Endpoint {
        addresses,
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname,
        node_name,
        target_ref: Some(pod_reference(pod)),
        zone,
        ..Endpoint::default()
    }
}

#[cfg(test)]
mod tests {
    use orchestra_api::k8s_openapi::api::core::v1::{
        Container, ContainerPort, PodCondition, PodIP, PodSpec, PodStatus, ServiceSpec,
    };
    use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    fn pod(ready: bool, ips: &[&str]) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some("web-1".into());
        pod.metadata.namespace = Some("default".into());
        pod.metadata.uid = Some("uid-1".into());
        pod.spec = Some(PodSpec {
            node_name: Some("node-1".into()),
            containers: vec![Container {
                name: "app".into(),
                ports: Some(vec![ContainerPort {
                    name: Some("http".into()),
                    container_port: 8080,
                    ..ContainerPort::default()
                }]),
                ..Container::default()
            }],
            ..PodSpec::default()
        });
        pod.status = Some(PodStatus {
            phase: Some("Running".into()),
            pod_ip: ips.first().map(|ip| (*ip).to_owned()),
            pod_ips: Some(
                ips.iter()
                    .map(|ip| PodIP {
                        ip: (*ip).to_owned(),
                    })
                    .collect(),
            ),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        });
        pod
    }

    fn service(spec: ServiceSpec) -> Service {
        let mut service = Service::default();
        service.metadata.name = Some("web".into());
        service.metadata.namespace = Some("default".into());
        service.spec = Some(spec);
        service
    }

    #[test]
    fn endpoint_conditions_follow_readiness_termination_and_publish_not_ready() {
        let plain = service(ServiceSpec::default());
        let conditions = |pod: &Pod, svc: &Service| {
            let c = pod_to_endpoint(pod, None, svc, AddressType::IPv4)
                .conditions
                .unwrap();
            (c.ready.unwrap(), c.serving.unwrap(), c.terminating.unwrap())
        };
        assert_eq!(
            conditions(&pod(true, &["10.0.0.1"]), &plain),
            (true, true, false)
        );
        assert_eq!(
            conditions(&pod(false, &["10.0.0.1"]), &plain),
            (false, false, false)
        );
        let mut deleting = pod(true, &["10.0.0.1"]);
        deleting.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        assert_eq!(conditions(&deleting, &plain), (false, true, true));
        let publishing = service(ServiceSpec {
            publish_not_ready_addresses: Some(true),
            ..ServiceSpec::default()
        });
        assert_eq!(
            conditions(&pod(false, &["10.0.0.1"]), &publishing),
            (true, false, false)
        );
    }

    #[test]
    fn addresses_are_split_by_family() {
        let dual = pod(true, &["10.0.0.1", "fd00::1"]);
        let svc = service(ServiceSpec::default());
        assert_eq!(
            pod_to_endpoint(&dual, None, &svc, AddressType::IPv4).addresses,
            ["10.0.0.1"]
        );
        assert_eq!(
            pod_to_endpoint(&dual, None, &svc, AddressType::IPv6).addresses,
            ["fd00::1"]
        );
    }

    #[test]
    fn named_target_ports_resolve_per_pod_and_protocol() {
        let web = pod(true, &["10.0.0.1"]);
        let port = |target: IntOrString, protocol: &str| ServicePort {
            port: 80,
            target_port: Some(target),
            protocol: Some(protocol.into()),
            ..ServicePort::default()
        };
        assert_eq!(
            find_port(&web, &port(IntOrString::String("http".into()), "TCP")),
            Some(8080)
        );
        assert_eq!(
            find_port(&web, &port(IntOrString::String("http".into()), "UDP")),
            None
        );
        assert_eq!(
            find_port(&web, &port(IntOrString::String("grpc".into()), "TCP")),
            None
        );
        assert_eq!(
            find_port(&web, &port(IntOrString::Int(9000), "TCP")),
            Some(9000)
        );
    }

    #[test]
    fn pods_without_ip_or_finished_stay_out_terminating_ones_only_when_asked() {
        assert!(!should_be_in_endpoints(&pod(true, &[]), true));
        let mut done = pod(true, &["10.0.0.1"]);
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert!(!should_be_in_endpoints(&done, true));
        let mut deleting = pod(true, &["10.0.0.1"]);
        deleting.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        assert!(should_be_in_endpoints(&deleting, true));
        assert!(!should_be_in_endpoints(&deleting, false));
    }

    #[test]
    fn address_types_come_from_ip_families_then_the_cluster_ip() {
        let families = service(ServiceSpec {
            ip_families: Some(vec!["IPv6".into(), "IPv4".into()]),
            ..ServiceSpec::default()
        });
        assert_eq!(address_types(&families).len(), 2);
        let legacy = service(ServiceSpec {
            cluster_ip: Some("fd00::10".into()),
            ..ServiceSpec::default()
        });
        assert_eq!(address_types(&legacy), BTreeSet::from([AddressType::IPv6]));
        let headless = service(ServiceSpec {
            cluster_ip: Some("None".into()),
            ..ServiceSpec::default()
        });
        assert_eq!(address_types(&headless).len(), 2);
    }

    #[test]
    fn an_empty_selector_selects_nothing() {
        let svc = service(ServiceSpec {
            selector: Some(BTreeMap::new()),
            ..ServiceSpec::default()
        });
        assert!(!has_managed_endpoints(&svc));
        assert!(!selects(&svc, &pod(true, &["10.0.0.1"])));
    }
}
