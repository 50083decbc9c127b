//! NodeAffinity: a pod's `nodeSelector` and required node affinity must match the node's
//! labels (and name, for `matchFields`); preferred node affinity adds the weights of matching
//! terms to the node's score, normalized to 0–100. A profile can add affinity every pod must
//! satisfy (`addedAffinity`).
//!
//! PreFilter pre-selects nodes when every required term names nodes with
//! `matchFields: metadata.name In [...]`, so the scheduler evaluates only those.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::NodeAffinity as K8sNodeAffinity;

use crate::config::ConfigError;
use crate::config::args::{NodeAffinityArgs, PluginArgs};
use crate::framework::{
    ActionType, ClusterEventWithHint, CycleState, EnqueueExtensions, EventResource, FilterPlugin,
    Handle, MAX_NODE_SCORE, Plugin, PluginInstance, PreFilterPlugin, PreFilterResult,
    PreScorePlugin, ScorePlugin, Status,
};
use crate::node_info::NodeInfo;
use crate::node_selector::{CompiledNodeSelector, PreferredSchedulingTerms};
use crate::plugins::normalize_score::default_normalize_score;
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

/// The plugin's name.
pub const NAME: &str = "NodeAffinity";
/// The rejection reason for the pod's own constraints.
pub const REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";
/// The rejection reason for the profile's added affinity.
pub const REASON_ENFORCED: &str = "node(s) didn't match scheduler-enforced node affinity";
/// The PreFilter rejection when the terms name no node in common.
pub const REASON_CONFLICT: &str = "pod affinity terms conflict";

/// Node selector and node affinity.
#[derive(Debug, Default)]
pub struct NodeAffinity {
    added_required: Option<CompiledNodeSelector>,
    added_preferred: PreferredSchedulingTerms,
}

impl NodeAffinity {
    /// The plugin with a profile's added affinity.
    pub fn new(added: Option<&K8sNodeAffinity>) -> NodeAffinity {
        NodeAffinity {
            added_required: added
                .and_then(|a| {
                    a.required_during_scheduling_ignored_during_execution
                        .as_ref()
                })
                .map(CompiledNodeSelector::compile),
            added_preferred: added
                .and_then(|a| {
                    a.preferred_during_scheduling_ignored_during_execution
                        .as_deref()
                })
                .map(PreferredSchedulingTerms::compile)
                .unwrap_or_default(),
        }
    }
}

impl Plugin for NodeAffinity {
    fn name(&self) -> &str {
        NAME
    }
}

impl PreFilterPlugin for NodeAffinity {
    fn pre_filter(
        &self,
        _: &mut CycleState,
        pod: &PodInfo,
        _: &Snapshot,
    ) -> (PreFilterResult, Status) {
        if pod.required_node_affinity.is_empty() && self.added_required.is_none() {
            return (PreFilterResult::all_nodes(), Status::skip());
        }
        let Some(affinity) = pod.required_node_affinity.affinity() else {
            return (PreFilterResult::all_nodes(), Status::success());
        };
        if affinity.terms().is_empty() {
            return (PreFilterResult::all_nodes(), Status::success());
        }
        let mut names: BTreeSet<String> = BTreeSet::new();
        for term in affinity.terms() {
            // An invalid term matches nothing and names no node.
            let Some(term) = term else { continue };
            match term.required_node_names() {
                // A term without node names allows every node: the terms are ORed.
                None => return (PreFilterResult::all_nodes(), Status::success()),
                Some(term_names) => names.extend(term_names),
            }
        }
        if names.is_empty() {
            return (
                PreFilterResult::all_nodes(),
                Status::unresolvable(REASON_CONFLICT),
            );
        }
        (PreFilterResult::nodes(names), Status::success())
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if let Some(added) = &self.added_required {
            if !added.matches(node.name(), node.labels()) {
                return Status::unresolvable(REASON_ENFORCED);
            }
        }
        if pod
            .required_node_affinity
            .matches(node.name(), node.labels())
        {
            Status::success()
        } else {
            Status::unresolvable(REASON_POD)
        }
    }
}

