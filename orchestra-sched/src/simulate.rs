//! `simulate`: run the scheduler over nodes and pods you hold, with no control plane.
//!
//! Researchers measure algorithms on simulated clusters and traces; platform teams embed the
//! scheduling algorithm over their own data. A simulation builds the profiles of a
//! configuration (your own plugins included, through a [`Registry`]), puts the nodes and the
//! pods that already name a node in a [`Cache`], queues the other pods in a
//! [`SchedulingQueue`](crate::scheduling_queue::SchedulingQueue) and schedules them one by one
//! exactly as the scheduler would — Filter and Score in parallel, Reserve, Permit (pods held by
//! Permit wait for the plugin's decision or their timeout), preemption (victims are evicted
//! and pods whose plugins registered for pod deletions are retried), binding (recorded, not
//! written anywhere). Time is virtual: back-offs and Permit timeouts pass instantly. Nothing
//! here needs tokio.
//!
//! The result says where each pod went, or why it could not go anywhere — Kubernetes' message
//! and the number of nodes each plugin rejected for each reason.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::cache::Cache;
use crate::cluster_objects::ClusterObjects;
use crate::config::{ConfigError, KubeSchedulerConfiguration};
use crate::fit_error::FitError;
use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventObject, EventResource, Framework, Handle,
    QueuedPodInfo, Registry, Status,
};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::profiles::build_frameworks;
use crate::schedule_one::{CycleOutcome, Scheduling, binding_cycle};
use crate::scheduling_queue::SchedulingQueue;
use crate::snapshot::Snapshot;

/// How many nodes a plugin rejected for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginReason {
    /// The plugin (empty for statuses not from a plugin).
    pub plugin: String,
    /// The reason.
    pub reason: String,
    /// How many nodes.
    pub nodes: usize,
}

/// What became of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Bound to a node by the simulation.
    Scheduled,
    /// Already named a node in its `spec.nodeName`: kept there.
    AlreadyBound,
    /// No node fits.
    Unschedulable,
    /// Scheduled, then evicted to make room for a pod of higher priority.
    Preempted {
        /// The preemptor (`namespace/name`).
        by: String,
    },
    /// Kept out of the queue by a PreEnqueue plugin (scheduling gates).
    Gated,
    /// Its `schedulerName` has no profile in the configuration.
    NoProfile,
    /// A plugin failed.
    Error,
}

/// Where one pod went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// `namespace/name`.
    pub pod: String,
    /// The node, when the pod ended on one.
    pub node: Option<String>,
    /// What happened.
    pub outcome: Outcome,
    /// Kubernetes' message for a pod that could not be placed (`0/3 nodes are available: …`).
    pub message: Option<String>,
    /// Per plugin and reason, how many nodes rejected the pod in its last attempt.
    pub reasons: Vec<PluginReason>,
    /// The node preemption nominated for it, if any.
    pub nominated_node: Option<String>,
    /// How many scheduling attempts it took.
    pub attempts: u32,
}

impl Placement {
    /// Whether the pod ended on a node.
    pub fn is_placed(&self) -> bool {
        self.node.is_some()
    }
}

/// The outcome of a simulation.
#[derive(Debug, Clone)]
pub struct SimulationResult {
    /// One entry per input pod, in input order.
    pub placements: Vec<Placement>,
    /// The nodes at the end, with the pods on them.
    pub nodes: Vec<NodeInfo>,
    /// How many scheduling cycles ran.
    pub cycles: usize,
}

impl SimulationResult {
    /// How many pods ended on a node.
    pub fn placed(&self) -> usize {
        self.placements.iter().filter(|p| p.is_placed()).count()
    }

    /// The placement of a pod by `namespace/name`.
    pub fn placement(&self, key: &str) -> Option<&Placement> {
        self.placements.iter().find(|p| p.pod == key)
    }
}

/// A configurable simulation. [`simulate`] is the one-call form.
#[derive(Debug, Clone)]
pub struct Simulation {
    config: KubeSchedulerConfiguration,
    registry: Registry,
    objects: ClusterObjects,
    seed: u64,
    parallelism: Option<usize>,
    max_cycles_per_pod: usize,
}

impl Default for Simulation {
    fn default() -> Simulation {
        Simulation::new(KubeSchedulerConfiguration::default_config())
    }
}

