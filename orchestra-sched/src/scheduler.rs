//! `Scheduler`: the scheduling loop against an API server, through any `orchestra_api::Client`.
//!
//! Informers (from `orchestra-controller`) keep the [`Cache`] of nodes and bound pods and the
//! [`SchedulingQueue`] of pending pods current; pods are taken by the profile named in their
//! `spec.schedulerName` (pods of other schedulers are left alone, so this can run as a second
//! scheduler next to another). For each pod the loop runs a scheduling cycle on a blocking
//! thread (Filter and Score fan out on the framework's threads), then binds asynchronously:
//! Permit waits (with their timeouts), PreBind, and Bind, which the DefaultBinder writes to the
//! `pods/binding` subresource. A pod that fits nowhere gets Kubernetes' `PodScheduled=False`
//! condition with reason `Unschedulable` and the `0/N nodes are available: …` message, and a
//! `FailedScheduling` Event; preemption marks its victims with the `DisruptionTarget` condition,
//! deletes them (victims waiting in Permit are rejected instead) with a `Preempted` Event each,
//! and records the preemptor's `status.nominatedNodeName`; pods of lower priority nominated to
//! the same node lose their nomination (in the nominator and in their status), since the room
//! they were waiting for is the preemptor's now. The nominator follows the pods'
//! `status.nominatedNodeName` as the informer reports them.
//!
//! All waiting uses tokio time, so tests can pause it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Event, EventSource, Namespace, Node, ObjectReference, PersistentVolume, PersistentVolumeClaim,
    Pod, PodCondition, Service,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use orchestra_api::{
    Api, Client, DeleteParams, Patch, PatchParams, PostParams, Served, StatusReason, Subresource,
    kinds,
};
use orchestra_controller::informer::{
    HandlerFns, HandlerRegistration, Informer, SharedInformerFactory,
};
use tokio::sync::Notify;

use crate::cache::Cache;
use crate::cluster_objects::ClusterObjects;
use crate::config::{ConfigError, KubeSchedulerConfiguration};
use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventObject, EventResource, Framework, Handle,
    QueuedPodInfo, Registry, Status,
};
use crate::plugins::default_preemption::{DISRUPTION_TARGET, REASON_PREEMPTION_BY_SCHEDULER};
use crate::pod_info::PodInfo;
use crate::profiles::build_frameworks;
use crate::schedule_one::{CycleOutcome, Scheduling, binding_cycle};
use crate::scheduling_queue::SchedulingQueue;
use crate::snapshot::Snapshot;

/// The plugin named when a victim waiting in Permit is rejected.
const DEFAULT_PREEMPTION: &str = crate::plugins::default_preemption::NAME;

/// The scheduler. See the module docs.
pub struct Scheduler {
    client: Arc<dyn Client>,
    config: KubeSchedulerConfiguration,
    registry: Registry,
    seed: u64,
}

struct State {
    cache: Cache,
    queue: SchedulingQueue,
}

