//! Where pods may run: node selectors and node affinity (label syntax, operators and their
//! values), pod affinity and anti-affinity terms, tolerations (operators and effects), topology
//! spread constraints, and the taints of nodes that tolerations answer.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Affinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodAffinityTerm, Taint,
    Toleration, TopologySpreadConstraint, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::field_error::{FieldError, FieldErrors};
use super::metadata::label_key;
use super::names::{
    IS_NOT_POSITIVE, is_valid_label_value, name_is_dns_label, name_is_dns_subdomain,
};
use super::path::{
    Path, duplicate, forbidden, invalid, invalid_each, json, not_supported, required,
};
use super::selector::label_selector;

const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// Checks `spec.affinity` of a pod.
pub(crate) fn affinity(errors: &mut FieldErrors, affinity: &Affinity, path: &Path<'_>) {
    if let Some(node) = &affinity.node_affinity {
        let node_path = path.child("nodeAffinity");
        if let Some(required_terms) = &node.required_during_scheduling_ignored_during_execution {
            node_selector(
                errors,
                required_terms,
                false,
                &node_path.child("requiredDuringSchedulingIgnoredDuringExecution"),
            );
        }
        if let Some(preferred) = &node.preferred_during_scheduling_ignored_during_execution {
            let preferred_path = node_path.child("preferredDuringSchedulingIgnoredDuringExecution");
            for (i, term) in preferred.iter().enumerate() {
                let term_path = preferred_path.index(i);
                if !(1..=100).contains(&term.weight) {
                    errors.push(invalid(
                        &term_path.child("weight"),
                        term.weight,
                        "must be in the range 1-100",
                    ));
                }
                node_selector_term(
                    errors,
                    &term.preference,
                    true,
                    &term_path.child("preference"),
                );
            }
        }
    }
    for (terms, child) in [
        (
            affinity.pod_affinity.as_ref().map(|a| {
                (
                    &a.required_during_scheduling_ignored_during_execution,
                    &a.preferred_during_scheduling_ignored_during_execution,
                )
            }),
            "podAffinity",
        ),
        (
            affinity.pod_anti_affinity.as_ref().map(|a| {
                (
                    &a.required_during_scheduling_ignored_during_execution,
                    &a.preferred_during_scheduling_ignored_during_execution,
                )
            }),
            "podAntiAffinity",
        ),
    ] {
        let Some((required_terms, preferred)) = terms else {
            continue;
        };
        let pod_path = path.child(child);
        if let Some(list) = required_terms {
            let list_path = pod_path.child("requiredDuringSchedulingIgnoredDuringExecution");
            for (i, term) in list.iter().enumerate() {
                pod_affinity_term(errors, term, &list_path.index(i));
            }
        }
        if let Some(list) = preferred {
            let list_path = pod_path.child("preferredDuringSchedulingIgnoredDuringExecution");
            for (i, weighted) in list.iter().enumerate() {
                weighted_term(errors, weighted, &list_path.index(i));
            }
        }
    }
}

fn weighted_term(errors: &mut FieldErrors, weighted: &WeightedPodAffinityTerm, path: &Path<'_>) {
    if !(1..=100).contains(&weighted.weight) {
        errors.push(invalid(
            &path.child("weight"),
            weighted.weight,
            "must be in the range 1-100",
        ));
    }
    pod_affinity_term(
        errors,
        &weighted.pod_affinity_term,
        &path.child("podAffinityTerm"),
    );
}

fn pod_affinity_term(errors: &mut FieldErrors, term: &PodAffinityTerm, path: &Path<'_>) {
    if let Some(selector) = &term.label_selector {
        label_selector(errors, selector, &path.child("labelSelector"));
    }
    if let Some(selector) = &term.namespace_selector {
        label_selector(errors, selector, &path.child("namespaceSelector"));
    }
    for namespace in term.namespaces.iter().flatten() {
        invalid_each(
            errors,
            &path.child("namespace"),
            namespace,
            name_is_dns_label(namespace, false),
        );
    }
    match_label_keys(
        errors,
        term.match_label_keys.as_deref().unwrap_or_default(),
        term.mismatch_label_keys.as_deref().unwrap_or_default(),
        term.label_selector.as_ref(),
        path,
    );
    if term.topology_key.is_empty() {
        errors.push(required(&path.child("topologyKey"), "can not be empty"));
    }
    label_key(errors, &term.topology_key, &path.child("topologyKey"));
}

