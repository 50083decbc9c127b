//! The runtime manager: turns "this pod should run" into CRI calls (Kubernetes'
//! `kuberuntime` manager).
//!
//! [`compute_actions`] compares the pod spec with what the runtime holds and decides, as
//! `computePodActions` does: a new sandbox when there is none ready (killing what is left
//! of the old one), the next init container when initialization is incomplete (init
//! containers run one at a time, in order, each must exit 0), otherwise the app containers
//! that must (re)start under the restart policy, and the containers to kill because a
//! liveness or startup probe failed or their spec changed. The `start_*` and `kill_*`
//! functions then carry the actions out: crash back-off, image pull per `imagePullPolicy`,
//! `CreateContainer`, `StartContainer`; `StopContainer` with the grace period.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use orchestra_api::k8s_openapi::api::core::v1::{
    ConfigMap, Container, EnvVar, ObjectFieldSelector, Pod, Secret,
};
use orchestra_api::{Api, ResourceList};

use crate::clock;
use crate::crash_backoff::format_go_duration;
use crate::cri::{
    CONTAINER_HASH_ANNOTATION, CONTAINER_NAME_LABEL, CONTAINER_RESTART_COUNT_ANNOTATION,
    CONTAINER_TERMINATION_MESSAGE_PATH_ANNOTATION, CONTAINER_TYPE_ANNOTATION, ContainerConfig,
    ContainerMetadata, ContainerState, ContainerStatus, DnsConfig, ImageSpec, KeyValue,
    LinuxContainerResources, Mount, POD_NAME_LABEL, POD_NAMESPACE_LABEL,
    POD_TERMINATION_GRACE_PERIOD_ANNOTATION, POD_UID_LABEL, PodSandboxConfig, PodSandboxMetadata,
    PortMapping, Protocol,
};
use crate::kubelet::Kubelet;
use crate::pod_status::{self, CRASH_LOOP_BACK_OFF, WaitingReason};
use crate::probe_manager::PodProbes;
use crate::runtime_pod::{RuntimePod, container_hash};

/// What a sync does to a pod.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PodActions {
    /// Stop everything left of the current sandbox before creating a new one.
    pub kill_pod: bool,
    /// Create a sandbox with this attempt number.
    pub create_sandbox: Option<u32>,
    /// Containers to stop.
    pub kill: Vec<Kill>,
    /// The init container to start next (index into `initContainers`).
    pub next_init: Option<usize>,
    /// App containers to start (indexes into `containers`).
    pub start: Vec<usize>,
}

/// A container to stop, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kill {
    /// The runtime's container id.
    pub id: String,
    /// The container's name.
    pub name: String,
    /// The message of its `Killing` event (empty: "Stopping container <name>").
    pub reason: String,
    /// The grace period, if not the pod's: a failed probe's `terminationGracePeriodSeconds`.
    pub grace: Option<Duration>,
}

impl Kill {
    fn new(container: &ContainerStatus, reason: String) -> Self {
        Self {
            id: container.id.clone(),
            name: container.metadata.name.clone(),
            reason,
            grace: None,
        }
    }
}

/// The message and grace period of a kill after a failed liveness or startup probe.
fn probe_kill(
    container: &Container,
    latest: &ContainerStatus,
    probe_type: crate::probe::ProbeType,
) -> Kill {
    let mut kill = Kill::new(
        latest,
        format!(
            "Container {} failed {} probe, will be restarted",
            container.name,
            probe_type.as_str().to_lowercase()
        ),
    );
    kill.grace = probe_type
        .of(container)
        .and_then(|probe| probe.termination_grace_period_seconds)
        .map(|seconds| Duration::from_secs(seconds.max(1).unsigned_abs()));
    kill
}

/// A stable hash of a container's spec, recorded on the runtime container; a different hash
/// means the spec changed.
pub fn hash_container(container: &Container) -> String {
    let mut hasher = DefaultHasher::new();
    serde_json::to_string(container)
        .unwrap_or_default()
        .hash(&mut hasher);
    format!("{:x}", hasher.finish())
}

fn restart_policy(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always")
}

fn is_sidecar(container: &Container) -> bool {
    container.restart_policy.as_deref() == Some("Always")
}

