//! Invariants of every simulation, over random clusters, checked by a model written here from
//! Kubernetes v1.33's definitions (not with the plugins' code):
//!
//! - at the moment of every placement (the cycle's own view of the cluster, recorded by a
//!   Reserve plugin): the pod fits the node's allocatable and free host ports, tolerates its
//!   NoSchedule taints, matches its node selector and required node affinity; every required
//!   pod affinity term has a pod matching all the terms in the node's domain (or no such pod
//!   exists anywhere and the pod matches its own terms); no required anti-affinity term is
//!   broken, neither the pod's nor an existing pod's against it; and for every hard topology
//!   spread constraint, the pods matching it in the node's domain plus the pod itself exceed
//!   the least-loaded eligible domain by at most `maxSkew`;
//! - at the end: no node over its allocatable, no double-booked host port, no untolerated
//!   NoSchedule taint, no anti-affinity pair in one domain, and every placed pod whose
//!   constraints do not depend on later placements still passes every filter;
//! - on small clusters (preemption happens often) and on clusters of more than a thousand
//!   nodes, where Filter and Score run on the scheduler's worker threads (the test asserts
//!   that they did).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, Pod, PodAffinityTerm, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use orchestra_sched::config::KubeSchedulerConfiguration;
use orchestra_sched::config::args::PluginArgs;
use orchestra_sched::framework::{
    CycleState, FilterPlugin, Handle, Plugin, PluginInstance, Registry, ReservePlugin, ScorePlugin,
    Status,
};
use orchestra_sched::profiles::build_frameworks;
use orchestra_sched::{Cache, NodeInfo, Outcome, PodInfo, Simulation, Snapshot};
use proptest::prelude::*;
use serde_json::json;

const HOSTNAME: &str = "kubernetes.io/hostname";
const ZONE: &str = "topology.kubernetes.io/zone";

// ---------------------------------------------------------------------------------------------
// The generated world.

#[derive(Debug, Clone)]
struct NodeSpec {
    cpu: u32,
    memory_gi: u32,
    max_pods: u32,
    tainted: bool,
    /// `None`: the node has no zone label.
    zone: Option<u8>,
    ssd: bool,
}

/// A required (anti-)affinity term about the pods of one tier.
#[derive(Debug, Clone)]
struct TermSpec {
    tier: u8,
    by_zone: bool,
}

/// A hard (`DoNotSchedule`) topology spread constraint over the pods of one tier.
#[derive(Debug, Clone)]
struct SpreadSpec {
    tier: u8,
    by_zone: bool,
    max_skew: i32,
    honor_taints: bool,
    ignore_node_affinity: bool,
}

/// How a pod asks for an SSD node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WantsSsd {
    No,
    NodeSelector,
    NodeAffinity,
}

#[derive(Debug, Clone)]
struct PodSpec {
    cpu_m: u32,
    memory_mi: u32,
    priority: i32,
    tolerates: bool,
    host_port: Option<u16>,
    tier: u8,
    wants_ssd: WantsSsd,
    affinity: Vec<TermSpec>,
    anti_affinity: Option<TermSpec>,
    spread: Vec<SpreadSpec>,
    bound_to: Option<usize>,
}

fn node_strategy(
    cpu: std::ops::Range<u32>,
    memory_gi: std::ops::Range<u32>,
    taint_weight: f64,
) -> impl Strategy<Value = NodeSpec> {
    (
        cpu,
        memory_gi,
        2u32..8,
        prop::bool::weighted(taint_weight),
        prop::option::weighted(0.9, 0u8..3),
        prop::bool::ANY,
    )
        .prop_map(|(cpu, memory_gi, max_pods, tainted, zone, ssd)| NodeSpec {
            cpu,
            memory_gi,
            max_pods,
            tainted,
            zone,
            ssd,
        })
}

fn term_strategy() -> impl Strategy<Value = TermSpec> {
    (0u8..2, prop::bool::ANY).prop_map(|(tier, by_zone)| TermSpec { tier, by_zone })
}

fn spread_strategy() -> impl Strategy<Value = SpreadSpec> {
    (
        0u8..2,
        prop::bool::ANY,
        1i32..=2,
        prop::bool::weighted(0.5),
        prop::bool::weighted(0.5),
    )
        .prop_map(
            |(tier, by_zone, max_skew, honor_taints, ignore_node_affinity)| SpreadSpec {
                tier,
                by_zone,
                max_skew,
                honor_taints,
                ignore_node_affinity,
            },
        )
}

