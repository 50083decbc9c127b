//! The scheduling queue with explicit time: ordering, back-off, event-driven requeueing and the
//! 5-minute flush.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orchestra_sched::PodInfo;
use orchestra_sched::config::KubeSchedulerConfiguration;
use orchestra_sched::framework::{
    ActionType, ClusterEvent, EventObject, EventResource, Framework, Handle, Registry,
};
use orchestra_sched::profiles::build_frameworks;
use orchestra_sched::scheduling_queue::{MAX_IN_UNSCHEDULABLE_PODS, SchedulingQueue};
use serde_json::json;
use support::pod;

fn frameworks() -> BTreeMap<String, Arc<Framework>> {
    let config = KubeSchedulerConfiguration::default_config();
    build_frameworks(
        &config,
        &Registry::with_default_plugins(),
        &Arc::new(Handle::new(None, 1)),
    )
    .expect("default profile")
}

fn queue() -> SchedulingQueue {
    SchedulingQueue::new(
        frameworks(),
        Duration::from_secs(1),
        Duration::from_secs(10),
    )
    .expect("a profile")
}

fn info(name: &str, priority: i32) -> Arc<PodInfo> {
    Arc::new(PodInfo::new(pod(
        name,
        "100m",
        "1Mi",
        json!({}),
        json!({"priority": priority}),
    )))
}

fn names(queue: &mut SchedulingQueue) -> Vec<String> {
    std::iter::from_fn(|| queue.pop())
        .map(|i| i.pod.name().to_owned())
        .collect()
}

#[test]
fn active_queue_orders_by_priority_then_arrival() {
    let mut q = queue();
    let t0 = Instant::now();
    q.add(info("late-low", 1), t0 + Duration::from_secs(2));
    q.add(info("early-low", 1), t0);
    q.add(info("high", 10), t0 + Duration::from_secs(5));
    assert_eq!(names(&mut q), ["high", "early-low", "late-low"]);
}

#[test]
fn backoff_doubles_from_one_second_up_to_ten() {
    let q = queue();
    let durations: Vec<u64> = (1..=6).map(|a| q.backoff_duration(a).as_secs()).collect();
    assert_eq!(durations, [1, 2, 4, 8, 10, 10]);
}

#[test]
fn failed_pod_with_error_backs_off_then_returns() {
    let mut q = queue();
    let t0 = Instant::now();
    q.add(info("p", 0), t0);
    let popped = q.pop().expect("pod");
    q.add_unschedulable(popped, Vec::<String>::new(), t0);
    assert_eq!(q.counts().backoff, 1);
    q.flush_backoff_completed(t0 + Duration::from_millis(999));
    assert!(q.pop().is_none());
    assert_eq!(q.next_due(false), Some(t0 + Duration::from_secs(1)));
    q.flush_backoff_completed(t0 + Duration::from_secs(1));
    let again = q.pop().expect("back after 1s");
    assert_eq!(again.attempts, 2);
    // Second failure: 2 s.
    q.add_unschedulable(again, Vec::<String>::new(), t0 + Duration::from_secs(1));
    q.flush_backoff_completed(t0 + Duration::from_millis(2999));
    assert!(q.pop().is_none());
    q.flush_backoff_completed(t0 + Duration::from_secs(3));
    assert!(q.pop().is_some());
}

#[test]
fn unschedulable_pods_move_only_on_events_their_plugins_registered() {
    let mut q = queue();
    let t0 = Instant::now();
    q.add(info("needs-cpu", 0), t0);
    let popped = q.pop().expect("pod");
    q.add_unschedulable(popped, ["NodeResourcesFit".to_owned()], t0);
    assert_eq!(q.counts().unschedulable, 1);
    // A node label change is not something NodeResourcesFit registered for.
    let moved = q.move_on_event(
        ClusterEvent::new(EventResource::Node, ActionType::UPDATE_NODE_LABEL),
        None,
        None,
        t0,
    );
    assert_eq!(moved, 0);
    // A pod deletion is; the pod is still backing off (1 s), so it goes to the back-off queue.
    let moved = q.move_on_event(
        ClusterEvent::new(EventResource::Pod, ActionType::DELETE),
        None,
        None,
        t0,
    );
    assert_eq!(moved, 1);
    assert_eq!(q.counts().backoff, 1);
    q.flush_backoff_completed(t0 + Duration::from_secs(1));
    assert_eq!(names(&mut q), ["needs-cpu"]);
}

