//! The status a ReplicaSet (or ReplicationController) reports, computed from the pods it
//! controls as Kubernetes' `calculateStatus` does:
//!
//! - `replicas`: active pods (not finished, not being deleted);
//! - `fullyLabeledReplicas`: of those, pods carrying every label of the template;
//! - `readyReplicas`: of those, pods whose `Ready` condition is `True`;
//! - `availableReplicas`: of the ready ones, those ready for `minReadySeconds`;
//! - `observedGeneration`: the generation the controller acted on;
//! - a `ReplicaFailure` condition (`FailedCreate` / `FailedDelete`, with the server's message)
//!   when creating or deleting pods failed, removed once a sync succeeds.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use orchestra_api::Status;
use orchestra_api::k8s_openapi::api::core::v1::Pod;
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::workload::{ReplicaCondition, ReplicaStatus, ReplicatedWorkload};
use crate::builtin::pod_state;

/// The condition type reporting failed pod creations or deletions.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// `now` truncated to the second, the precision of API timestamps.
pub fn api_time(now: Timestamp) -> Time {
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// The status of `workload` given its active pods and the outcome of this sync's creations
/// or deletions.
pub fn calculate_status<K: ReplicatedWorkload>(
    workload: &K,
    active_pods: &[Arc<Pod>],
    manage_error: Option<&Status>,
    now: Timestamp,
) -> ReplicaStatus {
    let mut status = workload.replica_status();
    let min_ready_seconds = workload.min_ready_seconds();
    let template_labels = workload
        .pod_template()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.as_ref());
    let mut fully_labeled = 0;
    let mut ready = 0;
    let mut available = 0;
    for pod in active_pods {
        let labels = pod.metadata.labels.as_ref();
        let carries_template_labels = template_labels.is_none_or(|wanted| {
            wanted
                .iter()
                .all(|(key, value)| labels.and_then(|l| l.get(key)) == Some(value))
        });
        if carries_template_labels {
            fully_labeled += 1;
        }
        if pod_state::is_ready(pod) {
            ready += 1;
            if pod_state::is_available(pod, min_ready_seconds, now) {
                available += 1;
            }
        }
    }

    let has_failure = status.conditions.iter().any(|c| c.type_ == REPLICA_FAILURE);
    match manage_error {
        Some(error) if !has_failure => {
            let diff = active_pods.len() as i64 - i64::from(workload.desired_replicas());
            let reason = match diff {
                d if d < 0 => Some("FailedCreate".to_owned()),
                d if d > 0 => Some("FailedDelete".to_owned()),
                _ => None,
            };
            status.conditions.push(ReplicaCondition {
                type_: REPLICA_FAILURE.to_owned(),
                status: "True".to_owned(),
                reason,
                message: Some(error.message.clone()),
                last_transition_time: Some(api_time(now)),
            });
        }
        None if has_failure => status.conditions.retain(|c| c.type_ != REPLICA_FAILURE),
        _ => {}
    }

    status.replicas = active_pods.len() as i32;
    status.fully_labeled_replicas = fully_labeled;
    status.ready_replicas = ready;
    status.available_replicas = available;
    status.observed_generation = workload.metadata().generation.unwrap_or(0);
    status
}

/// How long until the next of `pods` that is ready but not yet available becomes available,
/// when the controller should look again.
pub fn next_availability(
    pods: &[Arc<Pod>],
    min_ready_seconds: i32,
    now: Timestamp,
) -> Option<Duration> {
    if min_ready_seconds <= 0 {
        return None;
    }
    pods.iter()
        .filter_map(|pod| pod_state::time_until_available(pod, min_ready_seconds, now))
        .min()
}

#[cfg(test)]
mod tests {
    use orchestra_api::StatusReason;
    use orchestra_api::k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
    use orchestra_api::k8s_openapi::api::core::v1::{PodCondition, PodStatus, PodTemplateSpec};
    use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn replica_set(replicas: i32, min_ready_seconds: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                generation: Some(4),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: Some(min_ready_seconds),
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(
                            [
                                ("app".to_owned(), "web".to_owned()),
                                ("tier".to_owned(), "front".to_owned()),
                            ]
                            .into(),
                        ),
                        ..Default::default()
                    }),
                    spec: None,
                }),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn pod(labels: &[(&str, &str)], ready_since: Option<i64>) -> Arc<Pod> {
        let mut pod = Pod::default();
        pod.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        pod.status = Some(PodStatus {
            conditions: ready_since.map(|second| {
                vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    last_transition_time: Some(Time(Timestamp::from_second(second).unwrap())),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        });
        Arc::new(pod)
    }

    #[test]
    fn counts_labeled_ready_and_available_pods() {
        let rs = replica_set(3, 10);
        let full = [("app", "web"), ("tier", "front")];
        let pods = [
            pod(&full, Some(1_000)),
            pod(&full, Some(1_095)),
            pod(&[("app", "web")], None),
        ];
        let now = Timestamp::from_second(1_100).unwrap();
        let status = calculate_status(&rs, &pods, None, now);
        assert_eq!(
            (
                status.replicas,
                status.fully_labeled_replicas,
                status.ready_replicas,
                status.available_replicas,
                status.observed_generation
            ),
            (3, 2, 2, 1, 4)
        );
        assert_eq!(
            next_availability(&pods, 10, now),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn a_failed_creation_sets_the_replica_failure_condition_until_a_sync_succeeds() {
        let mut rs = replica_set(2, 0);
        let now = Timestamp::from_second(1_000).unwrap();
        let refused =
            Status::failure(StatusReason::Forbidden, "exceeded quota: pods=10").with_code(403);
        let failed = calculate_status(&rs, &[], Some(&refused), now);
        let condition = &failed.conditions[0];
        assert_eq!(condition.type_, REPLICA_FAILURE);
        assert_eq!(condition.reason.as_deref(), Some("FailedCreate"));
        assert_eq!(
            condition.message.as_deref(),
            Some("exceeded quota: pods=10")
        );
        rs.set_replica_status(&failed);
        let recovered = calculate_status(&rs, &[], None, now);
        assert!(recovered.conditions.is_empty());
    }
}
