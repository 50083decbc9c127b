//! A Deployment's status and conditions, as `kubectl rollout status` reads them.
//!
//! The counts come from its ReplicaSets: `replicas` (pods they have), `updatedReplicas`
//! (pods of the new ReplicaSet), `readyReplicas`, `availableReplicas`, `unavailableReplicas`
//! (asked for but not available) and `observedGeneration`.
//!
//! Two conditions tell how it is going:
//!
//! - **Available** — `True`/`MinimumReplicasAvailable` while at least `replicas -
//!   maxUnavailable` pods are available, else `False`/`MinimumReplicasUnavailable`;
//! - **Progressing** (with `progressDeadlineSeconds`) — `True` with `NewReplicaSetCreated`,
//!   `FoundNewReplicaSet` or `ReplicaSetUpdated` while the rollout moves (its
//!   `lastUpdateTime` refreshed on every step), `True`/`NewReplicaSetAvailable` once complete,
//!   `False`/`ProgressDeadlineExceeded` when no step was made for `progressDeadlineSeconds`,
//!   `Unknown`/`DeploymentPaused` and `DeploymentResumed` around a pause (so a pause never
//!   counts against the deadline), `False`/`ReplicaSetCreateError` when the new ReplicaSet
//!   cannot be created.
//!
//! A `ReplicaFailure` condition of a ReplicaSet (the new one first) is mirrored on the
//! Deployment.

use std::time::Duration;

use jiff::Timestamp;
use orchestra_api::k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet,
};

use super::fenceposts::{desired_replicas, max_unavailable};
use super::replica_sets::{available_replicas, ready_replicas, spec_replicas, status_replicas};
use crate::builtin::replicaset::status::{REPLICA_FAILURE, api_time};

/// Condition type: enough pods are available.
pub const AVAILABLE: &str = "Available";
/// Condition type: the rollout moves (or completed, or stalled).
pub const PROGRESSING: &str = "Progressing";

/// Reason: a new ReplicaSet was created for the current template.
pub const NEW_RS_REASON: &str = "NewReplicaSetCreated";
/// Reason: the ReplicaSet of the current template was found (adopted or after a restart).
pub const FOUND_NEW_RS_REASON: &str = "FoundNewReplicaSet";
/// Reason: the rollout made a step.
pub const REPLICA_SET_UPDATED_REASON: &str = "ReplicaSetUpdated";
/// Reason: the rollout completed.
pub const NEW_RS_AVAILABLE_REASON: &str = "NewReplicaSetAvailable";
/// Reason: no step for `progressDeadlineSeconds`.
pub const TIMED_OUT_REASON: &str = "ProgressDeadlineExceeded";
/// Reason: the Deployment is paused.
pub const PAUSED_REASON: &str = "DeploymentPaused";
/// Reason: the Deployment was resumed.
pub const RESUMED_REASON: &str = "DeploymentResumed";
/// Reason: the new ReplicaSet could not be created.
pub const FAILED_RS_CREATE_REASON: &str = "ReplicaSetCreateError";
/// Reason: enough pods are available.
pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
/// Reason: too few pods are available.
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

/// A condition stamped `now` (both times).
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: impl Into<String>,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.into()),
        last_update_time: Some(api_time(now)),
        last_transition_time: Some(api_time(now)),
    }
}

/// The condition of `type_`, if the status has one.
pub fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Sets `condition` (Kubernetes' `SetDeploymentCondition`): nothing changes if one of its
/// type has the same status and reason; the transition time is kept if the status is the
/// same; otherwise it replaces the old one, at the end of the list.
pub fn set_condition(status: &mut DeploymentStatus, mut condition: DeploymentCondition) {
    if let Some(current) = condition_of(status, &condition.type_) {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, &condition.type_);
    status
        .conditions
        .get_or_insert_with(Vec::new)
        .push(condition);
}

fn condition_of<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    condition(status, type_)
}

/// Removes the condition of `type_`.
pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = &mut status.conditions {
        conditions.retain(|c| c.type_ != type_);
        if conditions.is_empty() {
            status.conditions = None;
        }
    }
}

