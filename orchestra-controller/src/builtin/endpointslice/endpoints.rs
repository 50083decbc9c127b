//! The legacy `Endpoints` mirror, as Kubernetes' endpoints controller writes it: one
//! `Endpoints` object per Service with a selector, named after the Service, whose subsets
//! group the pods' addresses (ready ones in `addresses`, the others in `notReadyAddresses`)
//! by the ports they serve. Older clients and tools that still read `Endpoints` see the same
//! pods as the EndpointSlices.
//!
//! Unlike EndpointSlices, `Endpoints` carry no owner reference, so the controller deletes
//! them itself: when it sees a Service deleted, and — once at start — every `Endpoints`
//! object left without a Service (except leader-election records).

use std::collections::BTreeMap;
use std::sync::Arc;

use orchestra_api::k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Pod, Service,
};
use orchestra_api::{Api, Client, DeleteParams, PostParams, Preconditions, Status, StatusReason};

use super::LABEL_HEADLESS;
use super::endpoint::{
    AddressType, find_port, is_service_ip_set, pod_ips, pod_reference, publishes_not_ready,
    should_be_in_endpoints, should_set_hostname,
};
use crate::builtin::pod_state;
use crate::events::{EventType, Recorder};
use crate::informer::{Cache, HandlerFns, Informer, ObjectKey};
use crate::workqueue::{WorkQueue, default_controller_rate_limiter};

/// At most this many addresses are written to one `Endpoints` object (Kubernetes'
/// `maxCapacity`); the rest are left out and the object is annotated as truncated.
pub const MAX_CAPACITY: usize = 1000;
/// The annotation marking an `Endpoints` object that holds fewer addresses than exist.
pub const ANNOTATION_OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
/// The annotation of leader-election records kept in `Endpoints`; such objects are never
/// cleaned up.
pub const ANNOTATION_LEADER: &str = "control-plane.alpha.kubernetes.io/leader";

/// The address of `pod` for the Service: its IP of the Service's primary family (the first of
/// `ipFamilies`, else the cluster IP's, else — headless — the pod IP's own), its node and a
/// reference to it. `None` if the pod has no IP of that family.
pub fn pod_address(service: &Service, pod: &Pod) -> Option<EndpointAddress> {
    let ips = pod_ips(pod);
    let spec = service.spec.as_ref();
    let family = match spec
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first())
        .and_then(|f| AddressType::parse(f))
    {
        Some(family) => family,
        None if is_service_ip_set(service) => spec
            .and_then(|s| s.cluster_ip.as_deref())
            .and_then(|ip| ip.parse().ok())
            .map_or(AddressType::IPv4, |ip| AddressType::of(&ip)),
        None => ips.first().map_or(AddressType::IPv4, AddressType::of),
    };
    let ip = ips.into_iter().find(|ip| AddressType::of(ip) == family)?;
    let hostname = should_set_hostname(pod, service)
        .then(|| pod.spec.as_ref().and_then(|s| s.hostname.clone()))
        .flatten();
    Some(EndpointAddress {
        ip: ip.to_string(),
        hostname,
        node_name: Some(
            pod.spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default(),
        ),
        target_ref: Some(pod_reference(pod)),
    })
}

/// Identifies an address across subsets: its IP and the uid of the pod behind it.
type AddressKey = (String, Option<String>);
/// Identifies a port (`None`: the port-less sentinel of a headless Service without ports).
type PortKey = Option<(Option<String>, i32, Option<String>, Option<String>)>;

fn address_key(address: &EndpointAddress) -> AddressKey {
    (
        address.ip.clone(),
        address.target_ref.as_ref().and_then(|r| r.uid.clone()),
    )
}

fn port_key(port: &EndpointPort) -> (Option<String>, i32, Option<String>, Option<String>) {
    (
        port.name.clone(),
        port.port,
        port.protocol.clone(),
        port.app_protocol.clone(),
    )
}

