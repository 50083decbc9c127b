//! Containers, as CRI v1 describes them (`ContainerConfig`, `ContainerStatus`, `Container`,
//! `ContainerFilter`, `ContainerStats`).

use std::collections::BTreeMap;

use super::image::ImageSpec;

/// Identifies a container within its pod (`ContainerMetadata`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerMetadata {
    /// The container's name in the pod spec.
    pub name: String,
    /// How many times this container was created before (the kubelet's restart count).
    pub attempt: u32,
}

/// An environment variable (`KeyValue`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyValue {
    /// The name.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A mount into the container (`Mount`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mount {
    /// Where inside the container.
    pub container_path: String,
    /// What on the host.
    pub host_path: String,
    /// Read-only.
    pub readonly: bool,
}

/// The resources of a Linux container (`LinuxContainerResources`, the parts the kubelet sets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinuxContainerResources {
    /// CPU shares (relative weight), from the CPU request.
    pub cpu_shares: i64,
    /// CFS quota in microseconds per period, from the CPU limit (0: unlimited).
    pub cpu_quota: i64,
    /// CFS period in microseconds.
    pub cpu_period: i64,
    /// Memory limit in bytes (0: unlimited).
    pub memory_limit_in_bytes: i64,
}

/// Everything a runtime needs to create a container (`ContainerConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerConfig {
    /// Name and attempt.
    pub metadata: ContainerMetadata,
    /// The image to run.
    pub image: ImageSpec,
    /// The entrypoint (the pod spec's `command`).
    pub command: Vec<String>,
    /// Its arguments (the pod spec's `args`).
    pub args: Vec<String>,
    /// The working directory.
    pub working_dir: String,
    /// The environment.
    pub envs: Vec<KeyValue>,
    /// The mounts.
    pub mounts: Vec<Mount>,
    /// The kubelet's `io.kubernetes.*` labels.
    pub labels: BTreeMap<String, String>,
    /// The kubelet's container annotations (hash, restart count, container type, …).
    pub annotations: BTreeMap<String, String>,
    /// Log file path, relative to the sandbox's log directory (`<name>/<attempt>.log`).
    pub log_path: String,
    /// Keep stdin open.
    pub stdin: bool,
    /// Allocate a TTY.
    pub tty: bool,
    /// Linux resources.
    pub linux_resources: LinuxContainerResources,
}

/// The life-cycle state of a container (`ContainerState`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ContainerState {
    /// Created, not started.
    #[default]
    Created,
    /// Running.
    Running,
    /// Finished (exited or killed).
    Exited,
    /// The runtime does not know.
    Unknown,
}

/// What a runtime knows about one container (`ContainerStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerStatus {
    /// The container id.
    pub id: String,
    /// Name and attempt.
    pub metadata: ContainerMetadata,
    /// Its state.
    pub state: ContainerState,
    /// Creation time, nanoseconds since the Unix epoch.
    pub created_at: i64,
    /// Start time (0 if it never started).
    pub started_at: i64,
    /// Finish time (0 if it has not finished).
    pub finished_at: i64,
    /// Exit code, once exited.
    pub exit_code: i32,
    /// The image as requested.
    pub image: ImageSpec,
    /// The image it actually runs, by digest.
    pub image_ref: String,
    /// A short reason for the state (`Completed`, `Error`, `OOMKilled`).
    pub reason: String,
    /// A human-readable message.
    pub message: String,
    /// The labels it was created with.
    pub labels: BTreeMap<String, String>,
    /// The annotations it was created with.
    pub annotations: BTreeMap<String, String>,
    /// The mounts.
    pub mounts: Vec<Mount>,
    /// The log file.
    pub log_path: String,
}

/// One container of a list (`Container`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Container {
    /// The container id.
    pub id: String,
    /// The sandbox it runs in.
    pub pod_sandbox_id: String,
    /// Name and attempt.
    pub metadata: ContainerMetadata,
    /// The image as requested.
    pub image: ImageSpec,
    /// The image it runs, by digest.
    pub image_ref: String,
    /// Its state.
    pub state: ContainerState,
    /// Creation time, nanoseconds since the Unix epoch.
    pub created_at: i64,
    /// The labels it was created with.
    pub labels: BTreeMap<String, String>,
    /// The annotations it was created with.
    pub annotations: BTreeMap<String, String>,
}

/// Which containers a list returns (`ContainerFilter`); unset fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerFilter {
    /// Only this id.
    pub id: Option<String>,
    /// Only containers in this state.
    pub state: Option<ContainerState>,
    /// Only containers of this sandbox.
    pub pod_sandbox_id: Option<String>,
    /// Only containers carrying all these labels.
    pub label_selector: BTreeMap<String, String>,
}

impl ContainerFilter {
    /// Containers of the pod with this uid (the kubelet's `io.kubernetes.pod.uid` label).
    pub fn for_pod(uid: &str) -> Self {
        Self {
            label_selector: BTreeMap::from([(super::POD_UID_LABEL.to_owned(), uid.to_owned())]),
            ..Self::default()
        }
    }

    /// Whether a container passes the filter.
    pub fn matches(
        &self,
        id: &str,
        sandbox_id: &str,
        state: ContainerState,
        labels: &BTreeMap<String, String>,
    ) -> bool {
        self.id.as_deref().is_none_or(|want| want == id)
            && self
                .pod_sandbox_id
                .as_deref()
                .is_none_or(|want| want == sandbox_id)
            && self.state.is_none_or(|want| want == state)
            && super::labels_match(&self.label_selector, labels)
    }
}

/// The answer of `ExecSync`: a command run to completion in a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSyncResponse {
    /// What it wrote to stdout.
    pub stdout: Vec<u8>,
    /// What it wrote to stderr.
    pub stderr: Vec<u8>,
    /// Its exit code.
    pub exit_code: i32,
}

/// Resource usage of a container (`ContainerStats`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerStats {
    /// The container id.
    pub id: String,
    /// Name and attempt.
    pub metadata: ContainerMetadata,
    /// When the figures were taken, nanoseconds since the Unix epoch.
    pub timestamp: i64,
    /// CPU in use, nanocores (1e9 = one core).
    pub usage_nano_cores: u64,
    /// Cumulative CPU time, nanoseconds.
    pub usage_core_nano_seconds: u64,
    /// Memory in use (working set), bytes.
    pub working_set_bytes: u64,
}

/// What happened to a container, as `GetContainerEvents` streams it
/// (`ContainerEventType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerEventType {
    /// A container was created.
    Created,
    /// A container started.
    Started,
    /// A container stopped (exited or was killed).
    Stopped,
    /// A container was removed.
    Deleted,
}

/// One event of `GetContainerEvents` (`ContainerEventResponse`): which container, what
/// happened, and the pod it belongs to, so the kubelet can sync that pod at once instead of
/// waiting for its next relist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    /// The container, or the sandbox for sandbox events.
    pub container_id: String,
    /// What happened.
    pub event_type: ContainerEventType,
    /// When, nanoseconds since the Unix epoch.
    pub created_at: i64,
    /// The uid of the pod it belongs to.
    pub pod_uid: String,
}
