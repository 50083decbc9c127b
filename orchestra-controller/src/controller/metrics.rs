//! Per-controller metrics: reconciles by result, errors, panics, reconcile time, workers, and
//! the metrics of the controller's work queue, in the shape of controller-runtime's
//! `controller_runtime_*` and client-go's `workqueue_*` series.
//!
//! A [`Controller`](super::Controller) owns one [`ControllerMetrics`], shared by its clones
//! and kept across restarts: a controller that is restarted (after a panic, or after its
//! manager regains leadership) gets a new work queue, and the counters of the old one are
//! carried over so totals never go backwards. [`ControllerMetrics::snapshot`] reads
//! everything at once; the manager's `/metrics` endpoint renders it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::informer::ObjectKey;
use crate::workqueue::{DurationHistogram, WorkQueue, WorkQueueMetrics};

/// Upper bounds, in seconds, of the reconcile time histogram (a subset of
/// controller-runtime's `controller_runtime_reconcile_time_seconds` buckets).
pub const RECONCILE_TIME_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
];

/// How reconciles ended (controller-runtime's `result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReconcileResults {
    /// Succeeded and wait for a change (`success`).
    pub success: u64,
    /// Succeeded and asked to run again after a delay (`requeue_after`).
    pub requeue_after: u64,
    /// Failed, or panicked (`error`).
    pub error: u64,
}

/// A point-in-time copy of one controller's metrics.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ControllerMetricsSnapshot {
    /// The controller's name (the `controller` label).
    pub name: String,
    /// Reconciles by result (`controller_runtime_reconcile_total`).
    pub reconciles: ReconcileResults,
    /// Failed reconciles, panics included (`controller_runtime_reconcile_errors_total`).
    pub errors: u64,
    /// Reconciles that panicked (`controller_runtime_reconcile_panics_total`).
    pub panics: u64,
    /// How long reconciles took (`controller_runtime_reconcile_time_seconds`).
    pub reconcile_time: DurationHistogram,
    /// Workers reconciling right now (`controller_runtime_active_workers`).
    pub active_workers: usize,
    /// Workers configured (`controller_runtime_max_concurrent_reconciles`).
    pub max_workers: usize,
    /// Times the controller's task was restarted by a manager after it panicked.
    pub restarts: u64,
    /// The work queue's metrics, totals summed over every run of the controller; `None`
    /// until the controller first runs.
    pub queue: Option<WorkQueueMetrics>,
}

/// Live metrics of one controller. See the [module documentation](self).
#[derive(Debug)]
pub struct ControllerMetrics {
    name: String,
    max_workers: AtomicUsize,
    active_workers: AtomicUsize,
    restarts: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    results: ReconcileResults,
    panics: u64,
    reconcile_time: Histogram,
    /// The queue of the current (or last) run.
    queue: Option<WorkQueue<ObjectKey>>,
    /// Totals of the queues of earlier runs.
    retired: Option<WorkQueueMetrics>,
}

/// How a reconcile ended, for [`ControllerMetrics::observe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    RequeueAfter,
    Error,
    Panic,
}

