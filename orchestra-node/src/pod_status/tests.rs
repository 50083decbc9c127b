//! Status generation against the cases of Kubernetes' kubelet tests (`TestPodPhaseWith…`)
//! and condition bookkeeping.

use std::collections::{BTreeMap, HashMap};

use orchestra_api::k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use orchestra_api::k8s_openapi::jiff::Timestamp;

use super::*;
use crate::cri::{
    ContainerMetadata, ContainerState, ContainerStatus, PodSandboxMetadata,
    PodSandboxNetworkStatus, PodSandboxState, PodSandboxStatus,
};
use crate::probe_manager::PodProbes;
use crate::runtime_pod::RuntimePod;

const NOW: i64 = 1_700_000_000;

fn now() -> Timestamp {
    Timestamp::from_second(NOW).unwrap()
}

fn pod(policy: &str, init: &[&str], containers: &[&str]) -> Pod {
    let init: Vec<serde_json::Value> = init
        .iter()
        .map(|n| serde_json::json!({"name": n, "image": "busybox"}))
        .collect();
    let containers: Vec<serde_json::Value> = containers
        .iter()
        .map(|n| serde_json::json!({"name": n, "image": "nginx"}))
        .collect();
    let mut spec = serde_json::json!({"restartPolicy": policy, "containers": containers});
    if !init.is_empty() {
        spec["initContainers"] = init.into();
    }
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p", "namespace": "default", "uid": "u"},
        "spec": spec
    }))
    .unwrap()
}

/// A runtime container: `state` is `running`, `created`, or an exit code.
fn container(name: &str, attempt: u32, state: &str, created: i64) -> ContainerStatus {
    let nanos = |s: i64| s * 1_000_000_000;
    let (state, exit_code, finished) = match state {
        "running" => (ContainerState::Running, 0, 0),
        "created" => (ContainerState::Created, 0, 0),
        code => (
            ContainerState::Exited,
            code.parse().unwrap(),
            nanos(created + 1),
        ),
    };
    ContainerStatus {
        id: format!("{name}-{attempt}"),
        metadata: ContainerMetadata {
            name: name.to_owned(),
            attempt,
        },
        state,
        created_at: nanos(created),
        started_at: if state == ContainerState::Created {
            0
        } else {
            nanos(created)
        },
        finished_at: finished,
        exit_code,
        reason: match (state, exit_code) {
            (ContainerState::Exited, 0) => "Completed".to_owned(),
            (ContainerState::Exited, _) => "Error".to_owned(),
            _ => String::new(),
        },
        ..ContainerStatus::default()
    }
}

fn runtime(ready: bool, mut containers: Vec<ContainerStatus>) -> RuntimePod {
    containers.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    RuntimePod {
        sandboxes: vec![PodSandboxStatus {
            id: "s".into(),
            metadata: PodSandboxMetadata::default(),
            state: if ready {
                PodSandboxState::Ready
            } else {
                PodSandboxState::NotReady
            },
            network: Some(PodSandboxNetworkStatus {
                ip: "10.0.0.5".into(),
                additional_ips: Vec::new(),
            }),
            ..PodSandboxStatus::default()
        }],
        containers,
        sandbox_of: HashMap::new(),
    }
}

fn generate_for(pod: &Pod, runtime: &RuntimePod, terminal: bool) -> PodStatus {
    let probes = PodProbes::default();
    let waiting = HashMap::new();
    generate(&StatusInputs {
        pod,
        runtime,
        probes: &probes,
        waiting: &waiting,
        host_ip: "172.16.0.2",
        runtime_name: "sim",
        pod_is_terminal: terminal,
        now: now(),
    })
}

fn phase_of(pod: &Pod, runtime: &RuntimePod) -> String {
    generate_for(pod, runtime, false).phase.unwrap()
}

#[test]
fn phase_with_restart_always() {
    let p = pod("Always", &[], &["a", "b"]);
    let cases = [
        (
            "all running",
            vec![
                container("a", 0, "running", 1),
                container("b", 0, "running", 1),
            ],
            "Running",
        ),
        (
            "all stopped",
            vec![container("a", 0, "0", 1), container("b", 0, "1", 1)],
            "Running",
        ),
        (
            "mixed",
            vec![container("a", 0, "running", 1), container("b", 0, "1", 1)],
            "Running",
        ),
        (
            "one not started",
            vec![container("a", 0, "running", 1)],
            "Pending",
        ),
        ("none started", vec![], "Pending"),
    ];
    for (case, containers, expected) in cases {
        assert_eq!(phase_of(&p, &runtime(true, containers)), expected, "{case}");
    }
}

