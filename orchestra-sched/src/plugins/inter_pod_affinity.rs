//! InterPodAffinity: pod affinity and anti-affinity over topology domains.
//!
//! Filter, as Kubernetes v1.33 decides it, in this order:
//!
//! 1. every required affinity term of the pod must have a matching pod in the node's domain
//!    (`node(s) didn't match pod affinity rules`, unresolvable) — except that the first pod of
//!    a group that matches its own terms may go anywhere with the topology labels when no pod
//!    in the cluster matches;
//! 2. no pod matching a required anti-affinity term of the pod may be in the node's domain
//!    (`node(s) didn't match pod anti-affinity rules`);
//! 3. no existing pod whose required anti-affinity matches the pod may be in the node's domain
//!    (`node(s) didn't satisfy existing pods anti-affinity rules`).
//!
//! Score adds, per topology domain, the weights of the pod's preferred terms matched by pods
//! there (negative for anti-affinity), existing pods' preferred terms matching the pod, and
//! existing pods' required affinity terms matching the pod (`hardPodAffinityWeight`), then
//! normalizes between the lowest and highest node.
//!
//! Terms with a namespace selector are resolved against the cluster's namespaces once per
//! cycle.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::ConfigError;
use crate::config::args::{InterPodAffinityArgs, PluginArgs};
use crate::framework::{
    ActionType, ClusterEventWithHint, CycleState, EnqueueExtensions, EventResource, FilterPlugin,
    Handle, MAX_NODE_SCORE, Plugin, PluginInstance, PreFilterPlugin, PreFilterResult,
    PreScorePlugin, ScorePlugin, Status,
};
use crate::node_info::NodeInfo;
use crate::plugins::node_contributions::{ContributionCache, SlotTotals};
use crate::plugins::topology_counts::TopologyCounts;
use crate::pod_info::{AffinityTerm, PodInfo, WeightedAffinityTerm};
use crate::snapshot::Snapshot;
use orchestra_api::validation::FieldError;

/// The plugin's name.
pub const NAME: &str = "InterPodAffinity";
/// Rejection: required affinity not satisfied.
pub const REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// Rejection: the pod's required anti-affinity not satisfied.
pub const REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
/// Rejection: an existing pod's required anti-affinity not satisfied.
pub const REASON_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

/// Pod affinity and anti-affinity.
pub struct InterPodAffinity {
    hard_pod_affinity_weight: i64,
    ignore_preferred_terms_of_existing_pods: bool,
    contributions: ContributionCache,
}

impl std::fmt::Debug for InterPodAffinity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterPodAffinity")
            .field("hard_pod_affinity_weight", &self.hard_pod_affinity_weight)
            .finish()
    }
}

#[derive(Clone)]
struct PreFilterState {
    existing_anti_affinity: Arc<SlotTotals>,
    affinity: Arc<SlotTotals>,
    anti_affinity: Arc<SlotTotals>,
    /// Whether `affinity` and `anti_affinity` have any positive count (asked per node).
    any_affinity: bool,
    any_anti_affinity: bool,
    required_affinity: Arc<Vec<AffinityTerm>>,
    required_anti_affinity: Arc<Vec<AffinityTerm>>,
    namespace_labels: Arc<BTreeMap<String, String>>,
}

#[derive(Clone)]
struct PreScoreState {
    topology_score: Arc<TopologyCounts>,
}

static EMPTY: BTreeMap<String, String> = BTreeMap::new();

fn merged(terms: &[AffinityTerm], snapshot: &Snapshot) -> Vec<AffinityTerm> {
    terms
        .iter()
        .map(|t| {
            let mut t = t.clone();
            t.merge_namespaces(
                snapshot
                    .objects()
                    .namespaces
                    .iter()
                    .map(|(n, l)| (n.as_str(), l)),
            );
            t
        })
        .collect()
}

fn merged_weighted(
    terms: &[WeightedAffinityTerm],
    snapshot: &Snapshot,
) -> Vec<WeightedAffinityTerm> {
    terms
        .iter()
        .map(|w| WeightedAffinityTerm {
            term: merged(std::slice::from_ref(&w.term), snapshot).remove(0),
            weight: w.weight,
        })
        .collect()
}

/// Whether `pod` matches every term (false for no terms).
fn matches_all(terms: &[AffinityTerm], pod: &PodInfo) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches_pod(pod, &EMPTY))
}

