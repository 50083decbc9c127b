//! Gang scheduling through Permit: the pods of a group (label `gang`, annotation `gang-size`)
//! wait in Permit, holding their place, until the whole group has a place; a group that cannot
//! fit times out and gives its places back.
//!
//! `cargo run -p orchestra-sched --example gang_scheduling`

use std::sync::Arc;
use std::time::Duration;

use orchestra_sched::config::KubeSchedulerConfiguration;
use orchestra_sched::framework::{
    Code, CycleState, Handle, PermitPlugin, Plugin, PluginInstance, Registry, Status,
};
use orchestra_sched::{PodInfo, Simulation};
use serde_json::json;

struct Coscheduling {
    handle: Arc<Handle>,
}

impl Plugin for Coscheduling {
    fn name(&self) -> &str {
        "Coscheduling"
    }
}

impl PermitPlugin for Coscheduling {
    fn permit(&self, _: &CycleState, pod: &Arc<PodInfo>, _: &str) -> (Status, Duration) {
        let Some(gang) = pod.labels().get("gang") else {
            return (Status::success(), Duration::ZERO);
        };
        let annotations = pod.pod.metadata.annotations.as_ref();
        let size: usize = annotations
            .and_then(|a| a.get("gang-size"))
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        let waiting: Vec<_> = self
            .handle
            .waiting_pods()
            .all()
            .into_iter()
            .filter(|w| w.pod().labels().get("gang") == Some(gang))
            .collect();
        if waiting.len() + 1 < size {
            return (Status::code_only(Code::Wait), Duration::from_secs(30));
        }
        for member in waiting {
            member.allow(self.name());
        }
        (Status::success(), Duration::ZERO)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut registry = Registry::with_default_plugins();
    registry.register("Coscheduling", |_, handle| {
        Ok(PluginInstance::builder(Arc::new(Coscheduling {
            handle: handle.clone(),
        }))
        .permit()
        .build())
    })?;
    let config = KubeSchedulerConfiguration::from_yaml(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- plugins:\n    permit:\n      enabled:\n      - name: Coscheduling\n",
    )?;
    // Four 1-cpu slots: the gang of 3 fits, the gang of 4 arriving after it does not.
    let nodes = (0..2).map(|i| {
        serde_json::from_value(json!({"metadata": {"name": format!("node-{i}")},
            "status": {"allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110"}}}))
    });
    let member = |gang: &str, size: usize, i: usize| {
        serde_json::from_value(json!({
            "metadata": {"name": format!("{gang}-{i}"), "namespace": "default",
                "labels": {"gang": gang}, "annotations": {"gang-size": size.to_string()}},
            "spec": {"containers": [{"name": "worker", "image": "trainer", "resources": {"requests": {"cpu": "1"}}}]}
        }))
    };
    let mut pods = Vec::new();
    for i in 0..3 {
        pods.push(member("small", 3, i)?);
    }
    for i in 0..4 {
        pods.push(member("large", 4, i)?);
    }
    let nodes = nodes.collect::<Result<Vec<_>, _>>()?;
    let result = Simulation::new(config)
        .with_registry(registry)
        .run(nodes, pods)?;
    for p in &result.placements {
        println!(
            "{:<16} {:<8} {}",
            p.pod,
            p.node.as_deref().unwrap_or("-"),
            p.message.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
