//! DefaultPreemption: when no node fits, find a node where evicting lower-priority pods makes
//! room, evicting as few and as unimportant pods as possible.
//!
//! As Kubernetes v1.33 does it: only nodes rejected as `Unschedulable` (not unresolvable) are
//! candidates; on each, all lower-priority pods are removed, the pod must then fit, and pods are
//! reprieved one by one from the most important down — first those whose eviction would violate
//! a PodDisruptionBudget, then the others — keeping every pod whose return still lets the pod
//! fit. At least `max(10% of candidates, 100)` nodes are tried, starting at a random one; the
//! dry runs run on the handle's threads in waves whose results are read in order, so the
//! candidates are those of a one-by-one search, and each dry run copies its node (and the cycle
//! state only when a PreFilter state depends on the node's pods) once, not per check. The
//! chosen node has, in order: the fewest PDB violations, the lowest highest-victim priority, the
//! lowest sum of priorities, the fewest victims, the latest start of its most important
//! victims. The result nominates that node (`status.nominatedNodeName`) and lists the victims;
//! the scheduler (or simulation) evicts them.
//!
//! Pods with `preemptionPolicy: Never` do not preempt, and neither does a pod whose nominated
//! node still has a lower-priority pod terminating because of a preemption (Kubernetes'
//! `PodEligibleToPreemptOthers`): it waits for its victims to go rather than picking more of
//! them — unless Filter found the nominated node unusable in a way preemption cannot change.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use orchestra_api::LabelSelector;
use orchestra_api::validation::FieldError;
use rayon::iter::{IntoParallelIterator, ParallelIterator};

use crate::config::ConfigError;
use crate::config::args::{DefaultPreemptionArgs, PluginArgs};
use crate::fit_error::{Diagnosis, FitError};
use crate::framework::{
    Code, CycleState, Framework, Handle, NodeToStatus, Plugin, PluginInstance, PostFilterContext,
    PostFilterPlugin, PostFilterResult, Status,
};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

/// The plugin's name.
pub const NAME: &str = "DefaultPreemption";
/// The status of nodes preemption cannot help.
pub const REASON_NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// The status of nodes without lower-priority pods.
pub const REASON_NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// Why a preemptor whose nominated node still has a victim terminating does not preempt again.
pub const REASON_TERMINATING_VICTIM: &str =
    "not eligible due to a terminating pod on the nominated node.";
/// The pod condition preemption sets on its victims before deleting them.
pub const DISRUPTION_TARGET: &str = "DisruptionTarget";
/// The reason of that condition when a scheduler preempts.
pub const REASON_PREEMPTION_BY_SCHEDULER: &str = "PreemptionByScheduler";

/// Dry runs of at least this many nodes are spread over the handle's threads.
const PARALLEL_DRY_RUN_WAVE: usize = 32;

/// Preemption.
#[derive(Debug)]
pub struct DefaultPreemption {
    min_candidate_nodes_percentage: i64,
    min_candidate_nodes_absolute: i64,
}

/// A node where preemption would work, and its victims.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The node.
    pub node: String,
    /// The victims, most important first.
    pub victims: Vec<Arc<PodInfo>>,
    /// How many victims' eviction violates a PodDisruptionBudget.
    pub pdb_violations: usize,
}

/// Whether `a` is more important than `b`: higher priority, then started earlier.
pub fn more_important(a: &PodInfo, b: &PodInfo) -> bool {
    if a.priority != b.priority {
        return a.priority > b.priority;
    }
    start_nanos(a) < start_nanos(b)
}

fn start_nanos(pod: &PodInfo) -> i128 {
    // A pod that has not started counts as starting now, i.e. after every started pod.
    pod.start_time().map_or(i128::MAX, |t| t.as_nanosecond())
}

