//! The Container Runtime Interface, as Rust traits.
//!
//! Kubernetes' kubelet does not run containers itself: it asks a runtime (containerd, CRI-O)
//! over CRI, a gRPC API of two services. [`RuntimeService`] manages *pod sandboxes* (the
//! shared network namespace and cgroup of a pod) and the *containers* in them;
//! [`ImageService`] pulls and lists images. This module mirrors CRI v1's calls and messages
//! as plain Rust structs and async traits, without gRPC, so the agent drives any runtime that
//! implements them: the simulated [`SimRuntime`](crate::sim::SimRuntime) today, a real one
//! later, without changes to the kubelet.
//!
//! The kubelet finds its sandboxes and containers again after a restart through the labels it
//! puts on them ([`POD_UID_LABEL`] and friends), exactly as Kubernetes' kubelet does, so
//! runtime state is the truth and the agent keeps none of its own on disk.

mod container;
mod error;
mod image;
mod runtime;
mod sandbox;

use std::collections::BTreeMap;

pub use self::container::{
    Container, ContainerConfig, ContainerEvent, ContainerEventType, ContainerFilter,
    ContainerMetadata, ContainerState, ContainerStats, ContainerStatus, ExecSyncResponse, KeyValue,
    LinuxContainerResources, Mount,
};
pub use self::error::CriError;
pub use self::image::{AuthConfig, FilesystemUsage, Image, ImageFilter, ImageService, ImageSpec};
pub use self::runtime::{
    NETWORK_READY, RUNTIME_READY, RuntimeCondition, RuntimeConfig, RuntimeService, RuntimeStatus,
    VersionResponse,
};
pub use self::sandbox::{
    DnsConfig, PodSandbox, PodSandboxConfig, PodSandboxFilter, PodSandboxMetadata,
    PodSandboxNetworkStatus, PodSandboxState, PodSandboxStatus, PortMapping, Protocol,
};

/// Label on sandboxes and containers: the pod's name.
pub const POD_NAME_LABEL: &str = "io.kubernetes.pod.name";
/// Label on sandboxes and containers: the pod's namespace.
pub const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
/// Label on sandboxes and containers: the pod's uid.
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
/// Label on containers: the container's name in the pod spec.
pub const CONTAINER_NAME_LABEL: &str = "io.kubernetes.container.name";
/// Annotation on containers: a hash of the container's spec; a different hash means the
/// spec changed and the container is replaced.
pub const CONTAINER_HASH_ANNOTATION: &str = "io.kubernetes.container.hash";
/// Annotation on containers: its restart count when it was created.
pub const CONTAINER_RESTART_COUNT_ANNOTATION: &str = "io.kubernetes.container.restartCount";
/// Annotation on containers: `init`, `container` or `ephemeral`.
pub const CONTAINER_TYPE_ANNOTATION: &str = "io.kubernetes.container.type";
/// Annotation on init containers that are sidecars (`restartPolicy: Always`): they keep
/// running beside the app containers. Orchestra's own addition to the kubelet's
/// annotations, for runtimes that simulate containers and must not let a sidecar exit like
/// an ordinary init container.
pub const CONTAINER_RESTART_POLICY_ANNOTATION: &str = "orchestra.dev/container-restart-policy";
/// Annotation on containers: where the termination message is written.
pub const CONTAINER_TERMINATION_MESSAGE_PATH_ANNOTATION: &str =
    "io.kubernetes.container.terminationMessagePath";
/// Annotation on containers: the pod's `terminationGracePeriodSeconds`.
pub const POD_TERMINATION_GRACE_PERIOD_ANNOTATION: &str =
    "io.kubernetes.pod.terminationGracePeriod";

/// Whether `labels` carries every pair of `selector`.
pub fn labels_match(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value))
}

/// The runtime that implements both CRI services: what the agent is given to run pods.
pub trait ContainerRuntime: RuntimeService + ImageService {}

impl<T: RuntimeService + ImageService> ContainerRuntime for T {}
