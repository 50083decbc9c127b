//! HorizontalPodAutoscalers (`autoscaling/v2`): a scale target, `1 <= minReplicas <=
//! maxReplicas`, metrics of one known source each with a sensible target, and scaling behavior.

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HPAScalingRules, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget,
};

use super::field_error::FieldErrors;
use super::metadata::{NamespaceRule, identity_update, object_meta};
use super::names::{IS_NOT_POSITIVE, name_is_dns_subdomain, path_segment_name};
use super::path::{Path, forbidden, invalid, invalid_each, not_supported, required};
use super::resources::milli_value;
use super::selector::label_selector;

const METRIC_TYPES: [&str; 5] = [
    "ContainerResource",
    "External",
    "Object",
    "Pods",
    "Resource",
];

fn object_reference(
    errors: &mut FieldErrors,
    reference: &CrossVersionObjectReference,
    path: &Path<'_>,
) {
    for (value, child) in [(&reference.kind, "kind"), (&reference.name, "name")] {
        let value_path = path.child(child);
        if value.is_empty() {
            errors.push(required(&value_path, ""));
        } else {
            invalid_each(errors, &value_path, value, path_segment_name(value, false));
        }
    }
}

fn target(errors: &mut FieldErrors, target: &MetricTarget, path: &Path<'_>) {
    let type_path = path.child("type");
    if target.type_.is_empty() {
        errors.push(required(&type_path, "must specify a metric target type"));
    }
    if !["Utilization", "Value", "AverageValue"].contains(&target.type_.as_str()) {
        errors.push(invalid(
            &type_path,
            target.type_.as_str(),
            "must be either Utilization, Value, or AverageValue",
        ));
    }
    for (value, child) in [
        (&target.value, "value"),
        (&target.average_value, "averageValue"),
    ] {
        if let Some(quantity) = value {
            if !matches!(milli_value(quantity), Ok(v) if v > 0) {
                errors.push(invalid(
                    &path.child(child),
                    quantity.0.as_str(),
                    "must be positive",
                ));
            }
        }
    }
    if let Some(utilization) = target.average_utilization.filter(|u| *u < 1) {
        errors.push(invalid(
            &path.child("averageUtilization"),
            utilization,
            "must be greater than 0",
        ));
    }
}

fn metric(errors: &mut FieldErrors, spec: &MetricSpec, path: &Path<'_>) {
    let type_path = path.child("type");
    let kind = spec.type_.as_str();
    if kind.is_empty() {
        errors.push(required(&type_path, "must specify a metric source type"));
    }
    let present = [
        (
            spec.container_resource.is_some(),
            "ContainerResource",
            "containerResource",
        ),
        (spec.external.is_some(), "External", "external"),
        (spec.object.is_some(), "Object", "object"),
        (spec.pods.is_some(), "Pods", "pods"),
        (spec.resource.is_some(), "Resource", "resource"),
    ];
    match present.iter().find(|(_, name, _)| *name == kind) {
        None => errors.push(not_supported(&type_path, kind, &METRIC_TYPES)),
        Some((false, _, child)) => errors.push(required(
            &path.child(child),
            "must populate information for the given metric source",
        )),
        Some(_) => {}
    }
    for (set, name, child) in present {
        if set && name != kind {
            errors.push(forbidden(
                &path.child(child),
                "must populate the given metric source only",
            ));
        }
    }
    let raw_or_average = |errors: &mut FieldErrors, t: &MetricTarget, target_path: &Path<'_>| {
        if t.value.is_none() && t.average_value.is_none() {
            errors.push(required(
                &target_path.child("averageValue"),
                "must set either a target value or averageValue",
            ));
        }
    };
    if let Some(source) = &spec.resource {
        let source_path = path.child("resource");
        resource_target(errors, &source.name, &source.target, &source_path);
    }
    if let Some(source) = &spec.container_resource {
        let source_path = path.child("containerResource");
        if source.container.is_empty() {
            errors.push(required(
                &source_path.child("container"),
                "must specify a container",
            ));
        }
        resource_target(errors, &source.name, &source.target, &source_path);
    }
    for (identifier, metric_target, child) in [
        (
            spec.pods.as_ref().map(|p| &p.metric),
            spec.pods.as_ref().map(|p| &p.target),
            "pods",
        ),
        (
            spec.object.as_ref().map(|o| &o.metric),
            spec.object.as_ref().map(|o| &o.target),
            "object",
        ),
        (
            spec.external.as_ref().map(|e| &e.metric),
            spec.external.as_ref().map(|e| &e.target),
            "external",
        ),
    ] {
        let (Some(identifier), Some(metric_target)) = (identifier, metric_target) else {
            continue;
        };
        let source_path = path.child(child);
        let metric_path = source_path.child("metric");
        if identifier.name.is_empty() {
            errors.push(required(
                &metric_path.child("name"),
                "must specify a metric name",
            ));
        }
        if let Some(selector) = &identifier.selector {
            label_selector(errors, selector, &metric_path.child("selector"));
        }
        let target_path = source_path.child("target");
        target(errors, metric_target, &target_path);
        if child == "pods" {
            if metric_target.average_value.is_none() {
                errors.push(required(
                    &target_path.child("averageValue"),
                    "must specify a positive target averageValue",
                ));
            }
        } else {
            raw_or_average(errors, metric_target, &target_path);
        }
    }
    if let Some(source) = &spec.object {
        object_reference(
            errors,
            &source.described_object,
            &path.child("object").child("describedObject"),
        );
    }
}

