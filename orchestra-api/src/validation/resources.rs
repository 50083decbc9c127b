//! Compute resources: resource names (standard, `hugepages-*`, or domain-qualified extended
//! resources), quantities (well-formed, non-negative, integral where the resource counts
//! things), and container requirements (a request never above its limit, extended resources
//! requested exactly at their limit).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::field_error::FieldErrors;
use super::names::{IS_NEGATIVE_ERROR, IS_NOT_INTEGER, IS_NOT_POSITIVE, is_qualified_name};
use super::path::{Path, duplicate, forbidden, invalid, not_found, required};

/// Kubernetes' message for a string that is not a quantity.
pub(crate) const QUANTITY_FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// The value of a quantity in thousandths, rounded up, or why it is not a quantity.
pub(crate) fn milli_value(quantity: &Quantity) -> Result<i128, &'static str> {
    parse_milli(&quantity.0)
}

/// Parses a quantity string into thousandths, rounding up. Values too large for `i128` are
/// clamped, which keeps comparisons meaningful.
fn parse_milli(text: &str) -> Result<i128, &'static str> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            pos = 1;
            true
        }
        Some(b'+') => {
            pos = 1;
            false
        }
        _ => false,
    };
    let int_start = pos;
    while pos < bytes.len() && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    let int_digits = &text[int_start..pos];
    let mut frac_digits = "";
    if bytes.get(pos) == Some(&b'.') {
        pos += 1;
        let frac_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        frac_digits = &text[frac_start..pos];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(QUANTITY_FORMAT_ERROR);
    }
    let (exp10, exp2) = match &text[pos..] {
        "" => (0i32, 0u32),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        suffix => {
            let exponent = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))
                .ok_or(QUANTITY_FORMAT_ERROR)?;
            let digits = exponent
                .strip_prefix('+')
                .or_else(|| exponent.strip_prefix('-'))
                .unwrap_or(exponent);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(QUANTITY_FORMAT_ERROR);
            }
            let value: i32 = exponent.parse().unwrap_or(if exponent.starts_with('-') {
                -1000
            } else {
                1000
            });
            (value.clamp(-1000, 1000), 0)
        }
    };
    // mantissa * 10^(exp10 - frac_len + 3) * 2^exp2, in i128 with saturation.
    let mut mantissa: i128 = 0;
    let mut dropped = 0i32;
    for digit in int_digits.bytes().chain(frac_digits.bytes()) {
        match mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(i128::from(digit - b'0')))
        {
            Some(m) => mantissa = m,
            None => dropped += 1,
        }
    }
    let frac_len = i32::try_from(frac_digits.len()).unwrap_or(i32::MAX);
    let scale = exp10
        .saturating_sub(frac_len)
        .saturating_add(3)
        .saturating_add(dropped);
    let mut value = mantissa;
    if scale >= 0 {
        for _ in 0..scale {
            value = value.saturating_mul(10);
            if value == i128::MAX {
                break;
            }
        }
    } else {
        let mut divisor: i128 = 1;
        let mut exact = true;
        for _ in 0..scale.unsigned_abs() {
            match divisor.checked_mul(10) {
                Some(d) => divisor = d,
                None => {
                    exact = false;
                    break;
                }
            }
        }
        let rounded_up = value / divisor + i128::from(value % divisor != 0);
        value = if exact {
            rounded_up
        } else {
            i128::from(mantissa != 0)
        };
    }
    for _ in 0..exp2 {
        value = value.saturating_mul(2);
    }
    Ok(if negative { -value } else { value })
}

/// Checks that a quantity is well-formed and not negative; returns its value in thousandths.
pub(crate) fn non_negative_quantity(
    errors: &mut FieldErrors,
    quantity: &Quantity,
    path: &Path<'_>,
) -> Option<i128> {
    match milli_value(quantity) {
        Err(message) => {
            errors.push(invalid(path, quantity.0.as_str(), message));
            None
        }
        Ok(value) if value < 0 => {
            errors.push(invalid(path, quantity.0.as_str(), IS_NEGATIVE_ERROR));
            Some(value)
        }
        Ok(value) => Some(value),
    }
}

/// Checks that a quantity is well-formed and above zero.
pub(crate) fn positive_quantity(errors: &mut FieldErrors, quantity: &Quantity, path: &Path<'_>) {
    match milli_value(quantity) {
        Err(message) => errors.push(invalid(path, quantity.0.as_str(), message)),
        Ok(value) if value <= 0 => errors.push(invalid(path, quantity.0.as_str(), IS_NOT_POSITIVE)),
        Ok(_) => {}
    }
}

/// Checks a quantity for the named resource: well-formed, non-negative, and a whole number for
/// resources that count things (pods, extended resources).
pub(crate) fn resource_quantity(
    errors: &mut FieldErrors,
    name: &str,
    quantity: &Quantity,
    path: &Path<'_>,
) -> Option<i128> {
    let value = non_negative_quantity(errors, quantity, path)?;
    if is_integer_resource(name) && value % 1000 != 0 {
        errors.push(invalid(path, quantity.0.as_str(), IS_NOT_INTEGER));
    }
    Some(value)
}