/// Decides what to do for `pod` given what the runtime holds. See the
/// [module documentation](self).
pub fn compute_actions(pod: &Pod, runtime: &RuntimePod, probes: &PodProbes) -> PodActions {
    let mut actions = PodActions::default();
    let Some(spec) = pod.spec.as_ref() else {
        return actions;
    };
    let empty = Vec::new();
    let init_containers = spec.init_containers.as_ref().unwrap_or(&empty);
    let host_network = spec.host_network.unwrap_or(false);
    let policy = restart_policy(pod);

    let sandbox_usable = runtime
        .ready_sandbox()
        .is_some_and(|s| host_network || s.network.as_ref().is_some_and(|n| !n.ip.is_empty()));
    if !sandbox_usable {
        let attempt = runtime
            .latest_sandbox()
            .map_or(0, |s| s.metadata.attempt + 1);
        // A pod that never restarts and already ran does not get a new sandbox: it is done.
        if policy == "Never" && !runtime.sandboxes.is_empty() && !runtime.containers.is_empty() {
            actions.kill_pod = runtime.has_running();
            return actions;
        }
        actions.kill_pod = runtime.has_running();
        actions.create_sandbox = Some(attempt);
        if !init_containers.is_empty() {
            actions.next_init = Some(0);
        } else {
            for (index, container) in spec.containers.iter().enumerate() {
                let succeeded = runtime
                    .latest(&container.name)
                    .is_some_and(|c| c.state == ContainerState::Exited && c.exit_code == 0);
                if succeeded && policy == "OnFailure" {
                    continue;
                }
                if policy == "Never" && runtime.latest(&container.name).is_some() {
                    continue;
                }
                actions.start.push(index);
            }
        }
        return actions;
    }

    // Containers no longer in the spec are stopped.
    for live in runtime.live() {
        let known = spec.containers.iter().any(|c| c.name == live.metadata.name)
            || init_containers.iter().any(|c| c.name == live.metadata.name);
        if !known {
            actions.kill.push(Kill::new(
                live,
                "Container is not in the pod spec".to_owned(),
            ));
        }
    }

    // Init containers, in order.
    for (index, container) in init_containers.iter().enumerate() {
        let latest = runtime.latest(&container.name);
        let sidecar = is_sidecar(container);
        match latest.map(|c| c.state) {
            None => {
                actions.next_init = Some(index);
                return actions;
            }
            Some(ContainerState::Running) => {
                if let Some(latest) = latest
                    && let Some(running) = pod_status::running_container(container, latest)
                {
                    if let Some((probe_type, _)) = probes.must_restart(&running) {
                        actions.kill.push(probe_kill(container, latest, probe_type));
                        actions.next_init = Some(index);
                        return actions;
                    }
                    if sidecar && probes.started(&running) {
                        continue;
                    }
                }
                return actions;
            }
            Some(ContainerState::Exited) if !sidecar => {
                if latest.is_some_and(|c| c.exit_code == 0) {
                    continue;
                }
                if policy != "Never" {
                    actions.next_init = Some(index);
                }
                return actions;
            }
            Some(_) => {
                // A sidecar that exited, or a container stuck before running: start anew.
                actions.next_init = Some(index);
                return actions;
            }
        }
    }

    // App containers.
    for (index, container) in spec.containers.iter().enumerate() {
        let latest = runtime.latest(&container.name);
        let Some(latest) = latest else {
            actions.start.push(index);
            continue;
        };
        match latest.state {
            ContainerState::Running => {
                let running = pod_status::running_container(container, latest);
                let probe_failure = running.as_ref().and_then(|r| probes.must_restart(r));
                let changed =
                    container_hash(latest).is_some_and(|h| h != hash_container(container));
                let restart = probe_failure.is_none() || policy != "Never";
                let kill = match (probe_failure, changed) {
                    (Some((probe_type, _)), _) => Some(probe_kill(container, latest, probe_type)),
                    (None, true) => Some(Kill::new(
                        latest,
                        format!(
                            "Container {} definition changed, will be restarted",
                            container.name
                        ),
                    )),
                    (None, false) => None,
                };
                if let Some(kill) = kill {
                    actions.kill.push(kill);
                    if restart {
                        actions.start.push(index);
                    }
                }
            }
            ContainerState::Exited => {
                let restart = match policy {
                    "Never" => false,
                    "OnFailure" => latest.exit_code != 0,
                    _ => true,
                };
                if restart {
                    actions.start.push(index);
                }
            }
            ContainerState::Created | ContainerState::Unknown => {
                actions
                    .kill
                    .push(Kill::new(latest, "Container never started".to_owned()));
                actions.start.push(index);
            }
        }
    }
    actions
}

