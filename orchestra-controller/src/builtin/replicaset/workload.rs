//! What the ReplicaSet controller needs to know about the object it reconciles, so one
//! controller serves both ReplicaSets (`apps/v1`, a `metav1.LabelSelector`) and
//! ReplicationControllers (`v1`, a map selector), as Kubernetes runs the same code for both.
//!
//! [`ReplicatedWorkload`] reads the desired replicas, the selector and the pod template, and
//! reads and writes the status through one shape, [`ReplicaStatus`], whose equality is what
//! decides whether a status write is needed.

use std::collections::BTreeMap;

use orchestra_api::k8s_openapi::api::apps::v1::{
    ReplicaSet, ReplicaSetCondition, ReplicaSetStatus,
};
use orchestra_api::k8s_openapi::api::core::v1::{
    PodTemplateSpec, ReplicationController, ReplicationControllerCondition,
    ReplicationControllerStatus,
};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use orchestra_api::label_selector::SelectorError;
use orchestra_api::{LabelSelector, Served};

/// One condition of a ReplicaSet's or ReplicationController's status (both kinds have the
/// same fields).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicaCondition {
    /// The condition's type; the controller writes `ReplicaFailure`.
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason (`FailedCreate`, `FailedDelete`).
    pub reason: Option<String>,
    /// Human-readable message.
    pub message: Option<String>,
    /// When the condition last changed status.
    pub last_transition_time: Option<Time>,
}

/// The status the controller computes and writes, common to both kinds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicaStatus {
    /// Active pods the workload controls.
    pub replicas: i32,
    /// Of those, pods whose labels carry every label of the template.
    pub fully_labeled_replicas: i32,
    /// Of those, pods that are ready.
    pub ready_replicas: i32,
    /// Of those, pods ready for at least `minReadySeconds`.
    pub available_replicas: i32,
    /// The `metadata.generation` this status describes.
    pub observed_generation: i64,
    /// Conditions, in the order they were added.
    pub conditions: Vec<ReplicaCondition>,
}

/// `Some(n)` unless `n` is zero: Kubernetes omits zero counts from these statuses.
fn omit_zero<T: Default + PartialEq>(n: T) -> Option<T> {
    (n != T::default()).then_some(n)
}

/// A kind the ReplicaSet controller reconciles.
pub trait ReplicatedWorkload: Served + Send + Sync + 'static {
    /// The component its Events are published as (`replicaset-controller`).
    const EVENT_SOURCE: &'static str;

    /// `spec.replicas` (1 when unset, the API default).
    fn desired_replicas(&self) -> i32;
    /// `spec.minReadySeconds`.
    fn min_ready_seconds(&self) -> i32;
    /// The selector of the pods it manages.
    fn pod_selector(&self) -> Result<LabelSelector, SelectorError>;
    /// The template of the pods it creates.
    fn pod_template(&self) -> Option<&PodTemplateSpec>;
    /// The current status, in the common shape.
    fn replica_status(&self) -> ReplicaStatus;
    /// Replaces the fields of the status the controller owns.
    fn set_replica_status(&mut self, status: &ReplicaStatus);
}

