//! The scheduler's scale harness, like Kubernetes' `scheduler_perf`: simulated nodes, no
//! kubelets, the default profile, and the throughput of placing a workload's pods.
//!
//! ```text
//! cargo run --release -p orchestra-benches --bin sched-perf -- --nodes 5000 --pods 10000 --workload basic
//! ```
//!
//! The last line is `workload=W nodes=N pods=P scheduled=S seconds=T pods_per_second=R`, where
//! the time covers queueing and scheduling every pod (parsing pods included) and `scheduled`
//! counts pods of the workload that ended on a node.

use std::process::ExitCode;
use std::time::Instant;

use orchestra_benches::sched_workloads::{WORKLOADS, workload};
use orchestra_sched::{Outcome, Simulation};

fn main() -> ExitCode {
    let mut nodes = 5000;
    let mut pods = 10000;
    let mut name = "basic".to_owned();
    let mut threads = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        let parsed = value.as_deref().map(str::parse::<usize>);
        match (arg.as_str(), parsed, value) {
            ("--nodes", Some(Ok(n)), _) => nodes = n,
            ("--pods", Some(Ok(n)), _) => pods = n,
            ("--threads", Some(Ok(n)), _) => threads = Some(n),
            ("--workload", _, Some(w)) => name = w,
            _ => {
                eprintln!(
                    "usage: sched-perf [--nodes N] [--pods N] [--threads N] [--workload {}]",
                    WORKLOADS.join("|")
                );
                return ExitCode::from(2);
            }
        }
    }
    let Some((node_list, pod_list)) = workload(&name, nodes, pods) else {
        eprintln!("unknown workload {name:?}; one of {}", WORKLOADS.join(", "));
        return ExitCode::from(2);
    };
    let mut simulation = Simulation::default();
    if let Some(threads) = threads {
        simulation = simulation.with_parallelism(threads);
    }
    let cpu_before = cpu_seconds().unwrap_or(0.0);
    let start = Instant::now();
    let result = match simulation.run(node_list, pod_list) {
        Ok(result) => result,
        Err(error) => {
            eprintln!("simulation failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds().map(|c| c - cpu_before);
    let scheduled = result
        .placements
        .iter()
        .filter(|p| p.outcome == Outcome::Scheduled)
        .count();
    let unschedulable = result
        .placements
        .iter()
        .filter(|p| p.outcome == Outcome::Unschedulable)
        .count();
    // On a shared machine the wall time includes waiting for a core; the process's CPU time
    // says what the scheduling itself cost.
    match cpu {
        Some(cpu) => println!(
            "cycles={} unschedulable={unschedulable} cpu_seconds={cpu:.3} pods_per_cpu_second={:.0}",
            result.cycles,
            scheduled as f64 / cpu
        ),
        None => println!("cycles={} unschedulable={unschedulable}", result.cycles),
    }
    println!(
        "workload={name} nodes={nodes} pods={pods} scheduled={scheduled} seconds={seconds:.3} pods_per_second={:.0}",
        scheduled as f64 / seconds
    );
    ExitCode::SUCCESS
}

/// This process's user + system CPU time so far, from `/proc/self/stat` (Linux only).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
