//! The node monitor: every `node_monitor_period`, look at every node (Kubernetes'
//! `monitorNodeHealth`), and every 100 ms taint the nodes whose turn has come
//! (`doNoExecuteTaintingPass`).
//!
//! For each node, in one pass:
//!
//! 1. its health is judged ([`HealthMap::observe`](super::health::HealthMap::observe)); a node
//!    silent past its grace period gets its conditions set to `Unknown`;
//! 2. from its `Ready` condition as it was *before* this pass: `False` or `Unknown` queue the
//!    node for the matching `NoExecute` taint (`not-ready` / `unreachable`; a node carrying
//!    the other one has it swapped at once), `True` removes both;
//! 3. a node that stopped being ready gets a `NodeNotReady` Event, and the pods on a node that
//!    is not ready are marked not ready (their `Ready` condition set to `False`), so they leave
//!    the Services' ready endpoints;
//! 4. the zones' states are recomputed and the taint queues' rates set from them (see
//!    [`zones`](super::zones)).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use orchestra_api::k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, PodCondition};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use orchestra_api::{Api, PostParams, Status, StatusReason};
use tokio::time::{Instant, MissedTickBehavior};

use super::LifecycleContext;
use super::health::{GracePeriods, HealthMap, node_condition};
use super::taints::{
    NO_EXECUTE, TAINT_NOT_READY, TAINT_UNREACHABLE, has_taint, swap_taints, taint,
};
use super::zones::{TaintQueue, ZoneState, excluded_from_disruption, zone_key, zone_state};
use crate::events::EventType;
use crate::informer::NODE_NAME_INDEX;

/// How often nodes waiting for a `NoExecute` taint are looked at (Kubernetes'
/// `NodeEvictionPeriod`).
pub const NODE_EVICTION_PERIOD: Duration = Duration::from_millis(100);
/// How many times a node's status write is retried after a conflict.
const HEALTH_UPDATE_RETRIES: usize = 5;
/// How long a node whose `Ready` condition could not be read waits before it is tried again.
const TAINT_RETRY_DELAY: Duration = Duration::from_millis(50);

/// The state one run of the monitor keeps.
struct Monitor {
    ctx: Arc<LifecycleContext>,
    health: HealthMap,
    zone_states: HashMap<String, ZoneState>,
    tainters: HashMap<String, TaintQueue>,
}

/// Runs the node monitor until dropped.
pub(super) async fn run(ctx: Arc<LifecycleContext>) {
    ctx.nodes.start();
    ctx.leases.start();
    ctx.pods.start();
    let synced = ctx.nodes.wait_synced().await.is_ok()
        && ctx.leases.wait_synced().await.is_ok()
        && ctx.pods.wait_synced().await.is_ok();
    if !synced {
        tracing::warn!("the informers stopped before they synced; the node monitor stops");
        return;
    }
    let mut monitor = Monitor {
        ctx: Arc::clone(&ctx),
        health: HealthMap::default(),
        zone_states: HashMap::new(),
        tainters: HashMap::new(),
    };
    let mut health_ticks = tokio::time::interval(ctx.config.node_monitor_period);
    health_ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut taint_ticks = tokio::time::interval(NODE_EVICTION_PERIOD);
    taint_ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tracing::info!(
        period = ?ctx.config.node_monitor_period,
        grace = ?ctx.config.node_monitor_grace_period,
        "node monitor started"
    );
    loop {
        tokio::select! {
            _ = health_ticks.tick() => monitor.monitor_node_health().await,
            _ = taint_ticks.tick() => monitor.no_execute_tainting_pass().await,
        }
    }
}

impl Monitor {
    fn grace(&self) -> GracePeriods {
        GracePeriods {
            monitor: self.ctx.config.node_monitor_grace_period,
            startup: self.ctx.config.node_startup_grace_period,
        }
    }