struct Waiting {
    framework: Arc<Framework>,
    state: CycleState,
    info: QueuedPodInfo,
    node: String,
}

impl Simulation {
    /// A simulation with this (defaulted) configuration and the default plugins.
    pub fn new(config: KubeSchedulerConfiguration) -> Simulation {
        Simulation {
            config,
            registry: Registry::with_default_plugins(),
            objects: ClusterObjects::new(),
            seed: 0,
            parallelism: None,
            max_cycles_per_pod: 16,
        }
    }

    /// Uses these plugin factories (add your own to [`Registry::with_default_plugins`]).
    pub fn with_registry(mut self, registry: Registry) -> Simulation {
        self.registry = registry;
        self
    }

    /// Namespaces, volumes, disruption budgets and workloads the plugins consult.
    pub fn with_objects(mut self, objects: ClusterObjects) -> Simulation {
        self.objects = objects;
        self
    }

    /// The seed of random choices (ties between nodes); the same seed gives the same result.
    pub fn with_seed(mut self, seed: u64) -> Simulation {
        self.seed = seed;
        self
    }

    /// Threads for Filter and Score (default: the configuration's `parallelism`, else the
    /// number of cores).
    pub fn with_parallelism(mut self, threads: usize) -> Simulation {
        self.parallelism = Some(threads);
        self
    }

    /// Runs the simulation.
    pub fn run(
        &self,
        nodes: impl IntoIterator<Item = Node>,
        pods: impl IntoIterator<Item = Pod>,
    ) -> Result<SimulationResult, ConfigError> {
        let threads = self
            .parallelism
            .or(self.config.parallelism.map(|p| p.max(1) as usize))
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let handle = Arc::new(Handle::new(None, threads));
        let frameworks = build_frameworks(&self.config, &self.registry, &handle)?;
        let Some(mut queue) = SchedulingQueue::new(
            frameworks.clone(),
            self.config.initial_backoff(),
            self.config.max_backoff(),
        ) else {
            return Err(ConfigError::message("the configuration has no profile"));
        };
        let mut run = Run {
            cache: Cache::new(),
            snapshot: Snapshot::new(),
            scheduling: Scheduling::new(self.seed),
            now: Instant::now(),
            placements: Vec::new(),
            index: HashMap::new(),
            waiting: HashMap::new(),
            cycles: 0,
            handle,
        };
        run.cache
            .set_cluster_objects(Arc::new(self.objects.clone()));
        for node in nodes {
            run.cache.add_node(Arc::new(node));
        }
        let mut pending = 0;
        for pod in pods {
            let info = Arc::new(PodInfo::new(pod));
            run.index
                .insert(info.uid().to_owned(), run.placements.len());
            let bound = info.node_name().map(str::to_owned);
            run.placements.push(Placement {
                pod: info.key().to_owned(),
                node: bound.clone(),
                outcome: if bound.is_some() {
                    Outcome::AlreadyBound
                } else {
                    Outcome::Unschedulable
                },
                message: None,
                reasons: Vec::new(),
                nominated_node: None,
                attempts: 0,
            });
            if bound.is_some() {
                if let Err(error) = run.cache.add_pod(info) {
                    tracing::warn!(%error, "pod listed twice");
                }
            } else if !frameworks.contains_key(info.scheduler_name()) {
                let i = run.placements.len() - 1;
                run.placements[i].outcome = Outcome::NoProfile;
                run.placements[i].message = Some(format!(
                    "no profile for scheduler name {:?}",
                    info.scheduler_name()
                ));
            } else {
                queue.add(info, run.now);
                pending += 1;
            }
        }
        let max_cycles = pending * self.max_cycles_per_pod + 16;
        loop {
            queue.flush_backoff_completed(run.now);
            if let Some(info) = queue.pop() {
                if run.cycles >= max_cycles {
                    queue.done(info.pod.uid());
                    continue;
                }
                let Some(framework) = frameworks.get(info.pod.scheduler_name()).cloned() else {
                    queue.done(info.pod.uid());
                    continue;
                };
                run.cycle(&framework, &mut queue, info);
                run.settle_waiting(&mut queue);
                continue;
            }
            let next = match (
                queue.next_due(false),
                run.handle.waiting_pods().earliest_deadline(),
            ) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let Some(next) = next else { break };
            run.now = run.now.max(next);
            run.handle.waiting_pods().expire(run.now);
            run.settle_waiting(&mut queue);
        }
        // Gated pods never entered the active queue.
        for info in queue.unschedulable_pods() {
            if info.gated {
                if let Some(&i) = run.index.get(info.pod.uid()) {
                    run.placements[i].outcome = Outcome::Gated;
                    run.placements[i].message = info.gating_message.clone();
                }
            }
        }
        run.cache.update_snapshot(&mut run.snapshot);
        Ok(SimulationResult {
            placements: run.placements,
            nodes: run.snapshot.nodes().to_vec(),
            cycles: run.cycles,
        })
    }
}

