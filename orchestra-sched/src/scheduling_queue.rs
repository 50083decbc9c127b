//! The scheduling queue: which pending pod to try next, and when to retry the others.
//!
//! As in Kubernetes v1.33 there are three places a pending pod can be:
//!
//! - the **active queue**, ordered by the QueueSort plugin (priority, then age): pods ready to
//!   be tried;
//! - the **back-off queue**: pods that failed recently and wait out their back-off — 1 s after
//!   the first failure, doubling per attempt up to 10 s (`podInitialBackoffSeconds`,
//!   `podMaxBackoffSeconds`);
//! - the **unschedulable pods**: pods no node fits. They stay until a cluster event that one
//!   of the plugins that rejected them registered for (a node added, a pod deleted, …) moves
//!   them back — to the back-off queue if still backing off, else to the active queue — or at
//!   the latest after 5 minutes. A PreEnqueue rejection (scheduling gates) also parks a pod
//!   here until an event lets it in.
//!
//! If an event arrives while a pod is being scheduled and the pod then fails, it goes to the
//! back-off queue rather than waiting for another event, so the event is not missed.
//!
//! The queue takes the current time as an argument instead of reading a clock: the scheduler
//! passes tokio's (so tests can pause time) and the simulator a virtual clock.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::framework::{ClusterEvent, EventObject, Framework, QueuedPodInfo, QueueingHint};
use crate::pod_info::PodInfo;

/// Pods stay at most this long among the unschedulable pods before being retried.
pub const MAX_IN_UNSCHEDULABLE_PODS: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    Active,
    Backoff,
    Unschedulable,
    InFlight,
}

struct ActiveEntry {
    info: QueuedPodInfo,
    seq: u64,
    sort: Arc<Framework>,
}

impl PartialEq for ActiveEntry {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}
impl Eq for ActiveEntry {}
impl PartialOrd for ActiveEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ActiveEntry {
    /// Max-heap: "greater" pops first, i.e. the one QueueSort puts first.
    fn cmp(&self, other: &Self) -> Ordering {
        if self.sort.queue_less(&self.info, &other.info) {
            Ordering::Greater
        } else if self.sort.queue_less(&other.info, &self.info) {
            Ordering::Less
        } else {
            other.seq.cmp(&self.seq)
        }
    }
}

/// How many pods are where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Ready to be tried.
    pub active: usize,
    /// Backing off.
    pub backoff: usize,
    /// Waiting for an event.
    pub unschedulable: usize,
    /// Being scheduled.
    pub in_flight: usize,
}

/// The scheduling queue. See the module docs.
pub struct SchedulingQueue {
    frameworks: BTreeMap<String, Arc<Framework>>,
    sort: Arc<Framework>,
    initial_backoff: Duration,
    max_backoff: Duration,
    active: BinaryHeap<ActiveEntry>,
    backoff: BinaryHeap<(std::cmp::Reverse<Instant>, std::cmp::Reverse<u64>)>,
    backoff_entries: HashMap<u64, QueuedPodInfo>,
    unschedulable: HashMap<String, QueuedPodInfo>,
    location: HashMap<String, (Location, u64)>,
    in_flight: HashMap<String, QueuedPodInfo>,
    moved_during_cycle: HashSet<String>,
    seq: u64,
}

impl std::fmt::Debug for SchedulingQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulingQueue")
            .field("counts", &self.counts())
            .finish()
    }
}

