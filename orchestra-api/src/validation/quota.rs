//! Resource policy of a namespace: LimitRanges (known limit types, consistent min ≤ default
//! request ≤ default ≤ max, ratios of at least 1) and ResourceQuotas (quota resource names,
//! non-negative amounts, compatible scopes that never change).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota, ResourceQuotaSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::field_error::FieldErrors;
use super::metadata::{NamespaceRule, identity_update, object_meta, object_meta_update};
use super::names::{FIELD_IMMUTABLE, is_qualified_name, name_is_dns_subdomain};
use super::path::{Path, duplicate, forbidden, invalid, invalid_each, json, required};
use super::resources::{
    container_resource_name, is_huge_page_resource, is_overcommit_allowed, milli_value,
    quota_resource_name, resource_name, resource_quantity,
};

const LIMIT_TYPES: [&str; 3] = ["Pod", "Container", "PersistentVolumeClaim"];

/// Checks a LimitRange.
pub fn validate_limit_range(limit_range: &LimitRange) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &limit_range.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let spec_path = Path::root("spec");
    let limits_path = spec_path.child("limits");
    let mut types: BTreeSet<&str> = BTreeSet::new();
    let limits = limit_range.spec.as_ref().map(|s| s.limits.as_slice());
    for (i, limit) in limits.unwrap_or_default().iter().enumerate() {
        let limit_path = limits_path.index(i);
        let type_path = limit_path.child("type");
        let kind = limit.type_.as_str();
        let messages = is_qualified_name(kind);
        if !messages.is_empty() {
            invalid_each(&mut errors, &type_path, kind, messages);
        } else if !kind.contains('/') && !LIMIT_TYPES.contains(&kind) {
            errors.push(invalid(
                &type_path,
                kind,
                "must be a standard limit type or fully qualified",
            ));
        }
        if !types.insert(kind) {
            errors.push(duplicate(&type_path, kind));
        }
        let check_names = |errors: &mut FieldErrors,
                           map: &Option<BTreeMap<String, Quantity>>,
                           child: &str|
         -> BTreeMap<String, (String, i128)> {
            let map_path = limit_path.child(child);
            let mut values = BTreeMap::new();
            for (name, quantity) in map.iter().flatten() {
                let entry_path = map_path.key(name);
                if kind == "Pod" || kind == "Container" {
                    container_resource_name(errors, name, &entry_path);
                } else {
                    resource_name(errors, name, &entry_path);
                }
                if let Ok(value) = milli_value(quantity) {
                    values.insert(name.clone(), (quantity.0.clone(), value));
                } else {
                    errors.push(invalid(
                        &entry_path,
                        quantity.0.as_str(),
                        super::resources::QUANTITY_FORMAT_ERROR,
                    ));
                }
            }
            values
        };
        let max = check_names(&mut errors, &limit.max, "max");
        let min = check_names(&mut errors, &limit.min, "min");
        let (defaults, default_requests) = if kind == "Pod" {
            if limit.default.as_ref().is_some_and(|d| !d.is_empty()) {
                errors.push(forbidden(
                    &limit_path.child("default"),
                    "may not be specified when `type` is 'Pod'",
                ));
            }
            if limit
                .default_request
                .as_ref()
                .is_some_and(|d| !d.is_empty())
            {
                errors.push(forbidden(
                    &limit_path.child("defaultRequest"),
                    "may not be specified when `type` is 'Pod'",
                ));
            }
            (BTreeMap::new(), BTreeMap::new())
        } else {
            (
                check_names(&mut errors, &limit.default, "default"),
                check_names(&mut errors, &limit.default_request, "defaultRequest"),
            )
        };
        if kind == "PersistentVolumeClaim"
            && !min.contains_key("storage")
            && !max.contains_key("storage")
        {
            errors.push(required(
                &limit_path.child("limits"),
                "either minimum or maximum storage value is required, but neither was provided",
            ));
        }
        let ratios = check_names(
            &mut errors,
            &limit.max_limit_request_ratio,
            "maxLimitRequestRatio",
        );
        let keys: BTreeSet<&String> = max
            .keys()
            .chain(min.keys())
            .chain(defaults.keys())
            .chain(default_requests.keys())
            .chain(ratios.keys())
            .collect();
        for key in keys {
            let (min_q, max_q) = (min.get(key), max.get(key));
            let (default_q, request_q) = (defaults.get(key), default_requests.get(key));
            let key_path = |child: &str| (child.to_owned(), key.clone());
            let report = |errors: &mut FieldErrors,
                          (child, key): (String, String),
                          value: &str,
                          message: String| {
                let field_path = limit_path.child(&child);
                errors.push(invalid(&field_path.key(&key), value, message));
            };
            if let (Some(min_q), Some(max_q)) = (min_q, max_q) {
                if min_q.1 > max_q.1 {
                    report(
                        &mut errors,
                        key_path("min"),
                        &min_q.0,
                        format!(
                            "min value {} is greater than max value {}",
                            min_q.0, max_q.0
                        ),
                    );
                }
            }
            if let (Some(request_q), Some(min_q)) = (request_q, min_q) {
                if min_q.1 > request_q.1 {
                    report(
                        &mut errors,
                        key_path("defaultRequest"),
                        &request_q.0,
                        format!(
                            "min value {} is greater than default request value {}",
                            min_q.0, request_q.0
                        ),
                    );
                }
            }
            if let (Some(request_q), Some(max_q)) = (request_q, max_q) {
                if request_q.1 > max_q.1 {
                    report(
                        &mut errors,
                        key_path("defaultRequest"),
                        &request_q.0,
                        format!(
                            "default request value {} is greater than max value {}",
                            request_q.0, max_q.0
                        ),
                    );
                }
            }
            if let (Some(request_q), Some(default_q)) = (request_q, default_q) {
                if request_q.1 > default_q.1 {
                    report(
                        &mut errors,
                        key_path("defaultRequest"),
                        &request_q.0,
                        format!(
                            "default request value {} is greater than default limit value {}",
                            request_q.0, default_q.0
                        ),
                    );
                }
            }
            if let (Some(default_q), Some(min_q)) = (default_q, min_q) {
                if min_q.1 > default_q.1 {
                    report(
                        &mut errors,
                        key_path("default"),
                        &min_q.0,
                        format!(
                            "min value {} is greater than default value {}",
                            min_q.0, default_q.0
                        ),
                    );
                }
            }
            if let (Some(default_q), Some(max_q)) = (default_q, max_q) {
                if default_q.1 > max_q.1 {
                    report(
                        &mut errors,
                        key_path("default"),
                        &max_q.0,
                        format!(
                            "default value {} is greater than max value {}",
                            default_q.0, max_q.0
                        ),
                    );
                }
            }
            if let Some(ratio) = ratios.get(key) {
                if ratio.1 < 1000 {
                    report(
                        &mut errors,
                        key_path("maxLimitRequestRatio"),
                        &ratio.0,
                        format!("ratio {} is less than 1", ratio.0),
                    );
                }
                if let (Some(min_q), Some(max_q)) = (min_q, max_q) {
                    if min_q.1 > 0 {
                        let limit = max_q.1 as f64 / min_q.1 as f64;
                        if ratio.1 as f64 / 1000.0 > limit {
                            report(
                                &mut errors,
                                key_path("maxLimitRequestRatio"),
                                &ratio.0,
                                format!("ratio {} is greater than max/min = {limit:.6}", ratio.0),
                            );
                        }
                    }
                }
            }
            let overcommit = is_overcommit_allowed(key) && !is_huge_page_resource(key);
            if let (Some(default_q), Some(request_q)) = (default_q, request_q) {
                if !overcommit && default_q.1 != request_q.1 {
                    report(
                        &mut errors,
                        key_path("defaultRequest"),
                        &request_q.0,
                        format!(
                            "default value {} must equal to defaultRequest value {} in {key}",
                            default_q.0, request_q.0
                        ),
                    );
                }
            }
        }
    }
    errors
}

