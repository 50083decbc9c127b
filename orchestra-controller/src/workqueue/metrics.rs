//! Work queue metrics, as client-go's `workqueue_*` Prometheus series.
//!
//! [`WorkQueue::metrics`](super::WorkQueue::metrics) returns a [`WorkQueueMetrics`]
//! snapshot: plain numbers a `/metrics` endpoint renders under client-go's names
//! (`workqueue_depth`, `workqueue_adds_total`, `workqueue_queue_duration_seconds`,
//! `workqueue_work_duration_seconds`, `workqueue_unfinished_work_seconds`,
//! `workqueue_longest_running_processor_seconds`, `workqueue_retries_total`), labelled with
//! the queue's name. Histograms use client-go's buckets: 10 ns to 10 s, ×10 each.

use std::time::Duration;

/// Upper bounds, in seconds, of client-go's work queue histogram buckets:
/// `prometheus.ExponentialBuckets(10e-9, 10, 10)`.
pub const DURATION_BUCKETS: [f64; 10] = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0];

/// A point-in-time copy of one work queue's metrics.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WorkQueueMetrics {
    /// The queue's name (the `name` label); empty if it was not named.
    pub name: String,
    /// Keys added and not yet handed to a worker, including keys re-added while a worker
    /// holds them (`workqueue_depth`).
    pub depth: usize,
    /// Keys a worker holds right now (between `get` and `done`).
    pub in_flight: usize,
    /// Keys waiting for their `add_after` delay to pass.
    pub delayed: usize,
    /// Keys accepted by `add`, counting a key once per wait: adding a key that is already
    /// waiting for a worker is not counted (`workqueue_adds_total`).
    pub adds: u64,
    /// Calls of `add_after` and `add_rate_limited` accepted (`workqueue_retries_total`;
    /// client-go counts every delayed add as a retry).
    pub retries: u64,
    /// How long keys waited between being added and being handed to a worker
    /// (`workqueue_queue_duration_seconds`).
    pub queue_duration: DurationHistogram,
    /// How long workers held keys, from `get` to `done` (`workqueue_work_duration_seconds`).
    pub work_duration: DurationHistogram,
    /// Sum of how long the keys in flight have been held so far
    /// (`workqueue_unfinished_work_seconds`): a large value with few `done`s hints at stuck
    /// workers.
    pub unfinished_work: Duration,
    /// How long the longest-held key in flight has been held
    /// (`workqueue_longest_running_processor_seconds`).
    pub longest_running_processor: Duration,
}

/// A histogram of durations in Prometheus' shape: cumulative bucket counts, total count and
/// sum.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationHistogram {
    /// `(upper bound in seconds, observations at or below it)`, cumulative, ascending; the
    /// implicit `+Inf` bucket is [`count`](Self::count).
    pub buckets: Vec<(f64, u64)>,
    /// Number of observations.
    pub count: u64,
    /// Sum of all observations, in seconds.
    pub sum: f64,
}

/// The live, mutable counters behind [`WorkQueueMetrics`]; kept inside the queue's lock.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) adds: u64,
    pub(crate) retries: u64,
    pub(crate) queue_duration: Histogram,
    pub(crate) work_duration: Histogram,
}

/// Per-bucket (not cumulative) counts over [`DURATION_BUCKETS`], plus the overflow bucket.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    counts: [u64; DURATION_BUCKETS.len() + 1],
    sum: f64,
}

impl Histogram {
    pub(crate) fn observe(&mut self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(DURATION_BUCKETS.len());
        self.counts[bucket] += 1;
        self.sum += seconds;
    }

    pub(crate) fn snapshot(&self) -> DurationHistogram {
        let mut cumulative = 0;
        let buckets = DURATION_BUCKETS
            .iter()
            .zip(self.counts)
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
    fn histogram_snapshot_is_cumulative_with_overflow_in_count() {
        let mut histogram = Histogram::default();
        histogram.observe(Duration::from_millis(5));
        histogram.observe(Duration::from_millis(10));
        histogram.observe(Duration::from_secs(60));
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.count, 3);
        assert!((snapshot.sum - 60.015).abs() < 1e-9);
        let at = |bound: f64| {
            snapshot
                .buckets
                .iter()
                .find(|(b, _)| *b == bound)
                .map(|(_, count)| *count)
        };
        assert_eq!(at(1e-3), Some(0));
        assert_eq!(at(1e-2), Some(2), "10 ms lands in the le=0.01 bucket");
        assert_eq!(at(10.0), Some(2), "60 s only counts in +Inf");
    }
}
