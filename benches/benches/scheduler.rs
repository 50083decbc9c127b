//! Scheduler throughput: whole simulations with the default profile.
//!
//! ```text
//! cargo bench -p orchestra-benches --bench scheduler
//! ```
//!
//! - `trace/openb_default`: the 8,152 tasks of the Alibaba GPU trace
//!   (`../shared/traces/alibaba-gpu-v2023`) onto its 1,213 GPU nodes (GPUs as extended
//!   resources, GPU models as node affinity); skipped with a message when the trace is absent.
//! - `basic/1000x2000`: 2,000 pods of 100m / 500 MiB onto 1,000 nodes.
//!
//! Throughput is in pods per second (criterion's elements/s).

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orchestra_benches::sched_workloads::workload;
use orchestra_sched::Simulation;
use orchestra_sched::alibaba_trace::{load, task_pod};

fn trace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces/alibaba-gpu-v2023")
}

fn trace(c: &mut Criterion) {
    let dir = trace_dir();
    let Ok((nodes, tasks)) = load(&dir, "openb_pod_list_default.csv", false) else {
        eprintln!(
            "trace not found at {}; skipping trace/openb_default",
            dir.display()
        );
        return;
    };
    let pods: Vec<_> = tasks.iter().map(task_pod).collect();
    let mut group = c.benchmark_group("trace");
    group.sample_size(10);
    group.throughput(Throughput::Elements(pods.len() as u64));
    group.bench_function("openb_default", |b| {
        b.iter(|| {
            Simulation::default()
                .run(nodes.clone(), pods.clone())
                .map(|r| r.placed())
        })
    });
    group.finish();
}

fn basic(c: &mut Criterion) {
    let Some((nodes, pods)) = workload("basic", 1000, 2000) else {
        return;
    };
    let mut group = c.benchmark_group("basic");
    group.sample_size(10);
    group.throughput(Throughput::Elements(pods.len() as u64));
    group.bench_function("1000x2000", |b| {
        b.iter(|| {
            Simulation::default()
                .run(nodes.clone(), pods.clone())
                .map(|r| r.placed())
        })
    });
    group.finish();
}

criterion_group!(benches, trace, basic);
criterion_main!(benches);
