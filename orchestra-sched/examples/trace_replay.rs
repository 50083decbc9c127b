//! Replays the Alibaba GPU trace (openb, `cluster-trace-gpu-v2023`) through the default
//! scheduler: GPUs as extended resources, GPU models as node affinity. Prints how many pods
//! and GPUs were placed and the share of the cluster's GPUs allocated.
//!
//! `cargo run --release -p orchestra-sched --example trace_replay -- [TRACE_DIR] [POD_LIST]`
//! (defaults: `../shared/traces/alibaba-gpu-v2023` and `openb_pod_list_default.csv`).

use std::path::PathBuf;
use std::time::Instant;

use orchestra_sched::Simulation;
use orchestra_sched::alibaba_trace::{load, task_pod};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces/alibaba-gpu-v2023")
    });
    let list = args
        .next()
        .unwrap_or_else(|| "openb_pod_list_default.csv".to_owned());
    let (nodes, tasks) = load(&dir, &list, false)?;
    let gpus_total: i64 = nodes
        .iter()
        .filter_map(|n| {
            n.status
                .as_ref()?
                .allocatable
                .as_ref()?
                .get("nvidia.com/gpu")
        })
        .filter_map(|q| q.0.parse::<i64>().ok())
        .sum();
    let pods: Vec<_> = tasks.iter().map(task_pod).collect();
    let start = Instant::now();
    let result = Simulation::default().run(nodes, pods)?;
    let seconds = start.elapsed().as_secs_f64();
    let mut gpu_milli = 0;
    let mut placed = 0;
    for (task, placement) in tasks.iter().zip(&result.placements) {
        if placement.is_placed() {
            placed += 1;
            gpu_milli += task.total_gpu_milli();
        }
    }
    println!(
        "trace={} pods={} placed={placed} gpus_allocated={:.1} gpus_total={gpus_total} allocation_ratio={:.3} seconds={seconds:.2}",
        list,
        tasks.len(),
        gpu_milli as f64 / 1000.0,
        gpu_milli as f64 / (gpus_total.max(1) * 1000) as f64
    );
    Ok(())
}
