//! Tests of the simulated runtime's CRI behaviour, on Tokio's paused clock.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;

use super::*;
use crate::cri::{ContainerMetadata, PodSandboxMetadata};
use crate::probe::ProbeType;
use orchestra_api::k8s_openapi::api::core::v1::{Container as SpecContainer, Probe};

fn sandbox_config(uid: &str, annotations: &[(&str, &str)]) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: PodSandboxMetadata {
            name: format!("pod-{uid}"),
            uid: uid.to_owned(),
            namespace: "default".to_owned(),
            attempt: 0,
        },
        annotations: annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..PodSandboxConfig::default()
    }
}

fn container_config(name: &str, attempt: u32) -> ContainerConfig {
    ContainerConfig {
        metadata: ContainerMetadata {
            name: name.to_owned(),
            attempt,
        },
        image: ImageSpec::new("nginx:1.27"),
        annotations: BTreeMap::from([(
            CONTAINER_TYPE_ANNOTATION.to_owned(),
            "container".to_owned(),
        )]),
        ..ContainerConfig::default()
    }
}

async fn runtime() -> SimRuntime {
    let runtime = SimRuntime::new();
    runtime
        .update_runtime_config(&RuntimeConfig {
            pod_cidr: "10.244.7.0/24".to_owned(),
        })
        .await
        .unwrap();
    runtime
        .pull_image(&ImageSpec::new("nginx:1.27"), None, None)
        .await
        .unwrap();
    runtime
}

async fn started(runtime: &SimRuntime, config: &PodSandboxConfig, name: &str) -> (String, String) {
    let sandbox = runtime.run_pod_sandbox(config).await.unwrap();
    let id = runtime
        .create_container(&sandbox, &container_config(name, 0), config)
        .await
        .unwrap();
    runtime.start_container(&id).await.unwrap();
    (sandbox, id)
}

