//! Custom plugins through the public API: a Score plugin enabled from a configuration file,
//! and gang scheduling with a Permit plugin that holds pods until their whole group is placed.

mod support;

use std::sync::Arc;
use std::time::Duration;

use orchestra_sched::config::args::PluginArgs;
use orchestra_sched::config::{ConfigError, KubeSchedulerConfiguration};
use orchestra_sched::framework::{
    Code, CycleState, Handle, PermitPlugin, Plugin, PluginInstance, Registry, ScorePlugin, Status,
};
use orchestra_sched::{NodeInfo, Outcome, PodInfo, Simulation};
use serde_json::json;
use support::{node, pod, simple_node};

/// Prefers nodes labelled `tier=gold`.
struct GoldTier;

impl Plugin for GoldTier {
    fn name(&self) -> &str {
        "GoldTier"
    }
}

impl ScorePlugin for GoldTier {
    fn score(&self, _: &CycleState, _: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        Ok(
            if node.labels().get("tier").map(String::as_str) == Some("gold") {
                100
            } else {
                0
            },
        )
    }
}

#[test]
fn a_custom_score_plugin_enabled_by_configuration_decides_placement() {
    let mut registry = Registry::with_default_plugins();
    registry
        .register("GoldTier", |_: &PluginArgs<'_>, _: &Arc<Handle>| {
            Ok(PluginInstance::builder(Arc::new(GoldTier)).score().build())
        })
        .expect("new name");
    let config = KubeSchedulerConfiguration::from_yaml(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: default-scheduler\n  plugins:\n    score:\n      enabled:\n      - name: GoldTier\n        weight: 10\n",
    )
    .expect("config");
    // The gold node is the busier one: LeastAllocated alone would pick the other.
    let nodes = vec![
        node("gold", "2", "4Gi", json!({"tier": "gold"}), json!({})),
        node("plain", "8", "16Gi", json!({}), json!({})),
    ];
    let pods = vec![pod("p", "500m", "256Mi", json!({}), json!({}))];
    let result = Simulation::new(config)
        .with_registry(registry)
        .run(nodes, pods)
        .expect("run");
    assert_eq!(result.placements[0].node.as_deref(), Some("gold"));
}

/// Holds the pods of a gang (label `gang`, annotation `gang-size`) until all are placed.
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
        let size: usize = pod
            .pod
            .metadata
            .annotations
            .as_ref()
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
        if waiting.len() + 1 >= size {
            for w in waiting {
                w.allow(self.name());
            }
            return (Status::success(), Duration::ZERO);
        }
        (Status::code_only(Code::Wait), Duration::from_secs(30))
    }
}

fn gang_registry() -> Registry {
    let mut registry = Registry::with_default_plugins();
    registry
        .register(
            "Coscheduling",
            |_: &PluginArgs<'_>, handle: &Arc<Handle>| {
                Ok::<_, ConfigError>(
                    PluginInstance::builder(Arc::new(Coscheduling {
                        handle: handle.clone(),
                    }))
                    .permit()
                    .build(),
                )
            },
        )
        .expect("new name");
    registry
}

fn gang_config() -> KubeSchedulerConfiguration {
    KubeSchedulerConfiguration::from_yaml(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: default-scheduler\n  plugins:\n    permit:\n      enabled:\n      - name: Coscheduling\n",
    )
    .expect("config")
}

fn member(name: &str, gang: &str, size: usize) -> k8s_openapi::api::core::v1::Pod {
    let mut p = pod(name, "1", "1Gi", json!({"gang": gang}), json!({}));
    p.metadata.annotations = Some([("gang-size".to_owned(), size.to_string())].into());
    p
}

#[test]
fn a_gang_that_fits_is_placed_whole() {
    let nodes = vec![simple_node("n1", "2", "8Gi"), simple_node("n2", "2", "8Gi")];
    let pods = (0..3)
        .map(|i| member(&format!("a{i}"), "a", 3))
        .collect::<Vec<_>>();
    let result = Simulation::new(gang_config())
        .with_registry(gang_registry())
        .run(nodes, pods)
        .expect("run");
    assert_eq!(result.placed(), 3, "{:?}", result.placements);
}

#[test]
fn a_gang_that_does_not_fit_is_not_placed_at_all() {
    // Room for two 1-cpu pods; the gang needs three. The first two wait in Permit holding
    // their room, time out, and are released.
    let nodes = vec![simple_node("n1", "2", "8Gi")];
    let pods = (0..3)
        .map(|i| member(&format!("b{i}"), "b", 3))
        .collect::<Vec<_>>();
    let result = Simulation::new(gang_config())
        .with_registry(gang_registry())
        .run(nodes, pods)
        .expect("run");
    assert_eq!(result.placed(), 0, "{:?}", result.placements);
    assert!(result.nodes.iter().all(|n| n.pods().is_empty()));
    let timed_out = result
        .placements
        .iter()
        .filter(|p| {
            p.outcome == Outcome::Unschedulable
                && p.message.as_deref().is_some_and(|m| m.contains("timeout"))
        })
        .count();
    assert!(timed_out >= 2, "{:?}", result.placements);
}