struct Shared {
    state: Mutex<State>,
    wake: Notify,
    frameworks: BTreeMap<String, Arc<Framework>>,
    handle: Arc<Handle>,
    client: Arc<dyn Client>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now() -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

fn uid_of(pod: &Pod) -> String {
    PodInfo::new(Arc::new(pod.clone())).uid().to_owned()
}

fn is_assigned(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

fn is_finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// What changed between two versions of a node, as queue events.
fn node_update_action(old: &Node, new: &Node) -> ActionType {
    let mut action = ActionType::UPDATE_OTHER;
    if old.metadata.labels != new.metadata.labels {
        action = action | ActionType::UPDATE_NODE_LABEL;
    }
    let taints = |n: &Node| {
        (
            n.spec.as_ref().and_then(|s| s.taints.clone()),
            n.spec.as_ref().and_then(|s| s.unschedulable),
        )
    };
    if taints(old) != taints(new) {
        action = action | ActionType::UPDATE_NODE_TAINT;
    }
    let allocatable = |n: &Node| n.status.as_ref().and_then(|s| s.allocatable.clone());
    if allocatable(old) != allocatable(new) {
        action = action | ActionType::UPDATE_NODE_ALLOCATABLE;
    }
    let conditions = |n: &Node| n.status.as_ref().and_then(|s| s.conditions.clone());
    if conditions(old) != conditions(new) {
        action = action | ActionType::UPDATE_NODE_CONDITION;
    }
    if old.metadata.annotations != new.metadata.annotations {
        action = action | ActionType::UPDATE_NODE_ANNOTATION;
    }
    action
}

/// What changed between two versions of an assigned pod, as queue events.
fn pod_update_action(old: &Pod, new: &Pod) -> ActionType {
    let mut action = ActionType::UPDATE_OTHER;
    if old.metadata.labels != new.metadata.labels {
        action = action | ActionType::UPDATE_POD_LABEL;
    }
    let old_requests = PodInfo::new(Arc::new(old.clone())).requests.requests;
    let new_requests = PodInfo::new(Arc::new(new.clone())).requests.requests;
    if new_requests.milli_cpu < old_requests.milli_cpu || new_requests.memory < old_requests.memory
    {
        action = action | ActionType::UPDATE_POD_SCALE_DOWN;
    }
    action
}

impl Scheduler {
    /// A scheduler over `client` with a (defaulted, validated) configuration and the default
    /// plugins.
    pub fn new(client: Arc<dyn Client>, config: KubeSchedulerConfiguration) -> Scheduler {
        Scheduler {
            client,
            config,
            registry: Registry::with_default_plugins(),
            seed: 0,
        }
    }

    /// Uses these plugin factories.
    pub fn with_registry(mut self, registry: Registry) -> Scheduler {
        self.registry = registry;
        self
    }

    /// The seed of random tie-breaks.
    pub fn with_seed(mut self, seed: u64) -> Scheduler {
        self.seed = seed;
        self
    }

    /// Runs until `shutdown` completes. Fails at once (before watching anything) when the
    /// configuration names plugins or arguments that cannot be built.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ConfigError> {
        let threads = self
            .config
            .parallelism
            .map(|p| p.max(1) as usize)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let handle = Arc::new(Handle::new(Some(self.client.clone()), threads));
        let frameworks = build_frameworks(&self.config, &self.registry, &handle)?;
        let Some(queue) = SchedulingQueue::new(
            frameworks.clone(),
            self.config.initial_backoff(),
            self.config.max_backoff(),
        ) else {
            return Err(ConfigError::message("the configuration has no profile"));
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                cache: Cache::new(),
                queue,
            }),
            wake: Notify::new(),
            frameworks,
            handle,
            client: self.client.clone(),
        });
        let factory = SharedInformerFactory::new(self.client.clone());
        let nodes_seen = watch_nodes(&factory, &shared);
        let pods_seen = watch_pods(&factory, &shared);
        let objects_seen = watch_objects(&factory, &shared);
        factory.start();
        tracing::info!(profiles = ?shared.frameworks.keys().collect::<Vec<_>>(), "scheduler started");
        // As kube-scheduler waits for its caches, cycles start only once the nodes and pods
        // already in the cluster are in the cache: a pod is never judged against a partial
        // node list.
        let synced = async {
            let _ = nodes_seen.wait_synced().await;
            let _ = pods_seen.wait_synced().await;
            let _ = factory.wait_for_cache_sync().await;
            // The other objects (namespaces, volumes, disruption budgets, …) reach the cache
            // through their handlers: wait until each has seen its informer's first list.
            for registration in &objects_seen {
                let _ = registration.wait_synced().await;
            }
        };
        let scheduling = async {
            synced.await;
            schedule_loop(shared.clone(), self.seed).await;
        };
        tokio::select! {
            () = shutdown => {}
            () = scheduling => {}
        }
        factory.shutdown();
        Ok(())
    }
}