/// The sandbox config of a pod, as the kubelet builds it.
pub fn sandbox_config(kubelet: &Kubelet, pod: &Pod, attempt: u32) -> PodSandboxConfig {
    let meta = &pod.metadata;
    let name = meta.name.clone().unwrap_or_default();
    let namespace = meta
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let uid = meta.uid.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let host_network = spec.host_network.unwrap_or(false);
    let mut labels = meta.labels.clone().unwrap_or_default();
    labels.insert(POD_NAME_LABEL.to_owned(), name.clone());
    labels.insert(POD_NAMESPACE_LABEL.to_owned(), namespace.clone());
    labels.insert(POD_UID_LABEL.to_owned(), uid.clone());
    let port_mappings = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let host_port = p.host_port.filter(|h| *h > 0)?;
            Some(PortMapping {
                protocol: Protocol::from_kubernetes(p.protocol.as_deref()),
                container_port: p.container_port,
                host_port,
                host_ip: p.host_ip.clone().unwrap_or_default(),
            })
        })
        .collect();
    PodSandboxConfig {
        metadata: PodSandboxMetadata {
            name: name.clone(),
            uid: uid.clone(),
            namespace: namespace.clone(),
            attempt,
        },
        hostname: if host_network {
            kubelet.config.name.clone()
        } else {
            spec.hostname.clone().unwrap_or_else(|| name.clone())
        },
        log_directory: format!("/var/log/pods/{namespace}_{name}_{uid}"),
        dns_config: dns_config(kubelet, pod),
        port_mappings,
        labels,
        annotations: meta.annotations.clone().unwrap_or_default(),
        host_network,
        cgroup_parent: format!("/kubepods/pod{uid}"),
        runtime_handler: String::new(),
    }
}

/// The DNS settings of a pod per its `dnsPolicy`.
fn dns_config(kubelet: &Kubelet, pod: &Pod) -> Option<DnsConfig> {
    let spec = pod.spec.as_ref()?;
    let policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    let host_network = spec.host_network.unwrap_or(false);
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let domain = &kubelet.config.cluster_domain;
    let mut config = match policy {
        "ClusterFirstWithHostNet" | "ClusterFirst"
            if !kubelet.config.cluster_dns.is_empty()
                && (policy == "ClusterFirstWithHostNet" || !host_network) =>
        {
            DnsConfig {
                servers: kubelet.config.cluster_dns.clone(),
                searches: vec![
                    format!("{namespace}.svc.{domain}"),
                    format!("svc.{domain}"),
                    domain.clone(),
                ],
                options: vec!["ndots:5".to_owned()],
            }
        }
        "None" => DnsConfig::default(),
        _ => return None,
    };
    if let Some(custom) = &spec.dns_config {
        config
            .servers
            .extend(custom.nameservers.iter().flatten().cloned());
        config
            .searches
            .extend(custom.searches.iter().flatten().cloned());
        for option in custom.options.iter().flatten() {
            let text = match &option.value {
                Some(value) => format!("{}:{value}", option.name.clone().unwrap_or_default()),
                None => option.name.clone().unwrap_or_default(),
            };
            config.options.push(text);
        }
    }
    Some(config)
}

/// Why a container could not start: the waiting reason the pod status shows, and when to
/// try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartFailure {
    /// The waiting reason and message.
    pub waiting: WaitingReason,
    /// Try again after this long.
    pub retry_after: Duration,
}

fn failure(reason: &str, message: String, retry_after: Duration) -> StartFailure {
    StartFailure {
        waiting: WaitingReason {
            reason: reason.to_owned(),
            message,
        },
        retry_after,
    }
}

/// A pod's identity in messages: `name_namespace(uid)`, as Kubernetes' `format.Pod`.
pub fn pod_display(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.uid.as_deref().unwrap_or_default()
    )
}

/// Resolves a `fieldRef` (the downward API).
fn field_value(
    pod: &Pod,
    selector: &ObjectFieldSelector,
    host_ip: &str,
    pod_ips: &[String],
) -> Option<String> {
    let meta = &pod.metadata;
    let path = selector.field_path.as_str();
    let bracketed = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix("']"))
            .map(str::to_owned)
    };
    if let Some(key) = bracketed("metadata.labels['") {
        return meta.labels.as_ref().and_then(|l| l.get(&key).cloned());
    }
    if let Some(key) = bracketed("metadata.annotations['") {
        return meta.annotations.as_ref().and_then(|a| a.get(&key).cloned());
    }
    let spec = pod.spec.as_ref();
    Some(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => host_ip.to_owned(),
        "status.podIP" => pod_ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => pod_ips.join(","),
        _ => return None,
    })
}

