//! `orchestra`: the cluster's components as subcommands.
//!
//! ```text
//! orchestra apiserver --data-dir DIR [--listen 127.0.0.1:6443] [--store embedded|memory|etcd=URL]
//! orchestra scheduler --kubeconfig FILE [--scheduler-config FILE]
//! orchestra simulate --trace DIR [--pod-list FILE] [--all-nodes] [--scheduler-config FILE]
//! ```

mod scheduler;
mod simulate;

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use futures::FutureExt;
use orchestra_api::Client;
use orchestra_apiserver::serve::termination_signal;
use orchestra_apiserver::server::{ApiServerConfig, StoreBackend, start};
use orchestra_client::HttpClient;
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
    /// Serve the Kubernetes API over HTTPS in front of the store.
    Apiserver(ApiserverArgs),
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
            Command::Apiserver(args) => apiserver(args).await,
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

async fn apiserver(args: ApiserverArgs) -> Result<(), String> {
    let config = ApiServerConfig {
        data_dir: args.data_dir,
        listen: args.listen,
        store: args.store,
        service_network: ServiceNetwork {
            cluster_ip_range: args.service_cluster_ip_range,
            node_port_range: args.service_node_port_range,
        },
        advertise_address: args.advertise_address,
    };
    let server = start(config, Box::pin(termination_signal()))
        .await
        .map_err(|err| err.to_string())?;
    println!(
        "API server ready on https://{}\nkubectl --kubeconfig {} get namespaces",
        server.handle.local_addr(),
        server.kubeconfig.display()
    );
    server.handle.wait().await.map_err(|err| err.to_string())
}