impl PreFilterState {
    /// Counts `existing` (on `node`) in or out, with `delta` ±1.
    fn update_with_pod(
        &mut self,
        incoming: &PodInfo,
        existing: &PodInfo,
        node: &NodeInfo,
        delta: i64,
    ) {
        for term in &existing.required_anti_affinity_terms {
            if term.matches_pod(incoming, &self.namespace_labels) {
                if let Some(value) = node.label(&term.topology_key) {
                    Arc::make_mut(&mut self.existing_anti_affinity).adjust(
                        &term.topology_key,
                        value,
                        delta,
                    );
                }
            }
        }
        if matches_all(&self.required_affinity, existing) {
            for term in self.required_affinity.iter() {
                if let Some(value) = node.label(&term.topology_key) {
                    Arc::make_mut(&mut self.affinity).adjust(&term.topology_key, value, delta);
                }
            }
        }
        for term in self.required_anti_affinity.iter() {
            if term.matches_pod(existing, &EMPTY) {
                if let Some(value) = node.label(&term.topology_key) {
                    Arc::make_mut(&mut self.anti_affinity).adjust(&term.topology_key, value, delta);
                }
            }
        }
        self.any_affinity = self.affinity.any_positive();
        self.any_anti_affinity = self.anti_affinity.any_positive();
    }
}

/// What the counting of `terms` depends on.
fn terms_key(terms: &[AffinityTerm]) -> String {
    use std::fmt::Write as _;
    let mut key = String::new();
    for t in terms {
        let _ = write!(
            key,
            "[{:?}|{}|{}|{}]",
            t.namespaces, t.selector, t.namespace_selector, t.topology_key
        );
    }
    key
}

impl Plugin for InterPodAffinity {
    fn name(&self) -> &str {
        NAME
    }
}

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (PreFilterResult, Status) {
        if let Some(error) = &pod.parse_error {
            return (
                PreFilterResult::all_nodes(),
                Status::error(format!("parsing pod: {error}")),
            );
        }
        let namespace_labels =
            Arc::new(snapshot.objects().namespace_labels(pod.namespace()).clone());
        let existing_anti_affinity = if snapshot
            .nodes_with_pods_with_required_anti_affinity()
            .next()
            .is_none()
        {
            Arc::new(SlotTotals::default())
        } else {
            let key = format!(
                "existing|{}|{:?}|{:?}",
                pod.namespace(),
                pod.labels(),
                namespace_labels
            );
            let totals = self.contributions.counts(&key, 1, snapshot, |node| {
                let mut out = Vec::new();
                for existing in node.pods_with_required_anti_affinity() {
                    for term in &existing.required_anti_affinity_terms {
                        if term.matches_pod(pod, &namespace_labels) {
                            if let Some((key, value)) = node.label_shared(&term.topology_key) {
                                out.push((0, key.clone(), value.clone(), 1));
                            }
                        }
                    }
                }
                out
            });
            totals[0].clone()
        };
        let required_affinity = merged(&pod.required_affinity_terms, snapshot);
        let required_anti_affinity = merged(&pod.required_anti_affinity_terms, snapshot);
        if !existing_anti_affinity.any_positive()
            && required_affinity.is_empty()
            && required_anti_affinity.is_empty()
        {
            return (PreFilterResult::all_nodes(), Status::skip());
        }
        let (affinity, anti_affinity) =
            if required_affinity.is_empty() && required_anti_affinity.is_empty() {
                (
                    Arc::new(SlotTotals::default()),
                    Arc::new(SlotTotals::default()),
                )
            } else {
                let key = format!(
                    "incoming|{}|{}",
                    terms_key(&required_affinity),
                    terms_key(&required_anti_affinity)
                );
                let totals = self.contributions.counts(&key, 2, snapshot, |node| {
                    let mut out = Vec::new();
                    for existing in node.pods() {
                        if matches_all(&required_affinity, existing) {
                            for term in &required_affinity {
                                if let Some((key, value)) = node.label_shared(&term.topology_key) {
                                    out.push((0, key.clone(), value.clone(), 1));
                                }
                            }
                        }
                        for term in &required_anti_affinity {
                            if term.matches_pod(existing, &EMPTY) {
                                if let Some((key, value)) = node.label_shared(&term.topology_key) {
                                    out.push((1, key.clone(), value.clone(), 1));
                                }
                            }
                        }
                    }
                    out
                });
                (totals[0].clone(), totals[1].clone())
            };
        state.write(PreFilterState {
            existing_anti_affinity,
            any_affinity: affinity.any_positive(),
            any_anti_affinity: anti_affinity.any_positive(),
            affinity,
            anti_affinity,
            required_affinity: Arc::new(required_affinity),
            required_anti_affinity: Arc::new(required_anti_affinity),
            namespace_labels,
        });
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
        if let Some(s) = state.get_mut::<PreFilterState>() {
            s.update_with_pod(pod, added, node, 1);
        }
        Status::success()
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        removed: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status {
        if let Some(s) = state.get_mut::<PreFilterState>() {
            s.update_with_pod(pod, removed, node, -1);
        }
        Status::success()
    }
}

