//! The simulated runtime: containers that "run" without processes, as kwok's nodes do.
//!
//! [`SimRuntime`] implements CRI ([`RuntimeService`], [`ImageService`]) and the agent's
//! [`Prober`] with in-memory state only. A container's life is a few timestamps: it starts
//! (after a configurable latency), may exit by itself at a scheduled instant, and stops when
//! asked, honouring the grace period. Its behaviour comes from the pod's annotations
//! ([`behaviour`] lists them), which the kubelet hands the runtime in the sandbox config as
//! CRI does. Sandboxes get their addresses from a CNI plugin ([`SimNetwork`] by default)
//! out of the pod CIDR the kubelet pushes through `UpdateRuntimeConfig`.
//!
//! It is cheap enough for thousands of nodes in one process: no thread or task per
//! container. State changes that are due happen when anyone looks (every call first applies
//! the exits whose time has passed), and one timer task per runtime wakes at the earliest
//! scheduled exit to apply it and tell `GetContainerEvents` subscribers, so the kubelet
//! syncs the pod at once. Time is Tokio's, so tests with a paused clock run simulated hours
//! in milliseconds.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::collections::BTreeMap;
//! use orchestra_node::cri::*;
//! use orchestra_node::sim::SimRuntime;
//!
//! let runtime = SimRuntime::new();
//! runtime.update_runtime_config(&RuntimeConfig { pod_cidr: "10.244.1.0/24".into() }).await.unwrap();
//! let sandbox_config = PodSandboxConfig {
//!     metadata: PodSandboxMetadata { name: "web".into(), uid: "u1".into(), namespace: "default".into(), attempt: 0 },
//!     annotations: BTreeMap::from([("sim.orchestra.dev/exit-after".into(), "0s".into())]),
//!     ..Default::default()
//! };
//! let sandbox = runtime.run_pod_sandbox(&sandbox_config).await.unwrap();
//! let ip = runtime.pod_sandbox_status(&sandbox).await.unwrap().network.unwrap().ip;
//! assert_eq!(ip, "10.244.1.2");
//!
//! runtime.pull_image(&ImageSpec::new("busybox"), None, None).await.unwrap();
//! let config = ContainerConfig {
//!     metadata: ContainerMetadata { name: "job".into(), attempt: 0 },
//!     image: ImageSpec::new("busybox"),
//!     ..Default::default()
//! };
//! let id = runtime.create_container(&sandbox, &config, &sandbox_config).await.unwrap();
//! runtime.start_container(&id).await.unwrap();
//! // `exit-after: 0s`: the container has already finished.
//! let status = runtime.container_status(&id).await.unwrap();
//! assert_eq!((status.state, status.exit_code, status.reason.as_str()), (ContainerState::Exited, 0, "Completed"));
//! # }
//! ```

pub mod behaviour;
mod image_store;
pub mod network;
pub mod volume;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use self::behaviour::ContainerBehaviour;
use self::image_store::ImageStore;
pub use self::network::SimNetwork;
pub use self::volume::SimVolumePlugin;
use crate::clock;
use crate::cni::{NetworkAttachment, NetworkPlugin};
use crate::cri::{
    AuthConfig, CONTAINER_TYPE_ANNOTATION, Container, ContainerConfig, ContainerEvent,
    ContainerEventType, ContainerFilter, ContainerState, ContainerStats, ContainerStatus, CriError,
    ExecSyncResponse, FilesystemUsage, Image, ImageFilter, ImageService, ImageSpec, NETWORK_READY,
    POD_UID_LABEL, PodSandbox, PodSandboxConfig, PodSandboxFilter, PodSandboxNetworkStatus,
    PodSandboxState, PodSandboxStatus, RUNTIME_READY, RuntimeCondition, RuntimeConfig,
    RuntimeService, RuntimeStatus, VersionResponse,
};
use crate::probe::{ProbeResult, ProbeTarget, ProbeType, Prober};

/// Exit code of a container killed with SIGKILL.
const KILLED_EXIT_CODE: i32 = 137;

