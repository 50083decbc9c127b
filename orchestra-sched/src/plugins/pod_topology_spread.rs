//! PodTopologySpread: spread matching pods evenly over topology domains.
//!
//! For each `DoNotSchedule` constraint, Filter allows a node only if placing the pod there keeps
//! `pods in the node's domain + (1 if the pod matches) − minimum over domains ≤ maxSkew`; the
//! minimum counts as 0 while fewer domains than `minDomains` exist. A node lacking a
//! constraint's topology label is unresolvable (`node(s) didn't match pod topology spread
//! constraints (missing required label)`), a skew too large is
//! `node(s) didn't match pod topology spread constraints`. Which nodes' domains count follows
//! `nodeAffinityPolicy` (default `Honor`: only nodes the pod's node affinity accepts) and
//! `nodeTaintsPolicy` (default `Ignore`).
//!
//! For `ScheduleAnyway` constraints, Score gives each node
//! `Σ (matching pods in its domain × log(domains + 2) + maxSkew − 1)` and normalizes so the
//! emptiest domain scores 100. Pods without constraints get the cluster defaults: with
//! `defaultingType: System`, soft spreading over hostname (maxSkew 3) and zone (maxSkew 5) of the
//! pods selected by the same Services, ReplicaSets, StatefulSets or ReplicationControllers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;
use orchestra_api::LabelSelector;
use orchestra_api::label_selector::{Operator, Requirement};
use orchestra_api::validation::FieldError;

use crate::cluster_objects::ClusterObjects;
use crate::config::ConfigError;
use crate::config::args::{PluginArgs, PodTopologySpreadArgs};
use crate::framework::{
    ActionType, ClusterEventWithHint, CycleState, EnqueueExtensions, EventResource, FilterPlugin,
    Handle, MAX_NODE_SCORE, Plugin, PluginInstance, PreFilterPlugin, PreFilterResult,
    PreScorePlugin, ScorePlugin, Status,
};
use crate::node_info::NodeInfo;
use crate::plugins::node_contributions::{Contribution, ContributionCache, SlotTotals};
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;
use crate::taints::{find_untolerated, is_do_not_schedule};

/// The plugin's name.
pub const NAME: &str = "PodTopologySpread";
/// Rejection: skew too large.
pub const REASON_CONSTRAINTS_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints";
/// Rejection: the node lacks a topology label.
pub const REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

const HOSTNAME: &str = "kubernetes.io/hostname";

/// How many different counting questions (a workload's selector and constraints) keep their
/// per-node counts across cycles. Pods of many workloads arrive interleaved (a hundred
/// Deployments scaling at once), so fewer would recount every node for nearly every pod; each
/// kept question costs about a hundred bytes per node.
const COUNTS_KEPT: usize = 128;
const ZONE: &str = "topology.kubernetes.io/zone";

/// One constraint, compiled.
#[derive(Debug, Clone)]
struct Constraint {
    max_skew: i64,
    topology_key: String,
    selector: LabelSelector,
    min_domains: usize,
    honor_node_affinity: bool,
    honor_node_taints: bool,
}

impl Constraint {
    /// Whether the node's domain counts for this constraint (node inclusion policies).
    fn includes_node(&self, pod: &PodInfo, node: &NodeInfo) -> bool {
        if self.honor_node_affinity
            && !pod
                .required_node_affinity
                .matches(node.name(), node.labels())
        {
            return false;
        }
        if self.honor_node_taints
            && find_untolerated(node.taints(), pod.tolerations(), is_do_not_schedule).is_some()
        {
            return false;
        }
        true
    }
}

/// Pod topology spreading.
pub struct PodTopologySpread {
    default_constraints: Vec<TopologySpreadConstraint>,
    system_defaulted: bool,
    contributions: ContributionCache,
}

impl std::fmt::Debug for PodTopologySpread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodTopologySpread")
            .field("system_defaulted", &self.system_defaulted)
            .finish()
    }
}

#[derive(Clone)]
struct PreFilterState {
    constraints: Arc<Vec<Constraint>>,
    /// Per constraint: matching pods per topology value.
    counts: Vec<Arc<SlotTotals>>,
    /// Per constraint: the smallest count.
    min: Vec<i64>,
}

impl PreFilterState {
    fn recompute_min(&mut self, i: usize) {
        let key = &self.constraints[i].topology_key;
        self.min[i] = self.counts[i]
            .domains(key)
            .map(|(_, c)| c)
            .min()
            .unwrap_or(0);
    }