/// Whether `pod` is terminating because a scheduler preempted it (Kubernetes'
/// `podTerminatingByPreemption`): it is being deleted, and its `DisruptionTarget` condition is
/// `True` with reason `PreemptionByScheduler`. A pod deleted for another reason (by its owner,
/// drained through the Eviction API) is not.
pub fn terminating_by_preemption(pod: &PodInfo) -> bool {
    if !pod.is_terminating() {
        return false;
    }
    pod.pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|conditions| conditions.iter().find(|c| c.type_ == DISRUPTION_TARGET))
        .is_some_and(|c| {
            c.status == "True" && c.reason.as_deref() == Some(REASON_PREEMPTION_BY_SCHEDULER)
        })
}

struct Budget {
    namespace: String,
    selector: LabelSelector,
    allowed: i64,
    disrupted: Vec<String>,
}

fn budgets(pdbs: &[Arc<PodDisruptionBudget>]) -> Vec<Budget> {
    pdbs.iter()
        .filter_map(|pdb| {
            let selector =
                LabelSelector::try_from(pdb.spec.as_ref().and_then(|s| s.selector.as_ref()))
                    .ok()?;
            Some(Budget {
                namespace: pdb
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".into()),
                selector,
                allowed: i64::from(pdb.status.as_ref().map_or(0, |s| s.disruptions_allowed)),
                disrupted: pdb
                    .status
                    .as_ref()
                    .and_then(|s| s.disrupted_pods.as_ref())
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Splits pods into those whose eviction would violate a budget and the others (Kubernetes'
/// `filterPodsWithPDBViolation`), keeping their order.
fn split_by_budget(
    pods: Vec<Arc<PodInfo>>,
    budgets: &[Budget],
) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    let mut allowed: Vec<i64> = budgets.iter().map(|b| b.allowed).collect();
    let mut violating = Vec::new();
    let mut fine = Vec::new();
    for pod in pods {
        let mut violated = false;
        if !pod.labels().is_empty() {
            for (i, budget) in budgets.iter().enumerate() {
                if budget.namespace != pod.namespace()
                    || budget.selector.is_everything()
                    || !budget.selector.matches(pod.labels())
                    || budget.disrupted.iter().any(|d| d == pod.name())
                {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violated = true;
                }
            }
        }
        if violated {
            violating.push(pod);
        } else {
            fine.push(pod);
        }
    }
    (violating, fine)
}

impl DefaultPreemption {
    /// How many candidates to find among `nodes` potential nodes.
    pub fn num_candidates(&self, nodes: usize) -> usize {
        let nodes = nodes as i64;
        let n = (nodes * self.min_candidate_nodes_percentage / 100)
            .max(self.min_candidate_nodes_absolute);
        n.min(nodes).max(0) as usize
    }

    /// The victims on `node` (Kubernetes' `SelectVictimsOnNode`).
    fn select_victims(
        &self,
        framework: &Framework,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        budgets: &[Budget],
    ) -> Result<(Vec<Arc<PodInfo>>, usize), Status> {
        let mut potential: Vec<Arc<PodInfo>> = node
            .pods()
            .iter()
            .filter(|p| p.priority < pod.priority)
            .cloned()
            .collect();
        if potential.is_empty() {
            return Err(Status::unresolvable(REASON_NO_VICTIMS));
        }
        let mut dry_run = DryRun::new(framework, state, pod, node)?;
        for victim in &potential {
            dry_run.remove(victim)?;
        }
        let status = dry_run.filter();
        if !status.is_success() {
            return Err(status);
        }
        potential.sort_by(|a, b| importance_order(a, b));
        let (violating, fine) = split_by_budget(potential, budgets);
        let mixed = !violating.is_empty() && !fine.is_empty();
        let mut victims = Vec::new();
        let mut violations = 0;
        // Reprieve: put each pod back, most important first, and keep it when the pod still
        // fits; otherwise it is a victim.
        let mut reprieve = |p: &Arc<PodInfo>, dry_run: &mut DryRun<'_>| -> Result<bool, Status> {
            dry_run.add(p)?;
            let fits = dry_run.filter().is_success();
            if !fits {
                dry_run.remove(p)?;
                victims.push(p.clone());
            }
            Ok(fits)
        };
        for p in &violating {
            if !reprieve(p, &mut dry_run)? {
                violations += 1;
            }
        }
        for p in &fine {
            reprieve(p, &mut dry_run)?;
        }
        if mixed {
            victims.sort_by(|a, b| importance_order(a, b));
        }
        Ok((victims, violations))
    }
}

/// Orders pods most important first.
fn importance_order(a: &PodInfo, b: &PodInfo) -> std::cmp::Ordering {
    if more_important(a, b) {
        std::cmp::Ordering::Less
    } else if more_important(b, a) {
        std::cmp::Ordering::Greater
    } else {
        std::cmp::Ordering::Equal
    }
}

/// One node under a dry run: copies of the node and of the cycle state that pods are removed
/// from and put back into, and — when pods of at least the preemptor's priority are nominated
/// to the node — a second pair with those pods added. Checking the pod against both pairs is
/// Kubernetes' `RunFilterPluginsWithNominatedPods` on the current copies, without copying the
/// node and the state again for every check. When no PreFilter state of this cycle depends on
/// a node's pods, removing and adding pods leaves the state as it is, and the cycle's own
/// state serves every check.
struct DryRun<'a> {
    framework: &'a Framework,
    pod: &'a PodInfo,
    cycle_state: &'a CycleState,
    node: NodeInfo,
    state: Option<CycleState>,
    with_nominated: Option<(NodeInfo, Option<CycleState>)>,
}

impl<'a> DryRun<'a> {
    fn new(
        framework: &'a Framework,
        state: &'a CycleState,
        pod: &'a PodInfo,
        node: &NodeInfo,
    ) -> Result<DryRun<'a>, Status> {
        let copies_state = framework.has_active_pre_filter_extensions(state);
        let nominated = framework.handle().nominator().pods_for_node_at_least(
            node.name(),
            pod.priority,
            pod.uid(),
        );
        let with_nominated = if nominated.is_empty() {
            None
        } else {
            let mut node_with = node.clone();
            let mut state_with = copies_state.then(|| state.clone());
            for added in &nominated {
                node_with.add_pod(added.clone());
                if let Some(state_with) = &mut state_with {
                    let status =
                        framework.run_pre_filter_add_pod(state_with, pod, added, &node_with);
                    if !status.is_success() {
                        return Err(status);
                    }
                }
            }
            Some((node_with, state_with))
        };
        Ok(DryRun {
            framework,
            pod,
            cycle_state: state,
            node: node.clone(),
            state: copies_state.then(|| state.clone()),
            with_nominated,
        })
    }

    /// Takes `victim` off the node (in both copies).
    fn remove(&mut self, victim: &Arc<PodInfo>) -> Result<(), Status> {
        if let Some((node, state)) = &mut self.with_nominated {
            node.remove_pod(victim.uid());
            if let Some(state) = state {
                let status = self
                    .framework
                    .run_pre_filter_remove_pod(state, self.pod, victim, node);
                if !status.is_success() {
                    return Err(status);
                }
            }
        }
        self.node.remove_pod(victim.uid());
        if let Some(state) = &mut self.state {
            let status = self
                .framework
                .run_pre_filter_remove_pod(state, self.pod, victim, &self.node);
            if !status.is_success() {
                return Err(status);
            }
        }
        Ok(())
    }

    /// Puts `pod` back on the node (in both copies).
    fn add(&mut self, pod: &Arc<PodInfo>) -> Result<(), Status> {
        if let Some((node, state)) = &mut self.with_nominated {
            node.add_pod(pod.clone());
            if let Some(state) = state {
                let status = self
                    .framework
                    .run_pre_filter_add_pod(state, self.pod, pod, node);
                if !status.is_success() {
                    return Err(status);
                }
            }
        }
        self.node.add_pod(pod.clone());
        if let Some(state) = &mut self.state {
            let status = self
                .framework
                .run_pre_filter_add_pod(state, self.pod, pod, &self.node);
            if !status.is_success() {
                return Err(status);
            }
        }
        Ok(())
    }

    /// Filter on the current copies: with the nominated pods first, then without them.
    fn filter(&self) -> Status {
        if let Some((node, state)) = &self.with_nominated {
            let state = state.as_ref().unwrap_or(self.cycle_state);
            let status = self.framework.run_filter(state, self.pod, node);
            if !status.is_success() {
                return status;
            }
        }
        let state = self.state.as_ref().unwrap_or(self.cycle_state);
        self.framework.run_filter(state, self.pod, &self.node)
    }
}

/// Chooses among candidates as Kubernetes' `pickOneNodeForPreemption` does.
pub fn pick_one_node(candidates: &[Candidate]) -> Option<&Candidate> {
    type Score = fn(&Candidate) -> i128;
    let scores: [Score; 5] = [
        |c| -(c.pdb_violations as i128),
        |c| -i128::from(c.victims.first().map_or(0, |v| v.priority)),
        |c| {
            -c.victims
                .iter()
                .map(|v| i128::from(v.priority) + i128::from(i32::MAX) + 1)
                .sum::<i128>()
        },
        |c| -(c.victims.len() as i128),
        |c| {
            let highest = c.victims.first().map_or(0, |v| v.priority);
            c.victims
                .iter()
                .filter(|v| v.priority == highest)
                .map(|v| start_nanos(v))
                .min()
                .unwrap_or(i128::MIN)
        },
    ];
    let mut remaining: Vec<&Candidate> = candidates.iter().collect();
    for score in scores {
        if remaining.len() <= 1 {
            break;
        }
        let best = remaining.iter().map(|c| score(c)).max()?;
        remaining.retain(|c| score(c) == best);
    }
    remaining.first().copied()
}

impl Plugin for DefaultPreemption {
    fn name(&self) -> &str {
        NAME
    }
}

impl PostFilterPlugin for DefaultPreemption {
    fn post_filter(
        &self,
        context: &PostFilterContext<'_>,
        state: &CycleState,
        pod: &Arc<PodInfo>,
        statuses: &NodeToStatus,
    ) -> (Option<PostFilterResult>, Status) {
        let (result, status) = self.preempt(context, state, pod, statuses);
        if status.is_success() || status.reasons().is_empty() {
            return (result, status);
        }
        (
            result,
            Status::new(status.code(), format!("preemption: {}", status.message())),
        )
    }
}

impl DefaultPreemption {
    fn preempt(
        &self,
        context: &PostFilterContext<'_>,
        state: &CycleState,
        pod: &Arc<PodInfo>,
        statuses: &NodeToStatus,
    ) -> (Option<PostFilterResult>, Status) {
        let snapshot = context.snapshot;
        if pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.preemption_policy.as_deref())
            == Some("Never")
        {
            return (
                None,
                Status::unschedulable("not eligible due to preemptionPolicy=Never."),
            );
        }
        if let Some(nominated) = pod.nominated_node_name() {
            let status = snapshot.index_of(nominated).map(|i| statuses.get(i).code());
            if status.is_some_and(|c| c != Code::UnschedulableAndUnresolvable) {
                if let Some(node) = snapshot.get(nominated) {
                    // It already preempted there and waits for its victims to go, rather
                    // than picking more of them.
                    if node
                        .pods()
                        .iter()
                        .any(|p| p.priority < pod.priority && terminating_by_preemption(p))
                    {
                        return (None, Status::unschedulable(REASON_TERMINATING_VICTIM));
                    }
                }
            }
        }
        if snapshot.is_empty() {
            return (None, Status::error("no nodes available"));
        }
        let potential = statuses.nodes_for_status_code(snapshot, Code::Unschedulable);
        let mut dry_run_statuses = NodeToStatus::new();
        let mut non_violating = Vec::new();
        let mut violating = Vec::new();
        if !potential.is_empty() {
            let budgets = budgets(&snapshot.objects().pod_disruption_budgets);
            let wanted = self.num_candidates(potential.len());
            let offset = (context.random % potential.len() as u64) as usize;
            let framework = context.framework;
            let dry_run = |i: usize| {
                let node = potential[(offset + i) % potential.len()];
                (
                    node,
                    self.select_victims(framework, state, pod, node, &budgets),
                )
            };
            // Nodes are dry-run in waves (in parallel on the handle's threads when a wave is
            // large enough) and the results read in order, so the candidates are exactly those
            // of a one-by-one search from the offset that stops once enough are found.
            let mut examined = 0;
            'waves: while examined < potential.len() {
                let found = non_violating.len() + violating.len();
                let needed = wanted.saturating_sub(found).max(1);
                let estimate = if found == 0 || examined == 0 {
                    needed
                } else {
                    needed.saturating_mul(examined).div_ceil(found)
                };
                let parallel = framework.handle().parallelism() > 1;
                let wave = if parallel {
                    estimate.max(PARALLEL_DRY_RUN_WAVE)
                } else {
                    needed
                }
                .min(potential.len() - examined);
                let range = examined..examined + wave;
                let results: Vec<_> = if parallel && wave >= PARALLEL_DRY_RUN_WAVE {
                    framework
                        .handle()
                        .install(|| range.into_par_iter().map(dry_run).collect())
                } else {
                    range.map(dry_run).collect()
                };
                examined += wave;
                for (node, result) in results {
                    match result {
                        Ok((victims, violations)) if !victims.is_empty() => {
                            let candidate = Candidate {
                                node: node.name().to_owned(),
                                victims,
                                pdb_violations: violations,
                            };
                            if violations == 0 {
                                non_violating.push(candidate);
                            } else {
                                violating.push(candidate);
                            }
                            if !non_violating.is_empty()
                                && non_violating.len() + violating.len() >= wanted
                            {
                                break 'waves;
                            }
                        }
                        Ok(_) => dry_run_statuses.set(
                            snapshot.index_of(node.name()).unwrap_or(usize::MAX),
                            Status::error(format!(
                                "expected at least one victim pod on node {:?}",
                                node.name()
                            )),
                        ),
                        Err(status) => dry_run_statuses
                            .set(snapshot.index_of(node.name()).unwrap_or(usize::MAX), status),
                    }
                }
            }
        }
        let candidates: Vec<Candidate> = non_violating.into_iter().chain(violating).collect();
        if candidates.is_empty() {
            dry_run_statuses.set_absent(Status::unresolvable(REASON_NOT_HELPFUL));
            let error = FitError {
                num_all_nodes: snapshot.len(),
                diagnosis: Diagnosis {
                    node_to_status: dry_run_statuses,
                    ..Diagnosis::default()
                },
            };
            let message = error.to_string();
            let message = message.strip_suffix('.').unwrap_or(&message).to_owned();
            return (
                Some(PostFilterResult::default()),
                Status::unschedulable(message),
            );
        }
        let Some(best) = pick_one_node(&candidates) else {
            return (
                None,
                Status::unschedulable("no candidate node for preemption"),
            );
        };
        (
            Some(PostFilterResult {
                nominated_node_name: Some(best.node.clone()),
                victims: best.victims.clone(),
            }),
            Status::success(),
        )
    }
}

