//! The cluster's scale harness: simulated nodes, Deployments applied at once, and the time until
//! every pod runs — the whole control plane (store, controllers, scheduler, node agents) in one
//! process over an in-memory store, as kwok measures a real control plane.
//!
//! ```text
//! cargo run --release -p orchestra-benches --bin cluster-scale -- --nodes 1000 --deployments 100 --replicas 100
//! ```
//!
//! The last line is `nodes=N pods=P running=R seconds=T peak_rss_mib=M store_writes_per_second=W`:
//! `seconds` from the first Deployment's create to the last pod Running, `peak_rss_mib` the
//! process's peak resident memory, and the write rate the store's revisions over that time.
//! Every two seconds a progress line on stderr (`t=… created=… bound=… running=…`) shows which
//! stage a slow run is waiting on: the controllers (created), the scheduler (bound) or the node
//! agents (running).

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::FutureExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use orchestra_api::{Api, Client, PostParams, WatchEvent, WatchParams, kinds};
use orchestra_examples::cluster::{Components, numbered_nodes};
use orchestra_node::NodeConfig;
use orchestra_store::{KvStore, LocalClient, MemoryKv, Store, StoreConfig};
use serde_json::json;

/// mimalloc, as the `orchestra` binary uses: the control plane allocates small objects on
/// every thread, where glibc's allocator spent a quarter of the run's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How often the harness reports its progress on stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

struct Args {
    nodes: usize,
    deployments: usize,
    replicas: usize,
    timeout: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut parsed = Args {
        nodes: 1000,
        deployments: 100,
        replicas: 100,
        timeout: Duration::from_secs(600),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value: usize = args
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{flag} needs a number"))?;
        match flag.as_str() {
            "--nodes" => parsed.nodes = value,
            "--deployments" => parsed.deployments = value,
            "--replicas" => parsed.replicas = value,
            "--timeout-seconds" => parsed.timeout = Duration::from_secs(value as u64),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(parsed)
}

fn deployment(index: usize, replicas: usize) -> Deployment {
    let name = format!("scale-{index}");
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "app",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}
                }]}
            }
        }
    }))
    .expect("a valid Deployment")
}

/// The process's peak resident set (`VmHWM`), in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

async fn run(args: Args) -> Result<(), String> {
    let kv = Arc::new(MemoryKv::new());
    let store = Store::open(
        kv.clone(),
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        StoreConfig::default(),
    )
    .await
    .map_err(|e| format!("store: {e}"))?;
    let client: Arc<dyn Client> = Arc::new(LocalClient::new(store));
    orchestra_apiserver::bootstrap::ensure_system_namespaces(client.as_ref())
        .await
        .map_err(|e| format!("bootstrap: {e}"))?;

    let mut template = NodeConfig::new("template");
    template.pods = 110.max((args.deployments * args.replicas).div_ceil(args.nodes.max(1)) as u32);
    template.cpu = "64".parse().expect("a quantity");
    template.memory = "256Gi".parse().expect("a quantity");
    template.record_events = false;
    let components = Components {
        leader_elect: false,
        nodes: numbered_nodes(args.nodes, &template),
        ..Components::default()
    };
    let (stop, stopped) = futures::channel::oneshot::channel::<()>();
    let shutdown = stopped.map(|_| ()).boxed().shared();
    let cluster = tokio::spawn(components.run(client.clone(), shutdown));

    // Wait for the nodes to register before the clock starts.
    let nodes = Api::<k8s_openapi::api::core::v1::Node>::all(client.clone());
    let deadline = Instant::now() + args.timeout;
    loop {
        let registered = nodes
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?;
        if registered.items.len() >= args.nodes {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("only {} nodes registered", registered.items.len()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let pods_api = Api::<Pod>::all(client.clone());
    let mut watch = pods_api
        .watch(&WatchParams::default())
        .await
        .map_err(|e| e.to_string())?;
    let want = args.deployments * args.replicas;
    let revision_before = kv.current_revision().await.map_err(|e| e.to_string())?;
    let start = Instant::now();
    let deployments = Api::<Deployment>::namespaced(client.clone(), "default");
    let creates = (0..args.deployments).map(|i| {
        let deployments = deployments.clone();
        async move {
            deployments
                .create(&PostParams::default(), &deployment(i, args.replicas))
                .await
        }
    });
    for created in futures::future::join_all(creates).await {
        created.map_err(|e| format!("create: {e}"))?;
    }

    let mut running = HashSet::new();
    let mut seen = HashSet::new();
    let mut bound = HashSet::new();
    let mut next_progress = Instant::now() + PROGRESS_EVERY;
    while running.len() < want {
        if Instant::now() >= next_progress {
            next_progress += PROGRESS_EVERY;
            eprintln!(
                "t={:.1}s created={} bound={} running={}",
                start.elapsed().as_secs_f64(),
                seen.len(),
                bound.len(),
                running.len()
            );
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let event = match tokio::time::timeout(remaining, watch.next()).await {
            Ok(Some(event)) => event,
            Ok(None) => return Err("the pod watch ended".into()),
            Err(_) => break,
        };
        match event {
            WatchEvent::Added(pod) | WatchEvent::Modified(pod) => {
                let name = pod.metadata.name.clone().unwrap_or_default();
                seen.insert(name.clone());
                if pod.spec.as_ref().is_some_and(|s| s.node_name.is_some()) {
                    bound.insert(name.clone());
                }
                let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
                if phase == Some("Running") {
                    running.insert(name);
                } else {
                    running.remove(&name);
                }
            }
            WatchEvent::Deleted(pod) => {
                let name = pod.metadata.name.clone().unwrap_or_default();
                running.remove(&name);
                bound.remove(&name);
                seen.remove(&name);
            }
            WatchEvent::Error(status) => return Err(format!("watch: {status}")),
            WatchEvent::Bookmark(_) => {}
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let revision_after = kv.current_revision().await.map_err(|e| e.to_string())?;
    let writes = revision_after.saturating_sub(revision_before);
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), cluster).await;
    println!(
        "nodes={} pods={} running={} seconds={seconds:.2} peak_rss_mib={} store_writes_per_second={:.0}",
        args.nodes,
        seen.len(),
        running.len(),
        peak_rss_mib(),
        writes as f64 / seconds.max(f64::EPSILON)
    );
    if running.len() < want {
        return Err(format!(
            "{} of {want} pods running when the time ran out",
            running.len()
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!(
                "cluster-scale: {message}\nusage: cluster-scale [--nodes N] [--deployments N] [--replicas N] [--timeout-seconds N]"
            );
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cluster-scale: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cluster-scale: {message}");
            ExitCode::FAILURE
        }
    }
}
