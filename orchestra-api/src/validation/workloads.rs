//! Workload controllers: Deployments, ReplicaSets, StatefulSets, DaemonSets,
//! ReplicationControllers and ControllerRevisions.
//!
//! Every controller with a pod template needs a non-empty selector that matches the template's
//! labels (`spec.template.metadata.labels: Invalid value: …: \`selector\` does not match
//! template \`labels\``), non-negative counts, and a template whose `restartPolicy` is
//! `Always`; on update its selector is immutable. Deployment strategies, StatefulSet update
//! strategies and pod management, and DaemonSet update strategies follow
//! `pkg/apis/apps/validation`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec, ReplicaSet,
    ReplicaSetSpec, StatefulSet, StatefulSetSpec,
};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaimVolumeSource, PodTemplateSpec, ReplicationController,
    ReplicationControllerSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::field_error::FieldErrors;
use super::metadata::{NamespaceRule, identity_update, object_meta, object_meta_update};
use super::names::{is_valid_percent, name_is_dns_subdomain};
use super::path::{
    Path, forbidden, immutable, invalid, invalid_each, json, non_negative, not_supported, required,
};
use super::pod::pod_template_spec;
use super::selector::{is_empty, is_well_formed, label_selector, map_matches, matches};
use super::storage::persistent_volume_claim_spec;

const SELECTOR_MISMATCH: &str = "`selector` does not match template `labels`";

/// Checks `spec.selector` of a workload and that it selects the template's labels.
fn selector_and_template_labels(
    errors: &mut FieldErrors,
    selector: &LabelSelector,
    template: &PodTemplateSpec,
    empty_message: &str,
    spec_path: &Path<'_>,
) {
    let selector_path = spec_path.child("selector");
    let missing = selector.match_labels.is_none() && selector.match_expressions.is_none();
    if missing {
        errors.push(required(&selector_path, ""));
    } else {
        label_selector(errors, selector, &selector_path);
        if is_empty(selector) {
            errors.push(invalid(&selector_path, json(selector), empty_message));
            return;
        }
    }
    if !is_well_formed(selector) {
        return;
    }
    let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    if missing || !matches(selector, labels) {
        let template_path = spec_path.child("template");
        let meta_path = template_path.child("metadata");
        errors.push(invalid(
            &meta_path.child("labels"),
            json(&labels.cloned().unwrap_or_default()),
            SELECTOR_MISMATCH,
        ));
    }
}

