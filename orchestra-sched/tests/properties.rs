//! Invariants of every simulation, over random small clusters: no node over its allocatable,
//! no untolerated NoSchedule taint, no violated required anti-affinity, no double-booked host
//! port — preemption included — and every placement passes every filter in the final state.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use orchestra_sched::config::KubeSchedulerConfiguration;
use orchestra_sched::framework::{CycleState, Handle, Registry};
use orchestra_sched::profiles::build_frameworks;
use orchestra_sched::taints::{find_untolerated, is_do_not_schedule};
use orchestra_sched::{Cache, NodeInfo, PodInfo, Simulation, Snapshot};
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
struct NodeSpec {
    cpu: u32,
    memory_gi: u32,
    max_pods: u32,
    tainted: bool,
    zone: u8,
}

#[derive(Debug, Clone)]
struct PodSpec {
    cpu_m: u32,
    memory_mi: u32,
    priority: i32,
    tolerates: bool,
    host_port: Option<u16>,
    anti_group: Option<u8>,
    bound_to: Option<usize>,
}

fn node_strategy() -> impl Strategy<Value = NodeSpec> {
    (
        1u32..8,
        1u32..16,
        2u32..8,
        prop::bool::weighted(0.25),
        0u8..3,
    )
        .prop_map(|(cpu, memory_gi, max_pods, tainted, zone)| NodeSpec {
            cpu,
            memory_gi,
            max_pods,
            tainted,
            zone,
        })
}

fn pod_strategy(nodes: usize) -> impl Strategy<Value = PodSpec> {
    (
        100u32..3000,
        64u32..4096,
        prop::sample::select(vec![0, 0, 10, 100]),
        prop::bool::weighted(0.3),
        prop::option::weighted(0.25, prop::sample::select(vec![80u16, 443, 8080])),
        prop::option::weighted(0.3, 0u8..3),
        prop::option::weighted(0.2, 0..nodes),
    )
        .prop_map(
            |(cpu_m, memory_mi, priority, tolerates, host_port, anti_group, bound_to)| PodSpec {
                cpu_m,
                memory_mi,
                priority,
                tolerates,
                host_port,
                anti_group,
                bound_to,
            },
        )
}

fn build_node(i: usize, spec: &NodeSpec) -> Node {
    let name = format!("n{i}");
    let taints = if spec.tainted {
        json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    } else {
        json!([])
    };
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": format!("z{}", spec.zone)}},
        "spec": {"taints": taints},
        "status": {"allocatable": {"cpu": spec.cpu.to_string(), "memory": format!("{}Gi", spec.memory_gi), "pods": spec.max_pods.to_string()}}
    }))
    .expect("node")
}

fn build_pod(i: usize, spec: &PodSpec) -> Pod {
    let mut container = json!({"name": "c", "image": "app:1",
        "resources": {"requests": {"cpu": format!("{}m", spec.cpu_m), "memory": format!("{}Mi", spec.memory_mi)}}});
    if let Some(port) = spec.host_port {
        container["ports"] = json!([{"containerPort": 80, "hostPort": port}]);
    }
    let mut pod_spec = json!({"containers": [container], "priority": spec.priority});
    if spec.tolerates {
        pod_spec["tolerations"] =
            json!([{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]);
    }
    let mut labels = json!({"app": "prop"});
    if let Some(group) = spec.anti_group {
        labels["group"] = json!(format!("g{group}"));
        pod_spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"group": format!("g{group}")}}, "topologyKey": "kubernetes.io/hostname"}]}});
    }
    if let Some(node) = spec.bound_to {
        // Only "existing" pods that are consistent: the generator binds them, the check below
        // excludes nodes where the pre-bound pods already break an invariant.
        pod_spec["nodeName"] = json!(format!("n{node}"));
    }
    serde_json::from_value(json!({
        "metadata": {"name": format!("p{i}"), "namespace": "default", "uid": format!("u{i}"), "labels": labels},
        "spec": pod_spec
    }))
    .expect("pod")
}