fn pod_strategy(nodes: usize) -> impl Strategy<Value = PodSpec> {
    let resources = (
        100u32..3000,
        64u32..4096,
        prop::sample::select(vec![0, 0, 10, 100]),
        prop::bool::weighted(0.3),
        prop::option::weighted(0.25, prop::sample::select(vec![80u16, 443, 8080])),
    );
    let placement = (
        0u8..2,
        prop::sample::select(vec![
            WantsSsd::No,
            WantsSsd::No,
            WantsSsd::No,
            WantsSsd::No,
            WantsSsd::NodeSelector,
            WantsSsd::NodeAffinity,
        ]),
        prop::option::weighted(0.25, term_strategy()),
        prop::option::weighted(0.1, term_strategy()),
        prop::option::weighted(0.3, term_strategy()),
        prop::option::weighted(0.3, spread_strategy()),
        prop::option::weighted(0.15, spread_strategy()),
        prop::option::weighted(0.2, 0..nodes),
    );
    (resources, placement).prop_map(
        |(
            (cpu_m, memory_mi, priority, tolerates, host_port),
            (tier, wants_ssd, affinity1, affinity2, anti_affinity, spread1, spread2, bound_to),
        )| PodSpec {
            cpu_m,
            memory_mi,
            priority,
            tolerates,
            host_port,
            tier,
            wants_ssd,
            affinity: affinity1.into_iter().chain(affinity2).collect(),
            anti_affinity,
            spread: spread1.into_iter().chain(spread2).collect(),
            bound_to,
        },
    )
}

fn node_name(i: usize) -> String {
    format!("n{i}")
}

fn build_node(i: usize, spec: &NodeSpec) -> Node {
    let name = node_name(i);
    let taints = if spec.tainted {
        json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    } else {
        json!([])
    };
    let mut labels = json!({HOSTNAME: name, "disk": if spec.ssd { "ssd" } else { "hdd" }});
    if let Some(zone) = spec.zone {
        labels[ZONE] = json!(format!("z{zone}"));
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints},
        "status": {"allocatable": {"cpu": spec.cpu.to_string(), "memory": format!("{}Gi", spec.memory_gi), "pods": spec.max_pods.to_string()}}
    }))
    .expect("node")
}

fn tier_label(tier: u8) -> String {
    format!("t{tier}")
}

fn topology_key(by_zone: bool) -> &'static str {
    if by_zone { ZONE } else { HOSTNAME }
}

fn affinity_term(term: &TermSpec) -> serde_json::Value {
    json!({"labelSelector": {"matchLabels": {"tier": tier_label(term.tier)}},
           "topologyKey": topology_key(term.by_zone)})
}

fn build_pod(i: usize, spec: &PodSpec) -> Pod {
    let mut container = json!({"name": "c", "image": "app:1",
        "resources": {"requests": {"cpu": format!("{}m", spec.cpu_m), "memory": format!("{}Mi", spec.memory_mi)}}});
    if let Some(port) = spec.host_port {
        container["ports"] = json!([{"containerPort": 80, "hostPort": port}]);
    }
    let mut pod_spec = json!({"containers": [container], "priority": spec.priority});
    if spec.tolerates {
        pod_spec["tolerations"] =
            json!([{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]);
    }
    match spec.wants_ssd {
        WantsSsd::No => {}
        WantsSsd::NodeSelector => pod_spec["nodeSelector"] = json!({"disk": "ssd"}),
        WantsSsd::NodeAffinity => {
            pod_spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}});
        }
    }
    if !spec.affinity.is_empty() {
        pod_spec["affinity"]["podAffinity"] = json!({"requiredDuringSchedulingIgnoredDuringExecution":
            spec.affinity.iter().map(affinity_term).collect::<Vec<_>>()});
    }
    if let Some(term) = &spec.anti_affinity {
        pod_spec["affinity"]["podAntiAffinity"] =
            json!({"requiredDuringSchedulingIgnoredDuringExecution": [affinity_term(term)]});
    }
    if !spec.spread.is_empty() {
        pod_spec["topologySpreadConstraints"] = spec
            .spread
            .iter()
            .map(|c| {
                json!({"maxSkew": c.max_skew, "topologyKey": topology_key(c.by_zone),
                   "whenUnsatisfiable": "DoNotSchedule",
                   "labelSelector": {"matchLabels": {"tier": tier_label(c.tier)}},
                   "nodeTaintsPolicy": if c.honor_taints { "Honor" } else { "Ignore" },
                   "nodeAffinityPolicy": if c.ignore_node_affinity { "Ignore" } else { "Honor" }})
            })
            .collect();
    }
    if let Some(node) = spec.bound_to {
        pod_spec["nodeName"] = json!(node_name(node));
    }
    serde_json::from_value(json!({
        "metadata": {"name": format!("p{i}"), "namespace": "default", "uid": format!("u{i}"),
                     "labels": {"app": "prop", "tier": tier_label(spec.tier)}},
        "spec": pod_spec
    }))
    .expect("pod")
}