/// The container's environment: literal values, the downward API, and keys of config maps
/// and secrets (a missing required one is `CreateContainerConfigError`).
async fn environment(
    kubelet: &Kubelet,
    pod: &Pod,
    container: &Container,
    pod_ips: &[String],
) -> Result<Vec<KeyValue>, String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut set = |env: &mut BTreeMap<String, String>, key: String, value: String| {
        if !env.contains_key(&key) {
            order.push(key.clone());
        }
        env.insert(key, value);
    };
    let config_maps = Api::<ConfigMap>::namespaced(Arc::clone(&kubelet.client), namespace);
    let secrets = Api::<Secret>::namespaced(Arc::clone(&kubelet.client), namespace);
    for source in container.env_from.iter().flatten() {
        let prefix = source.prefix.clone().unwrap_or_default();
        if let Some(reference) = &source.config_map_ref {
            match config_maps.get_opt(&reference.name).await {
                Ok(Some(cm)) => {
                    for (k, v) in cm.data.iter().flatten() {
                        set(&mut env, format!("{prefix}{k}"), v.clone());
                    }
                }
                Ok(None) if reference.optional == Some(true) => {}
                Ok(None) => return Err(format!("configmap \"{}\" not found", reference.name)),
                Err(status) => return Err(status.message),
            }
        }
        if let Some(reference) = &source.secret_ref {
            match secrets.get_opt(&reference.name).await {
                Ok(Some(secret)) => {
                    for (k, v) in secret.data.iter().flatten() {
                        set(
                            &mut env,
                            format!("{prefix}{k}"),
                            String::from_utf8_lossy(&v.0).into_owned(),
                        );
                    }
                }
                Ok(None) if reference.optional == Some(true) => {}
                Ok(None) => return Err(format!("secret \"{}\" not found", reference.name)),
                Err(status) => return Err(status.message),
            }
        }
    }
    for EnvVar {
        name,
        value,
        value_from,
    } in container.env.iter().flatten()
    {
        if let Some(value) = value {
            set(&mut env, name.clone(), value.clone());
            continue;
        }
        let Some(from) = value_from else {
            set(&mut env, name.clone(), String::new());
            continue;
        };
        if let Some(field) = &from.field_ref {
            let value = field_value(pod, field, &kubelet.host_ip, pod_ips).unwrap_or_default();
            set(&mut env, name.clone(), value);
        } else if let Some(key) = &from.config_map_key_ref {
            match config_maps.get_opt(&key.name).await {
                Ok(found) => match found
                    .and_then(|cm| cm.data.as_ref().and_then(|d| d.get(&key.key).cloned()))
                {
                    Some(value) => set(&mut env, name.clone(), value),
                    None if key.optional == Some(true) => {}
                    None => {
                        return Err(format!(
                            "couldn't find key {} in ConfigMap {namespace}/{}",
                            key.key, key.name
                        ));
                    }
                },
                Err(status) => return Err(status.message),
            }
        } else if let Some(key) = &from.secret_key_ref {
            match secrets.get_opt(&key.name).await {
                Ok(found) => match found.and_then(|s| {
                    s.data
                        .as_ref()
                        .and_then(|d| d.get(&key.key))
                        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                }) {
                    Some(value) => set(&mut env, name.clone(), value),
                    None if key.optional == Some(true) => {}
                    None => {
                        return Err(format!(
                            "couldn't find key {} in Secret {namespace}/{}",
                            key.key, key.name
                        ));
                    }
                },
                Err(status) => return Err(status.message),
            }
        } else if let Some(resource) = &from.resource_field_ref {
            let value = resource_value(container, &resource.resource);
            set(&mut env, name.clone(), value);
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|key| {
            let value = env.get(&key)?.clone();
            Some(KeyValue { key, value })
        })
        .collect())
}

/// The value of a `resourceFieldRef` (`limits.cpu`, `requests.memory`, …) in the units
/// Kubernetes reports with the default divisor (cores rounded up, bytes).
fn resource_value(container: &Container, resource: &str) -> String {
    let Some((kind, name)) = resource.split_once('.') else {
        return String::new();
    };
    let list = container.resources.as_ref().and_then(|r| match kind {
        "limits" => r.limits.as_ref(),
        "requests" => r.requests.as_ref(),
        _ => None,
    });
    let amount = list
        .and_then(|l| ResourceList::from_k8s(l).ok())
        .map(|l| l.get(name))
        .unwrap_or(0);
    if name == "cpu" {
        ((amount + 999) / 1000).to_string()
    } else {
        amount.to_string()
    }
}