#[test]
fn queueing_hints_skip_nodes_that_cannot_fit_the_pod() {
    let mut q = queue();
    let t0 = Instant::now();
    let big = Arc::new(PodInfo::new(pod("big", "8", "1Gi", json!({}), json!({}))));
    q.add(big, t0);
    let popped = q.pop().expect("pod");
    q.add_unschedulable(popped, ["NodeResourcesFit".to_owned()], t0);
    let small_node: k8s_openapi::api::core::v1::Node = serde_json::from_value(json!({
        "metadata": {"name": "small"}, "status": {"allocatable": {"cpu": "2", "memory": "8Gi", "pods": "10"}}}))
    .expect("node");
    let add = ClusterEvent::new(EventResource::Node, ActionType::ADD);
    let later = t0 + Duration::from_secs(30);
    assert_eq!(
        q.move_on_event(
            add,
            None,
            Some(&EventObject::Node(Arc::new(small_node))),
            later
        ),
        0
    );
    let big_node: k8s_openapi::api::core::v1::Node = serde_json::from_value(json!({
        "metadata": {"name": "big"}, "status": {"allocatable": {"cpu": "16", "memory": "8Gi", "pods": "10"}}}))
    .expect("node");
    assert_eq!(
        q.move_on_event(
            add,
            None,
            Some(&EventObject::Node(Arc::new(big_node))),
            later
        ),
        1
    );
    assert_eq!(names(&mut q), ["big"]);
}

#[test]
fn unschedulable_pods_are_flushed_after_five_minutes() {
    let mut q = queue();
    let t0 = Instant::now();
    q.add(info("p", 0), t0);
    let popped = q.pop().expect("pod");
    q.add_unschedulable(popped, ["NodeResourcesFit".to_owned()], t0);
    q.flush_unschedulable_leftover(t0 + MAX_IN_UNSCHEDULABLE_PODS - Duration::from_secs(1));
    assert_eq!(q.counts().unschedulable, 1);
    assert_eq!(q.next_due(true), Some(t0 + MAX_IN_UNSCHEDULABLE_PODS));
    q.flush_unschedulable_leftover(t0 + MAX_IN_UNSCHEDULABLE_PODS);
    assert_eq!(names(&mut q), ["p"]);
}

#[test]
fn an_event_during_the_attempt_sends_the_pod_to_backoff() {
    let mut q = queue();
    let t0 = Instant::now();
    q.add(info("p", 0), t0);
    let popped = q.pop().expect("pod");
    // While the pod is being scheduled, a node is added.
    q.move_on_event(
        ClusterEvent::new(EventResource::Node, ActionType::ADD),
        None,
        None,
        t0,
    );
    q.add_unschedulable(popped, ["NodeResourcesFit".to_owned()], t0);
    assert_eq!(q.counts().unschedulable, 0);
    assert_eq!(q.counts().backoff, 1);
}

#[test]
fn gated_pods_wait_until_their_gates_are_removed() {
    let mut q = queue();
    let t0 = Instant::now();
    let gated = pod(
        "g",
        "100m",
        "1Mi",
        json!({}),
        json!({"schedulingGates": [{"name": "wait"}]}),
    );
    q.add(Arc::new(PodInfo::new(gated.clone())), t0);
    assert!(q.pop().is_none());
    assert_eq!(q.counts().unschedulable, 1);
    let mut ungated = gated;
    if let Some(spec) = ungated.spec.as_mut() {
        spec.scheduling_gates = None;
    }
    q.update(Arc::new(PodInfo::new(ungated)), t0);
    assert_eq!(names(&mut q), ["g"]);
}

#[test]
fn deleted_pods_leave_the_queue() {
    let mut q = queue();
    let t0 = Instant::now();
    q.add(info("a", 0), t0);
    q.add(info("b", 0), t0 + Duration::from_millis(1));
    q.delete("uid-a");
    assert_eq!(names(&mut q), ["b"]);
}