/// Feeds nodes into the cache; the registration tells when the existing ones are in.
fn watch_nodes(factory: &SharedInformerFactory, shared: &Arc<Shared>) -> HandlerRegistration {
    let informer = factory.informer::<Node>();
    let (add, update, delete) = (shared.clone(), shared.clone(), shared.clone());
    informer.add_handler(
        HandlerFns::new()
            .on_add(move |node: &Arc<Node>| {
                let mut state = add.lock();
                state.cache.add_node(node.clone());
                state.queue.move_on_event(
                    ClusterEvent::new(EventResource::Node, ActionType::ADD),
                    None,
                    Some(&EventObject::Node(node.clone())),
                    Shared::now(),
                );
                drop(state);
                add.wake.notify_one();
            })
            .on_update(move |old: &Arc<Node>, new: &Arc<Node>| {
                let action = node_update_action(old, new);
                let mut state = update.lock();
                state.cache.update_node(new.clone());
                state.queue.move_on_event(
                    ClusterEvent::new(EventResource::Node, action),
                    Some(&EventObject::Node(old.clone())),
                    Some(&EventObject::Node(new.clone())),
                    Shared::now(),
                );
                drop(state);
                update.wake.notify_one();
            })
            .on_delete(move |node: &Arc<Node>| {
                let mut state = delete.lock();
                state
                    .cache
                    .remove_node(node.metadata.name.as_deref().unwrap_or_default());
                drop(state);
                delete.wake.notify_one();
            }),
    )
}

/// Feeds pods into the cache and queue; the registration tells when the existing ones are in.
fn watch_pods(factory: &SharedInformerFactory, shared: &Arc<Shared>) -> HandlerRegistration {
    let informer = factory.informer::<Pod>();
    let (add, update, delete) = (shared.clone(), shared.clone(), shared.clone());
    informer.add_handler(
        HandlerFns::new()
            .on_add(move |pod: &Arc<Pod>| add.pod_added(pod))
            .on_update(move |old: &Arc<Pod>, new: &Arc<Pod>| update.pod_updated(old, new))
            .on_delete(move |pod: &Arc<Pod>| delete.pod_deleted(pod)),
    )
}

/// Rebuilds the cluster objects from the informers' caches whenever one of them changes.
/// Keeps the cache's [`ClusterObjects`] current with the informers of the objects plugins
/// consult; the registrations tell when the first lists have been applied.
fn watch_objects(
    factory: &SharedInformerFactory,
    shared: &Arc<Shared>,
) -> Vec<HandlerRegistration> {
    let namespaces = factory.informer::<Namespace>();
    let claims = factory.informer::<PersistentVolumeClaim>();
    let volumes = factory.informer::<PersistentVolume>();
    let classes = factory.informer::<StorageClass>();
    let budgets = factory.informer::<PodDisruptionBudget>();
    let services = factory.informer::<Service>();
    let replica_sets = factory.informer::<ReplicaSet>();
    let stateful_sets = factory.informer::<StatefulSet>();
    let rebuild = {
        let (namespaces, claims, volumes, classes) = (
            namespaces.clone(),
            claims.clone(),
            volumes.clone(),
            classes.clone(),
        );
        let (budgets, services, replica_sets, stateful_sets) = (
            budgets.clone(),
            services.clone(),
            replica_sets.clone(),
            stateful_sets.clone(),
        );
        let shared = shared.clone();
        // Handlers of different informers run concurrently: rebuilds take turns, so that the
        // last one to set the objects is also the last one to have read the informers.
        let rebuilding = Mutex::new(());
        Arc::new(move |resource: EventResource| {
            let _turn = rebuilding
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut objects = ClusterObjects::new();
            for ns in namespaces.cache().list() {
                objects.add_namespace(&ns);
            }
            for claim in claims.cache().list() {
                objects.add_persistent_volume_claim((*claim).clone());
            }
            for volume in volumes.cache().list() {
                objects.add_persistent_volume((*volume).clone());
            }
            for class in classes.cache().list() {
                objects.add_storage_class((*class).clone());
            }
            objects.pod_disruption_budgets = budgets.cache().list();
            objects.services = services.cache().list();
            objects.replica_sets = replica_sets.cache().list();
            objects.stateful_sets = stateful_sets.cache().list();
            let mut state = shared.lock();
            state.cache.set_cluster_objects(Arc::new(objects));
            state.queue.move_on_event(
                ClusterEvent::new(resource, ActionType::ADD | ActionType::UPDATE),
                None,
                None,
                Shared::now(),
            );
            drop(state);
            shared.wake.notify_one();
        })
    };
    fn on_change<K: Served + Send + Sync + 'static>(
        informer: &Informer<K>,
        resource: EventResource,
        rebuild: &Arc<dyn Fn(EventResource) + Send + Sync>,
    ) -> HandlerRegistration {
        let (a, u, d) = (rebuild.clone(), rebuild.clone(), rebuild.clone());
        informer.add_handler(
            HandlerFns::new()
                .on_add(move |_: &Arc<K>| a(resource))
                .on_update(move |_: &Arc<K>, _: &Arc<K>| u(resource))
                .on_delete(move |_: &Arc<K>| d(resource)),
        )
    }
    let rebuild: Arc<dyn Fn(EventResource) + Send + Sync> = rebuild;
    vec![
        on_change(&namespaces, EventResource::Namespace, &rebuild),
        on_change(&claims, EventResource::PersistentVolumeClaim, &rebuild),
        on_change(&volumes, EventResource::PersistentVolume, &rebuild),
        on_change(&classes, EventResource::StorageClass, &rebuild),
        on_change(&budgets, EventResource::Wildcard, &rebuild),
        on_change(&services, EventResource::Wildcard, &rebuild),
        on_change(&replica_sets, EventResource::Wildcard, &rebuild),
        on_change(&stateful_sets, EventResource::Wildcard, &rebuild),
    ]
}