// ---------------------------------------------------------------------------------------------
// The model: Kubernetes' rules over plain objects.

/// One node as a scheduling cycle saw it.
#[derive(Clone)]
struct NodeView {
    node: Arc<Node>,
    pods: Vec<Arc<Pod>>,
}

impl NodeView {
    fn name(&self) -> &str {
        self.node.metadata.name.as_deref().unwrap_or_default()
    }

    fn label(&self, key: &str) -> Option<&str> {
        self.node
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(key))
            .map(String::as_str)
    }
}

fn labels_of(pod: &Pod) -> BTreeMap<String, String> {
    pod.metadata.labels.clone().unwrap_or_default()
}

fn namespace_of(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

fn name_of(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

fn requirement_matches(r: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let value = labels.get(&r.key);
    let values = r.values.as_deref().unwrap_or_default();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        _ => false,
    }
}

/// `matchLabels` and `matchExpressions` (In, NotIn, Exists, DoesNotExist); an absent selector
/// matches nothing, an empty one everything.
fn selector_matches(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    let Some(selector) = selector else {
        return false;
    };
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    by_labels && by_expressions
}

/// Whether the node passes the pod's `nodeSelector` and required node affinity.
fn node_affinity_matches(pod: &Pod, node: &NodeView) -> bool {
    let labels = node.node.metadata.labels.clone().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let selector_ok = spec
        .and_then(|s| s.node_selector.as_ref())
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let required = spec
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    let affinity_ok = required.is_none_or(|r| {
        r.node_selector_terms.iter().any(|term| {
            term.match_expressions
                .iter()
                .flatten()
                .all(|e| requirement_matches(e, &labels))
        })
    });
    selector_ok && affinity_ok
}

/// Whether the pod tolerates every NoSchedule/NoExecute taint of the node (the generated
/// tolerations: key and effect, operator Exists).
fn tolerates_taints(pod: &Pod, node: &NodeView) -> bool {
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    node.node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|taint| {
            tolerations.iter().any(|t| {
                t.key.as_deref() == Some(taint.key.as_str())
                    && t.operator.as_deref() == Some("Exists")
                    && t.effect.as_deref().is_none_or(|e| e == taint.effect)
            })
        })
}

fn required_terms(pod: &Pod, anti: bool) -> Vec<PodAffinityTerm> {
    let affinity = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
    let terms = if anti {
        affinity
            .and_then(|a| a.pod_anti_affinity.as_ref())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .clone()
            })
    } else {
        affinity
            .and_then(|a| a.pod_affinity.as_ref())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .clone()
            })
    };
    terms.unwrap_or_default()
}

/// Whether `term` of a pod in `owner_namespace` is about `target` (the generated terms name
/// no namespaces: they are about the owner's namespace).
fn term_matches(term: &PodAffinityTerm, owner_namespace: &str, target: &Pod) -> bool {
    let namespaces = term.namespaces.clone().unwrap_or_default();
    let namespace_ok = if namespaces.is_empty() && term.namespace_selector.is_none() {
        namespace_of(target) == owner_namespace
    } else {
        namespaces.iter().any(|n| n == namespace_of(target))
    };
    namespace_ok && selector_matches(term.label_selector.as_ref(), &labels_of(target))
}