struct Run {
    cache: Cache,
    snapshot: Snapshot,
    scheduling: Scheduling,
    now: Instant,
    placements: Vec<Placement>,
    index: HashMap<String, usize>,
    waiting: HashMap<String, Waiting>,
    cycles: usize,
    handle: Arc<Handle>,
}

fn plugin_reasons(fit_error: &FitError) -> Vec<PluginReason> {
    fit_error
        .diagnosis
        .node_to_status
        .plugin_reason_histogram(fit_error.num_all_nodes)
        .into_iter()
        .map(|((plugin, reason), nodes)| PluginReason {
            plugin,
            reason,
            nodes,
        })
        .collect()
}

impl Run {
    fn placement(&mut self, pod: &PodInfo) -> Option<&mut Placement> {
        let i = *self.index.get(pod.uid())?;
        self.placements.get_mut(i)
    }

    fn cycle(
        &mut self,
        framework: &Arc<Framework>,
        queue: &mut SchedulingQueue,
        info: QueuedPodInfo,
    ) {
        self.cycles += 1;
        self.cache.update_snapshot(&mut self.snapshot);
        let pod = info.pod.clone();
        if let Some(p) = self.placement(&pod) {
            p.attempts = info.attempts;
        }
        match self.scheduling.scheduling_cycle(
            framework,
            &mut self.cache,
            &self.snapshot,
            &pod,
            self.now,
        ) {
            CycleOutcome::Assumed {
                node,
                state,
                waiting: false,
                ..
            } => {
                self.bind(framework, queue, state, info, node);
            }
            CycleOutcome::Assumed {
                node,
                state,
                waiting: true,
                ..
            } => {
                self.waiting.insert(
                    pod.uid().to_owned(),
                    Waiting {
                        framework: framework.clone(),
                        state,
                        info,
                        node,
                    },
                );
            }
            CycleOutcome::Unschedulable {
                message,
                fit_error,
                plugins,
                post_filter,
            } => {
                let reasons = fit_error.as_ref().map(plugin_reasons).unwrap_or_default();
                let mut retry = info;
                if let Some(result) = post_filter {
                    if let Some(node) = result.nominated_node_name.clone() {
                        for victim in &result.victims {
                            self.evict(victim, &pod, queue);
                        }
                        // The preemptor remembers its nominated node, and lower-priority pods
                        // nominated there lose theirs.
                        for other in self.handle.nominator().pods_for_node(&node) {
                            if other.priority < pod.priority {
                                self.handle.nominator().remove(other.uid());
                            }
                        }
                        let mut object = (*pod.pod).clone();
                        object
                            .status
                            .get_or_insert_with(Default::default)
                            .nominated_node_name = Some(node.clone());
                        let nominated = Arc::new(PodInfo::new(object));
                        self.handle.nominator().add(nominated.clone(), &node);
                        retry.pod = nominated;
                        if let Some(p) = self.placement(&pod) {
                            p.nominated_node = Some(node);
                        }
                    }
                }
                if let Some(p) = self.placement(&pod) {
                    p.outcome = Outcome::Unschedulable;
                    p.message = Some(message);
                    p.reasons = reasons;
                }
                queue.add_unschedulable(retry, plugins, self.now);
            }
            CycleOutcome::Error(status) => {
                if let Some(p) = self.placement(&pod) {
                    p.outcome = Outcome::Error;
                    p.message = Some(status.message());
                }
                queue.add_unschedulable(info, Vec::new(), self.now);
            }
        }
    }