impl Shared {
    fn responsible_for(&self, pod: &Pod) -> bool {
        let name = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref())
            .filter(|n| !n.is_empty())
            .unwrap_or("default-scheduler");
        self.frameworks.contains_key(name)
    }

    fn pod_added(&self, pod: &Arc<Pod>) {
        let now = Shared::now();
        let mut state = self.lock();
        if is_assigned(pod) {
            if !is_finished(pod) {
                let info = Arc::new(PodInfo::new(pod.clone()));
                if let Err(error) = state.cache.add_pod(info) {
                    tracing::debug!(%error, "pod already in the cache");
                }
                state.queue.move_on_event(
                    ClusterEvent::new(EventResource::Pod, ActionType::ADD),
                    None,
                    Some(&EventObject::Pod(pod.clone())),
                    now,
                );
            }
        } else if self.responsible_for(pod)
            && pod.metadata.deletion_timestamp.is_none()
            && !is_finished(pod)
        {
            let info = Arc::new(PodInfo::new(pod.clone()));
            self.follow_nomination(None, &info);
            state.queue.add(info, now);
        }
        drop(state);
        self.wake.notify_one();
    }

    fn pod_updated(&self, old: &Arc<Pod>, new: &Arc<Pod>) {
        let now = Shared::now();
        let uid = uid_of(new);
        let mut state = self.lock();
        if is_assigned(new) {
            state.queue.delete(&uid);
            self.handle.nominator().remove(&uid);
            if is_finished(new) {
                let _ = state.cache.remove_pod(&uid);
                state.queue.move_on_event(
                    ClusterEvent::new(EventResource::Pod, ActionType::DELETE),
                    Some(&EventObject::Pod(old.clone())),
                    None,
                    now,
                );
            } else {
                let info = Arc::new(PodInfo::new(new.clone()));
                let result = if is_assigned(old) && !state.cache.is_assumed(&uid) {
                    state.cache.update_pod(info.clone())
                } else {
                    state.cache.add_pod(info.clone())
                };
                if result.is_err() {
                    let _ = state.cache.update_pod(info);
                }
                let action = if is_assigned(old) {
                    pod_update_action(old, new)
                } else {
                    ActionType::ADD
                };
                state.queue.move_on_event(
                    ClusterEvent::new(EventResource::Pod, action),
                    Some(&EventObject::Pod(old.clone())),
                    Some(&EventObject::Pod(new.clone())),
                    now,
                );
            }
        } else if self.responsible_for(new) {
            if new.metadata.deletion_timestamp.is_some() || is_finished(new) {
                state.queue.delete(&uid);
                self.handle.nominator().remove(&uid);
            } else if !state.cache.is_assumed(&uid) {
                let info = Arc::new(PodInfo::new(new.clone()));
                self.follow_nomination(Some(old), &info);
                state.queue.update(info, now);
            }
        }
        drop(state);
        self.wake.notify_one();
    }

    /// Keeps the nominator in step with a pending pod's `status.nominatedNodeName`, as
    /// Kubernetes' queue does on each add and update of a pod: a pod whose status names a node
    /// is nominated there; a pod whose status just lost its node (another preemption cleared
    /// it) loses its nomination; a pod whose status names no node before and after keeps the
    /// node this scheduler nominated it to (the status write may not have been seen yet), with
    /// its object refreshed.
    fn follow_nomination(&self, old: Option<&Pod>, new: &Arc<PodInfo>) {
        let nominator = self.handle.nominator();
        if let Some(node) = new.nominated_node_name() {
            nominator.add(new.clone(), node);
            return;
        }
        let had_nomination = old
            .and_then(|p| p.status.as_ref())
            .and_then(|s| s.nominated_node_name.as_deref())
            .is_some_and(|n| !n.is_empty());
        if had_nomination {
            nominator.remove(new.uid());
        } else if let Some(node) = nominator.node_of(new.uid()) {
            let mut object = (*new.pod).clone();
            object
                .status
                .get_or_insert_with(Default::default)
                .nominated_node_name = Some(node.clone());
            nominator.add(Arc::new(PodInfo::new(object)), &node);
        }
    }

    fn pod_deleted(&self, pod: &Arc<Pod>) {
        let now = Shared::now();
        let uid = uid_of(pod);
        let mut state = self.lock();
        state.queue.delete(&uid);
        self.handle.nominator().remove(&uid);
        if let Some(waiting) = self.handle.waiting_pods().get(&uid) {
            waiting.reject("", "pod was deleted");
        }
        if state.cache.remove_pod(&uid).is_ok() {
            state.queue.move_on_event(
                ClusterEvent::new(EventResource::Pod, ActionType::DELETE),
                Some(&EventObject::Pod(pod.clone())),
                None,
                now,
            );
        }
        drop(state);
        self.wake.notify_one();
    }
}