fn same_domain(a: &NodeView, b: &NodeView, key: &str) -> bool {
    matches!((a.label(key), b.label(key)), (Some(x), Some(y)) if x == y)
}

fn view<'w>(world: &'w [NodeView], node: &str) -> &'w NodeView {
    world
        .iter()
        .find(|n| n.name() == node)
        .expect("the placement's node is in the cycle's view")
}

/// The required pod affinity rule: a violation's description, if any.
fn affinity_violation(world: &[NodeView], pod: &Pod, node: &str) -> Option<String> {
    let terms = required_terms(pod, false);
    if terms.is_empty() {
        return None;
    }
    let target = view(world, node);
    if let Some(t) = terms
        .iter()
        .find(|t| target.label(&t.topology_key).is_none())
    {
        return Some(format!(
            "{node} lacks affinity topology key {}",
            t.topology_key
        ));
    }
    let namespace = namespace_of(pod);
    let matches_all = |p: &Pod| terms.iter().all(|t| term_matches(t, namespace, p));
    let matching: Vec<(&NodeView, &Arc<Pod>)> = world
        .iter()
        .flat_map(|n| n.pods.iter().map(move |p| (n, p)))
        .filter(|(_, p)| matches_all(p))
        .collect();
    let satisfied = terms.iter().all(|t| {
        matching
            .iter()
            .any(|(n, _)| same_domain(n, target, &t.topology_key))
    });
    if satisfied {
        return None;
    }
    // The first of its kind: no pod matching all terms on any node with a term's topology key,
    // and the pod matches its own terms.
    let any_counted = matching
        .iter()
        .any(|(n, _)| terms.iter().any(|t| n.label(&t.topology_key).is_some()));
    if !any_counted && matches_all(pod) {
        return None;
    }
    Some(format!(
        "{} on {node}: required affinity has no matching pod in its domain ({} matching elsewhere)",
        name_of(pod),
        matching.len()
    ))
}

/// Required anti-affinity, the pod's own and existing pods' against it.
fn anti_affinity_violation(world: &[NodeView], pod: &Pod, node: &str) -> Option<String> {
    let target = view(world, node);
    for term in required_terms(pod, true) {
        for other in world
            .iter()
            .filter(|n| same_domain(n, target, &term.topology_key))
        {
            if let Some(p) = other
                .pods
                .iter()
                .find(|p| term_matches(&term, namespace_of(pod), p))
            {
                return Some(format!(
                    "{} on {node} has anti-affinity ({}) to {} on {}",
                    name_of(pod),
                    term.topology_key,
                    name_of(p),
                    other.name()
                ));
            }
        }
    }
    for other in world {
        for existing in &other.pods {
            for term in required_terms(existing, true) {
                if same_domain(other, target, &term.topology_key)
                    && term_matches(&term, namespace_of(existing), pod)
                {
                    return Some(format!(
                        "{} on {} has anti-affinity ({}) to {} placed on {node}",
                        name_of(existing),
                        other.name(),
                        term.topology_key,
                        name_of(pod)
                    ));
                }
            }
        }
    }
    None
}

/// Hard topology spread, as Kubernetes' Filter computes it: per constraint, count the pods of
/// the pod's namespace matching the selector per domain, over the nodes that carry every
/// constraint's key and pass the constraint's inclusion policies; the node's domain count plus
/// one (if the pod matches) minus the least count must not exceed `maxSkew`.
fn spread_violation(world: &[NodeView], pod: &Pod, node: &str) -> Option<String> {
    let constraints: Vec<TopologySpreadConstraint> = pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.when_unsatisfiable == "DoNotSchedule")
        .collect();
    if constraints.is_empty() {
        return None;
    }
    let target = view(world, node);
    let has_all_keys = |n: &NodeView| {
        constraints
            .iter()
            .all(|c| n.label(&c.topology_key).is_some())
    };
    for c in &constraints {
        let Some(domain) = target.label(&c.topology_key) else {
            return Some(format!(
                "{node} lacks spread topology key {}",
                c.topology_key
            ));
        };
        let honor_affinity = c.node_affinity_policy.as_deref() != Some("Ignore");
        let honor_taints = c.node_taints_policy.as_deref() == Some("Honor");
        let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
        for n in world.iter().filter(|n| {
            has_all_keys(n)
                && (!honor_affinity || node_affinity_matches(pod, n))
                && (!honor_taints || tolerates_taints(pod, n))
        }) {
            let matching = n
                .pods
                .iter()
                .filter(|p| {
                    namespace_of(p) == namespace_of(pod)
                        && p.metadata.deletion_timestamp.is_none()
                        && selector_matches(c.label_selector.as_ref(), &labels_of(p))
                })
                .count() as i64;
            *counts
                .entry(n.label(&c.topology_key).unwrap_or_default())
                .or_default() += matching;
        }
        let Some(min) = counts.values().min().copied() else {
            continue;
        };
        let self_match = i64::from(selector_matches(c.label_selector.as_ref(), &labels_of(pod)));
        let skew = counts.get(domain).copied().unwrap_or(0) + self_match - min;
        if skew > i64::from(c.max_skew) {
            return Some(format!(
                "{} on {node}: skew {skew} > maxSkew {} over {} (counts {counts:?})",
                name_of(pod),
                c.max_skew,
                c.topology_key
            ));
        }
    }
    None
}

