//! Pods on a simulated node: start, init containers, restarts and back-off, probes,
//! restart policies, graceful deletion and admission.

use std::net::IpAddr;
use std::time::Duration;

use crate::support::*;
use futures::StreamExt;
use orchestra_api::k8s_openapi::api::core::v1::{Event, Node, NodeSpec};
use orchestra_api::{Api, DeleteParams, PostParams, WatchEvent, WatchParams};
use orchestra_node::SimRuntime;
use orchestra_node::cni::Cidr;
use orchestra_node::cri::{ContainerFilter, RuntimeService};

fn container_status<'a>(
    pod: &'a orchestra_api::k8s_openapi::api::core::v1::Pod,
    name: &str,
) -> &'a orchestra_api::k8s_openapi::api::core::v1::ContainerStatus {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|list| list.iter().find(|c| c.name == name))
        .expect("a container status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_pod_runs_with_an_address_from_the_nodes_pod_cidr_and_becomes_ready() {
    let client = server().await;
    let mut node = Node::default();
    node.metadata.name = Some("node-1".into());
    node.spec = Some(NodeSpec {
        pod_cidr: Some("10.244.3.0/24".into()),
        pod_cidrs: Some(vec!["10.244.3.0/24".into()]),
        ..NodeSpec::default()
    });
    nodes(&client)
        .create(&PostParams::default(), &node)
        .await
        .unwrap();
    let agent = start_agent(&client, fast_config("node-1"), SimRuntime::new());
    create(&client, &simple_pod("web", "node-1", &[])).await;

    let pod = wait_running_ready(&client, "web").await;
    let status = pod.status.as_ref().unwrap();
    let ip: IpAddr = status.pod_ip.as_deref().unwrap().parse().unwrap();
    assert!(
        "10.244.3.0/24".parse::<Cidr>().unwrap().contains(ip),
        "{ip}"
    );
    assert_eq!(status.pod_ips.as_ref().unwrap()[0].ip, ip.to_string());
    assert_eq!(status.host_ip.as_deref(), Some("172.16.0.2"));
    assert!(status.start_time.is_some());
    assert_eq!(status.qos_class.as_deref(), Some("BestEffort"));
    for condition in [
        "PodScheduled",
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "Ready",
    ] {
        assert_eq!(
            crate::support::condition(&pod, condition),
            Some("True"),
            "{condition}"
        );
    }
    let app = container_status(&pod, "app");
    assert!(app.ready);
    assert_eq!(app.started, Some(true));
    assert_eq!(app.restart_count, 0);
    assert!(app.state.as_ref().unwrap().running.is_some());
    assert!(app.container_id.as_deref().unwrap().starts_with("sim://"));
    assert!(
        app.image_id.starts_with("docker.io/library/nginx@sha256:"),
        "{}",
        app.image_id
    );

    // Nothing changes any more, so nothing is written any more.
    let version = pod.metadata.resource_version.clone();
    let events = Api::<Event>::namespaced(client.clone(), "default");
    wait_for("the Started event", Duration::from_secs(5), || {
        let events = events.clone();
        async move {
            let list = events.list(&Default::default()).await.ok()?;
            list.items
                .iter()
                .any(|e| e.reason.as_deref() == Some("Started"))
                .then_some(())
        }
    })
    .await;
    let uid = pod.metadata.uid.clone().unwrap();
    agent
        .runtime
        .wait_for_a_later_sync(&uid, Duration::from_secs(10))
        .await;
    let again = pods(&client).get("web").await.unwrap();
    assert_eq!(
        again.metadata.resource_version, version,
        "no status write without a change"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_pod_cidr_the_node_uses_its_own_private_range() {
    let client = server().await;
    let agent = start_agent(&client, fast_config("node-12"), SimRuntime::new());
    create(&client, &simple_pod("web", "node-12", &[])).await;
    let pod = wait_running_ready(&client, "web").await;
    let ip: IpAddr = pod
        .status
        .as_ref()
        .unwrap()
        .pod_ip
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        "10.128.12.0/24".parse::<Cidr>().unwrap().contains(ip),
        "{ip}"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_containers_run_one_after_another_before_the_app_containers() {
    let client = server().await;
    let agent = start_agent(&client, fast_config("node-1"), SimRuntime::new());
    let spec = pod(
        "with-init",
        "node-1",
        serde_json::json!({
            "metadata": {"annotations": {"sim.orchestra.dev/exit-after.migrate": "300ms"}},
            "spec": {
                "initContainers": [
                    {"name": "fetch", "image": "busybox"},
                    {"name": "migrate", "image": "busybox"}
                ],
                "containers": [{"name": "app", "image": "nginx:1.27"}]
            }
        }),
    );
    create(&client, &spec).await;
    let pod = wait_running_ready(&client, "with-init").await;
    let status = pod.status.as_ref().unwrap();
    let init = status.init_container_statuses.as_ref().unwrap();
    assert_eq!(init.len(), 2);
    for container in init {
        let terminated = container
            .state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap();
        assert_eq!(terminated.exit_code, 0, "{}", container.name);
        assert_eq!(terminated.reason.as_deref(), Some("Completed"));
        assert!(container.ready);
    }
    // The runtime's nanosecond clocks show the order.
    let containers = agent
        .sim
        .list_containers(&ContainerFilter::default())
        .await
        .unwrap();
    let mut timeline = Vec::new();
    for container in containers {
        let status = agent.sim.container_status(&container.id).await.unwrap();
        timeline.push((
            status.metadata.name.clone(),
            status.started_at,
            status.finished_at,
        ));
    }
    timeline.sort_by_key(|(_, started, _)| *started);
    let names: Vec<&str> = timeline.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["fetch", "migrate", "app"]);
    assert!(
        timeline[0].2 <= timeline[1].1,
        "migrate started after fetch finished"
    );
    assert!(
        timeline[1].2 <= timeline[2].1,
        "app started after migrate finished"
    );
    assert!(timeline[1].2 - timeline[1].1 >= 300_000_000);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_container_restarts_with_doubling_back_off_and_shows_crash_loop_back_off() {
    let client = server().await;
    let agent = start_agent(&client, fast_config("node-1"), SimRuntime::new());
    create(
        &client,
        &simple_pod(
            "crasher",
            "node-1",
            &[
                ("sim.orchestra.dev/exit-after", "0s"),
                ("sim.orchestra.dev/exit-code", "2"),
            ],
        ),
    )
    .await;
    let pod = wait_for_pod(
        &client,
        "crasher",
        "CrashLoopBackOff after 3 restarts",
        Duration::from_secs(15),
        |p| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|c| c.first())
                .is_some_and(|c| {
                    c.restart_count >= 3
                        && c.state
                            .as_ref()
                            .and_then(|s| s.waiting.as_ref())
                            .is_some_and(|w| w.reason.as_deref() == Some("CrashLoopBackOff"))
                })
        },
    )
    .await;
    let app = container_status(&pod, "app");
    let waiting = app.state.as_ref().unwrap().waiting.as_ref().unwrap();
    assert!(
        waiting.message.as_deref().unwrap().starts_with("back-off "),
        "{waiting:?}"
    );
    let last = app
        .last_state
        .as_ref()
        .unwrap()
        .terminated
        .as_ref()
        .unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (2, Some("Error")));
    assert!(!app.ready);
    assert_eq!(
        phase(&pod),
        Some("Running"),
        "restartPolicy Always keeps it Running"
    );
    assert_eq!(crate::support::condition(&pod, "Ready"), Some("False"));

    // The gaps between an exit and the next start: at once, then 200 ms, 400 ms, 800 ms…
    let mut runs = Vec::new();
    for container in agent
        .sim
        .list_containers(&ContainerFilter::default())
        .await
        .unwrap()
    {
        let status = agent.sim.container_status(&container.id).await.unwrap();
        runs.push((
            status.metadata.attempt,
            status.created_at,
            status.finished_at,
        ));
    }
    runs.sort();
    // The garbage collector keeps the newest two runs; their gap shows the current back-off.
    assert!(runs.len() <= 2, "old containers are collected: {runs:?}");
    let attempts: Vec<u32> = runs.iter().map(|r| r.0).collect();
    assert!(
        attempts.windows(2).all(|w| w[1] == w[0] + 1),
        "{attempts:?}"
    );
    if let [(attempt, _, finished), (_, next_created, _)] = runs[..] {
        let gap = Duration::from_nanos(u64::try_from(next_created - finished).unwrap());
        // Attempt n was restarted after 200 ms × 2^(n-1) (the first restart is immediate).
        let expected = Duration::from_millis(200) * 2u32.pow(attempt.saturating_sub(1));
        let expected = expected.min(Duration::from_secs(2));
        if attempt >= 1 {
            assert!(
                gap >= expected,
                "gap {gap:?} after attempt {attempt}, expected {expected:?}"
            );
            assert!(
                gap < expected * 2 + Duration::from_millis(500),
                "gap {gap:?} after attempt {attempt}"
            );
        }
    }
    agent.stop().await;
}