/// Builds subsets from addresses and the ports each serves, grouped as Kubernetes'
/// `RepackSubsets` does: addresses that serve the same ports (with the same readiness) share
/// one subset. An address not ready on a port stays not ready there. Addresses and ports are
/// sorted, so equal contents give equal subsets.
fn repack(entries: Vec<(EndpointAddress, bool, Option<EndpointPort>)>) -> Vec<EndpointSubset> {
    let mut addresses: BTreeMap<AddressKey, EndpointAddress> = BTreeMap::new();
    let mut ports: BTreeMap<PortKey, Option<EndpointPort>> = BTreeMap::new();
    let mut served: BTreeMap<PortKey, BTreeMap<AddressKey, bool>> = BTreeMap::new();
    for (address, ready, port) in entries {
        let key = address_key(&address);
        let port_key = port.as_ref().map(port_key);
        addresses.entry(key.clone()).or_insert(address);
        ports.entry(port_key.clone()).or_insert(port);
        served
            .entry(port_key)
            .or_default()
            .entry(key)
            .and_modify(|was_ready| *was_ready &= ready)
            .or_insert(ready);
    }
    let mut by_addresses: BTreeMap<Vec<(AddressKey, bool)>, Vec<EndpointPort>> = BTreeMap::new();
    for (port_key, set) in served {
        let group = by_addresses.entry(set.into_iter().collect()).or_default();
        if let Some(Some(port)) = ports.get(&port_key) {
            group.push(port.clone());
        }
    }
    by_addresses
        .into_iter()
        .map(|(set, mut group_ports)| {
            group_ports.sort_by_key(port_key);
            let pick = |want_ready: bool| {
                let list: Vec<EndpointAddress> = set
                    .iter()
                    .filter(|(_, ready)| *ready == want_ready)
                    .map(|(key, _)| addresses[key].clone())
                    .collect();
                (!list.is_empty()).then_some(list)
            };
            EndpointSubset {
                addresses: pick(true),
                not_ready_addresses: pick(false),
                ports: (!group_ports.is_empty()).then_some(group_ports),
            }
        })
        .collect()
}

/// The subsets of the Service's `Endpoints` from its selected pods (every pod given must match
/// the selector).
pub fn desired_subsets(service: &Service, pods: &[Arc<Pod>]) -> Vec<EndpointSubset> {
    let publish_not_ready = publishes_not_ready(service);
    let spec = service.spec.as_ref();
    let service_ports = spec.and_then(|s| s.ports.as_deref()).unwrap_or_default();
    let headless = spec.and_then(|s| s.cluster_ip.as_deref()) == Some("None");
    let mut entries = Vec::new();
    for pod in pods {
        if !should_be_in_endpoints(pod, publish_not_ready) {
            continue;
        }
        let Some(address) = pod_address(service, pod) else {
            continue;
        };
        let ready = publish_not_ready || pod_state::is_ready(pod);
        if service_ports.is_empty() {
            if headless {
                entries.push((address, ready, None));
            }
            continue;
        }
        for service_port in service_ports {
            let Some(number) = find_port(pod, service_port) else {
                continue;
            };
            let port = EndpointPort {
                name: service_port.name.clone(),
                port: number,
                protocol: Some(
                    service_port
                        .protocol
                        .clone()
                        .unwrap_or_else(|| "TCP".to_owned()),
                ),
                app_protocol: service_port.app_protocol.clone(),
            };
            entries.push((address.clone(), ready, Some(port)));
        }
    }
    repack(entries)
}

/// Keeps at most [`MAX_CAPACITY`] addresses, ready ones first, taken from each subset in
/// proportion to its size (Kubernetes' `truncateEndpoints`). Whether anything was cut.
pub fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let count = |list: &Option<Vec<EndpointAddress>>| list.as_ref().map_or(0, Vec::len);
    let ready: usize = subsets.iter().map(|s| count(&s.addresses)).sum();
    let not_ready: usize = subsets.iter().map(|s| count(&s.not_ready_addresses)).sum();
    if ready + not_ready <= MAX_CAPACITY {
        return false;
    }
    let truncate_ready = ready > MAX_CAPACITY;
    let (max, total) = if truncate_ready {
        (MAX_CAPACITY, ready)
    } else {
        (MAX_CAPACITY - ready, not_ready)
    };
    let mut room = max;
    for subset in subsets.iter_mut() {
        let list = if truncate_ready {
            &mut subset.addresses
        } else {
            &mut subset.not_ready_addresses
        };
        let size = count(list);
        let share = (size * max).div_ceil(total.max(1)).min(room);
        if let Some(addresses) = list.as_mut() {
            addresses.truncate(share);
        }
        room -= count(list);
        if truncate_ready {
            subset.not_ready_addresses = None;
        }
    }
    true
}

