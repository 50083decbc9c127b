//! The probe manager: when each probe of a pod's containers runs, and what its results mean.
//!
//! Kubernetes runs a worker per probe; here one pod's probes are plain state that the pod's
//! sync advances, so an idle pod costs no task. For each running container and probe type:
//!
//! - the first run is `initialDelaySeconds` after the container started, then one every
//!   `periodSeconds`;
//! - the result only flips after `failureThreshold` consecutive failures or
//!   `successThreshold` consecutive successes;
//! - a readiness result starts as failure (not ready until a probe passes), a liveness
//!   result as success, a startup result as unknown;
//! - liveness and readiness wait until the startup probe (if any) has succeeded, after which
//!   the startup probe stops;
//! - a new container (another id) starts from scratch; a container that is not running is
//!   not probed and not ready.

use std::collections::HashMap;
use std::time::Duration;

use orchestra_api::k8s_openapi::api::core::v1::{Container, Probe};
use tokio::time::Instant;

use crate::probe::{ProbeResult, ProbeType};

/// What a probe's run of results currently says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeVerdict {
    /// Not decided yet (startup probes before their first success).
    Unknown,
    /// Passing.
    Success,
    /// Failing.
    Failure,
}

#[derive(Debug, Clone)]
struct ProbeState {
    container_id: String,
    verdict: ProbeVerdict,
    successes: i32,
    failures: i32,
    next_due: Instant,
    message: String,
}

/// The probe state of one pod's containers.
#[derive(Debug, Default)]
pub struct PodProbes {
    states: HashMap<(String, ProbeType), ProbeState>,
}

/// A running container the probes look at.
#[derive(Debug, Clone, Copy)]
pub struct RunningContainer<'a> {
    /// Its spec.
    pub spec: &'a Container,
    /// The runtime's id.
    pub id: &'a str,
    /// When it started.
    pub started: Instant,
}

fn initial_verdict(probe_type: ProbeType) -> ProbeVerdict {
    match probe_type {
        ProbeType::Readiness => ProbeVerdict::Failure,
        ProbeType::Liveness => ProbeVerdict::Success,
        ProbeType::Startup => ProbeVerdict::Unknown,
    }
}

fn seconds(value: Option<i32>, default: i32, min: i32) -> Duration {
    Duration::from_secs(value.unwrap_or(default).max(min).unsigned_abs().into())
}

fn period(probe: &Probe) -> Duration {
    seconds(probe.period_seconds, 10, 1)
}

impl PodProbes {
    fn state(
        &mut self,
        container: &RunningContainer<'_>,
        probe_type: ProbeType,
        probe: &Probe,
    ) -> &mut ProbeState {
        let key = (container.spec.name.clone(), probe_type);
        let fresh = || ProbeState {
            container_id: container.id.to_owned(),
            verdict: initial_verdict(probe_type),
            successes: 0,
            failures: 0,
            next_due: container.started + seconds(probe.initial_delay_seconds, 0, 0),
            message: String::new(),
        };
        let state = self.states.entry(key).or_insert_with(fresh);
        if state.container_id != container.id {
            *state = fresh();
        }
        state
    }

    /// Whether the startup probe of this container (if it has one) has succeeded.
    pub fn started(&self, container: &RunningContainer<'_>) -> bool {
        container.spec.startup_probe.is_none()
            || self
                .states
                .get(&(container.spec.name.clone(), ProbeType::Startup))
                .is_some_and(|s| {
                    s.container_id == container.id && s.verdict == ProbeVerdict::Success
                })
    }

    /// Whether the container passes its readiness probe (true without one, once started).
    pub fn ready(&self, container: &RunningContainer<'_>) -> bool {
        if !self.started(container) {
            return false;
        }
        container.spec.readiness_probe.is_none()
            || self
                .states
                .get(&(container.spec.name.clone(), ProbeType::Readiness))
                .is_some_and(|s| {
                    s.container_id == container.id && s.verdict == ProbeVerdict::Success
                })
    }

    /// The probe types of this container that are due at `now`, in the order they run.
    pub fn due(&mut self, container: &RunningContainer<'_>, now: Instant) -> Vec<ProbeType> {
        let started = self.started(container);
        let mut due = Vec::new();
        for probe_type in [
            ProbeType::Startup,
            ProbeType::Liveness,
            ProbeType::Readiness,
        ] {
            let Some(probe) = probe_type.of(container.spec) else {
                continue;
            };
            let active = match probe_type {
                ProbeType::Startup => !started,
                _ => started,
            };
            if !active {
                continue;
            }
            let state = self.state(container, probe_type, probe);
            if state.next_due <= now
                && !(probe_type != ProbeType::Readiness && state.verdict == ProbeVerdict::Failure)
            {
                due.push(probe_type);
            }
        }
        due
    }

    /// Records the result of a run; answers the verdict after it.
    pub fn record(
        &mut self,
        container: &RunningContainer<'_>,
        probe_type: ProbeType,
        result: &ProbeResult,
        now: Instant,
    ) -> ProbeVerdict {
        let Some(probe) = probe_type.of(container.spec) else {
            return ProbeVerdict::Success;
        };
        let failure_threshold = probe.failure_threshold.unwrap_or(3).max(1);
        let success_threshold = probe.success_threshold.unwrap_or(1).max(1);
        let next = now + period(probe);
        let state = self.state(container, probe_type, probe);
        state.next_due = next;
        match result {
            ProbeResult::Success => {
                state.failures = 0;
                state.successes = state.successes.saturating_add(1);
                if state.successes >= success_threshold {
                    state.verdict = ProbeVerdict::Success;
                }
                state.message.clear();
            }
            ProbeResult::Failure(message) => {
                state.successes = 0;
                state.failures = state.failures.saturating_add(1);
                if state.failures >= failure_threshold {
                    state.verdict = ProbeVerdict::Failure;
                }
                state.message.clone_from(message);
            }
        }
        state.verdict
    }

