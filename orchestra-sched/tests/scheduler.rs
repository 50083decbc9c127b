//! The scheduler against an in-process API server (orchestra-store's LocalClient): binding
//! through `pods/binding`, profiles by `schedulerName`, failure conditions and Events,
//! requeueing on cluster events, and preemption.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use orchestra_api::{Api, Client, DeleteParams, ListParams, PostParams, kinds};
use orchestra_sched::Scheduler;
use orchestra_sched::config::KubeSchedulerConfiguration;
use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
use serde_json::{Value, json};
use tokio::sync::oneshot;

async fn client() -> Arc<dyn Client> {
    let store = Store::open(
        Arc::new(MemoryKv::new()),
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        StoreConfig::default(),
    )
    .await
    .expect("store");
    Arc::new(LocalClient::new(store))
}

fn node(name: &str, cpu: &str) -> Node {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                   "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}
    }))
    .expect("node")
}

fn pod(name: &str, cpu: &str, extra: Value) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9",
        "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"}, "spec": spec}))
    .expect("pod")
}

struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

fn start(client: Arc<dyn Client>, config: KubeSchedulerConfiguration) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let scheduler = Scheduler::new(client, config);
    let task = tokio::spawn(async move {
        scheduler
            .run(async {
                let _ = stopped.await;
            })
            .await
            .expect("valid configuration");
    });
    Running {
        stop: Some(stop),
        task,
    }
}

/// Polls `check` until it answers `Some`, for at most 20 seconds.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn node_of(pods: &Api<Pod>, name: &str) -> Option<String> {
    pods.get(name)
        .await
        .ok()
        .and_then(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()))
        .filter(|n| !n.is_empty())
}

async fn scheduled_condition(
    pods: &Api<Pod>,
    name: &str,
) -> Option<(String, Option<String>, Option<String>)> {
    let pod = pods.get(name).await.ok()?;
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_are_bound_by_the_profile_of_their_scheduler_name() {
    let client = client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    nodes
        .create(&PostParams::default(), &node("n1", "4"))
        .await
        .expect("node");
    nodes
        .create(&PostParams::default(), &node("n2", "4"))
        .await
        .expect("node");
    let config = KubeSchedulerConfiguration::from_yaml(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: default-scheduler\n- schedulerName: second-scheduler\n",
    )
    .expect("config");
    let running = start(client.clone(), config);
    pods.create(&PostParams::default(), &pod("a", "1", json!({})))
        .await
        .expect("pod");
    pods.create(
        &PostParams::default(),
        &pod("b", "1", json!({"schedulerName": "second-scheduler"})),
    )
    .await
    .expect("pod");
    pods.create(
        &PostParams::default(),
        &pod("c", "1", json!({"schedulerName": "someone-else"})),
    )
    .await
    .expect("pod");
    for name in ["a", "b"] {
        let node = eventually(&format!("{name} bound"), || node_of(&pods, name)).await;
        assert!(node == "n1" || node == "n2");
        let condition = scheduled_condition(&pods, name).await;
        assert_eq!(condition.map(|c| c.0).as_deref(), Some("True"));
    }
    // A Scheduled event was recorded for "a".
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    eventually("Scheduled event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .find(|e| {
                e.reason.as_deref() == Some("Scheduled")
                    && e.involved_object.name.as_deref() == Some("a")
            })
            .map(|_| ())
    })
    .await;
    assert_eq!(
        node_of(&pods, "c").await,
        None,
        "a pod of another scheduler is left alone"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unschedulable_pod_gets_condition_and_event_then_schedules_when_a_node_arrives() {
    let client = client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    nodes
        .create(&PostParams::default(), &node("small-1", "1"))
        .await
        .expect("node");
    nodes
        .create(&PostParams::default(), &node("small-2", "1"))
        .await
        .expect("node");
    let running = start(client.clone(), KubeSchedulerConfiguration::default_config());
    pods.create(&PostParams::default(), &pod("big", "2", json!({})))
        .await
        .expect("pod");
    let (status, reason, message) =
        eventually("PodScheduled=False", || scheduled_condition(&pods, "big")).await;
    assert_eq!(status, "False");
    assert_eq!(reason.as_deref(), Some("Unschedulable"));
    assert_eq!(
        message.as_deref(),
        Some(
            "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
        )
    );
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    eventually("FailedScheduling event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .find(|e| {
                e.reason.as_deref() == Some("FailedScheduling")
                    && e.type_.as_deref() == Some("Warning")
            })
            .map(|_| ())
    })
    .await;
    // A big enough node arrives: NodeResourcesFit registered for node additions.
    nodes
        .create(&PostParams::default(), &node("large", "4"))
        .await
        .expect("node");
    let bound = eventually("big bound", || node_of(&pods, "big")).await;
    assert_eq!(bound, "large");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_priority_pod_preempts_through_the_api() {
    let client = client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    nodes
        .create(&PostParams::default(), &node("n1", "2"))
        .await
        .expect("node");
    // Priorities come from PriorityClasses: the Priority admission plugin refuses pods that
    // set their own.
    let classes: Api<PriorityClass> = Api::all(client.clone());
    for (name, value) in [("low", 1), ("high", 1000)] {
        let class: PriorityClass = serde_json::from_value(json!({
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value,
        }))
        .expect("priority class");
        classes
            .create(&PostParams::default(), &class)
            .await
            .expect("priority class");
    }
    let running = start(client.clone(), KubeSchedulerConfiguration::default_config());
    pods.create(
        &PostParams::default(),
        &pod("low", "1500m", json!({"priorityClassName": "low"})),
    )
    .await
    .expect("pod");
    eventually("low bound", || node_of(&pods, "low")).await;
    pods.create(
        &PostParams::default(),
        &pod("high", "1500m", json!({"priorityClassName": "high"})),
    )
    .await
    .expect("pod");
    // The victim is deleted gracefully and, as in Kubernetes, the preemptor waits for it to
    // go; acting as the kubelet, confirm the deletion.
    eventually("low terminating", || async {
        pods.get("low")
            .await
            .ok()?
            .metadata
            .deletion_timestamp
            .clone()
            .map(|_| ())
    })
    .await;
    // The failure is recorded on the preemptor after its victims' deletion is issued.
    let condition = eventually("high's PodScheduled condition", || {
        scheduled_condition(&pods, "high")
    })
    .await;
    assert_eq!(condition.1.as_deref(), Some("Unschedulable"));
    let force = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    pods.delete("low", &force).await.expect("force delete");
    let bound = eventually("high bound", || node_of(&pods, "high")).await;
    assert_eq!(bound, "n1");
    let nominated = pods
        .get("high")
        .await
        .expect("high")
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.clone());
    assert_eq!(nominated.as_deref(), Some("n1"));
    running.stop().await;
}

#[tokio::test]
async fn an_invalid_configuration_fails_before_watching() {
    let client = client().await;
    let config = KubeSchedulerConfiguration::from_yaml(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: default-scheduler\n  plugins:\n    score:\n      enabled:\n      - name: NoSuchPlugin\n",
    )
    .expect("well-formed");
    let err = Scheduler::new(client, config)
        .run(async {})
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "profiles[0].plugins.score.enabled[0].name: Not found: \"NoSuchPlugin\""
    );
}
