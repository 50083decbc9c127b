//! [`NodeAgent`]: one node's kubelet, built from an API client, a [`NodeConfig`] and a
//! container runtime, and run until a shutdown signal.
//!
//! Running an agent starts the pod workers, the runtime's container events and the static
//! pod manifests at once — static pods run even while the API cannot be reached, as they
//! may be the control plane itself — then registers (or re-uses) its Node, pushes the pod
//! CIDR to the runtime, and starts the rest of the kubelet's loops: the Lease heartbeat,
//! the node status, an informer of the pods bound to the node (field selector
//! `spec.nodeName=<name>`) and one of its own Node, and housekeeping (removing what the
//! runtime holds for pods the agent does not know, and mirror pods without a manifest). When the
//! shutdown future completes, the loops stop; containers keep running, as they do when a
//! kubelet stops, and an agent started again with the same runtime takes them over.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use orchestra_api::k8s_openapi::api::core::v1::{Node, Pod};
use orchestra_api::{Client, Served};
use orchestra_controller::events::{Recorder, Reporter};
use orchestra_controller::informer::{HandlerFns, Informer, InformerConfig, WatcherConfig};
use orchestra_controller::workqueue::{ItemExponentialFailureRateLimiter, WorkQueue};
use tokio::task::JoinSet;

use crate::config::NodeConfig;
use crate::crash_backoff::CrashBackoff;
use crate::cri::{
    ContainerEventType, ContainerFilter, ContainerRuntime, ContainerState, CriError, POD_UID_LABEL,
    PodSandboxFilter, RuntimeConfig,
};
use crate::csi::VolumePlugin;
use crate::error::NodeError;
use crate::kubelet::Kubelet;
use crate::pod_manager::PodManager;
use crate::probe::{Prober, RuntimeProber};
use crate::sim::SimRuntime;
use crate::{node_lease, node_status, pod_workers, static_pods, status_manager};

/// Builds a [`NodeAgent`].
pub struct NodeAgentBuilder {
    client: Arc<dyn Client>,
    config: NodeConfig,
    runtime: Option<Arc<dyn ContainerRuntime>>,
    prober: Option<Arc<dyn Prober>>,
    volume_plugins: Vec<Arc<dyn VolumePlugin>>,
}

impl std::fmt::Debug for NodeAgentBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeAgentBuilder")
            .field("node", &self.config.name)
            .field("runtime", &self.runtime.is_some())
            .finish_non_exhaustive()
    }
}

impl NodeAgentBuilder {
    /// Runs containers through `runtime` (both CRI services). Probes run through Kubernetes'
    /// exec/TCP/HTTP prober over it unless [`prober`](Self::prober) sets another.
    pub fn runtime(mut self, runtime: Arc<dyn ContainerRuntime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Runs probes through `prober`.
    pub fn prober(mut self, prober: Arc<dyn Prober>) -> Self {
        self.prober = Some(prober);
        self
    }

    /// Runs containers on the simulated runtime, which also answers the probes. Pass a
    /// clone of the same runtime to an agent started again to have it take over the
    /// containers.
    pub fn sim(self, runtime: SimRuntime) -> Self {
        let prober: Arc<dyn Prober> = Arc::new(runtime.clone());
        self.runtime(Arc::new(runtime)).prober(prober)
    }

    /// Registers a CSI driver for the pods' inline `csi` volumes.
    pub fn volume_plugin(mut self, plugin: Arc<dyn VolumePlugin>) -> Self {
        self.volume_plugins.push(plugin);
        self
    }

    /// Checks the configuration and builds the agent.
    pub fn build(self) -> Result<NodeAgent, NodeError> {
        self.config.validate()?;
        let runtime = self
            .runtime
            .ok_or(NodeError::Missing("a container runtime"))?;
        let prober = self
            .prober
            .unwrap_or_else(|| Arc::new(RuntimeProber::new(Arc::clone(&runtime))));
        let volume_plugins = self
            .volume_plugins
            .into_iter()
            .map(|p| (p.driver_name().to_owned(), p))
            .collect();
        Ok(NodeAgent {
            client: self.client,
            config: self.config,
            runtime,
            prober,
            volume_plugins,
        })
    }
}

/// One node's agent. See the [module documentation](self).
pub struct NodeAgent {
    client: Arc<dyn Client>,
    config: NodeConfig,
    runtime: Arc<dyn ContainerRuntime>,
    prober: Arc<dyn Prober>,
    volume_plugins: HashMap<String, Arc<dyn VolumePlugin>>,
}

impl std::fmt::Debug for NodeAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeAgent")
            .field("node", &self.config.name)
            .finish_non_exhaustive()
    }
}

/// Stops informers when dropped.
struct StopInformers {
    pods: Informer<Pod>,
    node: Informer<Node>,
}

impl Drop for StopInformers {
    fn drop(&mut self) {
        self.pods.stop();
        self.node.stop();
    }
}