fn satisfies_pod_affinity(s: &PreFilterState, pod: &PodInfo, node: &NodeInfo) -> bool {
    let mut pods_exist = true;
    for term in s.required_affinity.iter() {
        match node.label(&term.topology_key) {
            Some(value) => {
                if s.affinity.get(&term.topology_key, value).unwrap_or(0) <= 0 {
                    pods_exist = false;
                }
            }
            None => return false,
        }
    }
    if !pods_exist {
        // The first pod of a group with affinity to itself may go anywhere with the labels.
        return !s.any_affinity && matches_all(&s.required_affinity, pod);
    }
    true
}

fn satisfies_pod_anti_affinity(s: &PreFilterState, node: &NodeInfo) -> bool {
    if !s.any_anti_affinity {
        return true;
    }
    !s.required_anti_affinity.iter().any(|term| {
        node.label(&term.topology_key)
            .is_some_and(|value| s.anti_affinity.get(&term.topology_key, value).unwrap_or(0) > 0)
    })
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>() else {
            return Status::error("InterPodAffinity PreFilter state missing");
        };
        if !satisfies_pod_affinity(s, pod, node) {
            return Status::unresolvable(REASON_AFFINITY);
        }
        if !satisfies_pod_anti_affinity(s, node) {
            return Status::unschedulable(REASON_ANTI_AFFINITY);
        }
        if s.existing_anti_affinity.any_positive_for_node(node) {
            return Status::unschedulable(REASON_EXISTING_ANTI_AFFINITY);
        }
        Status::success()
    }
}

fn process_terms(
    scores: &mut TopologyCounts,
    terms: &[WeightedAffinityTerm],
    pod: &PodInfo,
    namespace_labels: &BTreeMap<String, String>,
    node_labels: &BTreeMap<String, String>,
    multiplier: i64,
) {
    for weighted in terms {
        process_term(
            scores,
            &weighted.term,
            weighted.weight,
            pod,
            namespace_labels,
            node_labels,
            multiplier,
        );
    }
}

fn process_term(
    scores: &mut TopologyCounts,
    term: &AffinityTerm,
    weight: i64,
    pod: &PodInfo,
    namespace_labels: &BTreeMap<String, String>,
    node_labels: &BTreeMap<String, String>,
    multiplier: i64,
) {
    if term.matches_pod(pod, namespace_labels) {
        if let Some(value) = node_labels.get(&term.topology_key) {
            scores.add(&term.topology_key, value, weight * multiplier);
        }
    }
}

impl PreScorePlugin for InterPodAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        if nodes.is_empty() {
            return Status::skip();
        }
        let has_constraints = !pod.preferred_affinity_terms.is_empty()
            || !pod.preferred_anti_affinity_terms.is_empty();
        if self.ignore_preferred_terms_of_existing_pods && !has_constraints {
            return Status::skip();
        }
        let preferred_affinity = merged_weighted(&pod.preferred_affinity_terms, snapshot);
        let preferred_anti_affinity = merged_weighted(&pod.preferred_anti_affinity_terms, snapshot);
        let namespace_labels = snapshot.objects().namespace_labels(pod.namespace());
        let process_node = |node: &NodeInfo| {
            let mut scores = TopologyCounts::default();
            let labels = node.labels();
            if labels.is_empty() {
                return scores;
            }
            let existing_pods = if has_constraints {
                node.pods()
            } else {
                node.pods_with_affinity()
            };
            for existing in existing_pods {
                process_terms(
                    &mut scores,
                    &preferred_affinity,
                    existing,
                    &EMPTY,
                    labels,
                    1,
                );
                process_terms(
                    &mut scores,
                    &preferred_anti_affinity,
                    existing,
                    &EMPTY,
                    labels,
                    -1,
                );
                if self.hard_pod_affinity_weight > 0 {
                    for term in &existing.required_affinity_terms {
                        process_term(
                            &mut scores,
                            term,
                            self.hard_pod_affinity_weight,
                            pod,
                            namespace_labels,
                            labels,
                            1,
                        );
                    }
                }
                process_terms(
                    &mut scores,
                    &existing.preferred_affinity_terms,
                    pod,
                    namespace_labels,
                    labels,
                    1,
                );
                process_terms(
                    &mut scores,
                    &existing.preferred_anti_affinity_terms,
                    pod,
                    namespace_labels,
                    labels,
                    -1,
                );
            }
            scores
        };
        let mut topology_score = TopologyCounts::default();
        if has_constraints {
            for node in snapshot.nodes() {
                topology_score.merge(process_node(node));
            }
        } else {
            for node in snapshot.nodes_with_pods_with_affinity() {
                if node.pods_with_scoring_terms() > 0 {
                    topology_score.merge(process_node(node));
                }
            }
        }
        if topology_score.is_empty() {
            return Status::skip();
        }
        state.write(PreScoreState {
            topology_score: Arc::new(topology_score),
        });
        Status::success()
    }
}

