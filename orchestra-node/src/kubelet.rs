//! The state one node agent shares between its loops: configuration, the API client, the
//! runtime and plugins, the pods it manages, the work queue of pod syncs, back-offs, the
//! latest copy of its Node, and its event recorder.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use orchestra_api::k8s_openapi::api::core::v1::{Node, Pod};
use orchestra_api::{Client, ResourceList};
use orchestra_controller::events::{EventType, Recorder, object_reference};
use orchestra_controller::workqueue::WorkQueue;
use tokio::sync::watch;

use crate::config::NodeConfig;
use crate::crash_backoff::CrashBackoff;
use crate::cri::ContainerRuntime;
use crate::csi::VolumePlugin;
use crate::pod_manager::PodManager;
use crate::probe::Prober;

/// Everything the agent's loops share.
pub struct Kubelet {
    /// The configuration.
    pub config: NodeConfig,
    /// The API.
    pub client: Arc<dyn Client>,
    /// The container runtime.
    pub runtime: Arc<dyn ContainerRuntime>,
    /// The runtime's name (the scheme of container ids).
    pub runtime_name: String,
    /// The prober.
    pub prober: Arc<dyn Prober>,
    /// CSI drivers by name.
    pub volume_plugins: HashMap<String, Arc<dyn VolumePlugin>>,
    /// The pods.
    pub pods: PodManager,
    /// Pod uids to sync.
    pub queue: WorkQueue<String>,
    /// Crash back-off per container.
    pub backoff: Mutex<CrashBackoff>,
    /// Back-off of failed image pulls.
    pub image_backoff: Mutex<CrashBackoff>,
    /// The latest copy of this node's Node object.
    pub node: watch::Sender<Option<Arc<Node>>>,
    /// The node's IP.
    pub host_ip: String,
    /// Publishes Events, unless disabled.
    pub recorder: Option<Recorder>,
    /// The pod CIDR last pushed to the runtime.
    pub pushed_pod_cidr: Mutex<String>,
}

impl std::fmt::Debug for Kubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubelet")
            .field("node", &self.config.name)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Kubelet {
    /// The crash back-off.
    pub fn lock_backoff(&self) -> MutexGuard<'_, CrashBackoff> {
        lock(&self.backoff)
    }

    /// The image pull back-off.
    pub fn lock_image_backoff(&self) -> MutexGuard<'_, CrashBackoff> {
        lock(&self.image_backoff)
    }

    /// The latest Node object, if registered.
    pub fn current_node(&self) -> Option<Arc<Node>> {
        self.node.borrow().clone()
    }

    /// The node's allocatable resources and labels, for admission.
    pub fn allocatable_and_labels(
        &self,
    ) -> (ResourceList, std::collections::BTreeMap<String, String>) {
        let node = self.current_node();
        let allocatable = node
            .as_ref()
            .and_then(|n| n.status.as_ref())
            .and_then(|s| s.allocatable.as_ref())
            .and_then(|a| ResourceList::from_k8s(a).ok())
            .unwrap_or_else(|| crate::node_status::allocatable(&self.config));
        let labels = node
            .as_ref()
            .and_then(|n| n.metadata.labels.clone())
            .unwrap_or_else(|| crate::node_status::default_labels(&self.config));
        (allocatable, labels)
    }

    /// The pod CIDR the runtime should allocate from: the Node's `spec.podCIDR`, else the
    /// configured or derived fallback.
    pub fn pod_cidr(&self) -> String {
        self.current_node()
            .and_then(|n| n.spec.as_ref().and_then(|s| s.pod_cidr.clone()))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| self.config.fallback_pod_cidr())
    }

    /// Publishes an Event about a pod, in the background.
    pub fn event_about_pod(&self, pod: &Pod, warning: bool, reason: &str, message: String) {
        self.publish(object_reference(pod), warning, reason, message);
    }

    /// Publishes an Event about one container of a pod (`involvedObject.fieldPath`
    /// `spec.containers{name}`), in the background.
    pub fn event_about_container(
        &self,
        pod: &Pod,
        container: &str,
        warning: bool,
        reason: &str,
        message: String,
    ) {
        let mut reference = object_reference(pod);
        let init = pod
            .spec
            .as_ref()
            .and_then(|s| s.init_containers.as_ref())
            .is_some_and(|list| list.iter().any(|c| c.name == container));
        let field = if init { "initContainers" } else { "containers" };
        reference.field_path = Some(format!("spec.{field}{{{container}}}"));
        self.publish(reference, warning, reason, message);
    }

    fn publish(
        &self,
        reference: orchestra_api::k8s_openapi::api::core::v1::ObjectReference,
        warning: bool,
        reason: &str,
        message: String,
    ) {
        let Some(recorder) = self.recorder.clone() else {
            return;
        };
        let reason = reason.to_owned();
        let event_type = if warning {
            EventType::Warning
        } else {
            EventType::Normal
        };
        tokio::spawn(async move {
            if let Err(error) = recorder
                .publish(&reference, event_type, &reason, &message)
                .await
            {
                tracing::debug!(%error, reason, "publishing an event failed");
            }
        });
    }
}