impl NodeAgent {
    /// Starts building the agent of the node `config.name`, talking to the cluster through
    /// `client`.
    pub fn builder(client: Arc<dyn Client>, config: NodeConfig) -> NodeAgentBuilder {
        NodeAgentBuilder {
            client,
            config,
            runtime: None,
            prober: None,
            volume_plugins: Vec::new(),
        }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Runs the agent until `shutdown` completes. Errors only if the runtime cannot be
    /// reached at start; API failures are retried for as long as the agent runs.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), NodeError> {
        let version = self.runtime.version().await?;
        let recorder = self.config.record_events.then(|| {
            Recorder::new(
                Arc::clone(&self.client),
                Reporter::new("kubelet").instance(self.config.name.clone()),
            )
        });
        let queue = WorkQueue::builder()
            .name(format!("pod-workers-{}", self.config.name))
            .rate_limiter(ItemExponentialFailureRateLimiter::new(
                Duration::from_millis(200),
                Duration::from_secs(30),
            ))
            .build();
        let host_ip = self.config.node_ip().to_string();
        let kubelet = Arc::new(Kubelet {
            backoff: Mutex::new(CrashBackoff::new(
                self.config.crash_backoff_initial,
                self.config.crash_backoff_max,
            )),
            image_backoff: Mutex::new(CrashBackoff::new(
                Duration::from_secs(10),
                Duration::from_secs(300),
            )),
            config: self.config,
            client: self.client,
            runtime: self.runtime,
            runtime_name: version.runtime_name,
            prober: self.prober,
            volume_plugins: self.volume_plugins,
            pods: PodManager::default(),
            queue,
            node: tokio::sync::watch::channel(None).0,
            host_ip,
            recorder,
            pushed_pod_cidr: Mutex::new(String::new()),
        });
        tokio::select! {
            () = serve(Arc::clone(&kubelet)) => {}
            () = shutdown => {}
        }
        kubelet.queue.shut_down();
        tracing::info!(node = %kubelet.config.name, "node agent stopped");
        Ok(())
    }
}

/// Pushes the pod CIDR to the runtime if it changed.
pub(crate) async fn push_pod_cidr(kubelet: &Kubelet) {
    let cidr = kubelet.pod_cidr();
    let pushed = kubelet
        .pushed_pod_cidr
        .lock()
        .map(|p| *p == cidr)
        .unwrap_or(false);
    if pushed {
        return;
    }
    match kubelet
        .runtime
        .update_runtime_config(&RuntimeConfig {
            pod_cidr: cidr.clone(),
        })
        .await
    {
        Ok(()) => {
            tracing::info!(node = %kubelet.config.name, pod_cidr = %cidr, "pod CIDR pushed to the runtime");
            if let Ok(mut pushed) = kubelet.pushed_pod_cidr.lock() {
                *pushed = cidr;
            }
        }
        Err(error) => {
            tracing::warn!(node = %kubelet.config.name, %error, "updating the runtime config failed");
        }
    }
}