/// The CRI config of a container.
pub async fn container_config(
    kubelet: &Kubelet,
    pod: &Pod,
    container: &Container,
    init: bool,
    attempt: u32,
    pod_ips: &[String],
) -> Result<ContainerConfig, String> {
    let meta = &pod.metadata;
    let uid = meta.uid.clone().unwrap_or_default();
    let mut labels = BTreeMap::new();
    labels.insert(
        POD_NAME_LABEL.to_owned(),
        meta.name.clone().unwrap_or_default(),
    );
    labels.insert(
        POD_NAMESPACE_LABEL.to_owned(),
        meta.namespace.clone().unwrap_or_default(),
    );
    labels.insert(POD_UID_LABEL.to_owned(), uid.clone());
    labels.insert(CONTAINER_NAME_LABEL.to_owned(), container.name.clone());
    let mut annotations = BTreeMap::new();
    annotations.insert(
        CONTAINER_HASH_ANNOTATION.to_owned(),
        hash_container(container),
    );
    annotations.insert(
        CONTAINER_RESTART_COUNT_ANNOTATION.to_owned(),
        attempt.to_string(),
    );
    annotations.insert(
        CONTAINER_TYPE_ANNOTATION.to_owned(),
        if init { "init" } else { "container" }.to_owned(),
    );
    if let Some(policy) = &container.restart_policy {
        annotations.insert(
            crate::cri::CONTAINER_RESTART_POLICY_ANNOTATION.to_owned(),
            policy.clone(),
        );
    }
    annotations.insert(
        CONTAINER_TERMINATION_MESSAGE_PATH_ANNOTATION.to_owned(),
        container
            .termination_message_path
            .clone()
            .unwrap_or_else(|| "/dev/termination-log".to_owned()),
    );
    if let Some(grace) = pod
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
    {
        annotations.insert(
            POD_TERMINATION_GRACE_PERIOD_ANNOTATION.to_owned(),
            grace.to_string(),
        );
    }
    let envs = environment(kubelet, pod, container, pod_ips).await?;
    let mounts = container
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| Mount {
            container_path: m.mount_path.clone(),
            host_path: format!("/var/lib/kubelet/pods/{uid}/volumes/{}", m.name),
            readonly: m.read_only.unwrap_or(false),
        })
        .collect();
    let resources = |kind: &str| -> ResourceList {
        container
            .resources
            .as_ref()
            .and_then(|r| match kind {
                "limits" => r.limits.as_ref(),
                _ => r.requests.as_ref(),
            })
            .and_then(|l| ResourceList::from_k8s(l).ok())
            .unwrap_or_default()
    };
    let (requests, limits) = (resources("requests"), resources("limits"));
    let cpu_request = requests.get("cpu");
    Ok(ContainerConfig {
        metadata: ContainerMetadata {
            name: container.name.clone(),
            attempt,
        },
        image: ImageSpec::new(container.image.clone().unwrap_or_default()),
        command: container.command.clone().unwrap_or_default(),
        args: container.args.clone().unwrap_or_default(),
        working_dir: container.working_dir.clone().unwrap_or_default(),
        envs,
        mounts,
        labels,
        annotations,
        log_path: format!("{}/{attempt}.log", container.name),
        stdin: container.stdin.unwrap_or(false),
        tty: container.tty.unwrap_or(false),
        linux_resources: LinuxContainerResources {
            cpu_shares: (cpu_request * 1024 / 1000).max(2),
            cpu_quota: limits.get("cpu") * 100,
            cpu_period: 100_000,
            memory_limit_in_bytes: limits.get("memory"),
        },
    })
}

/// The crash back-off key of a container.
pub fn backoff_key(pod: &Pod, container: &Container) -> String {
    format!(
        "{}/{}/{}",
        pod.metadata.uid.as_deref().unwrap_or_default(),
        container.name,
        hash_container(container)
    )
}

/// Starts one container: back-off, image, create, start. `latest` is its newest runtime
/// container, if any.
#[allow(clippy::too_many_arguments)]
pub async fn start_container(
    kubelet: &Kubelet,
    pod: &Pod,
    sandbox_id: &str,
    sandbox_config: &PodSandboxConfig,
    container: &Container,
    init: bool,
    latest: Option<&ContainerStatus>,
    pod_ips: &[String],
) -> Result<(), StartFailure> {
    let now = clock::now();
    if let Some(previous) = latest.filter(|c| c.state == ContainerState::Exited) {
        let key = backoff_key(pod, container);
        let finished = clock::timestamp_of_nanos(previous.finished_at).unwrap_or(now);
        let mut backoff = kubelet.lock_backoff();
        if let Some(left) = backoff.remaining(&key, finished, now) {
            let current = backoff.current(&key);
            return Err(failure(
                CRASH_LOOP_BACK_OFF,
                format!(
                    "back-off {} restarting failed container={} pod={}",
                    format_go_duration(current),
                    container.name,
                    pod_display(pod)
                ),
                left,
            ));
        }
        backoff.next(&key, finished);
    }
    ensure_image(kubelet, pod, container, sandbox_config).await?;
    let attempt = latest.map_or(0, |c| c.metadata.attempt + 1);
    let config = container_config(kubelet, pod, container, init, attempt, pod_ips)
        .await
        .map_err(|message| {
            failure(
                "CreateContainerConfigError",
                message,
                Duration::from_secs(10),
            )
        })?;
    let id = kubelet
        .runtime
        .create_container(sandbox_id, &config, sandbox_config)
        .await
        .map_err(|e| {
            failure(
                "CreateContainerError",
                e.to_string(),
                Duration::from_secs(10),
            )
        })?;
    kubelet.event_about_container(
        pod,
        &container.name,
        false,
        "Created",
        format!("Created container: {}", container.name),
    );
    kubelet
        .runtime
        .start_container(&id)
        .await
        .map_err(|e| failure("RunContainerError", e.to_string(), Duration::from_secs(10)))?;
    kubelet.event_about_container(
        pod,
        &container.name,
        false,
        "Started",
        format!("Started container {}", container.name),
    );
    Ok(())
}