/// Checks a LimitRange replacing `old`.
pub fn validate_limit_range_update(new: &LimitRange, old: &LimitRange) -> FieldErrors {
    let mut errors = validate_limit_range(new);
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    errors
}

const STANDARD_SCOPES: [&str; 6] = [
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
];

fn scope_valid_for(scope: &str, resource: &str) -> bool {
    let pod_count = resource == "pods";
    let pod_compute = matches!(
        resource,
        "cpu" | "memory" | "limits.cpu" | "limits.memory" | "requests.cpu" | "requests.memory"
    );
    match scope {
        "Terminating"
        | "NotTerminating"
        | "NotBestEffort"
        | "PriorityClass"
        | "CrossNamespacePodAffinity" => pod_count || pod_compute,
        "BestEffort" => pod_count,
        _ => true,
    }
}

fn is_standard_quota_resource(name: &str) -> bool {
    let mut errors = FieldErrors::new();
    quota_resource_name(&mut errors, name, &Path::root(""));
    errors.is_empty() && !name.contains('/')
}

fn quota_spec(errors: &mut FieldErrors, spec: &ResourceQuotaSpec, path: &Path<'_>) {
    let hard_path = path.child("hard");
    for (name, quantity) in spec.hard.iter().flatten() {
        let entry_path = hard_path.key(name);
        quota_resource_name(errors, name, &entry_path);
        resource_quantity(errors, name, quantity, &entry_path);
    }
    let hard: Vec<&String> = spec.hard.iter().flatten().map(|(k, _)| k).collect();
    let scopes = spec.scopes.as_deref().unwrap_or_default();
    let scopes_path = path.child("scopes");
    let scopes_value = json(scopes);
    for scope in scopes {
        if !STANDARD_SCOPES.contains(&scope.as_str()) {
            errors.push(invalid(
                &scopes_path,
                scopes_value.clone(),
                "unsupported scope",
            ));
        }
        for resource in &hard {
            if is_standard_quota_resource(resource) && !scope_valid_for(scope, resource) {
                errors.push(invalid(
                    &scopes_path,
                    scopes_value.clone(),
                    "unsupported scope applied to resource",
                ));
            }
        }
    }
    let has = |list: &[&str], scope: &str| list.contains(&scope);
    let conflicting = |list: &[&str]| {
        (has(list, "BestEffort") && has(list, "NotBestEffort"))
            || (has(list, "Terminating") && has(list, "NotTerminating"))
    };
    let scope_names: Vec<&str> = scopes.iter().map(String::as_str).collect();
    if conflicting(&scope_names) {
        errors.push(invalid(
            &scopes_path,
            scopes_value.clone(),
            "conflicting scopes",
        ));
    }
    let Some(selector) = &spec.scope_selector else {
        return;
    };
    let selector_path = path.child("scopeSelector");
    let expressions_path = selector_path.child("matchExpressions");
    let mut selected: Vec<&str> = Vec::new();
    for requirement in selector.match_expressions.iter().flatten() {
        let scope = requirement.scope_name.as_str();
        if !STANDARD_SCOPES.contains(&scope) {
            errors.push(invalid(
                &expressions_path.child("scopeName"),
                scope,
                "unsupported scope",
            ));
        }
        for resource in &hard {
            if is_standard_quota_resource(resource) && !scope_valid_for(scope, resource) {
                errors.push(invalid(
                    &expressions_path,
                    json(selector),
                    "unsupported scope applied to resource",
                ));
            }
        }
        let operator = requirement.operator.as_str();
        if scope != "PriorityClass" && STANDARD_SCOPES.contains(&scope) && operator != "Exists" {
            errors.push(invalid(
                &expressions_path.child("operator"),
                operator,
                "must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity",
            ));
        }
        let values = requirement.values.as_deref().unwrap_or_default();
        match operator {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errors.push(required(
                        &expressions_path.child("values"),
                        "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errors.push(invalid(
                        &expressions_path.child("values"),
                        json(values),
                        "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector",
                    ));
                }
            }
            other => errors.push(invalid(
                &expressions_path.child("operator"),
                other,
                "not a valid selector operator",
            )),
        }
        selected.push(scope);
    }
    if conflicting(&selected) {
        errors.push(invalid(
            &expressions_path,
            scopes_value,
            "conflicting scopes",
        ));
    }
}

