//! The manager's `/metrics`: every controller's and task's metrics, read at scrape time and
//! written in the Prometheus text format (OpenMetrics) by `prometheus-client`.
//!
//! Names follow controller-runtime (`controller_runtime_*`, label `controller`) and
//! client-go's work queue (`workqueue_*`, label `name`), so existing dashboards and alerts
//! apply; supervision adds `orchestra_manager_task_*` (label `task`), and leader election
//! client-go's `leader_election_master_status`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::{Inner, TaskState};
use crate::controller::ControllerMetricsSnapshot;
use crate::workqueue::DurationHistogram;

/// A metric's name, help, and how to read its value from a controller's snapshot.
type SeriesOf<'a> = (&'a str, &'a str, fn(&ControllerMetricsSnapshot) -> u64);

/// Reads the manager's state at each scrape.
struct ManagerCollector(Arc<Inner>);

impl fmt::Debug for ManagerCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManagerCollector")
            .field(&self.0.name)
            .finish()
    }
}

/// The text of `/metrics`.
pub(super) fn encode(inner: &Arc<Inner>) -> Result<String, fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ManagerCollector(Arc::clone(inner))));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

/// Per-bucket counts with the overflow bucket, as `prometheus-client` takes them, from a
/// cumulative histogram. `prometheus-client` 0.24 writes an upper bound of `f64::MAX` as
/// `le="+Inf"`.
fn buckets(histogram: &DurationHistogram) -> Vec<(f64, u64)> {
    let mut previous = 0;
    let mut buckets: Vec<(f64, u64)> = histogram
        .buckets
        .iter()
        .map(|&(bound, cumulative)| {
            let count = cumulative.saturating_sub(previous);
            previous = cumulative;
            (bound, count)
        })
        .collect();
    buckets.push((f64::MAX, histogram.count.saturating_sub(previous)));
    buckets
}

fn seconds(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64()
}