    /// One look at every node.
    async fn monitor_node_health(&mut self) {
        let nodes = self.ctx.nodes.cache().list();
        let now = Instant::now();
        let names: HashSet<String> = nodes
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        self.health.retain(|name| names.contains(name));
        for tainter in self.tainters.values_mut() {
            tainter.retain(|name| names.contains(name));
        }
        for node in &nodes {
            let zone = zone_key(node);
            let rate = self.ctx.config.node_eviction_rate;
            self.tainters
                .entry(zone.clone())
                .or_insert_with(|| TaintQueue::new(rate, now));
            self.zone_states.entry(zone).or_insert(ZoneState::Initial);
        }

        let mut zone_ready: HashMap<String, Vec<bool>> = HashMap::new();
        for node in &nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            let (observed, current, node) = match self.update_node_health(node).await {
                Ok(Some(outcome)) => outcome,
                Ok(None) => continue,
                Err(status) => {
                    tracing::warn!(node = %name, %status, "could not update the node's health; no pods will be evicted this time");
                    continue;
                }
            };
            if !excluded_from_disruption(&node) {
                zone_ready
                    .entry(zone_key(&node))
                    .or_default()
                    .push(current.as_ref().is_some_and(|c| c.status == "True"));
            }
            let Some(current) = current else {
                continue;
            };
            self.process_taint_based_eviction(&node, &observed).await;
            if current.status != "True" {
                if observed.status == "True" {
                    self.record_node_status_change(&node, "NodeNotReady").await;
                }
                self.mark_pods_not_ready(&name).await;
            }
        }
        self.handle_disruption(zone_ready, &nodes).await;
    }

    /// Judges one node's health and writes `Unknown` conditions if it fell silent, re-reading
    /// it after a conflict. The `Ready` condition before and after, and the node as it now is;
    /// `None` if the node is gone.
    async fn update_node_health(
        &mut self,
        node: &Arc<Node>,
    ) -> Result<Option<(NodeCondition, Option<NodeCondition>, Arc<Node>)>, Status> {
        let api = Api::<Node>::all(Arc::clone(&self.ctx.client));
        let name = node.metadata.name.clone().unwrap_or_default();
        let leases = self.ctx.leases.cache();
        let mut node = Arc::clone(node);
        let mut attempt = 0;
        loop {
            let lease = leases.get(Some(super::NODE_LEASE_NAMESPACE), &name);
            let now = Instant::now();
            let observation = self.health.observe(
                &node,
                lease.as_deref(),
                self.grace(),
                now,
                self.ctx.clock.now(),
            );
            let Some(update) = observation.update else {
                return Ok(Some((
                    observation.observed_ready,
                    observation.current_ready,
                    node,
                )));
            };
            match api
                .replace_status(&name, &PostParams::default(), &update)
                .await
            {
                Ok(written) => {
                    tracing::info!(node = %name, "the node stopped posting its status; its conditions are now Unknown");
                    self.health.written(&written, Instant::now());
                    return Ok(Some((
                        observation.observed_ready,
                        observation.current_ready,
                        written,
                    )));
                }
                Err(status) if status.is(&StatusReason::NotFound) => return Ok(None),
                Err(status)
                    if status.is(&StatusReason::Conflict) && attempt < HEALTH_UPDATE_RETRIES =>
                {
                    attempt += 1;
                    match api.get_opt(&name).await? {
                        Some(fresh) => node = fresh,
                        None => return Ok(None),
                    }
                }
                Err(status) => return Err(status),
            }
        }
    }

    /// Queues, swaps or removes the node's `NoExecute` taints from its `Ready` condition as
    /// it was before this pass (Kubernetes' `processTaintBaseEviction`).
    async fn process_taint_based_eviction(&mut self, node: &Node, observed: &NodeCondition) {
        let not_ready = taint(TAINT_NOT_READY, NO_EXECUTE);
        let unreachable = taint(TAINT_UNREACHABLE, NO_EXECUTE);
        let name = node.metadata.name.clone().unwrap_or_default();
        let (wanted, other) = match observed.status.as_str() {
            "False" => (not_ready, unreachable),
            "Unknown" => (unreachable, not_ready),
            "True" => {
                if let Err(status) = self.mark_node_as_reachable(node).await {
                    tracing::warn!(node = %name, %status, "could not remove the node's NoExecute taints; retrying next time");
                }
                return;
            }
            _ => return,
        };
        if has_taint(node, &other) {
            // Flip at once between the two taints: the node was tainted already.
            let swapped = swap_taints(
                &self.ctx.client,
                &self.ctx.clock,
                node,
                std::slice::from_ref(&wanted),
                std::slice::from_ref(&other),
            )
            .await;
            if let Err(status) = swapped {
                tracing::warn!(node = %name, %status, "could not swap the node's NoExecute taint; retrying next time");
            }
            return;
        }
        let now = Instant::now();
        let tainter = self
            .tainters
            .entry(zone_key(node))
            .or_insert_with(|| TaintQueue::new(self.ctx.config.node_eviction_rate, now));
        if !has_taint(node, &wanted) {
            tainter.remove(&name);
        }
        if tainter.add(&name, now) {
            tracing::debug!(node = %name, status = %observed.status, "queued the node for its NoExecute taint");
        }
    }

    /// Removes both `NoExecute` condition taints and takes the node out of its queue.
    async fn mark_node_as_reachable(&mut self, node: &Node) -> Result<(), Status> {
        let name = node.metadata.name.clone().unwrap_or_default();
        let remove = [
            taint(TAINT_UNREACHABLE, NO_EXECUTE),
            taint(TAINT_NOT_READY, NO_EXECUTE),
        ];
        if remove.iter().any(|t| has_taint(node, t)) {
            swap_taints(&self.ctx.client, &self.ctx.clock, node, &[], &remove).await?;
            tracing::info!(node = %name, "the node is healthy again; its NoExecute taints are removed");
        }
        if let Some(tainter) = self.tainters.get_mut(&zone_key(node)) {
            tainter.remove(&name);
        }
        Ok(())
    }

    /// Taints the queued nodes whose turn has come.
    async fn no_execute_tainting_pass(&mut self) {
        let now = Instant::now();
        let due: Vec<(String, String)> = self
            .tainters
            .iter_mut()
            .flat_map(|(zone, tainter)| {
                std::iter::from_fn(move || tainter.pop_due(now)).map(move |n| (zone.clone(), n))
            })
            .collect();
        let nodes = self.ctx.nodes.cache();
        for (zone, name) in due {
            let Some(node) = nodes.get(None, &name) else {
                continue;
            };
            let Some(ready) = node_condition(&node, "Ready") else {
                self.retry_tainting(&zone, name, now + TAINT_RETRY_DELAY);
                continue;
            };
            let (add, remove) = match ready.status.as_str() {
                "False" => (TAINT_NOT_READY, TAINT_UNREACHABLE),
                "Unknown" => (TAINT_UNREACHABLE, TAINT_NOT_READY),
                // Ready again meanwhile: nothing to taint.
                _ => continue,
            };
            let swapped = swap_taints(
                &self.ctx.client,
                &self.ctx.clock,
                &node,
                &[taint(add, NO_EXECUTE)],
                &[taint(remove, NO_EXECUTE)],
            )
            .await;
            match swapped {
                Ok(true) => tracing::info!(node = %name, taint = add, "tainted the node NoExecute"),
                Ok(false) => {}
                Err(status) => {
                    tracing::warn!(node = %name, %status, "could not taint the node; retrying");
                    self.retry_tainting(&zone, name, now);
                }
            }
        }
    }

    fn retry_tainting(&mut self, zone: &str, node: String, due: Instant) {
        if let Some(tainter) = self.tainters.get_mut(zone) {
            tainter.retry(node, due);
        }
    }

    /// Recomputes the zones' states and sets the taint queues' rates from them (Kubernetes'
    /// `handleDisruption`).
    async fn handle_disruption(
        &mut self,
        zone_ready: HashMap<String, Vec<bool>>,
        nodes: &[Arc<Node>],
    ) {
        let threshold = self.ctx.config.unhealthy_zone_threshold;
        let new_states: HashMap<String, ZoneState> = zone_ready
            .iter()
            .map(|(zone, ready)| (zone.clone(), zone_state(ready, threshold)))
            .collect();
        self.zone_states
            .retain(|zone, _| zone_ready.contains_key(zone));
        self.tainters
            .retain(|zone, tainter| zone_ready.contains_key(zone) || !tainter.is_empty());
        let all_are_fully_disrupted = new_states.values().all(|s| *s == ZoneState::FullDisruption);
        let all_were_fully_disrupted = self
            .zone_states
            .values()
            .all(|s| *s == ZoneState::FullDisruption);
        if all_are_fully_disrupted && all_were_fully_disrupted {
            return;
        }
        let now = Instant::now();
        if all_are_fully_disrupted {
            tracing::warn!(
                "no node is ready: entering the disruption mode where no node is tainted"
            );
            for node in nodes {
                if let Err(status) = self.mark_node_as_reachable(node).await {
                    tracing::warn!(%status, "could not remove a node's NoExecute taints");
                }
            }
            for tainter in self.tainters.values_mut() {
                tainter.set_rate(0.0, now);
            }
            for state in self.zone_states.values_mut() {
                *state = ZoneState::FullDisruption;
            }
            return;
        }
        if all_were_fully_disrupted {
            tracing::info!("some nodes are ready again: leaving the disruption mode");
            // Every node gets a fresh grace period.
            self.health.refresh_all(now);
        }
        for (zone, state) in self.zone_states.iter_mut() {
            let new_state = new_states.get(zone).copied().unwrap_or(ZoneState::Normal);
            if *state == new_state && !all_were_fully_disrupted {
                continue;
            }
            let size = zone_ready.get(zone).map_or(0, Vec::len);
            let rate = match new_state {
                ZoneState::Normal | ZoneState::FullDisruption | ZoneState::Initial => {
                    self.ctx.config.node_eviction_rate
                }
                ZoneState::PartialDisruption
                    if size <= self.ctx.config.large_cluster_size_threshold =>
                {
                    0.0
                }
                ZoneState::PartialDisruption => self.ctx.config.secondary_node_eviction_rate,
            };
            if *state != new_state {
                tracing::info!(zone = %zone.replace('\0', ""), ?new_state, rate, "zone state changed");
            }
            if let Some(tainter) = self.tainters.get_mut(zone) {
                tainter.set_rate(rate, now);
            }
            *state = new_state;
        }
    }

    /// Sets the `Ready` condition of the node's ready pods to `False` (Kubernetes'
    /// `MarkPodsNotReady`), each with a `NodeNotReady` Event.
    async fn mark_pods_not_ready(&self, node: &str) {
        let pods = self
            .ctx
            .pods
            .cache()
            .by_index(NODE_NAME_INDEX, node)
            .unwrap_or_default();
        for pod in pods {
            let Some(updated) = not_ready(&pod, self.ctx.clock.now()) else {
                continue;
            };
            let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            let written = Api::<Pod>::namespaced(Arc::clone(&self.ctx.client), namespace)
                .replace_status(name, &PostParams::default(), &updated)
                .await;
            match written {
                Ok(_) => {
                    tracing::debug!(pod = %name, node, "marked the pod not ready");
                    if let Err(error) = self
                        .ctx
                        .recorder
                        .publish_about(
                            &*pod,
                            EventType::Warning,
                            "NodeNotReady",
                            "Node is not ready",
                        )
                        .await
                    {
                        tracing::debug!(%error, "could not record the pod's NodeNotReady Event");
                    }
                }
                Err(status) if status.is(&StatusReason::NotFound) => {}
                Err(status) => {
                    tracing::debug!(pod = %name, %status, "could not mark the pod not ready; retrying next time");
                }
            }
        }
    }

    /// A `Normal` Event on the node whose reason is its new status.
    async fn record_node_status_change(&self, node: &Node, status: &str) {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        let note = format!("Node {name} status is now: {status}");
        if let Err(error) = self
            .ctx
            .recorder
            .publish_about(node, EventType::Normal, status, &note)
            .await
        {
            tracing::debug!(%error, "could not record the node status change as an Event");
        }
    }
}

/// The pod with its `Ready` condition set to `False` (transition time `now`), if it is ready.
fn not_ready(pod: &Pod, now: jiff::Timestamp) -> Option<Pod> {
    let mut pod = pod.clone();
    let conditions = pod.status.as_mut()?.conditions.as_mut()?;
    let ready: &mut PodCondition = conditions
        .iter_mut()
        .find(|c| c.type_ == "Ready" && c.status == "True")?;
    ready.status = "False".to_owned();
    ready.last_transition_time = Some(Time(now));
    Some(pod)
}
