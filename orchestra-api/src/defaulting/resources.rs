//! Compute-resource defaults: quantities rounded up to milli precision and written in
//! canonical form, container requests taken from limits, and the LimitRange and ResourceQuota
//! objects that are made of resource lists.
//!
//! Kubernetes rounds every quantity of every resource list it decodes up to thousandths
//! (`0.0001` CPU becomes `1m`, `-0.5m` becomes `-1m`), so that no one asks for an amount the
//! scheduler and the kubelet cannot represent, and it always writes a quantity in its canonical
//! form (`1000m` is stored and returned as `1`, `1024Mi` as `1Gi`, `0.5` as `500m`, `1.5Gi` as
//! `1536Mi`; see [`crate::quantity`]). Defaulting a resource list does both, so every write
//! stores what Kubernetes' serialization would return. Pods (not pod templates) also get a
//! container's `requests` copied from its `limits` for each resource that has a limit but no
//! request.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// A resource list as `k8s-openapi` represents it.
type ResourceList = BTreeMap<String, Quantity>;

/// Rounds every quantity of a resource list up to milli precision (`SetDefaults_ResourceList`)
/// and writes it in canonical form, as Kubernetes returns it. A value that is not a quantity is
/// left for validation to report.
pub fn default_resource_list(list: &mut Option<ResourceList>) {
    for quantity in list.iter_mut().flat_map(BTreeMap::values_mut) {
        if let Some(canonical) = canonical_resource_quantity(&quantity.0) {
            quantity.0 = canonical;
        }
    }
}

/// The form in which Kubernetes stores and returns an amount of a resource list: rounded up to
/// milli precision, in canonical form (the largest suffix that loses no precision, in the
/// input's format). `None` for text that is not a quantity.
///
/// ```
/// use orchestra_api::defaulting::canonical_resource_quantity;
/// assert_eq!(canonical_resource_quantity("1000m").as_deref(), Some("1"));
/// assert_eq!(canonical_resource_quantity("1024Mi").as_deref(), Some("1Gi"));
/// assert_eq!(canonical_resource_quantity("0.5").as_deref(), Some("500m"));
/// assert_eq!(canonical_resource_quantity("1e3").as_deref(), Some("1e3"));
/// assert_eq!(canonical_resource_quantity("0.0001").as_deref(), Some("1m"));
/// assert_eq!(canonical_resource_quantity("two"), None);
/// ```
pub fn canonical_resource_quantity(quantity: &str) -> Option<String> {
    let parsed: crate::Quantity = quantity.parse().ok()?;
    Some(parsed.round_up_to_milli().to_string())
}

/// Rounds the limits and requests of a container (or of a pod, or of a container status).
pub(crate) fn default_resource_requirements(resources: &mut Option<ResourceRequirements>) {
    if let Some(resources) = resources {
        default_resource_list(&mut resources.limits);
        default_resource_list(&mut resources.requests);
    }
}

/// Copies each limit to the requests when that resource has no request (what a Pod's
/// containers and init containers get, but not those of pod templates).
pub(crate) fn default_requests_from_limits(resources: &mut Option<ResourceRequirements>) {
    let Some(ResourceRequirements {
        limits: Some(limits),
        requests,
        ..
    }) = resources
    else {
        return;
    };
    for (name, limit) in limits.iter() {
        let has_request = requests.as_ref().is_some_and(|r| r.contains_key(name));
        if !has_request {
            requests
                .get_or_insert_default()
                .insert(name.clone(), limit.clone());
        }
    }
}

/// Defaults a LimitRange: for each `Container` item, the default limit falls back to the
/// maximum, and the default request to the default limit, then to the minimum; every
/// quantity is rounded up to milli precision.
pub fn default_limit_range(limit_range: &mut LimitRange) {
    let Some(spec) = &mut limit_range.spec else {
        return;
    };
    for item in &mut spec.limits {
        if item.type_ == "Container" {
            fill_missing(&mut item.default, item.max.as_ref());
            fill_missing(&mut item.default_request, item.default.as_ref());
            fill_missing(&mut item.default_request, item.min.as_ref());
        }
        default_resource_list(&mut item.max);
        default_resource_list(&mut item.min);
        default_resource_list(&mut item.default);
        default_resource_list(&mut item.default_request);
        default_resource_list(&mut item.max_limit_request_ratio);
    }
}

