//! Planning a Service's EndpointSlices: from the slices that exist and the endpoints that
//! should, which slices to create, update and delete — Kubernetes' EndpointSlice reconciler,
//! as a pure function so its packing rules are tested without a cluster.
//!
//! Endpoints are grouped by address type and by their set of ports (pods whose named target
//! ports resolve to different numbers land in different slices). Within a group, as in
//! Kubernetes:
//!
//! 1. every existing slice keeps the endpoints still desired (refreshed where they changed)
//!    and drops the others; a slice left empty is deleted;
//! 2. slices already being updated are filled up with the endpoints still to place, fullest
//!    first, up to the maximum per slice;
//! 3. what remains goes into the unchanged slice it fits best when fewer than a slice's worth
//!    remain, else into new slices.
//!
//! Slices of a port set no longer wanted are deleted, a Service with no endpoints keeps one
//! empty placeholder slice per address type, and a slice about to be created reuses (updates in
//! place) one about to be deleted, so churn changes slices instead of recreating them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use orchestra_api::k8s_openapi::api::core::v1::{ObjectReference, Service};
use orchestra_api::k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::endpoint::{AddressType, is_service_ip_set};
use super::{CONTROLLER_NAME, LABEL_HEADLESS, LABEL_MANAGED_BY, LABEL_SERVICE_NAME};
use crate::builtin::ownership::controller_reference;

/// What to write so that a Service's slices hold its desired endpoints.
#[derive(Debug, Default, Clone)]
pub struct SlicePlan {
    /// New slices (named by the server from `generateName`).
    pub create: Vec<EndpointSlice>,
    /// Existing slices with new content; each carries the `resourceVersion` it was read at.
    pub update: Vec<EndpointSlice>,
    /// Slices to delete.
    pub delete: Vec<Arc<EndpointSlice>>,
}

impl SlicePlan {
    /// Whether nothing needs to be written.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }

    fn extend(&mut self, other: SlicePlan) {
        self.create.extend(other.create);
        self.update.extend(other.update);
        self.delete.extend(other.delete);
    }
}

/// One endpoint the Service should publish, with the ports it is reached on.
#[derive(Debug, Clone)]
pub struct DesiredEndpoint {
    /// The resolved ports (the slice's `ports`).
    pub ports: Vec<EndpointPort>,
    /// The endpoint.
    pub endpoint: Endpoint,
}

/// What identifies an endpoint across syncs (Kubernetes' endpoint hash): its addresses, its
/// hostname and the pod it refers to. The other fields may change in place.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointKey {
    addresses: Vec<String>,
    hostname: Option<String>,
    target: Option<(Option<String>, Option<String>)>,
}

impl EndpointKey {
    /// The key of `endpoint`.
    pub fn of(endpoint: &Endpoint) -> Self {
        let mut addresses = endpoint.addresses.clone();
        addresses.sort();
        Self {
            addresses,
            hostname: endpoint.hostname.clone(),
            target: endpoint
                .target_ref
                .as_ref()
                .map(|t| (t.namespace.clone(), t.name.clone())),
        }
    }
}

/// One port's name, number, protocol and application protocol.
type PortFields = (Option<String>, Option<i32>, Option<String>, Option<String>);

/// What identifies a set of ports, whatever their order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortsKey(Vec<PortFields>);

impl PortsKey {
    /// The key of `ports`.
    pub fn of(ports: &[EndpointPort]) -> Self {
        let mut key: Vec<_> = ports
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    p.port,
                    p.protocol.clone(),
                    p.app_protocol.clone(),
                )
            })
            .collect();
        key.sort();
        Self(key)
    }
}

/// A target reference without its `resourceVersion`, for comparisons.
fn reference_without_version(reference: Option<&ObjectReference>) -> Option<ObjectReference> {
    reference.map(|r| ObjectReference {
        resource_version: None,
        ..r.clone()
    })
}

