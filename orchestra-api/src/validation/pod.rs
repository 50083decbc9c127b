//! Pods, pod specs and pod templates: the `PodSpec` rules every workload shares (containers,
//! volumes, restart and DNS policies, grace period, scheduling constraints, security context,
//! DNS config, host aliases, …), the extra rules of a real Pod on create, and what a Pod update
//! may change (`pod updates may not change fields other than …`).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    Container, EphemeralContainer, Pod, PodDNSConfig, PodSecurityContext, PodSpec, PodTemplate,
    PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::affinity::{affinity, tolerations, topology_spread_constraints};
use super::container::{
    PodContext, app_armor_profile, container_common, containers, id_range, init_containers,
    seccomp_profile,
};
use super::field_error::FieldErrors;
use super::metadata::{
    NamespaceRule, annotations, identity_update, labels, object_meta, object_meta_update,
};
use super::names::{
    inclusive_range_error, is_dns1123_label, is_dns1123_subdomain,
    is_dns1123_subdomain_with_underscore, is_qualified_name, is_valid_ip, name_is_dns_subdomain,
};
use super::path::{
    Path, duplicate, forbidden, invalid, invalid_each, json, non_negative, not_found,
    not_supported, required,
};
use super::resources::container_resources;
use super::volume::volumes;

const RESTART_POLICIES: [&str; 3] = ["Always", "OnFailure", "Never"];
const DNS_POLICIES: [&str; 4] = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";
const DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

const UPDATABLE_POD_SPEC_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Checks a Pod about to be created.
pub fn validate_pod(pod: &Pod) -> FieldErrors {
    let mut errors = FieldErrors::new();
    pod_metadata_and_spec(&mut errors, pod);
    let spec_path = Path::root("spec");
    let default_spec = PodSpec::default();
    let spec = pod.spec.as_ref().unwrap_or(&default_spec);
    if spec
        .ephemeral_containers
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        errors.push(forbidden(
            &spec_path.child("ephemeralContainers"),
            "cannot be set on create",
        ));
    }
    let gated = spec
        .scheduling_gates
        .as_ref()
        .is_some_and(|g| !g.is_empty());
    if !spec.node_name.as_deref().unwrap_or_default().is_empty() && gated {
        errors.push(forbidden(
            &spec_path.child("nodeName"),
            "cannot be set until all schedulingGates have been cleared",
        ));
    }
    errors
}

