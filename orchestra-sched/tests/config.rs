//! Scheduler configuration files in `KubeSchedulerConfiguration` v1 shape: profiles, plugin
//! sets, weights, plugin arguments, and errors that name the field.

use std::path::PathBuf;
use std::sync::Arc;

use orchestra_sched::config::KubeSchedulerConfiguration;
use orchestra_sched::framework::{Handle, Registry};
use orchestra_sched::profiles::build_frameworks;

fn config_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs")
        .join(name)
}

#[test]
fn default_profile_has_kubernetes_default_plugins_and_weights() {
    let config = KubeSchedulerConfiguration::default_config();
    let handle = Arc::new(Handle::new(None, 1));
    let frameworks =
        build_frameworks(&config, &Registry::with_default_plugins(), &handle).expect("valid");
    let points = frameworks["default-scheduler"].plugins_by_point();
    assert_eq!(points["queueSort"], ["PrioritySort"]);
    assert_eq!(points["preEnqueue"], ["SchedulingGates"]);
    assert_eq!(
        points["filter"],
        [
            "NodeUnschedulable",
            "NodeName",
            "TaintToleration",
            "NodeAffinity",
            "NodePorts",
            "NodeResourcesFit",
            "VolumeRestrictions",
            "VolumeBinding",
            "PodTopologySpread",
            "InterPodAffinity"
        ]
    );
    assert_eq!(
        points["score"],
        [
            "TaintToleration:3",
            "NodeAffinity:2",
            "NodeResourcesFit:1",
            "PodTopologySpread:2",
            "InterPodAffinity:2",
            "NodeResourcesBalancedAllocation:1",
            "ImageLocality:1"
        ]
    );
    assert_eq!(points["postFilter"], ["DefaultPreemption"]);
    assert_eq!(points["bind"], ["DefaultBinder"]);
    assert_eq!(points["reserve"], ["VolumeBinding"]);
}

#[test]
fn multi_profile_file_builds_each_profile() {
    let config = KubeSchedulerConfiguration::from_file(config_path("multi-profile.yaml"))
        .expect("valid file");
    assert_eq!(config.parallelism, Some(2));
    let handle = Arc::new(Handle::new(None, 1));
    let frameworks =
        build_frameworks(&config, &Registry::with_default_plugins(), &handle).expect("valid");
    assert_eq!(
        frameworks.keys().collect::<Vec<_>>(),
        ["bin-packing", "default-scheduler", "no-scoring-scheduler"]
    );
    let no_scoring = frameworks["no-scoring-scheduler"].plugins_by_point();
    assert!(no_scoring["score"].is_empty());
    assert!(no_scoring["preScore"].is_empty());
    assert!(!no_scoring["filter"].is_empty());
    let bin_packing = &frameworks["bin-packing"];
    assert_eq!(bin_packing.percentage_of_nodes_to_score(), Some(100));
    let points = bin_packing.plugins_by_point();
    // The score point's explicit NodeResourcesFit comes first with its weight; multiPoint's
    // re-weighted ImageLocality keeps its place; BalancedAllocation is gone.
    assert_eq!(
        points["score"],
        [
            "NodeResourcesFit:10",
            "TaintToleration:3",
            "NodeAffinity:2",
            "PodTopologySpread:2",
            "InterPodAffinity:2",
            "ImageLocality:5"
        ]
    );
    assert_eq!(
        frameworks["default-scheduler"].percentage_of_nodes_to_score(),
        Some(50)
    );
}

#[test]
fn invalid_plugin_args_and_names_are_reported_with_field_paths() {
    let config = KubeSchedulerConfiguration::from_file(config_path("bad-args.yaml"))
        .expect("file itself is well-formed");
    let handle = Arc::new(Handle::new(None, 1));
    let err = build_frameworks(&config, &Registry::with_default_plugins(), &handle).unwrap_err();
    let text = err.to_string();
    for expected in [
        "profiles[0].plugins.filter.enabled[0].name: Not found: \"NodeLabelPresence\"",
        "profiles[0].pluginConfig[0].args.scoringStrategy.type: Unsupported value: \"Fastest\"",
        "profiles[0].pluginConfig[1].args.hardPodAffinityWeight: Invalid value: 101: not in valid range [0, 100]",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in {text}");
    }
    assert_eq!(err.to_status().code, 422);
}

#[test]
fn unknown_fields_in_plugin_args_are_rejected() {
    let config = KubeSchedulerConfiguration::from_file(config_path("unknown-arg-field.yaml"))
        .expect("well-formed");
    let handle = Arc::new(Handle::new(None, 1));
    let err = build_frameworks(&config, &Registry::with_default_plugins(), &handle).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("profiles[0].pluginConfig[0].args: Invalid value"),
        "{text}"
    );
    assert!(text.contains("unknown field `scoringStrategyy`"), "{text}");
}

#[test]
fn unreadable_file_names_the_file() {
    let err = KubeSchedulerConfiguration::from_file(config_path("missing.yaml")).unwrap_err();
    assert!(err.to_string().contains("missing.yaml"), "{err}");
}