async fn schedule_loop(shared: Arc<Shared>, seed: u64) {
    let mut scheduling = Some(Scheduling::new(seed));
    let mut snapshot = Some(Snapshot::new());
    loop {
        let popped = {
            let now = Shared::now();
            let mut state = shared.lock();
            state.queue.flush_backoff_completed(now);
            state.queue.flush_unschedulable_leftover(now);
            state.queue.pop()
        };
        let Some(info) = popped else {
            let due = shared.lock().queue.next_due(true);
            let wake = shared.wake.notified();
            match due {
                Some(due) => {
                    tokio::select! {
                        () = wake => {}
                        () = tokio::time::sleep_until(tokio::time::Instant::from_std(due)) => {}
                    }
                }
                None => wake.await,
            }
            continue;
        };
        let Some(framework) = shared.frameworks.get(info.pod.scheduler_name()).cloned() else {
            shared.lock().queue.done(info.pod.uid());
            continue;
        };
        let (Some(mut cycle_scheduling), Some(mut cycle_snapshot)) =
            (scheduling.take(), snapshot.take())
        else {
            return;
        };
        let now = Shared::now();
        let cycle_shared = shared.clone();
        let cycle_framework = framework.clone();
        let pod = info.pod.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut state = cycle_shared.lock();
            state.cache.update_snapshot(&mut cycle_snapshot);
            let outcome = cycle_scheduling.scheduling_cycle(
                &cycle_framework,
                &mut state.cache,
                &cycle_snapshot,
                &pod,
                now,
            );
            drop(state);
            (cycle_scheduling, cycle_snapshot, outcome)
        })
        .await;
        let Ok((s, snap, outcome)) = joined else {
            tracing::error!("scheduling cycle panicked; stopping the scheduler");
            return;
        };
        scheduling = Some(s);
        snapshot = Some(snap);
        handle_outcome(&shared, &framework, info, outcome).await;
    }
}