/// Whether the Deployment has a progress deadline (`progressDeadlineSeconds` set and not
/// the "never" value `i32::MAX`).
pub fn has_progress_deadline(deployment: &Deployment) -> bool {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .is_some_and(|seconds| seconds != i32::MAX)
}

fn progress_deadline(deployment: &Deployment) -> Duration {
    let seconds = deployment
        .spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .unwrap_or(0);
    Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
}

fn omit_zero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// The status the Deployment should have given its ReplicaSets (Kubernetes'
/// `calculateStatus`): counts, the observed generation, the conditions it had, and the
/// `Available` condition.
pub fn calculate_status(
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    deployment: &Deployment,
    now: Timestamp,
) -> DeploymentStatus {
    let available: i32 = all.iter().map(|rs| available_replicas(rs)).sum();
    let total: i32 = all.iter().map(|rs| spec_replicas(rs)).sum();
    let unavailable = (total - available).max(0);
    let current = deployment.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: deployment.metadata.generation.filter(|g| *g != 0),
        replicas: omit_zero(all.iter().map(|rs| status_replicas(rs)).sum()),
        updated_replicas: omit_zero(new.map_or(0, status_replicas)),
        ready_replicas: omit_zero(all.iter().map(|rs| ready_replicas(rs)).sum()),
        available_replicas: omit_zero(available),
        unavailable_replicas: omit_zero(unavailable),
        collision_count: current.collision_count,
        conditions: current.conditions.clone(),
        terminating_replicas: current.terminating_replicas,
    };
    let condition = if available >= desired_replicas(deployment) - max_unavailable(deployment) {
        new_condition(
            AVAILABLE,
            "True",
            MINIMUM_REPLICAS_AVAILABLE,
            "Deployment has minimum availability.",
            now,
        )
    } else {
        new_condition(
            AVAILABLE,
            "False",
            MINIMUM_REPLICAS_UNAVAILABLE,
            "Deployment does not have minimum availability.",
            now,
        )
    };
    set_condition(&mut status, condition);
    status
}

/// Whether the rollout is complete: every pod updated and available, no old pod left, the
/// current generation observed (Kubernetes' `DeploymentComplete`).
pub fn deployment_complete(deployment: &Deployment, status: &DeploymentStatus) -> bool {
    let desired = desired_replicas(deployment);
    status.updated_replicas.unwrap_or(0) == desired
        && status.replicas.unwrap_or(0) == desired
        && status.available_replicas.unwrap_or(0) == desired
        && status.observed_generation.unwrap_or(0) >= deployment.metadata.generation.unwrap_or(0)
}

/// Whether `status` shows a step forward from the Deployment's current status: more updated
/// pods, fewer old pods, more ready or more available pods (`DeploymentProgressing`).
pub fn deployment_progressing(deployment: &Deployment, status: &DeploymentStatus) -> bool {
    let old = deployment.status.clone().unwrap_or_default();
    let n = |v: Option<i32>| v.unwrap_or(0);
    let old_old_replicas = n(old.replicas) - n(old.updated_replicas);
    let new_old_replicas = n(status.replicas) - n(status.updated_replicas);
    n(status.updated_replicas) > n(old.updated_replicas)
        || new_old_replicas < old_old_replicas
        || n(status.ready_replicas) > n(old.ready_replicas)
        || n(status.available_replicas) > n(old.available_replicas)
}

/// Whether the rollout made no step for `progressDeadlineSeconds` (`DeploymentTimedOut`).
pub fn deployment_timed_out(
    deployment: &Deployment,
    status: &DeploymentStatus,
    now: Timestamp,
) -> bool {
    if !has_progress_deadline(deployment) {
        return false;
    }
    let Some(condition) = condition(status, PROGRESSING) else {
        return false;
    };
    match condition.reason.as_deref() {
        Some(NEW_RS_AVAILABLE_REASON) => return false,
        Some(TIMED_OUT_REASON) => return true,
        _ => {}
    }
    let Some(from) = condition.last_update_time.as_ref() else {
        return false;
    };
    let deadline = from.0.as_second() + progress_deadline(deployment).as_secs() as i64;
    deadline < now.as_second()
}

