//! NodeResourcesFit: the pod's requests must fit in what the node has left, and nodes are
//! scored by a configurable strategy (LeastAllocated by default, MostAllocated for bin
//! packing, RequestedToCapacityRatio for a custom curve).
//!
//! Filter reasons are Kubernetes': `Too many pods`, `Insufficient cpu`, `Insufficient memory`,
//! `Insufficient ephemeral-storage`, `Insufficient <extended resource>` (e.g.
//! `Insufficient nvidia.com/gpu`), one per resource short. A pod that requests nothing is only
//! checked against the node's pod count. Extended resources listed in `ignoredResources`, or
//! whose group is in `ignoredResourceGroups`, are not checked.

use std::collections::BTreeSet;
use std::sync::Arc;

use orchestra_api::validation::FieldError;

use crate::config::ConfigError;
use crate::config::args::{
    NodeResourcesFitArgs, PluginArgs, default_resources, validate_resources,
};
use crate::framework::{
    ActionType, ClusterEventWithHint, Code, CycleState, EnqueueExtensions, EventObject,
    EventResource, FilterPlugin, Handle, Plugin, PluginInstance, PreScorePlugin, QueueingHint,
    Reason, ScorePlugin, Status,
};
use crate::node_info::NodeInfo;
use crate::plugins::resource_allocation::{ResourceAllocationScorer, Strategy};
use crate::pod_info::PodInfo;
use crate::resources::Resource;
use crate::snapshot::Snapshot;

/// The plugin's name.
pub const NAME: &str = "NodeResourcesFit";

/// Checks and scores resources.
#[derive(Debug)]
pub struct NodeResourcesFit {
    /// `Insufficient <resource>` of extended resources, built once per resource name.
    scalar_reasons: std::sync::RwLock<std::collections::HashMap<String, Reason>>,
    ignored_resources: BTreeSet<String>,
    ignored_resource_groups: BTreeSet<String>,
    scorer: ResourceAllocationScorer,
}

#[derive(Clone)]
struct PreScoreState(Arc<Vec<i64>>);

/// One resource the node has too little of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsufficientResource {
    /// The resource.
    pub resource: String,
    /// The Filter reason.
    pub reason: Reason,
    /// What the pod requests.
    pub requested: i64,
    /// What the node's pods already request.
    pub used: i64,
    /// What the node has.
    pub capacity: i64,
}