/// Waits until an Event with `reason` about pod `name` exists.
async fn wait_for_event(
    client: &std::sync::Arc<dyn orchestra_api::Client>,
    name: &str,
    reason: &str,
) -> Event {
    let events = Api::<Event>::namespaced(client.clone(), "default");
    wait_for(
        &format!("a {reason} event about {name}"),
        Duration::from_secs(10),
        || {
            let events = events.clone();
            async move {
                let list = events.list(&Default::default()).await.ok()?;
                list.items
                    .iter()
                    .find(|e| {
                        e.reason.as_deref() == Some(reason)
                            && e.involved_object.name.as_deref() == Some(name)
                    })
                    .map(|e| (**e).clone())
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_failing_readiness_keeps_the_pod_not_ready() {
    let client = server().await;
    let agent = start_agent(&client, fast_config("node-1"), SimRuntime::new());
    let spec = pod(
        "unready",
        "node-1",
        serde_json::json!({
            "metadata": {"annotations": {"sim.orchestra.dev/ready": "false"}},
            "spec": {"containers": [{
                "name": "app", "image": "nginx:1.27",
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1, "failureThreshold": 1}
            }]}
        }),
    );
    create(&client, &spec).await;
    let unhealthy = wait_for_event(&client, "unready", "Unhealthy").await;
    assert!(
        unhealthy
            .message
            .as_deref()
            .unwrap()
            .starts_with("Readiness probe failed"),
        "{unhealthy:?}"
    );
    let pod = wait_for_pod(&client, "unready", "Running", Duration::from_secs(5), |p| {
        phase(p) == Some("Running")
    })
    .await;
    assert_eq!(crate::support::condition(&pod, "Ready"), Some("False"));
    assert_eq!(
        crate::support::condition(&pod, "ContainersReady"),
        Some("False")
    );
    let ready = pod
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .clone();
    assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
    assert_eq!(
        ready.message.as_deref(),
        Some("containers with unready status: [app]")
    );
    let app = container_status(&pod, "app");
    assert!(!app.ready);
    assert_eq!(app.started, Some(true));
    assert_eq!(app.restart_count, 0, "readiness failures never restart");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_liveness_failure_restarts_the_container() {
    let client = server().await;
    let agent = start_agent(&client, fast_config("node-1"), SimRuntime::new());
    let spec = pod(
        "hangs",
        "node-1",
        serde_json::json!({
            "metadata": {"annotations": {"sim.orchestra.dev/liveness-fails-after": "500ms"}},
            "spec": {
                "terminationGracePeriodSeconds": 2,
                "containers": [{
                    "name": "app", "image": "nginx:1.27",
                    "livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1, "failureThreshold": 1}
                }]
            }
        }),
    );
    create(&client, &spec).await;
    let pod = wait_for_pod(
        &client,
        "hangs",
        "a restart",
        Duration::from_secs(15),
        |p| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|c| c.first())
                .is_some_and(|c| c.restart_count >= 1)
        },
    )
    .await;
    let app = container_status(&pod, "app");
    let last = app
        .last_state
        .as_ref()
        .unwrap()
        .terminated
        .as_ref()
        .unwrap();
    assert_eq!(
        last.exit_code, 137,
        "the hung container was killed after its grace period"
    );
    let killing = wait_for_event(&client, "hangs", "Killing").await;
    assert!(
        killing
            .message
            .as_deref()
            .unwrap()
            .contains("failed liveness probe"),
        "{killing:?}"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_policies_decide_between_restarting_succeeding_and_failing() {
    let client = server().await;
    let agent = start_agent(&client, fast_config("node-1"), SimRuntime::new());
    let with_policy = |name: &str, policy: &str, code: &str| {
        pod(
            name,
            "node-1",
            serde_json::json!({
                "metadata": {"annotations": {
                    "sim.orchestra.dev/exit-after": "100ms",
                    "sim.orchestra.dev/exit-code": code
                }},
                "spec": {"restartPolicy": policy, "containers": [{"name": "app", "image": "busybox"}]}
            }),
        )
    };
    create(&client, &with_policy("never-fails", "Never", "1")).await;
    create(&client, &with_policy("never-succeeds", "Never", "0")).await;
    create(
        &client,
        &with_policy("onfailure-succeeds", "OnFailure", "0"),
    )
    .await;
    create(&client, &with_policy("onfailure-retries", "OnFailure", "1")).await;
    create(&client, &with_policy("always-restarts", "Always", "0")).await;

    let failed = wait_for_pod(
        &client,
        "never-fails",
        "Failed",
        Duration::from_secs(10),
        |p| phase(p) == Some("Failed"),
    )
    .await;
    let terminated = container_status(&failed, "app")
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!(
        (terminated.exit_code, terminated.reason.as_deref()),
        (1, Some("Error"))
    );
    assert_eq!(container_status(&failed, "app").restart_count, 0);
    for name in ["never-succeeds", "onfailure-succeeds"] {
        let done = wait_for_pod(&client, name, "Succeeded", Duration::from_secs(10), |p| {
            phase(p) == Some("Succeeded")
        })
        .await;
        assert_eq!(container_status(&done, "app").restart_count, 0, "{name}");
        let ready = done
            .status
            .as_ref()
            .unwrap()
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap()
            .clone();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_deref()),
            ("False", Some("PodCompleted"))
        );
    }
    for name in ["onfailure-retries", "always-restarts"] {
        let restarted = wait_for_pod(
            &client,
            name,
            "restarted twice",
            Duration::from_secs(10),
            |p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .and_then(|c| c.first())
                    .is_some_and(|c| c.restart_count >= 2)
            },
        )
        .await;
        assert_eq!(phase(&restarted), Some("Running"), "{name}");
    }
    // A finished pod's sandbox is stopped: its address is released, its status keeps it.
    assert!(failed.status.as_ref().unwrap().pod_ip.is_some());
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_deletion_stops_the_containers_reports_a_terminal_phase_and_removes_the_pod() {
    let client = server().await;
    let agent = start_agent(&client, fast_config("node-1"), SimRuntime::new());
    create(
        &client,
        &simple_pod(
            "leaving",
            "node-1",
            &[("sim.orchestra.dev/stop-latency", "300ms")],
        ),
    )
    .await;
    wait_running_ready(&client, "leaving").await;
    let mut watch = pods(&client)
        .watch(&WatchParams {
            field_selector: Some("metadata.name=leaving".into()),
            resource_version: Some(
                pods(&client)
                    .get("leaving")
                    .await
                    .unwrap()
                    .metadata
                    .resource_version
                    .clone()
                    .unwrap(),
            ),
            ..WatchParams::default()
        })
        .await
        .unwrap();
    let deleted = pods(&client)
        .delete(
            "leaving",
            &DeleteParams {
                grace_period_seconds: Some(10),
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
    assert!(
        matches!(deleted, orchestra_api::Deleted::Pending(_)),
        "a bound pod is deleted gracefully"
    );
    let mut terminal_phase = None;
    let outcome = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = watch.next().await {
            match event {
                WatchEvent::Modified(pod) => {
                    if let Some(p @ ("Succeeded" | "Failed")) = phase(&pod) {
                        let all_stopped = pod
                            .status
                            .as_ref()
                            .and_then(|s| s.container_statuses.as_ref())
                            .is_some_and(|list| {
                                list.iter().all(|c| {
                                    c.state.as_ref().is_some_and(|s| s.terminated.is_some())
                                })
                            });
                        assert!(all_stopped, "terminal phase with stopped containers");
                        terminal_phase = Some(p.to_owned());
                    }
                }
                WatchEvent::Deleted(_) => return true,
                _ => {}
            }
        }
        false
    })
    .await;
    assert_eq!(outcome, Ok(true), "the pod is deleted");
    assert_eq!(
        terminal_phase.as_deref(),
        Some("Succeeded"),
        "stopped within the grace period with exit code 0"
    );
    wait_for(
        "the runtime to forget the pod",
        Duration::from_secs(5),
        || {
            let sim = agent.sim.clone();
            async move { (sim.counts() == (0, 0)).then_some(()) }
        },
    )
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_beyond_the_nodes_capacity_are_rejected_with_kubernetes_reasons() {
    let client = server().await;
    let mut config = fast_config("node-1");
    config.pods = 2;
    config.cpu = "1".parse().unwrap();
    let agent = start_agent(&client, config, SimRuntime::new());
    create(&client, &simple_pod("one", "node-1", &[])).await;
    create(&client, &simple_pod("two", "node-1", &[])).await;
    wait_running_ready(&client, "one").await;
    wait_running_ready(&client, "two").await;
    create(&client, &simple_pod("three", "node-1", &[])).await;
    let rejected = wait_for_pod(&client, "three", "Failed", Duration::from_secs(10), |p| {
        phase(p) == Some("Failed")
    })
    .await;
    let status = rejected.status.as_ref().unwrap();
    assert_eq!(status.reason.as_deref(), Some("OutOfpods"));
    assert_eq!(
        status.message.as_deref(),
        Some(
            "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2"
        )
    );
    assert!(
        agent
            .sim
            .list_pod_sandbox(&orchestra_node::cri::PodSandboxFilter::for_pod(
                rejected.metadata.uid.as_deref().unwrap()
            ))
            .await
            .unwrap()
            .is_empty()
    );

    // Room for one more pod once one is gone, but not for two CPUs.
    pods(&client)
        .delete(
            "one",
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
    let greedy = pod(
        "greedy",
        "node-1",
        serde_json::json!({"spec": {"containers": [{"name": "app", "image": "nginx:1.27", "resources": {"requests": {"cpu": "2"}}}]}}),
    );
    create(&client, &greedy).await;
    let rejected = wait_for_pod(&client, "greedy", "Failed", Duration::from_secs(10), |p| {
        phase(p) == Some("Failed")
    })
    .await;
    assert_eq!(
        rejected.status.as_ref().unwrap().reason.as_deref(),
        Some("OutOfcpu")
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_startup_probe_holds_the_container_back_until_it_passes() {
    let client = server().await;
    let agent = start_agent(&client, fast_config("node-1"), SimRuntime::new());
    let spec = pod(
        "slow-start",
        "node-1",
        serde_json::json!({
            "metadata": {"annotations": {"sim.orchestra.dev/startup-after": "1500ms"}},
            "spec": {"containers": [{
                "name": "app", "image": "nginx:1.27",
                "startupProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1, "failureThreshold": 30}
            }]}
        }),
    );
    create(&client, &spec).await;
    let starting = wait_for_pod(
        &client,
        "slow-start",
        "Running, not started",
        Duration::from_secs(10),
        |p| phase(p) == Some("Running"),
    )
    .await;
    let app = container_status(&starting, "app");
    assert_eq!(app.started, Some(false));
    assert!(!app.ready);
    let started = wait_running_ready(&client, "slow-start").await;
    let app = container_status(&started, "app");
    assert_eq!(app.started, Some(true));
    assert_eq!(app.restart_count, 0);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_starts_before_the_app_container_and_keeps_running_beside_it() {
    let client = server().await;
    let agent = start_agent(&client, fast_config("node-1"), SimRuntime::new());
    let spec = pod(
        "with-sidecar",
        "node-1",
        serde_json::json!({"spec": {
            "initContainers": [
                {"name": "setup", "image": "busybox"},
                {"name": "proxy", "image": "envoyproxy/envoy:v1.33", "restartPolicy": "Always"}
            ],
            "containers": [{"name": "app", "image": "nginx:1.27"}]
        }}),
    );
    create(&client, &spec).await;
    let pod = wait_running_ready(&client, "with-sidecar").await;
    let init = pod
        .status
        .as_ref()
        .unwrap()
        .init_container_statuses
        .as_ref()
        .unwrap();
    let proxy = init.iter().find(|c| c.name == "proxy").unwrap();
    assert!(proxy.state.as_ref().unwrap().running.is_some(), "{proxy:?}");
    assert!(proxy.ready);
    let setup = init.iter().find(|c| c.name == "setup").unwrap();
    assert!(setup.state.as_ref().unwrap().terminated.is_some());
    assert!(
        container_status(&pod, "app")
            .state
            .as_ref()
            .unwrap()
            .running
            .is_some()
    );
    agent.stop().await;
}