impl ControllerMetrics {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            max_workers: AtomicUsize::new(0),
            active_workers: AtomicUsize::new(0),
            restarts: AtomicU64::new(0),
            state: Mutex::new(State {
                results: ReconcileResults::default(),
                panics: 0,
                reconcile_time: Histogram::new(&RECONCILE_TIME_BUCKETS),
                queue: None,
                retired: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The controller's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads every metric.
    pub fn snapshot(&self) -> ControllerMetricsSnapshot {
        let state = self.lock();
        let current = state.queue.as_ref().map(WorkQueue::metrics);
        let queue = match (current, &state.retired) {
            (Some(current), Some(retired)) => Some(add_totals(current, retired)),
            (current, retired) => current.or_else(|| retired.clone()),
        };
        ControllerMetricsSnapshot {
            name: self.name.clone(),
            reconciles: state.results,
            errors: state.results.error,
            panics: state.panics,
            reconcile_time: state.reconcile_time.snapshot(),
            active_workers: self.active_workers.load(Ordering::Relaxed),
            max_workers: self.max_workers.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            queue,
        }
    }

    /// Counts one restart of the controller's task.
    pub fn record_restart(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_max_workers(&self, workers: usize) {
        self.max_workers.store(workers, Ordering::Relaxed);
    }

    /// A new run uses `queue`; the totals of the previous run's queue are kept.
    pub(crate) fn attach_queue(&self, queue: WorkQueue<ObjectKey>) {
        let mut state = self.lock();
        if let Some(old) = state.queue.replace(queue) {
            let old = old.metrics();
            state.retired = Some(match state.retired.take() {
                Some(retired) => add_totals(old, &retired),
                None => old,
            });
        }
    }

    pub(crate) fn worker_started(&self) {
        self.active_workers.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn worker_finished(&self) {
        self.active_workers.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn observe(&self, outcome: Outcome, took: Duration) {
        let mut state = self.lock();
        state.reconcile_time.observe(took);
        match outcome {
            Outcome::Success => state.results.success += 1,
            Outcome::RequeueAfter => state.results.requeue_after += 1,
            Outcome::Error => state.results.error += 1,
            Outcome::Panic => {
                state.results.error += 1;
                state.panics += 1;
            }
        }
    }
}

/// `current` with the counters and histograms of `retired` added (gauges stay `current`'s).
fn add_totals(mut current: WorkQueueMetrics, retired: &WorkQueueMetrics) -> WorkQueueMetrics {
    current.adds += retired.adds;
    current.retries += retired.retries;
    add_histogram(&mut current.queue_duration, &retired.queue_duration);
    add_histogram(&mut current.work_duration, &retired.work_duration);
    current
}

fn add_histogram(into: &mut DurationHistogram, other: &DurationHistogram) {
    for ((_, count), (_, more)) in into.buckets.iter_mut().zip(&other.buckets) {
        *count += more;
    }
    into.count += other.count;
    into.sum += other.sum;
}

/// A histogram over fixed bucket bounds.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative), plus the overflow bucket.
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    fn observe(&mut self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let bucket = self
            .bounds
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(self.bounds.len());
        self.counts[bucket] += 1;
        self.sum += seconds;
    }

    fn snapshot(&self) -> DurationHistogram {
        let mut cumulative = 0;
        let buckets = self
            .bounds
            .iter()
            .zip(&self.counts)
            .map(|(&bound, count)| {
                cumulative += count;
                (bound, cumulative)
            })
            .collect();
        DurationHistogram {
            buckets,
            count: self.counts.iter().sum(),
            sum: self.sum,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_of_earlier_queues_are_carried_into_the_next_run() {
        let metrics = ControllerMetrics::new("test");
        let first: WorkQueue<ObjectKey> = WorkQueue::new();
        metrics.attach_queue(first.clone());
        first.add(ObjectKey::new(None, "a"));
        first.add(ObjectKey::new(None, "b"));
        assert_eq!(metrics.snapshot().queue.unwrap().adds, 2);

        let second: WorkQueue<ObjectKey> = WorkQueue::new();
        metrics.attach_queue(second.clone());
        second.add(ObjectKey::new(None, "c"));
        let queue = metrics.snapshot().queue.unwrap();
        assert_eq!(queue.adds, 3, "counters never go backwards");
        assert_eq!(queue.depth, 1, "gauges are the current queue's");
    }

    #[test]
    fn panics_count_as_errors_and_every_reconcile_is_timed() {
        let metrics = ControllerMetrics::new("test");
        metrics.observe(Outcome::Success, Duration::from_millis(3));
        metrics.observe(Outcome::RequeueAfter, Duration::from_millis(30));
        metrics.observe(Outcome::Error, Duration::from_secs(2));
        metrics.observe(Outcome::Panic, Duration::from_secs(100));
        let snapshot = metrics.snapshot();
        assert_eq!(
            snapshot.reconciles,
            ReconcileResults {
                success: 1,
                requeue_after: 1,
                error: 2
            }
        );
        assert_eq!((snapshot.errors, snapshot.panics), (2, 1));
        assert_eq!(snapshot.reconcile_time.count, 4);
        assert_eq!(snapshot.reconcile_time.buckets[0], (0.005, 1));
        assert_eq!(snapshot.reconcile_time.buckets.last(), Some(&(60.0, 3)));
    }
}