/// Registers the node, retrying until it works.
async fn register(kubelet: &Kubelet) -> Arc<Node> {
    let mut delay = Duration::from_millis(100);
    loop {
        match node_status::register(kubelet).await {
            Ok(node) => return node,
            Err(error) => {
                tracing::warn!(node = %kubelet.config.name, %error, "registering the node failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(7));
            }
        }
    }
}

/// Everything the agent runs, until dropped.
async fn serve(kubelet: Arc<Kubelet>) {
    // Pod workers and static pods start before the node is registered, as the kubelet's do:
    // a static pod (the API server itself, say) must not wait for the API.
    let mut loops = JoinSet::new();
    loops.spawn(pod_workers::run_dispatcher(Arc::clone(&kubelet)));
    loops.spawn(run_container_events(Arc::clone(&kubelet)));
    if kubelet.config.static_pod_path.is_some() {
        loops.spawn(run_static_pods(Arc::clone(&kubelet)));
    }
    let node = register(&kubelet).await;
    kubelet.node.send_replace(Some(node));
    push_pod_cidr(&kubelet).await;

    let name = kubelet.config.name.clone();
    let node_informer = Informer::<Node>::new(
        Arc::clone(&kubelet.client),
        Node::resource_kind().clone(),
        None,
        InformerConfig::default()
            .watcher(WatcherConfig::default().fields(format!("metadata.name={name}"))),
    );
    let on_node = {
        let kubelet = Arc::clone(&kubelet);
        move |node: &Arc<Node>| {
            let cidr_before = kubelet.pod_cidr();
            kubelet.node.send_replace(Some(Arc::clone(node)));
            if kubelet.pod_cidr() != cidr_before {
                let kubelet = Arc::clone(&kubelet);
                tokio::spawn(async move { push_pod_cidr(&kubelet).await });
            }
        }
    };
    let on_node_update = on_node.clone();
    node_informer.add_handler(
        HandlerFns::new()
            .on_add(on_node)
            .on_update(move |_, node| on_node_update(node)),
    );
    let pod_informer = Informer::<Pod>::new(
        Arc::clone(&kubelet.client),
        Pod::resource_kind().clone(),
        None,
        InformerConfig::default()
            .watcher(WatcherConfig::default().fields(format!("spec.nodeName={name}"))),
    );
    let upsert = {
        let kubelet = Arc::clone(&kubelet);
        move |pod: &Arc<Pod>| {
            if let Some(uid) = kubelet.pods.upsert_api_pod(pod) {
                kubelet.queue.add(uid);
            }
        }
    };
    let upsert_update = upsert.clone();
    let remove = {
        let kubelet = Arc::clone(&kubelet);
        move |pod: &Arc<Pod>| {
            if let Some(uid) = kubelet.pods.remove_api_pod(pod) {
                kubelet.queue.add(uid);
            }
        }
    };
    pod_informer.add_handler(
        HandlerFns::new()
            .on_add(upsert)
            .on_update(move |_, pod| upsert_update(pod))
            .on_delete(remove),
    );
    node_informer.start();
    pod_informer.start();
    let _stop = StopInformers {
        pods: pod_informer.clone(),
        node: node_informer,
    };

    loops.spawn(node_lease::run_lease_loop(Arc::clone(&kubelet)));
    loops.spawn(node_status::run_status_loop(Arc::clone(&kubelet)));
    loops.spawn(run_housekeeping(Arc::clone(&kubelet), pod_informer));
    while let Some(result) = loops.join_next().await {
        if let Err(error) = result
            && error.is_panic()
        {
            tracing::error!(node = %kubelet.config.name, "a node agent loop panicked");
        }
    }
}

/// Syncs the pod of every container that stops by itself, from the runtime's container
/// events; falls back to relisting containers every second if the runtime has no events.
async fn run_container_events(kubelet: Arc<Kubelet>) {
    loop {
        match kubelet.runtime.get_container_events().await {
            Ok(mut events) => {
                while let Some(event) = events.next().await {
                    if event.event_type == ContainerEventType::Stopped
                        && kubelet.pods.contains(&event.pod_uid)
                    {
                        kubelet.queue.add(event.pod_uid);
                    }
                }
            }
            Err(CriError::Unimplemented(_)) => {
                relist(&kubelet).await;
                return;
            }
            Err(error) => {
                tracing::warn!(node = %kubelet.config.name, %error, "container events failed; retrying");
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Kubernetes' generic PLEG: lists containers every second and syncs the pods whose
/// containers changed state.
async fn relist(kubelet: &Kubelet) {
    let mut previous: HashMap<String, ContainerState> = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        let Ok(containers) = kubelet
            .runtime
            .list_containers(&ContainerFilter::default())
            .await
        else {
            continue;
        };
        let mut current = HashMap::with_capacity(containers.len());
        for container in containers {
            if previous.get(&container.id) != Some(&container.state)
                && let Some(uid) = container.labels.get(POD_UID_LABEL)
            {
                kubelet.queue.add(uid.clone());
            }
            current.insert(container.id, container.state);
        }
        previous = current;
    }
}

/// Finds runtime objects of pods the agent does not know and mirror pods without a static
/// pod, and has them removed.
async fn run_housekeeping(kubelet: Arc<Kubelet>, pods: Informer<Pod>) {
    if pods.wait_synced().await.is_err() {
        return;
    }
    let mut ticker = tokio::time::interval(kubelet.config.housekeeping_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Give the static pod reader one round before judging mirror pods.
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if let Ok(sandboxes) = kubelet
            .runtime
            .list_pod_sandbox(&PodSandboxFilter::default())
            .await
        {
            for sandbox in sandboxes {
                let uid = sandbox.metadata.uid;
                if !kubelet.pods.contains(&uid) {
                    kubelet.queue.add(uid);
                }
            }
        }
        if kubelet.config.static_pod_path.is_some() {
            for pod in pods.cache().list() {
                if static_pods::is_mirror_pod(&pod)
                    && kubelet.pods.upsert_api_pod(&pod).is_none()
                    && pod.metadata.deletion_timestamp.is_none()
                {
                    tracing::info!(node = %kubelet.config.name, pod = %crate::pod_manager::full_name(&pod), "deleting a mirror pod without a static pod");
                    if let Err(error) = status_manager::delete_pod(&kubelet, &pod).await {
                        tracing::warn!(%error, "deleting an orphaned mirror pod failed");
                    }
                }
            }
        }
    }
}

/// Reads the static pod manifests every `file_check_frequency`.
async fn run_static_pods(kubelet: Arc<Kubelet>) {
    let Some(dir) = kubelet.config.static_pod_path.clone() else {
        return;
    };
    let mut ticker = tokio::time::interval(kubelet.config.file_check_frequency);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let node = kubelet.config.name.clone();
        let dir = dir.clone();
        let Ok((pods, errors)) =
            tokio::task::spawn_blocking(move || static_pods::read_manifest_dir(&dir, &node)).await
        else {
            continue;
        };
        for error in errors {
            tracing::warn!(node = %kubelet.config.name, %error, "skipping a static pod manifest");
        }
        for uid in kubelet.pods.set_static_pods(pods) {
            kubelet.queue.add(uid);
        }
    }
}
