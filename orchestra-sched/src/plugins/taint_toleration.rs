//! TaintToleration: a node's `NoSchedule` and `NoExecute` taints must be tolerated; nodes with
//! fewer untolerated `PreferNoSchedule` taints score higher.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Toleration;

use crate::config::ConfigError;
use crate::config::args::PluginArgs;
use crate::framework::{
    ActionType, ClusterEventWithHint, CycleState, EnqueueExtensions, EventResource, FilterPlugin,
    Handle, MAX_NODE_SCORE, Plugin, PluginInstance, PreScorePlugin, ScorePlugin, Status,
};
use crate::node_info::NodeInfo;
use crate::plugins::normalize_score::default_normalize_score;
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;
use crate::taints::{find_untolerated, is_do_not_schedule, tolerations_tolerate};

/// The plugin's name.
pub const NAME: &str = "TaintToleration";

/// Taints and tolerations.
#[derive(Debug, Default)]
pub struct TaintToleration;

#[derive(Clone)]
struct PreScoreState(Arc<Vec<Toleration>>);

impl Plugin for TaintToleration {
    fn name(&self) -> &str {
        NAME
    }
}

impl FilterPlugin for TaintToleration {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let taints = node.taints();
        if taints.is_empty() {
            return Status::success();
        }
        match find_untolerated(taints, pod.tolerations(), is_do_not_schedule) {
            None => Status::success(),
            Some(taint) => Status::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                taint.key,
                taint.value.as_deref().unwrap_or("")
            )),
        }
    }
}

impl PreScorePlugin for TaintToleration {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _: &[&NodeInfo],
        _: &Snapshot,
    ) -> Status {
        let prefer: Vec<Toleration> = pod
            .tolerations()
            .iter()
            .filter(|t| {
                matches!(
                    t.effect.as_deref(),
                    None | Some("") | Some("PreferNoSchedule")
                )
            })
            .cloned()
            .collect();
        state.write(PreScoreState(Arc::new(prefer)));
        Status::success()
    }
}

impl ScorePlugin for TaintToleration {
    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let taints = node.taints();
        if taints.is_empty() {
            return Ok(0);
        }
        let tolerations = state
            .read::<PreScoreState>()
            .map(|s| s.0.as_slice())
            .unwrap_or_default();
        Ok(taints
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule" && !tolerations_tolerate(tolerations, t))
            .count() as i64)
    }

    fn normalize_score(
        &self,
        _: &CycleState,
        _: &PodInfo,
        _: &[&NodeInfo],
        scores: &mut [i64],
    ) -> Status {
        default_normalize_score(MAX_NODE_SCORE, true, scores);
        Status::success()
    }
}

impl EnqueueExtensions for TaintToleration {
    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![
            ClusterEventWithHint::new(
                EventResource::Node,
                ActionType::ADD | ActionType::UPDATE_NODE_TAINT,
            ),
            ClusterEventWithHint::new(EventResource::Pod, ActionType::UPDATE_POD_TOLERATIONS),
        ]
    }
}

/// The factory.
pub fn factory(_: &PluginArgs<'_>, _: &Arc<Handle>) -> Result<PluginInstance, ConfigError> {
    Ok(PluginInstance::builder(Arc::new(TaintToleration))
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
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    fn tainted(name: &str, taints: serde_json::Value) -> NodeInfo {
        node(name, json!({"taints": taints}), json!({}))
    }

    #[test]
    fn untolerated_taints_reject_with_kubernetes_reason() {
        let n = tainted(
            "n",
            json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]),
        );
        let status = TaintToleration.filter(&CycleState::new(), &pod(json!({})), &n);
        assert_eq!(status.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(
            status.message(),
            "node(s) had untolerated taint {dedicated: user1}"
        );
        let tolerant = pod(
            json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "user1", "effect": "NoSchedule"}]}),
        );
        assert!(
            TaintToleration
                .filter(&CycleState::new(), &tolerant, &n)
                .is_success()
        );
        let prefer = tainted(
            "p",
            json!([{"key": "k", "value": "v", "effect": "PreferNoSchedule"}]),
        );
        assert!(
            TaintToleration
                .filter(&CycleState::new(), &pod(json!({})), &prefer)
                .is_success()
        );
    }

    #[test]
    fn fewer_intolerable_prefer_no_schedule_taints_score_higher() {
        // Kubernetes' taint_toleration_test "the more intolerable taints a node has, the lower
        // score it gets": 0, 1 and 2 intolerable taints → 100, 50, 0.
        let p = pod(
            json!({"tolerations": [{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}]}),
        );
        let nodes = [
            tainted("n1", json!([])),
            tainted(
                "n2",
                json!([{"key": "cpu-type", "value": "arm64", "effect": "PreferNoSchedule"}]),
            ),
            tainted(
                "n3",
                json!([
                {"key": "cpu-type", "value": "arm64", "effect": "PreferNoSchedule"},
                {"key": "disk-type", "value": "ssd", "effect": "PreferNoSchedule"}]),
            ),
        ];
        let mut state = CycleState::new();
        TaintToleration.pre_score(&mut state, &p, &[], &Snapshot::new());
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| TaintToleration.score(&state, &p, n).expect("score"))
            .collect();
        TaintToleration.normalize_score(&state, &p, &[], &mut scores);
        assert_eq!(scores, [100, 50, 0]);
    }
}