/// Whether two endpoints with the same [`EndpointKey`] are equal in everything else the
/// controller writes: node, zone, conditions and target (ignoring its resourceVersion).
pub fn equal_beyond_key(a: &Endpoint, b: &Endpoint) -> bool {
    let conditions = |e: &Endpoint| {
        let c = e.conditions.clone().unwrap_or_default();
        (c.ready, c.serving, c.terminating)
    };
    a.node_name == b.node_name
        && a.zone == b.zone
        && conditions(a) == conditions(b)
        && reference_without_version(a.target_ref.as_ref())
            == reference_without_version(b.target_ref.as_ref())
}

fn is_reserved_label(key: &str) -> bool {
    matches!(key, LABEL_SERVICE_NAME | LABEL_MANAGED_BY | LABEL_HEADLESS)
}

/// The labels a slice of `service` must carry — the Service's own labels, the headless label
/// when it has no cluster IP, its name and the managing controller — and whether the slice's
/// copy of the Service's labels differs from them.
pub fn slice_labels(
    slice_labels: Option<&BTreeMap<String, String>>,
    service: &Service,
) -> (BTreeMap<String, String>, bool) {
    let copied: BTreeMap<&String, &String> = slice_labels
        .into_iter()
        .flatten()
        .filter(|(k, _)| !is_reserved_label(k))
        .collect();
    let mut labels: BTreeMap<String, String> = service
        .metadata
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| !is_reserved_label(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let changed = copied.len() != labels.len()
        || copied
            .iter()
            .any(|(k, v)| labels.get(k.as_str()) != Some(*v));
    if !is_service_ip_set(service) {
        labels.insert(LABEL_HEADLESS.to_owned(), String::new());
    }
    labels.insert(
        LABEL_SERVICE_NAME.to_owned(),
        service.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(LABEL_MANAGED_BY.to_owned(), CONTROLLER_NAME.to_owned());
    (labels, changed)
}

/// Whether the slice is owned by this very Service (same uid), not by an earlier Service of
/// the same name.
pub fn owned_by(slice: &EndpointSlice, service: &Service) -> bool {
    let uid = service.metadata.uid.as_deref().unwrap_or_default();
    slice
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == uid && r.kind == "Service" && r.api_version == "v1")
}

/// A new, empty slice of `service` with these ports and address type.
pub fn new_slice(
    service: &Service,
    ports: &[EndpointPort],
    address_type: AddressType,
) -> EndpointSlice {
    let (labels, _) = slice_labels(None, service);
    let name = service.metadata.name.clone().unwrap_or_default();
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: service.metadata.namespace.clone(),
            labels: Some(labels),
            owner_references: Some(vec![controller_reference(service)]),
            ..ObjectMeta::default()
        },
        address_type: address_type.as_str().to_owned(),
        endpoints: Vec::new(),
        ports: Some(ports.to_vec()),
    }
}

/// Whether `slice` is, for the Service, exactly the placeholder `placeholder`: same
/// namespace, labels, owners and address type, no ports and no endpoints.
fn is_placeholder(slice: &EndpointSlice, placeholder: &EndpointSlice) -> bool {
    slice.metadata.namespace == placeholder.metadata.namespace
        && slice.metadata.labels.clone().unwrap_or_default()
            == placeholder.metadata.labels.clone().unwrap_or_default()
        && slice.metadata.owner_references.clone().unwrap_or_default()
            == placeholder
                .metadata
                .owner_references
                .clone()
                .unwrap_or_default()
        && slice.address_type == placeholder.address_type
        && slice.endpoints.is_empty()
        && slice.ports.as_ref().is_none_or(|p| p.is_empty())
}