impl SchedulingQueue {
    /// A queue for pods of these profiles (by scheduler name), with this back-off. The first
    /// profile's QueueSort orders the active queue (configuration requires all to agree).
    pub fn new(
        frameworks: BTreeMap<String, Arc<Framework>>,
        initial_backoff: Duration,
        max_backoff: Duration,
    ) -> Option<SchedulingQueue> {
        let sort = frameworks.values().next()?.clone();
        Some(SchedulingQueue {
            frameworks,
            sort,
            initial_backoff,
            max_backoff,
            active: BinaryHeap::new(),
            backoff: BinaryHeap::new(),
            backoff_entries: HashMap::new(),
            unschedulable: HashMap::new(),
            location: HashMap::new(),
            in_flight: HashMap::new(),
            moved_during_cycle: HashSet::new(),
            seq: 0,
        })
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// How many pods are where.
    pub fn counts(&self) -> QueueCounts {
        QueueCounts {
            active: self
                .location
                .values()
                .filter(|(l, _)| *l == Location::Active)
                .count(),
            backoff: self
                .location
                .values()
                .filter(|(l, _)| *l == Location::Backoff)
                .count(),
            unschedulable: self.unschedulable.len(),
            in_flight: self.in_flight.len(),
        }
    }

    /// Whether the pod with this UID is in the queue (anywhere, in flight included).
    pub fn contains(&self, uid: &str) -> bool {
        self.location.contains_key(uid)
    }

    fn push_active(&mut self, info: QueuedPodInfo) {
        let seq = self.next_seq();
        self.location
            .insert(info.pod.uid().to_owned(), (Location::Active, seq));
        self.active.push(ActiveEntry {
            info,
            seq,
            sort: self.sort.clone(),
        });
    }

    fn push_backoff(&mut self, info: QueuedPodInfo) {
        let seq = self.next_seq();
        let expiry = self.backoff_expiry(&info);
        self.location
            .insert(info.pod.uid().to_owned(), (Location::Backoff, seq));
        self.backoff
            .push((std::cmp::Reverse(expiry), std::cmp::Reverse(seq)));
        self.backoff_entries.insert(seq, info);
    }

    fn push_unschedulable(&mut self, info: QueuedPodInfo) {
        let seq = self.next_seq();
        self.location
            .insert(info.pod.uid().to_owned(), (Location::Unschedulable, seq));
        self.unschedulable.insert(info.pod.uid().to_owned(), info);
    }

    /// How long a pod with this many attempts backs off.
    pub fn backoff_duration(&self, attempts: u32) -> Duration {
        let mut duration = self.initial_backoff;
        for _ in 1..attempts {
            if duration > self.max_backoff.saturating_sub(duration) {
                return self.max_backoff;
            }
            duration += duration;
        }
        duration.min(self.max_backoff)
    }

    fn backoff_expiry(&self, info: &QueuedPodInfo) -> Instant {
        info.timestamp + self.backoff_duration(info.attempts)
    }

    fn is_backing_off(&self, info: &QueuedPodInfo, now: Instant) -> bool {
        info.attempts > 0 && self.backoff_expiry(info) > now
    }

    /// Runs PreEnqueue; answers whether the pod may enter the active queue.
    fn pre_enqueue(&self, info: &mut QueuedPodInfo) -> bool {
        let Some(framework) = self.frameworks.get(info.pod.scheduler_name()) else {
            return true;
        };
        let status = framework.run_pre_enqueue(&info.pod);
        if status.is_success() {
            info.gated = false;
            info.gating_message = None;
            return true;
        }
        info.gated = true;
        info.gating_message = Some(status.message());
        info.unschedulable_plugins = status
            .plugin()
            .map(|p| [p.to_owned()].into())
            .unwrap_or_default();
        false
    }

    /// Adds a new pending pod.
    pub fn add(&mut self, pod: Arc<PodInfo>, now: Instant) {
        if self.location.contains_key(pod.uid()) {
            self.update(pod, now);
            return;
        }
        let mut info = QueuedPodInfo::new(pod, now);
        if self.pre_enqueue(&mut info) {
            self.push_active(info);
        } else {
            self.push_unschedulable(info);
        }
    }

    /// Replaces a pending pod's object (labels, scheduling gates, …). A gated pod whose gates
    /// are gone becomes active.
    pub fn update(&mut self, pod: Arc<PodInfo>, now: Instant) {
        let uid = pod.uid().to_owned();
        let Some((location, seq)) = self.location.get(&uid).copied() else {
            self.add(pod, now);
            return;
        };
        match location {
            Location::Active => {
                // Lazy deletion: push a replacement; the old entry is skipped when popped.
                let mut info = QueuedPodInfo::new(pod, now);
                if let Some(previous) = self.find_active(&uid, seq) {
                    info.attempts = previous.attempts;
                    info.timestamp = previous.timestamp;
                    info.initial_attempt_timestamp = previous.initial_attempt_timestamp;
                }
                self.push_active(info);
            }
            Location::Backoff => {
                if let Some(mut info) = self.backoff_entries.remove(&seq) {
                    info.pod = pod;
                    self.push_backoff(info);
                }
            }
            Location::Unschedulable => {
                if let Some(mut info) = self.unschedulable.remove(&uid) {
                    info.pod = pod;
                    if info.gated {
                        if self.pre_enqueue(&mut info) {
                            self.push_active(info);
                        } else {
                            self.push_unschedulable(info);
                        }
                    } else {
                        // Kubernetes moves an updated unschedulable pod to be retried.
                        if self.is_backing_off(&info, now) {
                            self.push_backoff(info);
                        } else {
                            self.push_active(info);
                        }
                    }
                }
            }
            Location::InFlight => {
                if let Some(info) = self.in_flight.get_mut(&uid) {
                    info.pod = pod;
                }
            }
        }
    }

    fn find_active(&self, uid: &str, seq: u64) -> Option<&QueuedPodInfo> {
        self.active
            .iter()
            .find(|e| e.seq == seq && e.info.pod.uid() == uid)
            .map(|e| &e.info)
    }

    /// Removes a pod (deleted, or scheduled by someone else).
    pub fn delete(&mut self, uid: &str) {
        if let Some((location, seq)) = self.location.remove(uid) {
            match location {
                Location::Backoff => {
                    self.backoff_entries.remove(&seq);
                }
                Location::Unschedulable => {
                    self.unschedulable.remove(uid);
                }
                Location::InFlight => {
                    self.in_flight.remove(uid);
                }
                Location::Active => {}
            }
        }
    }

    /// Moves pods whose back-off is over to the active queue.
    pub fn flush_backoff_completed(&mut self, now: Instant) {
        while let Some((std::cmp::Reverse(expiry), std::cmp::Reverse(seq))) =
            self.backoff.peek().copied()
        {
            if expiry > now {
                break;
            }
            self.backoff.pop();
            if let Some(info) = self.backoff_entries.remove(&seq) {
                let current = self.location.get(info.pod.uid()).copied();
                if current == Some((Location::Backoff, seq)) {
                    self.push_active(info);
                }
            }
        }
    }

    /// Retries pods unschedulable for longer than [`MAX_IN_UNSCHEDULABLE_PODS`].
    pub fn flush_unschedulable_leftover(&mut self, now: Instant) {
        let due: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|(_, info)| {
                !info.gated
                    && now.saturating_duration_since(info.timestamp) >= MAX_IN_UNSCHEDULABLE_PODS
            })
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in due {
            if let Some(info) = self.unschedulable.remove(&uid) {
                self.requeue(info, now);
            }
        }
    }