fn match_label_keys(
    errors: &mut FieldErrors,
    match_keys: &[String],
    mismatch_keys: &[String],
    selector: Option<&LabelSelector>,
    path: &Path<'_>,
) {
    for (keys, child) in [
        (match_keys, "matchLabelKeys"),
        (mismatch_keys, "mismatchLabelKeys"),
    ] {
        if keys.is_empty() {
            continue;
        }
        let keys_path = path.child(child);
        if selector.is_none() {
            errors.push(forbidden(
                &keys_path,
                "must not be specified when labelSelector is not set",
            ));
            continue;
        }
        for (i, key) in keys.iter().enumerate() {
            label_key(errors, key, &keys_path.index(i));
        }
    }
    for (i, key) in match_keys.iter().enumerate() {
        if mismatch_keys.contains(key) {
            errors.push(invalid(
                &path.child("matchLabelKeys").index(i),
                key.as_str(),
                "exists in both matchLabelKeys and mismatchLabelKeys",
            ));
        }
    }
}

/// Checks a required node selector (node affinity, PersistentVolume node affinity).
pub(crate) fn node_selector(
    errors: &mut FieldErrors,
    selector: &NodeSelector,
    allow_invalid_values: bool,
    path: &Path<'_>,
) {
    let terms_path = path.child("nodeSelectorTerms");
    if selector.node_selector_terms.is_empty() {
        errors.push(required(
            &terms_path,
            "must have at least one node selector term",
        ));
        return;
    }
    for (i, term) in selector.node_selector_terms.iter().enumerate() {
        node_selector_term(errors, term, allow_invalid_values, &terms_path.index(i));
    }
}

fn node_selector_term(
    errors: &mut FieldErrors,
    term: &NodeSelectorTerm,
    allow_invalid_values: bool,
    path: &Path<'_>,
) {
    let expressions_path = path.child("matchExpressions");
    for (j, requirement) in term.match_expressions.iter().flatten().enumerate() {
        node_selector_requirement(
            errors,
            requirement,
            allow_invalid_values,
            &expressions_path.index(j),
        );
    }
    let fields_path = path.child("matchFields");
    for (j, requirement) in term.match_fields.iter().flatten().enumerate() {
        node_field_requirement(errors, requirement, &fields_path.index(j));
    }
}

