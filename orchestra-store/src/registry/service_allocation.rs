//! Cluster IPs and node ports of Services, allocated as Kubernetes' service registry does.
//!
//! Every allocation is a key created only if absent in the key-value store, so an address or a
//! port is never handed out twice: not by two API servers at once, not across restarts. A
//! cluster IP is held by an `IPAddress` object at `/registry/ipaddresses/<ip>` (Kubernetes
//! v1.33's layout, with the Service as its parent), a node port by
//! `/registry/servicenodeports/<port>`. They are released when the Service is deleted or stops
//! needing them, and when the write that would have used them fails.
//!
//! - A Service with `clusterIP: None` (headless) or of type `ExternalName` gets no address; any
//!   other gets a random free address of the service CIDR, or the one it asks for, which must be
//!   inside the CIDR and free.
//! - `NodePort` and `LoadBalancer` Services (the latter unless
//!   `allocateLoadBalancerNodePorts: false`) get a free node port per port, or the one asked for;
//!   a `LoadBalancer` with `externalTrafficPolicy: Local` also gets a `healthCheckNodePort`.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;

use bytes::Bytes;
use k8s_openapi::api::core::v1::Service;
use orchestra_api::validation::{FieldError, FieldPath};
use orchestra_api::{Status, defaulting};
use serde_json::json;

use crate::StoreError;
use crate::kv::KvStore;
use crate::store::status_of;

/// The key prefix of cluster IP allocations.
pub const IP_ADDRESS_PREFIX: &str = "/registry/ipaddresses/";
/// The key prefix of node port allocations.
pub const NODE_PORT_PREFIX: &str = "/registry/servicenodeports/";

/// Where Services' addresses and node ports come from (kube-apiserver's
/// `--service-cluster-ip-range` and `--service-node-port-range`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNetwork {
    /// The service CIDR; its first usable address goes to the `kubernetes` Service.
    pub cluster_ip_range: ipnet::Ipv4Net,
    /// The node ports.
    pub node_port_range: RangeInclusive<i32>,
}

impl Default for ServiceNetwork {
    fn default() -> Self {
        Self {
            cluster_ip_range: "10.96.0.0/12".parse().expect("a valid CIDR"),
            node_port_range: 30000..=32767,
        }
    }
}

impl ServiceNetwork {
    /// The address of the `kubernetes` Service: the first host of the range.
    pub fn api_server_service_ip(&self) -> Ipv4Addr {
        self.hosts().0
    }

    /// The first and last assignable addresses (network and broadcast excluded).
    fn hosts(&self) -> (Ipv4Addr, Ipv4Addr) {
        let net = self.cluster_ip_range;
        let first = u32::from(net.network()).saturating_add(1);
        let last = u32::from(net.broadcast()).saturating_sub(1).max(first);
        (Ipv4Addr::from(first), Ipv4Addr::from(last))
    }
}

/// What a write of a Service allocated; released again if the write fails.
#[derive(Debug, Default)]
#[must_use = "allocations must be released when the write that needed them fails"]
pub struct Allocations {
    ips: Vec<Ipv4Addr>,
    ports: Vec<i32>,
}

/// Allocates and releases Services' cluster IPs and node ports.
#[derive(Clone)]
pub struct ServiceAllocator<'a> {
    kv: &'a dyn KvStore,
    network: &'a ServiceNetwork,
}

impl<'a> ServiceAllocator<'a> {
    /// An allocator over `kv` for `network`.
    pub fn new(kv: &'a dyn KvStore, network: &'a ServiceNetwork) -> Self {
        Self { kv, network }
    }

    /// Gives a new Service its addresses and node ports, filling them into its spec.
    pub async fn allocate_for_create(&self, service: &mut Service) -> Result<Allocations, Status> {
        let mut done = Allocations::default();
        match self.allocate_missing(None, service, &mut done).await {
            Ok(()) => Ok(done),
            Err(status) => {
                self.release(done).await;
                Err(status)
            }
        }
    }