const STANDARD_RESOURCES: [&str; 20] = [
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

const STANDARD_QUOTA_RESOURCES: [&str; 19] = [
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "services.nodeports",
    "services.loadbalancers",
];

const INTEGER_RESOURCES: [&str; 9] = [
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

pub(crate) fn is_huge_page_resource(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn is_quota_huge_page_resource(name: &str) -> bool {
    name.starts_with("hugepages-") || name.starts_with("requests.hugepages-")
}

/// Resources without a domain, or in a `kubernetes.io` domain.
pub(crate) fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// Domain-qualified resources that devices and operators advertise (`example.com/gpu`).
pub(crate) fn is_extended_resource(name: &str) -> bool {
    if is_native_resource(name) || name.starts_with("requests.") {
        return false;
    }
    is_qualified_name(&format!("requests.{name}")).is_empty()
}

fn is_integer_resource(name: &str) -> bool {
    INTEGER_RESOURCES.contains(&name) || is_extended_resource(name)
}

/// Whether requests of this resource may be below their limit.
pub(crate) fn is_overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !is_huge_page_resource(name)
}

/// Checks a resource name in general: a qualified name, and a standard one unless it has a
/// domain.
pub(crate) fn resource_name(errors: &mut FieldErrors, name: &str, path: &Path<'_>) -> bool {
    let before = errors.len();
    for message in is_qualified_name(name) {
        errors.push(invalid(path, name, message));
    }
    if errors.len() != before {
        return false;
    }
    if !(name.contains('/')
        || STANDARD_RESOURCES.contains(&name)
        || is_quota_huge_page_resource(name))
    {
        errors.push(invalid(
            path,
            name,
            "must be a standard resource type or fully qualified",
        ));
        return false;
    }
    true
}

/// Checks the name of a resource a container requests or limits.
pub(crate) fn container_resource_name(errors: &mut FieldErrors, name: &str, path: &Path<'_>) {
    if !resource_name(errors, name, path) {
        return;
    }
    if !name.contains('/') {
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !is_huge_page_resource(name) {
            errors.push(invalid(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native_resource(name) && !is_extended_resource(name) {
        errors.push(invalid(
            path,
            name,
            "doesn't follow extended resource name standard",
        ));
    }
}

/// Checks the name of a resource a ResourceQuota constrains.
pub(crate) fn quota_resource_name(errors: &mut FieldErrors, name: &str, path: &Path<'_>) {
    if !resource_name(errors, name, path) {
        return;
    }
    if !(name.contains('/')
        || STANDARD_QUOTA_RESOURCES.contains(&name)
        || is_quota_huge_page_resource(name))
    {
        errors.push(invalid(path, name, "must be a standard resource for quota"));
    }
}

/// Bytes per page of a `hugepages-<size>` resource.
fn huge_page_size(name: &str) -> Option<i128> {
    let size = name.strip_prefix("hugepages-")?;
    parse_milli(size).ok().map(|m| m / 1000).filter(|s| *s > 0)
}

/// Checks the requests and limits of a container (or a pod's overhead, with `limits` only).
pub(crate) fn container_resources(
    errors: &mut FieldErrors,
    requirements: &ResourceRequirements,
    pod_claims: &[&str],
    path: &Path<'_>,
) {
    let limits_path = path.child("limits");
    let requests_path = path.child("requests");
    let empty = BTreeMap::new();
    let limits = requirements.limits.as_ref().unwrap_or(&empty);
    let requests = requirements.requests.as_ref().unwrap_or(&empty);
    let mut has_cpu_or_memory = false;
    let mut has_huge_pages = false;
    let mut limit_values: BTreeMap<&str, i128> = BTreeMap::new();
    for (name, quantity) in limits {
        let entry_path = limits_path.key(name);
        container_resource_name(errors, name, &entry_path);
        if let Some(value) = resource_quantity(errors, name, quantity, &entry_path) {
            limit_values.insert(name.as_str(), value);
            huge_page_value(errors, name, quantity, value, &entry_path);
        }
        has_huge_pages |= is_huge_page_resource(name);
        has_cpu_or_memory |= name == "cpu" || name == "memory";
    }
    for (name, quantity) in requests {
        let entry_path = requests_path.key(name);
        container_resource_name(errors, name, &entry_path);
        let value = resource_quantity(errors, name, quantity, &entry_path);
        match (limits.get(name), value, limit_values.get(name.as_str())) {
            (Some(limit), Some(request), Some(&limit_value)) => {
                if request != limit_value && !is_overcommit_allowed(name) {
                    errors.push(invalid(
                        &requests_path,
                        quantity.0.as_str(),
                        format!("must be equal to {name} limit of {}", limit.0),
                    ));
                } else if request > limit_value {
                    errors.push(invalid(
                        &requests_path,
                        quantity.0.as_str(),
                        format!("must be less than or equal to {name} limit of {}", limit.0),
                    ));
                }
            }
            (None, _, _) if !is_overcommit_allowed(name) => errors.push(required(
                &limits_path,
                "Limit must be set for non overcommitable resources",
            )),
            _ => {}
        }
        if let Some(value) = value {
            huge_page_value(errors, name, quantity, value, &entry_path);
        }
        has_huge_pages |= is_huge_page_resource(name);
        has_cpu_or_memory |= name == "cpu" || name == "memory";
    }
    if has_huge_pages && !has_cpu_or_memory {
        errors.push(forbidden(path, "HugePages require cpu or memory"));
    }
    if let Some(claims) = &requirements.claims {
        let claims_path = path.child("claims");
        let mut seen: Vec<String> = Vec::new();
        for (i, claim) in claims.iter().enumerate() {
            let claim_path = claims_path.index(i);
            if claim.name.is_empty() {
                errors.push(required(&claim_path, ""));
                continue;
            }
            let key = match claim.request.as_deref().filter(|r| !r.is_empty()) {
                Some(request) => format!("{}/{request}", claim.name),
                None => claim.name.clone(),
            };
            if seen.contains(&key) || seen.contains(&claim.name) {
                errors.push(duplicate(&claim_path, key.as_str()));
            }
            seen.push(key);
            if !pod_claims.contains(&claim.name.as_str()) {
                let mut error = not_found(&claim_path, claim.name.as_str());
                error.detail = if pod_claims.is_empty() {
                    "must be one of the names in pod.spec.resourceClaims which is empty".to_owned()
                } else {
                    format!(
                        "must be one of the names in pod.spec.resourceClaims: {}",
                        pod_claims.join(", ")
                    )
                };
                errors.push(error);
            }
        }
    }
}

fn huge_page_value(
    errors: &mut FieldErrors,
    name: &str,
    quantity: &Quantity,
    milli: i128,
    path: &Path<'_>,
) {
    if !is_huge_page_resource(name) {
        return;
    }
    let divisible =
        huge_page_size(name).is_some_and(|page| milli % 1000 == 0 && (milli / 1000) % page == 0);
    if !divisible {
        errors.push(invalid(
            path,
            quantity.0.as_str(),
            format!("{} is not positive integer multiple of {name}", quantity.0),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn milli(s: &str) -> i128 {
        parse_milli(s).unwrap()
    }

    #[test]
    fn quantities_parse_to_thousandths_rounding_up() {
        assert_eq!(milli("1"), 1000);
        assert_eq!(milli("250m"), 250);
        assert_eq!(milli("0.5"), 500);
        assert_eq!(milli("1.5Gi"), 1_610_612_736_000);
        assert_eq!(milli("1k"), 1_000_000);
        assert_eq!(milli("1e3"), 1_000_000);
        assert_eq!(milli("1E-3"), 1);
        assert_eq!(milli("1n"), 1);
        assert_eq!(milli("-2"), -2000);
        assert_eq!(milli("+.5"), 500);
        for bad in ["", "abc", "1x", "1ki", "e3", "1e", "1.2.3", "- 1"] {
            assert!(parse_milli(bad).is_err(), "{bad}");
        }
        assert!(milli("1e1000") > milli("1E"));
        assert_eq!(milli("1e-1000"), 1);
    }

    #[test]
    fn requests_may_not_exceed_limits() {
        let requirements: ResourceRequirements = serde_json::from_value(serde_json::json!({
            "requests": {"cpu": "2", "memory": "1Gi"},
            "limits": {"cpu": "1", "memory": "2Gi"}
        }))
        .unwrap();
        let mut errors = FieldErrors::new();
        container_resources(&mut errors, &requirements, &[], &Path::root("resources"));
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            "resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1"
        );
    }

    #[test]
    fn resource_names_must_be_standard_or_qualified() {
        let requirements: ResourceRequirements = serde_json::from_value(serde_json::json!({
            "limits": {"gpu": "1", "example.com/gpu": "1", "pods": "1", "memory": "-1"},
            "requests": {"example.com/gpu": "2"}
        }))
        .unwrap();
        let mut errors = FieldErrors::new();
        container_resources(&mut errors, &requirements, &[], &Path::root("resources"));
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "resources.limits[gpu]: Invalid value: \"gpu\": must be a standard resource type or fully qualified",
                "resources.limits[memory]: Invalid value: \"-1\": must be greater than or equal to 0",
                "resources.limits[pods]: Invalid value: \"pods\": must be a standard resource for containers",
                "resources.requests: Invalid value: \"2\": must be equal to example.com/gpu limit of 1",
            ]
        );
    }
}
