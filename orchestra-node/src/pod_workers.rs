//! Pod workers: the sync of one pod, and the dispatcher that runs syncs.
//!
//! Kubernetes runs a goroutine per pod; here a pod costs nothing while idle. Its uid sits in
//! the agent's work queue — added by the informer, by a runtime container event, or by a
//! timer (the next probe, the end of a crash back-off, the periodic resync) — and the
//! dispatcher runs one sync task per uid taken from the queue. The queue hands a uid to one
//! sync at a time, so syncs of one pod never overlap, while different pods sync in
//! parallel.
//!
//! A sync is level-triggered: it reads the pod and what the runtime holds, and converges.
//!
//! - A pod that left its source (deleted from the API, manifest removed) is stopped and its
//!   sandboxes and containers removed; the agent forgets it.
//! - A pod in a terminal phase keeps nothing running; if it is being deleted, it is deleted.
//! - A new pod is admitted (or failed with `OutOfcpu`, `OutOfpods`, …).
//! - A pod being deleted gets its containers stopped with its grace period, its sandbox
//!   stopped, a final status with a terminal phase, then the final delete.
//! - Otherwise the pod runs: volumes are published, due probes run, the runtime manager's
//!   actions are carried out, the status is written if it changed, old containers are
//!   collected, and the next sync is scheduled.

use std::sync::Arc;
use std::time::Duration;

use orchestra_api::k8s_openapi::api::core::v1::Pod;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::clock;
use crate::cri::{ContainerState, PodSandboxFilter, PodSandboxState};
use crate::error::NodeError;
use crate::kubelet::Kubelet;
use crate::pod_manager::{Admission, PodRecord, PodWork};
use crate::pod_status::{self, CRASH_LOOP_BACK_OFF, StatusInputs};
use crate::probe::{ProbeResult, ProbeTarget};
use crate::runtime_manager::{self, grace_period, pod_display};
use crate::runtime_pod::RuntimePod;
use crate::{status_manager, volume_manager};

/// Runs a sync task for every uid the queue hands out, until the queue shuts down. Sync
/// tasks still running when this future is dropped are aborted.
pub async fn run_dispatcher(kubelet: Arc<Kubelet>) {
    let mut syncs = JoinSet::new();
    loop {
        tokio::select! {
            uid = kubelet.queue.get() => {
                let Some(uid) = uid else { break };
                let kubelet = Arc::clone(&kubelet);
                syncs.spawn(async move {
                    let outcome = sync_pod(&kubelet, &uid).await;
                    match outcome {
                        Ok(next) => {
                            kubelet.queue.forget(&uid);
                            kubelet.queue.done(&uid);
                            if let Some(after) = next {
                                kubelet.queue.add_after(uid, after);
                            }
                        }
                        Err(error) => {
                            tracing::warn!(node = %kubelet.config.name, pod = %uid, %error, "pod sync failed; retrying");
                            kubelet.queue.done(&uid);
                            kubelet.queue.add_rate_limited(uid);
                        }
                    }
                });
            }
            Some(_) = syncs.join_next(), if !syncs.is_empty() => {}
        }
    }
    while syncs.join_next().await.is_some() {}
}

/// Syncs one pod; answers when to sync it again (besides events).
pub async fn sync_pod(kubelet: &Arc<Kubelet>, uid: &str) -> Result<Option<Duration>, NodeError> {
    let Some(record) = kubelet.pods.get(uid) else {
        remove_orphan(kubelet, uid).await?;
        return Ok(None);
    };
    let mut work = kubelet.pods.take_work(uid);
    let result = sync_record(kubelet, uid, &record, &mut work).await;
    kubelet.pods.put_work(uid, work);
    result
}

/// Stops and removes what the runtime holds for a pod the agent does not know.
async fn remove_orphan(kubelet: &Kubelet, uid: &str) -> Result<(), NodeError> {
    let sandboxes = kubelet
        .runtime
        .list_pod_sandbox(&PodSandboxFilter::for_pod(uid))
        .await?;
    for sandbox in sandboxes {
        tracing::info!(node = %kubelet.config.name, pod = %uid, "removing the sandbox of an unknown pod");
        kubelet.runtime.stop_pod_sandbox(&sandbox.id).await?;
        kubelet.runtime.remove_pod_sandbox(&sandbox.id).await?;
    }
    Ok(())
}

fn is_terminal(phase: Option<&str>) -> bool {
    matches!(phase, Some("Succeeded" | "Failed"))
}

