//! NodePorts: a pod's host ports must be free on the node (same port and protocol, and
//! overlapping host IPs, `0.0.0.0` overlapping everything).

use std::sync::Arc;

use crate::config::ConfigError;
use crate::config::args::PluginArgs;
use crate::framework::{
    ActionType, ClusterEventWithHint, CycleState, EnqueueExtensions, EventResource, FilterPlugin,
    Handle, Plugin, PluginInstance, PreFilterPlugin, PreFilterResult, Status,
};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

/// The plugin's name.
pub const NAME: &str = "NodePorts";
/// The rejection reason.
pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// Checks host ports.
#[derive(Debug, Default)]
pub struct NodePorts;

impl Plugin for NodePorts {
    fn name(&self) -> &str {
        NAME
    }
}

impl PreFilterPlugin for NodePorts {
    fn pre_filter(
        &self,
        _: &mut CycleState,
        pod: &PodInfo,
        _: &Snapshot,
    ) -> (PreFilterResult, Status) {
        if pod.host_ports.is_empty() {
            return (PreFilterResult::all_nodes(), Status::skip());
        }
        (PreFilterResult::all_nodes(), Status::success())
    }
}

impl FilterPlugin for NodePorts {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if pod.host_ports.iter().any(|p| node.used_ports.conflicts(p)) {
            Status::unschedulable(REASON)
        } else {
            Status::success()
        }
    }
}

impl EnqueueExtensions for NodePorts {
    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![
            ClusterEventWithHint::new(EventResource::Pod, ActionType::DELETE),
            ClusterEventWithHint::new(EventResource::Node, ActionType::ADD),
        ]
    }
}

/// The factory.
pub fn factory(_: &PluginArgs<'_>, _: &Arc<Handle>) -> Result<PluginInstance, ConfigError> {
    Ok(PluginInstance::builder(Arc::new(NodePorts))
        .pre_filter()
        .filter()
        .enqueue_extensions()
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node_with_pods, pod};

    fn with_port(ip: &str, port: i32, protocol: &str) -> PodInfo {
        pod(
            serde_json::json!({"containers": [{"name": "c", "image": "i",
            "ports": [{"containerPort": 80, "hostPort": port, "hostIP": ip, "protocol": protocol}]}]}),
        )
    }

    #[test]
    fn kubernetes_port_conflict_table() {
        // (existing, incoming, fits) — cases of Kubernetes' node_ports_test.
        let cases = [
            (("0.0.0.0", 8080, "TCP"), ("0.0.0.0", 8080, "UDP"), true),
            (
                ("127.0.0.1", 8080, "TCP"),
                ("127.0.0.1", 8080, "TCP"),
                false,
            ),
            (("127.0.0.1", 8080, "TCP"), ("127.0.0.2", 8080, "TCP"), true),
            (("127.0.0.1", 8001, "UDP"), ("0.0.0.0", 8001, "UDP"), false),
            (("0.0.0.0", 8001, "TCP"), ("10.0.10.10", 8001, "TCP"), false),
            (("10.0.10.10", 8001, "TCP"), ("0.0.0.0", 8001, "UDP"), true),
        ];
        for (existing, incoming, fits) in cases {
            let node = node_with_pods(
                "n",
                serde_json::json!({}),
                vec![with_port(existing.0, existing.1, existing.2)],
            );
            let incoming = with_port(incoming.0, incoming.1, incoming.2);
            let status = NodePorts.filter(&CycleState::new(), &incoming, &node);
            assert_eq!(status.is_success(), fits, "{existing:?} vs {incoming:?}");
            if !fits {
                assert_eq!(status.message(), REASON);
            }
        }
    }
}
