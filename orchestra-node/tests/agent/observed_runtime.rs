//! The simulated runtime seen through a window: every call is passed on, the container
//! events can be hidden (a runtime that cannot stream them), and the agent's reads of each
//! pod are counted, so that a test can wait for the agent to have looked at a pod again
//! instead of sleeping through a resync period.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use orchestra_node::SimRuntime;
use orchestra_node::cri::*;
use tokio::sync::watch;

/// [`SimRuntime`] with its calls observed.
pub struct ObservedRuntime {
    inner: SimRuntime,
    events: bool,
    /// Per pod uid: how often the agent listed the pod's sandboxes, which it does once per
    /// sync of the pod.
    reads: watch::Sender<HashMap<String, u64>>,
}

impl ObservedRuntime {
    /// `inner` with its container events passed on.
    pub fn new(inner: SimRuntime) -> Self {
        Self {
            inner,
            events: true,
            reads: watch::Sender::new(HashMap::new()),
        }
    }

    /// `inner` with its container events hidden: the agent must relist to notice exits.
    pub fn without_events(inner: SimRuntime) -> Self {
        Self {
            events: false,
            ..Self::new(inner)
        }
    }

    /// Waits until the agent has finished a sync of the pod `uid` that started after this
    /// call: two more reads, as a sync in progress may already have read it.
    pub async fn wait_for_a_later_sync(&self, uid: &str, timeout: Duration) {
        let mut reads = self.reads.subscribe();
        let read = |reads: &HashMap<String, u64>| reads.get(uid).copied().unwrap_or(0);
        let target = read(&reads.borrow()) + 2;
        tokio::time::timeout(timeout, reads.wait_for(|reads| read(reads) >= target))
            .await
            .unwrap_or_else(|_| panic!("the agent did not sync pod {uid} within {timeout:?}"))
            .expect("the runtime is alive");
    }
}

#[async_trait]
impl RuntimeService for ObservedRuntime {
    async fn version(&self) -> Result<VersionResponse, CriError> {
        self.inner.version().await
    }
    async fn status(&self) -> Result<RuntimeStatus, CriError> {
        self.inner.status().await
    }
    async fn update_runtime_config(&self, config: &RuntimeConfig) -> Result<(), CriError> {
        self.inner.update_runtime_config(config).await
    }
    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String, CriError> {
        self.inner.run_pod_sandbox(config).await
    }
    async fn stop_pod_sandbox(&self, id: &str) -> Result<(), CriError> {
        self.inner.stop_pod_sandbox(id).await
    }
    async fn remove_pod_sandbox(&self, id: &str) -> Result<(), CriError> {
        self.inner.remove_pod_sandbox(id).await
    }
    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus, CriError> {
        self.inner.pod_sandbox_status(id).await
    }
    async fn list_pod_sandbox(
        &self,
        filter: &PodSandboxFilter,
    ) -> Result<Vec<PodSandbox>, CriError> {
        let listed = self.inner.list_pod_sandbox(filter).await;
        if let Some(uid) = filter.label_selector.get(POD_UID_LABEL) {
            self.reads
                .send_modify(|reads| *reads.entry(uid.clone()).or_default() += 1);
        }
        listed
    }
    async fn create_container(
        &self,
        sandbox: &str,
        config: &ContainerConfig,
        sandbox_config: &PodSandboxConfig,
    ) -> Result<String, CriError> {
        self.inner
            .create_container(sandbox, config, sandbox_config)
            .await
    }
    async fn start_container(&self, id: &str) -> Result<(), CriError> {
        self.inner.start_container(id).await
    }
    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<(), CriError> {
        self.inner.stop_container(id, timeout).await
    }
    async fn remove_container(&self, id: &str) -> Result<(), CriError> {
        self.inner.remove_container(id).await
    }
    async fn list_containers(&self, filter: &ContainerFilter) -> Result<Vec<Container>, CriError> {
        self.inner.list_containers(filter).await
    }
    async fn container_status(&self, id: &str) -> Result<ContainerStatus, CriError> {
        self.inner.container_status(id).await
    }
    async fn exec_sync(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecSyncResponse, CriError> {
        self.inner.exec_sync(id, cmd, timeout).await
    }
    async fn reopen_container_log(&self, id: &str) -> Result<(), CriError> {
        self.inner.reopen_container_log(id).await
    }
    async fn container_stats(&self, id: &str) -> Result<ContainerStats, CriError> {
        self.inner.container_stats(id).await
    }
    async fn list_container_stats(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<ContainerStats>, CriError> {
        self.inner.list_container_stats(filter).await
    }
    async fn get_container_events(&self) -> Result<BoxStream<'static, ContainerEvent>, CriError> {
        if self.events {
            self.inner.get_container_events().await
        } else {
            Err(CriError::Unimplemented("GetContainerEvents"))
        }
    }
}

#[async_trait]
impl ImageService for ObservedRuntime {
    async fn list_images(&self, filter: &ImageFilter) -> Result<Vec<Image>, CriError> {
        self.inner.list_images(filter).await
    }
    async fn image_status(&self, image: &ImageSpec) -> Result<Option<Image>, CriError> {
        self.inner.image_status(image).await
    }
    async fn pull_image(
        &self,
        image: &ImageSpec,
        auth: Option<&AuthConfig>,
        sandbox_config: Option<&PodSandboxConfig>,
    ) -> Result<String, CriError> {
        self.inner.pull_image(image, auth, sandbox_config).await
    }
    async fn remove_image(&self, image: &ImageSpec) -> Result<(), CriError> {
        self.inner.remove_image(image).await
    }
    async fn image_fs_info(&self) -> Result<Vec<FilesystemUsage>, CriError> {
        self.inner.image_fs_info().await
    }
}