/// Plans one group of endpoints that share a port set: steps 1–3 of the module docs.
fn plan_port_group(
    service: &Service,
    existing: &[Arc<EndpointSlice>],
    mut desired: BTreeMap<EndpointKey, Endpoint>,
    ports: &[EndpointPort],
    address_type: AddressType,
    max_per_slice: usize,
) -> SlicePlan {
    let mut plan = SlicePlan::default();
    let mut to_update: BTreeMap<String, EndpointSlice> = BTreeMap::new();
    let mut unchanged: BTreeMap<String, Arc<EndpointSlice>> = BTreeMap::new();

    // 1. Keep what is still desired, refreshed; drop the rest.
    for slice in existing {
        let name = slice.metadata.name.clone().unwrap_or_default();
        let mut kept = Vec::with_capacity(slice.endpoints.len());
        let mut endpoint_changed = false;
        for endpoint in &slice.endpoints {
            if let Some(wanted) = desired.remove(&EndpointKey::of(endpoint)) {
                endpoint_changed |= !equal_beyond_key(&wanted, endpoint);
                kept.push(wanted);
            }
        }
        let (labels, labels_changed) = slice_labels(slice.metadata.labels.as_ref(), service);
        if endpoint_changed || kept.len() != slice.endpoints.len() {
            if kept.is_empty() {
                plan.delete.push(Arc::clone(slice));
            } else {
                let mut changed = (**slice).clone();
                changed.endpoints = kept;
                changed.metadata.labels = Some(labels);
                to_update.insert(name, changed);
            }
        } else if labels_changed {
            let mut changed = (**slice).clone();
            changed.metadata.labels = Some(labels);
            to_update.insert(name, changed);
        } else {
            unchanged.insert(name, Arc::clone(slice));
        }
    }

    // 2. Fill the slices being updated anyway, fullest first.
    if !desired.is_empty() && !to_update.is_empty() {
        let mut names: Vec<String> = to_update.keys().cloned().collect();
        names.sort_by_key(|name| std::cmp::Reverse(to_update[name].endpoints.len()));
        for name in names {
            let slice = to_update
                .get_mut(&name)
                .expect("the name comes from the map");
            while slice.endpoints.len() < max_per_slice {
                let Some((_, endpoint)) = desired.pop_first() else {
                    break;
                };
                slice.endpoints.push(endpoint);
            }
        }
    }

    // 3. Fit the rest into the unchanged slice it fills best, or into new slices.
    while !desired.is_empty() {
        let best_fit = (desired.len() < max_per_slice)
            .then(|| slice_to_fill(&unchanged, desired.len(), max_per_slice))
            .flatten();
        let mut filling = match best_fit {
            Some(name) => {
                let slice = unchanged
                    .remove(&name)
                    .expect("the name comes from the map");
                (*slice).clone()
            }
            None => new_slice(service, ports, address_type),
        };
        while filling.endpoints.len() < max_per_slice {
            let Some((_, endpoint)) = desired.pop_first() else {
                break;
            };
            filling.endpoints.push(endpoint);
        }
        let filled = filling;
        match filled.metadata.name.clone() {
            Some(name) => {
                to_update.insert(name, filled);
            }
            None => plan.create.push(filled),
        }
    }

    plan.update.extend(to_update.into_values());
    plan
}

/// The unchanged slice that ends closest to full when `adding` endpoints are added, if any
/// has room.
fn slice_to_fill(
    unchanged: &BTreeMap<String, Arc<EndpointSlice>>,
    adding: usize,
    max_per_slice: usize,
) -> Option<String> {
    let mut best: Option<(usize, &String)> = None;
    for (name, slice) in unchanged {
        let filled = slice.endpoints.len() + adding;
        let Some(room_left) = max_per_slice.checked_sub(filled) else {
            continue;
        };
        if best.is_none_or(|(best_room, _)| room_left < best_room) {
            best = Some((room_left, name));
            if room_left == 0 {
                break;
            }
        }
    }
    best.map(|(_, name)| name.clone())
}

