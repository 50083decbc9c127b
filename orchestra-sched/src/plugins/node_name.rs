//! NodeName: a pod that names a node (`spec.nodeName`) fits only that node.

use std::sync::Arc;

use crate::config::ConfigError;
use crate::config::args::PluginArgs;
use crate::framework::{
    ActionType, ClusterEventWithHint, CycleState, EnqueueExtensions, EventResource, FilterPlugin,
    Handle, Plugin, PluginInstance, Status,
};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

/// The plugin's name.
pub const NAME: &str = "NodeName";
/// The rejection reason.
pub const REASON: &str = "node(s) didn't match the requested node name";

/// Matches `spec.nodeName`.
#[derive(Debug, Default)]
pub struct NodeName;

impl Plugin for NodeName {
    fn name(&self) -> &str {
        NAME
    }
}

impl FilterPlugin for NodeName {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        match pod.node_name() {
            Some(name) if name != node.name() => Status::unresolvable(REASON),
            _ => Status::success(),
        }
    }
}

impl EnqueueExtensions for NodeName {
    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![ClusterEventWithHint::new(
            EventResource::Node,
            ActionType::ADD,
        )]
    }
}

/// The factory.
pub fn factory(_: &PluginArgs<'_>, _: &Arc<Handle>) -> Result<PluginInstance, ConfigError> {
    Ok(PluginInstance::builder(Arc::new(NodeName))
        .filter()
        .enqueue_extensions()
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};

    #[test]
    fn only_the_named_node_fits() {
        let n1 = node("n1", serde_json::json!({}), serde_json::json!({}));
        let named = pod(serde_json::json!({"nodeName": "n2"}));
        assert_eq!(
            NodeName.filter(&CycleState::new(), &named, &n1).message(),
            REASON
        );
        let unnamed = pod(serde_json::json!({}));
        assert!(
            NodeName
                .filter(&CycleState::new(), &unnamed, &n1)
                .is_success()
        );
    }
}
