//! Many idle node agents in one process: what they cost in CPU and memory.
//!
//! Starts `--nodes` agents (5,000 by default) on simulated runtimes against an in-process
//! API server over `MemoryKv`, with Kubernetes' default timings (Lease every 10 s, node
//! status every 10 s, housekeeping every 10 s), optionally `--pods-per-node` pods each, waits
//! until every node is Ready (and every pod Running), then measures the process over
//! `--idle-seconds` of idling: CPU time used (user + system, from `/proc/self/stat`) and
//! resident memory (`/proc/self/status`). The last line is
//! `nodes=N pods=P ready_seconds=T idle_cpu_percent=C rss_mib=M`.
//!
//! ```text
//! cargo bench -p orchestra-node --bench idle_agents -- --nodes 5000 --idle-seconds 30
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use orchestra_api::k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use orchestra_api::{Api, Client, ListParams, PostParams, kinds};
use orchestra_node::{NodeAgent, NodeConfig, SimRuntime};
use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};

struct Args {
    nodes: usize,
    pods_per_node: usize,
    idle_seconds: u64,
}

fn args() -> Args {
    let mut parsed = Args {
        nodes: 5000,
        pods_per_node: 0,
        idle_seconds: 30,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse::<u64>().ok());
        match arg.as_str() {
            "--nodes" => parsed.nodes = value().map_or(parsed.nodes, |v| v as usize),
            "--pods-per-node" => {
                parsed.pods_per_node = value().map_or(parsed.pods_per_node, |v| v as usize);
            }
            "--idle-seconds" => parsed.idle_seconds = value().unwrap_or(parsed.idle_seconds),
            _ => {}
        }
    }
    parsed
}

/// CPU time (user + system) the process has used.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 14th field,
    // stime the 15th, in clock ticks (100 per second on Linux).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Resident memory in MiB.
fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

async fn count(client: &Arc<dyn Client>, nodes: usize, pods: usize) -> (usize, usize) {
    let ready_nodes = Api::<Node>::all(Arc::clone(client))
        .list(&ListParams::default())
        .await
        .map(|list| {
            list.items
                .iter()
                .filter(|n| {
                    n.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .count()
        })
        .unwrap_or(0);
    let running = if pods == 0 {
        0
    } else {
        Api::<Pod>::all(Arc::clone(client))
            .list(&ListParams::default())
            .await
            .map(|list| {
                list.items
                    .iter()
                    .filter(|p| {
                        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                    })
                    .count()
            })
            .unwrap_or(0)
    };
    let _ = nodes;
    (ready_nodes, running)
}

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(async move {
        let store = Store::open(
            Arc::new(MemoryKv::new()),
            kinds::BUILTIN.iter().map(|k| (*k).clone()),
            StoreConfig::default(),
        )
        .await
        .expect("the store opens");
        let client: Arc<dyn Client> = Arc::new(LocalClient::new(store));
        for name in ["default", "kube-node-lease"] {
            let mut ns = Namespace::default();
            ns.metadata.name = Some(name.to_owned());
            let _ = Api::<Namespace>::all(Arc::clone(&client))
                .create(&PostParams::default(), &ns)
                .await;
        }
        let baseline_rss = rss_mib();
        let started = Instant::now();
        let mut stops = Vec::with_capacity(args.nodes);
        for n in 1..=args.nodes {
            let mut config = NodeConfig::new(format!("node-{n}"));
            config.record_events = false;
            let agent = NodeAgent::builder(Arc::clone(&client), config)
                .sim(SimRuntime::new())
                .build()
                .expect("the agent builds");
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(agent.run(async move {
                let _ = stopped.await;
            }));
            stops.push(stop);
        }
        let pods_api = Api::<Pod>::namespaced(Arc::clone(&client), "default");
        let total_pods = args.nodes * args.pods_per_node;
        for n in 1..=args.nodes {
            for p in 0..args.pods_per_node {
                let pod: Pod = serde_json::from_value(serde_json::json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("pod-{n}-{p}"), "namespace": "default"},
                    "spec": {"nodeName": format!("node-{n}"), "containers": [{"name": "app", "image": "nginx:1.27"}]}
                }))
                .expect("a pod");
                pods_api
                    .create(&PostParams::default(), &pod)
                    .await
                    .expect("the pod is created");
            }
        }
        loop {
            let (ready, running) = count(&client, args.nodes, total_pods).await;
            if ready == args.nodes && running == total_pods {
                break;
            }
            if started.elapsed() > Duration::from_secs(600) {
                panic!("only {ready} nodes Ready and {running} pods Running after 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let ready_seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "{} nodes Ready, {total_pods} pods Running after {ready_seconds:.1} s; idling {} s",
            args.nodes, args.idle_seconds
        );
        let cpu_before = cpu_time();
        let idle_started = Instant::now();
        tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
        let cpu = cpu_time().saturating_sub(cpu_before);
        let wall = idle_started.elapsed();
        let idle_cpu_percent = 100.0 * cpu.as_secs_f64() / wall.as_secs_f64();
        let rss = rss_mib();
        eprintln!(
            "idle: {:.2} CPU seconds in {:.1} s; resident memory {rss} MiB ({} MiB before the agents started, {:.1} KiB per agent)",
            cpu.as_secs_f64(),
            wall.as_secs_f64(),
            baseline_rss,
            (rss.saturating_sub(baseline_rss) as f64 * 1024.0) / args.nodes as f64
        );
        println!(
            "nodes={} pods={total_pods} ready_seconds={ready_seconds:.1} idle_cpu_percent={idle_cpu_percent:.1} rss_mib={rss}",
            args.nodes
        );
        for stop in stops {
            let _ = stop.send(());
        }
    });
}
