//! One scheduling attempt for one pod: find the feasible nodes, score them, pick one, and hold
//! it (Kubernetes' `schedule_one.go`).
//!
//! The search is Kubernetes': nodes are examined starting where the previous attempt stopped,
//! and it stops once [`num_feasible_nodes_to_find`] feasible nodes are found —
//! `max(5, 50 − nodes/125)` percent of the cluster, at least 100 nodes, unless
//! `percentageOfNodesToScore` says otherwise. Filter runs in parallel on the handle's threads in
//! waves of the nodes still needed, so the outcome does not depend on thread timing. A pod
//! nominated to a node by an earlier preemption tries that node first. Among the best-scored
//! nodes one is chosen at random (reservoir sampling, from a seeded generator).
//!
//! [`Scheduling::scheduling_cycle`] then assumes the pod in the cache and runs Reserve and
//! Permit; [`binding_cycle`] runs the asynchronous rest (waiting in Permit, PreBind, Bind,
//! PostBind). Both the simulator and the API-driven scheduler use them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use crate::cache::Cache;
use crate::fit_error::{Diagnosis, FitError};
use crate::framework::{
    Code, CycleState, Framework, NodeScores, PostFilterContext, PostFilterResult, Status,
};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::random::SeededRandom;
use crate::snapshot::Snapshot;

/// Below this many nodes every node is examined.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// Filter waves at least this large are worth running on several threads.
const PARALLEL_WAVE: usize = 1024;

/// The adaptive share never goes below this percentage.
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