fn resource_target(errors: &mut FieldErrors, name: &str, t: &MetricTarget, path: &Path<'_>) {
    if name.is_empty() {
        errors.push(required(
            &path.child("name"),
            "must specify a resource name",
        ));
    }
    let target_path = path.child("target");
    target(errors, t, &target_path);
    match (t.average_utilization, &t.average_value) {
        (None, None) => errors.push(required(
            &target_path.child("averageUtilization"),
            "must set either a target raw value or a target utilization",
        )),
        (Some(_), Some(value)) => errors.push(invalid(
            &target_path.child("averageValue"),
            value.0.as_str(),
            "may not set both a target raw value and a target utilization",
        )),
        _ => {}
    }
}

fn scaling_rules(errors: &mut FieldErrors, rules: &HPAScalingRules, path: &Path<'_>) {
    if let Some(policy) = rules
        .select_policy
        .as_deref()
        .filter(|p| !["Disabled", "Max", "Min"].contains(p))
    {
        errors.push(not_supported(
            &path.child("selectPolicy"),
            policy,
            &["Disabled", "Max", "Min"],
        ));
    }
    if let Some(window) = rules.stabilization_window_seconds {
        let window_path = path.child("stabilizationWindowSeconds");
        if window < 0 {
            errors.push(invalid(
                &window_path,
                window,
                "must be greater than or equal to zero",
            ));
        }
        if window > 3600 {
            errors.push(invalid(
                &window_path,
                window,
                "must be less than or equal to 3600",
            ));
        }
    }
    let policies = rules.policies.as_deref().unwrap_or_default();
    let policies_path = path.child("policies");
    if policies.is_empty() && rules.select_policy.as_deref() != Some("Disabled") {
        errors.push(required(&policies_path, "must specify at least one Policy"));
    }
    for (i, policy) in policies.iter().enumerate() {
        let policy_path = policies_path.index(i);
        if policy.type_ != "Pods" && policy.type_ != "Percent" {
            errors.push(not_supported(
                &policy_path.child("type"),
                policy.type_.as_str(),
                &["Percent", "Pods"],
            ));
        }
        if policy.value <= 0 {
            errors.push(invalid(
                &policy_path.child("value"),
                policy.value,
                IS_NOT_POSITIVE,
            ));
        }
        let period_path = policy_path.child("periodSeconds");
        if policy.period_seconds <= 0 {
            errors.push(invalid(
                &period_path,
                policy.period_seconds,
                IS_NOT_POSITIVE,
            ));
        }
        if policy.period_seconds > 1800 {
            errors.push(invalid(
                &period_path,
                policy.period_seconds,
                "must be less than or equal to 1800",
            ));
        }
    }
}

fn autoscaler_spec(errors: &mut FieldErrors, spec: &HorizontalPodAutoscalerSpec, path: &Path<'_>) {
    if let Some(min) = spec.min_replicas.filter(|m| *m < 1) {
        errors.push(invalid(
            &path.child("minReplicas"),
            min,
            "must be greater than or equal to 1",
        ));
    }
    let max_path = path.child("maxReplicas");
    if spec.max_replicas < 1 {
        errors.push(invalid(
            &max_path,
            spec.max_replicas,
            "must be greater than 0",
        ));
    }
    if spec.min_replicas.is_some_and(|min| spec.max_replicas < min) {
        errors.push(invalid(
            &max_path,
            spec.max_replicas,
            "must be greater than or equal to `minReplicas`",
        ));
    }
    let before = errors.len();
    object_reference(
        errors,
        &spec.scale_target_ref,
        &path.child("scaleTargetRef"),
    );
    if errors.len() == before {
        let metrics_path = path.child("metrics");
        for (i, metric_spec) in spec.metrics.iter().flatten().enumerate() {
            metric(errors, metric_spec, &metrics_path.index(i));
        }
    }
    if let Some(behavior) = &spec.behavior {
        let behavior_path = path.child("behavior");
        for (rules, child) in [
            (&behavior.scale_up, "scaleUp"),
            (&behavior.scale_down, "scaleDown"),
        ] {
            if let Some(rules) = rules {
                scaling_rules(errors, rules, &behavior_path.child(child));
            }
        }
    }
}

/// Checks a HorizontalPodAutoscaler (on create and update alike).
pub fn validate_horizontal_pod_autoscaler(autoscaler: &HorizontalPodAutoscaler) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &autoscaler.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let default_spec = HorizontalPodAutoscalerSpec::default();
    autoscaler_spec(
        &mut errors,
        autoscaler.spec.as_ref().unwrap_or(&default_spec),
        &Path::root("spec"),
    );
    errors
}

/// Checks a HorizontalPodAutoscaler replacing `old`.
pub fn validate_horizontal_pod_autoscaler_update(
    new: &HorizontalPodAutoscaler,
    old: &HorizontalPodAutoscaler,
) -> FieldErrors {
    let mut errors = validate_horizontal_pod_autoscaler(new);
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    errors
}