    fn min_match(&self, i: usize) -> i64 {
        if self.counts[i].domain_count(&self.constraints[i].topology_key)
            < self.constraints[i].min_domains
        {
            0
        } else {
            self.min[i]
        }
    }
}

#[derive(Clone)]
struct PreScoreState {
    constraints: Arc<Vec<Constraint>>,
    ignored_nodes: Arc<HashSet<String>>,
    counts: Arc<Vec<HashMap<String, i64>>>,
    /// Per constraint over `kubernetes.io/hostname`: matching pods per node name.
    per_node: Vec<Arc<SlotTotals>>,
    weights: Arc<Vec<f64>>,
}

fn count_matching(node: &NodeInfo, selector: &LabelSelector, namespace: &str) -> i64 {
    node.pods()
        .iter()
        .filter(|p| {
            p.namespace() == namespace && !p.is_terminating() && selector.matches(p.labels())
        })
        .count() as i64
}

fn has_all_keys(node: &NodeInfo, constraints: &[Constraint]) -> bool {
    constraints
        .iter()
        .all(|c| node.label(&c.topology_key).is_some())
}

/// How [`contribution`] counts a constraint over `kubernetes.io/hostname`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostnameDomains {
    /// As any other topology key: per value of the node's label, within the node inclusion
    /// policies (PreFilter's counts for hard constraints).
    ByLabel,
    /// Per node, by the node's name and whatever the inclusion policies say: Kubernetes'
    /// Score counts the matching pods of the scored node itself for a hostname constraint.
    PerNode,
}

/// What a node contributes to the counts of `constraints` for `pod`: per constraint whose
/// domain the node is in (and that its inclusion policies accept), the matching pods.
fn contribution(
    node: &NodeInfo,
    pod: &PodInfo,
    constraints: &[Constraint],
    require_all_keys: bool,
    hostname: HostnameDomains,
) -> Contribution {
    if require_all_keys && !has_all_keys(node, constraints) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, c) in constraints.iter().enumerate() {
        let Some((key, value)) = node.label_shared(&c.topology_key) else {
            continue;
        };
        let per_node = hostname == HostnameDomains::PerNode && c.topology_key == HOSTNAME;
        if !per_node && !c.includes_node(pod, node) {
            continue;
        }
        let value = if per_node { node.name_shared() } else { value };
        out.push((
            i,
            key.clone(),
            value.clone(),
            count_matching(node, &c.selector, pod.namespace()),
        ));
    }
    out
}

/// Everything besides the node that [`contribution`] depends on.
fn counting_key(
    purpose: &str,
    pod: &PodInfo,
    constraints: &[Constraint],
    require_all_keys: bool,
) -> String {
    use std::fmt::Write as _;
    let mut key = format!("{purpose}|{}|{require_all_keys}", pod.namespace());
    for c in constraints {
        let _ = write!(
            key,
            "|{}|{}|{}|{}",
            c.topology_key, c.selector, c.honor_node_affinity, c.honor_node_taints
        );
    }
    let spec = pod.pod.spec.as_ref();
    if constraints.iter().any(|c| c.honor_node_affinity) && !pod.required_node_affinity.is_empty() {
        let _ = write!(
            key,
            "|{:?}|{:?}",
            spec.and_then(|s| s.node_selector.as_ref()),
            spec.and_then(|s| s.affinity.as_ref())
                .and_then(|a| a.node_affinity.as_ref())
        );
    }
    if constraints.iter().any(|c| c.honor_node_taints) {
        let _ = write!(key, "|{:?}", pod.tolerations());
    }
    key
}