fn node_selector_requirement(
    errors: &mut FieldErrors,
    requirement: &NodeSelectorRequirement,
    allow_invalid_values: bool,
    path: &Path<'_>,
) {
    let values = requirement.values.as_deref().unwrap_or_default();
    let values_path = path.child("values");
    match requirement.operator.as_str() {
        "In" | "NotIn" => {
            if values.is_empty() {
                errors.push(required(
                    &values_path,
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                errors.push(forbidden(
                    &values_path,
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
        }
        "Gt" | "Lt" => {
            if values.len() != 1 {
                errors.push(required(
                    &values_path,
                    "must be specified single value when `operator` is 'Lt' or 'Gt'",
                ));
            }
        }
        other => errors.push(invalid(
            &path.child("operator"),
            other,
            "not a valid selector operator",
        )),
    }
    label_key(errors, &requirement.key, &path.child("key"));
    if !allow_invalid_values {
        for (i, value) in values.iter().enumerate() {
            invalid_each(
                errors,
                &values_path.index(i),
                value,
                is_valid_label_value(value),
            );
        }
    }
}

fn node_field_requirement(
    errors: &mut FieldErrors,
    requirement: &NodeSelectorRequirement,
    path: &Path<'_>,
) {
    let values = requirement.values.as_deref().unwrap_or_default();
    match requirement.operator.as_str() {
        "In" | "NotIn" => {
            if values.len() != 1 {
                errors.push(required(
                    &path.child("values"),
                    "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                ));
            }
        }
        other => errors.push(invalid(
            &path.child("operator"),
            other,
            "not a valid selector operator",
        )),
    }
    if requirement.key != "metadata.name" {
        errors.push(invalid(
            &path.child("key"),
            requirement.key.as_str(),
            "not a valid field selector key",
        ));
    } else {
        let values_path = path.child("values");
        for (i, value) in values.iter().enumerate() {
            invalid_each(
                errors,
                &values_path.index(i),
                value,
                name_is_dns_subdomain(value, false),
            );
        }
    }
}

/// Checks tolerations: keys are label keys, an empty key needs `Exists`, operators are `Equal`
/// or `Exists`, `tolerationSeconds` needs `NoExecute`, effects are known.
pub(crate) fn tolerations(errors: &mut FieldErrors, list: &[Toleration], path: &Path<'_>) {
    for (i, toleration) in list.iter().enumerate() {
        let toleration_path = path.index(i);
        let key = toleration.key.as_deref().unwrap_or_default();
        let operator = toleration.operator.as_deref().unwrap_or_default();
        let effect = toleration.effect.as_deref().unwrap_or_default();
        let value = toleration.value.as_deref().unwrap_or_default();
        let operator_path = toleration_path.child("operator");
        if !key.is_empty() {
            label_key(errors, key, &toleration_path.child("key"));
        }
        if key.is_empty() && operator != "Exists" {
            errors.push(invalid(
                &operator_path,
                operator,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if toleration.toleration_seconds.is_some() && effect != "NoExecute" {
            errors.push(invalid(
                &toleration_path.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match operator {
            "Equal" | "" => {
                let messages = is_valid_label_value(value);
                if !messages.is_empty() {
                    errors.push(invalid(&operator_path, value, messages.join(";")));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errors.push(invalid(
                        &operator_path,
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errors.push(not_supported(&operator_path, other, &["Equal", "Exists"])),
        }
        if !effect.is_empty() && !TAINT_EFFECTS.contains(&effect) {
            errors.push(not_supported(
                &toleration_path.child("effect"),
                effect,
                &TAINT_EFFECTS,
            ));
        }
    }
}

/// Checks the taints of a node: label-syntax keys and values, a known effect, and no two taints
/// with the same key and effect.
pub(crate) fn taints(errors: &mut FieldErrors, list: &[Taint], path: &Path<'_>) {
    let mut seen: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (i, taint) in list.iter().enumerate() {
        let taint_path = path.index(i);
        label_key(errors, &taint.key, &taint_path.child("key"));
        let value = taint.value.as_deref().unwrap_or_default();
        let messages = is_valid_label_value(value);
        if !messages.is_empty() {
            errors.push(invalid(
                &taint_path.child("value"),
                value,
                messages.join(";"),
            ));
        }
        let effect_path = taint_path.child("effect");
        match taint.effect.as_str() {
            "" => errors.push(required(&effect_path, "")),
            effect if !TAINT_EFFECTS.contains(&effect) => {
                errors.push(not_supported(&effect_path, effect, &TAINT_EFFECTS));
            }
            _ => {}
        }
        let keys = seen.entry(taint.effect.as_str()).or_default();
        if !keys.insert(taint.key.as_str()) {
            let mut error: FieldError = duplicate(&taint_path, json(taint));
            error.detail = "taints must be unique by key and effect pair".to_owned();
            errors.push(error);
        }
    }
}

/// Checks topology spread constraints.
pub(crate) fn topology_spread_constraints(
    errors: &mut FieldErrors,
    list: &[TopologySpreadConstraint],
    path: &Path<'_>,
) {
    for (i, constraint) in list.iter().enumerate() {
        let constraint_path = path.index(i);
        if constraint.max_skew <= 0 {
            errors.push(invalid(
                &constraint_path.child("maxSkew"),
                constraint.max_skew,
                IS_NOT_POSITIVE,
            ));
        }
        if constraint.topology_key.is_empty() {
            errors.push(required(
                &constraint_path.child("topologyKey"),
                "can not be empty",
            ));
        }
        let when = constraint.when_unsatisfiable.as_str();
        if when != "DoNotSchedule" && when != "ScheduleAnyway" {
            errors.push(not_supported(
                &constraint_path.child("whenUnsatisfiable"),
                when,
                &["DoNotSchedule", "ScheduleAnyway"],
            ));
        }
        let repeated = list[i + 1..].iter().any(|other| {
            other.topology_key == constraint.topology_key
                && other.when_unsatisfiable == constraint.when_unsatisfiable
        });
        if repeated {
            errors.push(duplicate(
                &constraint_path.child("{topologyKey, whenUnsatisfiable}"),
                format!("{{{}, {}}}", constraint.topology_key, when),
            ));
        }
        if let Some(min_domains) = constraint.min_domains {
            let min_path = constraint_path.child("minDomains");
            if min_domains <= 0 {
                errors.push(invalid(&min_path, min_domains, IS_NOT_POSITIVE));
            }
            if when != "DoNotSchedule" {
                errors.push(invalid(
                    &min_path,
                    min_domains,
                    format!(
                        "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {when}"
                    ),
                ));
            }
        }
        for (policy, child) in [
            (&constraint.node_affinity_policy, "nodeAffinityPolicy"),
            (&constraint.node_taints_policy, "nodeTaintsPolicy"),
        ] {
            if let Some(policy) = policy
                .as_deref()
                .filter(|p| *p != "Honor" && *p != "Ignore")
            {
                errors.push(not_supported(
                    &constraint_path.child(child),
                    policy,
                    &["Honor", "Ignore"],
                ));
            }
        }
        let keys = constraint.match_label_keys.as_deref().unwrap_or_default();
        if !keys.is_empty() {
            let keys_path = constraint_path.child("matchLabelKeys");
            if constraint.label_selector.is_none() {
                errors.push(forbidden(
                    &keys_path,
                    "must not be specified when labelSelector is not set",
                ));
            }
            for (k, key) in keys.iter().enumerate() {
                label_key(errors, key, &keys_path.index(k));
            }
        }
        if let Some(selector) = &constraint.label_selector {
            label_selector(errors, selector, &constraint_path.child("labelSelector"));
        }
    }
}