impl Collector for ManagerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let inner = &self.0;
        let tasks: Vec<_> = inner.tasks().clone();
        let controllers: Vec<ControllerMetricsSnapshot> = tasks
            .iter()
            .filter_map(|task| task.controller.as_ref().map(|m| m.snapshot()))
            .collect();

        // Controllers (controller-runtime's names).
        {
            let mut metric = encoder.encode_descriptor(
                "controller_runtime_reconcile",
                "Total number of reconciliations per controller, by result.",
                None,
                MetricType::Counter,
            )?;
            for c in &controllers {
                for (result, value) in [
                    ("success", c.reconciles.success),
                    ("requeue_after", c.reconciles.requeue_after),
                    ("error", c.reconciles.error),
                ] {
                    metric
                        .encode_family(&[("controller", c.name.as_str()), ("result", result)])?
                        .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
                }
            }
        }
        let counters: [SeriesOf<'_>; 2] = [
            (
                "controller_runtime_reconcile_errors",
                "Total number of reconciliation errors per controller, panics included.",
                |c| c.errors,
            ),
            (
                "controller_runtime_reconcile_panics",
                "Total number of reconciliation panics per controller.",
                |c| c.panics,
            ),
        ];
        for (name, help, value) in counters {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for c in &controllers {
                metric
                    .encode_family(&[("controller", c.name.as_str())])?
                    .encode_counter::<NoLabelSet, _, u64>(&value(c), None)?;
            }
        }
        {
            let mut metric = encoder.encode_descriptor(
                "controller_runtime_reconcile_time_seconds",
                "Length of time per reconciliation per controller.",
                None,
                MetricType::Histogram,
            )?;
            for c in &controllers {
                metric
                    .encode_family(&[("controller", c.name.as_str())])?
                    .encode_histogram::<NoLabelSet>(
                        c.reconcile_time.sum,
                        c.reconcile_time.count,
                        &buckets(&c.reconcile_time),
                        None,
                    )?;
            }
        }
        let worker_gauges: [SeriesOf<'_>; 2] = [
            (
                "controller_runtime_active_workers",
                "Number of currently used workers per controller.",
                |c| c.active_workers as u64,
            ),
            (
                "controller_runtime_max_concurrent_reconciles",
                "Maximum number of concurrent reconciles per controller.",
                |c| c.max_workers as u64,
            ),
        ];
        for (name, help, value) in worker_gauges {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for c in &controllers {
                metric
                    .encode_family(&[("controller", c.name.as_str())])?
                    .encode_gauge(&value(c))?;
            }
        }

        // Work queues (client-go's names).
        let queues: Vec<_> = controllers
            .iter()
            .filter_map(|c| c.queue.as_ref())
            .collect();
        {
            let mut metric = encoder.encode_descriptor(
                "workqueue_depth",
                "Current depth of the work queue.",
                None,
                MetricType::Gauge,
            )?;
            for q in &queues {
                metric
                    .encode_family(&[("name", q.name.as_str())])?
                    .encode_gauge(&(q.depth as u64))?;
            }
        }
        for (name, help, retries) in [
            (
                "workqueue_adds",
                "Total number of adds handled by the work queue.",
                false,
            ),
            (
                "workqueue_retries",
                "Total number of retries handled by the work queue.",
                true,
            ),
        ] {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for q in &queues {
                let value = if retries { q.retries } else { q.adds };
                metric
                    .encode_family(&[("name", q.name.as_str())])?
                    .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
            }
        }
        for (name, help, work) in [
            (
                "workqueue_queue_duration_seconds",
                "How long in seconds an item stays in the work queue before being requested.",
                false,
            ),
            (
                "workqueue_work_duration_seconds",
                "How long in seconds processing an item from the work queue takes.",
                true,
            ),
        ] {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
            for q in &queues {
                let histogram = if work {
                    &q.work_duration
                } else {
                    &q.queue_duration
                };
                metric
                    .encode_family(&[("name", q.name.as_str())])?
                    .encode_histogram::<NoLabelSet>(
                        histogram.sum,
                        histogram.count,
                        &buckets(histogram),
                        None,
                    )?;
            }
        }
        for (name, help, longest) in [
            (
                "workqueue_unfinished_work_seconds",
                "How many seconds of work is in progress and not yet observed by work_duration.",
                false,
            ),
            (
                "workqueue_longest_running_processor_seconds",
                "How many seconds the longest running processor of the work queue has been running.",
                true,
            ),
        ] {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for q in &queues {
                let value = if longest {
                    seconds(q.longest_running_processor)
                } else {
                    seconds(q.unfinished_work)
                };
                metric
                    .encode_family(&[("name", q.name.as_str())])?
                    .encode_gauge(&value)?;
            }
        }

        // Supervision.
        {
            let mut metric = encoder.encode_descriptor(
                "orchestra_manager_task_restarts",
                "Total number of restarts of a supervised task after a panic.",
                None,
                MetricType::Counter,
            )?;
            for task in &tasks {
                metric
                    .encode_family(&[("task", task.name.as_str())])?
                    .encode_counter::<NoLabelSet, _, u64>(
                        &task.restarts.load(Ordering::Relaxed),
                        None,
                    )?;
            }
        }
        {
            let mut metric = encoder.encode_descriptor(
                "orchestra_manager_task_running",
                "Whether a supervised task is running (1) or not (0).",
                None,
                MetricType::Gauge,
            )?;
            for task in &tasks {
                let running = u64::from(task.state() == TaskState::Running);
                metric
                    .encode_family(&[("task", task.name.as_str())])?
                    .encode_gauge(&running)?;
            }
        }

        // Leader election (client-go's name).
        if let Some(elector) = &inner.elector {
            let mut metric = encoder.encode_descriptor(
                "leader_election_master_status",
                "Whether this process is the leader (1) or not (0).",
                None,
                MetricType::Gauge,
            )?;
            metric
                .encode_family(&[("name", elector.lock().name.as_str())])?
                .encode_gauge(&u64::from(elector.is_leader()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_buckets_become_per_bucket_counts_with_the_overflow_in_inf() {
        let histogram = DurationHistogram {
            buckets: vec![(0.1, 2), (1.0, 5), (10.0, 5)],
            count: 7,
            sum: 30.0,
        };
        assert_eq!(
            buckets(&histogram),
            [(0.1, 2), (1.0, 3), (10.0, 0), (f64::MAX, 2)]
        );
    }
}