/// Subsets in a canonical order (addresses, ports and subsets sorted), so two lists with the
/// same contents compare equal whatever order they were written in. Target references are
/// compared without their resourceVersion.
fn canonical(subsets: &[EndpointSubset]) -> Vec<EndpointSubset> {
    let sort_addresses = |list: &Option<Vec<EndpointAddress>>| {
        list.as_ref()
            .map(|addresses| {
                let mut addresses: Vec<EndpointAddress> = addresses
                    .iter()
                    .map(|a| {
                        let mut a = a.clone();
                        if let Some(r) = a.target_ref.as_mut() {
                            r.resource_version = None;
                        }
                        a
                    })
                    .collect();
                addresses.sort_by_key(address_key);
                addresses
            })
            .filter(|a| !a.is_empty())
    };
    let mut subsets: Vec<EndpointSubset> = subsets
        .iter()
        .map(|s| EndpointSubset {
            addresses: sort_addresses(&s.addresses),
            not_ready_addresses: sort_addresses(&s.not_ready_addresses),
            ports: s
                .ports
                .as_ref()
                .map(|ports| {
                    let mut ports = ports.clone();
                    ports.sort_by_key(port_key);
                    ports
                })
                .filter(|p| !p.is_empty()),
        })
        .collect();
    subsets.sort_by_key(|s| {
        let first = |list: &Option<Vec<EndpointAddress>>| {
            list.as_ref().and_then(|l| l.first()).map(address_key)
        };
        (
            first(&s.addresses),
            first(&s.not_ready_addresses),
            s.ports.iter().flatten().map(port_key).collect::<Vec<_>>(),
        )
    });
    subsets
}

/// Whether a failed write was refused because the namespace is being deleted (nothing to do:
/// the namespace controller removes everything in it).
pub(super) fn namespace_terminating(status: &Status) -> bool {
    status
        .details
        .as_ref()
        .is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating"))
}

/// What the endpoints controller's reconciles share.
pub(super) struct EndpointsContext {
    pub(super) client: Arc<dyn Client>,
    pub(super) pods: Cache<Pod>,
    pub(super) endpoints: Cache<Endpoints>,
    pub(super) recorder: Recorder,
}