/// The selector of the workloads that select `pod` (Kubernetes' `DefaultSelector`).
fn default_selector(pod: &PodInfo, objects: &ClusterObjects) -> LabelSelector {
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for service in &objects.services {
        if service.metadata.namespace.as_deref().unwrap_or("default") != pod.namespace() {
            continue;
        }
        let Some(selector) = service.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
            continue;
        };
        if selector.is_empty() {
            continue;
        }
        if selector.iter().all(|(k, v)| pod.labels().get(k) == Some(v)) {
            labels.extend(selector.clone());
        }
    }
    let mut requirements: Vec<Requirement> = labels
        .iter()
        .filter_map(|(k, v)| Requirement::new(k.as_str(), Operator::Equals, [v.as_str()]).ok())
        .collect();
    let owner = pod
        .pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    if let Some(owner) = owner {
        let same = |ns: Option<&String>, name: Option<&String>| {
            ns.map(String::as_str).unwrap_or("default") == pod.namespace()
                && name == Some(&owner.name)
        };
        match (owner.api_version.as_str(), owner.kind.as_str()) {
            ("v1", "ReplicationController") => {
                if let Some(rc) = objects
                    .replication_controllers
                    .iter()
                    .find(|rc| same(rc.metadata.namespace.as_ref(), rc.metadata.name.as_ref()))
                {
                    if let Some(sel) = rc.spec.as_ref().and_then(|s| s.selector.as_ref()) {
                        labels.extend(sel.clone());
                        requirements = labels
                            .iter()
                            .filter_map(|(k, v)| {
                                Requirement::new(k.as_str(), Operator::Equals, [v.as_str()]).ok()
                            })
                            .collect();
                    }
                }
            }
            ("apps/v1", "ReplicaSet") => {
                if let Some(rs) = objects
                    .replica_sets
                    .iter()
                    .find(|rs| same(rs.metadata.namespace.as_ref(), rs.metadata.name.as_ref()))
                {
                    if let Some(spec) = rs.spec.as_ref() {
                        if let Ok(sel) = LabelSelector::try_from(&spec.selector) {
                            requirements.extend(sel.requirements().iter().cloned());
                        }
                    }
                }
            }
            ("apps/v1", "StatefulSet") => {
                if let Some(ss) = objects
                    .stateful_sets
                    .iter()
                    .find(|ss| same(ss.metadata.namespace.as_ref(), ss.metadata.name.as_ref()))
                {
                    if let Some(spec) = ss.spec.as_ref() {
                        if let Ok(sel) = LabelSelector::try_from(&spec.selector) {
                            requirements.extend(sel.requirements().iter().cloned());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    LabelSelector::new(requirements)
}

impl PodTopologySpread {
    /// The constraints of `pod` with the given `whenUnsatisfiable`, or the cluster defaults when
    /// the pod has none.
    fn constraints(
        &self,
        pod: &PodInfo,
        when_unsatisfiable: &str,
        objects: &ClusterObjects,
    ) -> Result<Vec<Constraint>, String> {
        let own = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.topology_spread_constraints.as_deref())
            .unwrap_or_default();
        if !own.is_empty() {
            return own
                .iter()
                .filter(|c| c.when_unsatisfiable == when_unsatisfiable)
                .map(|c| compile(c, Some(pod)))
                .collect();
        }
        let defaults: Vec<&TopologySpreadConstraint> = self
            .default_constraints
            .iter()
            .filter(|c| c.when_unsatisfiable == when_unsatisfiable)
            .collect();
        if defaults.is_empty() {
            return Ok(Vec::new());
        }
        let selector = default_selector(pod, objects);
        if selector.is_everything() {
            return Ok(Vec::new());
        }
        Ok(defaults
            .into_iter()
            .map(|c| Constraint {
                max_skew: i64::from(c.max_skew),
                topology_key: c.topology_key.clone(),
                selector: selector.clone(),
                min_domains: c.min_domains.map_or(1, |m| m.max(1) as usize),
                honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
            })
            .collect())
    }
}

/// Compiles a constraint; `pod` supplies the values of `matchLabelKeys`.
fn compile(c: &TopologySpreadConstraint, pod: Option<&PodInfo>) -> Result<Constraint, String> {
    let mut selector =
        LabelSelector::try_from(c.label_selector.as_ref()).map_err(|e| e.to_string())?;
    if let (Some(keys), Some(pod)) = (c.match_label_keys.as_ref(), pod) {
        for key in keys {
            if let Some(value) = pod.labels().get(key) {
                let requirement = Requirement::new(key.as_str(), Operator::In, [value.as_str()])
                    .map_err(|e| e.to_string())?;
                selector = selector.with_requirement(requirement);
            }
        }
    }
    Ok(Constraint {
        max_skew: i64::from(c.max_skew),
        topology_key: c.topology_key.clone(),
        selector,
        min_domains: c.min_domains.map_or(1, |m| m.max(1) as usize),
        honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
        honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
    })
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &str {
        NAME
    }
}

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (PreFilterResult, Status) {
        let constraints = match self.constraints(pod, "DoNotSchedule", snapshot.objects()) {
            Ok(c) => c,
            Err(e) => {
                return (
                    PreFilterResult::all_nodes(),
                    Status::error(format!(
                        "obtaining pod's hard topology spread constraints: {e}"
                    )),
                );
            }
        };
        if constraints.is_empty() {
            return (PreFilterResult::all_nodes(), Status::skip());
        }
        let key = counting_key("filter", pod, &constraints, true);
        let totals = self
            .contributions
            .counts(&key, constraints.len(), snapshot, |node| {
                contribution(node, pod, &constraints, true, HostnameDomains::ByLabel)
            });
        let mut s = PreFilterState {
            min: vec![0; constraints.len()],
            constraints: Arc::new(constraints),
            counts: totals,
        };
        for i in 0..s.constraints.len() {
            s.recompute_min(i);
        }
        state.write(s);
        (PreFilterResult::all_nodes(), Status::success())
    }

    fn has_extensions(&self) -> bool {
        true
    }

    fn add_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        added: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status {
        update_with_pod(state, pod, added, node, 1);
        Status::success()
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        removed: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status {
        update_with_pod(state, pod, removed, node, -1);
        Status::success()
    }
}

fn update_with_pod(
    state: &mut CycleState,
    pod: &PodInfo,
    updated: &PodInfo,
    node: &NodeInfo,
    delta: i64,
) {
    let Some(s) = state.get_mut::<PreFilterState>() else {
        return;
    };
    if updated.namespace() != pod.namespace() || !has_all_keys(node, &s.constraints) {
        return;
    }
    let constraints = s.constraints.clone();
    for (i, c) in constraints.iter().enumerate() {
        if !c.selector.matches(updated.labels()) || !c.includes_node(pod, node) {
            continue;
        }
        let Some(value) = node.label(&c.topology_key) else {
            continue;
        };
        Arc::make_mut(&mut s.counts[i]).adjust(&c.topology_key, value, delta);
        s.recompute_min(i);
    }
}

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>() else {
            return Status::error("PodTopologySpread PreFilter state missing");
        };
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = node.label(&c.topology_key) else {
                return Status::unresolvable(REASON_NODE_LABEL_NOT_MATCH);
            };
            let self_match = i64::from(c.selector.matches(pod.labels()));
            let matching = s.counts[i].get(&c.topology_key, value).unwrap_or(0);
            if matching + self_match - s.min_match(i) > c.max_skew {
                return Status::unschedulable(REASON_CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }
}

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        if snapshot.is_empty() {
            return Status::skip();
        }
        let has_own = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.topology_spread_constraints.as_ref())
            .is_some_and(|c| !c.is_empty());
        let constraints = match self.constraints(pod, "ScheduleAnyway", snapshot.objects()) {
            Ok(c) => c,
            Err(e) => {
                return Status::error(format!(
                    "obtaining pod's soft topology spread constraints: {e}"
                ));
            }
        };
        if constraints.is_empty() {
            return Status::skip();
        }
        let require_all = has_own || !self.system_defaulted;
        let mut ignored = HashSet::new();
        let mut known: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
        for node in nodes {
            if require_all && !has_all_keys(node, &constraints) {
                ignored.insert(node.name().to_owned());
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if c.topology_key == HOSTNAME {
                    continue;
                }
                let value = node.label(&c.topology_key).unwrap_or_default();
                // Most nodes share their domain with another: allocate only a new one.
                if !known[i].contains_key(value) {
                    known[i].insert(value.to_owned(), 0);
                }
            }
        }
        let weights: Vec<f64> = constraints
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let size = if c.topology_key == HOSTNAME {
                    nodes.len() - ignored.len()
                } else {
                    known[i].len()
                };
                ((size + 2) as f64).ln()
            })
            .collect();
        let key = counting_key("score", pod, &constraints, require_all);
        let totals = self
            .contributions
            .counts(&key, constraints.len(), snapshot, |node| {
                contribution(
                    node,
                    pod,
                    &constraints,
                    require_all,
                    HostnameDomains::PerNode,
                )
            });
        for ((into, total), c) in known.iter_mut().zip(&totals).zip(&constraints) {
            for (value, count) in into.iter_mut() {
                *count = total.get(&c.topology_key, value).unwrap_or(0);
            }
        }
        state.write(PreScoreState {
            constraints: Arc::new(constraints),
            ignored_nodes: Arc::new(ignored),
            counts: Arc::new(known),
            per_node: totals,
            weights: Arc::new(weights),
        });
        Status::success()
    }
}

