//! PodDisruptionBudget-aware preemption by the `Scheduler` against an in-process API server,
//! as Kubernetes v1.33 does it: among the nodes where evicting lower-priority pods makes room,
//! the one whose evictions violate the fewest budgets wins before any other criterion (the
//! victims' priorities, their number); budgets count as their `status.disruptionsAllowed`
//! says (written here as the disruption controller would). The preemptor gets
//! `status.nominatedNodeName`; each victim gets the `DisruptionTarget` condition (reason
//! `PreemptionByScheduler`) and a `Preempted` Event, then is deleted gracefully; once the
//! victims are gone (the test confirms their deletion as a kubelet would), the preemptor is
//! bound to the nominated node. A victim still waiting in Permit is not deleted: it is
//! rejected and goes back to the queue. Pods of lower priority nominated to the node a
//! preemption makes room on lose their nomination (`status.nominatedNodeName` cleared, and no
//! longer counted on that node). A preemptor whose nominated node still has a victim
//! terminating does not preempt again: it waits for that victim to go.

mod cluster;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, Pod, PodCondition};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use orchestra_api::{Api, Client, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use orchestra_sched::config::KubeSchedulerConfiguration;
use orchestra_sched::config::args::PluginArgs;
use orchestra_sched::framework::{
    Code, CycleState, Handle, PermitPlugin, Plugin, PluginInstance, Registry, Status,
};
use orchestra_sched::{PodInfo, Scheduler};
use serde_json::json;
use tokio::sync::watch;

async fn priority_classes(client: &Arc<dyn Client>) {
    let classes: Api<PriorityClass> = Api::all(client.clone());
    for (name, value) in [("low", 1), ("mid", 5), ("high", 1000)] {
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
}

async fn nodes(client: &Arc<dyn Client>, names: &[&str]) {
    let api: Api<Node> = Api::all(client.clone());
    for name in names {
        let node: Node = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110"},
                       "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"}}
        }))
        .expect("node");
        api.create(&PostParams::default(), &node)
            .await
            .expect("node");
    }
}

/// A pod of `class` asking for `cpu`, labelled `app`, already running on `node` if given.
fn pod(name: &str, cpu: &str, class: &str, app: &str, node: Option<&str>) -> Pod {
    let mut spec = json!({"priorityClassName": class,
        "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9",
            "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]});
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
    }
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}}, "spec": spec}))
    .expect("pod")
}

/// A budget over `app` pods whose status says `allowed` more may be disrupted, as the
/// disruption controller writes it for `healthy` running pods.
async fn budget(client: &Arc<dyn Client>, app: &str, healthy: i32, allowed: i32) {
    let api: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": app},
        "spec": {"minAvailable": healthy - allowed, "selector": {"matchLabels": {"app": app}}}
    }))
    .expect("pdb");
    let created = api.create(&PostParams::default(), &pdb).await.expect("pdb");
    let status = json!({"status": {
        "observedGeneration": created.metadata.generation.unwrap_or(1),
        "currentHealthy": healthy, "desiredHealthy": healthy - allowed,
        "expectedPods": healthy, "disruptionsAllowed": allowed}});
    let updated = api
        .patch_status(app, &PatchParams::default(), &Patch::Merge(status))
        .await
        .expect("pdb status");
    assert_eq!(
        updated.status.as_ref().map(|s| s.disruptions_allowed),
        Some(allowed)
    );
}

fn condition<'p>(pod: &'p Pod, type_: &str) -> Option<&'p PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

fn nominated_node(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.nominated_node_name.as_deref()
}

fn bound_node(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()?
        .node_name
        .as_deref()
        .filter(|n| !n.is_empty())
}