    /// Gives an updated Service what its new spec needs beyond what `old` held (a type change
    /// to NodePort, new ports); answers what it allocated and, separately, what `old` held that
    /// the new spec no longer uses, to release once the update is stored.
    pub async fn allocate_for_update(
        &self,
        old: &Service,
        service: &mut Service,
    ) -> Result<(Allocations, Allocations), Status> {
        let mut done = Allocations::default();
        if let Err(status) = self.allocate_missing(Some(old), service, &mut done).await {
            self.release(done).await;
            return Err(status);
        }
        let held = held_by(old);
        let kept = held_by(service);
        let unused = Allocations {
            ips: held
                .ips
                .into_iter()
                .filter(|ip| !kept.ips.contains(ip))
                .collect(),
            ports: held
                .ports
                .into_iter()
                .filter(|port| !kept.ports.contains(port))
                .collect(),
        };
        Ok((done, unused))
    }

    /// Releases everything a deleted Service held.
    pub async fn release_service(&self, service: &Service) {
        self.release(held_by(service)).await;
    }

    /// Releases allocations; failures are logged (a later repair may reclaim them).
    pub async fn release(&self, allocations: Allocations) {
        let keys = allocations
            .ips
            .iter()
            .map(|ip| ip_key(*ip))
            .chain(allocations.ports.iter().map(|port| port_key(*port)));
        for key in keys {
            match self.kv.delete(key.clone(), None).await {
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(err) => {
                    tracing::warn!(key = %String::from_utf8_lossy(&key), %err, "cannot release a service allocation")
                }
            }
        }
    }

    async fn allocate_missing(
        &self,
        old: Option<&Service>,
        service: &mut Service,
        done: &mut Allocations,
    ) -> Result<(), Status> {
        let parent = (
            service.metadata.namespace.clone().unwrap_or_default(),
            service.metadata.name.clone().unwrap_or_default(),
        );
        let spec_path = FieldPath::new("spec");
        let Some(spec) = service.spec.as_mut() else {
            return Ok(());
        };
        let service_type = spec.type_.clone().unwrap_or_else(|| "ClusterIP".to_owned());
        let old_spec = old.and_then(|old| old.spec.as_ref());

        // Cluster IP.
        if service_type != "ExternalName" {
            let headless = spec.cluster_ip.as_deref() == Some("None");
            if !headless && old.is_none() {
                // A new Service's families are chosen now, and must be ones the cluster serves
                // (this one serves IPv4 only).
                defaulting::default_service_ip_families(service, &[defaulting::IpFamily::IPv4]);
                single_stack_families_only(service, &spec_path, &parent)?;
            }
            let Some(spec) = service.spec.as_mut() else {
                return Ok(());
            };
            let asked = spec.cluster_ip.clone().filter(|ip| !ip.is_empty());
            let kept = old_spec.and_then(|s| s.cluster_ip.clone());
            match asked.as_deref() {
                Some("None") => {}
                Some(ip) if kept.as_deref() == Some(ip) => {}
                Some(ip) => {
                    let path = spec_path.child("clusterIPs").index(0);
                    let ip = self.claim_requested_ip(ip, &path, &parent).await?;
                    done.ips.push(ip);
                }
                None => {
                    let ip = self.claim_free_ip(&parent).await?;
                    done.ips.push(ip);
                    spec.cluster_ip = Some(ip.to_string());
                }
            }
            if let Some(ip) = spec.cluster_ip.clone() {
                spec.cluster_ips = Some(vec![ip]);
            }
            defaulting::default_service_ip_families(service, &[defaulting::IpFamily::IPv4]);
        }

        let Some(spec) = service.spec.as_mut() else {
            return Ok(());
        };
        // Node ports.
        let wants_node_ports = service_type == "NodePort"
            || (service_type == "LoadBalancer"
                && spec.allocate_load_balancer_node_ports != Some(false));
        let old_ports: BTreeSet<i32> = old
            .map(|old| held_by(old).ports)
            .unwrap_or_default()
            .into_iter()
            .collect();
        if wants_node_ports {
            let mut taken_here = BTreeSet::new();
            for (index, port) in spec.ports.iter_mut().flatten().enumerate() {
                let path = spec_path.child("ports").index(index).child("nodePort");
                match port.node_port.filter(|p| *p != 0) {
                    Some(asked) if old_ports.contains(&asked) || taken_here.contains(&asked) => {
                        taken_here.insert(asked);
                    }
                    Some(asked) => {
                        self.claim_requested_port(asked, &path, &parent).await?;
                        done.ports.push(asked);
                        taken_here.insert(asked);
                    }
                    None => {
                        let free = self.claim_free_port(&parent).await?;
                        done.ports.push(free);
                        taken_here.insert(free);
                        port.node_port = Some(free);
                    }
                }
            }
        }
        let wants_health_port = service_type == "LoadBalancer"
            && spec.external_traffic_policy.as_deref() == Some("Local");
        if wants_health_port {
            let path = spec_path.child("healthCheckNodePort");
            match spec.health_check_node_port.filter(|p| *p != 0) {
                Some(asked) if old_ports.contains(&asked) => {}
                Some(asked) => {
                    self.claim_requested_port(asked, &path, &parent).await?;
                    done.ports.push(asked);
                }
                None => {
                    let free = self.claim_free_port(&parent).await?;
                    done.ports.push(free);
                    spec.health_check_node_port = Some(free);
                }
            }
        }
        Ok(())
    }