impl ScorePlugin for InterPodAffinity {
    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(s) = state.read::<PreScoreState>() else {
            return Err(Status::error("InterPodAffinity PreScore state missing"));
        };
        Ok(s.topology_score.sum_for_labels(node.labels()))
    }

    fn normalize_score(
        &self,
        state: &CycleState,
        _: &PodInfo,
        _: &[&NodeInfo],
        scores: &mut [i64],
    ) -> Status {
        if state.read::<PreScoreState>().is_none() {
            return Status::success();
        }
        let (Some(min), Some(max)) = (scores.iter().min().copied(), scores.iter().max().copied())
        else {
            return Status::success();
        };
        let spread = max - min;
        for score in scores.iter_mut() {
            *score = if spread > 0 {
                (MAX_NODE_SCORE as f64 * ((*score - min) as f64 / spread as f64)) as i64
            } else {
                0
            };
        }
        Status::success()
    }
}

impl EnqueueExtensions for InterPodAffinity {
    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![
            ClusterEventWithHint::new(
                EventResource::Pod,
                ActionType::ADD | ActionType::UPDATE_POD_LABEL | ActionType::DELETE,
            ),
            ClusterEventWithHint::new(
                EventResource::Node,
                ActionType::ADD | ActionType::UPDATE_NODE_LABEL,
            ),
        ]
    }
}

