//! The API status of a pod, computed from what the runtime reports (Kubernetes' kubelet
//! `generateAPIPodStatus`).
//!
//! - **Container statuses**: each container's newest runtime container gives `state`
//!   (running with `startedAt`, terminated with exit code and reason, or waiting), the one
//!   before it `lastState`; `restartCount` is the newest one's attempt. A container that
//!   has not been created yet waits with reason `ContainerCreating` (`PodInitializing` in
//!   pods with init containers); one that failed to start, or waits for its crash back-off,
//!   waits with the start failure's reason (`CrashLoopBackOff`, `ErrImagePull`, …).
//!   `ready` and `started` come from the probes.
//! - **Phase**: Kubernetes' rules: `Pending` until every container has started once,
//!   `Running` while any runs (or restarts), `Succeeded` when all exited 0 and will not
//!   restart, `Failed` when all exited and one failed; a terminal phase never changes back.
//! - **Conditions**: `PodReadyToStartContainers`, `Initialized`, `ContainersReady`, `Ready`
//!   (which also needs the readiness gates) and `PodScheduled`, with `lastTransitionTime`
//!   kept while a condition's status stays the same; conditions other components own are
//!   kept as they are.
//!
//! Every time is truncated to whole seconds, as the API serializes them, so a status that
//! did not change compares equal to the stored one and is not written again.

use std::collections::HashMap;

use orchestra_api::k8s_openapi::api::core::v1::{
    Container, ContainerState as ApiContainerState, ContainerStateRunning,
    ContainerStateTerminated, ContainerStateWaiting, ContainerStatus as ApiContainerStatus, HostIP,
    Pod, PodCondition, PodIP, PodStatus,
};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use orchestra_api::k8s_openapi::jiff::Timestamp;
use orchestra_api::qos;

use crate::clock;
use crate::cri::{ContainerState, ContainerStatus};
use crate::probe_manager::{PodProbes, RunningContainer};
use crate::runtime_pod::{RuntimePod, restart_count};

/// Reason of a container waiting to be created.
pub const CONTAINER_CREATING: &str = "ContainerCreating";
/// Reason of an app container waiting for init containers.
pub const POD_INITIALIZING: &str = "PodInitializing";
/// Reason of a container waiting for its crash back-off.
pub const CRASH_LOOP_BACK_OFF: &str = "CrashLoopBackOff";

/// The kubelet-owned condition types.
const KUBELET_CONDITIONS: [&str; 5] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
];

/// Why a container waits instead of running: the last start failure (the kubelet's
/// reason cache).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingReason {
    /// `CrashLoopBackOff`, `ErrImagePull`, `ImagePullBackOff`, `CreateContainerError`, …
    pub reason: String,
    /// Details.
    pub message: String,
}

/// What the status is computed from.
#[derive(Debug, Clone, Copy)]
pub struct StatusInputs<'a> {
    /// The pod as the API has it (its status is the previous status).
    pub pod: &'a Pod,
    /// What the runtime holds for it.
    pub runtime: &'a RuntimePod,
    /// Its probe results.
    pub probes: &'a PodProbes,
    /// Start failures by container name.
    pub waiting: &'a HashMap<String, WaitingReason>,
    /// The node's IP.
    pub host_ip: &'a str,
    /// The runtime's name (scheme of container ids).
    pub runtime_name: &'a str,
    /// Whether the pod is done for good (being deleted and stopped): its phase becomes
    /// terminal whatever the restart policy.
    pub pod_is_terminal: bool,
    /// Now.
    pub now: Timestamp,
}

fn time(ts: Timestamp) -> Time {
    Time(clock::to_seconds(ts))
}

fn time_of_nanos(nanos: i64) -> Option<Time> {
    clock::timestamp_of_nanos(nanos).map(time)
}

fn is_sidecar(container: &Container) -> bool {
    container.restart_policy.as_deref() == Some("Always")
}

fn restart_policy(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always")
}

