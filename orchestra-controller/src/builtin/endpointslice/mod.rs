//! The EndpointSlice controller and the legacy Endpoints mirror: which pods stand behind each
//! Service, published for kube-proxy, DNS and every other consumer — as Kubernetes v1.33's
//! `endpointslice-controller` and `endpoints-controller` do.
//!
//! For every Service with a selector (and not of type `ExternalName`), the pods it selects
//! that have an IP become endpoints:
//!
//! - **Slices.** EndpointSlices labelled `kubernetes.io/service-name: <service>` and
//!   `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`, controlled by
//!   the Service through an owner reference (so the garbage collector removes them with it),
//!   one `addressType` per entry of the Service's `ipFamilies`, at most
//!   [`max_endpoints_per_slice`](EndpointSliceConfig::max_endpoints_per_slice) endpoints each.
//!   Each endpoint carries its pod's address, `nodeName`, `zone` (the node's
//!   `topology.kubernetes.io/zone` label), a `targetRef` to the pod, and the conditions
//!   `serving` (the pod is ready), `terminating` (it is being deleted) and `ready` (serving
//!   and not terminating, or always with `publishNotReadyAddresses`). Named target ports are
//!   resolved on each pod, so pods whose container port numbers differ for the same name go
//!   into different slices. Slices are updated in place where possible; the packing rules are
//!   in [`reconciler`].
//! - **Endpoints.** With [`endpoints_controller`](EndpointSliceConfig::endpoints_controller),
//!   the `Endpoints` object of the same name as the Service, in the legacy format
//!   ([`endpoints`]). The `kubernetes` Service in `default` is left to the API server.
//!
//! Services without a selector are left alone: their endpoints are written by whoever manages
//! them. Both controllers read pods, nodes and slices from the shared informers only; a pod
//! change reconciles the Services whose selector matches it (before or after the change).
//!
//! ```no_run
//! # fn demo(manager: &orchestra_controller::manager::Manager) {
//! use orchestra_controller::builtin::endpointslice::{self, EndpointSliceConfig};
//!
//! endpointslice::add_to(manager, EndpointSliceConfig {
//!     max_endpoints_per_slice: 500,
//!     ..EndpointSliceConfig::default()
//! });
//! # }
//! ```

pub mod endpoint;
pub mod endpoints;
pub mod reconciler;
pub mod tracker;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use orchestra_api::k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use orchestra_api::k8s_openapi::api::discovery::v1::EndpointSlice;
use orchestra_api::{Api, Client, DeleteParams, PostParams, Status, StatusReason};
use tokio::sync::OnceCell;

use self::endpoint::{
    address_types, endpoint_ports, has_managed_endpoints, pod_to_endpoint, publishes_not_ready,
    selects, should_be_in_endpoints,
};
use self::reconciler::{DesiredEndpoint, SlicePlan};
use self::tracker::SliceTracker;
use crate::controller::{Action, Controller, ReconcileError, Retry};
use crate::events::{EventType, Recorder, Reporter};
use crate::informer::{
    Cache, HandlerFns, HandlerRegistration, IndexError, Indexer, Informer, NAMESPACE_INDEX,
    ObjectKey,
};
use crate::manager::Manager;

/// The label naming the Service a slice belongs to.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The label naming the controller that manages a slice.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// The label marking the slices and Endpoints of a headless Service.
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
/// This controller's value of [`LABEL_MANAGED_BY`].
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";

/// The slice cache's index of managed slices by `namespace/service`.
const SLICES_BY_SERVICE_INDEX: &str = "endpointslice-controller.k8s.io/service";

/// How the EndpointSlice and Endpoints controllers run. The defaults are Kubernetes'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSliceConfig {
    /// At most this many endpoints per slice (`--max-endpoints-per-slice`, 100; between 1 and
    /// 1000).
    pub max_endpoints_per_slice: usize,
    /// Whether the EndpointSlice controller itself runs (the `endpointslice-controller`, on by
    /// default); off, only the legacy Endpoints are written (if
    /// [`endpoints_controller`](Self::endpoints_controller)).
    pub endpointslice_controller: bool,
    /// Services synced at once by the slice controller (`--concurrent-service-endpoint-syncs`,
    /// 5).
    pub workers: usize,
    /// Whether the legacy `Endpoints` are written too (the `endpoints-controller`, on by
    /// default).
    pub endpoints_controller: bool,
    /// Services synced at once by the Endpoints controller (`--concurrent-endpoint-syncs`, 5).
    pub endpoints_workers: usize,
}