/// The pod the status is computed for, and the API object it is written to: the pod
/// itself, or for a static pod its spec with the mirror pod's status, written to the mirror.
fn status_view(record: &PodRecord, mirror: Option<&Arc<Pod>>) -> (Arc<Pod>, Option<Arc<Pod>>) {
    if !record.is_static {
        return (Arc::clone(&record.pod), Some(Arc::clone(&record.pod)));
    }
    let mut view = (*record.pod).clone();
    view.status = mirror.and_then(|m| m.status.clone());
    (Arc::new(view), mirror.cloned())
}

async fn sync_record(
    kubelet: &Arc<Kubelet>,
    uid: &str,
    record: &PodRecord,
    work: &mut PodWork,
) -> Result<Option<Duration>, NodeError> {
    let runtime_pod = RuntimePod::fetch(&kubelet.runtime, uid).await?;
    if record.removed {
        remove_pod(kubelet, uid, record, &runtime_pod, work).await?;
        return Ok(None);
    }
    let pod = &record.pod;
    // A static pod runs whether or not the API can be reached (it may be the API server
    // itself); only its mirror waits for the API.
    let mut mirror_failed = false;
    let mirror = if record.is_static {
        match status_manager::ensure_mirror_pod(kubelet, record).await {
            Ok(mirror) => mirror,
            Err(error) => {
                tracing::warn!(node = %kubelet.config.name, pod = %pod_display(&record.pod), %error, "creating the mirror pod failed");
                mirror_failed = true;
                None
            }
        }
    } else {
        None
    };
    let (view, target) = status_view(record, mirror.as_ref());
    let api_phase = view.status.as_ref().and_then(|s| s.phase.clone());

    if !record.is_static && is_terminal(api_phase.as_deref()) {
        kubelet.pods.mark_finished(uid);
        if runtime_pod.has_running() {
            stop_everything(kubelet, pod, &runtime_pod, grace_period(pod)).await?;
        }
        volume_manager::unpublish_volumes(kubelet, work).await;
        if pod.metadata.deletion_timestamp.is_some() {
            status_manager::delete_pod(kubelet, pod).await?;
        }
        return Ok(None);
    }

    match &record.admission {
        Admission::Admitted => {}
        Admission::Pending
            if !runtime_pod.is_empty() || api_phase.as_deref() == Some("Running") =>
        {
            // It already runs here (the agent restarted): it was admitted before.
            kubelet.pods.mark_admitted(uid);
        }
        Admission::Pending | Admission::Rejected(_) => {
            let (allocatable, labels) = kubelet.allocatable_and_labels();
            if let Admission::Rejected(rejection) = kubelet.pods.admit(uid, &allocatable, &labels) {
                tracing::info!(node = %kubelet.config.name, pod = %pod_display(pod), reason = %rejection.reason, "pod rejected");
                let status = pod_status::rejected(
                    &view,
                    &rejection.reason,
                    &rejection.message,
                    clock::now(),
                );
                if let Some(target) = &target
                    && status_manager::write_status(kubelet, target, &status)
                        .await?
                        .is_some()
                {
                    kubelet.event_about_pod(
                        pod,
                        true,
                        &rejection.reason,
                        rejection.message.clone(),
                    );
                }
                kubelet.pods.mark_finished(uid);
                return Ok(None);
            }
        }
    }

    if pod.metadata.deletion_timestamp.is_some() && !record.is_static {
        terminate(kubelet, pod, &view, target.as_ref(), &runtime_pod, work).await?;
        return Ok(None);
    }
    let next = run(kubelet, pod, &view, target.as_ref(), runtime_pod, work).await?;
    Ok(if mirror_failed {
        earliest(next, Some(Duration::from_secs(2)))
    } else {
        next
    })
}

/// Stops every live container of the pod with `grace`, then its sandboxes.
async fn stop_everything(
    kubelet: &Kubelet,
    pod: &Pod,
    runtime_pod: &RuntimePod,
    grace: Duration,
) -> Result<(), NodeError> {
    let live: Vec<runtime_manager::Kill> = runtime_pod
        .live()
        .map(|c| runtime_manager::Kill {
            id: c.id.clone(),
            name: c.metadata.name.clone(),
            reason: String::new(),
            grace: None,
        })
        .collect();
    runtime_manager::kill_containers(kubelet, pod, &live, grace).await;
    for sandbox in &runtime_pod.sandboxes {
        if sandbox.state == PodSandboxState::Ready {
            kubelet.runtime.stop_pod_sandbox(&sandbox.id).await?;
        }
    }
    Ok(())
}

