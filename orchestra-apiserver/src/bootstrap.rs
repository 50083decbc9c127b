//! What a new cluster holds before anyone writes to it, as Kubernetes' API server creates it at
//! start-up: the system namespaces (`default`, `kube-system`, `kube-public`,
//! `kube-node-lease`); the `kubernetes` Service in `default` on the first address of the service
//! CIDR, with Endpoints and an EndpointSlice pointing at this server; and the PriorityClasses
//! `system-cluster-critical` and `system-node-critical`.
//!
//! Each start creates what is missing and corrects the `kubernetes` endpoints when the server
//! moved; it never deletes or overwrites anything else a user changed. Kubernetes refuses
//! loopback addresses in endpoints, so a server advertising a loopback address (the default
//! `127.0.0.1:6443`) gives the `kubernetes` Service no endpoints.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Endpoints, Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use orchestra_api::{
    ArcObject, Client, GetParams, Object, PostParams, ResourceKind, Status, kinds,
};
use serde_json::json;

/// The namespaces Kubernetes creates at start-up.
pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// The built-in PriorityClasses: name and value.
pub const SYSTEM_PRIORITY_CLASSES: [(&str, i32); 2] = [
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

/// Where the `kubernetes` Service points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiServerEndpoint {
    /// The Service's cluster IP: the first address of the service CIDR.
    pub service_ip: Ipv4Addr,
    /// The address clients reach this server at.
    pub advertise: SocketAddr,
}

/// Creates every built-in object that does not exist yet; see the [module docs](self).
pub async fn ensure_builtin_objects(
    client: &dyn Client,
    endpoint: ApiServerEndpoint,
) -> Result<(), Status> {
    ensure_system_namespaces(client).await?;
    for (name, value) in SYSTEM_PRIORITY_CLASSES {
        let class: PriorityClass = typed(json!({
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "description": "Used for system critical pods that must not be moved from their current node.",
        }))?;
        create_if_absent(client, &kinds::PRIORITY_CLASSES, None, class).await?;
    }
    let service: Service = typed(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": "kubernetes", "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": endpoint.service_ip.to_string(),
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": endpoint.advertise.port()}],
            "sessionAffinity": "None",
        },
    }))?;
    create_if_absent(client, &kinds::SERVICES, Some("default"), service).await?;

    let advertised = endpoint.advertise.ip();
    if advertised.is_loopback() || advertised.is_unspecified() {
        tracing::info!(%advertised, "the kubernetes Service gets no endpoints: the server does not advertise a routable address");
        return Ok(());
    }
    let ip = advertised.to_string();
    let port = endpoint.advertise.port();
    let endpoints: Endpoints = typed(json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {
            "name": "kubernetes", "namespace": "default",
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
        },
        "subsets": [{
            "addresses": [{"ip": ip}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }],
    }))?;
    reconcile(client, &kinds::ENDPOINTS, endpoints, |e: &Endpoints| {
        serde_json::to_value(&e.subsets).unwrap_or_default()
    })
    .await?;
    let slice: EndpointSlice = typed(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {
            "name": "kubernetes", "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }))?;
    reconcile(
        client,
        &kinds::ENDPOINT_SLICES,
        slice,
        |s: &EndpointSlice| json!([s.endpoints, s.ports]),
    )
    .await
}

/// Creates the system namespaces that do not exist yet.
pub async fn ensure_system_namespaces(client: &dyn Client) -> Result<(), Status> {
    for name in SYSTEM_NAMESPACES {
        let mut namespace = Namespace::default();
        namespace.metadata.name = Some(name.to_owned());
        create_if_absent(client, &kinds::NAMESPACES, None, namespace).await?;
    }
    Ok(())
}

fn typed<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, Status> {
    serde_json::from_value(value).map_err(Status::internal)
}

async fn create_if_absent<T: Object>(
    client: &dyn Client,
    kind: &ResourceKind,
    namespace: Option<&str>,
    object: T,
) -> Result<(), Status> {
    let name = object.metadata().name.clone().unwrap_or_default();
    // Look before creating: a create would allocate (a Service's cluster IP) before it finds
    // the name taken.
    match client
        .get(kind, namespace, &name, &GetParams::default())
        .await
    {
        Ok(_) => return Ok(()),
        Err(status) if status.code == 404 => {}
        Err(status) => return Err(status),
    }
    match client
        .create(
            kind,
            namespace,
            Arc::new(object) as ArcObject,
            &PostParams::default(),
        )
        .await
    {
        Ok(_) => {
            tracing::info!(kind = %kind.kind, name, "created built-in object");
            Ok(())
        }
        Err(status) if status.code == 409 => Ok(()),
        Err(status) => Err(status),
    }
}

/// Creates `desired` in `default`, or replaces the stored one when `content` differs (the
/// server moved).
async fn reconcile<T: Object + Clone>(
    client: &dyn Client,
    kind: &ResourceKind,
    desired: T,
    content: impl Fn(&T) -> serde_json::Value,
) -> Result<(), Status> {
    let name = desired.metadata().name.clone().unwrap_or_default();
    let current = match client
        .get(kind, Some("default"), &name, &GetParams::default())
        .await
    {
        Ok(current) => current,
        Err(status) if status.code == 404 => {
            return create_if_absent(client, kind, Some("default"), desired).await;
        }
        Err(status) => return Err(status),
    };
    let Some(current) = current.as_any().downcast_ref::<T>() else {
        return Err(Status::internal(format!("{name} is not a {}", kind.kind)));
    };
    if content(current) == content(&desired) {
        return Ok(());
    }
    let mut updated = desired;
    updated.metadata_mut().resource_version = current.metadata().resource_version.clone();
    client
        .replace(
            kind,
            Some("default"),
            &name,
            None,
            Arc::new(updated) as ArcObject,
            &PostParams::default(),
        )
        .await?;
    tracing::info!(kind = %kind.kind, name, "updated the API server's endpoints");
    Ok(())
}