    /// Why the container's probe of this type last failed, if its verdict is failure.
    pub fn failure(&self, container_name: &str, probe_type: ProbeType) -> Option<&str> {
        self.states
            .get(&(container_name.to_owned(), probe_type))
            .filter(|s| s.verdict == ProbeVerdict::Failure)
            .map(|s| s.message.as_str())
    }

    /// Whether liveness or startup has failed for this container: it must be restarted.
    pub fn must_restart(&self, container: &RunningContainer<'_>) -> Option<(ProbeType, String)> {
        for probe_type in [ProbeType::Liveness, ProbeType::Startup] {
            if let Some(state) = self.states.get(&(container.spec.name.clone(), probe_type))
                && state.container_id == container.id
                && state.verdict == ProbeVerdict::Failure
            {
                return Some((probe_type, state.message.clone()));
            }
        }
        None
    }

    /// The earliest instant a probe of these containers is due.
    pub fn next_due(&self, running: &[RunningContainer<'_>]) -> Option<Instant> {
        running
            .iter()
            .flat_map(|container| {
                let started = self.started(container);
                [
                    ProbeType::Startup,
                    ProbeType::Liveness,
                    ProbeType::Readiness,
                ]
                .into_iter()
                .filter_map(move |probe_type| {
                    let probe = probe_type.of(container.spec)?;
                    let active = match probe_type {
                        ProbeType::Startup => !started,
                        _ => started,
                    };
                    if !active {
                        return None;
                    }
                    Some(
                        self.states
                            .get(&(container.spec.name.clone(), probe_type))
                            .filter(|s| s.container_id == container.id)
                            .map(|s| s.next_due)
                            .unwrap_or_else(|| {
                                container.started + seconds(probe.initial_delay_seconds, 0, 0)
                            }),
                    )
                })
            })
            .min()
    }

    /// Forgets the state of containers that no longer run.
    pub fn retain_running(&mut self, running: &[RunningContainer<'_>]) {
        self.states.retain(|(name, _), state| {
            running
                .iter()
                .any(|c| &c.spec.name == name && c.id == state.container_id)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(
        readiness: Option<Probe>,
        liveness: Option<Probe>,
        startup: Option<Probe>,
    ) -> Container {
        Container {
            name: "app".into(),
            readiness_probe: readiness,
            liveness_probe: liveness,
            startup_probe: startup,
            ..Container::default()
        }
    }

    fn probe(initial_delay: i32, period: i32, failure_threshold: i32) -> Probe {
        Probe {
            initial_delay_seconds: Some(initial_delay),
            period_seconds: Some(period),
            failure_threshold: Some(failure_threshold),
            ..Probe::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn readiness_starts_failed_and_flips_after_the_thresholds() {
        let spec = container(Some(probe(5, 10, 2)), None, None);
        let now = Instant::now();
        let running = RunningContainer {
            spec: &spec,
            id: "c1",
            started: now,
        };
        let mut probes = PodProbes::default();
        assert!(!probes.ready(&running));
        assert!(probes.due(&running, now).is_empty(), "initial delay");
        assert_eq!(
            probes.next_due(&[running]),
            Some(now + Duration::from_secs(5))
        );
        let t = now + Duration::from_secs(5);
        assert_eq!(probes.due(&running, t), [ProbeType::Readiness]);
        probes.record(&running, ProbeType::Readiness, &ProbeResult::Success, t);
        assert!(probes.ready(&running));
        let fail = ProbeResult::Failure("nope".into());
        probes.record(
            &running,
            ProbeType::Readiness,
            &fail,
            t + Duration::from_secs(10),
        );
        assert!(probes.ready(&running), "one failure is below the threshold");
        probes.record(
            &running,
            ProbeType::Readiness,
            &fail,
            t + Duration::from_secs(20),
        );
        assert!(!probes.ready(&running));
        assert_eq!(probes.failure("app", ProbeType::Readiness), Some("nope"));
    }

    #[tokio::test(start_paused = true)]
    async fn liveness_waits_for_startup_and_failure_asks_for_a_restart() {
        let spec = container(None, Some(probe(0, 1, 1)), Some(probe(0, 1, 3)));
        let now = Instant::now();
        let running = RunningContainer {
            spec: &spec,
            id: "c1",
            started: now,
        };
        let mut probes = PodProbes::default();
        assert_eq!(probes.due(&running, now), [ProbeType::Startup]);
        assert!(!probes.ready(&running), "not started");
        probes.record(&running, ProbeType::Startup, &ProbeResult::Success, now);
        assert!(probes.started(&running));
        assert!(probes.ready(&running));
        let t = now + Duration::from_secs(1);
        assert_eq!(probes.due(&running, t), [ProbeType::Liveness]);
        probes.record(
            &running,
            ProbeType::Liveness,
            &ProbeResult::Failure("dead".into()),
            t,
        );
        assert_eq!(
            probes.must_restart(&running),
            Some((ProbeType::Liveness, "dead".to_owned()))
        );
        // The replacement container starts over.
        let replacement = RunningContainer {
            spec: &spec,
            id: "c2",
            started: t,
        };
        assert_eq!(probes.must_restart(&replacement), None);
        assert!(!probes.started(&replacement));
        assert_eq!(probes.due(&replacement, t), [ProbeType::Startup]);
    }
}