impl Default for EndpointSliceConfig {
    fn default() -> Self {
        Self {
            max_endpoints_per_slice: 100,
            endpointslice_controller: true,
            workers: 5,
            endpoints_controller: true,
            endpoints_workers: 5,
        }
    }
}

/// Why a slice sync did not complete; it is retried with the queue's back-off.
#[derive(Debug, thiserror::Error)]
pub enum EndpointSliceError {
    /// The slice cache does not show this controller's last writes yet.
    #[error("the EndpointSlice cache is older than this controller's own writes")]
    StaleCache,
    /// Pods on nodes the node cache does not know were left out of the slices for now.
    #[error("left out pods whose node is not known yet: {0:?}")]
    NodesNotFound(Vec<String>),
    /// A write was refused.
    #[error(transparent)]
    Api(#[from] Status),
    /// An informer the controller reads stopped.
    #[error("an informer stopped")]
    InformerStopped,
}

impl ReconcileError for EndpointSliceError {
    fn status(&self) -> Option<&Status> {
        match self {
            Self::Api(status) => Some(status),
            _ => None,
        }
    }
}

/// Whether `key` is the `kubernetes` Service in `default`, whose endpoints the API server
/// writes.
pub(crate) fn is_apiserver_service(key: &ObjectKey) -> bool {
    key.namespace.as_deref() == Some("default") && key.name == "kubernetes"
}

/// The pods of the Service's namespace that its selector matches, by name.
pub(crate) fn selected_pods(pods: &Cache<Pod>, service: &Service) -> Vec<Arc<Pod>> {
    let namespace = service.metadata.namespace.as_deref().unwrap_or_default();
    pods.by_index(NAMESPACE_INDEX, namespace)
        .unwrap_or_default()
        .into_iter()
        .filter(|pod| selects(service, pod))
        .collect()
}

/// The keys of the Services in the pod's namespace whose selector matches it.
fn services_selecting(services: &Cache<Service>, pod: &Pod) -> Vec<ObjectKey> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    services
        .by_index(NAMESPACE_INDEX, namespace)
        .unwrap_or_default()
        .into_iter()
        .filter(|service| selects(service, pod))
        .map(|service| ObjectKey::of(&*service))
        .collect()
}

/// The index value of a slice managed by this controller: `namespace/service`.
fn slice_service_key(slice: &EndpointSlice) -> Option<ObjectKey> {
    let labels = slice.metadata.labels.as_ref()?;
    if labels.get(LABEL_MANAGED_BY).map(String::as_str) != Some(CONTROLLER_NAME) {
        return None;
    }
    let service = labels.get(LABEL_SERVICE_NAME)?;
    Some(ObjectKey::new(slice.metadata.namespace.as_deref(), service))
}

/// Adds `indexer` unless an index of that name exists already.
pub(crate) fn ensure_indexer<K: orchestra_api::Object + serde::de::DeserializeOwned>(
    informer: &Informer<K>,
    indexer: Indexer<K>,
) {
    match informer.add_indexer(indexer) {
        Ok(()) | Err(IndexError::AlreadyExists(_)) => {}
        Err(error) => tracing::warn!(%error, "could not add an index"),
    }
}

/// A recorder reporting as `component`, on the manager's instance.
pub(crate) fn component_recorder(manager: &Manager, component: &str) -> Recorder {
    let mut reporter = Reporter::new(component);
    if let Some(instance) = &manager.recorder().reporter().instance {
        reporter = reporter.instance(instance.clone());
    }
    Recorder::new(Arc::clone(manager.client()), reporter)
}

