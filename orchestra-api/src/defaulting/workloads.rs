//! Workload defaults: Deployments, ReplicaSets, ReplicationControllers, StatefulSets and
//! DaemonSets, each with its pod template defaulted as a pod spec (without the pod-only
//! defaults, see [`default_pod_spec`](super::default_pod_spec)).
//!
//! | kind | defaults |
//! |---|---|
//! | Deployment | `replicas: 1`, `RollingUpdate` with `maxUnavailable: 25%` and `maxSurge: 25%`, `revisionHistoryLimit: 10`, `progressDeadlineSeconds: 600` |
//! | ReplicaSet | `replicas: 1` |
//! | ReplicationController | `replicas: 1`; selector and labels from the template's labels when empty |
//! | StatefulSet | `replicas: 1`, `podManagementPolicy: OrderedReady`, `RollingUpdate` with `partition: 0`, `revisionHistoryLimit: 10`, claim retention `Retain`/`Retain`, claim template defaults |
//! | DaemonSet | `RollingUpdate` with `maxUnavailable: 1` and `maxSurge: 0`, `revisionHistoryLimit: 10` |
//!
//! `minReadySeconds` has no default (absent means 0).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::ReplicationController;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    default_string, default_value, each_mut, pod::default_pod_template_spec,
    storage::default_persistent_volume_claim,
};

const ROLLING_UPDATE: &str = "RollingUpdate";

/// Defaults a Deployment (`SetDefaults_Deployment` of `apps/v1`).
pub fn default_deployment(deployment: &mut Deployment) {
    let spec = deployment.spec.get_or_insert_default();
    default_value(&mut spec.replicas, || 1);
    let strategy = spec.strategy.get_or_insert_default();
    default_string(&mut strategy.type_, ROLLING_UPDATE);
    if strategy.type_.as_deref() == Some(ROLLING_UPDATE) {
        let rolling_update = strategy.rolling_update.get_or_insert_default();
        default_value(&mut rolling_update.max_unavailable, || {
            IntOrString::String("25%".into())
        });
        default_value(&mut rolling_update.max_surge, || {
            IntOrString::String("25%".into())
        });
    }
    default_value(&mut spec.revision_history_limit, || 10);
    default_value(&mut spec.progress_deadline_seconds, || 600);
    default_pod_template_spec(&mut spec.template);
}

/// Defaults a ReplicaSet: one replica, and its pod template.
pub fn default_replica_set(replica_set: &mut ReplicaSet) {
    let spec = replica_set.spec.get_or_insert_default();
    default_value(&mut spec.replicas, || 1);
    default_pod_template_spec(spec.template.get_or_insert_default());
}

/// Defaults a ReplicationController: one replica; an empty selector, and empty object labels,
/// both become the template's labels; the template (if any) is defaulted.
pub fn default_replication_controller(controller: &mut ReplicationController) {
    let spec = controller.spec.get_or_insert_default();
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.as_ref())
        .filter(|labels| !labels.is_empty());
    if let Some(labels) = template_labels {
        if spec.selector.as_ref().is_none_or(BTreeMap::is_empty) {
            spec.selector = Some(labels.clone());
        }
        if controller
            .metadata
            .labels
            .as_ref()
            .is_none_or(BTreeMap::is_empty)
        {
            controller.metadata.labels = Some(labels.clone());
        }
    }
    default_value(&mut spec.replicas, || 1);
    if let Some(template) = &mut spec.template {
        default_pod_template_spec(template);
    }
}

/// Defaults a StatefulSet (`SetDefaults_StatefulSet` of `apps/v1`), its pod template and its
/// volume claim templates (which get the full claim defaults, `phase: Pending` included).
pub fn default_stateful_set(stateful_set: &mut StatefulSet) {
    let spec = stateful_set.spec.get_or_insert_default();
    default_string(&mut spec.pod_management_policy, "OrderedReady");

    let strategy = spec.update_strategy.get_or_insert_default();
    if strategy.type_.as_deref().is_none_or(str::is_empty) {
        strategy.type_ = Some(ROLLING_UPDATE.to_owned());
        default_value(&mut strategy.rolling_update, Default::default);
    }
    // An explicit `type: RollingUpdate` without `rollingUpdate` gets no partition, as in
    // Kubernetes.
    if strategy.type_.as_deref() == Some(ROLLING_UPDATE) {
        if let Some(rolling_update) = &mut strategy.rolling_update {
            default_value(&mut rolling_update.partition, || 0);
        }
    }

    let retention = spec
        .persistent_volume_claim_retention_policy
        .get_or_insert_default();
    default_string(&mut retention.when_deleted, "Retain");
    default_string(&mut retention.when_scaled, "Retain");

    default_value(&mut spec.replicas, || 1);
    default_value(&mut spec.revision_history_limit, || 10);
    default_pod_template_spec(&mut spec.template);
    for claim in each_mut(&mut spec.volume_claim_templates) {
        default_persistent_volume_claim(claim);
    }
}

