//! `QueuedPodInfo`: a pod waiting in the scheduling queue, with its queue history.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use crate::pod_info::PodInfo;

/// A pod in the scheduling queue: the pod, when it entered the queue, how often it was tried,
/// and which plugins rejected it last time (they decide which events move it back).
#[derive(Debug, Clone)]
pub struct QueuedPodInfo {
    /// The pod.
    pub pod: Arc<PodInfo>,
    /// When the pod was last added to the queue (or failed its last attempt).
    pub timestamp: Instant,
    /// How many scheduling attempts the pod had.
    pub attempts: u32,
    /// When the pod was first added to the queue.
    pub initial_attempt_timestamp: Instant,
    /// The plugins that rejected the pod in its last attempt.
    pub unschedulable_plugins: BTreeSet<String>,
    /// The plugins that answered Pending in its last attempt.
    pub pending_plugins: BTreeSet<String>,
    /// Whether a PreEnqueue plugin keeps the pod out of the active queue.
    pub gated: bool,
    /// The gating plugin's message, when gated.
    pub gating_message: Option<String>,
}

impl QueuedPodInfo {
    /// A pod entering the queue at `now`.
    pub fn new(pod: Arc<PodInfo>, now: Instant) -> QueuedPodInfo {
        QueuedPodInfo {
            pod,
            timestamp: now,
            attempts: 0,
            initial_attempt_timestamp: now,
            unschedulable_plugins: BTreeSet::new(),
            pending_plugins: BTreeSet::new(),
            gated: false,
            gating_message: None,
        }
    }
}