/// The factory.
pub fn factory(args: &PluginArgs<'_>, _: &Arc<Handle>) -> Result<PluginInstance, ConfigError> {
    let decoded: InterPodAffinityArgs = args.decode()?;
    let weight = decoded.hard_pod_affinity_weight.unwrap_or(1);
    if !(0..=100).contains(&weight) {
        return Err(ConfigError::field(FieldError::invalid(
            args.path.child("hardPodAffinityWeight"),
            weight,
            "not in valid range [0, 100]",
        )));
    }
    let plugin = InterPodAffinity {
        hard_pod_affinity_weight: i64::from(weight),
        ignore_preferred_terms_of_existing_pods: decoded.ignore_preferred_terms_of_existing_pods,
        contributions: ContributionCache::new(16),
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
    use crate::cluster_objects::ClusterObjects;
    use crate::framework::Code;
    use crate::plugins::testing::{node_object_labeled, pod_with};
    use serde_json::{Value, json};

    fn plugin() -> InterPodAffinity {
        InterPodAffinity {
            hard_pod_affinity_weight: 1,
            ignore_preferred_terms_of_existing_pods: false,
            contributions: ContributionCache::new(4),
        }
    }

    fn labeled_pod(labels: Value, affinity: Value) -> PodInfo {
        pod_with(json!({"labels": labels}), json!({"affinity": affinity}))
    }

    fn snapshot(nodes: Vec<(&str, Value, Vec<PodInfo>)>) -> Snapshot {
        let infos = nodes.into_iter().map(|(name, labels, pods)| {
            let mut info = NodeInfo::new(node_object_labeled(name, labels, json!({}), json!({})));
            for p in pods {
                info.add_pod(Arc::new(p));
            }
            info
        });
        Snapshot::from_node_infos(infos, ClusterObjects::new())
    }

    fn filter(p: &PodInfo, snap: &Snapshot) -> Vec<(String, Status)> {
        let pl = plugin();
        let mut state = CycleState::new();
        let (_, status) = pl.pre_filter(&mut state, p, snap);
        snap.nodes()
            .iter()
            .map(|n| {
                let s = if status.is_skip() {
                    Status::success()
                } else {
                    pl.filter(&state, p, n)
                };
                (n.name().to_owned(), s)
            })
            .collect()
    }

    fn term(labels: Value, key: &str) -> Value {
        json!({"labelSelector": {"matchLabels": labels}, "topologyKey": key})
    }

    #[test]
    fn required_anti_affinity_keeps_pods_apart_per_zone() {
        let existing = labeled_pod(json!({"app": "db"}), json!({}));
        let snap = snapshot(vec![
            ("n1", json!({"zone": "a"}), vec![existing]),
            ("n2", json!({"zone": "a"}), vec![]),
            ("n3", json!({"zone": "b"}), vec![]),
        ]);
        let incoming = labeled_pod(
            json!({"app": "web"}),
            json!({"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term(json!({"app": "db"}), "zone")]}}),
        );
        let results = filter(&incoming, &snap);
        assert_eq!(results[0].1.message(), REASON_ANTI_AFFINITY);
        assert_eq!(results[1].1.message(), REASON_ANTI_AFFINITY);
        assert!(results[2].1.is_success());
    }

    #[test]
    fn existing_pods_anti_affinity_is_symmetric() {
        let existing = labeled_pod(
            json!({"app": "db"}),
            json!({"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term(json!({"app": "web"}), "kubernetes.io/hostname")]}}),
        );
        let snap = snapshot(vec![
            (
                "n1",
                json!({"kubernetes.io/hostname": "n1"}),
                vec![existing],
            ),
            ("n2", json!({"kubernetes.io/hostname": "n2"}), vec![]),
        ]);
        let incoming = labeled_pod(json!({"app": "web"}), json!({}));
        let results = filter(&incoming, &snap);
        assert_eq!(results[0].1.message(), REASON_EXISTING_ANTI_AFFINITY);
        assert_eq!(results[0].1.code(), Code::Unschedulable);
        assert!(results[1].1.is_success());
    }

    #[test]
    fn required_affinity_needs_a_matching_pod_except_for_the_first_of_a_group() {
        let affinity = json!({"podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term(json!({"app": "cache"}), "zone")]}});
        let snap = snapshot(vec![
            (
                "n1",
                json!({"zone": "a"}),
                vec![labeled_pod(json!({"app": "cache"}), json!({}))],
            ),
            ("n2", json!({"zone": "b"}), vec![]),
            ("n3", json!({}), vec![]),
        ]);
        let incoming = labeled_pod(json!({"app": "web"}), affinity.clone());
        let results = filter(&incoming, &snap);
        assert!(results[0].1.is_success());
        assert_eq!(results[1].1.message(), REASON_AFFINITY);
        assert_eq!(results[1].1.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(results[2].1.message(), REASON_AFFINITY);
        // No cache pod anywhere, and the pod matches its own term: any node with the label.
        let empty = snapshot(vec![
            ("n1", json!({"zone": "a"}), vec![]),
            ("n2", json!({}), vec![]),
        ]);
        let first = labeled_pod(json!({"app": "cache"}), affinity);
        let results = filter(&first, &empty);
        assert!(results[0].1.is_success());
        assert!(!results[1].1.is_success());
    }

    #[test]
    fn preferred_terms_score_by_domain() {
        // Affinity weight 5 to "security=S1" pods in the region, anti-affinity weight 3 to
        // "security=S2" pods per hostname.
        let incoming = labeled_pod(
            json!({"security": "S0"}),
            json!({
            "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 5, "podAffinityTerm": term(json!({"security": "S1"}), "region")}]},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 3, "podAffinityTerm": term(json!({"security": "S2"}), "kubernetes.io/hostname")}]}}),
        );
        let snap = snapshot(vec![
            (
                "m1",
                json!({"region": "China", "kubernetes.io/hostname": "m1"}),
                vec![labeled_pod(json!({"security": "S1"}), json!({}))],
            ),
            (
                "m2",
                json!({"region": "China", "kubernetes.io/hostname": "m2"}),
                vec![labeled_pod(json!({"security": "S2"}), json!({}))],
            ),
            (
                "m3",
                json!({"region": "India", "kubernetes.io/hostname": "m3"}),
                vec![],
            ),
        ]);
        let pl = plugin();
        let mut state = CycleState::new();
        assert!(
            pl.pre_score(
                &mut state,
                &incoming,
                &snap.nodes().iter().collect::<Vec<_>>(),
                &snap
            )
            .is_success()
        );
        let mut scores: Vec<i64> = snap
            .nodes()
            .iter()
            .map(|n| pl.score(&state, &incoming, n).expect("score"))
            .collect();
        // m1: +5 (China), m2: +5 −3, m3: 0.
        assert_eq!(scores, [5, 2, 0]);
        pl.normalize_score(
            &state,
            &incoming,
            &snap.nodes().iter().collect::<Vec<_>>(),
            &mut scores,
        );
        assert_eq!(scores, [100, 40, 0]);
    }
}