/// Whether a container whose newest runtime container is `latest` will be (re)started,
/// given the pod's restart policy (Kubernetes' `ShouldContainerBeRestarted`).
pub fn should_restart(
    pod: &Pod,
    container: &Container,
    latest: Option<&ContainerStatus>,
    init: bool,
) -> bool {
    if pod.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let Some(latest) = latest else {
        return true;
    };
    match latest.state {
        ContainerState::Running => false,
        ContainerState::Created | ContainerState::Unknown => true,
        ContainerState::Exited => {
            if init && is_sidecar(container) {
                return true;
            }
            match restart_policy(pod) {
                "Never" => false,
                "OnFailure" => latest.exit_code != 0,
                _ => !init || latest.exit_code != 0,
            }
        }
    }
}

/// The API state of a runtime container.
fn api_state(container: &ContainerStatus, container_id: &str) -> ApiContainerState {
    match container.state {
        ContainerState::Running => ApiContainerState {
            running: Some(ContainerStateRunning {
                started_at: time_of_nanos(container.started_at),
            }),
            ..ApiContainerState::default()
        },
        ContainerState::Exited => ApiContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: container.exit_code,
                reason: Some(container.reason.clone()).filter(|r| !r.is_empty()),
                message: Some(container.message.clone()).filter(|m| !m.is_empty()),
                started_at: time_of_nanos(container.started_at),
                finished_at: time_of_nanos(container.finished_at),
                container_id: Some(container_id.to_owned()),
                signal: None,
            }),
            ..ApiContainerState::default()
        },
        ContainerState::Created | ContainerState::Unknown => ApiContainerState {
            waiting: Some(ContainerStateWaiting::default()),
            ..ApiContainerState::default()
        },
    }
}

fn waiting_state(reason: &str, message: Option<&str>) -> ApiContainerState {
    ApiContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_owned()),
            message: message.filter(|m| !m.is_empty()).map(str::to_owned),
        }),
        ..ApiContainerState::default()
    }
}

/// The running container a runtime status describes, for the probe results.
pub fn running_container<'a>(
    spec: &'a Container,
    status: &'a ContainerStatus,
) -> Option<RunningContainer<'a>> {
    (status.state == ContainerState::Running).then(|| RunningContainer {
        spec,
        id: &status.id,
        started: clock::timestamp_of_nanos(status.started_at)
            .map(clock::instant_of)
            .unwrap_or_else(tokio::time::Instant::now),
    })
}

fn container_statuses(
    inputs: &StatusInputs<'_>,
    containers: &[Container],
    previous: &[ApiContainerStatus],
    has_init: bool,
    init: bool,
) -> Vec<ApiContainerStatus> {
    let default_reason = if has_init {
        POD_INITIALIZING
    } else {
        CONTAINER_CREATING
    };
    containers
        .iter()
        .map(|spec| {
            let old = previous.iter().find(|s| s.name == spec.name);
            let mut status = ApiContainerStatus {
                name: spec.name.clone(),
                image: spec.image.clone().unwrap_or_default(),
                state: Some(waiting_state(default_reason, None)),
                ..ApiContainerStatus::default()
            };
            if let Some(old) = old {
                status.restart_count = old.restart_count;
                status.last_state.clone_from(&old.last_state);
            }
            let mut named = inputs.runtime.named(&spec.name);
            let latest = named.next();
            if let Some(latest) = latest {
                let id = format!("{}://{}", inputs.runtime_name, latest.id);
                status.state = Some(api_state(latest, &id));
                status.container_id = Some(id);
                status.image_id = latest.image_ref.clone();
                status.restart_count = i32::try_from(restart_count(latest)).unwrap_or(i32::MAX);
                status.last_state = named
                    .next()
                    .map(|previous| {
                        api_state(
                            previous,
                            &format!("{}://{}", inputs.runtime_name, previous.id),
                        )
                    })
                    .or_else(|| {
                        // A restarted agent may find only the newest container; keep what
                        // the API already reports for the one before.
                        old.filter(|o| o.restart_count == status.restart_count)
                            .and_then(|o| o.last_state.clone())
                    });
            } else if let Some(old) = old
                && old.state.as_ref().is_some_and(|s| s.terminated.is_some())
            {
                // Terminated containers stay terminated when the runtime forgot them.
                status = old.clone();
            }
            let restarts = should_restart(inputs.pod, spec, latest, init)
                && !(init
                    && latest.is_some_and(|l| {
                        l.state == ContainerState::Exited && l.exit_code == 0 && !is_sidecar(spec)
                    }));
            if restarts && let Some(waiting) = inputs.waiting.get(&spec.name) {
                if status
                    .state
                    .as_ref()
                    .is_some_and(|s| s.terminated.is_some())
                {
                    status.last_state = status.state.take();
                }
                status.state = Some(waiting_state(&waiting.reason, Some(&waiting.message)));
            }
            let running = latest.and_then(|l| running_container(spec, l));
            let (ready, started) = match (&running, init) {
                (Some(r), _) => (inputs.probes.ready(r), inputs.probes.started(r)),
                (None, true) => (
                    latest.is_some_and(|l| {
                        l.state == ContainerState::Exited && l.exit_code == 0 && !is_sidecar(spec)
                    }),
                    false,
                ),
                (None, false) => (false, false),
            };
            status.ready = ready;
            status.started = Some(started);
            status
        })
        .collect()
}