/// Plans the slices of one address type. `existing` are the Service's managed slices of that
/// type; `desired` the endpoints it should publish in them.
pub fn plan_address_type(
    service: &Service,
    address_type: AddressType,
    existing: &[Arc<EndpointSlice>],
    desired: Vec<DesiredEndpoint>,
    max_per_slice: usize,
) -> SlicePlan {
    let max_per_slice = max_per_slice.max(1);
    let mut plan = SlicePlan::default();

    let mut existing_by_ports: BTreeMap<PortsKey, Vec<Arc<EndpointSlice>>> = BTreeMap::new();
    for slice in existing {
        if owned_by(slice, service) {
            let ports = slice.ports.as_deref().unwrap_or_default();
            existing_by_ports
                .entry(PortsKey::of(ports))
                .or_default()
                .push(Arc::clone(slice));
        } else {
            plan.delete.push(Arc::clone(slice));
        }
    }

    let mut desired_by_ports: BTreeMap<
        PortsKey,
        (Vec<EndpointPort>, BTreeMap<EndpointKey, Endpoint>),
    > = BTreeMap::new();
    for DesiredEndpoint { ports, endpoint } in desired {
        if endpoint.addresses.is_empty() {
            continue;
        }
        let group = desired_by_ports
            .entry(PortsKey::of(&ports))
            .or_insert_with(|| (ports, BTreeMap::new()));
        group.1.insert(EndpointKey::of(&endpoint), endpoint);
    }

    for (key, (ports, endpoints)) in desired_by_ports.iter() {
        let slices = existing_by_ports
            .get(key)
            .map(Vec::as_slice)
            .unwrap_or_default();
        plan.extend(plan_port_group(
            service,
            slices,
            endpoints.clone(),
            ports,
            address_type,
            max_per_slice,
        ));
    }
    for (key, slices) in &existing_by_ports {
        if !desired_by_ports.contains_key(key) {
            plan.delete.extend(slices.iter().cloned());
        }
    }

    // A Service without endpoints keeps one empty placeholder slice.
    if existing.len() == plan.delete.len() && plan.create.is_empty() {
        let placeholder = new_slice(service, &[], address_type);
        if plan.delete.len() == 1 && is_placeholder(&plan.delete[0], &placeholder) {
            plan.delete.clear();
        } else {
            plan.create.push(placeholder);
        }
    }

    reuse_deleted_slices(service, &mut plan);
    plan
}

/// Turns creations into updates of slices about to be deleted (same address type, owned by
/// this Service), keeping the deleted slice's identity and resourceVersion.
fn reuse_deleted_slices(service: &Service, plan: &mut SlicePlan) {
    let mut i = 0;
    while i < plan.delete.len() && !plan.create.is_empty() {
        let reusable = {
            let deleted = &plan.delete[i];
            let last = plan.create.last().expect("checked non-empty");
            deleted.address_type == last.address_type && owned_by(deleted, service)
        };
        if reusable {
            let deleted = plan.delete.remove(i);
            let created = plan.create.pop().expect("checked non-empty");
            let mut reused = (*deleted).clone();
            reused.metadata.labels = created.metadata.labels;
            reused.metadata.owner_references = created.metadata.owner_references;
            reused.ports = created.ports;
            reused.endpoints = created.endpoints;
            plan.update.push(reused);
        } else {
            i += 1;
        }
    }
}

/// Plans every slice of the Service: those of address types it no longer has are deleted;
/// each of its address types is planned with [`plan_address_type`]. `desired` maps each
/// address type of the Service to its endpoints.
pub fn plan(
    service: &Service,
    address_types: &BTreeSet<AddressType>,
    existing: &[Arc<EndpointSlice>],
    mut desired: BTreeMap<AddressType, Vec<DesiredEndpoint>>,
    max_per_slice: usize,
) -> SlicePlan {
    let mut plan = SlicePlan::default();
    let mut by_type: BTreeMap<AddressType, Vec<Arc<EndpointSlice>>> = BTreeMap::new();
    let mut unsupported = Vec::new();
    for slice in existing {
        match AddressType::parse(&slice.address_type) {
            Some(t) if address_types.contains(&t) => {
                by_type.entry(t).or_default().push(Arc::clone(slice))
            }
            _ => unsupported.push(Arc::clone(slice)),
        }
    }
    for address_type in address_types {
        let slices = by_type.remove(address_type).unwrap_or_default();
        let wanted = desired.remove(address_type).unwrap_or_default();
        plan.extend(plan_address_type(
            service,
            *address_type,
            &slices,
            wanted,
            max_per_slice,
        ));
    }
    plan.delete.extend(unsupported);
    plan
}