async fn handle_outcome(
    shared: &Arc<Shared>,
    framework: &Arc<Framework>,
    info: QueuedPodInfo,
    outcome: CycleOutcome,
) {
    match outcome {
        CycleOutcome::Assumed {
            node,
            state,
            waiting,
            ..
        } => {
            let shared = shared.clone();
            let framework = framework.clone();
            tokio::spawn(async move { bind(shared, framework, info, node, state, waiting).await });
        }
        CycleOutcome::Unschedulable {
            message,
            plugins,
            post_filter,
            ..
        } => {
            let mut retry = info;
            let mut nominated = None;
            if let Some(result) = post_filter {
                if let Some(node) = result.nominated_node_name.clone() {
                    for victim in &result.victims {
                        preempt(shared, &retry.pod, victim, &node).await;
                    }
                    clear_lower_priority_nominations(shared, &retry.pod, &node).await;
                    let mut object = (*retry.pod.pod).clone();
                    object
                        .status
                        .get_or_insert_with(Default::default)
                        .nominated_node_name = Some(node.clone());
                    let with_nomination = Arc::new(PodInfo::new(object));
                    shared
                        .handle
                        .nominator()
                        .add(with_nomination.clone(), &node);
                    retry.pod = with_nomination;
                    nominated = Some(node);
                }
            }
            let pod = retry.pod.clone();
            shared
                .lock()
                .queue
                .add_unschedulable(retry, plugins, Shared::now());
            record_failure(
                shared,
                &pod,
                "Unschedulable",
                &message,
                nominated.as_deref(),
            )
            .await;
        }
        CycleOutcome::Error(status) => {
            let pod = info.pod.clone();
            shared
                .lock()
                .queue
                .add_unschedulable(info, Vec::new(), Shared::now());
            record_failure(shared, &pod, "SchedulerError", &status.message(), None).await;
        }
    }
}

/// Evicts one victim of `preemptor`'s preemption on `node`, as Kubernetes' `PreemptPod`
/// does: a victim waiting in Permit is rejected (it goes back to the queue; nothing is
/// written); a victim already terminating is left to finish; any other first gets the
/// `DisruptionTarget` condition (reason `PreemptionByScheduler`), then is deleted gracefully.
/// Each victim gets a `Preempted` Event.
async fn preempt(shared: &Arc<Shared>, preemptor: &PodInfo, victim: &PodInfo, node: &str) {
    if let Some(waiting) = shared.handle.waiting_pods().get(victim.uid()) {
        waiting.reject(DEFAULT_PREEMPTION, "preempted");
    } else if victim.is_terminating() {
        return;
    } else {
        let message = format!(
            "{}: preempting to accommodate a higher priority pod",
            preemptor.scheduler_name()
        );
        let marked = victim
            .pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions.iter().any(|c| {
                    c.type_ == DISRUPTION_TARGET
                        && c.status == "True"
                        && c.reason.as_deref() == Some(REASON_PREEMPTION_BY_SCHEDULER)
                        && c.message.as_deref() == Some(message.as_str())
                })
            });
        let api: Api<Pod> = Api::namespaced(shared.client.clone(), victim.namespace());
        if !marked {
            let condition = PodCondition {
                type_: DISRUPTION_TARGET.to_owned(),
                status: "True".to_owned(),
                reason: Some(REASON_PREEMPTION_BY_SCHEDULER.to_owned()),
                message: Some(message),
                last_transition_time: Some(Time(jiff::Timestamp::now())),
                last_probe_time: None,
                observed_generation: None,
            };
            // Conditions merge by type: the victim's other conditions stay as they are.
            let patch =
                Patch::Strategic(serde_json::json!({"status": {"conditions": [condition]}}));
            match api
                .patch_status(victim.name(), &PatchParams::default(), &patch)
                .await
            {
                Ok(_) => {}
                Err(error) if error.is(&StatusReason::NotFound) => return,
                Err(error) => {
                    tracing::warn!(victim = victim.key(), %error, "could not add the DisruptionTarget condition; not deleting the victim");
                    return;
                }
            }
        }
        match api.delete(victim.name(), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(error) if error.is(&StatusReason::NotFound) => return,
            Err(error) => {
                tracing::warn!(victim = victim.key(), %error, "could not delete preemption victim");
                return;
            }
        }
    }
    let message = format!(
        "Preempted by pod {} on node {node}",
        preemptor.pod.metadata.uid.as_deref().unwrap_or_default()
    );
    emit_event(
        shared,
        victim,
        EventNote {
            component: preemptor.scheduler_name(),
            type_: "Normal",
            reason: "Preempted",
            action: "Preempting",
            message: &message,
            related: Some(preemptor),
        },
    )
    .await;
}

