//! Node registration and node status, as Kubernetes' kubelet reports them.
//!
//! **Registration.** The agent creates its Node with its labels (`kubernetes.io/hostname`,
//! `kubernetes.io/os`, `kubernetes.io/arch` and their `beta.` forms, the topology labels of
//! its zone and region, and the configured ones) and its taints. If the Node exists (the
//! agent restarted), it is reused: the default labels are brought up to date, nothing else
//! is touched, as the kubelet does.
//!
//! **Status.** Every `node_status_update_frequency` (10 s) the agent computes the status:
//! capacity and allocatable, the conditions `MemoryPressure`, `DiskPressure`, `PIDPressure`
//! and `Ready` (ready when the runtime reports `RuntimeReady` and `NetworkReady`), the
//! `InternalIP` and `Hostname` addresses, `nodeInfo`, the kubelet endpoint and the images
//! it holds (the 50 largest). Conditions other components own (`NetworkUnavailable`, which
//! a route controller sets, not the kubelet) are kept as they are. It patches the status when it differs from what the API has
//! (heartbeat times aside) or when `node_status_report_frequency` (5 min) has passed since
//! the last report; the Lease is the frequent heartbeat.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use orchestra_api::k8s_openapi::api::core::v1::{
    ContainerImage, DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints,
    NodeSpec, NodeStatus, NodeSystemInfo,
};
use orchestra_api::k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use orchestra_api::k8s_openapi::jiff::Timestamp;
use orchestra_api::{Api, Patch, PatchParams, PostParams, Quantity, ResourceList, Status};
use tokio::time::Instant;

use crate::clock;
use crate::config::NodeConfig;
use crate::cri::{ContainerFilter, ImageFilter, NETWORK_READY, RUNTIME_READY};
use crate::kubelet::Kubelet;

/// The kubelet's port, reported as the node's daemon endpoint.
pub const KUBELET_PORT: i32 = 10250;
/// The version the agent reports as `kubeletVersion`.
pub const KUBELET_VERSION: &str = "v1.33.0";
/// How many images the status lists at most (`nodeStatusMaxImages`).
const MAX_IMAGES: usize = 50;
/// Memory below which the node reports `MemoryPressure` (the default hard eviction
/// threshold `memory.available<100Mi`).
const MEMORY_EVICTION_THRESHOLD: i64 = 100 << 20;

/// The labels the agent puts on its Node.
pub fn default_labels(config: &NodeConfig) -> BTreeMap<String, String> {
    let mut labels = config.labels.clone();
    for (key, value) in [
        ("kubernetes.io/hostname", config.name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", config.architecture.as_str()),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", config.architecture.as_str()),
    ] {
        labels.insert(key.to_owned(), value.to_owned());
    }
    if let Some(zone) = &config.zone {
        labels.insert("topology.kubernetes.io/zone".to_owned(), zone.clone());
    }
    if let Some(region) = &config.region {
        labels.insert("topology.kubernetes.io/region".to_owned(), region.clone());
    }
    labels
}

fn quantity(q: Quantity) -> K8sQuantity {
    K8sQuantity(q.to_string())
}

/// The node's capacity.
pub fn capacity(config: &NodeConfig) -> BTreeMap<String, K8sQuantity> {
    BTreeMap::from([
        ("cpu".to_owned(), quantity(config.cpu)),
        ("memory".to_owned(), quantity(config.memory)),
        (
            "pods".to_owned(),
            quantity(Quantity::from_value(i64::from(config.pods))),
        ),
        (
            "ephemeral-storage".to_owned(),
            quantity(config.ephemeral_storage),
        ),
        ("hugepages-1Gi".to_owned(), K8sQuantity("0".to_owned())),
        ("hugepages-2Mi".to_owned(), K8sQuantity("0".to_owned())),
    ])
}

fn allocatable_map(config: &NodeConfig) -> BTreeMap<String, K8sQuantity> {
    let mut map = capacity(config);
    let minus = |total: Quantity, reserved: Quantity| {
        quantity(
            total
                .checked_sub(reserved)
                .unwrap_or(Quantity::from_value(0)),
        )
    };
    map.insert("cpu".to_owned(), minus(config.cpu, config.reserved_cpu));
    map.insert(
        "memory".to_owned(),
        minus(config.memory, config.reserved_memory),
    );
    map
}

/// The node's allocatable resources: capacity minus what is reserved.
pub fn allocatable(config: &NodeConfig) -> ResourceList {
    ResourceList::from_k8s(&allocatable_map(config)).unwrap_or_default()
}

