//! The CRI `RuntimeService`: sandboxes and containers.

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

use super::container::{
    Container, ContainerConfig, ContainerEvent, ContainerFilter, ContainerStats, ContainerStatus,
    ExecSyncResponse,
};
use super::error::CriError;
use super::sandbox::{PodSandbox, PodSandboxConfig, PodSandboxFilter, PodSandboxStatus};

/// The runtime's name and versions (`VersionResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionResponse {
    /// The version of the kubelet API the runtime speaks.
    pub version: String,
    /// The runtime's name (`containerd`, `cri-o`, `sim`): the scheme of container ids in pod
    /// statuses (`sim://…`).
    pub runtime_name: String,
    /// The runtime's version.
    pub runtime_version: String,
    /// The CRI version (`v1`).
    pub runtime_api_version: String,
}

/// The condition `RuntimeReady`: the runtime can run sandboxes and containers.
pub const RUNTIME_READY: &str = "RuntimeReady";
/// The condition `NetworkReady`: the pod network is set up.
pub const NETWORK_READY: &str = "NetworkReady";

/// One condition of the runtime (`RuntimeCondition`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeCondition {
    /// [`RUNTIME_READY`] or [`NETWORK_READY`].
    pub condition_type: String,
    /// Whether it holds.
    pub status: bool,
    /// Why not, in one word.
    pub reason: String,
    /// Why not, for people.
    pub message: String,
}

/// The health of a runtime (`RuntimeStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeStatus {
    /// Its conditions.
    pub conditions: Vec<RuntimeCondition>,
}

impl RuntimeStatus {
    /// The condition of that type, if reported.
    pub fn condition(&self, condition_type: &str) -> Option<&RuntimeCondition> {
        self.conditions
            .iter()
            .find(|c| c.condition_type == condition_type)
    }
}

/// Runtime configuration the kubelet pushes (`RuntimeConfig`): the node's pod CIDR, which the
/// runtime hands its CNI plugin as the `ipRanges` capability.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// The pod CIDR (`10.244.1.0/24`); empty when unknown.
    pub pod_cidr: String,
}

/// The CRI `RuntimeService`: the sandbox and container half of a container runtime.
///
/// The kubelet drives a pod through it in CRI's order: `run_pod_sandbox` (which sets up the
/// network), then for each container `create_container` and `start_container`; probes go
/// through `exec_sync`; termination is `stop_container` with the grace period, then
/// `stop_pod_sandbox` and the removals.
#[async_trait]
pub trait RuntimeService: Send + Sync {
    /// Name and versions (`Version`).
    async fn version(&self) -> Result<VersionResponse, CriError>;

    /// Health (`Status`).
    async fn status(&self) -> Result<RuntimeStatus, CriError>;

    /// Takes new runtime configuration (`UpdateRuntimeConfig`).
    async fn update_runtime_config(&self, config: &RuntimeConfig) -> Result<(), CriError>;

    /// Creates and starts a sandbox, network included; answers its id (`RunPodSandbox`).
    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String, CriError>;

    /// Stops a sandbox: kills its containers and tears its network down
    /// (`StopPodSandbox`); stopping a stopped or unknown sandbox succeeds.
    async fn stop_pod_sandbox(&self, id: &str) -> Result<(), CriError>;

    /// Removes a stopped sandbox and its containers (`RemovePodSandbox`); removing an
    /// unknown sandbox succeeds.
    async fn remove_pod_sandbox(&self, id: &str) -> Result<(), CriError>;

    /// The status of one sandbox (`PodSandboxStatus`).
    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus, CriError>;

    /// The sandboxes that pass `filter` (`ListPodSandbox`).
    async fn list_pod_sandbox(
        &self,
        filter: &PodSandboxFilter,
    ) -> Result<Vec<PodSandbox>, CriError>;

    /// Creates a container in a sandbox; answers its id (`CreateContainer`).
    async fn create_container(
        &self,
        pod_sandbox_id: &str,
        config: &ContainerConfig,
        sandbox_config: &PodSandboxConfig,
    ) -> Result<String, CriError>;

    /// Starts a created container; returns once it runs (`StartContainer`).
    async fn start_container(&self, id: &str) -> Result<(), CriError>;

    /// Stops a container: a polite request first, then after `timeout` a kill
    /// (`StopContainer`). Stopping a stopped container succeeds.
    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<(), CriError>;

    /// Removes a container, stopping it first if it runs (`RemoveContainer`); removing an
    /// unknown container succeeds.
    async fn remove_container(&self, id: &str) -> Result<(), CriError>;

    /// The containers that pass `filter` (`ListContainers`).
    async fn list_containers(&self, filter: &ContainerFilter) -> Result<Vec<Container>, CriError>;

    /// The status of one container (`ContainerStatus`).
    async fn container_status(&self, id: &str) -> Result<ContainerStatus, CriError>;

    /// Runs a command in a container to completion (`ExecSync`).
    async fn exec_sync(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecSyncResponse, CriError>;

    /// Reopens a container's log file after rotation (`ReopenContainerLog`).
    async fn reopen_container_log(&self, id: &str) -> Result<(), CriError>;

    /// Resource usage of one container (`ContainerStats`).
    async fn container_stats(&self, id: &str) -> Result<ContainerStats, CriError>;

    /// Resource usage of the containers that pass `filter` (`ListContainerStats`).
    async fn list_container_stats(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<ContainerStats>, CriError>;

    /// A stream of container life-cycle events (`GetContainerEvents`). Runtimes that cannot
    /// stream answer `Unimplemented`, and the kubelet relies on relisting alone.
    async fn get_container_events(&self) -> Result<BoxStream<'static, ContainerEvent>, CriError> {
        Err(CriError::Unimplemented("GetContainerEvents"))
    }
}
