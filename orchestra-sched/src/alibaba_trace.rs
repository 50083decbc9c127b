//! Reading the Alibaba GPU cluster trace (`cluster-trace-gpu-v2023`, "openb") into nodes and
//! pods, for simulations.
//!
//! Nodes (`sn,cpu_milli,memory_mib,gpu,model`) become Nodes with allocatable cpu and memory,
//! GPUs as the extended resources `nvidia.com/gpu` (whole GPUs) and
//! `alibabacloud.com/gpu-milli` (thousandths of a GPU, for GPU sharing), and the GPU model as
//! the label `alibabacloud.com/gpu-model`. Tasks
//! (`name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,…`) become pods requesting cpu,
//! memory and GPUs — a sharing task (`num_gpu` 1, `gpu_milli` below 1000) asks for its share in
//! `gpu-milli` only — with required node affinity to the models of `gpu_spec` when it names
//! any.

use std::fmt;
use std::path::Path;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;

use crate::config::ConfigError;
use crate::simulate::Simulation;

/// The extended resource of whole GPUs.
pub const GPU: &str = "nvidia.com/gpu";
/// The extended resource of thousandths of a GPU.
pub const GPU_MILLI: &str = "alibabacloud.com/gpu-milli";
/// The node label carrying the GPU model.
pub const GPU_MODEL_LABEL: &str = "alibabacloud.com/gpu-model";

/// A line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct TraceError {
    /// The file.
    pub file: String,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// One task of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The task's name.
    pub name: String,
    /// CPU in millicores.
    pub cpu_milli: i64,
    /// Memory in MiB.
    pub memory_mib: i64,
    /// GPUs.
    pub num_gpu: i64,
    /// Thousandths of each GPU.
    pub gpu_milli: i64,
    /// Acceptable GPU models (empty: any).
    pub gpu_models: Vec<String>,
}

impl Task {
    /// GPU thousandths the task needs in all.
    pub fn total_gpu_milli(&self) -> i64 {
        if self.num_gpu == 1 && self.gpu_milli < 1000 {
            self.gpu_milli
        } else {
            self.num_gpu * 1000
        }
    }
}

fn read(path: &Path) -> Result<String, TraceError> {
    std::fs::read_to_string(path).map_err(|e| TraceError {
        file: path.display().to_string(),
        line: 0,
        message: e.to_string(),
    })
}

fn field(fields: &[&str], i: usize, path: &Path, line: usize) -> Result<i64, TraceError> {
    fields
        .get(i)
        .map(|s| s.trim())
        .unwrap_or("")
        .parse()
        .map_err(|_| TraceError {
            file: path.display().to_string(),
            line,
            message: format!("column {} is not an integer", i + 1),
        })
}

/// Reads a node list.
pub fn read_nodes(path: &Path) -> Result<Vec<Node>, TraceError> {
    let text = read(path)?;
    let mut nodes = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let name = f[0].trim();
        let cpu = field(&f, 1, path, i + 1)?;
        let memory = field(&f, 2, path, i + 1)?;
        let gpus = field(&f, 3, path, i + 1)?;
        let model = f.get(4).map(|s| s.trim()).unwrap_or("");
        let mut labels = json!({"kubernetes.io/hostname": name});
        if !model.is_empty() {
            labels[GPU_MODEL_LABEL] = json!(model);
        }
        let node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "status": {"allocatable": {
                "cpu": format!("{cpu}m"), "memory": format!("{memory}Mi"), "pods": "256",
                GPU: gpus.to_string(), GPU_MILLI: (gpus * 1000).to_string()
            }}
        }))
        .map_err(|e| TraceError {
            file: path.display().to_string(),
            line: i + 1,
            message: e.to_string(),
        })?;
        nodes.push(node);
    }
    Ok(nodes)
}

