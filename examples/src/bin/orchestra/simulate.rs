//! `orchestra simulate`: replay a cluster trace through the scheduling algorithm alone, with
//! no control plane.

use std::path::PathBuf;

use orchestra_sched::Simulation;
use orchestra_sched::alibaba_trace::replay;

use crate::scheduler::SchedulerFlags;

/// Flags of `orchestra simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// A directory of the Alibaba GPU trace (`cluster-trace-gpu-v2023`, "openb"), such as
    /// `../shared/traces/alibaba-gpu-v2023`.
    #[arg(long)]
    trace: PathBuf,
    /// The task list in the trace directory to replay.
    #[arg(long, default_value = "openb_pod_list_default.csv")]
    pod_list: String,
    /// Use every node of the trace (`openb_node_list_all_node.csv`), not only the GPU nodes.
    #[arg(long)]
    all_nodes: bool,
    #[command(flatten)]
    scheduler: SchedulerFlags,
}

/// Replays the trace and prints one summary line: pods placed, GPUs allocated and the
/// allocation ratio.
pub fn run(args: &SimulateArgs) -> Result<(), String> {
    let simulation = Simulation::new(args.scheduler.configuration()?);
    let summary = replay(&args.trace, &args.pod_list, args.all_nodes, simulation)
        .map_err(|e| format!("replaying {}: {e}", args.trace.display()))?;
    println!("{summary}");
    Ok(())
}
