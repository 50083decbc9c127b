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

#[test]
fn only_a_victim_terminating_by_preemption_on_its_nominated_node_holds_a_preemptor_back() {
    // Kubernetes' PodEligibleToPreemptOthers: a pod nominated to n1 does not preempt again
    // while a pod of lower priority there is terminating because a scheduler preempted it
    // (being deleted, DisruptionTarget=True with reason PreemptionByScheduler); any other
    // terminating or marked pod leaves it free to preempt. Here preempting means evicting
    // "keep" (700m + 900m + 1000m do not fit in 1800m; without "keep" they do).
    struct Case {
        name: &'static str,
        priority: i32,
        deleting: bool,
        disruption: Option<(&'static str, &'static str)>,
        held_back: bool,
    }
    let cases = [
        Case {
            name: "a victim of a preemption, terminating",
            priority: 1,
            deleting: true,
            disruption: Some(("True", "PreemptionByScheduler")),
            held_back: true,
        },
        Case {
            name: "deleted by its owner",
            priority: 1,
            deleting: true,
            disruption: None,
            held_back: false,
        },
        Case {
            name: "drained through the Eviction API",
            priority: 1,
            deleting: true,
            disruption: Some(("True", "EvictionByEvictionAPI")),
            held_back: false,
        },
        Case {
            name: "marked by a preemption whose condition is no longer true",
            priority: 1,
            deleting: true,
            disruption: Some(("False", "PreemptionByScheduler")),
            held_back: false,
        },
        Case {
            name: "marked by a preemption but not being deleted",
            priority: 1,
            deleting: false,
            disruption: Some(("True", "PreemptionByScheduler")),
            held_back: false,
        },
        Case {
            name: "a victim of a preemption of the preemptor's own priority",
            priority: 100,
            deleting: true,
            disruption: Some(("True", "PreemptionByScheduler")),
            held_back: false,
        },
    ];
    for case in cases {
        let mut old = pod(
            "old",
            "700m",
            "64Mi",
            json!({}),
            json!({"priority": case.priority, "nodeName": "n1"}),
        );
        if case.deleting {
            old.metadata.deletion_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    "2024-01-01T00:00:00Z".parse().expect("time"),
                ));
        }
        if let Some((status, reason)) = case.disruption {
            old.status = Some(
                serde_json::from_value(json!({"conditions": [{
                    "type": "DisruptionTarget", "status": status, "reason": reason,
                    "message": "default-scheduler: preempting to accommodate a higher priority pod"
                }]}))
                .expect("status"),
            );
        }
        let keep = pod(
            "keep",
            "900m",
            "64Mi",
            json!({}),
            json!({"priority": 1, "nodeName": "n1"}),
        );
        let mut high = pod("high", "1000m", "64Mi", json!({}), json!({"priority": 100}));
        high.status =
            Some(serde_json::from_value(json!({"nominatedNodeName": "n1"})).expect("status"));
        let result = simulate(
            vec![simple_node("n1", "1800m", "4Gi")],
            vec![old, keep, high],
            &default_config(),
        )
        .expect("simulate");
        let keep = result.placement("default/keep").expect("keep");
        let high = result.placement("default/high").expect("high");
        if case.held_back {
            assert_eq!(keep.outcome, Outcome::AlreadyBound, "{}", case.name);
            assert_eq!(high.outcome, Outcome::Unschedulable, "{}", case.name);
            assert_eq!(
                high.message.as_deref(),
                Some(
                    "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to a terminating pod on the nominated node.."
                ),
                "{}",
                case.name
            );
        } else {
            assert_eq!(
                keep.outcome,
                Outcome::Preempted {
                    by: "default/high".into()
                },
                "{}",
                case.name
            );
            assert_eq!(
                (high.node.as_deref(), high.nominated_node.as_deref()),
                (Some("n1"), Some("n1")),
                "{}",
                case.name
            );
        }
        let old = result.placement("default/old").expect("old");
        assert_eq!(old.outcome, Outcome::AlreadyBound, "{}", case.name);
    }
}