/// A pod that left its source: stop it, remove its runtime objects, forget it.
async fn remove_pod(
    kubelet: &Kubelet,
    uid: &str,
    record: &PodRecord,
    runtime_pod: &RuntimePod,
    work: &mut PodWork,
) -> Result<(), NodeError> {
    stop_everything(kubelet, &record.pod, runtime_pod, grace_period(&record.pod)).await?;
    for sandbox in &runtime_pod.sandboxes {
        kubelet.runtime.remove_pod_sandbox(&sandbox.id).await?;
    }
    for container in &runtime_pod.containers {
        kubelet.runtime.remove_container(&container.id).await?;
    }
    volume_manager::unpublish_volumes(kubelet, work).await;
    if record.is_static {
        status_manager::delete_mirror_pod(kubelet, record).await?;
    }
    kubelet.lock_backoff().forget_prefix(&format!("{uid}/"));
    kubelet.pods.forget(uid);
    Ok(())
}

/// Graceful deletion: stop with the grace period, report the terminal status, delete.
async fn terminate(
    kubelet: &Kubelet,
    pod: &Pod,
    view: &Arc<Pod>,
    target: Option<&Arc<Pod>>,
    runtime_pod: &RuntimePod,
    work: &mut PodWork,
) -> Result<(), NodeError> {
    stop_everything(kubelet, pod, runtime_pod, grace_period(pod)).await?;
    volume_manager::unpublish_volumes(kubelet, work).await;
    let runtime_pod = RuntimePod::fetch(
        &kubelet.runtime,
        pod.metadata.uid.as_deref().unwrap_or_default(),
    )
    .await?;
    work.waiting.clear();
    let status = pod_status::generate(&StatusInputs {
        pod: view,
        runtime: &runtime_pod,
        probes: &work.probes,
        waiting: &work.waiting,
        host_ip: &kubelet.host_ip,
        runtime_name: &kubelet.runtime_name,
        pod_is_terminal: true,
        now: clock::now(),
    });
    if let Some(target) = target {
        status_manager::write_status(kubelet, target, &status).await?;
    }
    if !runtime_pod.has_running() {
        status_manager::delete_pod(kubelet, pod).await?;
    }
    Ok(())
}

/// Runs the due probes of the pod's running containers.
async fn run_probes(kubelet: &Kubelet, pod: &Pod, runtime_pod: &RuntimePod, work: &mut PodWork) {
    let Some(spec) = pod.spec.as_ref() else {
        return;
    };
    let pod_ips = runtime_pod.pod_ips();
    let probed = spec.containers.iter().chain(
        spec.init_containers
            .iter()
            .flatten()
            .filter(|c| c.restart_policy.as_deref() == Some("Always")),
    );
    let mut running = Vec::new();
    for container in probed {
        let Some(latest) = runtime_pod.latest(&container.name) else {
            continue;
        };
        let Some(target) = pod_status::running_container(container, latest) else {
            continue;
        };
        for probe_type in work.probes.due(&target, Instant::now()) {
            let Some(probe) = probe_type.of(container) else {
                continue;
            };
            let result = kubelet
                .prober
                .probe(&ProbeTarget {
                    probe_type,
                    probe,
                    container,
                    container_id: target.id,
                    pod_ip: pod_ips.first().map(String::as_str),
                })
                .await;
            if let ProbeResult::Failure(message) = &result {
                kubelet.event_about_container(
                    pod,
                    &container.name,
                    true,
                    "Unhealthy",
                    format!("{} probe failed: {message}", probe_type.as_str()),
                );
            }
            work.probes
                .record(&target, probe_type, &result, Instant::now());
        }
        running.push(target);
    }
    work.probes.retain_running(&running);
}

fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A pod that should run.
async fn run(
    kubelet: &Arc<Kubelet>,
    pod: &Pod,
    view: &Arc<Pod>,
    target: Option<&Arc<Pod>>,
    mut runtime_pod: RuntimePod,
    work: &mut PodWork,
) -> Result<Option<Duration>, NodeError> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let mut retry: Option<Duration> = None;
    let mut volumes_ready = true;
    if let Err(message) = volume_manager::publish_volumes(kubelet, pod, work).await {
        kubelet.event_about_pod(pod, true, "FailedMount", message);
        volumes_ready = false;
        retry = Some(Duration::from_secs(2));
    }
    if volumes_ready {
        run_probes(kubelet, pod, &runtime_pod, work).await;
        let actions = runtime_manager::compute_actions(pod, &runtime_pod, &work.probes);
        if actions != runtime_manager::PodActions::default() {
            retry = earliest(
                retry,
                execute(kubelet, pod, &runtime_pod, &actions, work).await?,
            );
            runtime_pod = RuntimePod::fetch(&kubelet.runtime, &uid).await?;
        }
    }
    // Start failures of containers that run now are history.
    work.waiting.retain(|name, _| {
        runtime_pod
            .latest(name)
            .is_none_or(|c| c.state != ContainerState::Running)
    });
    let status = pod_status::generate(&StatusInputs {
        pod: view,
        runtime: &runtime_pod,
        probes: &work.probes,
        waiting: &work.waiting,
        host_ip: &kubelet.host_ip,
        runtime_name: &kubelet.runtime_name,
        pod_is_terminal: false,
        now: clock::now(),
    });
    let terminal = is_terminal(status.phase.as_deref());
    if let Some(target) = target {
        status_manager::write_status(kubelet, target, &status).await?;
    }
    runtime_manager::collect_garbage(kubelet, &runtime_pod).await;
    if terminal {
        // Nothing restarts any more: stop what is left (the sandbox) and stop syncing.
        kubelet.pods.mark_finished(&uid);
        if runtime_pod.has_running() {
            stop_everything(kubelet, pod, &runtime_pod, grace_period(pod)).await?;
        }
        return Ok(None);
    }
    let running: Vec<_> = pod
        .spec
        .iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .filter_map(|c| {
            runtime_pod
                .latest(&c.name)
                .and_then(|latest| pod_status::running_container(c, latest))
        })
        .collect();
    let now = Instant::now();
    let probe_due = work.probes.next_due(&running).map(|at| {
        at.saturating_duration_since(now)
            .max(Duration::from_millis(1))
    });
    Ok(earliest(
        earliest(retry, probe_due),
        Some(kubelet.config.sync_frequency),
    ))
}