/// Defaults a DaemonSet (`SetDefaults_DaemonSet` of `apps/v1`) and its pod template.
pub fn default_daemon_set(daemon_set: &mut DaemonSet) {
    let spec = daemon_set.spec.get_or_insert_default();
    let strategy = spec.update_strategy.get_or_insert_default();
    default_string(&mut strategy.type_, ROLLING_UPDATE);
    if strategy.type_.as_deref() == Some(ROLLING_UPDATE) {
        let rolling_update = strategy.rolling_update.get_or_insert_default();
        default_value(&mut rolling_update.max_unavailable, || IntOrString::Int(1));
        default_value(&mut rolling_update.max_surge, || IntOrString::Int(0));
    }
    default_value(&mut spec.revision_history_limit, || 10);
    default_pod_template_spec(&mut spec.template);
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{
        DeploymentSpec, DeploymentStrategy, StatefulSetSpec, StatefulSetUpdateStrategy,
    };
    use k8s_openapi::api::core::v1::{PodTemplateSpec, ReplicationControllerSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn deployments_roll_25_percent_at_a_time() {
        let mut d = Deployment::default();
        default_deployment(&mut d);
        let spec = d.spec.unwrap_or_default();
        assert_eq!(spec.replicas, Some(1));
        assert_eq!(spec.revision_history_limit, Some(10));
        assert_eq!(spec.progress_deadline_seconds, Some(600));
        assert_eq!(spec.min_ready_seconds, None);
        let strategy = spec.strategy.unwrap_or_default();
        assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
        let rolling = strategy.rolling_update.unwrap_or_default();
        assert_eq!(
            rolling.max_unavailable,
            Some(IntOrString::String("25%".into()))
        );
        assert_eq!(rolling.max_surge, Some(IntOrString::String("25%".into())));
        assert!(spec.template.spec.is_some(), "template spec defaulted");
    }

    #[test]
    fn recreate_deployments_get_no_rolling_update_parameters() {
        let mut d = Deployment {
            spec: Some(DeploymentSpec {
                strategy: Some(DeploymentStrategy {
                    type_: Some("Recreate".into()),
                    rolling_update: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        default_deployment(&mut d);
        let strategy = d.spec.and_then(|s| s.strategy).unwrap_or_default();
        assert_eq!(strategy.rolling_update, None);
    }

    #[test]
    fn replication_controllers_take_selector_and_labels_from_the_template() {
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let mut rc = ReplicationController {
            spec: Some(ReplicationControllerSpec {
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(labels.clone()),
                        ..Default::default()
                    }),
                    spec: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        default_replication_controller(&mut rc);
        assert_eq!(rc.metadata.labels.as_ref(), Some(&labels));
        let spec = rc.spec.unwrap_or_default();
        assert_eq!(spec.selector.as_ref(), Some(&labels));
        assert_eq!(spec.replicas, Some(1));
    }

    #[test]
    fn stateful_sets_update_in_order_from_partition_zero_and_retain_claims() {
        let mut sts = StatefulSet::default();
        default_stateful_set(&mut sts);
        let spec = sts.spec.unwrap_or_default();
        assert_eq!(spec.pod_management_policy.as_deref(), Some("OrderedReady"));
        let strategy = spec.update_strategy.unwrap_or_default();
        assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
        assert_eq!(strategy.rolling_update.and_then(|r| r.partition), Some(0));
        let retention = spec
            .persistent_volume_claim_retention_policy
            .unwrap_or_default();
        assert_eq!(retention.when_deleted.as_deref(), Some("Retain"));
        assert_eq!(retention.when_scaled.as_deref(), Some("Retain"));
        assert_eq!(spec.replicas, Some(1));
        assert_eq!(spec.revision_history_limit, Some(10));
    }

    #[test]
    fn explicit_rolling_update_without_parameters_gets_no_partition() {
        let mut sts = StatefulSet {
            spec: Some(StatefulSetSpec {
                update_strategy: Some(StatefulSetUpdateStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        default_stateful_set(&mut sts);
        let strategy = sts.spec.and_then(|s| s.update_strategy).unwrap_or_default();
        assert_eq!(strategy.rolling_update, None);
    }

    #[test]
    fn daemon_sets_replace_one_node_at_a_time_without_surge() {
        let mut ds = DaemonSet::default();
        default_daemon_set(&mut ds);
        let spec = ds.spec.unwrap_or_default();
        let strategy = spec.update_strategy.unwrap_or_default();
        assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
        let rolling = strategy.rolling_update.unwrap_or_default();
        assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(rolling.max_surge, Some(IntOrString::Int(0)));
        assert_eq!(spec.revision_history_limit, Some(10));
    }
}