    fn evict(&mut self, victim: &Arc<PodInfo>, preemptor: &PodInfo, queue: &mut SchedulingQueue) {
        if self.cache.remove_pod(victim.uid()).is_err() {
            return;
        }
        if let Some(p) = self.placement(victim) {
            p.node = None;
            p.outcome = Outcome::Preempted {
                by: preemptor.key().to_owned(),
            };
        }
        queue.move_on_event(
            ClusterEvent::new(EventResource::Pod, ActionType::DELETE),
            Some(&EventObject::Pod(victim.pod.clone())),
            None,
            self.now,
        );
    }

    fn bind(
        &mut self,
        framework: &Arc<Framework>,
        queue: &mut SchedulingQueue,
        mut state: CycleState,
        info: QueuedPodInfo,
        node: String,
    ) {
        let pod = info.pod.clone();
        let status =
            futures::executor::block_on(binding_cycle(framework, &state, &pod, &node, false));
        self.finish_binding(framework, queue, &mut state, info, &node, status);
    }

    fn finish_binding(
        &mut self,
        framework: &Arc<Framework>,
        queue: &mut SchedulingQueue,
        state: &mut CycleState,
        info: QueuedPodInfo,
        node: &str,
        status: Status,
    ) {
        let pod = info.pod.clone();
        if status.is_success() {
            let _ = self.cache.finish_binding(pod.uid());
            self.handle.nominator().remove(pod.uid());
            queue.done(pod.uid());
            if let Some(p) = self.placement(&pod) {
                p.node = Some(node.to_owned());
                p.outcome = Outcome::Scheduled;
                p.message = None;
                p.reasons.clear();
            }
            queue.move_on_event(
                ClusterEvent::new(EventResource::Pod, ActionType::ADD),
                None,
                Some(&EventObject::Pod(pod.pod.clone())),
                self.now,
            );
            return;
        }
        framework.run_unreserve(state, &pod, node);
        let _ = self.cache.forget_pod(pod.uid());
        let plugins: Vec<String> = if status.is_rejected() {
            status
                .plugin()
                .map(|p| vec![p.to_owned()])
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        if let Some(p) = self.placement(&pod) {
            p.outcome = if status.is_rejected() {
                Outcome::Unschedulable
            } else {
                Outcome::Error
            };
            p.message = Some(status.message());
        }
        // The pod's room is free again: pods waiting for deletions may now fit.
        queue.move_on_event(
            ClusterEvent::new(EventResource::Pod, ActionType::DELETE),
            Some(&EventObject::Pod(pod.pod.clone())),
            None,
            self.now,
        );
        queue.add_unschedulable(info, plugins, self.now);
    }

    /// Binds or releases pods whose Permit wait was decided.
    fn settle_waiting(&mut self, queue: &mut SchedulingQueue) {
        if self.waiting.is_empty() {
            return;
        }
        for (waiting_pod, status) in self.handle.waiting_pods().decided() {
            let uid = waiting_pod.pod().uid().to_owned();
            self.handle.waiting_pods().remove(&uid);
            let Some(mut w) = self.waiting.remove(&uid) else {
                continue;
            };
            let status = if status.is_success() {
                futures::executor::block_on(binding_cycle(
                    &w.framework,
                    &w.state,
                    &w.info.pod,
                    &w.node,
                    false,
                ))
            } else {
                status
            };
            let framework = w.framework.clone();
            self.finish_binding(
                &framework,
                queue,
                &mut w.state,
                w.info,
                &w.node.clone(),
                status,
            );
        }
    }
}

/// Schedules `pods` onto `nodes` with `config`'s profiles (pods go to the profile of their
/// `schedulerName`) and the default plugins; see [`Simulation`] for more control.
pub fn simulate(
    nodes: impl IntoIterator<Item = Node>,
    pods: impl IntoIterator<Item = Pod>,
    config: &KubeSchedulerConfiguration,
) -> Result<SimulationResult, ConfigError> {
    Simulation::new(config.clone()).run(nodes, pods)
}

/// Placements grouped by node, for reports.
pub fn pods_by_node(result: &SimulationResult) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &result.placements {
        if let Some(node) = &p.node {
            map.entry(node.clone()).or_default().push(p.pod.clone());
        }
    }
    map
}

/// The default Permit timeout bound, re-exported for plugins that pick their own.
pub const MAX_PERMIT_WAIT: Duration = crate::framework::runtime::MAX_PERMIT_TIMEOUT;