/// Makes sure the container's image is present, per its `imagePullPolicy`.
async fn ensure_image(
    kubelet: &Kubelet,
    pod: &Pod,
    container: &Container,
    sandbox_config: &PodSandboxConfig,
) -> Result<(), StartFailure> {
    let image = container.image.clone().unwrap_or_default();
    if image.is_empty() {
        return Err(failure(
            "InvalidImageName",
            "the container has no image".to_owned(),
            Duration::from_secs(300),
        ));
    }
    let spec = ImageSpec::new(image.clone());
    let present = kubelet
        .runtime
        .image_status(&spec)
        .await
        .map_err(|e| failure("ErrImageInspect", e.to_string(), Duration::from_secs(10)))?
        .is_some();
    let policy = container
        .image_pull_policy
        .clone()
        .unwrap_or_else(|| orchestra_api::defaulting::default_image_pull_policy(&image).to_owned());
    let pull = match policy.as_str() {
        "Never" if !present => {
            return Err(failure(
                "ErrImageNeverPull",
                format!("Container image \"{image}\" is not present with pull policy of Never"),
                Duration::from_secs(10),
            ));
        }
        "Never" => false,
        "IfNotPresent" => !present,
        _ => true,
    };
    if !pull {
        kubelet.event_about_container(
            pod,
            &container.name,
            false,
            "Pulled",
            format!("Container image \"{image}\" already present on machine"),
        );
        return Ok(());
    }
    let key = format!(
        "pull/{}/{image}",
        pod.metadata.uid.as_deref().unwrap_or_default()
    );
    let now = clock::now();
    if let Some(left) = kubelet
        .lock_image_backoff()
        .remaining_since_failure(&key, now)
    {
        return Err(failure(
            "ImagePullBackOff",
            format!("Back-off pulling image \"{image}\""),
            left,
        ));
    }
    kubelet.event_about_container(
        pod,
        &container.name,
        false,
        "Pulling",
        format!("Pulling image \"{image}\""),
    );
    let started = tokio::time::Instant::now();
    match kubelet
        .runtime
        .pull_image(&spec, None, Some(sandbox_config))
        .await
    {
        Ok(_) => {
            kubelet.lock_image_backoff().reset(&key);
            kubelet.event_about_container(
                pod,
                &container.name,
                false,
                "Pulled",
                format!(
                    "Successfully pulled image \"{image}\" in {}",
                    format_go_duration(started.elapsed())
                ),
            );
            Ok(())
        }
        Err(error) => {
            let mut backoff = kubelet.lock_image_backoff();
            backoff.next(&key, now);
            let wait = backoff.current(&key);
            Err(failure("ErrImagePull", error.to_string(), wait))
        }
    }
}

/// Stops containers concurrently, each with its own grace period or else `grace`, and
/// publishes a `Killing` event for each.
pub async fn kill_containers(kubelet: &Kubelet, pod: &Pod, containers: &[Kill], grace: Duration) {
    let stops = containers.iter().map(|kill| async move {
        let name = &kill.name;
        let message = if kill.reason.is_empty() {
            format!("Stopping container {name}")
        } else {
            kill.reason.clone()
        };
        kubelet.event_about_container(pod, name, false, "Killing", message);
        if let Err(error) = kubelet
            .runtime
            .stop_container(&kill.id, kill.grace.unwrap_or(grace))
            .await
            && !error.is_not_found()
        {
            tracing::warn!(container = %name, %error, "stopping a container failed");
        }
    });
    futures::future::join_all(stops).await;
}

/// The grace period the pod's containers get when stopped: the deletion's, else the spec's
/// `terminationGracePeriodSeconds` (30 s by default), at least 2 s as Kubernetes enforces.
pub fn grace_period(pod: &Pod) -> Duration {
    let seconds = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .unwrap_or(30)
        .max(2);
    Duration::from_secs(seconds.unsigned_abs())
}

