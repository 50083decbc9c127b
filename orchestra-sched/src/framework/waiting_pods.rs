//! Waiting pods: pods a Permit plugin holds back before binding.
//!
//! When a Permit plugin answers `Wait` with a timeout, the pod keeps its reserved place on the
//! node but is not bound: it waits until every plugin that made it wait allows it, one of them
//! rejects it, or the earliest timeout passes. This is what gang scheduling needs — the Permit
//! plugin of the last member of a group allows the members already waiting
//! ([`WaitingPods::get`] then [`WaitingPod::allow`]).
//!
//! The decision is delivered through a `futures` oneshot channel, so waiting works on any
//! executor; timeouts are deadlines the caller enforces with its own clock (tokio time in the
//! scheduler, a virtual clock in the simulator).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::channel::oneshot;

use crate::framework::status::Status;
use crate::pod_info::PodInfo;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep going.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug)]
struct Decision {
    pending: BTreeMap<String, Instant>,
    outcome: Option<Status>,
    sender: Option<oneshot::Sender<Status>>,
}

/// A pod held by Permit plugins. See the module docs.
#[derive(Debug)]
pub struct WaitingPod {
    pod: Arc<PodInfo>,
    node: String,
    decision: Mutex<Decision>,
    receiver: Mutex<Option<oneshot::Receiver<Status>>>,
}

impl WaitingPod {
    fn new(pod: Arc<PodInfo>, node: String, pending: BTreeMap<String, Instant>) -> WaitingPod {
        let (sender, receiver) = oneshot::channel();
        WaitingPod {
            pod,
            node,
            decision: Mutex::new(Decision {
                pending,
                outcome: None,
                sender: Some(sender),
            }),
            receiver: Mutex::new(Some(receiver)),
        }
    }

    /// The pod.
    pub fn pod(&self) -> &Arc<PodInfo> {
        &self.pod
    }

    /// The node the pod is reserved on.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The plugins still holding the pod.
    pub fn pending_plugins(&self) -> Vec<String> {
        lock(&self.decision).pending.keys().cloned().collect()
    }

    /// When the earliest of the pending plugins' timeouts passes.
    pub fn deadline(&self) -> Option<Instant> {
        lock(&self.decision).pending.values().min().copied()
    }

    fn decide(decision: &mut Decision, status: Status) {
        if decision.outcome.is_none() {
            decision.outcome = Some(status.clone());
            if let Some(sender) = decision.sender.take() {
                // The receiver may be gone (the waiter gave up); the outcome is kept anyway.
                let _ = sender.send(status);
            }
        }
    }

    /// `plugin` allows the pod; once every pending plugin has, the pod may bind.
    pub fn allow(&self, plugin: &str) {
        let mut decision = lock(&self.decision);
        decision.pending.remove(plugin);
        if decision.pending.is_empty() {
            Self::decide(&mut decision, Status::success());
        }
    }

    /// `plugin` rejects the pod.
    pub fn reject(&self, plugin: &str, message: &str) {
        let mut decision = lock(&self.decision);
        Self::decide(
            &mut decision,
            Status::unschedulable(message.to_owned()).with_plugin(plugin),
        );
    }

    /// Rejects the pod if a pending plugin's timeout has passed at `now`.
    pub fn expire(&self, now: Instant) -> bool {
        let mut decision = lock(&self.decision);
        let expired = decision
            .pending
            .iter()
            .find(|(_, deadline)| **deadline <= now)
            .map(|(plugin, _)| plugin.clone());
        match expired {
            Some(plugin) if decision.outcome.is_none() => {
                let message = format!("rejected due to timeout after waiting at plugin {plugin}");
                Self::decide(
                    &mut decision,
                    Status::unschedulable(message).with_plugin(plugin),
                );
                true
            }
            _ => false,
        }
    }

    /// The decision, if one was made.
    pub fn outcome(&self) -> Option<Status> {
        lock(&self.decision).outcome.clone()
    }

    /// Waits for the decision (allowed, rejected, or expired by someone calling
    /// [`WaitingPod::expire`]). Only the first caller receives it.
    pub async fn wait(&self) -> Status {
        let receiver = lock(&self.receiver).take();
        match receiver {
            Some(receiver) => receiver
                .await
                .unwrap_or_else(|_| Status::error("waiting pod was dropped")),
            None => self
                .outcome()
                .unwrap_or_else(|| Status::error("already waited on")),
        }
    }
}

/// The pods currently held by Permit plugins, by UID.
#[derive(Debug, Default)]
pub struct WaitingPods {
    pods: Mutex<HashMap<String, Arc<WaitingPod>>>,
}

impl WaitingPods {
    /// Holds `pod` on `node` for these plugins, each with its timeout from `now`.
    pub(crate) fn add(
        &self,
        pod: Arc<PodInfo>,
        node: &str,
        plugins: &[(String, Duration)],
        now: Instant,
    ) -> Arc<WaitingPod> {
        let pending = plugins
            .iter()
            .map(|(name, timeout)| (name.clone(), now + *timeout))
            .collect();
        let waiting = Arc::new(WaitingPod::new(pod.clone(), node.to_owned(), pending));
        lock(&self.pods).insert(pod.uid().to_owned(), waiting.clone());
        waiting
    }

    /// Stops holding a pod.
    pub(crate) fn remove(&self, uid: &str) -> Option<Arc<WaitingPod>> {
        lock(&self.pods).remove(uid)
    }

    /// A waiting pod by UID.
    pub fn get(&self, uid: &str) -> Option<Arc<WaitingPod>> {
        lock(&self.pods).get(uid).cloned()
    }

    /// Every waiting pod.
    pub fn all(&self) -> Vec<Arc<WaitingPod>> {
        lock(&self.pods).values().cloned().collect()
    }

    /// How many pods wait.
    pub fn len(&self) -> usize {
        lock(&self.pods).len()
    }

    /// Whether no pod waits.
    pub fn is_empty(&self) -> bool {
        lock(&self.pods).is_empty()
    }

    /// The earliest deadline of any waiting pod without a decision.
    pub fn earliest_deadline(&self) -> Option<Instant> {
        lock(&self.pods)
            .values()
            .filter(|w| w.outcome().is_none())
            .filter_map(|w| w.deadline())
            .min()
    }

    /// Rejects every waiting pod whose timeout passed at `now`; answers how many.
    pub fn expire(&self, now: Instant) -> usize {
        self.all().iter().filter(|w| w.expire(now)).count()
    }

    /// The waiting pods with a decision.
    pub fn decided(&self) -> Vec<(Arc<WaitingPod>, Status)> {
        self.all()
            .into_iter()
            .filter_map(|w| w.outcome().map(|s| (w, s)))
            .collect()
    }
}