/// The rules every controller's pod template follows: a valid template, `restartPolicy:
/// Always`, no `activeDeadlineSeconds`.
fn always_restarting_template(
    errors: &mut FieldErrors,
    template: &PodTemplateSpec,
    extra_volumes: &[Volume],
    kind: &str,
    template_path: &Path<'_>,
) {
    pod_template_spec(errors, template, extra_volumes, template_path);
    let spec_path = template_path.child("spec");
    let spec = template.spec.as_ref();
    let restart_policy = spec
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or_default();
    if restart_policy != "Always" {
        errors.push(not_supported(
            &spec_path.child("restartPolicy"),
            restart_policy,
            &["Always"],
        ));
    }
    if spec.and_then(|s| s.active_deadline_seconds).is_some() {
        errors.push(forbidden(
            &spec_path.child("activeDeadlineSeconds"),
            format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
}

/// The number of an int-or-percent (`25%` → 25, `3` → 3, malformed → 0).
fn int_or_percent_value(value: &IntOrString) -> i64 {
    match value {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(s) => s.strip_suffix('%').unwrap_or(s).parse::<i64>().unwrap_or(0),
    }
}

/// A non-negative integer or a percentage (`25%`).
pub(crate) fn positive_int_or_percent(
    errors: &mut FieldErrors,
    value: &IntOrString,
    path: &Path<'_>,
) {
    match value {
        IntOrString::String(s) => invalid_each(errors, path, s, is_valid_percent(s)),
        IntOrString::Int(n) => non_negative(errors, path, i64::from(*n)),
    }
}

/// A percentage may not exceed 100%.
pub(crate) fn not_more_than_100_percent(
    errors: &mut FieldErrors,
    value: &IntOrString,
    path: &Path<'_>,
) {
    if let IntOrString::String(s) = value {
        if is_valid_percent(s).is_empty() && int_or_percent_value(value) > 100 {
            errors.push(invalid(path, s.as_str(), "must not be greater than 100%"));
        }
    }
}

fn non_negative_opt(errors: &mut FieldErrors, value: Option<i32>, path: &Path<'_>) {
    if let Some(value) = value {
        non_negative(errors, path, i64::from(value));
    }
}

/// Checks a Deployment about to be created.
pub fn validate_deployment(deployment: &Deployment) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &deployment.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let default_spec = DeploymentSpec::default();
    deployment_spec(
        &mut errors,
        deployment.spec.as_ref().unwrap_or(&default_spec),
        &Path::root("spec"),
    );
    errors
}

fn deployment_spec(errors: &mut FieldErrors, spec: &DeploymentSpec, path: &Path<'_>) {
    non_negative_opt(errors, spec.replicas, &path.child("replicas"));
    selector_and_template_labels(
        errors,
        &spec.selector,
        &spec.template,
        "empty selector is invalid for deployment",
        path,
    );
    always_restarting_template(
        errors,
        &spec.template,
        &[],
        "ReplicaSet",
        &path.child("template"),
    );
    let strategy_path = path.child("strategy");
    let strategy = spec.strategy.clone().unwrap_or_default();
    let rolling_path = strategy_path.child("rollingUpdate");
    match strategy.type_.as_deref().unwrap_or_default() {
        "Recreate" => {
            if strategy.rolling_update.is_some() {
                errors.push(forbidden(
                    &rolling_path,
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match &strategy.rolling_update {
            None => errors.push(required(
                &rolling_path,
                "this should be defaulted and never be nil",
            )),
            Some(rolling) => {
                let zero = IntOrString::Int(0);
                let max_unavailable = rolling.max_unavailable.as_ref().unwrap_or(&zero);
                let max_surge = rolling.max_surge.as_ref().unwrap_or(&zero);
                let unavailable_path = rolling_path.child("maxUnavailable");
                positive_int_or_percent(errors, max_unavailable, &unavailable_path);
                positive_int_or_percent(errors, max_surge, &rolling_path.child("maxSurge"));
                if int_or_percent_value(max_unavailable) == 0
                    && int_or_percent_value(max_surge) == 0
                {
                    errors.push(invalid(
                        &unavailable_path,
                        json(max_unavailable),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                not_more_than_100_percent(errors, max_unavailable, &unavailable_path);
            }
        },
        other => errors.push(not_supported(
            &strategy_path.child("type"),
            other,
            &["Recreate", "RollingUpdate"],
        )),
    }
    let min_ready = spec.min_ready_seconds.unwrap_or_default();
    non_negative(errors, &path.child("minReadySeconds"), i64::from(min_ready));
    non_negative_opt(
        errors,
        spec.revision_history_limit,
        &path.child("revisionHistoryLimit"),
    );
    if let Some(deadline) = spec.progress_deadline_seconds {
        let deadline_path = path.child("progressDeadlineSeconds");
        non_negative(errors, &deadline_path, i64::from(deadline));
        if deadline <= min_ready {
            errors.push(invalid(
                &deadline_path,
                deadline,
                "must be greater than minReadySeconds",
            ));
        }
    }
}

/// Checks a Deployment replacing `old`: its selector is immutable.
pub fn validate_deployment_update(new: &Deployment, old: &Deployment) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    let default_spec = DeploymentSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&default_spec);
    let old_spec = old.spec.as_ref().unwrap_or(&default_spec);
    deployment_spec(&mut errors, new_spec, &Path::root("spec"));
    immutable(
        &mut errors,
        &Path::root("spec").child("selector"),
        &new_spec.selector,
        &old_spec.selector,
    );
    errors
}

/// Checks a ReplicaSet about to be created.
pub fn validate_replica_set(replica_set: &ReplicaSet) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &replica_set.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let default_spec = ReplicaSetSpec::default();
    replica_set_spec(
        &mut errors,
        replica_set.spec.as_ref().unwrap_or(&default_spec),
        &Path::root("spec"),
    );
    errors
}

fn replica_set_spec(errors: &mut FieldErrors, spec: &ReplicaSetSpec, path: &Path<'_>) {
    non_negative_opt(errors, spec.replicas, &path.child("replicas"));
    non_negative_opt(
        errors,
        spec.min_ready_seconds,
        &path.child("minReadySeconds"),
    );
    let default_template = PodTemplateSpec::default();
    let template = spec.template.as_ref().unwrap_or(&default_template);
    selector_and_template_labels(
        errors,
        &spec.selector,
        template,
        "empty selector is invalid for deployment",
        path,
    );
    always_restarting_template(errors, template, &[], "ReplicaSet", &path.child("template"));
}

/// Checks a ReplicaSet replacing `old`: its selector is immutable.
pub fn validate_replica_set_update(new: &ReplicaSet, old: &ReplicaSet) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    let default_spec = ReplicaSetSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&default_spec);
    let old_spec = old.spec.as_ref().unwrap_or(&default_spec);
    replica_set_spec(&mut errors, new_spec, &Path::root("spec"));
    immutable(
        &mut errors,
        &Path::root("spec").child("selector"),
        &new_spec.selector,
        &old_spec.selector,
    );
    errors
}

/// Checks a StatefulSet about to be created.
pub fn validate_stateful_set(stateful_set: &StatefulSet) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &stateful_set.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let default_spec = StatefulSetSpec::default();
    stateful_set_spec(
        &mut errors,
        stateful_set.spec.as_ref().unwrap_or(&default_spec),
        &Path::root("spec"),
    );
    errors
}

fn stateful_set_spec(errors: &mut FieldErrors, spec: &StatefulSetSpec, path: &Path<'_>) {
    let policy_path = path.child("podManagementPolicy");
    match spec.pod_management_policy.as_deref().unwrap_or_default() {
        "" => errors.push(required(&policy_path, "")),
        "OrderedReady" | "Parallel" => {}
        other => errors.push(invalid(
            &policy_path,
            other,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let strategy_path = path.child("updateStrategy");
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    let rolling_path = strategy_path.child("rollingUpdate");
    match strategy.type_.as_deref().unwrap_or_default() {
        "" => errors.push(required(&strategy_path, "")),
        "OnDelete" => {
            if let Some(rolling) = &strategy.rolling_update {
                errors.push(invalid(
                    &rolling_path,
                    json(rolling),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(rolling) = &strategy.rolling_update {
                non_negative_opt(errors, rolling.partition, &rolling_path.child("partition"));
                if let Some(max_unavailable) = &rolling.max_unavailable {
                    let unavailable_path = rolling_path.child("maxUnavailable");
                    positive_int_or_percent(errors, max_unavailable, &unavailable_path);
                    if int_or_percent_value(max_unavailable) == 0 {
                        errors.push(invalid(
                            &unavailable_path,
                            json(max_unavailable),
                            "cannot be 0",
                        ));
                    }
                    not_more_than_100_percent(errors, max_unavailable, &unavailable_path);
                }
            }
        }
        _ => errors.push(invalid(
            &strategy_path,
            json(&strategy),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    if let Some(policy) = &spec.persistent_volume_claim_retention_policy {
        let policy_path = path.child("persistentVolumeClaimRetentionPolicy");
        for (value, child) in [
            (&policy.when_deleted, "whenDeleted"),
            (&policy.when_scaled, "whenScaled"),
        ] {
            if let Some(value) = value
                .as_deref()
                .filter(|v| *v != "Retain" && *v != "Delete")
            {
                errors.push(not_supported(
                    &policy_path.child(child),
                    value,
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    if let Some(start) = spec.ordinals.as_ref().and_then(|o| o.start) {
        let ordinals_path = path.child("ordinals");
        non_negative(errors, &ordinals_path.child("start"), i64::from(start));
    }
    non_negative_opt(errors, spec.replicas, &path.child("replicas"));
    non_negative_opt(
        errors,
        spec.min_ready_seconds,
        &path.child("minReadySeconds"),
    );
    non_negative_opt(
        errors,
        spec.revision_history_limit,
        &path.child("revisionHistoryLimit"),
    );
    selector_and_template_labels(
        errors,
        &spec.selector,
        &spec.template,
        "empty selector is invalid for statefulset",
        path,
    );
    let claims_path = path.child("volumeClaimTemplates");
    let mut claim_volumes: Vec<Volume> = Vec::new();
    for (i, claim) in spec.volume_claim_templates.iter().flatten().enumerate() {
        let claim_path = claims_path.index(i);
        let default_claim_spec = Default::default();
        persistent_volume_claim_spec(
            errors,
            claim.spec.as_ref().unwrap_or(&default_claim_spec),
            &claim_path.child("spec"),
        );
        if let Some(name) = claim.metadata.name.as_deref() {
            claim_volumes.push(Volume {
                name: name.to_owned(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: name.to_owned(),
                    read_only: None,
                }),
                ..Volume::default()
            });
        }
    }
    always_restarting_template(
        errors,
        &spec.template,
        &claim_volumes,
        "StatefulSet",
        &path.child("template"),
    );
}

/// Checks a StatefulSet replacing `old`: only replicas, ordinals, template, update strategy,
/// revision history limit, claim retention policy and minReadySeconds may change.
pub fn validate_stateful_set_update(new: &StatefulSet, old: &StatefulSet) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    let default_spec = StatefulSetSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&default_spec);
    let old_spec = old.spec.as_ref().unwrap_or(&default_spec);
    let spec_path = Path::root("spec");
    stateful_set_spec(&mut errors, new_spec, &spec_path);
    let mut masked = new_spec.clone();
    masked.replicas = old_spec.replicas;
    masked.ordinals.clone_from(&old_spec.ordinals);
    masked.template.clone_from(&old_spec.template);
    masked.update_strategy.clone_from(&old_spec.update_strategy);
    masked.revision_history_limit = old_spec.revision_history_limit;
    masked
        .persistent_volume_claim_retention_policy
        .clone_from(&old_spec.persistent_volume_claim_retention_policy);
    masked.min_ready_seconds = old_spec.min_ready_seconds;
    if &masked != old_spec {
        errors.push(forbidden(
            &spec_path,
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ));
    }
    immutable(
        &mut errors,
        &spec_path.child("selector"),
        &new_spec.selector,
        &old_spec.selector,
    );
    errors
}

/// Checks a DaemonSet about to be created.
pub fn validate_daemon_set(daemon_set: &DaemonSet) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &daemon_set.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let default_spec = DaemonSetSpec::default();
    daemon_set_spec(
        &mut errors,
        daemon_set.spec.as_ref().unwrap_or(&default_spec),
        &Path::root("spec"),
    );
    errors
}

fn daemon_set_spec(errors: &mut FieldErrors, spec: &DaemonSetSpec, path: &Path<'_>) {
    selector_and_template_labels(
        errors,
        &spec.selector,
        &spec.template,
        "empty selector is invalid for daemonset",
        path,
    );
    always_restarting_template(
        errors,
        &spec.template,
        &[],
        "DaemonSet",
        &path.child("template"),
    );
    non_negative_opt(
        errors,
        spec.min_ready_seconds,
        &path.child("minReadySeconds"),
    );
    non_negative_opt(
        errors,
        spec.revision_history_limit,
        &path.child("revisionHistoryLimit"),
    );
    let strategy_path = path.child("updateStrategy");
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    match strategy.type_.as_deref().unwrap_or_default() {
        "OnDelete" => {}
        "RollingUpdate" => {
            let rolling_path = strategy_path.child("rollingUpdate");
            let Some(rolling) = &strategy.rolling_update else {
                errors.push(required(&rolling_path, ""));
                return;
            };
            let zero = IntOrString::Int(0);
            let max_unavailable = rolling.max_unavailable.as_ref().unwrap_or(&zero);
            let max_surge = rolling.max_surge.as_ref().unwrap_or(&zero);
            let unavailable_path = rolling_path.child("maxUnavailable");
            let surge_path = rolling_path.child("maxSurge");
            positive_int_or_percent(errors, max_unavailable, &unavailable_path);
            positive_int_or_percent(errors, max_surge, &surge_path);
            not_more_than_100_percent(errors, max_unavailable, &unavailable_path);
            not_more_than_100_percent(errors, max_surge, &surge_path);
            let has_unavailable = int_or_percent_value(max_unavailable) != 0;
            let has_surge = int_or_percent_value(max_surge) != 0;
            if has_unavailable && has_surge {
                errors.push(invalid(
                    &surge_path,
                    json(max_surge),
                    "may not be set when maxUnavailable is non-zero",
                ));
            } else if !has_unavailable && !has_surge {
                errors.push(required(
                    &unavailable_path,
                    "cannot be 0 when maxSurge is 0",
                ));
            }
        }
        _ => errors.push(not_supported(
            &strategy_path,
            json(&strategy),
            &["RollingUpdate", "OnDelete"],
        )),
    }
}

/// Checks a DaemonSet replacing `old`: its selector is immutable.
pub fn validate_daemon_set_update(new: &DaemonSet, old: &DaemonSet) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    let default_spec = DaemonSetSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&default_spec);
    let old_spec = old.spec.as_ref().unwrap_or(&default_spec);
    daemon_set_spec(&mut errors, new_spec, &Path::root("spec"));
    immutable(
        &mut errors,
        &Path::root("spec").child("selector"),
        &new_spec.selector,
        &old_spec.selector,
    );
    errors
}

/// Checks a ReplicationController about to be created.
pub fn validate_replication_controller(controller: &ReplicationController) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &controller.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let default_spec = ReplicationControllerSpec::default();
    replication_controller_spec(
        &mut errors,
        controller.spec.as_ref().unwrap_or(&default_spec),
        &Path::root("spec"),
    );
    errors
}

fn replication_controller_spec(
    errors: &mut FieldErrors,
    spec: &ReplicationControllerSpec,
    path: &Path<'_>,
) {
    non_negative_opt(
        errors,
        spec.min_ready_seconds,
        &path.child("minReadySeconds"),
    );
    let empty = BTreeMap::new();
    let selector = spec.selector.as_ref().unwrap_or(&empty);
    if selector.is_empty() {
        errors.push(required(&path.child("selector"), ""));
    }
    non_negative_opt(errors, spec.replicas, &path.child("replicas"));
    let template_path = path.child("template");
    let Some(template) = &spec.template else {
        errors.push(required(&template_path, ""));
        return;
    };
    let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    if !selector.is_empty() && !map_matches(selector, labels) {
        let meta_path = template_path.child("metadata");
        errors.push(invalid(
            &meta_path.child("labels"),
            json(&labels.cloned().unwrap_or_default()),
            SELECTOR_MISMATCH,
        ));
    }
    always_restarting_template(
        errors,
        template,
        &[],
        "ReplicationController",
        &template_path,
    );
}

/// Checks a ReplicationController replacing `old` (its selector may change).
pub fn validate_replication_controller_update(
    new: &ReplicationController,
    old: &ReplicationController,
) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    let default_spec = ReplicationControllerSpec::default();
    replication_controller_spec(
        &mut errors,
        new.spec.as_ref().unwrap_or(&default_spec),
        &Path::root("spec"),
    );
    errors
}

/// Checks a ControllerRevision: it carries data and a non-negative revision.
pub fn validate_controller_revision(revision: &ControllerRevision) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &revision.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    if revision.data.is_none() {
        errors.push(required(&Path::root("data"), "data is mandatory"));
    }
    non_negative(&mut errors, &Path::root("revision"), revision.revision);
    errors
}

/// Checks a ControllerRevision replacing `old`: its data is immutable.
pub fn validate_controller_revision_update(
    new: &ControllerRevision,
    old: &ControllerRevision,
) -> FieldErrors {
    let mut errors = FieldErrors::new();
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    errors.extend(validate_controller_revision(new));
    immutable(&mut errors, &Path::root("data"), &new.data, &old.data);
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(json: serde_json::Value) -> Deployment {
        serde_json::from_value(json).unwrap()
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "resourceVersion": "1"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                        "terminationGracePeriodSeconds": 30,
                        "containers": [{"name": "app", "image": "nginx", "imagePullPolicy": "Always",
                                        "terminationMessagePolicy": "File"}]
                    }
                }
            }
        })
    }

    #[test]
    fn a_defaulted_deployment_is_valid() {
        assert_eq!(validate_deployment(&deployment(base())), FieldErrors::new());
    }

    #[test]
    fn selector_must_match_template_labels() {
        let mut json = base();
        json["spec"]["selector"]["matchLabels"]["app"] = "db".into();
        let errors = validate_deployment(&deployment(json));
        assert_eq!(
            errors[0].to_string(),
            "spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`"
        );
    }

    #[test]
    fn rolling_update_may_not_stop_both_surge_and_unavailability() {
        let mut json = base();
        json["spec"]["strategy"]["rollingUpdate"] =
            serde_json::json!({"maxUnavailable": 0, "maxSurge": "0%"});
        let errors = validate_deployment(&deployment(json));
        assert_eq!(
            errors[0].to_string(),
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"
        );
        let mut json = base();
        json["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = "120%".into();
        let errors = validate_deployment(&deployment(json));
        assert_eq!(errors[0].detail, "must not be greater than 100%");
    }

    #[test]
    fn selector_is_immutable() {
        let old = deployment(base());
        let mut json = base();
        json["spec"]["selector"]["matchLabels"]["tier"] = "fe".into();
        json["spec"]["template"]["metadata"]["labels"]["tier"] = "fe".into();
        let errors = validate_deployment_update(&deployment(json), &old);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field.as_str(), "spec.selector");
        assert_eq!(errors[0].detail, "field is immutable");
    }
}
