//! PodTopologySpread's node inclusion policies, as Kubernetes v1.33 defines them: the skew of
//! a hard constraint is computed over the domains of the nodes the policies include.
//! `nodeTaintsPolicy: Honor` leaves out nodes with a NoSchedule/NoExecute taint the pod does
//! not tolerate (the default `Ignore` counts every node); `nodeAffinityPolicy: Honor` (the
//! default) leaves out nodes the pod's node selector or required node affinity rejects, and
//! `Ignore` counts them.
//!
//! Every scenario has three zones of one node each: `a` and `b` with one matching pod each,
//! `c` empty but excluded one way or another. With `maxSkew: 1`, counting `c` makes the
//! minimum 0 and rules out `a` and `b` (1 + 1 − 0 = 2); leaving it out makes the minimum 1
//! and lets the pod go to either (1 + 1 − 1 = 1).

mod support;

use k8s_openapi::api::core::v1::{Node, Pod};
use orchestra_sched::{ClusterObjects, Simulation};
use serde_json::{Value, json};
use support::{feasible, filter_statuses, node, pod, rejection};

const SPREAD: &str = "node(s) didn't match pod topology spread constraints";
const TAINT: &str = "node(s) had untolerated taint {dedicated: gpu}";
const NODE_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";

fn zone_node(name: &str, zone: &str, disk: &str, taint_effect: Option<&str>) -> Node {
    let spec = match taint_effect {
        Some(effect) => json!({"taints": [{"key": "dedicated", "value": "gpu", "effect": effect}]}),
        None => json!({}),
    };
    node(
        name,
        "4",
        "8Gi",
        json!({"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone, "disk": disk}),
        spec,
    )
}

/// An `app=web` pod already running on `node`.
fn running_web(name: &str, node: &str) -> Pod {
    pod(
        name,
        "100m",
        "64Mi",
        json!({"app": "web"}),
        json!({"nodeName": node}),
    )
}

fn existing() -> Vec<Pod> {
    vec![running_web("web-a", "a"), running_web("web-b", "b")]
}

/// An `app=web` pod spreading over zones with maxSkew 1; `policies` are merged into the
/// constraint, `extra` into the spec.
fn spreading(policies: Value, extra: Value) -> Pod {
    let mut constraint = json!({"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "web"}}});
    if let (Some(c), Some(p)) = (constraint.as_object_mut(), policies.as_object()) {
        for (k, v) in p {
            c.insert(k.clone(), v.clone());
        }
    }
    let mut spec = json!({"topologySpreadConstraints": [constraint]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    pod("new-web", "100m", "64Mi", json!({"app": "web"}), spec)
}

fn statuses(nodes: &[Node], incoming: &Pod) -> Vec<(String, orchestra_sched::framework::Status)> {
    filter_statuses(nodes, &existing(), ClusterObjects::new(), incoming)
}

/// Where the simulation put the incoming pod, or its message.
fn simulated(nodes: Vec<Node>, incoming: Pod) -> Result<String, String> {
    let mut pods = existing();
    pods.push(incoming);
    let result = Simulation::default()
        .with_seed(7)
        .run(nodes, pods)
        .expect("simulate");
    let placement = result.placement("default/new-web").expect("placement");
    placement
        .node
        .clone()
        .ok_or_else(|| placement.message.clone().unwrap_or_default())
}

fn tainted_c(effect: &str) -> Vec<Node> {
    vec![
        zone_node("a", "a", "ssd", None),
        zone_node("b", "b", "ssd", None),
        zone_node("c", "c", "ssd", Some(effect)),
    ]
}

#[test]
fn node_taints_policy_ignore_counts_tainted_nodes_in_the_skew() {
    // The default: the untolerated node's empty zone is the minimum.
    for policies in [json!({}), json!({"nodeTaintsPolicy": "Ignore"})] {
        let s = statuses(&tainted_c("NoSchedule"), &spreading(policies, json!({})));
        assert!(feasible(&s).is_empty());
        for n in ["a", "b"] {
            assert_eq!(
                rejection(&s, n),
                Some(("PodTopologySpread", SPREAD.to_owned()))
            );
        }
        assert_eq!(
            rejection(&s, "c"),
            Some(("TaintToleration", TAINT.to_owned()))
        );
    }
    let message = simulated(tainted_c("NoSchedule"), spreading(json!({}), json!({})))
        .expect_err("unschedulable");
    assert!(
        message.starts_with(&format!(
            "0/3 nodes are available: 1 {TAINT}, 2 {SPREAD}. preemption: "
        )),
        "{message}"
    );
}

#[test]
fn node_taints_policy_honor_leaves_untolerated_nodes_out_of_the_skew() {
    let incoming = spreading(json!({"nodeTaintsPolicy": "Honor"}), json!({}));
    let s = statuses(&tainted_c("NoSchedule"), &incoming);
    assert_eq!(feasible(&s), ["a", "b"]);
    assert_eq!(
        rejection(&s, "c"),
        Some(("TaintToleration", TAINT.to_owned()))
    );
    let placed = simulated(tainted_c("NoSchedule"), incoming).expect("placed");
    assert!(placed == "a" || placed == "b", "{placed}");

    // NoExecute keeps the node out just the same.
    let s = statuses(
        &tainted_c("NoExecute"),
        &spreading(json!({"nodeTaintsPolicy": "Honor"}), json!({})),
    );
    assert_eq!(feasible(&s), ["a", "b"]);
}

#[test]
fn node_taints_policy_honor_still_counts_prefer_no_schedule_and_tolerated_taints() {
    // PreferNoSchedule does not keep pods off a node: its zone counts, and is the only one
    // the pod may go to.
    let s = statuses(
        &tainted_c("PreferNoSchedule"),
        &spreading(json!({"nodeTaintsPolicy": "Honor"}), json!({})),
    );
    assert_eq!(feasible(&s), ["c"]);
    assert_eq!(
        rejection(&s, "a"),
        Some(("PodTopologySpread", SPREAD.to_owned()))
    );

    // A pod tolerating the taint may use the node, so the node counts.
    let tolerating = spreading(
        json!({"nodeTaintsPolicy": "Honor"}),
        json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}),
    );
    let s = statuses(&tainted_c("NoSchedule"), &tolerating);
    assert_eq!(feasible(&s), ["c"]);
    assert_eq!(
        simulated(tainted_c("NoSchedule"), tolerating).as_deref(),
        Ok("c")
    );
}

/// Zones a and b on SSD nodes, zone c on an HDD node.
fn hdd_c() -> Vec<Node> {
    vec![
        zone_node("a", "a", "ssd", None),
        zone_node("b", "b", "ssd", None),
        zone_node("c", "c", "hdd", None),
    ]
}

fn wants_ssd_by(how: &str) -> Value {
    match how {
        "nodeSelector" => json!({"nodeSelector": {"disk": "ssd"}}),
        _ => {
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}}})
        }
    }
}