/// Checks a Pod replacing `old`: only images, `activeDeadlineSeconds` (downwards), new
/// tolerations and removed scheduling gates may change in its spec.
pub fn validate_pod_update(new: &Pod, old: &Pod) -> FieldErrors {
    let mut errors = FieldErrors::new();
    let meta_path = Path::root("metadata");
    identity_update(&mut errors, &new.metadata, &old.metadata, &meta_path);
    pod_metadata_and_spec(&mut errors, new);
    mirror_annotation_update(&mut errors, &new.metadata, &old.metadata, &meta_path);
    let default_spec = PodSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&default_spec);
    let old_spec = old.spec.as_ref().unwrap_or(&default_spec);
    let spec_path = Path::root("spec");
    let new_init = new_spec.init_containers.as_deref().unwrap_or_default();
    let old_init = old_spec.init_containers.as_deref().unwrap_or_default();
    if !container_updates(
        &mut errors,
        &new_spec.containers,
        &old_spec.containers,
        &spec_path.child("containers"),
    ) || !container_updates(
        &mut errors,
        new_init,
        old_init,
        &spec_path.child("initContainers"),
    ) {
        return errors;
    }
    let deadline_path = spec_path.child("activeDeadlineSeconds");
    match (
        new_spec.active_deadline_seconds,
        old_spec.active_deadline_seconds,
    ) {
        (Some(new_deadline), old_deadline) => {
            if !(0..=i64::from(i32::MAX)).contains(&new_deadline) {
                errors.push(invalid(
                    &deadline_path,
                    new_deadline,
                    inclusive_range_error(0, i64::from(i32::MAX)),
                ));
                return errors;
            }
            if old_deadline.is_some_and(|old| old < new_deadline) {
                errors.push(invalid(
                    &deadline_path,
                    new_deadline,
                    "must be less than or equal to previous value",
                ));
                return errors;
            }
        }
        (None, Some(_)) => errors.push(invalid(
            &deadline_path,
            serde_json::Value::Null,
            "must not update from a positive integer to nil value",
        )),
        (None, None) => {}
    }
    let tolerations_path = spec_path.child("tolerations");
    let new_tolerations = new_spec.tolerations.as_deref().unwrap_or_default();
    for old_toleration in old_spec.tolerations.iter().flatten() {
        let kept = new_tolerations.iter().any(|t| {
            let mut old = old_toleration.clone();
            old.toleration_seconds = t.toleration_seconds;
            &old == t
        });
        if !kept {
            errors.push(forbidden(
                &tolerations_path,
                "existing toleration can not be modified except its tolerationSeconds",
            ));
            break;
        }
    }
    let old_gates: Vec<&str> = old_spec
        .scheduling_gates
        .iter()
        .flatten()
        .map(|g| g.name.as_str())
        .collect();
    for (i, gate) in new_spec.scheduling_gates.iter().flatten().enumerate() {
        if !old_gates.contains(&gate.name.as_str()) {
            errors.push(forbidden(
                &spec_path.child("schedulingGates").index(i).child("name"),
                format!(
                    "only deletion is allowed, but found new scheduling gate '{}'",
                    gate.name
                ),
            ));
        }
    }
    if new_spec == old_spec {
        return errors;
    }
    let mut munged = new_spec.clone();
    for (container, old_container) in munged.containers.iter_mut().zip(&old_spec.containers) {
        container.image.clone_from(&old_container.image);
    }
    if let Some(list) = munged.init_containers.as_mut() {
        for (container, old_container) in list.iter_mut().zip(old_init) {
            container.image.clone_from(&old_container.image);
        }
    }
    munged.active_deadline_seconds = old_spec.active_deadline_seconds;
    munged
        .scheduling_gates
        .clone_from(&old_spec.scheduling_gates);
    munged.tolerations.clone_from(&old_spec.tolerations);
    if old_spec
        .termination_grace_period_seconds
        .is_some_and(|g| g < 0)
        && munged.termination_grace_period_seconds == Some(1)
    {
        munged.termination_grace_period_seconds = old_spec.termination_grace_period_seconds;
    }
    if !old_gates.is_empty() && munged.node_selector != old_spec.node_selector {
        let old_selector = old_spec.node_selector.clone().unwrap_or_default();
        let new_selector = munged.node_selector.clone().unwrap_or_default();
        let only_added = old_selector
            .iter()
            .all(|(k, v)| new_selector.get(k) == Some(v));
        if only_added {
            munged.node_selector.clone_from(&old_spec.node_selector);
        } else {
            errors.push(invalid(
                &spec_path.child("nodeSelector"),
                json(&new_selector),
                "only additions to spec.nodeSelector are allowed (no mutations or deletions)",
            ));
            munged.node_selector.clone_from(&old_spec.node_selector);
        }
    }
    if &munged != old_spec {
        errors.push(forbidden(
            &spec_path,
            format!(
                "pod updates may not change fields other than {UPDATABLE_POD_SPEC_FIELDS}\n{}",
                changed_fields(old_spec, &munged)
            ),
        ));
    }
    errors
}

/// Which top-level fields of two specs differ, to say what an update tried to change.
fn changed_fields(old: &PodSpec, new: &PodSpec) -> String {
    let (old, new) = (json(old), json(new));
    let empty = serde_json::Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let changed: Vec<String> = keys
        .into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| format!("spec.{k}"))
        .collect();
    format!("  changed: {}", changed.join(", "))
}

fn container_updates(
    errors: &mut FieldErrors,
    new: &[Container],
    old: &[Container],
    path: &Path<'_>,
) -> bool {
    if new.len() != old.len() {
        errors.push(forbidden(
            path,
            "pod updates may not add or remove containers",
        ));
        return false;
    }
    for (i, container) in new.iter().enumerate() {
        let image = container.image.as_deref().unwrap_or_default();
        let image_path = path.index(i);
        let image_path = image_path.child("image");
        if image.is_empty() {
            errors.push(required(&image_path, ""));
        }
        if image.trim() != image {
            errors.push(invalid(
                &image_path,
                image,
                "must not have leading or trailing whitespace",
            ));
        }
    }
    true
}

