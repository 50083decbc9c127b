//! Simulations of small clusters: placements, messages and reasons as Kubernetes gives them.

mod support;

use orchestra_sched::config::KubeSchedulerConfiguration;
use orchestra_sched::{Outcome, Simulation, simulate};
use serde_json::json;
use support::{node, pod, simple_node, simple_pod};

fn default_config() -> KubeSchedulerConfiguration {
    KubeSchedulerConfiguration::default_config()
}

#[test]
fn pods_spread_by_least_allocated_and_fill_the_cluster() {
    let nodes = vec![simple_node("n1", "2", "4Gi"), simple_node("n2", "2", "4Gi")];
    let pods: Vec<_> = (0..4)
        .map(|i| simple_pod(&format!("p{i}"), "1", "1Gi"))
        .collect();
    let result = simulate(nodes, pods, &default_config()).expect("simulate");
    assert_eq!(result.placed(), 4);
    let on_n1 = result
        .placements
        .iter()
        .filter(|p| p.node.as_deref() == Some("n1"))
        .count();
    assert_eq!(
        on_n1, 2,
        "LeastAllocated alternates nodes: {:?}",
        result.placements
    );
}

#[test]
fn unschedulable_pod_gets_kubernetes_message_and_plugin_reasons() {
    let nodes = vec![
        simple_node("n1", "1", "4Gi"),
        simple_node("n2", "1", "4Gi"),
        node(
            "n3",
            "8",
            "16Gi",
            json!({}),
            json!({"taints": [{"key": "gpu", "value": "true", "effect": "NoSchedule"}]}),
        ),
    ];
    let result = simulate(
        nodes,
        vec![simple_pod("big", "4", "1Gi")],
        &default_config(),
    )
    .expect("simulate");
    let placement = &result.placements[0];
    assert_eq!(placement.outcome, Outcome::Unschedulable);
    assert_eq!(
        placement.message.as_deref(),
        Some(
            "0/3 nodes are available: 1 node(s) had untolerated taint {gpu: true}, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
        )
    );
    let fit: Vec<(&str, &str, usize)> = placement
        .reasons
        .iter()
        .map(|r| (r.plugin.as_str(), r.reason.as_str(), r.nodes))
        .collect();
    assert_eq!(
        fit,
        [
            ("NodeResourcesFit", "Insufficient cpu", 2),
            (
                "TaintToleration",
                "node(s) had untolerated taint {gpu: true}",
                1
            )
        ]
    );
}

#[test]
fn preemption_evicts_the_lowest_priority_pod_and_nominates_the_node() {
    let nodes = vec![simple_node("n1", "2", "4Gi")];
    let low = pod(
        "low",
        "1500m",
        "1Gi",
        json!({}),
        json!({"priority": 1, "nodeName": "n1"}),
    );
    let high = pod("high", "1500m", "1Gi", json!({}), json!({"priority": 100}));
    let result = simulate(nodes, vec![low, high], &default_config()).expect("simulate");
    let low = result.placement("default/low").expect("low");
    let high = result.placement("default/high").expect("high");
    assert_eq!(high.node.as_deref(), Some("n1"));
    assert_eq!(high.nominated_node.as_deref(), Some("n1"));
    assert_eq!(
        low.outcome,
        Outcome::Preempted {
            by: "default/high".into()
        }
    );
    assert_eq!(low.node, None);
}

#[test]
fn preemption_policy_never_does_not_preempt() {
    let nodes = vec![simple_node("n1", "2", "4Gi")];
    let low = pod(
        "low",
        "1500m",
        "1Gi",
        json!({}),
        json!({"priority": 1, "nodeName": "n1"}),
    );
    let high = pod(
        "high",
        "1500m",
        "1Gi",
        json!({}),
        json!({"priority": 100, "preemptionPolicy": "Never"}),
    );
    let result = simulate(nodes, vec![low, high], &default_config()).expect("simulate");
    let low = result.placement("default/low").expect("low");
    assert_eq!(
        (low.node.as_deref(), &low.outcome),
        (Some("n1"), &Outcome::AlreadyBound)
    );
    let high = result.placement("default/high").expect("high");
    // Kubernetes appends "." after the PostFilter message, which here ends in one already.
    assert_eq!(
        high.message.as_deref(),
        Some(
            "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.."
        )
    );
}