/// Brings the Service's `Endpoints` in line with its pods.
pub(super) async fn reconcile(
    service: Arc<Service>,
    ctx: Arc<EndpointsContext>,
) -> Result<crate::controller::Action, Status> {
    use crate::controller::Action;

    let key = ObjectKey::of(&*service);
    if super::is_apiserver_service(&key) || !super::endpoint::has_managed_endpoints(&service) {
        return Ok(Action::await_change());
    }
    let namespace = key.namespace.clone().unwrap_or_default();
    let pods = super::selected_pods(&ctx.pods, &service);
    let mut subsets = desired_subsets(&service, &pods);

    let current = ctx.endpoints.get(Some(&namespace), &key.name);
    let mut service_labels = service.metadata.labels.clone().unwrap_or_default();
    if let Some(current) = current.as_deref() {
        let mut current_labels = current.metadata.labels.clone().unwrap_or_default();
        current_labels.remove(LABEL_HEADLESS);
        let current_subsets = current.subsets.as_deref().unwrap_or_default();
        let count: usize = current_subsets
            .iter()
            .map(|s| {
                s.addresses.as_ref().map_or(0, Vec::len)
                    + s.not_ready_addresses.as_ref().map_or(0, Vec::len)
            })
            .sum();
        let annotated = current
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(ANNOTATION_OVER_CAPACITY));
        let capacity_annotation_right = count <= MAX_CAPACITY && !annotated;
        if canonical(current_subsets) == canonical(&subsets)
            && current_labels == service_labels
            && capacity_annotation_right
        {
            return Ok(Action::await_change());
        }
    }

    let mut endpoints = match current.as_deref() {
        Some(current) => current.clone(),
        None => {
            let mut endpoints = Endpoints::default();
            endpoints.metadata.name = Some(key.name.clone());
            endpoints.metadata.namespace = Some(namespace.clone());
            endpoints
        }
    };
    let annotations = endpoints
        .metadata
        .annotations
        .get_or_insert_with(Default::default);
    if truncate(&mut subsets) {
        annotations.insert(ANNOTATION_OVER_CAPACITY.to_owned(), "truncated".to_owned());
    } else {
        annotations.remove(ANNOTATION_OVER_CAPACITY);
    }
    if annotations.is_empty() {
        endpoints.metadata.annotations = None;
    }
    if is_service_ip_set(&service) {
        service_labels.remove(LABEL_HEADLESS);
    } else {
        service_labels.insert(LABEL_HEADLESS.to_owned(), String::new());
    }
    endpoints.metadata.labels = Some(service_labels);
    endpoints.subsets = (!subsets.is_empty()).then_some(subsets);

    let api = Api::<Endpoints>::namespaced(Arc::clone(&ctx.client), &namespace);
    let written = match current {
        None => api.create(&PostParams::default(), &endpoints).await,
        Some(_) => {
            api.replace(&key.name, &PostParams::default(), &endpoints)
                .await
        }
    };
    match written {
        Ok(_) => Ok(Action::await_change()),
        Err(status) if current.is_none() && namespace_terminating(&status) => {
            Ok(Action::await_change())
        }
        Err(status) => {
            let (reason, verb) = if current.is_none() {
                ("FailedToCreateEndpoint", "create")
            } else {
                ("FailedToUpdateEndpoint", "update")
            };
            let note = format!("Failed to {verb} endpoint for service {key}: {status}");
            if let Err(error) = ctx
                .recorder
                .publish_about(&endpoints, EventType::Warning, reason, &note)
                .await
            {
                tracing::debug!(%error, "could not record the failure as an Event");
            }
            Err(status)
        }
    }
}

/// Whether the `Endpoints` object is a leader-election record, which has no Service.
fn is_leader_record(endpoints: &Endpoints) -> bool {
    endpoints
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(ANNOTATION_LEADER))
}

/// Deletes the `Endpoints` of Services that are gone: every leftover at start, then those of
/// each Service deleted while it runs. Runs until dropped.
pub(super) async fn clean_up_orphans(
    client: Arc<dyn Client>,
    services: Informer<Service>,
    endpoints: Informer<Endpoints>,
) {
    services.start();
    endpoints.start();
    if services.wait_synced().await.is_err() || endpoints.wait_synced().await.is_err() {
        tracing::warn!("the informers stopped before they synced; no Endpoints clean-up");
        return;
    }
    let queue: WorkQueue<ObjectKey> = WorkQueue::builder()
        .name("endpoints-cleanup")
        .rate_limiter(default_controller_rate_limiter())
        .build();
    let registration = {
        let queue = queue.clone();
        services.add_handler(HandlerFns::new().on_delete(move |service: &Arc<Service>| {
            queue.add(ObjectKey::of(&**service));
        }))
    };
    struct Unregister(crate::informer::HandlerRegistration, WorkQueue<ObjectKey>);
    impl Drop for Unregister {
        fn drop(&mut self) {
            self.0.remove();
            self.1.shut_down();
        }
    }
    let _unregister = Unregister(registration, queue.clone());

    for leftover in endpoints.cache().list() {
        if !is_leader_record(&leftover) {
            queue.add(ObjectKey::of(&*leftover));
        }
    }
    let services = services.cache();
    let endpoints = endpoints.cache();
    while let Some(key) = queue.get().await {
        let result = delete_orphan(&client, &services, &endpoints, &key).await;
        match result {
            Ok(()) => queue.forget(&key),
            Err(status) => {
                tracing::warn!(endpoints = %key, %status, "could not delete the Endpoints of a deleted Service; retrying");
                queue.add_rate_limited(key.clone());
            }
        }
        queue.done(&key);
    }
}