/// Settings of a simulated runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// The runtime's name: the scheme of container ids (`sim://…`).
    pub runtime_name: String,
    /// The runtime's version, reported in the node's `containerRuntimeVersion`.
    pub runtime_version: String,
    /// How long pulling an image takes.
    pub image_pull_latency: Duration,
    /// Images present from the start (the pause image).
    pub preloaded_images: Vec<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            runtime_name: "sim".to_owned(),
            runtime_version: env!("CARGO_PKG_VERSION").to_owned(),
            image_pull_latency: Duration::ZERO,
            preloaded_images: vec!["registry.k8s.io/pause:3.10".to_owned()],
        }
    }
}

#[derive(Debug)]
struct SimSandbox {
    status: PodSandboxStatus,
    attachment: Option<NetworkAttachment>,
}

#[derive(Debug)]
struct SimContainer {
    status: ContainerStatus,
    sandbox_id: String,
    pod_uid: String,
    behaviour: ContainerBehaviour,
    /// When it started running.
    started: Option<Instant>,
    /// When it exits by itself, and with which code.
    exit_at: Option<(Instant, i32)>,
}

impl SimContainer {
    fn running_for(&self, now: Instant) -> Duration {
        self.started
            .map(|started| now.saturating_duration_since(started))
            .unwrap_or_default()
    }

    fn to_container(&self) -> Container {
        Container {
            id: self.status.id.clone(),
            pod_sandbox_id: self.sandbox_id.clone(),
            metadata: self.status.metadata.clone(),
            image: self.status.image.clone(),
            image_ref: self.status.image_ref.clone(),
            state: self.status.state,
            created_at: self.status.created_at,
            labels: self.status.labels.clone(),
            annotations: self.status.annotations.clone(),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    pod_cidr: String,
    sandboxes: HashMap<String, SimSandbox>,
    containers: HashMap<String, SimContainer>,
    images: ImageStore,
    /// Scheduled exits: when, a sequence number, and the container.
    timers: BinaryHeap<Reverse<(Instant, u64, String)>>,
    next_id: u64,
    subscribers: Vec<mpsc::UnboundedSender<ContainerEvent>>,
}

impl State {
    fn new_id(&mut self, salt: u64) -> String {
        self.next_id += 1;
        format!("{salt:016x}{:016x}", self.next_id)
    }

    fn emit(&mut self, container_id: &str, event_type: ContainerEventType, pod_uid: &str) {
        if self.subscribers.is_empty() {
            return;
        }
        let event = ContainerEvent {
            container_id: container_id.to_owned(),
            event_type,
            created_at: clock::now_nanos(),
            pod_uid: pod_uid.to_owned(),
        };
        self.subscribers
            .retain(|subscriber| subscriber.send(event.clone()).is_ok());
    }

    /// Marks a running container exited at `at` with `code`.
    fn exit(&mut self, id: &str, code: i32, at: Instant) {
        let Some(container) = self.containers.get_mut(id) else {
            return;
        };
        if container.status.state != ContainerState::Running {
            return;
        }
        container.status.state = ContainerState::Exited;
        container.status.exit_code = code;
        container.status.finished_at = clock::nanos_of(clock::wall_time_at(at));
        container.status.reason = if code == 0 { "Completed" } else { "Error" }.to_owned();
        container.exit_at = None;
        let pod_uid = container.pod_uid.clone();
        self.emit(id, ContainerEventType::Stopped, &pod_uid);
    }

    /// Applies every scheduled exit due at `now`.
    fn advance(&mut self, now: Instant) {
        while let Some(Reverse((at, _, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, _, id))) = self.timers.pop() else {
                break;
            };
            let due = self
                .containers
                .get(&id)
                .and_then(|c| c.exit_at)
                .filter(|(exit_at, _)| *exit_at == at);
            if let Some((_, code)) = due {
                self.exit(&id, code, at);
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _, _))| *at)
    }
}

struct Inner {
    config: SimConfig,
    network: Arc<dyn NetworkPlugin>,
    /// Distinguishes this runtime's ids from other runtimes' in the same process.
    salt: u64,
    state: Mutex<State>,
    wake: Arc<Notify>,
    timer_started: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Lets the timer task notice that the runtime is gone.
        self.wake.notify_one();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state with every exit due by now applied.
    fn current(&self) -> MutexGuard<'_, State> {
        let mut state = self.lock();
        state.advance(Instant::now());
        state
    }
}