/// How long until a rollout with no progress should be checked against its deadline, if it
/// should (Kubernetes' `requeueStuckDeployment`, plus its one-second margin).
pub fn stuck_check_after(
    deployment: &Deployment,
    status: &DeploymentStatus,
    now: Timestamp,
) -> Option<Duration> {
    let current = condition(deployment.status.as_ref()?, PROGRESSING)?;
    if !has_progress_deadline(deployment)
        || deployment_complete(deployment, status)
        || current.reason.as_deref() == Some(TIMED_OUT_REASON)
    {
        return None;
    }
    let from = current.last_update_time.as_ref()?.0;
    let due = from.as_second() + progress_deadline(deployment).as_secs() as i64;
    let left = due - now.as_second();
    if left < 1 {
        return Some(Duration::from_millis(100));
    }
    Some(Duration::from_secs(left as u64 + 1))
}

/// The Deployment's `ReplicaFailure` condition from its ReplicaSets: the new ReplicaSet's,
/// else the first old one's.
pub fn replica_failure(
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
) -> Option<DeploymentCondition> {
    let of = |rs: &ReplicaSet| {
        rs.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == REPLICA_FAILURE)
            .map(|c| DeploymentCondition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_update_time: c.last_transition_time.clone(),
                last_transition_time: c.last_transition_time.clone(),
            })
    };
    new.and_then(of)
        .or_else(|| all.iter().find_map(|rs| of(rs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    #[test]
    fn setting_a_condition_keeps_its_transition_time_while_its_status_holds() {
        let mut status = DeploymentStatus::default();
        set_condition(
            &mut status,
            new_condition(PROGRESSING, "True", NEW_RS_REASON, "created", at(10)),
        );
        set_condition(
            &mut status,
            new_condition(
                PROGRESSING,
                "True",
                REPLICA_SET_UPDATED_REASON,
                "moving",
                at(20),
            ),
        );
        let progressing = condition(&status, PROGRESSING).unwrap();
        assert_eq!(
            progressing.reason.as_deref(),
            Some(REPLICA_SET_UPDATED_REASON)
        );
        assert_eq!(progressing.last_transition_time, Some(api_time(at(10))));
        assert_eq!(progressing.last_update_time, Some(api_time(at(20))));
        // Same status and reason: nothing changes, not even the update time.
        set_condition(
            &mut status,
            new_condition(
                PROGRESSING,
                "True",
                REPLICA_SET_UPDATED_REASON,
                "again",
                at(30),
            ),
        );
        assert_eq!(
            condition(&status, PROGRESSING).unwrap().last_update_time,
            Some(api_time(at(20)))
        );
        set_condition(
            &mut status,
            new_condition(PROGRESSING, "False", TIMED_OUT_REASON, "stuck", at(40)),
        );
        assert_eq!(
            condition(&status, PROGRESSING)
                .unwrap()
                .last_transition_time,
            Some(api_time(at(40)))
        );
        assert_eq!(status.conditions.as_ref().unwrap().len(), 1);
    }

    #[test]
    fn a_rollout_times_out_after_its_deadline_without_progress() {
        let mut d = Deployment::default();
        d.spec.get_or_insert_default().progress_deadline_seconds = Some(5);
        let mut status = DeploymentStatus::default();
        set_condition(
            &mut status,
            new_condition(PROGRESSING, "True", REPLICA_SET_UPDATED_REASON, "", at(100)),
        );
        assert!(!deployment_timed_out(&d, &status, at(105)));
        assert!(deployment_timed_out(&d, &status, at(106)));
        d.status = Some(status.clone());
        assert_eq!(
            stuck_check_after(&d, &status, at(102)),
            Some(Duration::from_secs(4))
        );
        d.spec.as_mut().unwrap().progress_deadline_seconds = Some(i32::MAX);
        assert!(!deployment_timed_out(&d, &status, at(1_000_000)));
    }
}