/// How many feasible nodes to find before scoring (Kubernetes' `numFeasibleNodesToFind`).
pub fn num_feasible_nodes_to_find(
    percentage_of_nodes_to_score: Option<i32>,
    num_all_nodes: usize,
) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let mut percentage = percentage_of_nodes_to_score.unwrap_or(0).clamp(0, 100) as usize;
    if percentage == 0 {
        percentage = 50usize
            .saturating_sub(num_all_nodes / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
    }
    (num_all_nodes * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Where the pod goes.
#[derive(Debug, Clone)]
pub struct ScheduleResult {
    /// The chosen node.
    pub suggested_host: String,
    /// How many nodes were examined.
    pub evaluated_nodes: usize,
    /// How many of them were feasible.
    pub feasible_nodes: usize,
    /// The highest total score (0 when only one node was feasible).
    pub best_score: i64,
}

/// Why the attempt failed.
#[derive(Debug, Clone)]
pub enum ScheduleError {
    /// No node fits.
    Fit(Box<FitError>),
    /// A plugin failed, or there are no nodes.
    Error(Status),
}

/// What a scheduling cycle ended with.
#[derive(Debug)]
pub enum CycleOutcome {
    /// The pod is assumed on `node` and ready for [`binding_cycle`]; `waiting` when a Permit
    /// plugin holds it.
    Assumed {
        /// The node.
        node: String,
        /// The cycle's state, for the binding cycle.
        state: CycleState,
        /// Whether Permit answered `Wait`.
        waiting: bool,
        /// The attempt's details.
        result: ScheduleResult,
    },
    /// No node fits (or Reserve or Permit rejected it).
    Unschedulable {
        /// Kubernetes' message (`0/3 nodes are available: …`).
        message: String,
        /// The per-node details, when Filter decided.
        fit_error: Option<FitError>,
        /// The plugins that rejected the pod.
        plugins: BTreeSet<String>,
        /// Preemption's proposal.
        post_filter: Option<PostFilterResult>,
    },
    /// Something failed.
    Error(Status),
}

/// The per-scheduler state of the search: where the next one starts, and the random source.
#[derive(Debug)]
pub struct Scheduling {
    next_start_node_index: usize,
    random: SeededRandom,
}

impl Scheduling {
    /// A fresh search state with a seed.
    pub fn new(seed: u64) -> Scheduling {
        Scheduling {
            next_start_node_index: 0,
            random: SeededRandom::new(seed),
        }
    }

    /// Finds a node for `pod` (Kubernetes' `schedulePod`).
    pub fn schedule_pod(
        &mut self,
        framework: &Framework,
        state: &mut CycleState,
        pod: &Arc<PodInfo>,
        snapshot: &Snapshot,
    ) -> Result<ScheduleResult, ScheduleError> {
        if snapshot.is_empty() {
            return Err(ScheduleError::Error(Status::error(
                "no nodes available to schedule pods",
            )));
        }
        let mut diagnosis = Diagnosis::default();
        let feasible = self.find_nodes_that_fit(framework, state, pod, snapshot, &mut diagnosis)?;
        if feasible.is_empty() {
            return Err(ScheduleError::Fit(Box::new(FitError {
                num_all_nodes: snapshot.len(),
                diagnosis,
            })));
        }
        let evaluated = feasible.len() + diagnosis.node_to_status.len();
        if feasible.len() == 1 {
            return Ok(ScheduleResult {
                suggested_host: feasible[0].name().to_owned(),
                evaluated_nodes: evaluated,
                feasible_nodes: 1,
                best_score: 0,
            });
        }
        let scores = self.prioritize(framework, state, pod, &feasible, snapshot)?;
        let chosen = self.select_host(&scores.totals);
        Ok(ScheduleResult {
            suggested_host: feasible[chosen].name().to_owned(),
            evaluated_nodes: evaluated,
            feasible_nodes: feasible.len(),
            best_score: scores.totals[chosen],
        })
    }

    fn find_nodes_that_fit<'s>(
        &mut self,
        framework: &Framework,
        state: &mut CycleState,
        pod: &Arc<PodInfo>,
        snapshot: &'s Snapshot,
        diagnosis: &mut Diagnosis,
    ) -> Result<Vec<&'s NodeInfo>, ScheduleError> {
        let pre = framework.run_pre_filter(state, pod, snapshot);
        if !pre.status.is_success() {
            if !pre.status.is_rejected() {
                return Err(ScheduleError::Error(pre.status));
            }
            if let Some(plugin) = pre.status.plugin() {
                diagnosis.unschedulable_plugins.insert(plugin.to_owned());
            }
            diagnosis.pre_filter_message = pre.status.message();
            diagnosis.node_to_status.set_absent(pre.status);
            return Ok(Vec::new());
        }
        if let Some(nominated) = pod.nominated_node_name() {
            if let Some(node) = snapshot.get(nominated) {
                if framework
                    .run_filter_with_nominated(state, pod, node)
                    .is_success()
                {
                    return Ok(vec![node]);
                }
            }
        }
        let candidates: Vec<usize> = match &pre.result.node_names {
            None => (0..snapshot.len()).collect(),
            Some(names) => {
                diagnosis
                    .node_to_status
                    .set_absent(Status::unresolvable(format!(
                        "node(s) didn't satisfy plugin(s) [{}]",
                        pre.plugins_with_nodes.join(" ")
                    )));
                names.iter().filter_map(|n| snapshot.index_of(n)).collect()
            }
        };
        self.find_nodes_that_pass_filters(framework, state, pod, snapshot, &candidates, diagnosis)
    }

    fn find_nodes_that_pass_filters<'s>(
        &mut self,
        framework: &Framework,
        state: &CycleState,
        pod: &Arc<PodInfo>,
        snapshot: &'s Snapshot,
        candidates: &[usize],
        diagnosis: &mut Diagnosis,
    ) -> Result<Vec<&'s NodeInfo>, ScheduleError> {
        let nodes = snapshot.nodes();
        let total = candidates.len();
        if total == 0 {
            return Ok(Vec::new());
        }
        let wanted = num_feasible_nodes_to_find(framework.percentage_of_nodes_to_score(), total);
        let start = self.next_start_node_index % total;
        let mut feasible = Vec::with_capacity(wanted);
        if !framework.has_filter_plugins() {
            feasible.extend((0..wanted).map(|i| &nodes[candidates[(start + i) % total]]));
            self.next_start_node_index = (start + wanted) % total;
            return Ok(feasible);
        }
        let mut examined = 0;
        let mut processed = 0;
        let mut batch: Vec<&NodeInfo> = Vec::with_capacity(wanted.max(16));
        'waves: while examined < total && feasible.len() < wanted {
            // One thread: examine exactly as many nodes as are still needed, so no node past
            // the last one needed is filtered. Several threads: when few nodes fit, size the
            // wave by the share of feasible nodes seen so far, so it is large enough to split.
            let needed = wanted - feasible.len();
            let estimate = match (examined, feasible.len()) {
                (0, _) => needed,
                (_, 0) => examined.saturating_mul(2),
                (_, found) => needed.saturating_mul(examined) / found,
            };
            let parallel = framework.handle().parallelism() > 1 && estimate >= PARALLEL_WAVE;
            let wave = if parallel { estimate } else { needed }
                .max(16)
                .min(total - examined);
            batch.clear();
            batch.extend(
                (examined..examined + wave).map(|i| &nodes[candidates[(start + i) % total]]),
            );
            let statuses = framework.run_filter_on_nodes(state, pod, &batch);
            for (k, status) in statuses.into_iter().enumerate() {
                processed += 1;
                match status.code() {
                    Code::Success => {
                        feasible.push(batch[k]);
                        if feasible.len() == wanted {
                            break 'waves;
                        }
                    }
                    Code::Error => return Err(ScheduleError::Error(status)),
                    _ => {
                        if let Some(plugin) = status.plugin() {
                            if !diagnosis.unschedulable_plugins.contains(plugin) {
                                diagnosis.unschedulable_plugins.insert(plugin.to_owned());
                            }
                        }
                        let index = candidates[(start + examined + k) % total];
                        diagnosis.node_to_status.set(index, status);
                    }
                }
            }
            examined += wave;
        }
        self.next_start_node_index = (start + processed) % total;
        Ok(feasible)
    }

    fn prioritize(
        &mut self,
        framework: &Framework,
        state: &mut CycleState,
        pod: &Arc<PodInfo>,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Result<NodeScores, ScheduleError> {
        if !framework.has_score_plugins() {
            return Ok(NodeScores {
                totals: vec![1; nodes.len()],
            });
        }
        let status = framework.run_pre_score(state, pod, nodes, snapshot);
        if !status.is_success() {
            return Err(ScheduleError::Error(status));
        }
        framework
            .run_score(state, pod, nodes)
            .map_err(ScheduleError::Error)
    }

    /// The index of a highest score, chosen uniformly among ties.
    fn select_host(&mut self, totals: &[i64]) -> usize {
        let mut best = 0;
        let mut ties = 0u64;
        for (i, score) in totals.iter().enumerate() {
            if *score > totals[best] {
                best = i;
                ties = 1;
            } else if *score == totals[best] {
                ties += 1;
                if self.random.below(ties) == 0 {
                    best = i;
                }
            }
        }
        best
    }

    /// A random number for plugins (preemption's starting offset).
    pub fn random(&mut self) -> u64 {
        self.random.next_u64()
    }

    /// Runs one scheduling cycle: schedule the pod, and on success assume it in `cache` and run
    /// Reserve and Permit; on failure run PostFilter (Kubernetes' `schedulingCycle`).
    pub fn scheduling_cycle(
        &mut self,
        framework: &Framework,
        cache: &mut Cache,
        snapshot: &Snapshot,
        pod: &Arc<PodInfo>,
        now: Instant,
    ) -> CycleOutcome {
        let mut state = CycleState::new();
        let result = match self.schedule_pod(framework, &mut state, pod, snapshot) {
            Ok(result) => result,
            Err(ScheduleError::Error(status)) => return CycleOutcome::Error(status),
            Err(ScheduleError::Fit(mut fit_error)) => {
                let mut post_filter = None;
                if framework.has_post_filter_plugins() {
                    let context = PostFilterContext {
                        framework,
                        snapshot,
                        random: self.random(),
                    };
                    let (result, status) = framework.run_post_filter(
                        &context,
                        &state,
                        pod,
                        &fit_error.diagnosis.node_to_status,
                    );
                    if status.code() == Code::Error {
                        tracing::warn!(pod = pod.key(), %status, "PostFilter failed");
                    }
                    fit_error.diagnosis.post_filter_message = status.message();
                    post_filter = result.filter(|r| r.nominated_node_name.is_some());
                }
                return CycleOutcome::Unschedulable {
                    message: fit_error.to_string(),
                    plugins: fit_error.diagnosis.unschedulable_plugins.clone(),
                    fit_error: Some(*fit_error),
                    post_filter,
                };
            }
        };
        let node = result.suggested_host.clone();
        if let Err(error) = cache.assume_pod(pod.clone(), &node) {
            return CycleOutcome::Error(Status::error(error.to_string()));
        }
        let status = framework.run_reserve(&mut state, pod, &node, snapshot);
        if !status.is_success() {
            framework.run_unreserve(&mut state, pod, &node);
            let _ = cache.forget_pod(pod.uid());
            return rejected(status);
        }
        let status = framework.run_permit(&state, pod, &node, now);
        if !status.is_success() && !status.is_wait() {
            framework.run_unreserve(&mut state, pod, &node);
            let _ = cache.forget_pod(pod.uid());
            return rejected(status);
        }
        CycleOutcome::Assumed {
            node,
            state,
            waiting: status.is_wait(),
            result,
        }
    }
}

