//! NodeResourcesBalancedAllocation: prefers nodes where the pod leaves cpu and memory (or the
//! configured resources) used in similar proportions: `(1 − std of the fractions) × 100`.
//! Pods that request none of the resources are not scored by it (Kubernetes v1.33).

use std::sync::Arc;

use crate::config::ConfigError;
use crate::config::args::{
    NodeResourcesBalancedAllocationArgs, PluginArgs, default_resources, validate_resources,
};
use crate::framework::{
    CycleState, Handle, Plugin, PluginInstance, PreScorePlugin, ScorePlugin, Status,
};
use crate::node_info::NodeInfo;
use crate::plugins::resource_allocation::{ResourceAllocationScorer, Strategy};
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

/// The plugin's name.
pub const NAME: &str = "NodeResourcesBalancedAllocation";

/// Scores balance of resource use.
#[derive(Debug)]
pub struct BalancedAllocation {
    scorer: ResourceAllocationScorer,
}

#[derive(Clone)]
struct PreScoreState(Arc<Vec<i64>>);

impl BalancedAllocation {
    /// The plugin with these arguments.
    pub fn new(
        args: NodeResourcesBalancedAllocationArgs,
        path: &orchestra_api::validation::FieldPath,
    ) -> Result<BalancedAllocation, ConfigError> {
        let mut resources = if args.resources.is_empty() {
            default_resources()
        } else {
            args.resources
        };
        let errors = validate_resources(&mut resources, &path.child("resources"));
        if !errors.is_empty() {
            return Err(ConfigError::fields(errors));
        }
        Ok(BalancedAllocation {
            scorer: ResourceAllocationScorer::new(resources, true, Strategy::Balanced),
        })
    }
}

impl Plugin for BalancedAllocation {
    fn name(&self) -> &str {
        NAME
    }
}

impl PreScorePlugin for BalancedAllocation {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _: &[&NodeInfo],
        _: &Snapshot,
    ) -> Status {
        let requests = self.scorer.pod_requests(pod);
        if requests.iter().all(|r| *r == 0) {
            return Status::skip();
        }
        state.write(PreScoreState(Arc::new(requests)));
        Status::success()
    }
}

impl ScorePlugin for BalancedAllocation {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        match state.read::<PreScoreState>() {
            Some(requests) => Ok(self.scorer.score(node, &requests.0)),
            None => Ok(self.scorer.score(node, &self.scorer.pod_requests(pod))),
        }
    }

    fn score_nodes(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        scores: &mut [i64],
    ) -> Result<(), Status> {
        let computed;
        let requests: &[i64] = match state.read::<PreScoreState>() {
            Some(requests) => &requests.0,
            None => {
                computed = self.scorer.pod_requests(pod);
                &computed
            }
        };
        for (node, score) in nodes.iter().zip(scores.iter_mut()) {
            *score = self.scorer.score(node, requests);
        }
        Ok(())
    }
}

/// The factory.
pub fn factory(args: &PluginArgs<'_>, _: &Arc<Handle>) -> Result<PluginInstance, ConfigError> {
    let plugin = BalancedAllocation::new(args.decode()?, &args.path)?;
    Ok(PluginInstance::builder(Arc::new(plugin))
        .pre_score()
        .score()
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node_with_pods, pod, pod_requesting};
    use orchestra_api::validation::FieldPath;
    use serde_json::json;

    fn plugin() -> BalancedAllocation {
        BalancedAllocation::new(Default::default(), &FieldPath::new("args")).expect("valid")
    }

    #[test]
    fn scores_match_kubernetes() {
        // Kubernetes' balanced_allocation_test "differently sized machines": pod 3000m/5000 on
        // node 4000m/10000 → fractions 0.75 and 0.5, std 0.125 → 87; on 6000m/10000 → 0.5
        // and 0.5 → 100.
        let p = pod_requesting("3000m", "5000");
        let b = plugin();
        let mut state = CycleState::new();
        let snapshot = Snapshot::new();
        assert!(b.pre_score(&mut state, &p, &[], &snapshot).is_success());
        let n1 = node_with_pods(
            "n1",
            json!({"allocatable": {"cpu": "4000m", "memory": "10000", "pods": "10"}}),
            vec![],
        );
        let n2 = node_with_pods(
            "n2",
            json!({"allocatable": {"cpu": "6000m", "memory": "10000", "pods": "10"}}),
            vec![],
        );
        assert_eq!(b.score(&state, &p, &n1).expect("score"), 87);
        assert_eq!(b.score(&state, &p, &n2).expect("score"), 100);
    }

    #[test]
    fn best_effort_pods_are_skipped() {
        let best_effort = pod(json!({"containers": [{"name": "c", "image": "i"}]}));
        let mut state = CycleState::new();
        assert!(
            plugin()
                .pre_score(&mut state, &best_effort, &[], &Snapshot::new())
                .is_skip()
        );
    }
}