#[test]
fn node_affinity_policy_honor_leaves_nodes_the_pod_cannot_use_out_of_the_skew() {
    for how in ["nodeSelector", "nodeAffinity"] {
        // Honor is the default.
        for policies in [json!({}), json!({"nodeAffinityPolicy": "Honor"})] {
            let incoming = spreading(policies, wants_ssd_by(how));
            let s = statuses(&hdd_c(), &incoming);
            assert_eq!(feasible(&s), ["a", "b"], "{how}");
            assert_eq!(
                rejection(&s, "c"),
                Some(("NodeAffinity", NODE_AFFINITY.to_owned()))
            );
            let placed = simulated(hdd_c(), incoming).expect("placed");
            assert!(placed == "a" || placed == "b", "{placed}");
        }
    }
}

#[test]
fn node_affinity_policy_ignore_counts_nodes_the_pod_cannot_use() {
    for how in ["nodeSelector", "nodeAffinity"] {
        let incoming = spreading(json!({"nodeAffinityPolicy": "Ignore"}), wants_ssd_by(how));
        let s = statuses(&hdd_c(), &incoming);
        assert!(feasible(&s).is_empty(), "{how}");
        for n in ["a", "b"] {
            assert_eq!(
                rejection(&s, n),
                Some(("PodTopologySpread", SPREAD.to_owned()))
            );
        }
        assert_eq!(
            rejection(&s, "c"),
            Some(("NodeAffinity", NODE_AFFINITY.to_owned()))
        );
        let message = simulated(hdd_c(), incoming).expect_err("unschedulable");
        assert!(
            message.starts_with(&format!(
                "0/3 nodes are available: 1 {NODE_AFFINITY}, 2 {SPREAD}. preemption: "
            )),
            "{message}"
        );
    }
}

#[test]
fn the_policies_apply_per_constraint() {
    // Zones honoring taints, hostnames not: the hostname constraint still counts the tainted
    // node (with no pod) and rules a and b out, whichever constraint comes first.
    let zone_honoring = spreading(json!({"nodeTaintsPolicy": "Honor"}), json!({}))
        .spec
        .and_then(|s| s.topology_spread_constraints)
        .expect("constraints")
        .remove(0);
    let mut hostname_ignoring = zone_honoring.clone();
    hostname_ignoring.topology_key = "kubernetes.io/hostname".to_owned();
    hostname_ignoring.node_taints_policy = Some("Ignore".to_owned());
    for constraints in [
        vec![zone_honoring.clone(), hostname_ignoring.clone()],
        vec![hostname_ignoring, zone_honoring],
    ] {
        let mut incoming = spreading(json!({}), json!({}));
        incoming
            .spec
            .as_mut()
            .expect("spec")
            .topology_spread_constraints = Some(constraints);
        let s = statuses(&tainted_c("NoSchedule"), &incoming);
        assert!(feasible(&s).is_empty());
        for n in ["a", "b"] {
            assert_eq!(
                rejection(&s, n),
                Some(("PodTopologySpread", SPREAD.to_owned()))
            );
        }
    }
}