/// A simulated container runtime. Cheap to clone; clones share the state, so an agent that
/// restarts with the same runtime finds its sandboxes and containers again. See the
/// [module documentation](self).
#[derive(Clone)]
pub struct SimRuntime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SimRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("SimRuntime")
            .field("sandboxes", &state.sandboxes.len())
            .field("containers", &state.containers.len())
            .finish_non_exhaustive()
    }
}

impl Default for SimRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl SimRuntime {
    /// A runtime with the default settings and its own [`SimNetwork`].
    pub fn new() -> Self {
        Self::with_config(SimConfig::default(), Arc::new(SimNetwork::new()))
    }

    /// A runtime with these settings whose sandboxes get their network from `network`.
    pub fn with_config(config: SimConfig, network: Arc<dyn NetworkPlugin>) -> Self {
        let mut images = ImageStore::default();
        for image in &config.preloaded_images {
            images.insert(image, true);
        }
        // Ids carry the runtime's number, so no two runtimes of one process share an id.
        static RUNTIMES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let salt = RUNTIMES.fetch_add(1, Ordering::Relaxed);
        Self {
            inner: Arc::new(Inner {
                config,
                network,
                salt,
                state: Mutex::new(State {
                    images,
                    ..State::default()
                }),
                wake: Arc::new(Notify::new()),
                timer_started: AtomicBool::new(false),
            }),
        }
    }

    /// How many sandboxes and containers the runtime holds (for tests and metrics).
    pub fn counts(&self) -> (usize, usize) {
        let state = self.inner.lock();
        (state.sandboxes.len(), state.containers.len())
    }

    /// Starts the task that applies scheduled exits, once.
    fn ensure_timer(&self) {
        if self.inner.timer_started.swap(true, Ordering::SeqCst) {
            self.inner.wake.notify_one();
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let wake = Arc::clone(&self.inner.wake);
        tokio::spawn(async move {
            loop {
                let next = match weak.upgrade() {
                    Some(inner) => inner.lock().next_deadline(),
                    None => return,
                };
                match next {
                    Some(at) => {
                        tokio::select! {
                            () = tokio::time::sleep_until(at) => {}
                            () = wake.notified() => {}
                        }
                    }
                    None => wake.notified().await,
                }
                match weak.upgrade() {
                    Some(inner) => inner.lock().advance(Instant::now()),
                    None => return,
                }
            }
        });
    }

    /// Whether a container is an ordinary init container (one that runs to completion),
    /// not an app container or a sidecar.
    fn runs_to_completion(config: &ContainerConfig) -> bool {
        let init = config
            .annotations
            .get(CONTAINER_TYPE_ANNOTATION)
            .is_some_and(|t| t == "init");
        let sidecar = config
            .annotations
            .get(crate::cri::CONTAINER_RESTART_POLICY_ANNOTATION)
            .is_some_and(|p| p == "Always");
        init && !sidecar
    }

    /// Stops a running container now with `code`.
    fn kill_now(state: &mut State, id: &str, code: i32) {
        state.exit(id, code, Instant::now());
    }
}

#[async_trait]
impl RuntimeService for SimRuntime {
    async fn version(&self) -> Result<VersionResponse, CriError> {
        Ok(VersionResponse {
            version: "0.1.0".to_owned(),
            runtime_name: self.inner.config.runtime_name.clone(),
            runtime_version: self.inner.config.runtime_version.clone(),
            runtime_api_version: "v1".to_owned(),
        })
    }

    async fn status(&self) -> Result<RuntimeStatus, CriError> {
        let network = self.inner.network.status().await;
        Ok(RuntimeStatus {
            conditions: vec![
                RuntimeCondition {
                    condition_type: RUNTIME_READY.to_owned(),
                    status: true,
                    ..RuntimeCondition::default()
                },
                RuntimeCondition {
                    condition_type: NETWORK_READY.to_owned(),
                    status: network.is_ok(),
                    reason: if network.is_ok() {
                        String::new()
                    } else {
                        "NetworkPluginNotReady".to_owned()
                    },
                    message: network.err().map(|e| e.to_string()).unwrap_or_default(),
                },
            ],
        })
    }