/// What the slice controller's reconciles share.
struct SliceContext {
    client: Arc<dyn Client>,
    pods: Cache<Pod>,
    nodes: Informer<Node>,
    slices: Informer<EndpointSlice>,
    tracker: SliceTracker,
    deletions_watched: OnceCell<HandlerRegistration>,
    recorder: Recorder,
    max_per_slice: usize,
}

impl SliceContext {
    /// Makes sure slice deletions reach the tracker (once; the handler lives with the
    /// context).
    async fn watch_slice_deletions(&self) {
        self.deletions_watched
            .get_or_init(|| async {
                let tracker = self.tracker.clone();
                self.slices.add_handler(HandlerFns::new().on_delete(
                    move |slice: &Arc<EndpointSlice>| {
                        if let Some(service) = slice_service_key(slice) {
                            tracker.observed_deletion(&service, slice);
                        }
                    },
                ))
            })
            .await;
    }
}

/// Registers the EndpointSlice controller and the Endpoints controller (with its clean-up of
/// orphaned Endpoints), each if configured, with `manager`.
pub fn add_to(manager: &Manager, config: EndpointSliceConfig) {
    let factory = manager.factory();
    let max_per_slice = config.max_endpoints_per_slice.clamp(1, 1000);
    if max_per_slice != config.max_endpoints_per_slice {
        tracing::warn!(
            requested = config.max_endpoints_per_slice,
            used = max_per_slice,
            "max endpoints per slice must lie between 1 and 1000"
        );
    }
    let services = factory.informer::<Service>();
    let pods = factory.informer::<Pod>();

    if config.endpointslice_controller {
        let nodes = factory.informer::<Node>();
        let slices = factory.informer::<EndpointSlice>();
        ensure_indexer(
            &slices,
            Indexer::new(SLICES_BY_SERVICE_INDEX, |slice: &EndpointSlice| {
                slice_service_key(slice)
                    .map(|key| vec![key.to_string()])
                    .unwrap_or_default()
            }),
        );
        let ctx = Arc::new(SliceContext {
            client: Arc::clone(manager.client()),
            pods: pods.cache(),
            nodes,
            slices,
            tracker: SliceTracker::default(),
            deletions_watched: OnceCell::new(),
            recorder: component_recorder(manager, "endpoint-slice-controller"),
            max_per_slice,
        });
        let services_cache = services.cache();
        let controller = Controller::<Service>::new(factory)
            .name("endpointslice-controller")
            .owns::<EndpointSlice>()
            .watches::<Pod, _>(move |pod| services_selecting(&services_cache, pod))
            .workers(config.workers.max(1));
        manager.add(controller, reconcile_slices, retry_slices, ctx);
    }

    if config.endpoints_controller {
        let endpoints = factory.informer::<Endpoints>();
        let ctx = Arc::new(endpoints::EndpointsContext {
            client: Arc::clone(manager.client()),
            pods: pods.cache(),
            endpoints: endpoints.cache(),
            recorder: component_recorder(manager, "endpoint-controller"),
        });
        let services_cache = services.cache();
        let controller = Controller::<Service>::new(factory)
            .name("endpoints-controller")
            .watches::<Pod, _>(move |pod| services_selecting(&services_cache, pod))
            .watches::<Endpoints, _>(|endpoints| [ObjectKey::of(endpoints)])
            .workers(config.endpoints_workers.max(1));
        manager.add(
            controller,
            endpoints::reconcile,
            |_, _: &Status, _| Retry::Backoff,
            ctx,
        );
        let client = Arc::clone(manager.client());
        manager.add_task("endpoints-controller-cleanup", move || {
            endpoints::clean_up_orphans(Arc::clone(&client), services.clone(), endpoints.clone())
        });
    }
}

/// The slice controller's error policy: every failure is retried with back-off.
fn retry_slices(
    _service: Arc<Service>,
    _error: &EndpointSliceError,
    _ctx: Arc<SliceContext>,
) -> Retry {
    Retry::Backoff
}