/// The phase, by Kubernetes' `getPhase`.
fn phase(
    pod: &Pod,
    init: &[ApiContainerStatus],
    app: &[ApiContainerStatus],
    pod_is_terminal: bool,
) -> &'static str {
    let Some(spec) = pod.spec.as_ref() else {
        return "Pending";
    };
    let mut pending_init = 0;
    let mut failed_init = 0;
    let (mut unknown, mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    let find = |statuses: &[ApiContainerStatus], name: &str| {
        statuses.iter().find(|s| s.name == name).cloned()
    };
    let any_app_started = app.iter().any(|s| {
        s.state
            .as_ref()
            .is_some_and(|st| st.running.is_some() || st.terminated.is_some())
            || s.last_state
                .as_ref()
                .is_some_and(|st| st.terminated.is_some())
    });
    for container in spec.init_containers.iter().flatten() {
        let Some(status) = find(init, &container.name) else {
            pending_init += 1;
            if is_sidecar(container) {
                unknown += 1;
            }
            continue;
        };
        let state = status.state.clone().unwrap_or_default();
        let last_exit = status
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .map(|t| t.exit_code);
        if is_sidecar(container) {
            if state.running.is_some() {
                if status.started != Some(true) {
                    pending_init += 1;
                }
                running += 1;
            } else if state.terminated.is_none() && last_exit.is_none() {
                pending_init += 1;
                waiting += 1;
            }
            continue;
        }
        if state.running.is_some() {
            pending_init += 1;
        } else if let Some(terminated) = &state.terminated {
            if terminated.exit_code != 0 {
                failed_init += 1;
            }
        } else if let Some(code) = last_exit {
            if code != 0 {
                failed_init += 1;
            }
        } else {
            pending_init += 1;
        }
    }
    for container in &spec.containers {
        let Some(status) = find(app, &container.name) else {
            unknown += 1;
            continue;
        };
        let state = status.state.clone().unwrap_or_default();
        if state.running.is_some() {
            running += 1;
        } else if let Some(terminated) = &state.terminated {
            stopped += 1;
            if terminated.exit_code == 0 {
                succeeded += 1;
            }
        } else if status
            .last_state
            .as_ref()
            .is_some_and(|s| s.terminated.is_some())
        {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    let policy = restart_policy(pod);
    if failed_init > 0 && policy == "Never" {
        return "Failed";
    }
    if (pending_init > 0 && !any_app_started) || waiting > 0 {
        return "Pending";
    }
    if running > 0 && unknown == 0 {
        return "Running";
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        let is_static = pod.metadata.annotations.as_ref().is_some_and(|a| {
            a.get(crate::static_pods::CONFIG_SOURCE_ANNOTATION)
                .is_some_and(|s| s != "api")
        });
        if pod_is_terminal && !is_static {
            return if stopped == succeeded {
                "Succeeded"
            } else {
                "Failed"
            };
        }
        if policy == "Always" {
            return "Running";
        }
        if stopped == succeeded {
            return "Succeeded";
        }
        if policy == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

fn condition(
    previous: &[PodCondition],
    type_: &str,
    status: bool,
    reason: Option<&str>,
    message: Option<String>,
    now: Timestamp,
) -> PodCondition {
    let status = if status { "True" } else { "False" };
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .or_else(|| Some(time(now)));
    PodCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.map(str::to_owned),
        message,
        last_transition_time,
        last_probe_time: None,
        observed_generation: None,
    }
}

fn names(list: &[&str]) -> String {
    format!("[{}]", list.join(" "))
}

/// The pod's new status. See the [module documentation](self).
pub fn generate(inputs: &StatusInputs<'_>) -> PodStatus {
    let pod = inputs.pod;
    let old = pod.status.clone().unwrap_or_default();
    let empty = Vec::new();
    let spec_containers = pod.spec.as_ref().map_or(&empty, |s| &s.containers);
    let spec_init = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .unwrap_or(&empty);
    let has_init = !spec_init.is_empty();
    let app = container_statuses(
        inputs,
        spec_containers,
        old.container_statuses.as_deref().unwrap_or_default(),
        has_init,
        false,
    );
    let init = container_statuses(
        inputs,
        spec_init,
        old.init_container_statuses.as_deref().unwrap_or_default(),
        has_init,
        true,
    );
    let mut phase = phase(pod, &init, &app, inputs.pod_is_terminal).to_owned();
    let old_phase = old.phase.as_deref().unwrap_or("");
    if matches!(old_phase, "Succeeded" | "Failed") {
        // Pods never leave a terminal phase.
        phase = old_phase.to_owned();
    }
    let (reason, message) = if phase == old_phase {
        (old.reason.clone(), old.message.clone())
    } else {
        (None, None)
    };

    // Conditions.
    let previous = old.conditions.clone().unwrap_or_default();
    let now = inputs.now;
    let mut conditions: Vec<PodCondition> = previous
        .iter()
        .filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str()))
        .cloned()
        .collect();
    let host_network = pod
        .spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false);
    let sandbox_ready = inputs.runtime.ready_sandbox().is_some()
        && (host_network || !inputs.runtime.pod_ips().is_empty());
    conditions.push(condition(
        &previous,
        "PodReadyToStartContainers",
        sandbox_ready,
        None,
        None,
        now,
    ));
    let succeeded = phase == "Succeeded";
    let incomplete: Vec<&str> = spec_init
        .iter()
        .filter(|c| {
            let status = init.iter().find(|s| s.name == c.name);
            let done = status.is_some_and(|s| {
                if is_sidecar(c) {
                    s.state.as_ref().is_some_and(|st| st.running.is_some())
                        && s.started == Some(true)
                } else {
                    s.state
                        .as_ref()
                        .and_then(|st| st.terminated.as_ref())
                        .is_some_and(|t| t.exit_code == 0)
                }
            });
            !done
        })
        .map(|c| c.name.as_str())
        .collect();
    let initialized = incomplete.is_empty()
        || (phase == "Running"
            && app
                .iter()
                .any(|s| s.state.as_ref().is_some_and(|st| st.running.is_some())));
    conditions.push(if succeeded && incomplete.is_empty() {
        condition(
            &previous,
            "Initialized",
            true,
            Some("PodCompleted"),
            None,
            now,
        )
    } else if initialized {
        condition(&previous, "Initialized", true, None, None, now)
    } else {
        condition(
            &previous,
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: {}",
                names(&incomplete)
            )),
            now,
        )
    });
    let unready: Vec<&str> = app
        .iter()
        .filter(|s| !s.ready)
        .map(|s| s.name.as_str())
        .chain(
            spec_init
                .iter()
                .filter(|c| is_sidecar(c))
                .filter(|c| !init.iter().any(|s| s.name == c.name && s.ready))
                .map(|c| c.name.as_str()),
        )
        .collect();
    let containers_ready = unready.is_empty() && !succeeded;
    let (cr_reason, cr_message) = if succeeded {
        (Some("PodCompleted"), None)
    } else if containers_ready {
        (None, None)
    } else {
        (
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: {}",
                names(&unready)
            )),
        )
    };
    let gate_problem = pod
        .spec
        .as_ref()
        .and_then(|s| s.readiness_gates.as_ref())
        .into_iter()
        .flatten()
        .find_map(
            |gate| match previous.iter().find(|c| c.type_ == gate.condition_type) {
                None => Some(format!(
                    "corresponding condition of pod readiness gate \"{}\" does not exist.",
                    gate.condition_type
                )),
                Some(c) if c.status != "True" => Some(format!(
                    "the status of pod readiness gate \"{}\" is not \"True\", but {}",
                    gate.condition_type, c.status
                )),
                Some(_) => None,
            },
        );
    conditions.push(match (&gate_problem, containers_ready) {
        (_, false) => condition(
            &previous,
            "Ready",
            false,
            cr_reason,
            cr_message.clone(),
            now,
        ),
        (Some(problem), true) => condition(
            &previous,
            "Ready",
            false,
            Some("ReadinessGatesNotReady"),
            Some(problem.clone()),
            now,
        ),
        (None, true) => condition(&previous, "Ready", true, None, None, now),
    });
    conditions.push(condition(
        &previous,
        "ContainersReady",
        containers_ready,
        cr_reason,
        cr_message,
        now,
    ));
    conditions.push(condition(&previous, "PodScheduled", true, None, None, now));

    let pod_ips: Vec<String> = if host_network {
        vec![inputs.host_ip.to_owned()]
    } else {
        inputs.runtime.pod_ips()
    };
    let pod_ips = if pod_ips.is_empty() {
        // The sandbox is gone (a finished pod): keep the addresses it had.
        old.pod_ips
            .as_ref()
            .map(|ips| ips.iter().map(|ip| ip.ip.clone()).collect())
            .unwrap_or_default()
    } else {
        pod_ips
    };
    PodStatus {
        phase: Some(phase),
        reason,
        message,
        conditions: Some(conditions),
        host_ip: Some(inputs.host_ip.to_owned()),
        host_ips: Some(vec![HostIP {
            ip: inputs.host_ip.to_owned(),
        }]),
        pod_ip: pod_ips.first().cloned(),
        pod_ips: (!pod_ips.is_empty())
            .then(|| pod_ips.iter().map(|ip| PodIP { ip: ip.clone() }).collect()),
        start_time: old.start_time.clone().or_else(|| Some(time(now))),
        qos_class: Some(
            old.qos_class
                .clone()
                .unwrap_or_else(|| qos::pod_qos_class(pod).as_str().to_owned()),
        ),
        container_statuses: Some(app),
        init_container_statuses: has_init.then_some(init),
        nominated_node_name: old.nominated_node_name.clone(),
        ephemeral_container_statuses: old.ephemeral_container_statuses.clone(),
        resize: old.resize.clone(),
        resource_claim_statuses: old.resource_claim_statuses.clone(),
        observed_generation: old.observed_generation,
    }
}

/// The status of a pod the node refused to run: `Failed` with the admission's reason.
pub fn rejected(pod: &Pod, reason: &str, message: &str, now: Timestamp) -> PodStatus {
    let old = pod.status.clone().unwrap_or_default();
    PodStatus {
        phase: Some("Failed".to_owned()),
        reason: Some(reason.to_owned()),
        message: Some(format!("Pod was rejected: {message}")),
        conditions: old.conditions.clone(),
        start_time: old.start_time.clone().or_else(|| Some(time(now))),
        qos_class: Some(qos::pod_qos_class(pod).as_str().to_owned()),
        ..PodStatus::default()
    }
}

#[cfg(test)]
mod tests;
