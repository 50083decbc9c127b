//! A custom Score plugin in a few lines: prefer nodes labelled `tier=gold`, weight 10.
//!
//! `cargo run -p orchestra-sched --example custom_score`
use std::sync::Arc;

use orchestra_sched::config::KubeSchedulerConfiguration;
use orchestra_sched::framework::{CycleState, Plugin, PluginInstance};
use orchestra_sched::framework::{Registry, ScorePlugin, Status};
use orchestra_sched::{NodeInfo, PodInfo, Simulation};
use serde_json::json;

struct GoldTier;
impl Plugin for GoldTier {
    fn name(&self) -> &str {
        "GoldTier"
    }
}
impl ScorePlugin for GoldTier {
    fn score(&self, _: &CycleState, _: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        Ok(100 * i64::from(node.label("tier") == Some("gold")))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut registry = Registry::with_default_plugins();
    registry.register("GoldTier", |_, _| {
        Ok(PluginInstance::builder(Arc::new(GoldTier)).score().build())
    })?;
    let config = KubeSchedulerConfiguration::from_yaml(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- plugins:\n    score:\n      enabled:\n      - {name: GoldTier, weight: 10}\n",
    )?;
    let node = |name: &str, tier: &str| {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {"tier": tier}},
        "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}))
    };
    let pod = serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": "1"}}}]}}))?;
    let result = Simulation::new(config)
        .with_registry(registry)
        .run([node("silver", "silver")?, node("gold", "gold")?], [pod])?;
    println!(
        "web -> {}",
        result.placements[0].node.as_deref().unwrap_or("nowhere")
    );
    Ok(())
}
