//! `orchestra controller-manager`: the built-in controllers as their own process, with
//! kube-controller-manager's flag names.

use clap::ArgAction;
use ipnet::IpNet;
use orchestra_controller::builtin::{ControllerManagerConfig, ControllerSelection};
use orchestra_examples::cluster::parse_duration;
use std::time::Duration;

/// The controller manager's own flags, shared by `controller-manager` and `up`.
#[derive(Debug, Clone, clap::Args)]
pub struct ControllerManagerFlags {
    /// The controllers to run: `*` for all, `name` to enable, `-name` to disable
    /// (e.g. `*,-node-ipam-controller`).
    #[arg(long, default_value = "*", value_parser = ControllerSelection::parse)]
    pub controllers: ControllerSelection,
    /// Take the `kube-system/kube-controller-manager` Lease before reconciling, so that one
    /// of several managers works at a time.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub leader_elect: bool,
    /// How long a node may go without renewing its Lease before it is marked unreachable.
    #[arg(long, default_value = "40s", value_parser = parse_duration)]
    pub node_monitor_grace_period: Duration,
    /// How often the node lifecycle controller checks the nodes.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub node_monitor_period: Duration,
    /// The CIDR nodes' pod CIDRs are cut from.
    #[arg(long, default_value = "10.244.0.0/16")]
    pub cluster_cidr: IpNet,
    /// The prefix length of each node's IPv4 pod CIDR.
    #[arg(long = "node-cidr-mask-size-ipv4", default_value_t = 24)]
    pub node_cidr_mask_size_ipv4: u8,
}

impl ControllerManagerFlags {
    /// The controllers' configuration these flags describe.
    pub fn config(&self) -> ControllerManagerConfig {
        let mut config = ControllerManagerConfig {
            controllers: self.controllers.clone(),
            ..ControllerManagerConfig::default()
        };
        config.node_ipam.cluster_cidrs = vec![self.cluster_cidr];
        config.node_ipam.node_cidr_mask_size_ipv4 = self.node_cidr_mask_size_ipv4;
        config.node_lifecycle.node_monitor_grace_period = self.node_monitor_grace_period;
        config.node_lifecycle.node_monitor_period = self.node_monitor_period;
        config
    }
}