#[test]
fn the_queue_tries_higher_priority_pods_first() {
    let nodes = vec![simple_node("n1", "2", "4Gi")];
    let low = pod("low", "1500m", "1Gi", json!({}), json!({"priority": 1}));
    let high = pod("high", "1500m", "1Gi", json!({}), json!({"priority": 100}));
    let result = simulate(nodes, vec![low, high], &default_config()).expect("simulate");
    assert_eq!(
        result
            .placement("default/high")
            .and_then(|p| p.node.clone())
            .as_deref(),
        Some("n1")
    );
    assert_eq!(
        result.placement("default/low").map(|p| p.outcome.clone()),
        Some(Outcome::Unschedulable)
    );
}

#[test]
fn gated_pods_are_reported_with_their_gates() {
    let gated = pod(
        "g",
        "100m",
        "1Mi",
        json!({}),
        json!({"schedulingGates": [{"name": "example.com/wait"}]}),
    );
    let result = simulate(
        vec![simple_node("n1", "1", "1Gi")],
        vec![gated],
        &default_config(),
    )
    .expect("simulate");
    assert_eq!(result.placements[0].outcome, Outcome::Gated);
    assert_eq!(
        result.placements[0].message.as_deref(),
        Some("waiting for scheduling gates: [example.com/wait]")
    );
}

#[test]
fn simulation_is_reproducible_with_a_seed() {
    let nodes: Vec<_> = (0..20)
        .map(|i| simple_node(&format!("n{i}"), "4", "8Gi"))
        .collect();
    let pods: Vec<_> = (0..50)
        .map(|i| simple_pod(&format!("p{i}"), "100m", "64Mi"))
        .collect();
    let a = Simulation::default()
        .with_seed(7)
        .run(nodes.clone(), pods.clone())
        .expect("run");
    let b = Simulation::default()
        .with_seed(7)
        .run(nodes, pods)
        .expect("run");
    assert_eq!(a.placements, b.placements);
}

#[test]
fn preemption_finds_the_same_victims_on_one_thread_and_on_several() {
    // 200 full nodes: preemption dry-runs at least 100 of them per pod, in waves large enough
    // to be spread over threads; reading the waves in order gives the one-by-one result.
    let nodes: Vec<_> = (0..200)
        .map(|i| simple_node(&format!("n{i}"), "2", "8Gi"))
        .collect();
    let mut pods = Vec::new();
    for i in 0..200 {
        for k in 0..2 {
            pods.push(pod(
                &format!("low-{i}-{k}"),
                "1",
                "64Mi",
                json!({}),
                json!({"priority": 1 + k, "nodeName": format!("n{i}")}),
            ));
        }
    }
    for i in 0..60 {
        pods.push(pod(
            &format!("high-{i}"),
            "1",
            "64Mi",
            json!({}),
            json!({"priority": 100}),
        ));
    }
    let run = |threads| {
        Simulation::default()
            .with_seed(11)
            .with_parallelism(threads)
            .run(nodes.clone(), pods.clone())
            .expect("run")
    };
    let (one, several) = (run(1), run(4));
    assert_eq!(one.placements, several.placements);
    // Every high-priority pod got in by evicting exactly one pod: the lower of the two.
    let preempted: Vec<_> = one
        .placements
        .iter()
        .filter(|p| matches!(p.outcome, Outcome::Preempted { .. }))
        .collect();
    assert_eq!(preempted.len(), 60);
    assert!(
        preempted.iter().all(|p| p.pod.ends_with("-0")),
        "{preempted:?}"
    );
    let high: Vec<_> = one
        .placements
        .iter()
        .filter(|p| p.pod.starts_with("default/high-"))
        .collect();
    assert!(high.iter().all(|p| p.outcome == Outcome::Scheduled));
    assert!(high.iter().all(|p| p.nominated_node == p.node), "{high:?}");
}