    fn requeue(&mut self, info: QueuedPodInfo, now: Instant) {
        if self.is_backing_off(&info, now) {
            self.push_backoff(info);
        } else {
            self.push_active(info);
        }
    }

    /// The next time something becomes due: a back-off ending, or (when `include_leftover`)
    /// an unschedulable pod's 5-minute flush.
    pub fn next_due(&self, include_leftover: bool) -> Option<Instant> {
        let backoff = self
            .backoff
            .iter()
            .filter(|(_, std::cmp::Reverse(seq))| self.backoff_entries.contains_key(seq))
            .map(|(std::cmp::Reverse(t), _)| *t)
            .min();
        let leftover = include_leftover
            .then(|| {
                self.unschedulable
                    .values()
                    .filter(|i| !i.gated)
                    .map(|i| i.timestamp + MAX_IN_UNSCHEDULABLE_PODS)
                    .min()
            })
            .flatten();
        match (backoff, leftover) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Takes the next pod to schedule from the active queue; it is *in flight* until
    /// [`SchedulingQueue::done`] or a failure report.
    pub fn pop(&mut self) -> Option<QueuedPodInfo> {
        while let Some(entry) = self.active.pop() {
            let uid = entry.info.pod.uid().to_owned();
            if self.location.get(&uid) != Some(&(Location::Active, entry.seq)) {
                continue;
            }
            let mut info = entry.info;
            info.attempts += 1;
            let seq = self.next_seq();
            self.location.insert(uid.clone(), (Location::InFlight, seq));
            self.moved_during_cycle.remove(&uid);
            self.in_flight.insert(uid, info.clone());
            return Some(info);
        }
        None
    }

    /// The in-flight pod was scheduled (or given up on): it leaves the queue.
    pub fn done(&mut self, uid: &str) {
        if self
            .location
            .get(uid)
            .is_some_and(|(l, _)| *l == Location::InFlight)
        {
            self.location.remove(uid);
        }
        self.in_flight.remove(uid);
        self.moved_during_cycle.remove(uid);
    }

    /// The in-flight pod failed. `plugins` are the plugins that rejected it; with none (an
    /// error) it backs off. A pod that an event could have helped while it was being scheduled
    /// backs off instead of waiting for the next event.
    pub fn add_unschedulable(
        &mut self,
        mut info: QueuedPodInfo,
        plugins: impl IntoIterator<Item = String>,
        now: Instant,
    ) {
        let uid = info.pod.uid().to_owned();
        self.in_flight.remove(&uid);
        if !matches!(self.location.get(&uid), Some((Location::InFlight, _))) {
            // Deleted while in flight.
            return;
        }
        info.timestamp = now;
        info.unschedulable_plugins = plugins.into_iter().collect();
        let moved = self.moved_during_cycle.remove(&uid);
        if info.unschedulable_plugins.is_empty() || moved {
            self.push_backoff(info);
        } else {
            self.push_unschedulable(info);
        }
    }

    /// A cluster event happened: unschedulable pods that one of their rejecting plugins
    /// registered for (and whose queueing hint agrees) are retried. Answers how many moved.
    pub fn move_on_event(
        &mut self,
        event: ClusterEvent,
        old: Option<&EventObject>,
        new: Option<&EventObject>,
        now: Instant,
    ) -> usize {
        for uid in self.in_flight.keys() {
            self.moved_during_cycle.insert(uid.clone());
        }
        let candidates: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|(_, info)| self.worth_requeuing(info, &event, old, new))
            .map(|(uid, _)| uid.clone())
            .collect();
        let moved = candidates.len();
        for uid in candidates {
            if let Some(mut info) = self.unschedulable.remove(&uid) {
                if info.gated {
                    if self.pre_enqueue(&mut info) {
                        self.push_active(info);
                    } else {
                        self.push_unschedulable(info);
                    }
                } else {
                    self.requeue(info, now);
                }
            }
        }
        moved
    }

    fn worth_requeuing(
        &self,
        info: &QueuedPodInfo,
        event: &ClusterEvent,
        old: Option<&EventObject>,
        new: Option<&EventObject>,
    ) -> bool {
        if *event == ClusterEvent::UNSCHEDULABLE_TIMEOUT {
            return true;
        }
        if info.unschedulable_plugins.is_empty() && info.pending_plugins.is_empty() {
            return true;
        }
        let Some(framework) = self.frameworks.get(info.pod.scheduler_name()) else {
            return true;
        };
        for (plugin, registrations) in framework.events_to_register() {
            if !info.unschedulable_plugins.contains(plugin)
                && !info.pending_plugins.contains(plugin)
            {
                continue;
            }
            for registration in registrations {
                if !registration.event.covers(event) {
                    continue;
                }
                match &registration.hint {
                    None => return true,
                    Some(hint) => {
                        if hint(&info.pod, old, new) == QueueingHint::Queue {
                            return true;
                        }
                    }
                }
            }
        }
        false
    }

    /// The pods waiting for an event, with the plugins that rejected them.
    pub fn unschedulable_pods(&self) -> impl Iterator<Item = &QueuedPodInfo> + '_ {
        self.unschedulable.values()
    }
}