/// The methods of [`ReplicatedWorkload`] that read and write the same fields on both kinds:
/// the spec fields the controller reads and the status, whose k8s-openapi types
/// (`$status`, with conditions of type `$condition`) have the same fields on both. Invoked
/// inside each `impl ReplicatedWorkload`.
macro_rules! same_shaped_workload_methods {
    ($status:ident, $condition:ident) => {
        fn desired_replicas(&self) -> i32 {
            self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
        }

        fn min_ready_seconds(&self) -> i32 {
            self.spec
                .as_ref()
                .and_then(|s| s.min_ready_seconds)
                .unwrap_or(0)
        }

        fn pod_template(&self) -> Option<&PodTemplateSpec> {
            self.spec.as_ref()?.template.as_ref()
        }

        fn replica_status(&self) -> ReplicaStatus {
            let Some(status) = &self.status else {
                return ReplicaStatus::default();
            };
            ReplicaStatus {
                replicas: status.replicas,
                fully_labeled_replicas: status.fully_labeled_replicas.unwrap_or(0),
                ready_replicas: status.ready_replicas.unwrap_or(0),
                available_replicas: status.available_replicas.unwrap_or(0),
                observed_generation: status.observed_generation.unwrap_or(0),
                conditions: status
                    .conditions
                    .iter()
                    .flatten()
                    .map(|c| ReplicaCondition {
                        type_: c.type_.clone(),
                        status: c.status.clone(),
                        reason: c.reason.clone(),
                        message: c.message.clone(),
                        last_transition_time: c.last_transition_time.clone(),
                    })
                    .collect(),
            }
        }

        fn set_replica_status(&mut self, status: &ReplicaStatus) {
            let current = self.status.get_or_insert_with($status::default);
            current.replicas = status.replicas;
            current.fully_labeled_replicas = omit_zero(status.fully_labeled_replicas);
            current.ready_replicas = omit_zero(status.ready_replicas);
            current.available_replicas = omit_zero(status.available_replicas);
            current.observed_generation = omit_zero(status.observed_generation);
            current.conditions = (!status.conditions.is_empty()).then(|| {
                status
                    .conditions
                    .iter()
                    .map(|c| $condition {
                        type_: c.type_.clone(),
                        status: c.status.clone(),
                        reason: c.reason.clone(),
                        message: c.message.clone(),
                        last_transition_time: c.last_transition_time.clone(),
                    })
                    .collect()
            });
        }
    };
}

impl ReplicatedWorkload for ReplicaSet {
    const EVENT_SOURCE: &'static str = "replicaset-controller";

    fn pod_selector(&self) -> Result<LabelSelector, SelectorError> {
        LabelSelector::try_from(self.spec.as_ref().map(|s| &s.selector))
    }

    same_shaped_workload_methods!(ReplicaSetStatus, ReplicaSetCondition);
}

impl ReplicatedWorkload for ReplicationController {
    const EVENT_SOURCE: &'static str = "replication-controller";

    /// The map selector as equality requirements; an empty or absent map selects every pod,
    /// as Kubernetes reads it (defaulting fills it from the template's labels).
    fn pod_selector(&self) -> Result<LabelSelector, SelectorError> {
        let empty = BTreeMap::new();
        let labels = self
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .unwrap_or(&empty);
        LabelSelector::from_labels(labels)
    }

    same_shaped_workload_methods!(ReplicationControllerStatus, ReplicationControllerCondition);
}

#[cfg(test)]
mod tests {
    use orchestra_api::k8s_openapi::api::core::v1::ReplicationControllerSpec;

    use super::*;

    #[test]
    fn a_replication_controller_selects_by_its_map() {
        let rc = ReplicationController {
            spec: Some(ReplicationControllerSpec {
                selector: Some([("app".to_owned(), "web".to_owned())].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let selector = rc.pod_selector().unwrap();
        assert!(selector.matches(&[("app".to_owned(), "web".to_owned())].into()));
        assert!(!selector.matches(&[("app".to_owned(), "db".to_owned())].into()));
        assert_eq!(rc.desired_replicas(), 1);
    }

    #[test]
    fn status_round_trips_and_omits_zero_counts() {
        let mut rs = ReplicaSet::default();
        let status = ReplicaStatus {
            replicas: 3,
            fully_labeled_replicas: 3,
            ready_replicas: 0,
            available_replicas: 0,
            observed_generation: 2,
            conditions: vec![ReplicaCondition {
                type_: "ReplicaFailure".into(),
                status: "True".into(),
                reason: Some("FailedCreate".into()),
                ..Default::default()
            }],
        };
        rs.set_replica_status(&status);
        assert_eq!(rs.replica_status(), status);
        let written = rs.status.as_ref().unwrap();
        assert_eq!(written.ready_replicas, None);
        assert_eq!(written.available_replicas, None);
    }
}