/// What the generator asked of each pod and node, for the resource and port checks.
struct Specs {
    nodes: Vec<NodeSpec>,
    pods: BTreeMap<String, PodSpec>,
}

impl Specs {
    fn node(&self, name: &str) -> &NodeSpec {
        let i: usize = name[1..].parse().expect("generated node name");
        &self.nodes[i]
    }

    fn pod(&self, pod: &Pod) -> &PodSpec {
        &self.pods[name_of(pod)]
    }
}

/// Allocatable and host ports with the pod added.
fn capacity_violation(specs: &Specs, world: &[NodeView], pod: &Pod, node: &str) -> Option<String> {
    let target = view(world, node);
    let limits = specs.node(node);
    let on_node: Vec<&PodSpec> = target.pods.iter().map(|p| specs.pod(p)).collect();
    let mine = specs.pod(pod);
    let cpu: u32 = on_node.iter().map(|p| p.cpu_m).sum::<u32>() + mine.cpu_m;
    let memory: u32 = on_node.iter().map(|p| p.memory_mi).sum::<u32>() + mine.memory_mi;
    if cpu > limits.cpu * 1000 || memory > limits.memory_gi * 1024 {
        return Some(format!("{} overcommits {node}", name_of(pod)));
    }
    if on_node.len() as u32 + 1 > limits.max_pods {
        return Some(format!("{} exceeds {node}'s pod count", name_of(pod)));
    }
    if let Some(port) = mine.host_port {
        if on_node.iter().any(|p| p.host_port == Some(port)) {
            return Some(format!(
                "{} double-books port {port} on {node}",
                name_of(pod)
            ));
        }
    }
    None
}

/// Every rule at the moment the pod is placed on `node` of `world`.
fn placement_violation(specs: &Specs, world: &[NodeView], pod: &Pod, node: &str) -> Option<String> {
    let target = view(world, node);
    if !tolerates_taints(pod, target) {
        return Some(format!("{} on tainted {node}", name_of(pod)));
    }
    if !node_affinity_matches(pod, target) {
        return Some(format!(
            "{} on {node} against its node affinity",
            name_of(pod)
        ));
    }
    capacity_violation(specs, world, pod, node)
        .or_else(|| affinity_violation(world, pod, node))
        .or_else(|| anti_affinity_violation(world, pod, node))
        .or_else(|| spread_violation(world, pod, node))
}

// ---------------------------------------------------------------------------------------------
// Recording placements from inside the scheduler.

/// One Reserve: the pod, its node, and the cluster as that cycle's snapshot had it.
struct Decision {
    pod: Arc<Pod>,
    node: String,
    world: Vec<NodeView>,
}

/// A Reserve plugin that records every decision with its cycle's snapshot, and a Filter and
/// Score plugin that count how often they ran on the scheduler's worker threads.
#[derive(Default)]
struct PlacementLog {
    decisions: Mutex<Vec<Decision>>,
    filters_on_workers: AtomicUsize,
    scores_on_workers: AtomicUsize,
}

const LOG: &str = "PlacementLog";

fn on_worker_thread() -> bool {
    std::thread::current()
        .name()
        .is_some_and(|n| n.starts_with("sched-worker"))
}