impl NodeResourcesFit {
    /// The plugin with these arguments (defaulted and validated).
    pub fn new(
        args: NodeResourcesFitArgs,
        path: &orchestra_api::validation::FieldPath,
    ) -> Result<NodeResourcesFit, ConfigError> {
        let mut strategy_args = args.scoring_strategy.unwrap_or_default();
        if strategy_args.resources.is_empty() {
            strategy_args.resources = default_resources();
        }
        let strategy_path = path.child("scoringStrategy");
        let mut errors = validate_resources(
            &mut strategy_args.resources,
            &strategy_path.child("resources"),
        );
        let strategy = match strategy_args.strategy.as_str() {
            "LeastAllocated" => Strategy::LeastAllocated,
            "MostAllocated" => Strategy::MostAllocated,
            "RequestedToCapacityRatio" => {
                let shape = strategy_args
                    .requested_to_capacity_ratio
                    .map(|r| r.shape)
                    .unwrap_or_default();
                let shape_path = strategy_path
                    .child("requestedToCapacityRatio")
                    .child("shape");
                if shape.is_empty() {
                    errors.push(FieldError::required(
                        shape_path.clone(),
                        "at least one point must be specified",
                    ));
                }
                for (i, point) in shape.iter().enumerate() {
                    if !(0..=100).contains(&point.utilization) {
                        errors.push(FieldError::invalid(
                            shape_path.index(i).child("utilization"),
                            point.utilization,
                            "not in valid range [0, 100]",
                        ));
                    } else if i > 0 && point.utilization <= shape[i - 1].utilization {
                        errors.push(FieldError::invalid(
                            shape_path.index(i).child("utilization"),
                            point.utilization,
                            "utilization values must be sorted in increasing order",
                        ));
                    }
                    if !(0..=10).contains(&point.score) {
                        errors.push(FieldError::invalid(
                            shape_path.index(i).child("score"),
                            point.score,
                            "not in valid range [0, 10]",
                        ));
                    }
                }
                Strategy::RequestedToCapacityRatio(shape)
            }
            other => {
                errors.push(FieldError::not_supported(
                    strategy_path.child("type"),
                    other,
                    &[
                        "LeastAllocated",
                        "MostAllocated",
                        "RequestedToCapacityRatio",
                    ],
                ));
                Strategy::LeastAllocated
            }
        };
        for (i, group) in args.ignored_resource_groups.iter().enumerate() {
            if group.contains('/') {
                errors.push(FieldError::invalid(
                    path.child("ignoredResourceGroups").index(i),
                    group.as_str(),
                    "resource group name can't contain '/'",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(ConfigError::fields(errors));
        }
        Ok(NodeResourcesFit {
            scalar_reasons: Default::default(),
            ignored_resources: args.ignored_resources.into_iter().collect(),
            ignored_resource_groups: args.ignored_resource_groups.into_iter().collect(),
            scorer: ResourceAllocationScorer::new(strategy_args.resources, false, strategy),
        })
    }

    fn is_ignored(&self, name: &str) -> bool {
        // Only extended resources (a name with a domain outside kubernetes.io) can be ignored.
        let Some((group, _)) = name.split_once('/') else {
            return false;
        };
        if group == "kubernetes.io" || group.ends_with(".kubernetes.io") {
            return false;
        }
        self.ignored_resources.contains(name) || self.ignored_resource_groups.contains(group)
    }

    /// `Insufficient <name>`, shared.
    fn scalar_reason(&self, name: &str) -> Reason {
        if let Some(reason) = self
            .scalar_reasons
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return reason.clone();
        }
        let reason = Reason::from(format!("Insufficient {name}"));
        self.scalar_reasons
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), reason.clone());
        reason
    }

    /// The Filter reasons of [`NodeResourcesFit::insufficient_resources`], without building
    /// the details.
    fn insufficient_reasons(&self, request: &Resource, node: &NodeInfo) -> Vec<Reason> {
        let mut reasons = Vec::new();
        if node.pods().len() as i64 + 1 > node.allocatable.allowed_pod_number {
            reasons.push(Reason::from("Too many pods"));
        }
        if request.is_empty_request() {
            return reasons;
        }
        let short = |want: i64, used: i64, cap: i64| want > 0 && want > cap - used;
        if short(
            request.milli_cpu,
            node.requested.milli_cpu,
            node.allocatable.milli_cpu,
        ) {
            reasons.push(Reason::from("Insufficient cpu"));
        }
        if short(
            request.memory,
            node.requested.memory,
            node.allocatable.memory,
        ) {
            reasons.push(Reason::from("Insufficient memory"));
        }
        if short(
            request.ephemeral_storage,
            node.requested.ephemeral_storage,
            node.allocatable.ephemeral_storage,
        ) {
            reasons.push(Reason::from("Insufficient ephemeral-storage"));
        }
        for (name, want) in request.scalar.iter() {
            if want == 0 || self.is_ignored(name.as_str()) {
                continue;
            }
            let used = node.requested.scalar.get(name.as_str());
            let cap = node.allocatable.scalar.get(name.as_str());
            if want > cap - used {
                reasons.push(self.scalar_reason(name.as_str()));
            }
        }
        reasons
    }