impl PreScorePlugin for NodeAffinity {
    fn pre_score(
        &self,
        _: &mut CycleState,
        pod: &PodInfo,
        _: &[&NodeInfo],
        _: &Snapshot,
    ) -> Status {
        if pod.preferred_node_affinity.is_empty() && self.added_preferred.is_empty() {
            Status::skip()
        } else {
            Status::success()
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        Ok(self.added_preferred.score(node.name(), node.labels())
            + pod
                .preferred_node_affinity
                .score(node.name(), node.labels()))
    }

    fn normalize_score(
        &self,
        _: &CycleState,
        _: &PodInfo,
        _: &[&NodeInfo],
        scores: &mut [i64],
    ) -> Status {
        default_normalize_score(MAX_NODE_SCORE, false, scores);
        Status::success()
    }
}

impl EnqueueExtensions for NodeAffinity {
    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![ClusterEventWithHint::new(
            EventResource::Node,
            ActionType::ADD | ActionType::UPDATE_NODE_LABEL,
        )]
    }
}

/// The factory.
pub fn factory(args: &PluginArgs<'_>, _: &Arc<Handle>) -> Result<PluginInstance, ConfigError> {
    let args: NodeAffinityArgs = args.decode()?;
    Ok(
        PluginInstance::builder(Arc::new(NodeAffinity::new(args.added_affinity.as_ref())))
            .pre_filter()
            .filter()
            .pre_score()
            .score()
            .enqueue_extensions()
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::{node_object_labeled, pod};
    use serde_json::json;

    fn labeled(name: &str, labels: serde_json::Value) -> NodeInfo {
        NodeInfo::new(node_object_labeled(name, labels, json!({}), json!({})))
    }

    #[test]
    fn node_selector_and_required_affinity() {
        let p = pod(
            json!({"nodeSelector": {"disk": "ssd"}, "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}}),
        );
        let na = NodeAffinity::default();
        let state = CycleState::new();
        assert!(
            na.filter(
                &state,
                &p,
                &labeled("ok", json!({"disk": "ssd", "zone": "a"}))
            )
            .is_success()
        );
        let status = na.filter(
            &state,
            &p,
            &labeled("no", json!({"disk": "ssd", "zone": "b"})),
        );
        assert_eq!(status.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(status.message(), REASON_POD);
        assert!(
            !na.filter(&state, &p, &labeled("no", json!({"zone": "a"})))
                .is_success()
        );
    }

    #[test]
    fn pre_filter_selects_named_nodes() {
        let p = pod(json!({"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}}));
        let (result, status) =
            NodeAffinity::default().pre_filter(&mut CycleState::new(), &p, &Snapshot::new());
        assert!(status.is_success());
        assert_eq!(
            result,
            PreFilterResult::nodes(["n1".to_owned(), "n2".to_owned()])
        );
        let plain = pod(json!({}));
        let (_, status) =
            NodeAffinity::default().pre_filter(&mut CycleState::new(), &plain, &Snapshot::new());
        assert!(status.is_skip());
    }

    #[test]
    fn preferred_terms_sum_weights_and_normalize() {
        // Kubernetes' node_affinity_test "all nodes matches preferred scheduling requirements
        // of pod but with different priorities": weights 2, 4, 5.
        let p = pod(
            json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 2, "preference": {"matchExpressions": [{"key": "foo", "operator": "In", "values": ["bar"]}]}},
            {"weight": 4, "preference": {"matchExpressions": [{"key": "key", "operator": "In", "values": ["value"]}]}},
            {"weight": 5, "preference": {"matchExpressions": [
                {"key": "foo", "operator": "In", "values": ["bar"]},
                {"key": "key", "operator": "In", "values": ["value"]},
                {"key": "az", "operator": "In", "values": ["az1"]}]}}]}}}),
        );
        let nodes = [
            labeled("machine1", json!({"foo": "bar"})),
            labeled(
                "machine5",
                json!({"foo": "bar", "key": "value", "az": "az1"}),
            ),
            labeled("machine2", json!({"key": "value"})),
        ];
        let na = NodeAffinity::default();
        let state = CycleState::new();
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| na.score(&state, &p, n).expect("score"))
            .collect();
        assert_eq!(scores, [2, 11, 4]);
        na.normalize_score(&state, &p, &[], &mut scores);
        assert_eq!(scores, [18, 100, 36]);
    }
}