impl Plugin for PlacementLog {
    fn name(&self) -> &str {
        LOG
    }
}

impl ReservePlugin for PlacementLog {
    fn reserve(
        &self,
        _: &mut CycleState,
        pod: &Arc<PodInfo>,
        node: &str,
        snapshot: &Snapshot,
    ) -> Status {
        let world = snapshot
            .nodes()
            .iter()
            .filter_map(|n| {
                Some(NodeView {
                    node: n.node()?.clone(),
                    pods: n.pods().iter().map(|p| p.pod.clone()).collect(),
                })
            })
            .collect();
        self.decisions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Decision {
                pod: pod.pod.clone(),
                node: node.to_owned(),
                world,
            });
        Status::success()
    }

    fn unreserve(&self, _: &mut CycleState, pod: &Arc<PodInfo>, node: &str) {
        let mut decisions = self
            .decisions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = decisions
            .iter()
            .rposition(|d| d.pod.metadata.uid == pod.pod.metadata.uid && d.node == node)
        {
            decisions.remove(i);
        }
    }
}

impl FilterPlugin for PlacementLog {
    fn filter(&self, _: &CycleState, _: &PodInfo, _: &NodeInfo) -> Status {
        if on_worker_thread() {
            self.filters_on_workers.fetch_add(1, Ordering::Relaxed);
        }
        Status::success()
    }
}

impl ScorePlugin for PlacementLog {
    fn score(&self, _: &CycleState, _: &PodInfo, _: &NodeInfo) -> Result<i64, Status> {
        if on_worker_thread() {
            self.scores_on_workers.fetch_add(1, Ordering::Relaxed);
        }
        Ok(0)
    }
}

fn simulation(log: &Arc<PlacementLog>, threads: usize, score_all_nodes: bool) -> Simulation {
    let mut registry = Registry::with_default_plugins();
    let plugin = log.clone();
    registry
        .register(LOG, move |_: &PluginArgs<'_>, _: &Arc<Handle>| {
            Ok(PluginInstance::builder(plugin.clone())
                .filter()
                .score()
                .reserve()
                .build())
        })
        .expect("new name");
    let percentage = if score_all_nodes {
        "percentageOfNodesToScore: 100\n"
    } else {
        ""
    };
    let config = KubeSchedulerConfiguration::from_yaml(&format!(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n{percentage}profiles:\n- schedulerName: default-scheduler\n  plugins:\n    filter:\n      enabled:\n      - name: {LOG}\n    score:\n      enabled:\n      - name: {LOG}\n    reserve:\n      enabled:\n      - name: {LOG}\n"
    ))
    .expect("config");
    Simulation::new(config)
        .with_registry(registry)
        .with_seed(1)
        .with_parallelism(threads)
}

// ---------------------------------------------------------------------------------------------
// The scenario.

/// Builds the pods; pods bound in advance join only when they keep every rule the scheduler
/// keeps (so the invariants are the scheduler's to keep), otherwise they are left to it.
fn build_world(node_specs: &[NodeSpec], pod_specs: &[PodSpec]) -> (Vec<Node>, Vec<Pod>, Specs) {
    let nodes: Vec<Node> = node_specs
        .iter()
        .enumerate()
        .map(|(i, s)| build_node(i, s))
        .collect();
    let mut specs = Specs {
        nodes: node_specs.to_vec(),
        pods: BTreeMap::new(),
    };
    let mut prebound: Vec<NodeView> = nodes
        .iter()
        .map(|n| NodeView {
            node: Arc::new(n.clone()),
            pods: Vec::new(),
        })
        .collect();
    let mut pods = Vec::new();
    for (i, spec) in pod_specs.iter().enumerate() {
        let mut spec = spec.clone();
        let name = format!("p{i}");
        specs.pods.insert(name.clone(), spec.clone());
        if let Some(n) = spec.bound_to {
            let candidate = Arc::new(build_pod(i, &spec));
            let target = node_name(n);
            let keeps_rules = tolerates_taints(&candidate, &prebound[n])
                && node_affinity_matches(&candidate, &prebound[n])
                && capacity_violation(&specs, &prebound, &candidate, &target).is_none()
                && anti_affinity_violation(&prebound, &candidate, &target).is_none();
            if keeps_rules {
                prebound[n].pods.push(candidate);
            } else {
                spec.bound_to = None;
                specs.pods.insert(name, spec.clone());
            }
        }
        pods.push(build_pod(i, &spec));
    }
    (nodes, pods, specs)
}