fn mirror_annotation_update(
    errors: &mut FieldErrors,
    new: &ObjectMeta,
    old: &ObjectMeta,
    path: &Path<'_>,
) {
    let get = |meta: &ObjectMeta| {
        meta.annotations
            .as_ref()
            .and_then(|a| a.get(MIRROR_POD_ANNOTATION).cloned())
    };
    let annotations_path = path.child("annotations");
    match (get(old), get(new)) {
        (Some(old_value), new_value) if new_value.as_ref() != Some(&old_value) => {
            errors.push(forbidden(
                &annotations_path.key(MIRROR_POD_ANNOTATION),
                "may not remove or update mirror pod annotation",
            ));
        }
        (None, Some(_)) => errors.push(forbidden(
            &annotations_path.key(MIRROR_POD_ANNOTATION),
            "may not add mirror pod annotation",
        )),
        _ => {}
    }
}

fn pod_metadata_and_spec(errors: &mut FieldErrors, pod: &Pod) {
    let meta_path = Path::root("metadata");
    let spec_path = Path::root("spec");
    object_meta(
        errors,
        &pod.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &meta_path,
    );
    let default_spec = PodSpec::default();
    let spec = pod.spec.as_ref().unwrap_or(&default_spec);
    pod_specific_annotations(
        errors,
        pod.metadata.annotations.as_ref(),
        spec,
        &meta_path.child("annotations"),
    );
    pod_spec(
        errors,
        spec,
        pod.metadata.name.as_deref(),
        true,
        &[],
        &spec_path,
    );
    // Kubernetes also forbids projected service account tokens without a
    // `serviceAccountName`; its ServiceAccount admission always sets one first, so users never
    // meet that rule, and Orchestra does not apply it.
    for (list, child) in [
        (Some(&spec.containers), "containers"),
        (spec.init_containers.as_ref(), "initContainers"),
    ] {
        let list_path = spec_path.child(child);
        for (i, container) in list.into_iter().flatten().enumerate() {
            let image = container.image.as_deref().unwrap_or_default();
            if image.trim() != image {
                errors.push(invalid(
                    &list_path.index(i).child("image"),
                    image,
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
}

fn pod_specific_annotations(
    errors: &mut FieldErrors,
    map: Option<&std::collections::BTreeMap<String, String>>,
    spec: &PodSpec,
    path: &Path<'_>,
) {
    let Some(map) = map else { return };
    if let Some(value) = map.get(MIRROR_POD_ANNOTATION) {
        if spec.node_name.as_deref().unwrap_or_default().is_empty() {
            errors.push(invalid(
                &path.key(MIRROR_POD_ANNOTATION),
                value.as_str(),
                "must set spec.nodeName if mirror pod annotation is set",
            ));
        }
    }
    if let Some(value) = map.get(DELETION_COST_ANNOTATION) {
        if value.parse::<i32>().is_err() {
            errors.push(invalid(
                &path.key(DELETION_COST_ANNOTATION),
                value.as_str(),
                "must be a 32bit integer",
            ));
        }
    }
}

/// Checks a PodTemplate object.
pub fn validate_pod_template(template: &PodTemplate) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &template.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let default_template = PodTemplateSpec::default();
    pod_template_spec(
        &mut errors,
        template.template.as_ref().unwrap_or(&default_template),
        &[],
        &Path::root("template"),
    );
    errors
}

/// Checks a PodTemplate replacing `old` (its template may change freely).
pub fn validate_pod_template_update(new: &PodTemplate, old: &PodTemplate) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    let default_template = PodTemplateSpec::default();
    pod_template_spec(
        &mut errors,
        new.template.as_ref().unwrap_or(&default_template),
        &[],
        &Path::root("template"),
    );
    errors
}

/// Checks the pod template of a workload: its labels and annotations, and its spec as a pod
/// spec that is not (yet) a pod. `extra_volumes` are volumes the workload adds to each pod
/// (a StatefulSet's claim templates).
pub(crate) fn pod_template_spec(
    errors: &mut FieldErrors,
    template: &PodTemplateSpec,
    extra_volumes: &[Volume],
    path: &Path<'_>,
) {
    let default_meta = ObjectMeta::default();
    let meta = template.metadata.as_ref().unwrap_or(&default_meta);
    let meta_path = path.child("metadata");
    if let Some(map) = &meta.labels {
        labels(errors, map, &meta_path.child("labels"));
    }
    if let Some(map) = &meta.annotations {
        annotations(errors, map, &meta_path.child("annotations"));
    }
    let default_spec = PodSpec::default();
    let spec = template.spec.as_ref().unwrap_or(&default_spec);
    let spec_path = path.child("spec");
    pod_specific_annotations(
        errors,
        meta.annotations.as_ref(),
        spec,
        &meta_path.child("annotations"),
    );
    pod_spec(errors, spec, None, false, extra_volumes, &spec_path);
    if spec
        .ephemeral_containers
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        errors.push(forbidden(
            &spec_path.child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
}

/// Checks a pod spec, of a pod (`is_pod`, with its name) or of a template.
pub(crate) fn pod_spec(
    errors: &mut FieldErrors,
    spec: &PodSpec,
    pod_name: Option<&str>,
    is_pod: bool,
    extra_volumes: &[Volume],
    path: &Path<'_>,
) {
    let grace_path = path.child("terminationGracePeriodSeconds");
    match spec.termination_grace_period_seconds {
        None => errors.push(required(&grace_path, "")),
        Some(grace) => non_negative(errors, &grace_path, grace),
    }
    let host_users = spec.host_users.unwrap_or(true);
    let no_volumes: &[Volume] = &[];
    let own_volumes = spec.volumes.as_deref().unwrap_or(no_volumes);
    let mut valid_volumes = volumes(
        errors,
        own_volumes,
        pod_name,
        is_pod,
        &path.child("volumes"),
    );
    for volume in extra_volumes {
        if !valid_volumes.iter().any(|(name, _)| *name == volume.name) {
            valid_volumes.push((volume.name.as_str(), volume));
        }
    }
    let claims_path = path.child("resourceClaims");
    let mut claim_names: Vec<&str> = Vec::new();
    for (i, claim) in spec.resource_claims.iter().flatten().enumerate() {
        let claim_path = claims_path.index(i);
        if claim.name.is_empty() {
            errors.push(required(&claim_path.child("name"), ""));
        } else if claim_names.contains(&claim.name.as_str()) {
            errors.push(duplicate(&claim_path.child("name"), claim.name.as_str()));
        } else {
            invalid_each(
                errors,
                &claim_path.child("name"),
                &claim.name,
                is_dns1123_label(&claim.name),
            );
            claim_names.push(claim.name.as_str());
        }
        match (&claim.resource_claim_name, &claim.resource_claim_template_name) {
            (Some(_), Some(_)) => errors.push(invalid(
                &claim_path,
                json(claim),
                "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be specified",
            )),
            (None, None) => errors.push(invalid(
                &claim_path,
                json(claim),
                "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`",
            )),
            _ => {}
        }
    }
    let restart_policy = spec.restart_policy.as_deref().unwrap_or_default();
    let ctx = PodContext {
        volumes: valid_volumes,
        claim_names,
        grace_period: spec.termination_grace_period_seconds,
        restart_policy,
        host_users,
    };
    containers(errors, &spec.containers, &ctx, &path.child("containers"));
    if let Some(init) = &spec.init_containers {
        init_containers(
            errors,
            init,
            &spec.containers,
            &ctx,
            &path.child("initContainers"),
        );
    }
    if let Some(ephemeral) = &spec.ephemeral_containers {
        ephemeral_containers(
            errors,
            ephemeral,
            spec,
            &ctx,
            &path.child("ephemeralContainers"),
        );
    }
    if spec.host_network == Some(true) {
        let containers_path = path.child("containers");
        for (ci, container) in spec.containers.iter().enumerate() {
            let container_path = containers_path.index(ci);
            let ports_path = container_path.child("ports");
            for (pi, port) in container.ports.iter().flatten().enumerate() {
                let host_port = port.host_port.unwrap_or_default();
                if (is_pod || host_port != 0) && host_port != port.container_port {
                    errors.push(invalid(
                        &ports_path.index(pi).child("hostPort"),
                        host_port,
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }
    let restart_path = path.child("restartPolicy");
    match restart_policy {
        "" => errors.push(required(&restart_path, "")),
        policy if !RESTART_POLICIES.contains(&policy) => {
            errors.push(not_supported(&restart_path, policy, &RESTART_POLICIES));
        }
        _ => {}
    }
    let dns_policy = spec.dns_policy.as_deref().unwrap_or_default();
    let dns_path = path.child("dnsPolicy");
    match dns_policy {
        "" => errors.push(required(&dns_path, "")),
        policy if !DNS_POLICIES.contains(&policy) => {
            errors.push(not_supported(&dns_path, policy, &DNS_POLICIES));
        }
        _ => {}
    }
    if let Some(selector) = &spec.node_selector {
        labels(errors, selector, &path.child("nodeSelector"));
    }
    pod_security_context(errors, spec, path);
    if let Some(affinity_rules) = &spec.affinity {
        affinity(errors, affinity_rules, &path.child("affinity"));
    }
    dns_config(
        errors,
        spec.dns_config.as_ref(),
        dns_policy,
        &path.child("dnsConfig"),
    );
    let gates_path = path.child("readinessGates");
    for (i, gate) in spec.readiness_gates.iter().flatten().enumerate() {
        invalid_each(
            errors,
            &gates_path.index(i).child("conditionType"),
            &gate.condition_type,
            is_qualified_name(&gate.condition_type),
        );
    }
    let scheduling_path = path.child("schedulingGates");
    let mut seen_gates: BTreeSet<&str> = BTreeSet::new();
    for (i, gate) in spec.scheduling_gates.iter().flatten().enumerate() {
        let gate_path = scheduling_path.index(i);
        invalid_each(
            errors,
            &gate_path,
            &gate.name,
            is_qualified_name(&gate.name),
        );
        if !seen_gates.insert(gate.name.as_str()) {
            errors.push(duplicate(&gate_path, gate.name.as_str()));
        }
    }
    if let Some(list) = &spec.topology_spread_constraints {
        topology_spread_constraints(errors, list, &path.child("topologySpreadConstraints"));
    }
    if !host_users {
        for (enabled, child) in [
            (spec.host_network, "hostNetwork"),
            (spec.host_pid, "hostPID"),
            (spec.host_ipc, "hostIPC"),
        ] {
            if enabled == Some(true) {
                errors.push(forbidden(
                    &path.child(child),
                    "when `pod.Spec.HostUsers` is false",
                ));
            }
        }
    }
    for (value, child) in [
        (&spec.service_account_name, "serviceAccountName"),
        (&spec.node_name, "nodeName"),
        (&spec.priority_class_name, "priorityClassName"),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            invalid_each(
                errors,
                &path.child(child),
                value,
                name_is_dns_subdomain(value, false),
            );
        }
    }
    if let Some(runtime_class) = &spec.runtime_class_name {
        invalid_each(
            errors,
            &path.child("runtimeClassName"),
            runtime_class,
            name_is_dns_subdomain(runtime_class, false),
        );
    }
    if let Some(deadline) = spec
        .active_deadline_seconds
        .filter(|d| !(1..=i64::from(i32::MAX)).contains(d))
    {
        errors.push(invalid(
            &path.child("activeDeadlineSeconds"),
            deadline,
            inclusive_range_error(1, i64::from(i32::MAX)),
        ));
    }
    for (value, child) in [(&spec.hostname, "hostname"), (&spec.subdomain, "subdomain")] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            invalid_each(errors, &path.child(child), value, is_dns1123_label(value));
        }
    }
    if let Some(list) = &spec.tolerations {
        tolerations(errors, list, &path.child("tolerations"));
    }
    let aliases_path = path.child("hostAliases");
    for (i, alias) in spec.host_aliases.iter().flatten().enumerate() {
        let alias_path = aliases_path.index(i);
        invalid_each(
            errors,
            &alias_path.child("ip"),
            &alias.ip,
            is_valid_ip(&alias.ip),
        );
        let hostnames_path = alias_path.child("hostnames");
        for (j, hostname) in alias.hostnames.iter().flatten().enumerate() {
            invalid_each(
                errors,
                &hostnames_path.index(j),
                hostname,
                is_dns1123_subdomain(hostname),
            );
        }
    }
    if let Some(policy) = spec.preemption_policy.as_deref() {
        let policy_path = path.child("preemptionPolicy");
        match policy {
            "PreemptLowerPriority" | "Never" => {}
            "" => errors.push(required(&policy_path, "")),
            other => errors.push(not_supported(
                &policy_path,
                other,
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
    if let Some(overhead) = &spec.overhead {
        let requirements = k8s_openapi::api::core::v1::ResourceRequirements {
            limits: Some(overhead.clone()),
            ..Default::default()
        };
        container_resources(errors, &requirements, &[], &path.child("overhead"));
    }
    if let Some(os) = &spec.os {
        let os_path = path.child("os");
        if os.name.is_empty() {
            errors.push(required(&os_path.child("name"), "cannot be empty"));
        } else if os.name != "linux" && os.name != "windows" {
            errors.push(not_supported(
                &os_path,
                os.name.as_str(),
                &["linux", "windows"],
            ));
        }
    }
}

fn ephemeral_containers(
    errors: &mut FieldErrors,
    list: &[EphemeralContainer],
    spec: &PodSpec,
    ctx: &PodContext<'_>,
    path: &Path<'_>,
) {
    let mut other_names: BTreeSet<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    other_names.extend(
        spec.init_containers
            .iter()
            .flatten()
            .map(|c| c.name.as_str()),
    );
    let mut all_names = other_names.clone();
    for (i, ephemeral) in list.iter().enumerate() {
        let container_path = path.index(i);
        let container = as_container(ephemeral);
        container_common(errors, &container, ctx, &container_path);
        let image = container.image.as_deref().unwrap_or_default();
        if image.trim() != image {
            errors.push(invalid(
                &container_path.child("image"),
                image,
                "must not have leading or trailing whitespace",
            ));
        }
        if !all_names.insert(ephemeral.name.as_str()) {
            errors.push(duplicate(
                &container_path.child("name"),
                ephemeral.name.as_str(),
            ));
        }
        if let Some(target) = ephemeral
            .target_container_name
            .as_deref()
            .filter(|t| !t.is_empty())
        {
            if !other_names.contains(target) {
                errors.push(not_found(
                    &container_path.child("targetContainerName"),
                    target,
                ));
            }
        }
        const WHY: &str = "cannot be set for an Ephemeral Container";
        for (set, child) in [
            (ephemeral.ports.is_some(), "ports"),
            (ephemeral.resources.is_some(), "resources"),
            (ephemeral.lifecycle.is_some(), "lifecycle"),
            (ephemeral.liveness_probe.is_some(), "livenessProbe"),
            (ephemeral.readiness_probe.is_some(), "readinessProbe"),
            (ephemeral.startup_probe.is_some(), "startupProbe"),
            (ephemeral.resize_policy.is_some(), "resizePolicy"),
            (ephemeral.restart_policy.is_some(), "restartPolicy"),
        ] {
            if set {
                errors.push(forbidden(&container_path.child(child), WHY));
            }
        }
        let mounts_path = container_path.child("volumeMounts");
        for (j, mount) in ephemeral.volume_mounts.iter().flatten().enumerate() {
            let mount_path = mounts_path.index(j);
            if mount.sub_path.as_deref().is_some_and(|s| !s.is_empty()) {
                errors.push(forbidden(&mount_path.child("subPath"), WHY));
            }
            if mount
                .sub_path_expr
                .as_deref()
                .is_some_and(|s| !s.is_empty())
            {
                errors.push(forbidden(&mount_path.child("subPathExpr"), WHY));
            }
        }
    }
}

fn as_container(ephemeral: &EphemeralContainer) -> Container {
    Container {
        args: ephemeral.args.clone(),
        command: ephemeral.command.clone(),
        env: ephemeral.env.clone(),
        env_from: ephemeral.env_from.clone(),
        image: ephemeral.image.clone(),
        image_pull_policy: ephemeral.image_pull_policy.clone(),
        name: ephemeral.name.clone(),
        security_context: ephemeral.security_context.clone(),
        stdin: ephemeral.stdin,
        stdin_once: ephemeral.stdin_once,
        termination_message_path: ephemeral.termination_message_path.clone(),
        termination_message_policy: ephemeral.termination_message_policy.clone(),
        tty: ephemeral.tty,
        volume_devices: ephemeral.volume_devices.clone(),
        volume_mounts: ephemeral.volume_mounts.clone(),
        working_dir: ephemeral.working_dir.clone(),
        ..Container::default()
    }
}

fn dns_config(
    errors: &mut FieldErrors,
    config: Option<&PodDNSConfig>,
    dns_policy: &str,
    path: &Path<'_>,
) {
    if dns_policy == "None" {
        match config {
            None => {
                errors.push(required(
                    path,
                    "must provide `dnsConfig` when `dnsPolicy` is None",
                ));
                return;
            }
            Some(c) if c.nameservers.as_ref().is_none_or(Vec::is_empty) => {
                errors.push(required(
                    &path.child("nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                ));
                return;
            }
            Some(_) => {}
        }
    }
    let Some(config) = config else { return };
    let nameservers = config.nameservers.as_deref().unwrap_or_default();
    let nameservers_path = path.child("nameservers");
    if nameservers.len() > 3 {
        errors.push(invalid(
            &nameservers_path,
            json(nameservers),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, server) in nameservers.iter().enumerate() {
        invalid_each(
            errors,
            &nameservers_path.index(i),
            server,
            is_valid_ip(server),
        );
    }
    let searches = config.searches.as_deref().unwrap_or_default();
    let searches_path = path.child("searches");
    if searches.len() > 32 {
        errors.push(invalid(
            &searches_path,
            json(searches),
            "must not have more than 32 search paths",
        ));
    }
    if searches.join(" ").len() > 2048 {
        errors.push(invalid(
            &searches_path,
            json(searches),
            "must not have more than 2048 characters (including spaces) in the search list",
        ));
    }
    for (i, search) in searches.iter().enumerate() {
        if search != "." {
            let trimmed = search.strip_suffix('.').unwrap_or(search);
            invalid_each(
                errors,
                &searches_path.index(i),
                trimmed,
                is_dns1123_subdomain_with_underscore(trimmed),
            );
        }
    }
    let options_path = path.child("options");
    for (i, option) in config.options.iter().flatten().enumerate() {
        if option.name.as_deref().unwrap_or_default().is_empty() {
            errors.push(required(&options_path.index(i), "must not be empty"));
        }
    }
}

/// The kernel namespace a sysctl belongs to, if it is namespaced.
fn sysctl_namespace(name: &str) -> Option<&'static str> {
    let name = name.replace('/', ".");
    if name.starts_with("net.") {
        Some("net")
    } else if name.starts_with("kernel.shm")
        || name.starts_with("kernel.msg")
        || name == "kernel.sem"
        || name.starts_with("fs.mqueue.")
    {
        Some("ipc")
    } else {
        None
    }
}

fn is_valid_sysctl_name(name: &str) -> bool {
    if name.len() > 253 {
        return false;
    }
    let segment_ok = |s: &str| {
        let bytes = s.as_bytes();
        match (bytes.first(), bytes.last()) {
            (Some(f), Some(l)) => {
                (f.is_ascii_lowercase() || f.is_ascii_digit())
                    && (l.is_ascii_lowercase() || l.is_ascii_digit())
                    && bytes.iter().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_'
                    })
            }
            _ => false,
        }
    };
    name.split(['.', '/']).all(segment_ok)
}

fn pod_security_context(errors: &mut FieldErrors, spec: &PodSpec, path: &Path<'_>) {
    if spec.share_process_namespace == Some(true) && spec.host_pid == Some(true) {
        errors.push(invalid(
            &path.child("shareProcessNamespace"),
            true,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    let Some(context) = &spec.security_context else {
        return;
    };
    let context_path = path.child("securityContext");
    security_context_fields(errors, context, spec, &context_path);
}

fn security_context_fields(
    errors: &mut FieldErrors,
    context: &PodSecurityContext,
    spec: &PodSpec,
    path: &Path<'_>,
) {
    id_range(errors, context.fs_group, &path.child("fsGroup"));
    id_range(errors, context.run_as_user, &path.child("runAsUser"));
    id_range(errors, context.run_as_group, &path.child("runAsGroup"));
    let groups_path = path.child("supplementalGroups");
    for (i, group) in context.supplemental_groups.iter().flatten().enumerate() {
        id_range(errors, Some(*group), &groups_path.index(i));
    }
    let sysctls_path = path.child("sysctls");
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for (i, sysctl) in context.sysctls.iter().flatten().enumerate() {
        let name_path = sysctls_path.index(i);
        let name_path = name_path.child("name");
        if sysctl.name.is_empty() {
            errors.push(required(&name_path, ""));
        } else if !is_valid_sysctl_name(&sysctl.name) {
            errors.push(invalid(
                &name_path,
                sysctl.name.as_str(),
                "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$",
            ));
        } else if names.contains(sysctl.name.as_str()) {
            errors.push(duplicate(&name_path, sysctl.name.as_str()));
        }
        match sysctl_namespace(&sysctl.name) {
            Some("net") if spec.host_network == Some(true) => errors.push(invalid(
                &name_path,
                sysctl.name.as_str(),
                "may not be specified when 'hostNetwork' is true",
            )),
            Some("ipc") if spec.host_ipc == Some(true) => errors.push(invalid(
                &name_path,
                sysctl.name.as_str(),
                "may not be specified when 'hostIPC' is true",
            )),
            _ => {}
        }
        names.insert(sysctl.name.as_str());
    }
    for (value, child, supported) in [
        (
            &context.fs_group_change_policy,
            "fsGroupChangePolicy",
            ["Always", "OnRootMismatch"],
        ),
        (
            &context.supplemental_groups_policy,
            "supplementalGroupsPolicy",
            ["Merge", "Strict"],
        ),
        (
            &context.se_linux_change_policy,
            "seLinuxChangePolicy",
            ["MountOption", "Recursive"],
        ),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !supported.contains(v)) {
            errors.push(not_supported(&path.child(child), value, &supported));
        }
    }
    if let Some(profile) = &context.seccomp_profile {
        seccomp_profile(errors, profile, &path.child("seccompProfile"));
    }
    if let Some(profile) = &context.app_armor_profile {
        app_armor_profile(errors, profile, &path.child("appArmorProfile"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "resourceVersion": "1"},
            "spec": {
                "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                "terminationGracePeriodSeconds": 30,
                "containers": [{
                    "name": "app", "image": "nginx:1.27",
                    "imagePullPolicy": "IfNotPresent", "terminationMessagePolicy": "File",
                    "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}]
                }]
            }
        })
    }

    #[test]
    fn a_minimal_defaulted_pod_is_valid() {
        assert_eq!(validate_pod(&pod(base())), FieldErrors::new());
    }

    #[test]
    fn container_names_are_unique_across_init_and_app_containers() {
        let mut json = base();
        json["spec"]["initContainers"] = json["spec"]["containers"].clone();
        json["spec"]["initContainers"][0]["ports"] = serde_json::json!([]);
        let errors = validate_pod(&pod(json));
        assert_eq!(
            errors[0].to_string(),
            "spec.initContainers[0].name: Duplicate value: \"app\""
        );
    }

    #[test]
    fn pod_updates_may_only_change_images() {
        let old = pod(base());
        let mut new = old.clone();
        new.spec.as_mut().unwrap().containers[0].image = Some("nginx:1.28".into());
        assert!(validate_pod_update(&new, &old).is_empty());
        new.spec.as_mut().unwrap().dns_policy = Some("Default".into());
        let errors = validate_pod_update(&new, &old);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field.as_str(), "spec");
        assert!(
            errors[0]
                .detail
                .starts_with("pod updates may not change fields other than")
        );
        assert!(errors[0].detail.ends_with("changed: spec.dnsPolicy"));
    }

    #[test]
    fn tolerations_may_only_be_added() {
        let mut json = base();
        json["spec"]["tolerations"] = serde_json::json!([{"key": "a", "operator": "Exists"}]);
        let old = pod(json);
        let mut new = old.clone();
        new.spec
            .as_mut()
            .unwrap()
            .tolerations
            .as_mut()
            .unwrap()
            .push(
                serde_json::from_value(serde_json::json!({"key": "b", "operator": "Exists"}))
                    .unwrap(),
            );
        assert!(validate_pod_update(&new, &old).is_empty());
        new.spec.as_mut().unwrap().tolerations = None;
        let errors = validate_pod_update(&new, &old);
        assert_eq!(errors[0].field.as_str(), "spec.tolerations");
    }
}
