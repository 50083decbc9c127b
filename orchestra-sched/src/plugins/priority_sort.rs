//! PrioritySort: the active queue pops the highest-priority pod first, then the one waiting
//! longest.

use std::sync::Arc;

use crate::config::ConfigError;
use crate::config::args::PluginArgs;
use crate::framework::{Handle, Plugin, PluginInstance, QueueSortPlugin, QueuedPodInfo};

/// The plugin's name.
pub const NAME: &str = "PrioritySort";

/// Orders pods by priority, then by the time they entered the queue.
#[derive(Debug, Default)]
pub struct PrioritySort;

impl Plugin for PrioritySort {
    fn name(&self) -> &str {
        NAME
    }
}

impl QueueSortPlugin for PrioritySort {
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool {
        let (pa, pb) = (a.pod.priority, b.pod.priority);
        pa > pb || (pa == pb && a.timestamp < b.timestamp)
    }
}

/// The factory.
pub fn factory(_: &PluginArgs<'_>, _: &Arc<Handle>) -> Result<PluginInstance, ConfigError> {
    Ok(PluginInstance::builder(Arc::new(PrioritySort))
        .queue_sort()
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::PodInfo;
    use std::time::{Duration, Instant};

    fn queued(priority: i32, at: Instant) -> QueuedPodInfo {
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("p{priority}")},
            "spec": {"priority": priority, "containers": []}
        }))
        .expect("pod");
        QueuedPodInfo::new(Arc::new(PodInfo::new(pod)), at)
    }

    #[test]
    fn higher_priority_first_then_earlier() {
        let now = Instant::now();
        let later = now + Duration::from_secs(1);
        assert!(PrioritySort.less(&queued(10, later), &queued(5, now)));
        assert!(PrioritySort.less(&queued(5, now), &queued(5, later)));
        assert!(!PrioritySort.less(&queued(5, later), &queued(5, now)));
    }
}