/// Drops the nominations to `node` of pods of lower priority than `preemptor`, as Kubernetes'
/// preemption does once it has made room there for `preemptor`: those pods may no longer fit
/// on the node (the room is the preemptor's now), so they look for another place when next
/// tried. The nominator forgets them at once, so no Filter counts them on the node any more,
/// and their `status.nominatedNodeName` is cleared through the API (a pod whose object names
/// no node is not written). A failed write is logged and does not fail the preemption: the
/// in-memory nomination is already gone.
async fn clear_lower_priority_nominations(shared: &Arc<Shared>, preemptor: &PodInfo, node: &str) {
    let nominator = shared.handle.nominator();
    let displaced: Vec<Arc<PodInfo>> = nominator
        .pods_for_node(node)
        .into_iter()
        .filter(|p| p.priority < preemptor.priority)
        .collect();
    for pod in &displaced {
        nominator.remove(pod.uid());
    }
    for pod in displaced {
        if pod.nominated_node_name().is_none() {
            continue;
        }
        let api: Api<Pod> = Api::namespaced(shared.client.clone(), pod.namespace());
        let patch = Patch::Merge(serde_json::json!({"status": {"nominatedNodeName": null}}));
        match api
            .patch_status(pod.name(), &PatchParams::default(), &patch)
            .await
        {
            Ok(_) => {
                tracing::debug!(
                    pod = pod.key(),
                    node,
                    preemptor = preemptor.key(),
                    "cleared the nomination of a lower-priority pod"
                );
            }
            Err(error) if error.is(&StatusReason::NotFound) => {}
            Err(error) => {
                tracing::warn!(pod = pod.key(), %error, "could not clear the nominatedNodeName of a lower-priority pod");
            }
        }
    }
}

