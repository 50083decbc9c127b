//! The cluster's components composed over one API client: the controller manager, the
//! scheduler and simulated node agents. `orchestra up` runs them in-process next to the API
//! server; the separate subcommands (`controller-manager`, `scheduler`, `node`) run one each
//! over HTTPS; the scale harness runs them over an in-memory store.
//!
//! ```no_run
//! # async fn demo(client: std::sync::Arc<dyn orchestra_api::Client>) -> Result<(), String> {
//! use futures::FutureExt;
//! use orchestra_examples::cluster::{Components, numbered_nodes};
//! use orchestra_node::NodeConfig;
//!
//! let components = Components {
//!     nodes: numbered_nodes(3, &NodeConfig::new("template")),
//!     ..Components::default()
//! };
//! components.run(client, tokio::signal::ctrl_c().map(|_| ()).boxed().shared()).await
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, Shared, try_join_all};
use orchestra_api::Client;
use orchestra_controller::builtin::{ControllerManagerConfig, add_all};
use orchestra_controller::leader_election::{LeaderElectionConfig, LeaseLock};
use orchestra_controller::manager::Manager;
use orchestra_node::{NodeAgent, NodeConfig, SimRuntime};
use orchestra_sched::Scheduler;
use orchestra_sched::config::KubeSchedulerConfiguration;

/// A shutdown signal every component waits on.
pub type Shutdown = Shared<BoxFuture<'static, ()>>;

/// The zones simulated nodes are spread over, round robin.
pub const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];

/// Which components run, and how.
#[derive(Debug, Clone)]
pub struct Components {
    /// The controller manager's controllers; `None` runs no controller manager.
    pub controller_manager: Option<ControllerManagerConfig>,
    /// Whether the controller manager takes the `kube-system/kube-controller-manager` Lease
    /// before it reconciles (`--leader-elect`).
    pub leader_elect: bool,
    /// The scheduler's configuration; `None` runs no scheduler.
    pub scheduler: Option<KubeSchedulerConfiguration>,
    /// One simulated node agent per entry.
    pub nodes: Vec<NodeConfig>,
}

impl Default for Components {
    /// A controller manager with every built-in controller and leader election, the default
    /// scheduler, and no nodes.
    fn default() -> Self {
        Self {
            controller_manager: Some(ControllerManagerConfig::default()),
            leader_elect: true,
            scheduler: Some(KubeSchedulerConfiguration::default_config()),
            nodes: Vec::new(),
        }
    }
}

impl Components {
    /// Runs every component over `client` until `shutdown` completes, then waits for each to
    /// stop. The first component that fails to start ends the others too.
    pub async fn run(self, client: Arc<dyn Client>, shutdown: Shutdown) -> Result<(), String> {
        let mut running: Vec<BoxFuture<'static, Result<(), String>>> = Vec::new();
        if let Some(config) = self.controller_manager {
            let manager = controller_manager(client.clone(), config, self.leader_elect)?;
            let shutdown = shutdown.clone();
            running.push(Box::pin(async move {
                manager.run(shutdown).await;
                Ok(())
            }));
        }
        if let Some(config) = self.scheduler {
            let scheduler = Scheduler::new(client.clone(), config);
            let shutdown = shutdown.clone();
            running.push(Box::pin(async move {
                scheduler
                    .run(shutdown)
                    .await
                    .map_err(|e| format!("scheduler: {e}"))
            }));
        }
        for config in self.nodes {
            let name = config.name.clone();
            let agent = NodeAgent::builder(client.clone(), config)
                .sim(SimRuntime::new())
                .build()
                .map_err(|e| format!("node {name}: {e}"))?;
            let shutdown = shutdown.clone();
            running.push(Box::pin(async move {
                agent
                    .run(shutdown)
                    .await
                    .map_err(|e| format!("node {name}: {e}"))
            }));
        }
        // Each future runs on its own task, so that a busy component never delays another.
        let tasks = running.into_iter().map(|component| async move {
            tokio::spawn(component)
                .await
                .map_err(|e| format!("a component stopped abnormally: {e}"))?
        });
        try_join_all(tasks).await.map(|_| ())
    }
}

/// A controller manager over `client` with the built-in controllers of `config`.
pub fn controller_manager(
    client: Arc<dyn Client>,
    config: ControllerManagerConfig,
    leader_elect: bool,
) -> Result<Manager, String> {
    let mut builder = Manager::builder(client).name("kube-controller-manager");
    if leader_elect {
        builder = builder.leader_election(
            LeaseLock::new("kube-system", "kube-controller-manager"),
            LeaderElectionConfig::default(),
        );
    }
    let manager = builder
        .build()
        .map_err(|e| format!("controller manager: {e}"))?;
    add_all(&manager, config).map_err(|e| format!("controller manager: {e}"))?;
    Ok(manager)
}

/// `count` node configurations named `node-1` … `node-<count>` from `template`, each in one
/// of [`ZONES`] in turn.
pub fn numbered_nodes(count: usize, template: &NodeConfig) -> Vec<NodeConfig> {
    (1..=count)
        .map(|i| {
            let mut node = template.clone();
            node.name = format!("node-{i}");
            node.zone = Some(ZONES[(i - 1) % ZONES.len()].to_owned());
            node
        })
        .collect()
}

/// Kubernetes-style durations on the command line: `40s`, `1m30s`, `500ms`, `2h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration such as 40s or 1m30s: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_numbered_from_one_and_spread_over_zones() {
        let nodes = numbered_nodes(4, &NodeConfig::new("template"));
        let names: Vec<_> = nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["node-1", "node-2", "node-3", "node-4"]);
        let zones: Vec<_> = nodes.iter().map(|n| n.zone.as_deref().unwrap()).collect();
        assert_eq!(zones, ["zone-a", "zone-b", "zone-c", "zone-a"]);
    }

    #[test]
    fn durations_read_as_kubernetes_writes_them() {
        assert_eq!(parse_duration("40s"), Ok(Duration::from_secs(40)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("forty").unwrap_err().contains("\"forty\""));
    }
}