    async fn claim_requested_ip(
        &self,
        ip: &str,
        path: &FieldPath,
        parent: &(String, String),
    ) -> Result<Ipv4Addr, Status> {
        let invalid = |message: String| invalid_service(parent, path, ip, message);
        let Ok(IpAddr::V4(addr)) = ip.parse::<IpAddr>() else {
            return Err(invalid("must be a valid IPv4 address".to_owned()));
        };
        let (first, last) = self.network.hosts();
        if addr < first || addr > last {
            return Err(invalid(format!(
                "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                self.network.cluster_ip_range
            )));
        }
        if self.claim(ip_key(addr), ip_record(addr, parent)).await? {
            Ok(addr)
        } else {
            Err(invalid(format!(
                "failed to allocate IP {ip}: provided IP is already allocated"
            )))
        }
    }

    async fn claim_free_ip(&self, parent: &(String, String)) -> Result<Ipv4Addr, Status> {
        let (first, last) = self.network.hosts();
        let (first, last) = (u32::from(first), u32::from(last));
        // The `kubernetes` Service asks for the first address; others start at random.
        let size = u64::from(last - first) + 1;
        let start = random_below(size);
        for step in 0..size {
            let offset = (start + step) % size;
            let addr = Ipv4Addr::from(first + offset as u32);
            if self.claim(ip_key(addr), ip_record(addr, parent)).await? {
                return Ok(addr);
            }
        }
        Err(Status::internal(format!(
            "failed to allocate a serviceIP: range {} is full",
            self.network.cluster_ip_range
        )))
    }

    async fn claim_requested_port(
        &self,
        port: i32,
        path: &FieldPath,
        parent: &(String, String),
    ) -> Result<(), Status> {
        let range = &self.network.node_port_range;
        if !range.contains(&port) {
            return Err(invalid_service(
                parent,
                path,
                port,
                format!(
                    "provided port is not in the valid range. The range of valid ports is {}-{}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        if self.claim(port_key(port), port_record(parent)).await? {
            Ok(())
        } else {
            Err(invalid_service(
                parent,
                path,
                port,
                "provided port is already allocated".to_owned(),
            ))
        }
    }

    async fn claim_free_port(&self, parent: &(String, String)) -> Result<i32, Status> {
        let range = &self.network.node_port_range;
        let size = u64::try_from(range.end() - range.start() + 1).unwrap_or(1);
        let start = random_below(size);
        for step in 0..size {
            let port = range.start() + ((start + step) % size) as i32;
            if self.claim(port_key(port), port_record(parent)).await? {
                return Ok(port);
            }
        }
        Err(Status::internal(format!(
            "failed to allocate a nodePort: range {}-{} is full",
            range.start(),
            range.end()
        )))
    }

    /// Creates `key` if absent: true when this call took it.
    async fn claim(&self, key: Bytes, record: serde_json::Value) -> Result<bool, Status> {
        match self.kv.create(key, Bytes::from(record.to_string())).await {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists { .. }) => Ok(false),
            Err(err) => Err(status_of(err)),
        }
    }
}

/// Refuses, as Kubernetes does on a single-stack IPv4 cluster, a Service that requires dual
/// stack or names IPv6 among its `ipFamilies`, whatever its policy: `PreferDualStack` only
/// falls back to one family when the Service names none (the registry's
/// `initIPFamilyFields` checks every requested family against the cluster's).
fn single_stack_families_only(
    service: &mut Service,
    spec_path: &FieldPath,
    parent: &(String, String),
) -> Result<(), Status> {
    let Some(spec) = service.spec.as_ref() else {
        return Ok(());
    };
    if spec.ip_family_policy.as_deref() == Some("RequireDualStack") {
        return Err(invalid_service(
            parent,
            &spec_path.child("ipFamilyPolicy"),
            "RequireDualStack",
            "this cluster is not configured for dual-stack services".to_owned(),
        ));
    }
    for (index, family) in spec.ip_families.iter().flatten().enumerate() {
        if family != "IPv4" {
            return Err(invalid_service(
                parent,
                &spec_path.child("ipFamilies").index(index),
                family,
                "not configured on this cluster".to_owned(),
            ));
        }
    }
    Ok(())
}

/// What a stored Service holds: its cluster IPs and node ports.
fn held_by(service: &Service) -> Allocations {
    let Some(spec) = service.spec.as_ref() else {
        return Allocations::default();
    };
    let ips = spec
        .cluster_ips
        .iter()
        .flatten()
        .chain(spec.cluster_ip.iter())
        .filter_map(|ip| ip.parse::<Ipv4Addr>().ok())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let ports = spec
        .ports
        .iter()
        .flatten()
        .filter_map(|port| port.node_port)
        .chain(spec.health_check_node_port)
        .filter(|port| *port != 0)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Allocations { ips, ports }
}

fn ip_key(ip: Ipv4Addr) -> Bytes {
    Bytes::from(format!("{IP_ADDRESS_PREFIX}{ip}"))
}

fn port_key(port: i32) -> Bytes {
    Bytes::from(format!("{NODE_PORT_PREFIX}{port}"))
}

/// An `IPAddress` (networking.k8s.io/v1) naming the Service that holds the address.
fn ip_record(ip: Ipv4Addr, (namespace, name): &(String, String)) -> serde_json::Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IPAddress",
        "metadata": {
            "name": ip.to_string(),
            "labels": {"ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io"},
        },
        "spec": {"parentRef": {"group": "", "resource": "services", "namespace": namespace, "name": name}},
    })
}