#[cfg(test)]
mod tests {
    use orchestra_api::k8s_openapi::api::discovery::v1::EndpointConditions;

    use super::*;

    fn service() -> Service {
        let mut service = Service::default();
        service.metadata.name = Some("web".into());
        service.metadata.namespace = Some("default".into());
        service.metadata.uid = Some("svc-uid".into());
        service
    }

    fn port(number: i32) -> EndpointPort {
        EndpointPort {
            name: Some("http".into()),
            port: Some(number),
            protocol: Some("TCP".into()),
            app_protocol: None,
        }
    }

    fn endpoint(i: usize, ready: bool) -> DesiredEndpoint {
        DesiredEndpoint {
            ports: vec![port(80)],
            endpoint: Endpoint {
                addresses: vec![format!("10.0.{}.{}", i / 250, i % 250 + 1)],
                conditions: Some(EndpointConditions {
                    ready: Some(ready),
                    serving: Some(ready),
                    terminating: Some(false),
                }),
                target_ref: Some(ObjectReference {
                    kind: Some("Pod".into()),
                    namespace: Some("default".into()),
                    name: Some(format!("web-{i}")),
                    ..ObjectReference::default()
                }),
                ..Endpoint::default()
            },
        }
    }

    /// The slices after applying `plan` to `existing`, with made-up names for new ones.
    fn apply(existing: &[Arc<EndpointSlice>], plan: SlicePlan) -> Vec<Arc<EndpointSlice>> {
        let deleted: BTreeSet<_> = plan
            .delete
            .iter()
            .map(|s| s.metadata.name.clone())
            .collect();
        let updated: BTreeMap<_, _> = plan
            .update
            .into_iter()
            .map(|s| (s.metadata.name.clone(), s))
            .collect();
        let mut slices: Vec<Arc<EndpointSlice>> = existing
            .iter()
            .filter(|s| !deleted.contains(&s.metadata.name))
            .map(|s| match updated.get(&s.metadata.name) {
                Some(new) => Arc::new(new.clone()),
                None => Arc::clone(s),
            })
            .collect();
        for (i, mut created) in plan.create.into_iter().enumerate() {
            created.metadata.name = Some(format!("web-new{}-{i}", slices.len()));
            slices.push(Arc::new(created));
        }
        slices
    }

    fn desired(n: usize) -> Vec<DesiredEndpoint> {
        (0..n).map(|i| endpoint(i, true)).collect()
    }

    #[test]
    fn endpoints_are_packed_at_most_max_per_slice() {
        let plan = plan_address_type(&service(), AddressType::IPv4, &[], desired(250), 100);
        let sizes: Vec<usize> = plan.create.iter().map(|s| s.endpoints.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        assert!(plan.update.is_empty() && plan.delete.is_empty());
        let slice = &plan.create[0];
        assert_eq!(slice.metadata.generate_name.as_deref(), Some("web-"));
        let labels = slice.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[LABEL_SERVICE_NAME], "web");
        assert_eq!(labels[LABEL_MANAGED_BY], CONTROLLER_NAME);
        assert!(owned_by(slice, &service()));
    }