/// Brings the Service's EndpointSlices in line with its pods.
async fn reconcile_slices(
    service: Arc<Service>,
    ctx: Arc<SliceContext>,
) -> Result<Action, EndpointSliceError> {
    let key = ObjectKey::of(&*service);
    if is_apiserver_service(&key) || !has_managed_endpoints(&service) {
        return Ok(Action::await_change());
    }
    ctx.watch_slice_deletions().await;
    ctx.nodes.start();
    ctx.nodes
        .wait_synced()
        .await
        .map_err(|_| EndpointSliceError::InformerStopped)?;

    let slices: Vec<Arc<EndpointSlice>> = ctx
        .slices
        .cache()
        .by_index(SLICES_BY_SERVICE_INDEX, &key.to_string())
        .unwrap_or_default()
        .into_iter()
        .filter(|slice| slice.metadata.deletion_timestamp.is_none())
        .collect();
    if ctx.tracker.is_stale(&key, &slices) {
        return Err(EndpointSliceError::StaleCache);
    }

    let types = address_types(&service);
    let nodes = ctx.nodes.cache();
    let mut desired: BTreeMap<_, Vec<DesiredEndpoint>> = BTreeMap::new();
    let mut missing_nodes = BTreeSet::new();
    for pod in selected_pods(&ctx.pods, &service) {
        if !should_be_in_endpoints(&pod, true) {
            continue;
        }
        let node_name = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or_default();
        let node = nodes.get(None, node_name);
        if node.is_none() && !publishes_not_ready(&service) {
            missing_nodes.insert(node_name.to_owned());
            continue;
        }
        let ports = endpoint_ports(&service, &pod);
        for address_type in &types {
            desired
                .entry(*address_type)
                .or_default()
                .push(DesiredEndpoint {
                    ports: ports.clone(),
                    endpoint: pod_to_endpoint(&pod, node.as_deref(), &service, *address_type),
                });
        }
    }

    let plan = reconciler::plan(&service, &types, &slices, desired, ctx.max_per_slice);
    if let Err(status) = write_plan(&ctx, &service, &key, plan).await {
        let note = format!("Error updating Endpoint Slices for Service {key}: {status}");
        if let Err(error) = ctx
            .recorder
            .publish_about(
                &*service,
                EventType::Warning,
                "FailedToUpdateEndpointSlices",
                &note,
            )
            .await
        {
            tracing::debug!(%error, "could not record the failure as an Event");
        }
        return Err(status.into());
    }
    if !missing_nodes.is_empty() {
        return Err(EndpointSliceError::NodesNotFound(
            missing_nodes.into_iter().collect(),
        ));
    }
    Ok(Action::await_change())
}

/// Writes a plan: creations (not for a Service being deleted, whose slices the garbage
/// collector is removing), updates, deletions — recording each in the tracker.
async fn write_plan(
    ctx: &SliceContext,
    service: &Service,
    key: &ObjectKey,
    plan: SlicePlan,
) -> Result<(), Status> {
    let namespace = key.namespace.as_deref().unwrap_or_default();
    let api = Api::<EndpointSlice>::namespaced(Arc::clone(&ctx.client), namespace);
    if service.metadata.deletion_timestamp.is_none() {
        for slice in &plan.create {
            match api.create(&PostParams::default(), slice).await {
                Ok(created) => ctx.tracker.written(key, &created),
                Err(status) if endpoints::namespace_terminating(&status) => return Ok(()),
                Err(status) => return Err(status),
            }
        }
    }
    for slice in &plan.update {
        let name = slice.metadata.name.as_deref().unwrap_or_default();
        let updated = api.replace(name, &PostParams::default(), slice).await?;
        ctx.tracker.written(key, &updated);
    }
    for slice in &plan.delete {
        let name = slice.metadata.name.as_deref().unwrap_or_default();
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => ctx.tracker.deleted(key, slice),
            Err(status) if status.is(&StatusReason::NotFound) => {}
            Err(status) => return Err(status),
        }
    }
    if !plan.is_empty() {
        tracing::debug!(
            service = %key,
            created = plan.create.len(),
            updated = plan.update.len(),
            deleted = plan.delete.len(),
            "wrote EndpointSlices"
        );
    }
    Ok(())
}