/// The Node the agent registers.
pub fn initial_node(config: &NodeConfig) -> Node {
    let mut node = Node::default();
    node.metadata.name = Some(config.name.clone());
    node.metadata.labels = Some(default_labels(config));
    node.metadata.annotations = Some(BTreeMap::from([(
        "volumes.kubernetes.io/controller-managed-attach-detach".to_owned(),
        "true".to_owned(),
    )]));
    node.spec = Some(NodeSpec {
        taints: (!config.taints.is_empty()).then(|| config.taints.clone()),
        ..NodeSpec::default()
    });
    node.status = Some(NodeStatus {
        capacity: Some(capacity(config)),
        allocatable: Some(allocatable_map(config)),
        ..NodeStatus::default()
    });
    node
}

/// Registers the node, or reuses the Node of a previous run (bringing its default labels
/// up to date). Answers the Node.
pub async fn register(kubelet: &Kubelet) -> Result<Arc<Node>, Status> {
    let nodes = Api::<Node>::all(Arc::clone(&kubelet.client));
    let config = &kubelet.config;
    match nodes
        .create(&PostParams::default(), &initial_node(config))
        .await
    {
        Ok(node) => {
            tracing::info!(node = %config.name, "node registered");
            Ok(node)
        }
        Err(e) if e.code == 409 => {
            let existing = nodes.get(&config.name).await?;
            let wanted = default_labels(config);
            let current = existing.metadata.labels.clone().unwrap_or_default();
            let stale: BTreeMap<&String, &String> = wanted
                .iter()
                .filter(|(k, v)| current.get(*k) != Some(*v))
                .collect();
            if stale.is_empty() {
                tracing::info!(node = %config.name, "node already registered; reusing it");
                return Ok(existing);
            }
            let patch = serde_json::json!({"metadata": {"labels": stale}});
            nodes
                .patch(&config.name, &PatchParams::default(), &Patch::Merge(patch))
                .await
        }
        Err(e) => Err(e),
    }
}

fn condition(
    previous: &[NodeCondition],
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> NodeCondition {
    let status = if status { "True" } else { "False" };
    let now = Time(clock::to_seconds(now));
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .or_else(|| Some(now.clone()));
    NodeCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_heartbeat_time: Some(now),
        last_transition_time,
    }
}

/// Computes the node's status from the runtime, on top of the Node's current status.
pub async fn compute_status(kubelet: &Kubelet, node: &Node, now: Timestamp) -> NodeStatus {
    let config = &kubelet.config;
    let previous = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let runtime_status = kubelet.runtime.status().await;
    let version = kubelet.runtime.version().await.ok();
    let ready_problem = match &runtime_status {
        Err(e) => Some(format!("container runtime is down: {e}")),
        Ok(status) => {
            let runtime_ready = status.condition(RUNTIME_READY).is_some_and(|c| c.status);
            let network = status.condition(NETWORK_READY);
            if !runtime_ready {
                Some("container runtime status check may not have completed yet".to_owned())
            } else {
                network.filter(|c| !c.status).map(|network| {
                    format!(
                        "container runtime network not ready: NetworkReady=false reason:{} message:{}",
                        network.reason, network.message
                    )
                })
            }
        }
    };
    let used_memory: u64 = kubelet
        .runtime
        .list_container_stats(&ContainerFilter::default())
        .await
        .map(|stats| stats.iter().map(|s| s.working_set_bytes).sum())
        .unwrap_or(0);
    let available = config.memory.value() - i64::try_from(used_memory).unwrap_or(i64::MAX);
    let memory_pressure = available < MEMORY_EVICTION_THRESHOLD;
    let mut conditions = vec![
        if memory_pressure {
            condition(
                &previous,
                "MemoryPressure",
                true,
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
                now,
            )
        } else {
            condition(
                &previous,
                "MemoryPressure",
                false,
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
                now,
            )
        },
        condition(
            &previous,
            "DiskPressure",
            false,
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
            now,
        ),
        condition(
            &previous,
            "PIDPressure",
            false,
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
            now,
        ),
        match &ready_problem {
            None => condition(
                &previous,
                "Ready",
                true,
                "KubeletReady",
                "kubelet is posting ready status",
                now,
            ),
            Some(problem) => condition(&previous, "Ready", false, "KubeletNotReady", problem, now),
        },
    ];
    // Conditions other components own (`NetworkUnavailable` from a route controller, …)
    // stay, as a strategic merge by type would keep them.
    const OWN: [&str; 4] = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"];
    conditions.extend(
        previous
            .iter()
            .filter(|c| !OWN.contains(&c.type_.as_str()))
            .cloned(),
    );
    let mut images = kubelet
        .runtime
        .list_images(&ImageFilter::default())
        .await
        .unwrap_or_default();
    images.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.id.cmp(&b.id)));
    let images: Vec<ContainerImage> = images
        .into_iter()
        .take(MAX_IMAGES)
        .map(|image| ContainerImage {
            names: Some(
                image
                    .repo_digests
                    .iter()
                    .chain(image.repo_tags.iter())
                    .cloned()
                    .collect(),
            ),
            size_bytes: i64::try_from(image.size).ok(),
        })
        .collect();
    let id = |seed: &str| {
        let hash = config
            .name
            .bytes()
            .chain(seed.bytes())
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        format!("{hash:016x}{:016x}", hash.rotate_left(29))
    };
    let runtime_version = version
        .map(|v| format!("{}://{}", v.runtime_name, v.runtime_version))
        .unwrap_or_default();
    let old = node.status.clone().unwrap_or_default();
    NodeStatus {
        capacity: Some(capacity(config)),
        allocatable: Some(allocatable_map(config)),
        conditions: Some(conditions),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".to_owned(),
                address: kubelet.host_ip.clone(),
            },
            NodeAddress {
                type_: "Hostname".to_owned(),
                address: config.name.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint { port: KUBELET_PORT }),
        }),
        node_info: Some(NodeSystemInfo {
            machine_id: id("machine"),
            system_uuid: id("system"),
            boot_id: id("boot"),
            kernel_version: "6.1.0-orchestra-sim".to_owned(),
            os_image: "Orchestra simulated node".to_owned(),
            container_runtime_version: runtime_version,
            kubelet_version: KUBELET_VERSION.to_owned(),
            kube_proxy_version: String::new(),
            operating_system: "linux".to_owned(),
            architecture: config.architecture.clone(),
            swap: None,
        }),
        images: (!images.is_empty()).then_some(images),
        ..old
    }
}