/// `matching pods × domain weight + maxSkew − 1`.
fn score_for_count(count: i64, max_skew: i64, weight: f64) -> f64 {
    count as f64 * weight + (max_skew - 1) as f64
}

impl ScorePlugin for PodTopologySpread {
    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(s) = state.read::<PreScoreState>() else {
            return Err(Status::error("PodTopologySpread PreScore state missing"));
        };
        if s.ignored_nodes.contains(node.name()) {
            return Ok(0);
        }
        let mut score = 0.0;
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = node.label(&c.topology_key) else {
                continue;
            };
            let count = if c.topology_key == HOSTNAME {
                s.per_node[i].get(HOSTNAME, node.name()).unwrap_or(0)
            } else {
                s.counts[i].get(value).copied().unwrap_or(0)
            };
            score += score_for_count(count, c.max_skew, s.weights[i]);
        }
        Ok(score.round() as i64)
    }

    fn normalize_score(
        &self,
        state: &CycleState,
        _: &PodInfo,
        nodes: &[&NodeInfo],
        scores: &mut [i64],
    ) -> Status {
        let Some(s) = state.read::<PreScoreState>() else {
            return Status::success();
        };
        let mut min = i64::MAX;
        let mut max = 0;
        for (node, score) in nodes.iter().zip(scores.iter()) {
            if s.ignored_nodes.contains(node.name()) {
                continue;
            }
            min = min.min(*score);
            max = max.max(*score);
        }
        for (node, score) in nodes.iter().zip(scores.iter_mut()) {
            if s.ignored_nodes.contains(node.name()) {
                *score = 0;
            } else if max == 0 {
                *score = MAX_NODE_SCORE;
            } else {
                *score = MAX_NODE_SCORE * (max + min - *score) / max;
            }
        }
        Status::success()
    }
}