    /// The resources `node` lacks for `request` (Kubernetes' `fitsRequest`).
    pub fn insufficient_resources(
        &self,
        request: &Resource,
        node: &NodeInfo,
    ) -> Vec<InsufficientResource> {
        let mut out = Vec::new();
        let pods = node.pods().len() as i64;
        if pods + 1 > node.allocatable.allowed_pod_number {
            out.push(InsufficientResource {
                resource: "pods".into(),
                reason: Reason::from("Too many pods"),
                requested: 1,
                used: pods,
                capacity: node.allocatable.allowed_pod_number,
            });
        }
        if request.is_empty_request() {
            return out;
        }
        let mut check =
            |resource: &'static str, reason: &'static str, want: i64, used: i64, cap: i64| {
                if want > 0 && want > cap - used {
                    out.push(InsufficientResource {
                        resource: resource.into(),
                        reason: Reason::from(reason),
                        requested: want,
                        used,
                        capacity: cap,
                    });
                }
            };
        check(
            "cpu",
            "Insufficient cpu",
            request.milli_cpu,
            node.requested.milli_cpu,
            node.allocatable.milli_cpu,
        );
        check(
            "memory",
            "Insufficient memory",
            request.memory,
            node.requested.memory,
            node.allocatable.memory,
        );
        check(
            "ephemeral-storage",
            "Insufficient ephemeral-storage",
            request.ephemeral_storage,
            node.requested.ephemeral_storage,
            node.allocatable.ephemeral_storage,
        );
        for (name, want) in request.scalar.iter() {
            if want == 0 || self.is_ignored(name.as_str()) {
                continue;
            }
            let used = node.requested.scalar.get(name.as_str());
            let cap = node.allocatable.scalar.get(name.as_str());
            if want > cap - used {
                out.push(InsufficientResource {
                    resource: name.as_str().to_owned(),
                    reason: Reason::from(format!("Insufficient {name}")),
                    requested: want,
                    used,
                    capacity: cap,
                });
            }
        }
        out
    }
}

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &str {
        NAME
    }
}

impl FilterPlugin for NodeResourcesFit {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let request = &pod.requests.requests;
        // Fast path: enough room for everything.
        let pods_fit = (node.pods().len() as i64) < node.allocatable.allowed_pod_number;
        if pods_fit
            && request.milli_cpu <= node.allocatable.milli_cpu - node.requested.milli_cpu
            && request.memory <= node.allocatable.memory - node.requested.memory
            && request.ephemeral_storage
                <= node.allocatable.ephemeral_storage - node.requested.ephemeral_storage
            && request.scalar.is_empty()
        {
            return Status::success();
        }
        let reasons = self.insufficient_reasons(request, node);
        if reasons.is_empty() {
            return Status::success();
        }
        Status::with_reasons(Code::Unschedulable, reasons)
    }
}

impl PreScorePlugin for NodeResourcesFit {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _: &[&NodeInfo],
        _: &Snapshot,
    ) -> Status {
        state.write(PreScoreState(Arc::new(self.scorer.pod_requests(pod))));
        Status::success()
    }
}

impl ScorePlugin for NodeResourcesFit {
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

impl EnqueueExtensions for NodeResourcesFit {
    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![
            ClusterEventWithHint::new(
                EventResource::Pod,
                ActionType::DELETE | ActionType::UPDATE_POD_SCALE_DOWN,
            ),
            ClusterEventWithHint::with_hint(
                EventResource::Node,
                ActionType::ADD | ActionType::UPDATE_NODE_ALLOCATABLE,
                |pod, _old, new| match new {
                    Some(EventObject::Node(node)) => {
                        let empty = NodeInfo::new(node.clone());
                        let fits = node_fits_empty(pod, &empty);
                        if fits {
                            QueueingHint::Queue
                        } else {
                            QueueingHint::Skip
                        }
                    }
                    _ => QueueingHint::Queue,
                },
            ),
        ]
    }
}

/// Whether the pod would fit the node if the node were empty (the queueing hint's check).
fn node_fits_empty(pod: &PodInfo, node: &NodeInfo) -> bool {
    let r = &pod.requests.requests;
    node.allocatable.allowed_pod_number >= 1
        && r.milli_cpu <= node.allocatable.milli_cpu
        && r.memory <= node.allocatable.memory
        && r.ephemeral_storage <= node.allocatable.ephemeral_storage
        && r.scalar
            .iter()
            .all(|(n, v)| v <= node.allocatable.scalar.get(n.as_str()))
}

