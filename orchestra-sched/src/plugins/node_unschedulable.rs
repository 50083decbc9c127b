//! NodeUnschedulable: cordoned nodes (`spec.unschedulable`) take only pods that tolerate the
//! `node.kubernetes.io/unschedulable:NoSchedule` taint.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Taint;

use crate::config::ConfigError;
use crate::config::args::PluginArgs;
use crate::framework::{
    ActionType, ClusterEventWithHint, CycleState, EnqueueExtensions, EventResource, FilterPlugin,
    Handle, Plugin, PluginInstance, Status,
};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::taints::tolerations_tolerate;

/// The plugin's name.
pub const NAME: &str = "NodeUnschedulable";
/// The rejection reason.
pub const REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";

/// Rejects cordoned nodes.
#[derive(Debug, Default)]
pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &str {
        NAME
    }
}

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if !node.is_unschedulable() {
            return Status::success();
        }
        let taint = Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            effect: "NoSchedule".into(),
            value: None,
            time_added: None,
        };
        if tolerations_tolerate(pod.tolerations(), &taint) {
            Status::success()
        } else {
            Status::unresolvable(REASON_UNSCHEDULABLE)
        }
    }
}

impl EnqueueExtensions for NodeUnschedulable {
    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![
            ClusterEventWithHint::new(
                EventResource::Node,
                ActionType::ADD | ActionType::UPDATE_NODE_TAINT,
            ),
            ClusterEventWithHint::new(EventResource::Pod, ActionType::UPDATE_POD_TOLERATIONS),
        ]
    }
}

/// The factory.
pub fn factory(_: &PluginArgs<'_>, _: &Arc<Handle>) -> Result<PluginInstance, ConfigError> {
    Ok(PluginInstance::builder(Arc::new(NodeUnschedulable))
        .filter()
        .enqueue_extensions()
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};

    #[test]
    fn cordoned_nodes_need_the_toleration() {
        let cordoned = node(
            "n",
            serde_json::json!({"unschedulable": true}),
            serde_json::json!({}),
        );
        let plain = pod(serde_json::json!({}));
        let status = NodeUnschedulable.filter(&CycleState::new(), &plain, &cordoned);
        assert_eq!(status.message(), REASON_UNSCHEDULABLE);
        let tolerant = pod(serde_json::json!({"tolerations": [
            {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}));
        assert!(
            NodeUnschedulable
                .filter(&CycleState::new(), &tolerant, &cordoned)
                .is_success()
        );
        let open = node("m", serde_json::json!({}), serde_json::json!({}));
        assert!(
            NodeUnschedulable
                .filter(&CycleState::new(), &plain, &open)
                .is_success()
        );
    }
}