impl EnqueueExtensions for PodTopologySpread {
    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![
            ClusterEventWithHint::new(
                EventResource::Pod,
                ActionType::ADD | ActionType::UPDATE_POD_LABEL | ActionType::DELETE,
            ),
            ClusterEventWithHint::new(
                EventResource::Node,
                ActionType::ADD
                    | ActionType::DELETE
                    | ActionType::UPDATE_NODE_LABEL
                    | ActionType::UPDATE_NODE_TAINT,
            ),
        ]
    }
}

/// Kubernetes' system default constraints.
fn system_default_constraints() -> Vec<TopologySpreadConstraint> {
    [(HOSTNAME, 3), (ZONE, 5)]
        .into_iter()
        .map(|(key, skew)| TopologySpreadConstraint {
            max_skew: skew,
            topology_key: key.to_owned(),
            when_unsatisfiable: "ScheduleAnyway".to_owned(),
            ..TopologySpreadConstraint::default()
        })
        .collect()
}

/// The factory.
pub fn factory(args: &PluginArgs<'_>, _: &Arc<Handle>) -> Result<PluginInstance, ConfigError> {
    let decoded: PodTopologySpreadArgs = args.decode()?;
    let mut errors = Vec::new();
    let defaulting = decoded.defaulting_type.as_deref().unwrap_or("System");
    let system_defaulted = match defaulting {
        "System" => {
            if !decoded.default_constraints.is_empty() {
                errors.push(FieldError::invalid(
                    args.path.child("defaultConstraints"),
                    "<constraints>",
                    "when .defaultingType is \"System\", .defaultConstraints must be empty",
                ));
            }
            true
        }
        "List" => false,
        other => {
            errors.push(FieldError::not_supported(
                args.path.child("defaultingType"),
                other,
                &["System", "List"],
            ));
            false
        }
    };
    for (i, c) in decoded.default_constraints.iter().enumerate() {
        let at = args.path.child("defaultConstraints").index(i);
        if c.max_skew <= 0 {
            errors.push(FieldError::invalid(
                at.child("maxSkew"),
                c.max_skew,
                "must be greater than zero",
            ));
        }
        if c.topology_key.is_empty() {
            errors.push(FieldError::required(
                at.child("topologyKey"),
                "can not be empty",
            ));
        }
        if !matches!(
            c.when_unsatisfiable.as_str(),
            "DoNotSchedule" | "ScheduleAnyway"
        ) {
            errors.push(FieldError::not_supported(
                at.child("whenUnsatisfiable"),
                c.when_unsatisfiable.as_str(),
                &["DoNotSchedule", "ScheduleAnyway"],
            ));
        }
        if c.label_selector.is_some() {
            errors.push(FieldError::forbidden(
                at.child("labelSelector"),
                "constraint must not define a selector, as they deduced for each pod",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ConfigError::fields(errors));
    }
    let plugin = PodTopologySpread {
        default_constraints: if system_defaulted {
            system_default_constraints()
        } else {
            decoded.default_constraints
        },
        system_defaulted,
        contributions: ContributionCache::new(COUNTS_KEPT),
    };
    Ok(PluginInstance::builder(Arc::new(plugin))
        .pre_filter()
        .filter()
        .pre_score()
        .score()
        .enqueue_extensions()
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::{node_object_labeled, pod_with};
    use serde_json::{Value, json};

    fn plugin() -> PodTopologySpread {
        PodTopologySpread {
            default_constraints: system_default_constraints(),
            system_defaulted: true,
            contributions: ContributionCache::new(4),
        }
    }

    fn foo_pod() -> PodInfo {
        pod_with(json!({"labels": {"foo": ""}}), json!({}))
    }

    fn spreading(when: &str, max_skew: i32, key: &str, extra: Value) -> PodInfo {
        let mut constraint = json!({"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
            "labelSelector": {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}});
        if let (Some(c), Some(e)) = (constraint.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                c.insert(k.clone(), v.clone());
            }
        }
        pod_with(
            json!({"labels": {"foo": ""}}),
            json!({"topologySpreadConstraints": [constraint]}),
        )
    }

    fn snapshot(nodes: Vec<(&str, Value, usize)>) -> Snapshot {
        let infos = nodes.into_iter().map(|(name, labels, pods)| {
            let mut info = NodeInfo::new(node_object_labeled(name, labels, json!({}), json!({})));
            for _ in 0..pods {
                info.add_pod(Arc::new(foo_pod()));
            }
            info
        });
        Snapshot::from_node_infos(infos, ClusterObjects::new())
    }

    fn zones() -> Snapshot {
        // Kubernetes' filtering_test "two constraints on zone and node, spreads = [3/3, 2/1/0/3]"
        // shape: zone1 = node-a (2 pods), node-b (1); zone2 = node-x (0), node-y (3).
        snapshot(vec![
            ("node-a", json!({"zone": "zone1", "node": "node-a"}), 2),
            ("node-b", json!({"zone": "zone1", "node": "node-b"}), 1),
            ("node-x", json!({"zone": "zone2", "node": "node-x"}), 0),
            ("node-y", json!({"zone": "zone2", "node": "node-y"}), 3),
        ])
    }

    fn filter_all(p: &PodInfo, snap: &Snapshot) -> Vec<Status> {
        let pl = plugin();
        let mut state = CycleState::new();
        let (_, status) = pl.pre_filter(&mut state, p, snap);
        assert!(status.is_success(), "{status:?}");
        snap.nodes()
            .iter()
            .map(|n| pl.filter(&state, p, n))
            .collect()
    }

    #[test]
    fn hard_zone_spread_with_max_skew_one() {
        // zone1 has 3, zone2 has 3: adding one anywhere gives skew 1 — all fit.
        let results = filter_all(&spreading("DoNotSchedule", 1, "zone", json!({})), &zones());
        assert!(results.iter().all(Status::is_success));
        // Per node, max skew 1: counts 2/1/0/3 → only node-x (0+1−0 = 1) fits; node-b 1+1−0 = 2.
        let results = filter_all(&spreading("DoNotSchedule", 1, "node", json!({})), &zones());
        let ok: Vec<bool> = results.iter().map(Status::is_success).collect();
        assert_eq!(ok, [false, false, true, false]);
        assert_eq!(results[0].message(), REASON_CONSTRAINTS_NOT_MATCH);
        assert_eq!(results[0].code(), Code::Unschedulable);
    }

    #[test]
    fn missing_label_is_unresolvable() {
        let snap = snapshot(vec![("a", json!({"zone": "z1"}), 0), ("b", json!({}), 0)]);
        let results = filter_all(&spreading("DoNotSchedule", 1, "zone", json!({})), &snap);
        assert!(results[0].is_success());
        assert_eq!(results[1].message(), REASON_NODE_LABEL_NOT_MATCH);
        assert_eq!(results[1].code(), Code::UnschedulableAndUnresolvable);
    }

    #[test]
    fn min_domains_treats_the_global_minimum_as_zero() {
        // Two zones with 1 matching pod each; minDomains 3 means the minimum counts as 0, so
        // with maxSkew 1 no node fits (1 + 1 − 0 = 2).
        let snap = snapshot(vec![
            ("a", json!({"zone": "z1"}), 1),
            ("b", json!({"zone": "z2"}), 1),
        ]);
        let results = filter_all(
            &spreading("DoNotSchedule", 1, "zone", json!({"minDomains": 3})),
            &snap,
        );
        assert!(results.iter().all(|s| !s.is_success()));
        let results = filter_all(
            &spreading("DoNotSchedule", 1, "zone", json!({"minDomains": 2})),
            &snap,
        );
        assert!(results.iter().all(Status::is_success));
    }

    #[test]
    fn node_affinity_policy_honor_ignores_domains_the_pod_cannot_use() {
        // zone z2 has 0 pods but the pod cannot go there: with Honor the minimum is z1's count.
        let snap = snapshot(vec![
            ("a", json!({"zone": "z1", "ok": "y"}), 2),
            ("b", json!({"zone": "z2"}), 0),
        ]);
        let mut p = spreading("DoNotSchedule", 1, "zone", json!({}));
        let mut pod = (*p.pod).clone();
        if let Some(spec) = pod.spec.as_mut() {
            spec.node_selector = Some([("ok".to_owned(), "y".to_owned())].into());
        }
        p = PodInfo::new(pod);
        let results = filter_all(&p, &snap);
        assert!(results[0].is_success(), "{:?}", results[0]);
        let mut ignore = spreading(
            "DoNotSchedule",
            1,
            "zone",
            json!({"nodeAffinityPolicy": "Ignore"}),
        );
        let mut pod = (*ignore.pod).clone();
        if let Some(spec) = pod.spec.as_mut() {
            spec.node_selector = Some([("ok".to_owned(), "y".to_owned())].into());
        }
        ignore = PodInfo::new(pod);
        let results = filter_all(&ignore, &snap);
        assert!(!results[0].is_success());
    }

    #[test]
    fn soft_spread_scores_match_kubernetes() {
        // Kubernetes' scoring_test "one constraint on node, all 4 nodes are candidates":
        // 2/1/0/3 matching pods per node, maxSkew 1 → 10, 20, 30... normalized: the empty node
        // scores 100.
        let snap = zones();
        let p = spreading("ScheduleAnyway", 1, "node", json!({}));
        let pl = plugin();
        let mut state = CycleState::new();
        assert!(
            pl.pre_score(
                &mut state,
                &p,
                &snap.nodes().iter().collect::<Vec<_>>(),
                &snap
            )
            .is_success()
        );
        let mut scores: Vec<i64> = snap
            .nodes()
            .iter()
            .map(|n| pl.score(&state, &p, n).expect("score"))
            .collect();
        pl.normalize_score(
            &state,
            &p,
            &snap.nodes().iter().collect::<Vec<_>>(),
            &mut scores,
        );
        // Raw: count × ln(4 + 2) rounded: 2 → 4, 1 → 2, 0 → 0, 3 → 5; normalized
        // 100 × (5 + 0 − s) / 5.
        assert_eq!(scores, [20, 60, 100, 0]);
    }

    #[test]
    fn hostname_spread_scores_count_the_pods_of_each_node() {
        // As Kubernetes' Score: for kubernetes.io/hostname the count is the node's own pods,
        // even when two nodes carry the same hostname label value. Per-node counts 3/0/1.
        let snap = snapshot(vec![
            ("a", json!({HOSTNAME: "shared"}), 3),
            ("b", json!({HOSTNAME: "shared"}), 0),
            ("c", json!({HOSTNAME: "c"}), 1),
        ]);
        let p = spreading("ScheduleAnyway", 1, HOSTNAME, json!({}));
        let pl = plugin();
        let nodes: Vec<&NodeInfo> = snap.nodes().iter().collect();
        let mut state = CycleState::new();
        assert!(pl.pre_score(&mut state, &p, &nodes, &snap).is_success());
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| pl.score(&state, &p, n).expect("score"))
            .collect();
        // Raw: count × ln(3 + 2) rounded: 3 → 5, 0 → 0, 1 → 2.
        assert_eq!(scores, [5, 0, 2]);
        pl.normalize_score(&state, &p, &nodes, &mut scores);
        assert_eq!(scores, [0, 100, 60]);
    }
}