/// What a run did, for the callers' own assertions.
struct Observed {
    placed: usize,
    filters_on_workers: usize,
    scores_on_workers: usize,
}

fn check_scenario(
    node_specs: &[NodeSpec],
    pod_specs: &[PodSpec],
    threads: usize,
    score_all_nodes: bool,
) -> Result<Observed, TestCaseError> {
    let (nodes, pods, specs) = build_world(node_specs, pod_specs);
    let log = Arc::new(PlacementLog::default());
    let result = simulation(&log, threads, score_all_nodes)
        .run(nodes.clone(), pods.clone())
        .expect("simulate");
    let decisions =
        std::mem::take(&mut *log.decisions.lock().unwrap_or_else(PoisonError::into_inner));

    // Every decision, against the cycle's own view of the cluster.
    for decision in &decisions {
        if let Some(violation) =
            placement_violation(&specs, &decision.world, &decision.pod, &decision.node)
        {
            return Err(TestCaseError::fail(violation));
        }
    }
    // Every scheduled pod was recorded where it ended.
    let decided: BTreeSet<(String, String)> = decisions
        .iter()
        .map(|d| (format!("default/{}", name_of(&d.pod)), d.node.clone()))
        .collect();
    for placement in &result.placements {
        if placement.outcome == Outcome::Scheduled {
            let node = placement.node.clone().expect("scheduled pods have a node");
            prop_assert!(
                decided.contains(&(placement.pod.clone(), node)),
                "{placement:?} was not seen at Reserve"
            );
        }
    }

    // The final state.
    let by_key: BTreeMap<String, &Pod> = pods
        .iter()
        .map(|p| (format!("default/{}", name_of(p)), p))
        .collect();
    let final_world: Vec<NodeView> = result
        .nodes
        .iter()
        .filter_map(|n| {
            Some(NodeView {
                node: n.node()?.clone(),
                pods: n.pods().iter().map(|p| p.pod.clone()).collect(),
            })
        })
        .collect();
    for n in &final_world {
        let specs_on: Vec<&PodSpec> = n.pods.iter().map(|p| specs.pod(p)).collect();
        let limits = specs.node(n.name());
        prop_assert!(
            specs_on.iter().map(|p| p.cpu_m).sum::<u32>() <= limits.cpu * 1000,
            "cpu over on {}",
            n.name()
        );
        prop_assert!(
            specs_on.iter().map(|p| p.memory_mi).sum::<u32>() <= limits.memory_gi * 1024,
            "memory over on {}",
            n.name()
        );
        prop_assert!(
            specs_on.len() as u32 <= limits.max_pods,
            "pods over on {}",
            n.name()
        );
        let ports: Vec<u16> = specs_on.iter().filter_map(|p| p.host_port).collect();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        prop_assert_eq!(
            ports.len(),
            distinct.len(),
            "double-booked port on {}",
            n.name()
        );
        for pod in &n.pods {
            prop_assert!(
                tolerates_taints(pod, n),
                "{} on tainted {}",
                name_of(pod),
                n.name()
            );
            // Anti-affinity in both directions, against everything else in the final state.
            let others: Vec<NodeView> = final_world
                .iter()
                .map(|m| NodeView {
                    node: m.node.clone(),
                    pods: m
                        .pods
                        .iter()
                        .filter(|p| p.metadata.uid != pod.metadata.uid)
                        .cloned()
                        .collect(),
                })
                .collect();
            if let Some(violation) = anti_affinity_violation(&others, pod, n.name()) {
                return Err(TestCaseError::fail(violation));
            }
        }
    }
    for placement in &result.placements {
        let on_node = final_world.iter().any(|n| {
            n.pods
                .iter()
                .any(|p| format!("default/{}", name_of(p)) == placement.pod)
        });
        prop_assert_eq!(placement.is_placed(), on_node, "{:?}", placement);
        prop_assert!(by_key.contains_key(&placement.pod));
    }

    // Pods whose filters do not depend on pods placed after them (no required pod affinity,
    // no spread constraint) still pass every filter with the final state around them.
    let config = KubeSchedulerConfiguration::default_config();
    let handle = Arc::new(Handle::new(None, 1));
    let frameworks =
        build_frameworks(&config, &Registry::with_default_plugins(), &handle).expect("profile");
    let framework = &frameworks["default-scheduler"];
    for node in &result.nodes {
        for pod in node.pods() {
            let spec = specs.pod(&pod.pod);
            if !spec.affinity.is_empty() || !spec.spread.is_empty() {
                continue;
            }
            let mut cache = Cache::new();
            for n in &result.nodes {
                if let Some(object) = n.node() {
                    cache.add_node(object.clone());
                }
                for p in n.pods() {
                    if p.uid() != pod.uid() {
                        let mut object = (*p.pod).clone();
                        object.spec.get_or_insert_with(Default::default).node_name =
                            Some(n.name().to_owned());
                        cache.add_pod(Arc::new(PodInfo::new(object))).expect("add");
                    }
                }
            }
            let mut snapshot = Snapshot::new();
            cache.update_snapshot(&mut snapshot);
            let mut incoming = (*pod.pod).clone();
            incoming.spec.get_or_insert_with(Default::default).node_name = None;
            let incoming = Arc::new(PodInfo::new(incoming));
            let mut state = CycleState::new();
            let pre = framework.run_pre_filter(&mut state, &incoming, &snapshot);
            prop_assert!(pre.status.is_success(), "{:?}", pre.status);
            let target: &NodeInfo = snapshot.get(node.name()).expect("node");
            let status = framework.run_filter(&state, &incoming, target);
            prop_assert!(
                status.is_success(),
                "{} fails {:?} on {}",
                pod.key(),
                status,
                node.name()
            );
        }
    }
    Ok(Observed {
        placed: result.placed(),
        filters_on_workers: log.filters_on_workers.load(Ordering::Relaxed),
        scores_on_workers: log.scores_on_workers.load(Ordering::Relaxed),
    })
}

