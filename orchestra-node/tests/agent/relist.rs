//! A runtime without container events: the agent notices exits by relisting (Kubernetes'
//! generic PLEG), and probes run through Kubernetes' prober (exec probes via `ExecSync`).

use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use async_trait::async_trait;
use orchestra_node::cri::*;
use orchestra_node::{NodeAgent, SimRuntime};

/// The simulated runtime with its container events hidden.
struct WithoutEvents(SimRuntime);

#[async_trait]
impl RuntimeService for WithoutEvents {
    async fn version(&self) -> Result<VersionResponse, CriError> {
        self.0.version().await
    }
    async fn status(&self) -> Result<RuntimeStatus, CriError> {
        self.0.status().await
    }
    async fn update_runtime_config(&self, config: &RuntimeConfig) -> Result<(), CriError> {
        self.0.update_runtime_config(config).await
    }
    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String, CriError> {
        self.0.run_pod_sandbox(config).await
    }
    async fn stop_pod_sandbox(&self, id: &str) -> Result<(), CriError> {
        self.0.stop_pod_sandbox(id).await
    }
    async fn remove_pod_sandbox(&self, id: &str) -> Result<(), CriError> {
        self.0.remove_pod_sandbox(id).await
    }
    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus, CriError> {
        self.0.pod_sandbox_status(id).await
    }
    async fn list_pod_sandbox(
        &self,
        filter: &PodSandboxFilter,
    ) -> Result<Vec<PodSandbox>, CriError> {
        self.0.list_pod_sandbox(filter).await
    }
    async fn create_container(
        &self,
        sandbox: &str,
        config: &ContainerConfig,
        sandbox_config: &PodSandboxConfig,
    ) -> Result<String, CriError> {
        self.0
            .create_container(sandbox, config, sandbox_config)
            .await
    }
    async fn start_container(&self, id: &str) -> Result<(), CriError> {
        self.0.start_container(id).await
    }
    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<(), CriError> {
        self.0.stop_container(id, timeout).await
    }
    async fn remove_container(&self, id: &str) -> Result<(), CriError> {
        self.0.remove_container(id).await
    }
    async fn list_containers(&self, filter: &ContainerFilter) -> Result<Vec<Container>, CriError> {
        self.0.list_containers(filter).await
    }
    async fn container_status(&self, id: &str) -> Result<ContainerStatus, CriError> {
        self.0.container_status(id).await
    }
    async fn exec_sync(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecSyncResponse, CriError> {
        self.0.exec_sync(id, cmd, timeout).await
    }
    async fn reopen_container_log(&self, id: &str) -> Result<(), CriError> {
        self.0.reopen_container_log(id).await
    }
    async fn container_stats(&self, id: &str) -> Result<ContainerStats, CriError> {
        self.0.container_stats(id).await
    }
    async fn list_container_stats(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<ContainerStats>, CriError> {
        self.0.list_container_stats(filter).await
    }
}

#[async_trait]
impl ImageService for WithoutEvents {
    async fn list_images(&self, filter: &ImageFilter) -> Result<Vec<Image>, CriError> {
        self.0.list_images(filter).await
    }
    async fn image_status(&self, image: &ImageSpec) -> Result<Option<Image>, CriError> {
        self.0.image_status(image).await
    }
    async fn pull_image(
        &self,
        image: &ImageSpec,
        auth: Option<&AuthConfig>,
        sandbox_config: Option<&PodSandboxConfig>,
    ) -> Result<String, CriError> {
        self.0.pull_image(image, auth, sandbox_config).await
    }
    async fn remove_image(&self, image: &ImageSpec) -> Result<(), CriError> {
        self.0.remove_image(image).await
    }
    async fn image_fs_info(&self) -> Result<Vec<FilesystemUsage>, CriError> {
        self.0.image_fs_info().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_container_events_exits_are_found_by_relisting_and_exec_probes_run_through_the_runtime()
 {
    let client = server().await;
    let mut config = fast_config("node-1");
    // No periodic resync to hide behind: only the relist notices exits.
    config.sync_frequency = Duration::from_secs(600);
    let agent = NodeAgent::builder(client.clone(), config)
        .runtime(Arc::new(WithoutEvents(SimRuntime::new())))
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(agent.run(async move {
        let _ = stopped.await;
    }));
    create(
        &client,
        &simple_pod(
            "crasher",
            "node-1",
            &[
                ("sim.orchestra.dev/exit-after", "100ms"),
                ("sim.orchestra.dev/exit-code", "1"),
            ],
        ),
    )
    .await;
    wait_for_pod(
        &client,
        "crasher",
        "restarted twice",
        Duration::from_secs(15),
        |p| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|c| c.first())
                .is_some_and(|c| c.restart_count >= 2)
        },
    )
    .await;
    let probed = pod(
        "probed",
        "node-1",
        serde_json::json!({"spec": {"containers": [{
            "name": "app", "image": "nginx:1.27",
            "readinessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 1}
        }]}}),
    );
    create(&client, &probed).await;
    wait_running_ready(&client, "probed").await;
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}
