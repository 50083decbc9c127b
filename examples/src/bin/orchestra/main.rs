//! `orchestra`: the cluster's components as subcommands.
//!
//! ```text
//! orchestra apiserver --data-dir DIR [--listen 127.0.0.1:6443] [--store embedded|memory|etcd=URL]
//! orchestra up --data-dir DIR [--nodes 3] [--listen 127.0.0.1:6443] [--store …]
//! orchestra controller-manager --kubeconfig FILE [--controllers *] [--node-monitor-grace-period 40s]
//! orchestra scheduler --kubeconfig FILE [--scheduler-config FILE]
//! orchestra node --kubeconfig FILE --name NAME [--node-cpu 4] [--node-memory 16Gi] [--node-pods 110]
//! orchestra simulate --trace DIR [--pod-list FILE] [--all-nodes] [--scheduler-config FILE]
//! ```

mod controller_manager;
mod node;
mod scheduler;
mod simulate;

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use futures::FutureExt;
use orchestra_api::Client;
use orchestra_apiserver::serve::termination_signal;
use orchestra_apiserver::server::{ApiServerConfig, StoreBackend, start};
use orchestra_client::HttpClient;
use orchestra_examples::cluster::{self, Components, numbered_nodes};
use orchestra_store::AdmissionConfig;
use orchestra_store::registry::service_allocation::ServiceNetwork;
use tracing_subscriber::EnvFilter;

/// Kubernetes-style orchestration: run a cluster's components.
#[derive(Debug, Parser)]
#[command(name = "orchestra", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a whole cluster in one process: API server, controller manager, scheduler and
    /// simulated nodes.
    Up(Box<UpArgs>),
    /// Serve the Kubernetes API over HTTPS in front of the store.
    Apiserver(ApiserverArgs),
    /// Run the built-in controllers, as kube-controller-manager does, over the API server.
    ControllerManager(ControllerManagerArgs),
    /// Run one node agent (kubelet) that joins the cluster.
    Node(NodeArgs),
    /// Assign pods to nodes, as kube-scheduler does, over the API server.
    Scheduler(SchedulerArgs),
    /// Replay a cluster trace through the scheduler alone, without a control plane.
    Simulate(simulate::SimulateArgs),
}

/// How a component that runs on its own reaches the API server.
#[derive(Debug, clap::Args)]
struct Connection {
    /// The kubeconfig whose current context names the API server and credentials
    /// (`DIR/kubeconfig` of `orchestra apiserver` or `up`).
    #[arg(long)]
    kubeconfig: PathBuf,
}

impl Connection {
    fn client(&self) -> Result<Arc<dyn Client>, String> {
        let client = HttpClient::from_kubeconfig(&self.kubeconfig)
            .map_err(|e| format!("{}: {e}", self.kubeconfig.display()))?;
        Ok(Arc::new(client))
    }
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    #[command(flatten)]
    apiserver: ApiserverArgs,
    /// How many simulated nodes to run, named `node-1` … `node-N`.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    #[command(flatten)]
    node: node::NodeFlags,
    #[command(flatten)]
    controller_manager: controller_manager::ControllerManagerFlags,
    #[command(flatten)]
    scheduler: scheduler::SchedulerFlags,
}

#[derive(Debug, clap::Args)]
struct ControllerManagerArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    controller_manager: controller_manager::ControllerManagerFlags,
    /// The plain-HTTP address of `/healthz`, `/readyz` and `/metrics`; not served when unset.
    #[arg(long)]
    health_bind_address: Option<SocketAddr>,
}

#[derive(Debug, clap::Args)]
struct NodeArgs {
    #[command(flatten)]
    connection: Connection,
    /// The node's name.
    #[arg(long)]
    name: String,
    #[command(flatten)]
    node: node::NodeFlags,
}

#[derive(Debug, clap::Args)]
struct SchedulerArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    scheduler: scheduler::SchedulerFlags,
}

#[derive(Debug, clap::Args)]
struct ApiserverArgs {
    /// Holds the PKI, the kubeconfig and, for the embedded store, the cluster's state.
    #[arg(long)]
    data_dir: PathBuf,
    /// The HTTPS address to serve on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Where the state lives: `embedded` (durable, in the data dir), `memory`, or
    /// `etcd=URL[,URL…]`.
    #[arg(long, default_value = "embedded")]
    store: StoreBackend,
    /// The address the `kubernetes` Service's endpoints point at; the listen address when
    /// unset (a loopback address gives it no endpoints, as Kubernetes refuses those).
    #[arg(long)]
    advertise_address: Option<std::net::IpAddr>,
    /// The CIDR Services' cluster IPs come from; its first address is the `kubernetes`
    /// Service's.
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cluster_ip_range: ipnet::Ipv4Net,
    /// The node ports NodePort and LoadBalancer Services get, as `FIRST-LAST`.
    #[arg(long, default_value = "30000-32767", value_parser = parse_port_range)]
    service_node_port_range: RangeInclusive<i32>,
    /// How long pods tolerate a not-ready node, unless they say otherwise (the
    /// `DefaultTolerationSeconds` admission plugin).
    #[arg(long, default_value_t = 300)]
    default_not_ready_toleration_seconds: i64,
    /// How long pods tolerate an unreachable node, unless they say otherwise.
    #[arg(long, default_value_t = 300)]
    default_unreachable_toleration_seconds: i64,
    /// How often the store's history is compacted, keeping one interval of it; 0 never
    /// compacts.
    #[arg(long, default_value = "5m", value_parser = parse_interval)]
    etcd_compaction_interval: Duration,
}

/// A duration such as `5m`, or `0` (none).
fn parse_interval(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    cluster::parse_duration(text)
}