    #[test]
    fn a_converged_service_plans_nothing() {
        let first = plan_address_type(&service(), AddressType::IPv4, &[], desired(150), 100);
        let slices = apply(&[], first);
        let again = plan_address_type(&service(), AddressType::IPv4, &slices, desired(150), 100);
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn a_readiness_change_updates_the_one_slice_holding_the_endpoint() {
        let slices = apply(
            &[],
            plan_address_type(&service(), AddressType::IPv4, &[], desired(150), 100),
        );
        let mut wanted = desired(150);
        wanted[120] = endpoint(120, false);
        let plan = plan_address_type(&service(), AddressType::IPv4, &slices, wanted, 100);
        assert!(plan.create.is_empty() && plan.delete.is_empty());
        assert_eq!(plan.update.len(), 1);
        let address = &endpoint(120, false).endpoint.addresses[0];
        let holder = slices
            .iter()
            .find(|s| s.endpoints.iter().any(|e| &e.addresses[0] == address))
            .unwrap();
        assert_eq!(plan.update[0].metadata.name, holder.metadata.name);
        assert_eq!(plan.update[0].endpoints.len(), holder.endpoints.len());
        let changed = plan.update[0]
            .endpoints
            .iter()
            .find(|e| &e.addresses[0] == address)
            .unwrap();
        assert_eq!(changed.conditions.as_ref().unwrap().ready, Some(false));
    }

    #[test]
    fn new_endpoints_fill_the_best_fitting_unchanged_slice() {
        let slices = apply(
            &[],
            plan_address_type(&service(), AddressType::IPv4, &[], desired(130), 100),
        );
        // 100 + 30: five more fit in the second slice.
        let plan = plan_address_type(&service(), AddressType::IPv4, &slices, desired(135), 100);
        assert!(plan.create.is_empty());
        assert_eq!(plan.update.len(), 1);
        assert_eq!(plan.update[0].endpoints.len(), 35);
    }

    #[test]
    fn no_endpoints_leave_one_placeholder_and_the_next_endpoints_reuse_it() {
        let plan = plan_address_type(&service(), AddressType::IPv4, &[], Vec::new(), 100);
        assert_eq!(plan.create.len(), 1);
        assert!(plan.create[0].endpoints.is_empty());
        let slices = apply(&[], plan);
        let again = plan_address_type(&service(), AddressType::IPv4, &slices, Vec::new(), 100);
        assert!(again.is_empty(), "the placeholder stays: {again:?}");

        let filled = plan_address_type(&service(), AddressType::IPv4, &slices, desired(3), 100);
        assert!(
            filled.create.is_empty() && filled.delete.is_empty(),
            "{filled:?}"
        );
        assert_eq!(filled.update.len(), 1);
        assert_eq!(filled.update[0].metadata.name, slices[0].metadata.name);
        assert_eq!(filled.update[0].endpoints.len(), 3);
        assert_eq!(filled.update[0].ports.as_deref(), Some(&[port(80)][..]));
    }

    #[test]
    fn pods_with_different_port_numbers_get_different_slices() {
        let mut wanted = desired(4);
        for d in &mut wanted[2..] {
            d.ports = vec![port(8080)];
        }
        let plan = plan_address_type(&service(), AddressType::IPv4, &[], wanted, 100);
        assert_eq!(plan.create.len(), 2);
        let ports: BTreeSet<i32> = plan
            .create
            .iter()
            .map(|s| s.ports.as_ref().unwrap()[0].port.unwrap())
            .collect();
        assert_eq!(ports, BTreeSet::from([80, 8080]));
    }

    #[test]
    fn slices_of_an_earlier_service_with_the_same_name_are_deleted() {
        let mut slices = apply(
            &[],
            plan_address_type(&service(), AddressType::IPv4, &[], desired(2), 100),
        );
        let mut stale = (*slices[0]).clone();
        stale.metadata.owner_references.as_mut().unwrap()[0].uid = "old-uid".into();
        slices[0] = Arc::new(stale);
        let plan = plan_address_type(&service(), AddressType::IPv4, &slices, desired(2), 100);
        assert_eq!(plan.delete.len(), 1);
        assert_eq!(
            plan.create.len(),
            1,
            "not reused: it belongs to another Service"
        );
    }
}