fn rejected(status: Status) -> CycleOutcome {
    if status.is_rejected() {
        CycleOutcome::Unschedulable {
            message: status.message(),
            fit_error: None,
            plugins: status
                .plugin()
                .map(|p| BTreeSet::from([p.to_owned()]))
                .unwrap_or_default(),
            post_filter: None,
        }
    } else {
        CycleOutcome::Error(status)
    }
}

/// Runs the binding cycle of an assumed pod: wait in Permit if held, PreBind, Bind, PostBind.
/// On failure the caller unreserves the pod and forgets it in the cache.
pub async fn binding_cycle(
    framework: &Framework,
    state: &CycleState,
    pod: &Arc<PodInfo>,
    node: &str,
    waiting: bool,
) -> Status {
    if waiting {
        let status = framework.wait_on_permit(pod).await;
        if !status.is_success() {
            return status;
        }
    }
    let status = framework.run_pre_bind(state, pod, node).await;
    if !status.is_success() {
        return status;
    }
    let status = framework.run_bind(state, pod, node).await;
    if !status.is_success() {
        return status;
    }
    framework.run_post_bind(state, pod, node);
    Status::success()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_percentage_matches_kubernetes() {
        assert_eq!(num_feasible_nodes_to_find(None, 10), 10);
        assert_eq!(num_feasible_nodes_to_find(None, 99), 99);
        // 50 − 1000/125 = 42%.
        assert_eq!(num_feasible_nodes_to_find(None, 1000), 420);
        // 50 − 5000/125 = 10%.
        assert_eq!(num_feasible_nodes_to_find(None, 5000), 500);
        // 50 − 6000/125 = 2% → floor of 5%.
        assert_eq!(num_feasible_nodes_to_find(None, 6000), 300);
        // 50 − 200/125 = 49% of 200 = 98, raised to the floor of 100.
        assert_eq!(num_feasible_nodes_to_find(Some(0), 200), 100);
        // Never below 100 nodes.
        assert_eq!(num_feasible_nodes_to_find(Some(1), 1000), 100);
        assert_eq!(num_feasible_nodes_to_find(Some(100), 1000), 1000);
    }
}