fn parse_port_range(text: &str) -> Result<RangeInclusive<i32>, String> {
    let invalid = || format!("{text:?} is not a port range such as 30000-32767");
    let (first, last) = text.split_once('-').ok_or_else(invalid)?;
    let first: u16 = first.trim().parse().map_err(|_| invalid())?;
    let last: u16 = last.trim().parse().map_err(|_| invalid())?;
    if first == 0 || first > last {
        return Err(invalid());
    }
    Ok(i32::from(first)..=i32::from(last))
}

/// mimalloc: the control plane allocates small objects on every thread, where glibc's
/// allocator cost a quarter of the CPU of a 10,000-pod run (and fragmented).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("ORCHESTRA_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        // The simulation needs no async runtime.
        Command::Simulate(args) => simulate::run(&args),
        command => run_component(command),
    };
    exit_code(result)
}

/// Runs a component of the cluster on a multi-threaded async runtime until it stops.
fn run_component(command: Command) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|err| format!("cannot start the async runtime: {err}"))?;
    runtime.block_on(async {
        match command {
            Command::Up(args) => up(*args).await,
            Command::Apiserver(args) => apiserver(args).await,
            Command::ControllerManager(args) => controller_manager(args).await,
            Command::Node(args) => {
                let client = args.connection.client()?;
                let components = Components {
                    controller_manager: None,
                    scheduler: None,
                    nodes: vec![args.node.config(&args.name)],
                    ..Components::default()
                };
                components
                    .run(client, termination_signal().boxed().shared())
                    .await
            }
            Command::Scheduler(args) => {
                let client = args.connection.client()?;
                scheduler::run(client, &args.scheduler, termination_signal().boxed()).await
            }
            Command::Simulate(args) => simulate::run(&args),
        }
    })
}

fn exit_code(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("orchestra: {message}");
            ExitCode::FAILURE
        }
    }
}

impl ApiserverArgs {
    fn config(&self) -> ApiServerConfig {
        ApiServerConfig {
            data_dir: self.data_dir.clone(),
            listen: self.listen,
            store: self.store.clone(),
            service_network: ServiceNetwork {
                cluster_ip_range: self.service_cluster_ip_range,
                node_port_range: self.service_node_port_range.clone(),
            },
            advertise_address: self.advertise_address,
            admission: AdmissionConfig {
                default_not_ready_toleration_seconds: self.default_not_ready_toleration_seconds,
                default_unreachable_toleration_seconds: self.default_unreachable_toleration_seconds,
            },
            compaction_interval: Some(self.etcd_compaction_interval)
                .filter(|interval| !interval.is_zero()),
        }
    }
}

async fn apiserver(args: ApiserverArgs) -> Result<(), String> {
    let server = start(args.config(), Box::pin(termination_signal()))
        .await
        .map_err(|err| err.to_string())?;
    println!(
        "API server ready on https://{}\nkubectl --kubeconfig {} get namespaces",
        server.handle.local_addr(),
        server.kubeconfig.display()
    );
    server.handle.wait().await.map_err(|err| err.to_string())
}

/// The API server, then every other component over its in-process client, until a signal.
async fn up(args: UpArgs) -> Result<(), String> {
    let shutdown = termination_signal().boxed().shared();
    let server = start(args.apiserver.config(), shutdown.clone().boxed())
        .await
        .map_err(|err| err.to_string())?;
    let template = args.node.config("node");
    let components = Components {
        controller_manager: Some(args.controller_manager.config()),
        leader_elect: args.controller_manager.leader_elect,
        scheduler: Some(args.scheduler.configuration()?),
        nodes: numbered_nodes(args.nodes, &template),
    };
    println!(
        "Cluster up: API server on https://{}, {} node(s)\nkubectl --kubeconfig {} get nodes",
        server.handle.local_addr(),
        args.nodes,
        server.kubeconfig.display()
    );
    let client: Arc<dyn Client> = server.client.clone();
    let (components, served) = tokio::join!(components.run(client, shutdown), server.handle.wait());
    components?;
    served.map_err(|err| err.to_string())
}

async fn controller_manager(args: ControllerManagerArgs) -> Result<(), String> {
    let client = args.connection.client()?;
    let flags = &args.controller_manager;
    let manager = cluster::controller_manager(client, flags.config(), flags.leader_elect)?;
    let shutdown = termination_signal().boxed().shared();
    if let Some(address) = args.health_bind_address {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|err| format!("cannot listen on {address}: {err}"))?;
        let (manager, shutdown) = (manager.clone(), shutdown.clone());
        tokio::spawn(async move { manager.serve(listener, shutdown).await });
    }
    manager.run(shutdown).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apiserver_config(args: &[&str]) -> ApiServerConfig {
        let cli = Cli::try_parse_from(
            ["orchestra", "apiserver", "--data-dir", "/nonexistent"]
                .iter()
                .chain(args),
        )
        .expect("the flags parse");
        match cli.command {
            Command::Apiserver(apiserver) => apiserver.config(),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn the_compaction_interval_reads_as_kube_apiserver_writes_it() {
        let minutes = |m: u64| Some(Duration::from_secs(60 * m));
        assert_eq!(apiserver_config(&[]).compaction_interval, minutes(5));
        let flag = "--etcd-compaction-interval";
        assert_eq!(
            apiserver_config(&[flag, "1m"]).compaction_interval,
            minutes(1)
        );
        assert_eq!(apiserver_config(&[flag, "0"]).compaction_interval, None);
        assert!(
            Cli::try_parse_from(["orchestra", "apiserver", "--data-dir", "d", flag, "soon"])
                .is_err()
        );
    }
}