/// The factory.
pub fn factory(args: &PluginArgs<'_>, _: &Arc<Handle>) -> Result<PluginInstance, ConfigError> {
    let decoded: DefaultPreemptionArgs = args.decode()?;
    let percentage = decoded.min_candidate_nodes_percentage.unwrap_or(10);
    let absolute = decoded.min_candidate_nodes_absolute.unwrap_or(100);
    let mut errors = Vec::new();
    if !(0..=100).contains(&percentage) {
        errors.push(FieldError::invalid(
            args.path.child("minCandidateNodesPercentage"),
            percentage,
            "not in valid range [0, 100]",
        ));
    }
    if absolute < 0 {
        errors.push(FieldError::invalid(
            args.path.child("minCandidateNodesAbsolute"),
            absolute,
            "not in valid range [0, inf)",
        ));
    }
    if percentage == 0 && absolute == 0 {
        errors.push(FieldError::invalid(
            args.path.child("minCandidateNodesPercentage"),
            percentage,
            "cannot be zero at the same time as minCandidateNodesAbsolute",
        ));
    }
    if !errors.is_empty() {
        return Err(ConfigError::fields(errors));
    }
    let plugin = DefaultPreemption {
        min_candidate_nodes_percentage: i64::from(percentage),
        min_candidate_nodes_absolute: i64::from(absolute),
    };
    Ok(PluginInstance::builder(Arc::new(plugin))
        .post_filter()
        .build())
}