/// The factory.
pub fn factory(args: &PluginArgs<'_>, _: &Arc<Handle>) -> Result<PluginInstance, ConfigError> {
    let plugin = NodeResourcesFit::new(args.decode()?, &args.path)?;
    Ok(PluginInstance::builder(Arc::new(plugin))
        .filter()
        .pre_score()
        .score()
        .enqueue_extensions()
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::args::{
        RequestedToCapacityRatioParam, ResourceSpec, ScoringStrategy, UtilizationShapePoint,
    };
    use crate::plugins::testing::{node_with_pods, pod, pod_requesting};
    use orchestra_api::validation::FieldPath;
    use serde_json::json;

    fn fit(strategy: ScoringStrategy) -> NodeResourcesFit {
        NodeResourcesFit::new(
            NodeResourcesFitArgs {
                scoring_strategy: Some(strategy),
                ..Default::default()
            },
            &FieldPath::new("args"),
        )
        .expect("valid args")
    }

    fn default_fit() -> NodeResourcesFit {
        fit(ScoringStrategy::default())
    }

    fn milli_node(
        name: &str,
        cpu: i64,
        memory: i64,
        pods: Vec<crate::pod_info::PodInfo>,
    ) -> NodeInfo {
        node_with_pods(
            name,
            json!({"allocatable": {"cpu": format!("{cpu}m"), "memory": memory.to_string(), "pods": "32"}}),
            pods,
        )
    }

    #[test]
    fn filter_reasons_match_kubernetes() {
        // Kubernetes' fit_test: node 10 cpu / 20 memory with 5 cpu / 19 memory requested.
        let existing = pod_requesting("5m", "19");
        let node = milli_node("n", 10, 20, vec![existing]);
        let f = default_fit();
        let too_much = pod_requesting("8m", "2");
        let status = f.filter(&CycleState::new(), &too_much, &node);
        assert_eq!(status.code(), Code::Unschedulable);
        assert_eq!(
            status.reasons(),
            ["Insufficient cpu", "Insufficient memory"]
        );
        let fits = pod_requesting("5m", "1");
        assert!(f.filter(&CycleState::new(), &fits, &node).is_success());
    }

    #[test]
    fn pod_count_and_extended_resources() {
        let node = node_with_pods(
            "n",
            json!({"allocatable": {"cpu": "4", "memory": "1Gi", "pods": "1", "nvidia.com/gpu": "1"}}),
            vec![pod_requesting("1", "1")],
        );
        let wants_gpus = pod(json!({"containers": [{"name": "c", "image": "i",
            "resources": {"requests": {"nvidia.com/gpu": "2", "example.com/foo": "1"}}}]}));
        let status = default_fit().filter(&CycleState::new(), &wants_gpus, &node);
        assert_eq!(
            status.reasons(),
            [
                "Too many pods",
                "Insufficient example.com/foo",
                "Insufficient nvidia.com/gpu"
            ]
        );
        let ignoring = NodeResourcesFit::new(
            NodeResourcesFitArgs {
                ignored_resource_groups: vec!["example.com".into()],
                ..Default::default()
            },
            &FieldPath::new("args"),
        )
        .expect("valid");
        assert_eq!(
            ignoring
                .filter(&CycleState::new(), &wants_gpus, &node)
                .reasons(),
            ["Too many pods", "Insufficient nvidia.com/gpu"]
        );
        // A pod requesting nothing is only checked against the pod count.
        let empty = pod(json!({}));
        assert_eq!(
            default_fit()
                .filter(&CycleState::new(), &empty, &node)
                .reasons(),
            ["Too many pods"]
        );
    }

    fn score(f: &NodeResourcesFit, p: &crate::pod_info::PodInfo, n: &NodeInfo) -> i64 {
        f.score(&CycleState::new(), p, n).expect("score")
    }

    #[test]
    fn least_allocated_scores_match_kubernetes() {
        // Kubernetes' least_allocated_test "differently sized machines": node1 4000m/10000,
        // node2 6000m/10000; pod requests 3000m/5000 in two containers.
        let p = pod(json!({"containers": [
            {"name": "a", "image": "i", "resources": {"requests": {"cpu": "1000m", "memory": "2000"}}},
            {"name": "b", "image": "i", "resources": {"requests": {"cpu": "2000m", "memory": "3000"}}}]}));
        let f = default_fit();
        // cpu (4000-3000)*100/4000 = 25, memory (10000-5000)*100/10000 = 50 → 37.
        assert_eq!(score(&f, &p, &milli_node("n1", 4000, 10000, vec![])), 37);
        // cpu 50, memory 50 → 50.
        assert_eq!(score(&f, &p, &milli_node("n2", 6000, 10000, vec![])), 50);
    }

    #[test]
    fn zero_requests_count_as_defaults_when_scoring() {
        let best_effort = pod(json!({"containers": [{"name": "c", "image": "i"}]}));
        let n = node_with_pods(
            "n",
            json!({"allocatable": {"cpu": "1", "memory": "1000Mi", "pods": "10"}}),
            vec![],
        );
        // cpu (1000-100)*100/1000 = 90, memory (1000Mi-200Mi)*100/1000Mi = 80 → 85.
        assert_eq!(score(&default_fit(), &best_effort, &n), 85);
    }

    #[test]
    fn most_allocated_scores_match_kubernetes() {
        // Kubernetes' most_allocated_test: node 4000m/10000 with nothing, pod 3000m/5000.
        let p = pod_requesting("3000m", "5000");
        let f = fit(ScoringStrategy {
            strategy: "MostAllocated".into(),
            ..ScoringStrategy::default()
        });
        // cpu 75, memory 50 → 62.
        assert_eq!(score(&f, &p, &milli_node("n", 4000, 10000, vec![])), 62);
    }

    #[test]
    fn requested_to_capacity_ratio_scores() {
        let f = fit(ScoringStrategy {
            strategy: "RequestedToCapacityRatio".into(),
            resources: vec![ResourceSpec::new("cpu", 1), ResourceSpec::new("memory", 1)],
            requested_to_capacity_ratio: Some(RequestedToCapacityRatioParam {
                shape: vec![
                    UtilizationShapePoint {
                        utilization: 0,
                        score: 10,
                    },
                    UtilizationShapePoint {
                        utilization: 100,
                        score: 0,
                    },
                ],
            }),
        });
        // Kubernetes' requested_to_capacity_ratio_test "nothing scheduled, nothing requested
        // (default cpu/memory)" on 4000m/10000: cpu 100m → 2% → 98, memory 200Mi > capacity →
        // 100% → 0, ignored as zero → 98.
        let best_effort = pod(json!({"containers": [{"name": "c", "image": "i"}]}));
        assert_eq!(
            score(&f, &best_effort, &milli_node("n", 4000, 10000, vec![])),
            98
        );
        let p = pod_requesting("3000m", "5000");
        // cpu 75% → 25, memory 50% → 50 → round(37.5) = 38.
        assert_eq!(score(&f, &p, &milli_node("n", 4000, 10000, vec![])), 38);
    }

    #[test]
    fn bad_arguments_name_their_field() {
        let err = NodeResourcesFit::new(
            NodeResourcesFitArgs {
                scoring_strategy: Some(ScoringStrategy {
                    strategy: "Random".into(),
                    resources: vec![ResourceSpec::new("cpu", 200)],
                    requested_to_capacity_ratio: None,
                }),
                ..Default::default()
            },
            &FieldPath::new("profiles[0].pluginConfig[0].args"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "[profiles[0].pluginConfig[0].args.scoringStrategy.resources[0].weight: Invalid value: 200: resource weight must be in the range [1, 100], profiles[0].pluginConfig[0].args.scoringStrategy.type: Unsupported value: \"Random\": supported values: \"LeastAllocated\", \"MostAllocated\", \"RequestedToCapacityRatio\"]"
        );
    }
}