/// Adds to `target` every resource of `source` it does not have yet (creating `target` only
/// when there is something to add, as an empty list is not visible on the wire).
fn fill_missing(target: &mut Option<ResourceList>, source: Option<&ResourceList>) {
    for (name, quantity) in source.into_iter().flatten() {
        let target = target.get_or_insert_default();
        if !target.contains_key(name) {
            target.insert(name.clone(), quantity.clone());
        }
    }
}

/// Defaults a ResourceQuota: its hard and used amounts are rounded up to milli precision.
pub fn default_resource_quota(quota: &mut ResourceQuota) {
    if let Some(spec) = &mut quota.spec {
        default_resource_list(&mut spec.hard);
    }
    if let Some(status) = &mut quota.status {
        default_resource_list(&mut status.hard);
        default_resource_list(&mut status.used);
    }
}

/// Rounds a quantity up (away from zero) to milli precision, returning its canonical
/// Kubernetes form, or `None` when it needs no rounding (or is not a quantity at all, which
/// validation reports).
///
/// The canonical form keeps the quantity's format: binary-suffixed quantities stay binary when
/// the result is a whole number of at least 1024, exponent-form quantities stay in exponent
/// form, everything else uses decimal SI suffixes.
///
/// ```
/// use orchestra_api::defaulting::round_up_to_milli;
/// assert_eq!(round_up_to_milli("0.0001").as_deref(), Some("1m"));
/// assert_eq!(round_up_to_milli("1.0005").as_deref(), Some("1001m"));
/// assert_eq!(round_up_to_milli("1e-4").as_deref(), Some("1e-3"));
/// assert_eq!(round_up_to_milli("250m"), None);
/// assert_eq!(round_up_to_milli("1.5Gi"), None);
/// ```
pub fn round_up_to_milli(quantity: &str) -> Option<String> {
    let parsed: crate::Quantity = quantity.parse().ok()?;
    let rounded = parsed.round_up_to_milli();
    (rounded != parsed).then(|| rounded.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{LimitRangeItem, LimitRangeSpec};

    fn list(entries: &[(&str, &str)]) -> Option<ResourceList> {
        Some(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                .collect(),
        )
    }

    #[test]
    fn quantities_exact_at_milli_precision_are_left_as_written() {
        for q in [
            "0", "1", "250m", "0.5", "1.000", "1.5Gi", "100Mi", "1e3", "2E", "0.0000", "1000u",
            "1000000n", "+3", "-2m", "1.", ".5",
        ] {
            assert_eq!(round_up_to_milli(q), None, "{q}");
        }
    }

    #[test]
    fn quantities_finer_than_milli_round_up_away_from_zero() {
        for (q, rounded) in [
            ("0.0001", "1m"),
            ("1.0005", "1001m"),
            ("0.9999", "1"),
            ("1500u", "2m"),
            ("1n", "1m"),
            ("-0.5m", "-1m"),
            ("-1.0001", "-1001m"),
            ("1e-4", "1e-3"),
            ("15E-5", "1e-3"),
            ("0.9999999e3", "1e3"),
            ("0.00001Ki", "11m"),
            ("1.00001Ki", "1024011m"),
            ("1.9999999Ki", "2Ki"),
            ("0.0000001", "1m"),
            ("999.9999999k", "1M"),
            ("1e-100", "1e-3"),
        ] {
            assert_eq!(round_up_to_milli(q).as_deref(), Some(rounded), "{q}");
        }
    }

    #[test]
    fn malformed_quantities_are_left_for_validation() {
        for q in [
            "", "-", "abc", "1Zi", "1e", "1e+", "1.2.3", "1 m", "0x10", "1ee3",
        ] {
            assert_eq!(round_up_to_milli(q), None, "{q:?}");
        }
        let tiny = format!("0.{}1", "0".repeat(60));
        assert_eq!(round_up_to_milli(&tiny).as_deref(), Some("1m"));
        let too_many_digits = format!("{}.0001", "9".repeat(40));
        assert_eq!(round_up_to_milli(&too_many_digits), None, "beyond 128 bits");
    }

    #[test]
    fn resource_lists_come_back_in_kubernetes_canonical_form() {
        // (written, stored): Kubernetes' Quantity.String of the value, rounded up to milli.
        for (written, stored) in [
            ("1000m", "1"),
            ("1024Mi", "1Gi"),
            ("0.5", "500m"),
            ("1e3", "1e3"),
            ("1E3", "1e3"),
            ("2000", "2k"),
            ("0.1", "100m"),
            ("1.5Gi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("1536Ki", "1536Ki"),
            ("1073741824", "1073741824"),
            ("100Mi", "100Mi"),
            ("+3", "3"),
            ("0100Mi", "100Mi"),
            ("1500u", "2m"),
            ("0.0001", "1m"),
            ("512", "512"),
            ("0.5Ki", "512"),
            ("0", "0"),
            ("-0.5", "-500m"),
        ] {
            let mut resources = list(&[("cpu", written)]);
            default_resource_list(&mut resources);
            assert_eq!(resources, list(&[("cpu", stored)]), "{written}");
        }
        let mut invalid = list(&[("cpu", "two"), ("memory", "1024Mi")]);
        default_resource_list(&mut invalid);
        assert_eq!(
            invalid,
            list(&[("cpu", "two"), ("memory", "1Gi")]),
            "text that is no quantity is left for validation"
        );
    }

    proptest::proptest! {
        #[test]
        fn canonicalizing_is_idempotent_and_keeps_the_rounded_value(
            q in "[+-]?[0-9]{0,8}(\\.[0-9]{0,10})?(m|u|n|k|M|G|T|Ki|Mi|Gi|Ti|e-?[0-9]{1,2}|E[0-9])?",
        ) {
            let Ok(parsed) = q.parse::<crate::Quantity>() else {
                proptest::prop_assert_eq!(canonical_resource_quantity(&q), None);
                return Ok(());
            };
            let canonical = canonical_resource_quantity(&q).expect("a quantity");
            let again = canonical_resource_quantity(&canonical);
            proptest::prop_assert_eq!(
                again.as_deref(),
                Some(canonical.as_str()),
                "{} became {}", q, canonical
            );
            let reread: crate::Quantity = canonical.parse().expect("canonical text parses");
            proptest::prop_assert_eq!(reread, parsed.round_up_to_milli(), "{} became {}", q, canonical);
            proptest::prop_assert!(reread >= parsed || parsed < crate::Quantity::default());
        }
    }

    #[test]
    fn limits_become_requests_only_for_resources_without_a_request() {
        let mut resources = Some(ResourceRequirements {
            limits: list(&[("cpu", "1"), ("memory", "1Gi")]),
            requests: list(&[("cpu", "500m")]),
            ..Default::default()
        });
        default_requests_from_limits(&mut resources);
        let requests = resources.and_then(|r| r.requests);
        assert_eq!(requests, list(&[("cpu", "500m"), ("memory", "1Gi")]));

        let mut only_requests = Some(ResourceRequirements {
            requests: list(&[("cpu", "1")]),
            ..Default::default()
        });
        let before = only_requests.clone();
        default_requests_from_limits(&mut only_requests);
        assert_eq!(only_requests, before);
    }

    #[test]
    fn container_limit_ranges_default_limits_from_max_and_requests_from_limits_then_min() {
        let mut range = LimitRange {
            spec: Some(LimitRangeSpec {
                limits: vec![
                    LimitRangeItem {
                        type_: "Container".into(),
                        max: list(&[("cpu", "2"), ("memory", "1Gi")]),
                        min: list(&[("cpu", "100m"), ("ephemeral-storage", "1Gi")]),
                        default: list(&[("memory", "512Mi")]),
                        ..Default::default()
                    },
                    LimitRangeItem {
                        type_: "Pod".into(),
                        max: list(&[("cpu", "0.0001")]),
                        ..Default::default()
                    },
                ],
            }),
            ..Default::default()
        };
        default_limit_range(&mut range);
        let limits = range.spec.map(|s| s.limits).unwrap_or_default();
        assert_eq!(
            limits[0].default,
            list(&[("cpu", "2"), ("memory", "512Mi")])
        );
        assert_eq!(
            limits[0].default_request,
            list(&[
                ("cpu", "2"),
                ("ephemeral-storage", "1Gi"),
                ("memory", "512Mi")
            ])
        );
        assert_eq!(limits[1].default, None, "only Container items get defaults");
        assert_eq!(limits[1].max, list(&[("cpu", "1m")]));
    }
}
