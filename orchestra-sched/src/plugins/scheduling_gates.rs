//! SchedulingGates: a pod with `spec.schedulingGates` stays out of the active queue until every
//! gate is removed.

use std::sync::Arc;

use crate::config::ConfigError;
use crate::config::args::PluginArgs;
use crate::framework::{
    ActionType, ClusterEventWithHint, EnqueueExtensions, EventResource, Handle, Plugin,
    PluginInstance, PreEnqueuePlugin, Status,
};
use crate::pod_info::PodInfo;

/// The plugin's name.
pub const NAME: &str = "SchedulingGates";

/// Keeps gated pods out of the active queue.
#[derive(Debug, Default)]
pub struct SchedulingGates;

impl Plugin for SchedulingGates {
    fn name(&self) -> &str {
        NAME
    }
}

impl PreEnqueuePlugin for SchedulingGates {
    fn pre_enqueue(&self, pod: &PodInfo) -> Status {
        let gates: Vec<&str> = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduling_gates.as_ref())
            .into_iter()
            .flatten()
            .map(|g| g.name.as_str())
            .collect();
        if gates.is_empty() {
            return Status::success();
        }
        Status::unresolvable(format!(
            "waiting for scheduling gates: [{}]",
            gates.join(" ")
        ))
    }
}

impl EnqueueExtensions for SchedulingGates {
    fn events_to_register(&self) -> Vec<ClusterEventWithHint> {
        vec![ClusterEventWithHint::new(
            EventResource::Pod,
            ActionType::UPDATE_POD_SCHEDULING_GATES_ELIMINATED,
        )]
    }
}

/// The factory.
pub fn factory(_: &PluginArgs<'_>, _: &Arc<Handle>) -> Result<PluginInstance, ConfigError> {
    Ok(PluginInstance::builder(Arc::new(SchedulingGates))
        .pre_enqueue()
        .enqueue_extensions()
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;

    #[test]
    fn gated_pods_wait_with_kubernetes_message() {
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [], "schedulingGates": [{"name": "a"}, {"name": "b"}]}
        }))
        .expect("pod");
        let status = SchedulingGates.pre_enqueue(&PodInfo::new(pod));
        assert_eq!(status.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(status.message(), "waiting for scheduling gates: [a b]");
    }
}
