//! The controller work queue's throughput: `cargo bench -p orchestra-benches --bench workqueue`.
//!
//! 10,000 distinct keys are added while 1 or 8 workers take them, each worker handing a key
//! back with `done` at once (no reconcile work), so the figure is the queue's own cost per
//! key: add, dedup, hand-out to exactly one worker, done. Reported as keys per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orchestra_controller::workqueue::WorkQueue;

const KEYS: u64 = 10_000;

/// Adds `KEYS` keys and lets `workers` tasks drain them; the time until the last is done.
async fn drain(workers: usize) -> Duration {
    let queue = Arc::new(WorkQueue::<u64>::new());
    let start = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut handled = 0u64;
                while let Some(key) = queue.get().await {
                    queue.done(&key);
                    handled += 1;
                }
                handled
            })
        })
        .collect();
    for key in 0..KEYS {
        queue.add(key);
    }
    queue.shut_down_with_drain().await;
    let mut handled = 0;
    for task in tasks {
        handled += task.await.expect("a worker");
    }
    assert_eq!(handled, KEYS, "every key is handled exactly once");
    start.elapsed()
}

fn workqueue(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("workqueue");
    group.throughput(Throughput::Elements(KEYS));
    for workers in [1, 8] {
        group.bench_function(format!("add_get_done/{workers}_workers"), |b| {
            b.iter_custom(|iterations| {
                (0..iterations)
                    .map(|_| runtime.block_on(drain(workers)))
                    .sum()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, workqueue);
criterion_main!(benches);