/// Carries out the runtime manager's actions; answers when to retry what could not start.
async fn execute(
    kubelet: &Arc<Kubelet>,
    pod: &Pod,
    runtime_pod: &RuntimePod,
    actions: &runtime_manager::PodActions,
    work: &mut PodWork,
) -> Result<Option<Duration>, NodeError> {
    let grace = grace_period(pod);
    if actions.kill_pod {
        stop_everything(kubelet, pod, runtime_pod, grace).await?;
    }
    if !actions.kill.is_empty() {
        runtime_manager::kill_containers(kubelet, pod, &actions.kill, grace).await;
    }
    let attempt = runtime_pod
        .latest_sandbox()
        .map_or(0, |s| s.metadata.attempt);
    let sandbox_config =
        runtime_manager::sandbox_config(kubelet, pod, actions.create_sandbox.unwrap_or(attempt));
    let mut sandbox_id = runtime_pod.ready_sandbox().map(|s| s.id.clone());
    let mut pod_ips = runtime_pod.pod_ips();
    if actions.create_sandbox.is_some() {
        crate::agent::push_pod_cidr(kubelet).await;
        match kubelet.runtime.run_pod_sandbox(&sandbox_config).await {
            Ok(id) => {
                pod_ips = kubelet
                    .runtime
                    .pod_sandbox_status(&id)
                    .await?
                    .network
                    .map(|n| std::iter::once(n.ip).chain(n.additional_ips).collect())
                    .unwrap_or_default();
                sandbox_id = Some(id);
            }
            Err(error) => {
                kubelet.event_about_pod(
                    pod,
                    true,
                    "FailedCreatePodSandBox",
                    format!("Failed to create pod sandbox: {error}"),
                );
                return Ok(Some(Duration::from_secs(2)));
            }
        }
    }
    let Some(sandbox_id) = sandbox_id else {
        return Ok(None);
    };
    let spec = pod.spec.clone().unwrap_or_default();
    let mut to_start: Vec<(&orchestra_api::k8s_openapi::api::core::v1::Container, bool)> =
        Vec::new();
    if let Some(index) = actions.next_init
        && let Some(container) = spec.init_containers.as_ref().and_then(|l| l.get(index))
    {
        to_start.push((container, true));
    }
    for index in &actions.start {
        if let Some(container) = spec.containers.get(*index) {
            to_start.push((container, false));
        }
    }
    let mut retry = None;
    for (container, init) in to_start {
        let latest = runtime_pod.latest(&container.name);
        match runtime_manager::start_container(
            kubelet,
            pod,
            &sandbox_id,
            &sandbox_config,
            container,
            init,
            latest,
            &pod_ips,
        )
        .await
        {
            Ok(()) => {
                work.waiting.remove(&container.name);
            }
            Err(failure) => {
                if failure.waiting.reason == CRASH_LOOP_BACK_OFF {
                    kubelet.event_about_container(
                        pod,
                        &container.name,
                        true,
                        "BackOff",
                        format!(
                            "Back-off restarting failed container {} in pod {}",
                            container.name,
                            pod_display(pod)
                        ),
                    );
                } else {
                    kubelet.event_about_container(
                        pod,
                        &container.name,
                        true,
                        "Failed",
                        format!("Error: {}", failure.waiting.reason),
                    );
                }
                retry = earliest(retry, Some(failure.retry_after));
                work.waiting.insert(container.name.clone(), failure.waiting);
            }
        }
    }
    Ok(retry)
}
