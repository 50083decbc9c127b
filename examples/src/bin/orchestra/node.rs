//! `orchestra node`: one node agent as its own process, joining a running cluster.

use orchestra_api::Quantity;
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
}

impl NodeFlags {
    /// The configuration of a node named `name` with these resources.
    pub fn config(&self, name: &str) -> NodeConfig {
        let mut config = NodeConfig::new(name);
        config.cpu = self.node_cpu;
        config.memory = self.node_memory;
        config.pods = self.node_pods;
        config
    }
}