/// A copy of the status without heartbeat times.
fn strip_heartbeats(status: &NodeStatus) -> NodeStatus {
    let mut status = status.clone();
    for condition in status.conditions.iter_mut().flatten() {
        condition.last_heartbeat_time = None;
    }
    status
}

/// Whether two statuses differ in anything but heartbeat times (and quantity spelling).
fn status_changed(new: &NodeStatus, current: &NodeStatus) -> bool {
    let (new, current) = (strip_heartbeats(new), strip_heartbeats(current));
    // Equal as they are is the common case; only a difference needs the closer look.
    new != current && without_heartbeats(&new) != without_heartbeats(&current)
}

/// The status (heartbeats already stripped) as JSON with quantities by value.
fn without_heartbeats(status: &NodeStatus) -> serde_json::Value {
    let mut value = serde_json::to_value(status).unwrap_or_default();
    // Quantities compare by value, whatever their spelling.
    for field in ["capacity", "allocatable"] {
        if let Some(map) = value.get_mut(field).and_then(|v| v.as_object_mut()) {
            for amount in map.values_mut() {
                if let Some(text) = amount.as_str()
                    && let Ok(q) = text.parse::<Quantity>()
                {
                    *amount = serde_json::Value::String(q.nano_value().to_string());
                }
            }
        }
    }
    value
}

/// Posts the node status when it changed or the report frequency has passed; answers
/// whether it posted.
pub async fn update_node_status(
    kubelet: &Kubelet,
    last_report: &mut Option<Instant>,
) -> Result<bool, Status> {
    let node = match kubelet.current_node() {
        Some(node) => node,
        None => {
            Api::<Node>::all(Arc::clone(&kubelet.client))
                .get(&kubelet.config.name)
                .await?
        }
    };
    let status = compute_status(kubelet, &node, clock::now()).await;
    let current = node.status.clone().unwrap_or_default();
    let changed = status_changed(&status, &current);
    let due =
        last_report.is_none_or(|at| at.elapsed() >= kubelet.config.node_status_report_frequency);
    if !changed && !due {
        return Ok(false);
    }
    let patch = serde_json::json!({ "status": status });
    let updated = Api::<Node>::all(Arc::clone(&kubelet.client))
        .patch_status(
            &kubelet.config.name,
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await?;
    kubelet.node.send_replace(Some(updated));
    *last_report = Some(Instant::now());
    Ok(true)
}

/// Posts the node status on the kubelet's schedule until the future is dropped.
pub async fn run_status_loop(kubelet: Arc<Kubelet>) {
    let mut last_report = None;
    let mut ticker = tokio::time::interval(kubelet.config.node_status_update_frequency);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        // Kubernetes retries a failed update a few times before waiting for the next tick.
        for attempt in 0..5u32 {
            match update_node_status(&kubelet, &mut last_report).await {
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(node = %kubelet.config.name, %error, attempt, "updating the node status failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}