/// Checks a ResourceQuota.
pub fn validate_resource_quota(quota: &ResourceQuota) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &quota.metadata,
        NamespaceRule::Optional,
        name_is_dns_subdomain,
        &Path::root("metadata"),
    );
    let default_spec = ResourceQuotaSpec::default();
    quota_spec(
        &mut errors,
        quota.spec.as_ref().unwrap_or(&default_spec),
        &Path::root("spec"),
    );
    let status_path = Path::root("status");
    if let Some(status) = &quota.status {
        for (map, child) in [(&status.hard, "hard"), (&status.used, "used")] {
            let map_path = status_path.child(child);
            for (name, quantity) in map.iter().flatten() {
                let entry_path = map_path.key(name);
                quota_resource_name(&mut errors, name, &entry_path);
                resource_quantity(&mut errors, name, quantity, &entry_path);
            }
        }
    }
    errors
}

/// Checks a ResourceQuota replacing `old`: its scopes are immutable.
pub fn validate_resource_quota_update(new: &ResourceQuota, old: &ResourceQuota) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    let default_spec = ResourceQuotaSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&default_spec);
    let old_spec = old.spec.as_ref().unwrap_or(&default_spec);
    let spec_path = Path::root("spec");
    quota_spec(&mut errors, new_spec, &spec_path);
    let scopes = |spec: &ResourceQuotaSpec| -> BTreeSet<String> {
        spec.scopes.iter().flatten().cloned().collect()
    };
    if scopes(new_spec) != scopes(old_spec) {
        errors.push(invalid(
            &spec_path.child("scopes"),
            json(&new_spec.scopes),
            FIELD_IMMUTABLE,
        ));
    }
    errors
}