fn scenario() -> impl Strategy<Value = (Vec<NodeSpec>, Vec<PodSpec>)> {
    prop::collection::vec(node_strategy(), 1..6).prop_flat_map(|nodes| {
        let n = nodes.len();
        (Just(nodes), prop::collection::vec(pod_strategy(n), 1..24))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(128)
    ))]

    #[test]
    fn simulated_placements_never_break_node_invariants((node_specs, pod_specs) in scenario()) {
        // Pre-bound pods are taken as given; they only join the scenario when they fit and
        // respect ports, so that the invariants are the scheduler's to keep.
        let nodes: Vec<Node> = node_specs.iter().enumerate().map(|(i, s)| build_node(i, s)).collect();
        let mut pods: Vec<Pod> = Vec::new();
        let mut prebound: BTreeMap<usize, (u32, u32, u32, Vec<u16>)> = BTreeMap::new();
        for (i, spec) in pod_specs.iter().enumerate() {
            let mut spec = spec.clone();
            if let Some(n) = spec.bound_to {
                let ns = &node_specs[n];
                let used = prebound.entry(n).or_default();
                let fits = used.0 + spec.cpu_m <= ns.cpu * 1000
                    && used.1 + spec.memory_mi <= ns.memory_gi * 1024
                    && used.2 < ns.max_pods
                    && spec.host_port.is_none_or(|p| !used.3.contains(&p))
                    && spec.anti_group.is_none()
                    && (!ns.tainted || spec.tolerates);
                if fits {
                    used.0 += spec.cpu_m;
                    used.1 += spec.memory_mi;
                    used.2 += 1;
                    used.3.extend(spec.host_port);
                } else {
                    spec.bound_to = None;
                }
            }
            pods.push(build_pod(i, &spec));
        }
        let result = Simulation::default().with_seed(1).with_parallelism(1).run(nodes.clone(), pods.clone()).expect("simulate");

        let by_name: BTreeMap<String, &Pod> = pods.iter().map(|p| (format!("default/{}", p.metadata.name.as_deref().unwrap_or("")), p)).collect();
        for node in &result.nodes {
            // Allocatable.
            prop_assert!(node.requested.milli_cpu <= node.allocatable.milli_cpu, "cpu over on {}", node.name());
            prop_assert!(node.requested.memory <= node.allocatable.memory, "memory over on {}", node.name());
            prop_assert!(node.pods().len() as i64 <= node.allocatable.allowed_pod_number, "pods over on {}", node.name());
            // Ports.
            let mut ports: Vec<i32> = node.pods().iter().flat_map(|p| p.host_ports.iter().map(|h| h.port)).collect();
            let total = ports.len();
            ports.sort_unstable();
            ports.dedup();
            prop_assert_eq!(ports.len(), total, "double-booked host port on {}", node.name());
            for pod in node.pods() {
                // Taints.
                prop_assert!(find_untolerated(node.taints(), pod.tolerations(), is_do_not_schedule).is_none(),
                    "{} on tainted {}", pod.key(), node.name());
                // Required anti-affinity, both ways.
                for term in &pod.required_anti_affinity_terms {
                    for other in node.pods() {
                        if other.uid() != pod.uid() {
                            prop_assert!(!term.matches_pod(other, &BTreeMap::new()),
                                "{} and {} share {} despite anti-affinity", pod.key(), other.key(), node.name());
                        }
                    }
                }
            }
        }
        // Placements agree with the final nodes.
        for placement in &result.placements {
            let on_node = result.nodes.iter().any(|n| n.pods().iter().any(|p| p.key() == placement.pod));
            prop_assert_eq!(placement.is_placed(), on_node, "{:?}", placement);
            prop_assert!(by_name.contains_key(&placement.pod));
        }

        // Every placed pod passes every filter on its node with the final state around it.
        let config = KubeSchedulerConfiguration::default_config();
        let handle = Arc::new(Handle::new(None, 1));
        let frameworks = build_frameworks(&config, &Registry::with_default_plugins(), &handle).expect("profile");
        let framework = &frameworks["default-scheduler"];
        for node in &result.nodes {
            for pod in node.pods() {
                let mut cache = Cache::new();
                for n in &result.nodes {
                    if let Some(object) = n.node() {
                        cache.add_node(object.clone());
                    }
                    for p in n.pods() {
                        if p.uid() != pod.uid() {
                            let mut object = (*p.pod).clone();
                            object.spec.get_or_insert_with(Default::default).node_name = Some(n.name().to_owned());
                            cache.add_pod(Arc::new(PodInfo::new(object))).expect("add");
                        }
                    }
                }
                let mut snapshot = Snapshot::new();
                cache.update_snapshot(&mut snapshot);
                let mut incoming = (*pod.pod).clone();
                incoming.spec.get_or_insert_with(Default::default).node_name = None;
                let incoming = Arc::new(PodInfo::new(incoming));
                let mut state = CycleState::new();
                let pre = framework.run_pre_filter(&mut state, &incoming, &snapshot);
                prop_assert!(pre.status.is_success(), "{:?}", pre.status);
                let target: &NodeInfo = snapshot.get(node.name()).expect("node");
                let status = framework.run_filter(&state, &incoming, target);
                prop_assert!(status.is_success(), "{} fails {:?} on {}", pod.key(), status, node.name());
            }
        }
    }
}