/// Deletes the `Endpoints` named `key` if its Service does not exist (and it is neither a
/// leader-election record nor the API server's own).
async fn delete_orphan(
    client: &Arc<dyn Client>,
    services: &Cache<Service>,
    endpoints: &Cache<Endpoints>,
    key: &ObjectKey,
) -> Result<(), Status> {
    if super::is_apiserver_service(key) || services.get_by_key(key).is_some() {
        return Ok(());
    }
    let Some(orphan) = endpoints.get_by_key(key) else {
        return Ok(());
    };
    if is_leader_record(&orphan) {
        return Ok(());
    }
    let namespace = key.namespace.as_deref().unwrap_or_default();
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: orphan.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match Api::<Endpoints>::namespaced(Arc::clone(client), namespace)
        .delete(&key.name, &params)
        .await
    {
        Ok(_) => {
            tracing::debug!(endpoints = %key, "deleted the Endpoints of a deleted Service");
            Ok(())
        }
        Err(status) if status.is(&StatusReason::NotFound) || status.is(&StatusReason::Conflict) => {
            Ok(())
        }
        Err(status) => Err(status),
    }
}

#[cfg(test)]
mod tests {
    use orchestra_api::k8s_openapi::api::core::v1::ObjectReference;

    use super::*;

    fn address(ip: &str) -> EndpointAddress {
        EndpointAddress {
            ip: ip.into(),
            target_ref: Some(ObjectReference {
                uid: Some(format!("uid-{ip}")),
                ..ObjectReference::default()
            }),
            ..EndpointAddress::default()
        }
    }

    fn port(name: &str, number: i32) -> EndpointPort {
        EndpointPort {
            name: Some(name.into()),
            port: number,
            protocol: Some("TCP".into()),
            app_protocol: None,
        }
    }

    #[test]
    fn repack_groups_addresses_serving_the_same_ports() {
        let subsets = repack(vec![
            (address("10.0.0.1"), true, Some(port("http", 80))),
            (address("10.0.0.1"), true, Some(port("metrics", 9090))),
            (address("10.0.0.2"), false, Some(port("http", 80))),
            (address("10.0.0.2"), false, Some(port("metrics", 9090))),
            (address("10.0.0.3"), true, Some(port("http", 8080))),
        ]);
        assert_eq!(subsets.len(), 2, "{subsets:?}");
        let both = subsets
            .iter()
            .find(|s| s.ports.as_ref().unwrap().len() == 2)
            .unwrap();
        assert_eq!(both.addresses.as_ref().unwrap()[0].ip, "10.0.0.1");
        assert_eq!(both.not_ready_addresses.as_ref().unwrap()[0].ip, "10.0.0.2");
    }

    #[test]
    fn truncation_keeps_ready_addresses_first() {
        let many = |from: usize, n: usize| {
            (from..from + n)
                .map(|i| address(&format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256)))
                .collect::<Vec<_>>()
        };
        let mut subsets = vec![EndpointSubset {
            addresses: Some(many(0, 900)),
            not_ready_addresses: Some(many(900, 300)),
            ports: Some(vec![port("http", 80)]),
        }];
        assert!(truncate(&mut subsets));
        assert_eq!(subsets[0].addresses.as_ref().unwrap().len(), 900);
        assert_eq!(subsets[0].not_ready_addresses.as_ref().unwrap().len(), 100);
        let mut small = subsets.clone();
        assert!(!truncate(&mut small));
    }

    #[test]
    fn canonical_order_ignores_how_subsets_were_written() {
        let a = EndpointSubset {
            addresses: Some(vec![address("10.0.0.2"), address("10.0.0.1")]),
            not_ready_addresses: None,
            ports: Some(vec![port("b", 2), port("a", 1)]),
        };
        let b = EndpointSubset {
            addresses: Some(vec![address("10.0.0.1"), address("10.0.0.2")]),
            not_ready_addresses: Some(vec![]),
            ports: Some(vec![port("a", 1), port("b", 2)]),
        };
        assert_eq!(canonical(&[a]), canonical(&[b]));
    }
}
