//! `orchestra simulate --trace DIR` as a user runs it: a trace directory in, one summary line
//! out; a missing trace is a one-line error and a failing exit code.

use std::process::Command;

fn orchestra() -> Command {
    Command::new(env!("CARGO_BIN_EXE_orchestra"))
}

#[test]
fn a_trace_replay_prints_pods_placed_and_gpus_allocated() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("openb_node_list_gpu_node.csv"),
        "sn,cpu_milli,memory_mib,gpu,model\nn0,16000,65536,4,T4\nn1,16000,65536,2,P100\n",
    )
    .expect("write nodes");
    // 4 + 2 GPUs: three whole-T4 tasks fit on n0 (3 of 4 GPUs), one P100 pair on n1, a
    // quarter-GPU share goes to the T4 left over, and a fourth pair of GPUs fits nowhere.
    std::fs::write(
        dir.path().join("tasks.csv"),
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n\
         t0,1000,1024,1,1000,T4\nt1,1000,1024,1,1000,T4\nt2,1000,1024,1,1000,T4\n\
         p0,1000,1024,2,1000,P100\ns0,500,512,1,250,\nbig,1000,1024,2,1000,\n",
    )
    .expect("write tasks");

    let output = orchestra()
        .args(["simulate", "--trace"])
        .arg(dir.path())
        .args(["--pod-list", "tasks.csv"])
        .output()
        .expect("orchestra runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    let line = stdout.lines().last().expect("a summary line");
    assert!(
        line.starts_with(
            "trace=tasks.csv pods=6 placed=5 gpus_allocated=5.2 gpus_total=6 allocation_ratio=0.875"
        ),
        "{line}"
    );
}

#[test]
fn a_missing_trace_is_a_one_line_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = orchestra()
        .args(["simulate", "--trace"])
        .arg(dir.path().join("absent"))
        .output()
        .expect("orchestra runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let message = stderr.trim_end();
    assert!(
        message.starts_with("orchestra: replaying ") && message.contains("absent"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
}