fn small_cluster() -> impl Strategy<Value = (Vec<NodeSpec>, Vec<PodSpec>)> {
    prop::collection::vec(node_strategy(1..8, 1..16, 0.25), 1..7).prop_flat_map(|nodes| {
        let n = nodes.len();
        (Just(nodes), prop::collection::vec(pod_strategy(n), 1..24))
    })
}

/// More nodes than the scheduler's threshold for spreading one pass over its threads, large
/// enough for any pod and few of them tainted, so that Filter and Score passes run in parallel
/// — always for the first pod, which has no constraint and which no other pod's term or
/// constraint is about.
fn wide_cluster() -> impl Strategy<Value = (Vec<NodeSpec>, Vec<PodSpec>)> {
    prop::collection::vec(node_strategy(4..16, 8..32, 0.02), 1100..1150).prop_flat_map(|nodes| {
        let n = nodes.len();
        let unconstrained = PodSpec {
            cpu_m: 100,
            memory_mi: 64,
            priority: 0,
            tolerates: false,
            host_port: None,
            // No generated term or constraint is about this tier.
            tier: 9,
            wants_ssd: WantsSsd::No,
            affinity: Vec::new(),
            anti_affinity: None,
            spread: Vec::new(),
            bound_to: None,
        };
        (
            Just(nodes),
            prop::collection::vec(pod_strategy(n), 8..20).prop_map(move |mut pods| {
                pods.insert(0, unconstrained.clone());
                pods
            }),
        )
    })
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    #[test]
    fn every_placement_keeps_resources_taints_affinity_anti_affinity_and_spread(
        (node_specs, pod_specs) in small_cluster()
    ) {
        check_scenario(&node_specs, &pod_specs, 2, false)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(4)))]

    #[test]
    fn placements_on_more_than_a_thousand_nodes_keep_the_same_rules_with_parallel_filter_and_score(
        (node_specs, pod_specs) in wide_cluster()
    ) {
        let observed = check_scenario(&node_specs, &pod_specs, 2, true)?;
        prop_assert!(observed.placed > 0);
        prop_assert!(observed.filters_on_workers > 0, "no Filter ran on a worker thread");
        prop_assert!(observed.scores_on_workers > 0, "no Score ran on a worker thread");
    }
}