#[test]
fn phase_with_restart_never_and_on_failure() {
    let never = pod("Never", &[], &["a", "b"]);
    let on_failure = pod("OnFailure", &[], &["a", "b"]);
    let succeeded = vec![container("a", 0, "0", 1), container("b", 0, "0", 1)];
    let one_failed = vec![container("a", 0, "0", 1), container("b", 0, "1", 1)];
    let one_running = vec![container("a", 0, "0", 1), container("b", 0, "running", 1)];
    assert_eq!(
        phase_of(&never, &runtime(true, succeeded.clone())),
        "Succeeded"
    );
    assert_eq!(
        phase_of(&never, &runtime(true, one_failed.clone())),
        "Failed"
    );
    assert_eq!(
        phase_of(&never, &runtime(true, one_running.clone())),
        "Running"
    );
    assert_eq!(
        phase_of(&on_failure, &runtime(true, succeeded)),
        "Succeeded"
    );
    assert_eq!(
        phase_of(&on_failure, &runtime(true, one_failed)),
        "Running",
        "restarting"
    );
    assert_eq!(
        phase_of(&on_failure, &runtime(true, one_running)),
        "Running"
    );
}

#[test]
fn phase_with_init_containers() {
    let always = pod("Always", &["init"], &["a"]);
    let never = pod("Never", &["init"], &["a"]);
    assert_eq!(
        phase_of(
            &always,
            &runtime(true, vec![container("init", 0, "running", 1)])
        ),
        "Pending"
    );
    assert_eq!(
        phase_of(&never, &runtime(true, vec![container("init", 0, "1", 1)])),
        "Failed",
        "a failed init container under Never fails the pod"
    );
    assert_eq!(
        phase_of(&always, &runtime(true, vec![container("init", 0, "1", 1)])),
        "Pending",
        "it is retried under Always"
    );
    assert_eq!(
        phase_of(
            &always,
            &runtime(
                true,
                vec![
                    container("init", 0, "0", 1),
                    container("a", 0, "running", 3)
                ]
            )
        ),
        "Running"
    );
}

#[test]
fn a_terminal_pod_ends_succeeded_or_failed_whatever_its_restart_policy() {
    let p = pod("Always", &[], &["a", "b"]);
    let stopped_ok = runtime(
        false,
        vec![container("a", 0, "0", 1), container("b", 0, "0", 1)],
    );
    let stopped_bad = runtime(
        false,
        vec![container("a", 0, "0", 1), container("b", 0, "137", 1)],
    );
    assert_eq!(
        generate_for(&p, &stopped_ok, true).phase.as_deref(),
        Some("Succeeded")
    );
    assert_eq!(
        generate_for(&p, &stopped_bad, true).phase.as_deref(),
        Some("Failed")
    );
}

#[test]
fn a_terminal_phase_never_changes_back() {
    let mut p = pod("Always", &[], &["a"]);
    p.status = Some(PodStatus {
        phase: Some("Failed".into()),
        reason: Some("OutOfcpu".into()),
        ..PodStatus::default()
    });
    let status = generate_for(
        &p,
        &runtime(true, vec![container("a", 0, "running", 1)]),
        false,
    );
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    assert_eq!(
        status.reason.as_deref(),
        Some("OutOfcpu"),
        "the reason stays with the phase"
    );
}

#[test]
fn container_statuses_report_state_last_state_and_restart_count() {
    let p = pod("Always", &[], &["a"]);
    let status = generate_for(
        &p,
        &runtime(
            true,
            vec![container("a", 0, "1", 1), container("a", 1, "running", 5)],
        ),
        false,
    );
    let a = &status.container_statuses.unwrap()[0];
    assert_eq!(a.restart_count, 1);
    assert_eq!(a.container_id.as_deref(), Some("sim://a-1"));
    let running = a.state.as_ref().unwrap().running.as_ref().unwrap();
    assert_eq!(
        running.started_at,
        Some(Time(Timestamp::from_second(5).unwrap()))
    );
    let last = a.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    assert!(a.ready, "no readiness probe: ready once running");
    assert_eq!(a.started, Some(true));
}