/// The victims of a node, keyed by node, for inspection in tests and tools.
pub fn candidates_by_node(candidates: &[Candidate]) -> BTreeMap<&str, &Candidate> {
    candidates.iter().map(|c| (c.node.as_str(), c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::pod_with;
    use serde_json::json;

    fn victim(priority: i32, started: &str) -> Arc<PodInfo> {
        let mut p = (*pod_with(
            json!({"labels": {"app": "v"}}),
            json!({"priority": priority}),
        )
        .pod)
            .clone();
        p.status = Some(k8s_openapi::api::core::v1::PodStatus {
            start_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                started.parse().expect("time"),
            )),
            ..Default::default()
        });
        Arc::new(PodInfo::new(p))
    }

    fn candidate(node: &str, victims: Vec<Arc<PodInfo>>, pdb_violations: usize) -> Candidate {
        Candidate {
            node: node.into(),
            victims,
            pdb_violations,
        }
    }

    const EARLY: &str = "2024-01-01T00:00:00Z";
    const LATE: &str = "2024-06-01T00:00:00Z";

    #[test]
    fn candidate_choice_follows_kubernetes_order() {
        // Fewest PDB violations first.
        let c = [
            candidate("a", vec![victim(1, EARLY)], 1),
            candidate("b", vec![victim(5, EARLY)], 0),
        ];
        assert_eq!(pick_one_node(&c).map(|c| c.node.as_str()), Some("b"));
        // Then the lowest highest-priority victim.
        let c = [
            candidate("a", vec![victim(5, EARLY)], 0),
            candidate("b", vec![victim(3, EARLY), victim(3, EARLY)], 0),
        ];
        assert_eq!(pick_one_node(&c).map(|c| c.node.as_str()), Some("b"));
        // Then the lowest sum of priorities.
        let c = [
            candidate("a", vec![victim(3, EARLY), victim(2, EARLY)], 0),
            candidate("b", vec![victim(3, EARLY), victim(1, EARLY)], 0),
        ];
        assert_eq!(pick_one_node(&c).map(|c| c.node.as_str()), Some("b"));
        // Then the fewest victims.
        let c = [
            candidate("a", vec![victim(3, EARLY), victim(0, EARLY)], 0),
            candidate("b", vec![victim(3, EARLY)], 0),
        ];
        // Sums: a = 3 + 0 + 2·(2^31), b = 3 + 2^31: b has the lower sum already.
        assert_eq!(pick_one_node(&c).map(|c| c.node.as_str()), Some("b"));
        // Then the latest start of the most important victims.
        let c = [
            candidate("a", vec![victim(3, EARLY)], 0),
            candidate("b", vec![victim(3, LATE)], 0),
        ];
        assert_eq!(pick_one_node(&c).map(|c| c.node.as_str()), Some("b"));
    }

    #[test]
    fn budgets_split_victims_into_violating_and_not() {
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({
            "metadata": {"name": "pdb", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "v"}}},
            "status": {"disruptionsAllowed": 1, "currentHealthy": 2, "desiredHealthy": 1, "expectedPods": 2}
        }))
        .expect("pdb");
        let budgets = budgets(&[Arc::new(pdb)]);
        let pods = vec![victim(1, EARLY), victim(1, LATE), victim(1, LATE)];
        let (violating, fine) = split_by_budget(pods, &budgets);
        assert_eq!((violating.len(), fine.len()), (2, 1));
    }

    #[test]
    fn candidate_count_is_ten_percent_at_least_one_hundred() {
        let p = DefaultPreemption {
            min_candidate_nodes_percentage: 10,
            min_candidate_nodes_absolute: 100,
        };
        assert_eq!(p.num_candidates(50), 50);
        assert_eq!(p.num_candidates(500), 100);
        assert_eq!(p.num_candidates(5000), 500);
    }
}
