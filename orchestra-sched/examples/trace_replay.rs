//! Replays the Alibaba GPU trace (openb, `cluster-trace-gpu-v2023`) through the default
//! scheduler: GPUs as extended resources, GPU models as node affinity. Prints how many pods
//! and GPUs were placed and the share of the cluster's GPUs allocated.
//!
//! `cargo run --release -p orchestra-sched --example trace_replay -- [TRACE_DIR] [POD_LIST]`
//! (defaults: `../shared/traces/alibaba-gpu-v2023` and `openb_pod_list_default.csv`).

use std::path::PathBuf;

use orchestra_sched::Simulation;
use orchestra_sched::alibaba_trace::replay;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces/alibaba-gpu-v2023")
    });
    let list = args
        .next()
        .unwrap_or_else(|| "openb_pod_list_default.csv".to_owned());
    println!("{}", replay(&dir, &list, false, Simulation::default())?);
    Ok(())
}