/// Removes exited containers beyond the newest two of each name, and stopped sandboxes
/// beyond the newest, as the kubelet's container garbage collector does (it keeps the
/// previous container for `lastState` and `kubectl logs --previous`).
pub async fn collect_garbage(kubelet: &Kubelet, runtime: &RuntimePod) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for container in &runtime.containers {
        let count = seen.entry(container.metadata.name.as_str()).or_default();
        *count += 1;
        if *count > 2 && container.state == ContainerState::Exited {
            let _ = kubelet.runtime.remove_container(&container.id).await;
        }
    }
    for sandbox in runtime.sandboxes.iter().skip(1) {
        let has_containers = runtime.sandbox_of.values().any(|id| id == &sandbox.id);
        if sandbox.state == crate::cri::PodSandboxState::NotReady && !has_containers {
            let _ = kubelet.runtime.remove_pod_sandbox(&sandbox.id).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cri::{
        ContainerMetadata, PodSandboxNetworkStatus, PodSandboxState, PodSandboxStatus,
    };

    fn pod(policy: &str, init: &[&str], containers: &[&str]) -> Pod {
        let list = |names: &[&str]| -> Vec<serde_json::Value> {
            names
                .iter()
                .map(|n| serde_json::json!({"name": n, "image": "busybox"}))
                .collect()
        };
        let mut spec = serde_json::json!({"restartPolicy": policy, "containers": list(containers)});
        if !init.is_empty() {
            spec["initContainers"] = list(init).into();
        }
        serde_json::from_value(serde_json::json!({"metadata": {"uid": "u"}, "spec": spec})).unwrap()
    }

    /// A runtime container of `pod`'s container `name`: `running` or an exit code.
    fn container(pod: &Pod, name: &str, attempt: u32, state: &str) -> ContainerStatus {
        let spec = pod.spec.as_ref().unwrap();
        let spec_container = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .find(|c| c.name == name)
            .unwrap();
        let (state, exit_code) = match state {
            "running" => (ContainerState::Running, 0),
            code => (ContainerState::Exited, code.parse().unwrap()),
        };
        ContainerStatus {
            id: format!("{name}-{attempt}"),
            metadata: ContainerMetadata {
                name: name.to_owned(),
                attempt,
            },
            state,
            exit_code,
            created_at: i64::from(attempt) + 1,
            started_at: 1,
            annotations: BTreeMap::from([(
                CONTAINER_HASH_ANNOTATION.to_owned(),
                hash_container(spec_container),
            )]),
            ..ContainerStatus::default()
        }
    }

    fn runtime(
        sandbox: Option<PodSandboxState>,
        mut containers: Vec<ContainerStatus>,
    ) -> RuntimePod {
        containers.sort_by_key(|c| std::cmp::Reverse(c.created_at));
        RuntimePod {
            sandboxes: sandbox
                .map(|state| PodSandboxStatus {
                    id: "s".into(),
                    state,
                    metadata: PodSandboxMetadata {
                        attempt: 0,
                        ..PodSandboxMetadata::default()
                    },
                    network: Some(PodSandboxNetworkStatus {
                        ip: "10.0.0.2".into(),
                        additional_ips: Vec::new(),
                    }),
                    ..PodSandboxStatus::default()
                })
                .into_iter()
                .collect(),
            containers,
            sandbox_of: HashMap::new(),
        }
    }

    fn actions(pod: &Pod, runtime: &RuntimePod) -> PodActions {
        compute_actions(pod, runtime, &PodProbes::default())
    }

    #[test]
    fn a_new_pod_gets_a_sandbox_and_its_first_init_container_or_all_app_containers() {
        let plain = pod("Always", &[], &["a", "b"]);
        let got = actions(&plain, &runtime(None, vec![]));
        assert_eq!(got.create_sandbox, Some(0));
        assert_eq!(got.start, [0, 1]);
        let with_init = pod("Always", &["i1", "i2"], &["a"]);
        let got = actions(&with_init, &runtime(None, vec![]));
        assert_eq!((got.create_sandbox, got.next_init), (Some(0), Some(0)));
        assert!(got.start.is_empty());
    }

    #[test]
    fn init_containers_start_one_at_a_time_in_order() {
        let p = pod("Always", &["i1", "i2"], &["a"]);
        let ready = Some(PodSandboxState::Ready);
        let running = actions(&p, &runtime(ready, vec![container(&p, "i1", 0, "running")]));
        assert_eq!(running, PodActions::default(), "wait for i1");
        let next = actions(&p, &runtime(ready, vec![container(&p, "i1", 0, "0")]));
        assert_eq!(next.next_init, Some(1));
        let failed = actions(&p, &runtime(ready, vec![container(&p, "i1", 0, "1")]));
        assert_eq!(
            failed.next_init,
            Some(0),
            "a failed init container is retried"
        );
        let never = pod("Never", &["i1"], &["a"]);
        let failed = actions(
            &never,
            &runtime(ready, vec![container(&never, "i1", 0, "1")]),
        );
        assert_eq!(failed, PodActions::default(), "not under Never");
        let done = actions(
            &p,
            &runtime(
                ready,
                vec![container(&p, "i1", 0, "0"), container(&p, "i2", 0, "0")],
            ),
        );
        assert_eq!((done.next_init, done.start.as_slice()), (None, &[0][..]));
    }

    #[test]
    fn exited_app_containers_restart_per_the_restart_policy() {
        let ready = Some(PodSandboxState::Ready);
        for (policy, code, restarts) in [
            ("Always", "0", true),
            ("Always", "1", true),
            ("OnFailure", "0", false),
            ("OnFailure", "1", true),
            ("Never", "0", false),
            ("Never", "1", false),
        ] {
            let p = pod(policy, &[], &["a"]);
            let got = actions(&p, &runtime(ready, vec![container(&p, "a", 0, code)]));
            assert_eq!(
                !got.start.is_empty(),
                restarts,
                "{policy} after exit {code}"
            );
        }
    }

    #[test]
    fn a_lost_sandbox_is_replaced_unless_the_pod_never_restarts() {
        let p = pod("Always", &[], &["a"]);
        let lost = runtime(
            Some(PodSandboxState::NotReady),
            vec![container(&p, "a", 0, "137")],
        );
        let got = actions(&p, &lost);
        assert_eq!(got.create_sandbox, Some(1), "the next attempt");
        assert_eq!(got.start, [0]);
        let never = pod("Never", &[], &["a"]);
        let lost = runtime(
            Some(PodSandboxState::NotReady),
            vec![container(&never, "a", 0, "137")],
        );
        assert_eq!(actions(&never, &lost).create_sandbox, None);
    }

    #[test]
    fn a_changed_container_spec_replaces_the_container() {
        let p = pod("Always", &[], &["a"]);
        let mut running = container(&p, "a", 0, "running");
        running
            .annotations
            .insert(CONTAINER_HASH_ANNOTATION.to_owned(), "stale".to_owned());
        let got = actions(&p, &runtime(Some(PodSandboxState::Ready), vec![running]));
        assert_eq!(got.kill.len(), 1);
        assert!(
            got.kill[0].reason.contains("definition changed"),
            "{:?}",
            got.kill
        );
        assert_eq!(got.start, [0]);
    }

    #[test]
    fn a_failed_liveness_probe_kills_with_the_probes_grace_period_and_restarts_unless_never() {
        for (policy, restarts) in [("Always", true), ("Never", false)] {
            let p: Pod = serde_json::from_value(serde_json::json!({
                "metadata": {"uid": "u"},
                "spec": {"restartPolicy": policy, "containers": [{
                    "name": "a", "image": "busybox",
                    "livenessProbe": {"exec": {"command": ["true"]}, "failureThreshold": 1,
                                      "terminationGracePeriodSeconds": 3}
                }]}
            }))
            .unwrap();
            let running = container(&p, "a", 0, "running");
            let spec = &p.spec.as_ref().unwrap().containers[0];
            let mut probes = PodProbes::default();
            let target = crate::pod_status::running_container(spec, &running).unwrap();
            probes.record(
                &target,
                crate::probe::ProbeType::Liveness,
                &crate::probe::ProbeResult::Failure("dead".into()),
                tokio::time::Instant::now(),
            );
            let got = compute_actions(
                &p,
                &runtime(Some(PodSandboxState::Ready), vec![running.clone()]),
                &probes,
            );
            assert_eq!(got.kill.len(), 1, "{policy}");
            assert_eq!(got.kill[0].grace, Some(Duration::from_secs(3)));
            assert_eq!(
                got.kill[0].reason,
                "Container a failed liveness probe, will be restarted"
            );
            assert_eq!(!got.start.is_empty(), restarts, "{policy}");
        }
    }

    #[test]
    fn grace_periods_follow_the_deletion_then_the_spec_with_a_two_second_floor() {
        let mut p = pod("Always", &[], &["a"]);
        assert_eq!(grace_period(&p), Duration::from_secs(30));
        p.spec.as_mut().unwrap().termination_grace_period_seconds = Some(5);
        assert_eq!(grace_period(&p), Duration::from_secs(5));
        p.metadata.deletion_grace_period_seconds = Some(0);
        assert_eq!(grace_period(&p), Duration::from_secs(2));
    }
}