fn port_record((namespace, name): &(String, String)) -> serde_json::Value {
    json!({"service": {"namespace": namespace, "name": name}})
}

fn invalid_service(
    (_, name): &(String, String),
    path: &FieldPath,
    value: impl serde::Serialize,
    message: String,
) -> Status {
    let error = FieldError::invalid(
        path.clone(),
        serde_json::to_value(value).unwrap_or_default(),
        message,
    );
    Status::invalid("", "Service", name, &[error])
}

/// A random number below `bound` (at least 1).
fn random_below(bound: u64) -> u64 {
    rand::random_range(0..bound.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(spec: serde_json::Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": spec}))
            .expect("a Service")
    }

    fn refusal(spec: serde_json::Value) -> Option<(String, String)> {
        let mut service = service(spec);
        let parent = ("default".to_owned(), "web".to_owned());
        single_stack_families_only(&mut service, &FieldPath::new("spec"), &parent)
            .err()
            .map(|status| {
                let cause = &status.details.expect("details").causes[0];
                (cause.field.clone(), cause.message.clone())
            })
    }

    #[test]
    fn a_preferred_dual_stack_service_naming_ipv6_is_refused_like_any_other() {
        // The documentation's dual-stack examples, on a cluster that serves IPv4 only.
        for (families, index) in [
            (json!(["IPv6"]), 0),
            (json!(["IPv6", "IPv4"]), 0),
            (json!(["IPv4", "IPv6"]), 1),
        ] {
            let refused =
                refusal(json!({"ipFamilyPolicy": "PreferDualStack", "ipFamilies": families}));
            let (field, message) = refused.expect("refused");
            assert_eq!(field, format!("spec.ipFamilies[{index}]"), "{families}");
            assert_eq!(
                message, "Invalid value: \"IPv6\": not configured on this cluster",
                "{families}"
            );
        }
    }

    #[test]
    fn ipv4_services_pass_whatever_their_policy_and_required_dual_stack_is_refused() {
        for policy in ["SingleStack", "PreferDualStack"] {
            assert_eq!(
                refusal(json!({"ipFamilyPolicy": policy, "ipFamilies": ["IPv4"]})),
                None
            );
        }
        let (field, message) =
            refusal(json!({"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv4"]}))
                .expect("refused");
        assert_eq!(field, "spec.ipFamilyPolicy");
        assert!(
            message.contains("not configured for dual-stack"),
            "{message}"
        );
    }
}
