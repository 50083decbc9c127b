//! What the runtime holds for one pod: its sandboxes and containers, newest first (the
//! kubelet's `kubecontainer.PodStatus`).
//!
//! The agent keeps no record of its own of what it started: every sync reads the pod's
//! sandboxes and containers back from the runtime by the `io.kubernetes.pod.uid` label, so a
//! restarted agent sees exactly what the previous one left.

use std::collections::HashMap;
use std::sync::Arc;

use crate::cri::{
    CONTAINER_HASH_ANNOTATION, ContainerFilter, ContainerRuntime, ContainerState, ContainerStatus,
    CriError, PodSandboxFilter, PodSandboxState, PodSandboxStatus,
};

/// The runtime's view of one pod.
#[derive(Debug, Clone, Default)]
pub struct RuntimePod {
    /// Sandboxes, newest first.
    pub sandboxes: Vec<PodSandboxStatus>,
    /// Containers of every sandbox, newest first.
    pub containers: Vec<ContainerStatus>,
    /// The sandbox of each container, by container id.
    pub sandbox_of: HashMap<String, String>,
}

impl RuntimePod {
    /// Reads the pod with uid `uid` from the runtime.
    pub async fn fetch(runtime: &Arc<dyn ContainerRuntime>, uid: &str) -> Result<Self, CriError> {
        let listed = runtime
            .list_pod_sandbox(&PodSandboxFilter::for_pod(uid))
            .await?;
        let mut sandboxes = Vec::with_capacity(listed.len());
        for sandbox in listed {
            match runtime.pod_sandbox_status(&sandbox.id).await {
                Ok(status) => sandboxes.push(status),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        sandboxes.sort_by(|a, b| {
            (b.created_at, b.metadata.attempt).cmp(&(a.created_at, a.metadata.attempt))
        });
        let listed = runtime
            .list_containers(&ContainerFilter::for_pod(uid))
            .await?;
        let mut containers = Vec::with_capacity(listed.len());
        let sandbox_of = listed
            .iter()
            .map(|c| (c.id.clone(), c.pod_sandbox_id.clone()))
            .collect();
        for container in listed {
            match runtime.container_status(&container.id).await {
                Ok(status) => containers.push(status),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        containers.sort_by(|a, b| {
            (b.created_at, b.metadata.attempt).cmp(&(a.created_at, a.metadata.attempt))
        });
        Ok(Self {
            sandboxes,
            containers,
            sandbox_of,
        })
    }

    /// The newest sandbox.
    pub fn latest_sandbox(&self) -> Option<&PodSandboxStatus> {
        self.sandboxes.first()
    }

    /// The newest sandbox if it is ready.
    pub fn ready_sandbox(&self) -> Option<&PodSandboxStatus> {
        self.latest_sandbox()
            .filter(|s| s.state == PodSandboxState::Ready)
    }

    /// The pod's IPs, from the newest sandbox.
    pub fn pod_ips(&self) -> Vec<String> {
        self.latest_sandbox()
            .and_then(|s| s.network.as_ref())
            .map(|n| {
                std::iter::once(n.ip.clone())
                    .chain(n.additional_ips.iter().cloned())
                    .filter(|ip| !ip.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The containers named `name`, newest first.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a ContainerStatus> + 'a {
        self.containers
            .iter()
            .filter(move |c| c.metadata.name == name)
    }

    /// The newest container named `name`.
    pub fn latest(&self, name: &str) -> Option<&ContainerStatus> {
        self.containers.iter().find(|c| c.metadata.name == name)
    }

    /// Containers that are running (or created and not yet started).
    pub fn live(&self) -> impl Iterator<Item = &ContainerStatus> {
        self.containers
            .iter()
            .filter(|c| matches!(c.state, ContainerState::Running | ContainerState::Created))
    }

    /// Whether anything still runs: a ready sandbox or a live container.
    pub fn has_running(&self) -> bool {
        self.live().next().is_some()
            || self
                .sandboxes
                .iter()
                .any(|s| s.state == PodSandboxState::Ready)
    }

    /// Whether the runtime holds nothing for the pod.
    pub fn is_empty(&self) -> bool {
        self.sandboxes.is_empty() && self.containers.is_empty()
    }
}

/// The restart count recorded on a container (its attempt number).
pub fn restart_count(container: &ContainerStatus) -> u32 {
    container.metadata.attempt
}

/// The spec hash recorded on a container.
pub fn container_hash(container: &ContainerStatus) -> Option<&str> {
    container
        .annotations
        .get(CONTAINER_HASH_ANNOTATION)
        .map(String::as_str)
}
