//! `orchestra node`: one node agent as its own process, joining a running cluster.

use std::time::Duration;

use orchestra_api::Quantity;
use orchestra_examples::cluster::parse_duration;
use orchestra_node::NodeConfig;

/// The container runtimes a node agent can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    /// Simulated containers: no processes, behaviour set by pod annotations.
    Sim,
}

/// The resources and runtime of node agents, shared by `node` and `up`.
#[derive(Debug, Clone, clap::Args)]
pub struct NodeFlags {
    /// The container runtime.
    #[arg(long, value_enum, default_value = "sim")]
    pub runtime: Runtime,
    /// Each node's CPU capacity.
    #[arg(long, default_value = "4")]
    pub node_cpu: Quantity,
    /// Each node's memory capacity.
    #[arg(long, default_value = "16Gi")]
    pub node_memory: Quantity,
    /// The most pods each node runs (`--max-pods`).
    #[arg(long, default_value_t = 110)]
    pub node_pods: u32,
    /// How often each node agent computes and posts its node status.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub node_status_update_frequency: Duration,
    /// How long each node's Lease lasts; the agent renews it every quarter of that.
    #[arg(long, default_value_t = 40)]
    pub node_lease_duration_seconds: u64,
}

impl NodeFlags {
    /// The configuration of a node named `name` with these resources.
    pub fn config(&self, name: &str) -> NodeConfig {
        let mut config = NodeConfig::new(name);
        config.cpu = self.node_cpu;
        config.memory = self.node_memory;
        config.pods = self.node_pods;
        config.node_status_update_frequency = self.node_status_update_frequency;
        config.node_lease_duration = Duration::from_secs(self.node_lease_duration_seconds);
        config.node_lease_renew_interval = config.node_lease_duration / 4;
        config
    }
}