#[test]
fn waiting_reasons_replace_the_state_of_containers_that_will_restart() {
    let p = pod("Always", &[], &["a"]);
    let probes = PodProbes::default();
    let waiting = HashMap::from([(
        "a".to_owned(),
        WaitingReason {
            reason: CRASH_LOOP_BACK_OFF.to_owned(),
            message: "back-off 10s restarting failed container=a pod=p_default(u)".to_owned(),
        },
    )]);
    let rt = runtime(true, vec![container("a", 2, "1", 1)]);
    let status = generate(&StatusInputs {
        pod: &p,
        runtime: &rt,
        probes: &probes,
        waiting: &waiting,
        host_ip: "172.16.0.2",
        runtime_name: "sim",
        pod_is_terminal: false,
        now: now(),
    });
    let a = &status.container_statuses.unwrap()[0];
    let state = a.state.as_ref().unwrap().waiting.as_ref().unwrap();
    assert_eq!(state.reason.as_deref(), Some("CrashLoopBackOff"));
    assert_eq!(
        a.last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        1
    );
    assert_eq!(a.restart_count, 2);
    assert_eq!(status.phase.as_deref(), Some("Running"));
}

#[test]
fn containers_not_created_yet_wait_with_the_default_reason() {
    let plain = pod("Always", &[], &["a"]);
    let with_init = pod("Always", &["init"], &["a"]);
    let reason = |status: &PodStatus| {
        status.container_statuses.as_ref().unwrap()[0]
            .state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .clone()
            .unwrap()
    };
    assert_eq!(
        reason(&generate_for(&plain, &runtime(true, vec![]), false)),
        "ContainerCreating"
    );
    assert_eq!(
        reason(&generate_for(&with_init, &runtime(true, vec![]), false)),
        "PodInitializing"
    );
}

#[test]
fn conditions_keep_their_transition_time_while_their_status_holds() {
    let mut p = pod("Always", &[], &["a"]);
    let earlier = Time(Timestamp::from_second(NOW - 100).unwrap());
    p.status = Some(PodStatus {
        conditions: Some(vec![
            PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_transition_time: Some(earlier.clone()),
                ..PodCondition::default()
            },
            PodCondition {
                type_: "Initialized".into(),
                status: "False".into(),
                last_transition_time: Some(earlier.clone()),
                ..PodCondition::default()
            },
            PodCondition {
                type_: "DisruptionTarget".into(),
                status: "True".into(),
                reason: Some("EvictionByEvictionAPI".into()),
                ..PodCondition::default()
            },
        ]),
        ..PodStatus::default()
    });
    let status = generate_for(
        &p,
        &runtime(true, vec![container("a", 0, "running", 1)]),
        false,
    );
    let conditions: BTreeMap<String, PodCondition> = status
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| (c.type_.clone(), c))
        .collect();
    assert_eq!(conditions["Ready"].last_transition_time, Some(earlier));
    assert_eq!(
        conditions["Initialized"].last_transition_time,
        Some(Time(now())),
        "False to True is a transition"
    );
    assert_eq!(
        conditions["DisruptionTarget"].reason.as_deref(),
        Some("EvictionByEvictionAPI"),
        "conditions of other components are kept"
    );
    for kind in [
        "PodReadyToStartContainers",
        "ContainersReady",
        "PodScheduled",
    ] {
        assert_eq!(conditions[kind].status, "True", "{kind}");
    }
}

#[test]
fn readiness_gates_hold_ready_back_until_their_condition_is_true() {
    let mut p: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p", "namespace": "default", "uid": "u"},
        "spec": {
            "readinessGates": [{"conditionType": "example.com/lb-ready"}],
            "containers": [{"name": "a", "image": "nginx"}]
        }
    }))
    .unwrap();
    let rt = runtime(true, vec![container("a", 0, "running", 1)]);
    let ready = |status: &PodStatus| {
        status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == "Ready")
            .cloned()
            .unwrap()
    };
    let status = generate_for(&p, &rt, false);
    assert_eq!(ready(&status).status, "False");
    assert_eq!(
        ready(&status).reason.as_deref(),
        Some("ReadinessGatesNotReady")
    );
    p.status = Some(PodStatus {
        conditions: Some(vec![PodCondition {
            type_: "example.com/lb-ready".into(),
            status: "True".into(),
            ..PodCondition::default()
        }]),
        ..PodStatus::default()
    });
    assert_eq!(ready(&generate_for(&p, &rt, false)).status, "True");
}

#[test]
fn times_are_whole_seconds_so_an_unchanged_status_compares_equal() {
    let p = pod("Always", &[], &["a"]);
    let mut c = container("a", 0, "running", 1);
    c.started_at += 123_456_789;
    let status = generate_for(&p, &runtime(true, vec![c]), false);
    let round_trip: PodStatus =
        serde_json::from_value(serde_json::to_value(&status).unwrap()).unwrap();
    assert_eq!(round_trip, status);
}