/// Reads a task list.
pub fn read_tasks(path: &Path) -> Result<Vec<Task>, TraceError> {
    let text = read(path)?;
    let mut tasks = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        tasks.push(Task {
            name: f[0].trim().to_owned(),
            cpu_milli: field(&f, 1, path, i + 1)?,
            memory_mib: field(&f, 2, path, i + 1)?,
            num_gpu: field(&f, 3, path, i + 1)?,
            gpu_milli: field(&f, 4, path, i + 1)?,
            gpu_models: f
                .get(5)
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .map(|s| s.split('|').map(str::to_owned).collect())
                .unwrap_or_default(),
        });
    }
    Ok(tasks)
}

/// The pod of a task.
pub fn task_pod(task: &Task) -> Pod {
    let mut requests =
        json!({"cpu": format!("{}m", task.cpu_milli), "memory": format!("{}Mi", task.memory_mib)});
    if task.num_gpu > 0 {
        if task.num_gpu == 1 && task.gpu_milli < 1000 {
            requests[GPU_MILLI] = json!(task.gpu_milli.to_string());
        } else {
            requests[GPU] = json!(task.num_gpu.to_string());
            requests[GPU_MILLI] = json!((task.num_gpu * 1000).to_string());
        }
    }
    let mut spec = json!({"containers": [{"name": "task", "image": "registry.k8s.io/pause:3.9", "resources": {"requests": requests}}]});
    if !task.gpu_models.is_empty() {
        spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": GPU_MODEL_LABEL, "operator": "In", "values": task.gpu_models}]}]}}});
    }
    serde_json::from_value(json!({
        "metadata": {"name": task.name, "namespace": "default", "uid": task.name, "labels": {"app": "openb"}},
        "spec": spec
    }))
    .unwrap_or_default()
}

/// The nodes and pods of a trace directory: `openb_node_list_gpu_node.csv` (or
/// `openb_node_list_all_node.csv` with `all_nodes`) and the named task list.
pub fn load(
    dir: &Path,
    pod_list: &str,
    all_nodes: bool,
) -> Result<(Vec<Node>, Vec<Task>), TraceError> {
    let nodes = read_nodes(&dir.join(if all_nodes {
        "openb_node_list_all_node.csv"
    } else {
        "openb_node_list_gpu_node.csv"
    }))?;
    let tasks = read_tasks(&dir.join(pod_list))?;
    Ok((nodes, tasks))
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The trace does not read.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The scheduler configuration does not build.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// What a replay placed.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaySummary {
    /// The task list replayed.
    pub pod_list: String,
    /// Tasks in the list.
    pub pods: usize,
    /// Tasks placed on a node.
    pub placed: usize,
    /// GPUs allocated to placed tasks (shared GPUs count by their share).
    pub gpus_allocated: f64,
    /// GPUs in the cluster.
    pub gpus_total: i64,
    /// Wall-clock seconds of the scheduling.
    pub seconds: f64,
}

impl ReplaySummary {
    /// The share of the cluster's GPUs allocated, 0 to 1.
    pub fn allocation_ratio(&self) -> f64 {
        self.gpus_allocated / self.gpus_total.max(1) as f64
    }
}

impl fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "trace={} pods={} placed={} gpus_allocated={:.1} gpus_total={} allocation_ratio={:.3} seconds={:.2}",
            self.pod_list,
            self.pods,
            self.placed,
            self.gpus_allocated,
            self.gpus_total,
            self.allocation_ratio(),
            self.seconds
        )
    }
}