    async fn update_runtime_config(&self, config: &RuntimeConfig) -> Result<(), CriError> {
        if !config.pod_cidr.is_empty() {
            config
                .pod_cidr
                .parse::<crate::cni::Cidr>()
                .map_err(|e| CriError::InvalidArgument(e.to_string()))?;
        }
        self.inner.lock().pod_cidr = config.pod_cidr.clone();
        Ok(())
    }

    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String, CriError> {
        let (id, pod_cidr) = {
            let mut state = self.inner.lock();
            (state.new_id(self.inner.salt), state.pod_cidr.clone())
        };
        let attachment = (!config.host_network).then(|| NetworkAttachment {
            container_id: id.clone(),
            netns: format!("/var/run/netns/cni-{id}"),
            ifname: "eth0".to_owned(),
            pod_namespace: config.metadata.namespace.clone(),
            pod_name: config.metadata.name.clone(),
            pod_uid: config.metadata.uid.clone(),
            ip_ranges: if pod_cidr.is_empty() {
                Vec::new()
            } else {
                vec![pod_cidr]
            },
            port_mappings: config.port_mappings.clone(),
        });
        let network = match &attachment {
            Some(attachment) => {
                let result = self.inner.network.add(attachment).await.map_err(|e| {
                    CriError::Network(format!(
                        "plugin type=\"{}\" name=\"{}\" failed (add): {e}",
                        "sim",
                        self.inner.network.name()
                    ))
                })?;
                let mut ips = result.ips.iter().map(|ip| ip.ip().to_owned());
                Some(PodSandboxNetworkStatus {
                    ip: ips.next().unwrap_or_default(),
                    additional_ips: ips.collect(),
                })
            }
            None => None,
        };
        let mut state = self.inner.lock();
        let mut labels = config.labels.clone();
        labels
            .entry(POD_UID_LABEL.to_owned())
            .or_insert_with(|| config.metadata.uid.clone());
        state.sandboxes.insert(
            id.clone(),
            SimSandbox {
                status: PodSandboxStatus {
                    id: id.clone(),
                    metadata: config.metadata.clone(),
                    state: PodSandboxState::Ready,
                    created_at: clock::now_nanos(),
                    network,
                    labels,
                    annotations: config.annotations.clone(),
                    runtime_handler: config.runtime_handler.clone(),
                },
                attachment,
            },
        );
        Ok(id)
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<(), CriError> {
        let attachment = {
            let mut state = self.inner.current();
            let running: Vec<String> = state
                .containers
                .values()
                .filter(|c| c.sandbox_id == id && c.status.state == ContainerState::Running)
                .map(|c| c.status.id.clone())
                .collect();
            for container in running {
                Self::kill_now(&mut state, &container, KILLED_EXIT_CODE);
            }
            match state.sandboxes.get_mut(id) {
                Some(sandbox) => {
                    sandbox.status.state = PodSandboxState::NotReady;
                    sandbox.attachment.take()
                }
                None => None,
            }
        };
        if let Some(attachment) = attachment {
            self.inner
                .network
                .del(&attachment)
                .await
                .map_err(|e| CriError::Network(e.to_string()))?;
        }
        Ok(())
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<(), CriError> {
        let ready = self
            .inner
            .lock()
            .sandboxes
            .get(id)
            .is_some_and(|s| s.status.state == PodSandboxState::Ready);
        if ready {
            self.stop_pod_sandbox(id).await?;
        }
        let mut state = self.inner.current();
        let removed: Vec<(String, String)> = state
            .containers
            .values()
            .filter(|c| c.sandbox_id == id)
            .map(|c| (c.status.id.clone(), c.pod_uid.clone()))
            .collect();
        for (container, pod_uid) in removed {
            state.containers.remove(&container);
            state.emit(&container, ContainerEventType::Deleted, &pod_uid);
        }
        state.sandboxes.remove(id);
        Ok(())
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus, CriError> {
        self.inner
            .lock()
            .sandboxes
            .get(id)
            .map(|s| s.status.clone())
            .ok_or_else(|| CriError::sandbox_not_found(id))
    }

    async fn list_pod_sandbox(
        &self,
        filter: &PodSandboxFilter,
    ) -> Result<Vec<PodSandbox>, CriError> {
        let state = self.inner.lock();
        Ok(state
            .sandboxes
            .values()
            .filter(|s| filter.matches(&s.status.id, s.status.state, &s.status.labels))
            .map(|s| PodSandbox {
                id: s.status.id.clone(),
                metadata: s.status.metadata.clone(),
                state: s.status.state,
                created_at: s.status.created_at,
                labels: s.status.labels.clone(),
                annotations: s.status.annotations.clone(),
                runtime_handler: s.status.runtime_handler.clone(),
            })
            .collect())
    }

    async fn create_container(
        &self,
        pod_sandbox_id: &str,
        config: &ContainerConfig,
        sandbox_config: &PodSandboxConfig,
    ) -> Result<String, CriError> {
        let (behaviour, problems) = ContainerBehaviour::from_annotations(
            &sandbox_config.annotations,
            &config.metadata.name,
            Self::runs_to_completion(config),
        );
        for problem in problems {
            tracing::warn!(
                pod = %sandbox_config.metadata.name,
                container = %config.metadata.name,
                "ignoring simulated-runtime annotation: {problem}"
            );
        }
        let mut state = self.inner.lock();
        let sandbox = state
            .sandboxes
            .get(pod_sandbox_id)
            .ok_or_else(|| CriError::sandbox_not_found(pod_sandbox_id))?;
        if sandbox.status.state != PodSandboxState::Ready {
            return Err(CriError::FailedPrecondition(format!(
                "sandbox {pod_sandbox_id} is not ready"
            )));
        }
        let pod_uid = sandbox.status.metadata.uid.clone();
        let image_ref = state
            .images
            .get(&config.image.image)
            .map(|image| image_store::digest_reference(&config.image.image, &image.id))
            .ok_or_else(|| CriError::NotFound {
                kind: "image",
                id: config.image.image.clone(),
            })?;
        let id = state.new_id(self.inner.salt);
        let mut labels = config.labels.clone();
        labels
            .entry(POD_UID_LABEL.to_owned())
            .or_insert_with(|| pod_uid.clone());
        state.containers.insert(
            id.clone(),
            SimContainer {
                status: ContainerStatus {
                    id: id.clone(),
                    metadata: config.metadata.clone(),
                    state: ContainerState::Created,
                    created_at: clock::now_nanos(),
                    image: config.image.clone(),
                    image_ref,
                    labels,
                    annotations: config.annotations.clone(),
                    mounts: config.mounts.clone(),
                    log_path: config.log_path.clone(),
                    ..ContainerStatus::default()
                },
                sandbox_id: pod_sandbox_id.to_owned(),
                pod_uid: pod_uid.clone(),
                behaviour,
                started: None,
                exit_at: None,
            },
        );
        state.emit(&id, ContainerEventType::Created, &pod_uid);
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<(), CriError> {
        let latency = {
            let state = self.inner.lock();
            let container = state
                .containers
                .get(id)
                .ok_or_else(|| CriError::container_not_found(id))?;
            if container.status.state != ContainerState::Created {
                return Err(CriError::FailedPrecondition(format!(
                    "container {id} is {:?}, not created",
                    container.status.state
                )));
            }
            container.behaviour.start_latency
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let scheduled = {
            let mut state = self.inner.lock();
            let now = Instant::now();
            let sandbox_ready = |state: &State, sandbox: &str| {
                state
                    .sandboxes
                    .get(sandbox)
                    .is_some_and(|s| s.status.state == PodSandboxState::Ready)
            };
            let container = state
                .containers
                .get(id)
                .ok_or_else(|| CriError::container_not_found(id))?;
            if container.status.state != ContainerState::Created
                || !sandbox_ready(&state, &container.sandbox_id)
            {
                return Err(CriError::FailedPrecondition(format!(
                    "container {id} can no longer start"
                )));
            }
            let container = state
                .containers
                .get_mut(id)
                .ok_or_else(|| CriError::container_not_found(id))?;
            container.status.state = ContainerState::Running;
            container.status.started_at = clock::nanos_of(clock::wall_time_at(now));
            container.started = Some(now);
            let exit = container
                .behaviour
                .exit_for_attempt(container.status.metadata.attempt)
                .map(|(after, code)| (now + after, code));
            container.exit_at = exit;
            let pod_uid = container.pod_uid.clone();
            state.emit(id, ContainerEventType::Started, &pod_uid);
            if let Some((at, _)) = exit {
                state.next_id += 1;
                let seq = state.next_id;
                state.timers.push(Reverse((at, seq, id.to_owned())));
                true
            } else {
                false
            }
        };
        if scheduled {
            self.ensure_timer();
        }
        Ok(())
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<(), CriError> {
        let wait = {
            let state = self.inner.current();
            let Some(container) = state.containers.get(id) else {
                return Err(CriError::container_not_found(id));
            };
            if container.status.state != ContainerState::Running {
                return Ok(());
            }
            let hung = container
                .behaviour
                .liveness_failing(container.running_for(Instant::now()));
            let latency = if hung {
                None
            } else {
                Some(container.behaviour.stop_latency)
            };
            match latency {
                Some(latency) if latency <= timeout => (latency, 0),
                _ => (timeout, KILLED_EXIT_CODE),
            }
        };
        let (after, code) = wait;
        if !after.is_zero() {
            tokio::time::sleep(after).await;
        }
        let mut state = self.inner.current();
        Self::kill_now(&mut state, id, code);
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<(), CriError> {
        let mut state = self.inner.current();
        Self::kill_now(&mut state, id, KILLED_EXIT_CODE);
        if let Some(container) = state.containers.remove(id) {
            state.emit(id, ContainerEventType::Deleted, &container.pod_uid);
        }
        Ok(())
    }

    async fn list_containers(&self, filter: &ContainerFilter) -> Result<Vec<Container>, CriError> {
        let state = self.inner.current();
        Ok(state
            .containers
            .values()
            .filter(|c| {
                filter.matches(
                    &c.status.id,
                    &c.sandbox_id,
                    c.status.state,
                    &c.status.labels,
                )
            })
            .map(SimContainer::to_container)
            .collect())
    }

    async fn container_status(&self, id: &str) -> Result<ContainerStatus, CriError> {
        self.inner
            .current()
            .containers
            .get(id)
            .map(|c| c.status.clone())
            .ok_or_else(|| CriError::container_not_found(id))
    }

    async fn exec_sync(
        &self,
        id: &str,
        _cmd: &[String],
        _timeout: Duration,
    ) -> Result<ExecSyncResponse, CriError> {
        let state = self.inner.current();
        let container = state
            .containers
            .get(id)
            .ok_or_else(|| CriError::container_not_found(id))?;
        if container.status.state != ContainerState::Running {
            return Err(CriError::FailedPrecondition(format!(
                "container {id} is not running"
            )));
        }
        Ok(ExecSyncResponse::default())
    }

    async fn reopen_container_log(&self, id: &str) -> Result<(), CriError> {
        let state = self.inner.current();
        match state.containers.get(id) {
            Some(c) if c.status.state == ContainerState::Running => Ok(()),
            Some(_) => Err(CriError::FailedPrecondition(format!(
                "container {id} is not running"
            ))),
            None => Err(CriError::container_not_found(id)),
        }
    }

    async fn container_stats(&self, id: &str) -> Result<ContainerStats, CriError> {
        let state = self.inner.current();
        let container = state
            .containers
            .get(id)
            .ok_or_else(|| CriError::container_not_found(id))?;
        Ok(stats_of(container))
    }

    async fn list_container_stats(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<ContainerStats>, CriError> {
        let state = self.inner.current();
        Ok(state
            .containers
            .values()
            .filter(|c| {
                filter.matches(
                    &c.status.id,
                    &c.sandbox_id,
                    c.status.state,
                    &c.status.labels,
                )
            })
            .map(stats_of)
            .collect())
    }

    async fn get_container_events(&self) -> Result<BoxStream<'static, ContainerEvent>, CriError> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.inner.lock().subscribers.push(tx);
        Ok(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|event| (event, rx))
        })
        .boxed())
    }
}

fn stats_of(container: &SimContainer) -> ContainerStats {
    let running = container.status.state == ContainerState::Running;
    let running_for = container.running_for(Instant::now());
    let nano_cores = if running {
        container.behaviour.cpu_millis * 1_000_000
    } else {
        0
    };
    ContainerStats {
        id: container.status.id.clone(),
        metadata: container.status.metadata.clone(),
        timestamp: clock::now_nanos(),
        usage_nano_cores: nano_cores,
        usage_core_nano_seconds: u64::try_from(
            u128::from(container.behaviour.cpu_millis) * running_for.as_nanos() / 1000,
        )
        .unwrap_or(u64::MAX),
        working_set_bytes: if running {
            container.behaviour.memory_bytes
        } else {
            0
        },
    }
}

#[async_trait]
impl ImageService for SimRuntime {
    async fn list_images(&self, filter: &ImageFilter) -> Result<Vec<Image>, CriError> {
        let state = self.inner.lock();
        Ok(match &filter.image {
            Some(spec) => state.images.get(&spec.image).cloned().into_iter().collect(),
            None => state.images.list(),
        })
    }

    async fn image_status(&self, image: &ImageSpec) -> Result<Option<Image>, CriError> {
        Ok(self.inner.lock().images.get(&image.image).cloned())
    }

    async fn pull_image(
        &self,
        image: &ImageSpec,
        _auth: Option<&AuthConfig>,
        _sandbox_config: Option<&PodSandboxConfig>,
    ) -> Result<String, CriError> {
        if image.image.trim().is_empty() {
            return Err(CriError::InvalidArgument(
                "empty image reference".to_owned(),
            ));
        }
        let latency = self.inner.config.image_pull_latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut state = self.inner.lock();
        let pulled = state.images.insert(&image.image, false);
        Ok(image_store::digest_reference(&image.image, &pulled.id))
    }

    async fn remove_image(&self, image: &ImageSpec) -> Result<(), CriError> {
        self.inner.lock().images.remove(&image.image);
        Ok(())
    }

    async fn image_fs_info(&self) -> Result<Vec<FilesystemUsage>, CriError> {
        let state = self.inner.lock();
        Ok(vec![FilesystemUsage {
            timestamp: clock::now_nanos(),
            mountpoint: "/var/lib/sim/images".to_owned(),
            used_bytes: state.images.list().iter().map(|i| i.size).sum(),
            inodes_used: u64::try_from(state.images.len()).unwrap_or(u64::MAX),
        }])
    }
}

#[async_trait]
impl Prober for SimRuntime {
    async fn probe(&self, target: &ProbeTarget<'_>) -> ProbeResult {
        let state = self.inner.current();
        let Some(container) = state.containers.get(target.container_id) else {
            return ProbeResult::Failure(format!("container {} not found", target.container_id));
        };
        if container.status.state != ContainerState::Running {
            return ProbeResult::Failure("container is not running".to_owned());
        }
        let running_for = container.running_for(Instant::now());
        let behaviour = &container.behaviour;
        match target.probe_type {
            ProbeType::Liveness if behaviour.liveness_failing(running_for) => {
                ProbeResult::Failure("simulated liveness failure".to_owned())
            }
            ProbeType::Liveness => ProbeResult::Success,
            ProbeType::Readiness if !behaviour.ready => ProbeResult::Failure(
                "simulated readiness failure (sim.orchestra.dev/ready=false)".to_owned(),
            ),
            ProbeType::Readiness
                if running_for < behaviour.ready_after
                    || behaviour.liveness_failing(running_for) =>
            {
                ProbeResult::Failure("simulated container not ready yet".to_owned())
            }
            ProbeType::Readiness => ProbeResult::Success,
            ProbeType::Startup if running_for < behaviour.startup_after => {
                ProbeResult::Failure("simulated container still starting".to_owned())
            }
            ProbeType::Startup => ProbeResult::Success,
        }
    }
}

#[cfg(test)]
mod tests;