/// Waits for the preemptor's nomination, checks the victims were marked and deleted and the
/// others left alone, confirms the victims' deletion, and waits for the preemptor's binding.
async fn preemption_goes_to(
    client: &Arc<dyn Client>,
    preemptor: &str,
    expected_node: &str,
    victims: &[&str],
    spared: &[&str],
) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let nominated = cluster::wait_for(&pods, preemptor, "the preemptor's nomination", |p| {
        p.and_then(nominated_node).is_some()
    })
    .await
    .expect("preemptor");
    assert_eq!(nominated_node(&nominated), Some(expected_node));
    let preemptor_uid = nominated.metadata.uid.clone().unwrap_or_default();

    for victim in victims {
        let terminating = cluster::wait_for(&pods, victim, "the victim's graceful deletion", |p| {
            p.is_none_or(|p| p.metadata.deletion_timestamp.is_some())
        })
        .await
        .unwrap_or_else(|| panic!("{victim} is still there, terminating"));
        let target = condition(&terminating, "DisruptionTarget")
            .unwrap_or_else(|| panic!("{victim} has no DisruptionTarget condition"));
        assert_eq!(target.status, "True");
        assert_eq!(target.reason.as_deref(), Some("PreemptionByScheduler"));
        assert_eq!(
            target.message.as_deref(),
            Some("default-scheduler: preempting to accommodate a higher priority pod")
        );
    }
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let listed = events.list(&ListParams::default()).await.expect("events");
    for victim in victims {
        assert!(
            listed.items.iter().any(|e| {
                e.reason.as_deref() == Some("Preempted")
                    && e.involved_object.name.as_deref() == Some(*victim)
                    && e.message.as_deref()
                        == Some(&format!(
                            "Preempted by pod {preemptor_uid} on node {expected_node}"
                        ))
            }),
            "no Preempted event for {victim}"
        );
    }
    for other in spared {
        let pod = pods.get(other).await.expect("spared pod");
        assert!(
            pod.metadata.deletion_timestamp.is_none(),
            "{other} was deleted"
        );
        assert!(
            condition(&pod, "DisruptionTarget").is_none(),
            "{other} was marked for disruption"
        );
    }
    // The preemptor waits for its victims to go; as the kubelet would, confirm their end.
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    for victim in victims {
        pods.delete(victim, &now).await.expect("confirm deletion");
    }
    let bound = cluster::wait_for(&pods, preemptor, "the preemptor's binding", |p| {
        p.and_then(bound_node).is_some()
    })
    .await
    .expect("preemptor");
    assert_eq!(bound_node(&bound), Some(expected_node));
    for other in spared {
        let pod = pods.get(other).await.expect("spared pod");
        assert!(pod.metadata.deletion_timestamp.is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preemption_prefers_a_node_where_no_budget_is_violated() {
    let client = cluster::client().await;
    priority_classes(&client).await;
    nodes(&client, &["n1", "n2", "n3"]).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // n1 and n2: one guarded pod each (budget: no disruption allowed). n3: two free pods,
    // whose budget allows two disruptions. Without budgets n1 or n2 would win (one victim,
    // lower sum of priorities); with them, n3.
    for (name, cpu, app, node) in [
        ("guarded-1", "1500m", "guarded", "n1"),
        ("guarded-2", "1500m", "guarded", "n2"),
        ("free-1", "800m", "free", "n3"),
        ("free-2", "800m", "free", "n3"),
    ] {
        pods.create(
            &PostParams::default(),
            &pod(name, cpu, "low", app, Some(node)),
        )
        .await
        .expect("running pod");
    }
    budget(&client, "guarded", 2, 0).await;
    budget(&client, "free", 2, 2).await;
    let running =
        cluster::start_scheduler(client.clone(), KubeSchedulerConfiguration::default_config());
    pods.create(
        &PostParams::default(),
        &pod("urgent", "1500m", "high", "urgent", None),
    )
    .await
    .expect("preemptor");
    preemption_goes_to(
        &client,
        "urgent",
        "n3",
        &["free-1", "free-2"],
        &["guarded-1", "guarded-2"],
    )
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_node_violates_a_budget_preemption_picks_the_fewest_violations() {
    let client = cluster::client().await;
    priority_classes(&client).await;
    nodes(&client, &["n1", "n2"]).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // n1: two low-priority pods of budget "a" (no disruption allowed): evicting both violates
    // it twice. n2: a mid-priority pod of budget "b" (no disruption allowed) and one without a
    // budget: one violation. By priority n1 would win; by violations, n2.
    for (name, class, app, node) in [
        ("a-1", "low", "a", "n1"),
        ("a-2", "low", "a", "n1"),
        ("b-1", "mid", "b", "n2"),
        ("c-1", "mid", "c", "n2"),
    ] {
        pods.create(
            &PostParams::default(),
            &pod(name, "800m", class, app, Some(node)),
        )
        .await
        .expect("running pod");
    }
    budget(&client, "a", 2, 0).await;
    budget(&client, "b", 1, 0).await;
    let running =
        cluster::start_scheduler(client.clone(), KubeSchedulerConfiguration::default_config());
    pods.create(
        &PostParams::default(),
        &pod("urgent", "1500m", "high", "urgent", None),
    )
    .await
    .expect("preemptor");
    preemption_goes_to(&client, "urgent", "n2", &["b-1", "c-1"], &["a-1", "a-2"]).await;
    running.stop().await;
}

/// A pod like [`pod`] that only `node` suits (a `nodeSelector` on its hostname label).
fn pinned_pod(name: &str, cpu: &str, class: &str, node: &str) -> Pod {
    let mut pinned = pod(name, cpu, class, name, None);
    if let Some(spec) = pinned.spec.as_mut() {
        spec.node_selector = Some([("kubernetes.io/hostname".to_owned(), node.to_owned())].into());
    }
    pinned
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preemption_clears_the_nominations_of_lower_priority_pods_to_its_node() {
    let client = cluster::client().await;
    priority_classes(&client).await;
    nodes(&client, &["n1", "n2"]).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // n1 runs a low-priority pod; n2 a high-priority one that nobody here may preempt.
    for (name, class, node) in [("filler", "low", "n1"), ("blocker", "high", "n2")] {
        pods.create(
            &PostParams::default(),
            &pod(name, "1500m", class, name, Some(node)),
        )
        .await
        .expect("running pod");
    }
    let running =
        cluster::start_scheduler(client.clone(), KubeSchedulerConfiguration::default_config());
    // A mid-priority pod preempts the filler and is nominated to n1, waiting for it to go.
    pods.create(
        &PostParams::default(),
        &pod("waiting", "1500m", "mid", "waiting", None),
    )
    .await
    .expect("mid-priority pod");
    let waiting = cluster::wait_for(&pods, "waiting", "the mid-priority pod's nomination", |p| {
        p.and_then(nominated_node).is_some()
    })
    .await
    .expect("mid-priority pod");
    assert_eq!(nominated_node(&waiting), Some("n1"));
    cluster::wait_for(&pods, "filler", "the filler's graceful deletion", |p| {
        p.is_some_and(|p| p.metadata.deletion_timestamp.is_some())
    })
    .await;
    // A high-priority pod comes while the filler still holds its cpu: n1 is again the node
    // where preemption helps (the mid-priority pod's nomination does not count against a pod
    // of higher priority), and the room there becomes the high-priority pod's.
    pods.create(
        &PostParams::default(),
        &pod("urgent", "1500m", "high", "urgent", None),
    )
    .await
    .expect("preemptor");
    let urgent = cluster::wait_for(&pods, "urgent", "the preemptor's nomination", |p| {
        p.and_then(nominated_node).is_some()
    })
    .await
    .expect("preemptor");
    assert_eq!(nominated_node(&urgent), Some("n1"));
    // The mid-priority pod no longer counts on n1: its nomination is cleared, and it is still
    // pending, marked unschedulable.
    let displaced = cluster::wait_for(
        &pods,
        "waiting",
        "the mid-priority pod's nomination to be cleared",
        |p| p.is_some_and(|p| nominated_node(p).is_none()),
    )
    .await
    .expect("mid-priority pod");
    assert_eq!(bound_node(&displaced), None);
    let scheduled = condition(&displaced, "PodScheduled").expect("PodScheduled condition");
    assert_eq!(
        (scheduled.status.as_str(), scheduled.reason.as_deref()),
        ("False", Some("Unschedulable"))
    );
    assert!(
        scheduled
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("0/2 nodes are available: ")),
        "{scheduled:?}"
    );
    // The filler goes (as the kubelet would confirm): the high-priority pod takes n1.
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    pods.delete("filler", &now).await.expect("confirm deletion");
    let urgent = cluster::wait_for(&pods, "urgent", "the preemptor's binding", |p| {
        p.and_then(bound_node).is_some()
    })
    .await
    .expect("preemptor");
    assert_eq!(bound_node(&urgent), Some("n1"));
    // Nothing reserves n1's last 500m for the mid-priority pod any more: a small low-priority
    // pod that only n1 suits fits there (a nomination of the mid-priority pod would count
    // against it, and it would not).
    pods.create(
        &PostParams::default(),
        &pinned_pod("small", "400m", "low", "n1"),
    )
    .await
    .expect("small pod");
    let small = cluster::wait_for(&pods, "small", "the small pod's binding", |p| {
        p.and_then(bound_node).is_some()
    })
    .await
    .expect("small pod");
    assert_eq!(bound_node(&small), Some("n1"));
    let waiting = pods.get("waiting").await.expect("mid-priority pod");
    assert_eq!(
        (bound_node(&waiting), nominated_node(&waiting)),
        (None, None)
    );
    // Room elsewhere: the mid-priority pod is scheduled there.
    nodes(&client, &["n3"]).await;
    let placed = cluster::wait_for(&pods, "waiting", "the mid-priority pod's binding", |p| {
        p.and_then(bound_node).is_some()
    })
    .await
    .expect("mid-priority pod");
    assert_eq!(bound_node(&placed), Some("n3"));
    for other in ["urgent", "small", "blocker"] {
        let pod = pods.get(other).await.expect("pod");
        assert!(
            pod.metadata.deletion_timestamp.is_none(),
            "{other} was deleted"
        );
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preemptor_waits_for_its_terminating_victim_instead_of_preempting_again() {
    let client = cluster::client().await;
    priority_classes(&client).await;
    nodes(&client, &["n1"]).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, cpu) in [("old", "1500m"), ("keep", "400m")] {
        pods.create(
            &PostParams::default(),
            &pod(name, cpu, "low", name, Some("n1")),
        )
        .await
        .expect("running pod");
    }
    let running =
        cluster::start_scheduler(client.clone(), KubeSchedulerConfiguration::default_config());
    // Evicting "old" alone makes room (1500m + 400m of 2 cpus): "keep" is spared.
    pods.create(
        &PostParams::default(),
        &pod("urgent", "1500m", "high", "urgent", None),
    )
    .await
    .expect("preemptor");
    let urgent = cluster::wait_for(&pods, "urgent", "the preemptor's nomination", |p| {
        p.and_then(nominated_node).is_some()
    })
    .await
    .expect("preemptor");
    assert_eq!(nominated_node(&urgent), Some("n1"));
    let old = cluster::wait_for(&pods, "old", "the victim's graceful deletion", |p| {
        p.is_some_and(|p| p.metadata.deletion_timestamp.is_some())
    })
    .await
    .expect("the victim is still there, terminating");
    assert!(condition(&old, "DisruptionTarget").is_some());
    // While "old" terminates, n1 shrinks to 1800m cpu and 150Mi memory: the preemptor is
    // tried again (its node's allocatable changed), and a preemption now would have to evict
    // "keep" as well (1500m + 400m > 1800m). It does not preempt: its nominated node still has
    // its victim terminating, and it waits for that one to go.
    let node_api: Api<Node> = Api::all(client.clone());
    node_api
        .patch_status(
            "n1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"allocatable": {"cpu": "1800m", "memory": "150Mi"}}})),
        )
        .await
        .expect("shrink n1");
    // The memory in the message shows the attempt saw the smaller node (three pods of 64Mi
    // do not fit in 150Mi while "old" is there).
    let waited = cluster::wait_for(
        &pods,
        "urgent",
        "the preemptor's attempt on the smaller node",
        |p| {
            p.and_then(|p| condition(p, "PodScheduled"))
                .and_then(|c| c.message.as_deref())
                .is_some_and(|m| m.contains("Insufficient memory"))
        },
    )
    .await
    .expect("preemptor");
    let scheduled = condition(&waited, "PodScheduled").expect("PodScheduled condition");
    assert_eq!(
        scheduled.message.as_deref(),
        Some(
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. preemption: not eligible due to a terminating pod on the nominated node.."
        )
    );
    assert_eq!(nominated_node(&waited), Some("n1"));
    let keep = pods.get("keep").await.expect("keep");
    assert!(
        keep.metadata.deletion_timestamp.is_none(),
        "keep was deleted"
    );
    assert!(
        condition(&keep, "DisruptionTarget").is_none(),
        "keep was marked for disruption"
    );
    // Once "old" is gone, the preemptor still does not fit next to "keep" on the smaller
    // node, and nothing of its own terminates there any more: now it preempts "keep".
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    pods.delete("old", &now).await.expect("confirm deletion");
    let keep = cluster::wait_for(
        &pods,
        "keep",
        "the second victim's graceful deletion",
        |p| p.is_none_or(|p| p.metadata.deletion_timestamp.is_some()),
    )
    .await
    .expect("the second victim is still there, terminating");
    let target = condition(&keep, "DisruptionTarget").expect("DisruptionTarget condition");
    assert_eq!(target.reason.as_deref(), Some("PreemptionByScheduler"));
    pods.delete("keep", &now).await.expect("confirm deletion");
    let bound = cluster::wait_for(&pods, "urgent", "the preemptor's binding", |p| {
        p.and_then(bound_node).is_some()
    })
    .await
    .expect("preemptor");
    assert_eq!(bound_node(&bound), Some("n1"));
    running.stop().await;
}

/// Holds pods labelled `app=held` in Permit (for longer than the test), counting them.
struct Hold {
    held: watch::Sender<usize>,
}

impl Plugin for Hold {
    fn name(&self) -> &str {
        "Hold"
    }
}

impl PermitPlugin for Hold {
    fn permit(&self, _: &CycleState, pod: &Arc<PodInfo>, _: &str) -> (Status, Duration) {
        if pod.labels().get("app").map(String::as_str) != Some("held") {
            return (Status::success(), Duration::ZERO);
        }
        self.held.send_modify(|n| *n += 1);
        (Status::code_only(Code::Wait), Duration::from_secs(600))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_victim_waiting_in_permit_is_sent_back_to_the_queue_not_deleted() {
    let client = cluster::client().await;
    priority_classes(&client).await;
    nodes(&client, &["n1"]).await;
    let (held, mut holds) = watch::channel(0usize);
    let hold = Arc::new(Hold { held });
    let mut registry = Registry::with_default_plugins();
    registry
        .register("Hold", move |_: &PluginArgs<'_>, _: &Arc<Handle>| {
            Ok(PluginInstance::builder(hold.clone()).permit().build())
        })
        .expect("new name");
    let config = KubeSchedulerConfiguration::from_yaml(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: default-scheduler\n  plugins:\n    permit:\n      enabled:\n      - name: Hold\n",
    )
    .expect("config");
    let running = cluster::start(Scheduler::new(client.clone(), config).with_registry(registry));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &pod("held", "1500m", "low", "held", None),
    )
    .await
    .expect("held pod");
    tokio::time::timeout(cluster::PATIENCE, holds.wait_for(|n| *n >= 1))
        .await
        .expect("the held pod reaches Permit")
        .expect("plugin alive");
    pods.create(
        &PostParams::default(),
        &pod("urgent", "1500m", "high", "urgent", None),
    )
    .await
    .expect("preemptor");
    let bound = cluster::wait_for(&pods, "urgent", "the preemptor's binding", |p| {
        p.and_then(bound_node).is_some()
    })
    .await
    .expect("preemptor");
    assert_eq!(bound_node(&bound), Some("n1"));
    assert_eq!(nominated_node(&bound), Some("n1"));
    // The held pod was never bound, so nothing of it is deleted: it waits for room again.
    let held = pods.get("held").await.expect("the held pod still exists");
    assert!(held.metadata.deletion_timestamp.is_none());
    assert!(condition(&held, "DisruptionTarget").is_none());
    assert_eq!(bound_node(&held), None);
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let listed = events.list(&ListParams::default()).await.expect("events");
    assert!(listed.items.iter().any(|e| {
        e.reason.as_deref() == Some("Preempted")
            && e.involved_object.name.as_deref() == Some("held")
    }));
    running.stop().await;
}