/// Replays the task list `pod_list` of the trace in `dir` through `simulation`, all tasks
/// queued at once, and sums up what was placed.
pub fn replay(
    dir: &Path,
    pod_list: &str,
    all_nodes: bool,
    simulation: Simulation,
) -> Result<ReplaySummary, ReplayError> {
    let (nodes, tasks) = load(dir, pod_list, all_nodes)?;
    let gpus_total = nodes
        .iter()
        .filter_map(|n| n.status.as_ref()?.allocatable.as_ref()?.get(GPU))
        .filter_map(|q| q.0.parse::<i64>().ok())
        .sum();
    let pods: Vec<_> = tasks.iter().map(task_pod).collect();
    let start = Instant::now();
    let result = simulation.run(nodes, pods)?;
    let seconds = start.elapsed().as_secs_f64();
    let placed_tasks = tasks
        .iter()
        .zip(&result.placements)
        .filter(|(_, placement)| placement.is_placed())
        .map(|(task, _)| task);
    let (placed, gpu_milli) = placed_tasks.fold((0, 0), |(n, milli), task| {
        (n + 1, milli + task.total_gpu_milli())
    });
    Ok(ReplaySummary {
        pod_list: pod_list.to_owned(),
        pods: tasks.len(),
        placed,
        gpus_allocated: gpu_milli as f64 / 1000.0,
        gpus_total,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::pod_requests;

    #[test]
    fn tasks_become_pods_with_gpu_requests_and_model_affinity() {
        let shared = Task {
            name: "t1".into(),
            cpu_milli: 6000,
            memory_mib: 12288,
            num_gpu: 1,
            gpu_milli: 460,
            gpu_models: vec!["T4".into(), "P100".into()],
        };
        let pod = task_pod(&shared);
        let r = pod_requests(&pod).requests;
        assert_eq!((r.milli_cpu, r.memory), (6000, 12288 << 20));
        assert_eq!((r.scalar.get(GPU), r.scalar.get(GPU_MILLI)), (0, 460));
        let terms = pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|n| {
                n.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(|s| s.node_selector_terms.len());
        assert_eq!(terms, Some(1));
        let whole = Task {
            num_gpu: 2,
            gpu_milli: 1000,
            gpu_models: Vec::new(),
            ..shared
        };
        let r = pod_requests(&task_pod(&whole)).requests;
        assert_eq!((r.scalar.get(GPU), r.scalar.get(GPU_MILLI)), (2, 2000));
        assert_eq!(whole.total_gpu_milli(), 2000);
    }

    #[test]
    fn csv_files_are_read_and_bad_lines_named() {
        let dir = std::env::temp_dir().join(format!("openb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join("openb_node_list_gpu_node.csv"),
            "sn,cpu_milli,memory_mib,gpu,model\nopenb-node-0000,64000,262144,2,P100\n",
        )
        .expect("write");
        std::fs::write(
            dir.join("pods.csv"),
            "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,1024,1,500\np1,x,1,0,0\n",
        )
        .expect("write");
        let nodes = read_nodes(&dir.join("openb_node_list_gpu_node.csv")).expect("nodes");
        assert_eq!(nodes.len(), 1);
        let labels = nodes[0].metadata.labels.as_ref().expect("labels");
        assert_eq!(
            labels.get(GPU_MODEL_LABEL).map(String::as_str),
            Some("P100")
        );
        let err = load(&dir, "pods.csv", false).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("pods.csv:3: column 2 is not an integer"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn a_replay_counts_placed_tasks_and_their_gpus() {
        let dir = std::env::temp_dir().join(format!("openb-replay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join("openb_node_list_gpu_node.csv"),
            "sn,cpu_milli,memory_mib,gpu,model\nn0,8000,16384,2,T4\nn1,8000,16384,1,V100\n",
        )
        .expect("write");
        // Two whole T4s, half a GPU of any model, a V100 that no longer fits, and a task
        // asking for a model the cluster does not have.
        std::fs::write(
            dir.join("pods.csv"),
            "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n\
             a,1000,1024,2,1000,T4\n\
             b,1000,1024,1,500,\n\
             c,1000,1024,1,1000,V100\n\
             d,1000,1024,1,1000,A100\n",
        )
        .expect("write");
        let summary = replay(&dir, "pods.csv", false, Simulation::default()).expect("replays");
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert_eq!(
            (summary.pods, summary.placed, summary.gpus_total),
            (4, 2, 3)
        );
        assert_eq!(summary.gpus_allocated, 2.5);
        assert!((summary.allocation_ratio() - 2.5 / 3.0).abs() < 1e-9);
        assert!(
            summary
                .to_string()
                .starts_with("trace=pods.csv pods=4 placed=2 gpus_allocated=2.5 gpus_total=3 allocation_ratio=0.833"),
            "{summary}"
        );
    }
}