#[tokio::test(start_paused = true)]
async fn sandboxes_get_distinct_addresses_from_the_pod_cidr_and_release_them() {
    let runtime = runtime().await;
    let a = runtime
        .run_pod_sandbox(&sandbox_config("a", &[]))
        .await
        .unwrap();
    let b = runtime
        .run_pod_sandbox(&sandbox_config("b", &[]))
        .await
        .unwrap();
    let ip = |id: String| {
        let runtime = runtime.clone();
        async move {
            runtime
                .pod_sandbox_status(&id)
                .await
                .unwrap()
                .network
                .unwrap()
                .ip
        }
    };
    assert_eq!(ip(a.clone()).await, "10.244.7.2");
    assert_eq!(ip(b.clone()).await, "10.244.7.3");
    runtime.stop_pod_sandbox(&a).await.unwrap();
    runtime.remove_pod_sandbox(&a).await.unwrap();
    assert_eq!(runtime.counts(), (1, 0));
    let listed = runtime
        .list_pod_sandbox(&PodSandboxFilter::for_pod("b"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, b);
}

#[tokio::test(start_paused = true)]
async fn a_sandbox_without_a_pod_cidr_fails_with_a_network_error() {
    let runtime = SimRuntime::new();
    let err = runtime
        .run_pod_sandbox(&sandbox_config("a", &[]))
        .await
        .unwrap_err();
    assert!(matches!(err, CriError::Network(_)), "{err}");
}

#[tokio::test(start_paused = true)]
async fn containers_exit_at_their_scheduled_time_with_their_exit_code() {
    let runtime = runtime().await;
    let mut events = runtime.get_container_events().await.unwrap();
    let config = sandbox_config(
        "a",
        &[
            ("sim.orchestra.dev/exit-after", "30s"),
            ("sim.orchestra.dev/exit-code", "3"),
        ],
    );
    let (_, id) = started(&runtime, &config, "app").await;
    assert_eq!(
        runtime.container_status(&id).await.unwrap().state,
        ContainerState::Running
    );
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert_eq!(
        runtime.container_status(&id).await.unwrap().state,
        ContainerState::Running
    );
    // The timer task reports the exit without anyone asking.
    let mut seen = Vec::new();
    while let Some(event) = events.next().await {
        seen.push(event.event_type);
        if event.event_type == ContainerEventType::Stopped {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            ContainerEventType::Created,
            ContainerEventType::Started,
            ContainerEventType::Stopped
        ]
    );
    let status = runtime.container_status(&id).await.unwrap();
    assert_eq!(status.state, ContainerState::Exited);
    assert_eq!(status.exit_code, 3);
    assert_eq!(status.reason, "Error");
    assert_eq!(status.finished_at - status.started_at, 30_000_000_000);
}

#[tokio::test(start_paused = true)]
async fn start_latency_delays_start_container() {
    let runtime = runtime().await;
    let config = sandbox_config("a", &[("sim.orchestra.dev/start-latency", "5s")]);
    let before = Instant::now();
    let (_, id) = started(&runtime, &config, "app").await;
    assert!(Instant::now() - before >= Duration::from_secs(5));
    let status = runtime.container_status(&id).await.unwrap();
    assert!(status.started_at - status.created_at >= 5_000_000_000);
}

#[tokio::test(start_paused = true)]
async fn stop_honours_the_grace_period_and_kills_hung_containers() {
    let runtime = runtime().await;
    let polite = sandbox_config("a", &[("sim.orchestra.dev/stop-latency", "2s")]);
    let (_, id) = started(&runtime, &polite, "app").await;
    let before = Instant::now();
    runtime
        .stop_container(&id, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(Instant::now() - before, Duration::from_secs(2));
    let status = runtime.container_status(&id).await.unwrap();
    assert_eq!((status.exit_code, status.reason.as_str()), (0, "Completed"));

    let hung = sandbox_config("b", &[("sim.orchestra.dev/liveness-fails-after", "1s")]);
    let (_, id) = started(&runtime, &hung, "app").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = Instant::now();
    runtime
        .stop_container(&id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(Instant::now() - before, Duration::from_secs(10));
    let status = runtime.container_status(&id).await.unwrap();
    assert_eq!((status.exit_code, status.reason.as_str()), (137, "Error"));
    // Stopping again is a no-op.
    runtime
        .stop_container(&id, Duration::from_secs(10))
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn probes_answer_from_the_annotations() {
    let runtime = runtime().await;
    let config = sandbox_config(
        "a",
        &[
            ("sim.orchestra.dev/ready-after", "10s"),
            ("sim.orchestra.dev/liveness-fails-after", "60s"),
            ("sim.orchestra.dev/startup-after", "5s"),
        ],
    );
    let (_, id) = started(&runtime, &config, "app").await;
    let spec = SpecContainer::default();
    let probe = Probe::default();
    let ask = |probe_type| {
        let runtime = runtime.clone();
        let id = id.clone();
        let spec = spec.clone();
        let probe = probe.clone();
        async move {
            runtime
                .probe(&ProbeTarget {
                    probe_type,
                    probe: &probe,
                    container: &spec,
                    container_id: &id,
                    pod_ip: None,
                })
                .await
                .is_success()
        }
    };
    assert!(!ask(ProbeType::Startup).await);
    assert!(!ask(ProbeType::Readiness).await);
    assert!(ask(ProbeType::Liveness).await);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(ask(ProbeType::Startup).await);
    assert!(ask(ProbeType::Readiness).await);
    tokio::time::sleep(Duration::from_secs(50)).await;
    assert!(!ask(ProbeType::Liveness).await);
    assert!(
        !ask(ProbeType::Readiness).await,
        "a hung container is not ready"
    );
}

#[tokio::test(start_paused = true)]
async fn creating_a_container_needs_its_image_and_a_ready_sandbox() {
    let runtime = runtime().await;
    let config = sandbox_config("a", &[]);
    let sandbox = runtime.run_pod_sandbox(&config).await.unwrap();
    let mut missing = container_config("app", 0);
    missing.image = ImageSpec::new("redis:7");
    assert!(
        runtime
            .create_container(&sandbox, &missing, &config)
            .await
            .unwrap_err()
            .is_not_found()
    );
    runtime.stop_pod_sandbox(&sandbox).await.unwrap();
    let err = runtime
        .create_container(&sandbox, &container_config("app", 0), &config)
        .await
        .unwrap_err();
    assert!(matches!(err, CriError::FailedPrecondition(_)), "{err}");
}

#[tokio::test(start_paused = true)]
async fn usage_is_reported_for_running_containers() {
    let runtime = runtime().await;
    let config = sandbox_config(
        "a",
        &[
            ("sim.orchestra.dev/cpu-usage", "250m"),
            ("sim.orchestra.dev/memory-usage", "64Mi"),
        ],
    );
    let (_, id) = started(&runtime, &config, "app").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let stats = runtime.container_stats(&id).await.unwrap();
    assert_eq!(stats.usage_nano_cores, 250_000_000);
    assert_eq!(stats.working_set_bytes, 64 << 20);
    assert_eq!(stats.usage_core_nano_seconds, 1_000_000_000);
    runtime.stop_container(&id, Duration::ZERO).await.unwrap();
    assert_eq!(
        runtime
            .container_stats(&id)
            .await
            .unwrap()
            .working_set_bytes,
        0
    );
}