async fn bind(
    shared: Arc<Shared>,
    framework: Arc<Framework>,
    info: QueuedPodInfo,
    node: String,
    mut state: CycleState,
    waiting: bool,
) {
    let pod = info.pod.clone();
    let mut status = Status::success();
    if waiting {
        let deadline = shared
            .handle
            .waiting_pods()
            .get(pod.uid())
            .and_then(|w| w.deadline());
        status = match deadline {
            Some(deadline) => {
                tokio::select! {
                    s = framework.wait_on_permit(&pod) => s,
                    () = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {
                        shared.handle.waiting_pods().expire(deadline);
                        framework.wait_on_permit(&pod).await
                    }
                }
            }
            None => framework.wait_on_permit(&pod).await,
        };
    }
    if status.is_success() {
        status = binding_cycle(&framework, &state, &pod, &node, false).await;
    }
    if status.is_success() {
        {
            let mut locked = shared.lock();
            let _ = locked.cache.finish_binding(pod.uid());
            locked.queue.done(pod.uid());
        }
        shared.handle.nominator().remove(pod.uid());
        let message = format!("Successfully assigned {} to {node}", pod.key());
        emit_event(
            &shared,
            &pod,
            EventNote {
                component: pod.scheduler_name(),
                type_: "Normal",
                reason: "Scheduled",
                action: "Binding",
                message: &message,
                related: None,
            },
        )
        .await;
        shared.wake.notify_one();
        return;
    }
    framework.run_unreserve(&mut state, &pod, &node);
    let plugins: Vec<String> = if status.is_rejected() {
        status
            .plugin()
            .map(|p| vec![p.to_owned()])
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    {
        let now = Shared::now();
        let mut locked = shared.lock();
        let _ = locked.cache.forget_pod(pod.uid());
        locked.queue.move_on_event(
            ClusterEvent::new(EventResource::Pod, ActionType::DELETE),
            Some(&EventObject::Pod(pod.pod.clone())),
            None,
            now,
        );
        locked.queue.add_unschedulable(info, plugins, now);
    }
    shared.wake.notify_one();
    let reason = if status.is_rejected() {
        "Unschedulable"
    } else {
        "SchedulerError"
    };
    record_failure(&shared, &pod, reason, &status.message(), None).await;
}

/// Sets `PodScheduled=False` with the reason and message (and the nominated node), and
/// records a `FailedScheduling` Event.
async fn record_failure(
    shared: &Arc<Shared>,
    pod: &PodInfo,
    reason: &str,
    message: &str,
    nominated: Option<&str>,
) {
    let mut conditions: Vec<PodCondition> = pod
        .pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let unchanged = conditions.iter().any(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some(reason)
            && c.message.as_deref() == Some(message)
    });
    if !unchanged || nominated.is_some() {
        conditions.retain(|c| c.type_ != "PodScheduled");
        conditions.push(PodCondition {
            type_: "PodScheduled".to_owned(),
            status: "False".to_owned(),
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            last_probe_time: None,
            last_transition_time: Some(Time(jiff::Timestamp::now())),
            observed_generation: None,
        });
        let mut status = serde_json::json!({"conditions": conditions});
        if let Some(node) = nominated {
            status["nominatedNodeName"] = serde_json::json!(node);
        }
        let patch = Patch::Merge(serde_json::json!({"status": status}));
        if let Err(error) = shared
            .client
            .patch(
                &kinds::PODS,
                Some(pod.namespace()),
                pod.name(),
                Some(Subresource::Status),
                &patch,
                &PatchParams::default(),
            )
            .await
        {
            tracing::debug!(pod = pod.key(), %error, "could not record the scheduling failure");
        }
    }
    emit_event(
        shared,
        pod,
        EventNote {
            component: pod.scheduler_name(),
            type_: "Warning",
            reason: "FailedScheduling",
            action: "Scheduling",
            message,
            related: None,
        },
    )
    .await;
}

/// What an Event the scheduler records says.
struct EventNote<'a> {
    /// The reporting scheduler (`schedulerName` of the profile).
    component: &'a str,
    /// `Normal` or `Warning`.
    type_: &'a str,
    reason: &'a str,
    action: &'a str,
    message: &'a str,
    /// The other pod involved (the preemptor of a `Preempted` victim).
    related: Option<&'a PodInfo>,
}

fn pod_reference(pod: &PodInfo) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_owned()),
        kind: Some("Pod".to_owned()),
        name: Some(pod.name().to_owned()),
        namespace: Some(pod.namespace().to_owned()),
        uid: pod.pod.metadata.uid.clone(),
        ..ObjectReference::default()
    }
}

/// Records an Event about `pod`.
async fn emit_event(shared: &Arc<Shared>, pod: &PodInfo, note: EventNote<'_>) {
    let now = jiff::Timestamp::now();
    let event = Event {
        metadata: ObjectMeta {
            name: Some(format!("{}.{:x}", pod.name(), now.as_nanosecond())),
            namespace: Some(pod.namespace().to_owned()),
            ..ObjectMeta::default()
        },
        involved_object: pod_reference(pod),
        related: note.related.map(pod_reference),
        reason: Some(note.reason.to_owned()),
        message: Some(note.message.to_owned()),
        type_: Some(note.type_.to_owned()),
        action: Some(note.action.to_owned()),
        source: Some(EventSource {
            component: Some(note.component.to_owned()),
            host: None,
        }),
        reporting_component: Some(note.component.to_owned()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        ..Event::default()
    };
    let api: Api<Event> = Api::namespaced(shared.client.clone(), pod.namespace());
    if let Err(error) = api.create(&PostParams::default(), &event).await {
        tracing::debug!(pod = pod.key(), %error, "could not record an event");
    }
}
