//! Compute-resource defaults: quantities rounded up to milli precision, container requests
//! taken from limits, and the LimitRange and ResourceQuota objects that are made of resource
//! lists.
//!
//! Kubernetes rounds every quantity of every resource list it decodes up to thousandths
//! (`0.0001` CPU becomes `1m`, `-0.5m` becomes `-1m`), so that no one asks for an amount the
//! scheduler and the kubelet cannot represent; a quantity that is already exact at milli
//! precision is left as written. Pods (not pod templates) also get a container's `requests`
//! copied from its `limits` for each resource that has a limit but no request.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// A resource list as `k8s-openapi` represents it.
type ResourceList = BTreeMap<String, Quantity>;

/// Rounds every quantity of a resource list up to milli precision (`SetDefaults_ResourceList`).
pub fn default_resource_list(list: &mut Option<ResourceList>) {
    for quantity in list.iter_mut().flat_map(BTreeMap::values_mut) {
        if let Some(rounded) = round_up_to_milli(&quantity.0) {
            quantity.0 = rounded;
        }
    }
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
    let parsed = ParsedQuantity::parse(quantity)?;
    // value = digits × 10^exponent, with any binary suffix multiplied into the digits.
    let (digits, exponent) = parsed.decimal_value()?;
    if digits == 0 || exponent >= -3 {
        return None;
    }
    // Thousandths, rounded up: digits / 10^(-3 - exponent), plus one unless exact.
    let shift = u32::try_from(-3 - i64::from(exponent)).ok()?;
    let milli = match 10u128.checked_pow(shift) {
        Some(divisor) if digits % divisor == 0 => return None,
        Some(divisor) => digits / divisor + 1,
        // 10^shift exceeds any u128, so the value is below one thousandth.
        None => 1,
    };
    canonical(parsed.negative, milli, parsed.format())
}

/// How a quantity was written, which decides how its rounded value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `Ki`, `Mi`, … suffixes.
    BinarySi,
    /// `m`, `k`, `M`, … suffixes (or none).
    DecimalSi,
    /// `e3`, `E-6` exponents.
    DecimalExponent,
}

/// The suffix of a quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suffix {
    /// A power of 1024 (`Ki` is 1).
    Binary(u32),
    /// A power of ten from an SI suffix.
    Decimal(i32),
    /// A power of ten from an exponent.
    Exponent(i32),
}

/// A quantity split into sign, integer digits, fraction digits and suffix, following
/// `parseQuantityString` of Kubernetes' `resource` package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ParsedQuantity<'a> {
    negative: bool,
    integer: &'a str,
    fraction: &'a str,
    suffix: Suffix,
}

impl<'a> ParsedQuantity<'a> {
    fn parse(quantity: &'a str) -> Option<Self> {
        let (negative, unsigned) = match quantity.as_bytes().first()? {
            b'-' => (true, &quantity[1..]),
            b'+' => (false, &quantity[1..]),
            _ => (false, quantity),
        };
        let integer_end = unsigned
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(unsigned.len());
        let (integer, rest) = unsigned.split_at(integer_end);
        let (fraction, suffix) = match rest.strip_prefix('.') {
            Some(after_point) => {
                let end = after_point
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after_point.len());
                after_point.split_at(end)
            }
            None => ("", rest),
        };
        let suffix = match suffix {
            "Ki" => Suffix::Binary(1),
            "Mi" => Suffix::Binary(2),
            "Gi" => Suffix::Binary(3),
            "Ti" => Suffix::Binary(4),
            "Pi" => Suffix::Binary(5),
            "Ei" => Suffix::Binary(6),
            "n" => Suffix::Decimal(-9),
            "u" => Suffix::Decimal(-6),
            "m" => Suffix::Decimal(-3),
            "" => Suffix::Decimal(0),
            "k" => Suffix::Decimal(3),
            "M" => Suffix::Decimal(6),
            "G" => Suffix::Decimal(9),
            "T" => Suffix::Decimal(12),
            "P" => Suffix::Decimal(15),
            "E" => Suffix::Decimal(18),
            _ => {
                let exponent = suffix.strip_prefix(['e', 'E'])?;
                let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Suffix::Exponent(exponent.parse().ok()?)
            }
        };
        Some(Self {
            negative,
            integer,
            fraction,
            suffix,
        })
    }

    /// The magnitude as `digits × 10^exponent`, or `None` when it does not fit in 128 bits.
    fn decimal_value(&self) -> Option<(u128, i32)> {
        let fraction = self.fraction.trim_end_matches('0');
        let integer = self.integer.trim_start_matches('0');
        let mut digits: u128 = 0;
        for byte in integer.bytes().chain(fraction.bytes()) {
            digits = digits
                .checked_mul(10)?
                .checked_add(u128::from(byte - b'0'))?;
        }
        let places = i32::try_from(fraction.len()).ok()?;
        match self.suffix {
            Suffix::Binary(power) => {
                Some((digits.checked_mul(1024u128.checked_pow(power)?)?, -places))
            }
            Suffix::Decimal(exponent) | Suffix::Exponent(exponent) => {
                Some((digits, exponent.checked_sub(places)?))
            }
        }
    }

    fn format(&self) -> Format {
        match self.suffix {
            Suffix::Binary(_) => Format::BinarySi,
            Suffix::Decimal(_) => Format::DecimalSi,
            Suffix::Exponent(_) => Format::DecimalExponent,
        }
    }
}

/// Writes `milli` thousandths the way Kubernetes' `Quantity.String` writes it in `format`.
fn canonical(negative: bool, milli: u128, format: Format) -> Option<String> {
    let sign = if negative { "-" } else { "" };
    // Move factors of ten into the exponent, then back out until it is a multiple of three.
    let (mut mantissa, mut exponent) = (milli, -3i32);
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exponent += 1;
    }
    while exponent.rem_euclid(3) != 0 {
        mantissa = mantissa.checked_mul(10)?;
        exponent -= 1;
    }
    let whole = u32::try_from(exponent)
        .ok()
        .and_then(|e| mantissa.checked_mul(10u128.checked_pow(e)?));
    match (format, whole) {
        (Format::BinarySi, Some(whole)) if whole >= 1024 => {
            let (mut mantissa, mut power) = (whole, 0usize);
            while mantissa % 1024 == 0 {
                mantissa /= 1024;
                power += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"].get(power)?;
            Some(format!("{sign}{mantissa}{suffix}"))
        }
        (Format::DecimalExponent, _) if exponent == 0 => Some(format!("{sign}{mantissa}")),
        (Format::DecimalExponent, _) => Some(format!("{sign}{mantissa}e{exponent}")),
        _ => {
            let suffix = match exponent {
                -3 => "m",
                0 => "",
                3 => "k",
                6 => "M",
                9 => "G",
                12 => "T",
                15 => "P",
                18 => "E",
                _ => return None,
            };
            Some(format!("{sign}{mantissa}{suffix}"))
        }
    }
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
