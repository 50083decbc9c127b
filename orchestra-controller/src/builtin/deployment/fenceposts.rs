//! `maxSurge` and `maxUnavailable`: how far a rolling update may go above and below the
//! desired replicas, resolved as Kubernetes' `ResolveFenceposts` does.
//!
//! Either is a number or a percentage of `replicas`. A percentage of surge rounds **up**, a
//! percentage of unavailability rounds **down**; if both come out 0, one pod may be
//! unavailable (else the rollout could never move, for instance under a quota that forbids
//! the surge). `maxUnavailable` never exceeds `replicas`. Recreate deployments have neither.

use orchestra_api::k8s_openapi::api::apps::v1::Deployment;
use orchestra_api::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The Deployment's `spec.replicas` (1 when unset, the API default).
pub fn desired_replicas(deployment: &Deployment) -> i32 {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
}

/// The strategy type, `RollingUpdate` when unset (the API default).
pub fn strategy_type(deployment: &Deployment) -> &str {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
}

/// Whether the Deployment rolls its pods over gradually.
pub fn is_rolling_update(deployment: &Deployment) -> bool {
    strategy_type(deployment) == "RollingUpdate"
}

/// `value` as a count of `total`: a number as is, a percentage rounded up or down
/// (Kubernetes' `GetScaledValueFromIntOrPercent`). `None` for a malformed percentage.
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Option<i32> {
    match value {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(text) => {
            let percent: i64 = text.strip_suffix('%')?.parse().ok()?;
            let scaled = percent * i64::from(total);
            let value = if round_up {
                scaled.div_euclid(100) + i64::from(scaled.rem_euclid(100) != 0)
            } else {
                scaled.div_euclid(100)
            };
            i32::try_from(value).ok()
        }
    }
}

/// The resolved `(maxSurge, maxUnavailable)` of a rolling update (0 for a missing value).
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> (i32, i32) {
    let zero = IntOrString::Int(0);
    let surge = scaled_value(max_surge.unwrap_or(&zero), desired, true).unwrap_or(0);
    let mut unavailable =
        scaled_value(max_unavailable.unwrap_or(&zero), desired, false).unwrap_or(0);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

fn fenceposts(deployment: &Deployment) -> (i32, i32) {
    let rolling = deployment
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    resolve_fenceposts(
        rolling.and_then(|r| r.max_surge.as_ref()),
        rolling.and_then(|r| r.max_unavailable.as_ref()),
        desired_replicas(deployment),
    )
}

/// How many pods a rolling update may run above `replicas` (0 for Recreate).
pub fn max_surge(deployment: &Deployment) -> i32 {
    if !is_rolling_update(deployment) {
        return 0;
    }
    fenceposts(deployment).0
}

/// How many pods a rolling update may have unavailable (0 for Recreate and for zero
/// replicas; at most `replicas`).
pub fn max_unavailable(deployment: &Deployment) -> i32 {
    let desired = desired_replicas(deployment);
    if !is_rolling_update(deployment) || desired == 0 {
        return 0;
    }
    fenceposts(deployment).1.min(desired)
}

/// A `RollingUpdate` Deployment of `replicas` with the given `maxSurge` and
/// `maxUnavailable`: the fixture of the deployment modules' unit tests.
#[cfg(test)]
pub(super) fn rolling_update_deployment(
    replicas: i32,
    max_surge: IntOrString,
    max_unavailable: IntOrString,
) -> Deployment {
    use orchestra_api::k8s_openapi::api::apps::v1::{
        DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
    };
    Deployment {
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(max_surge),
                    max_unavailable: Some(max_unavailable),
                }),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn percent(text: &str) -> IntOrString {
        IntOrString::String(text.into())
    }

    #[test]
    fn surge_rounds_up_and_unavailability_rounds_down() {
        // The API defaults, 25% and 25%, on 10 replicas: 3 above, 2 below.
        let d = rolling_update_deployment(10, percent("25%"), percent("25%"));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (3, 2));
        let d = rolling_update_deployment(3, percent("25%"), percent("25%"));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (1, 0));
    }

    #[test]
    fn both_zero_allows_one_unavailable() {
        let d = rolling_update_deployment(3, percent("10%"), percent("10%"));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (1, 0));
        let d = rolling_update_deployment(5, IntOrString::Int(0), percent("10%"));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (0, 1));
    }

    #[test]
    fn unavailability_is_capped_at_the_replicas_and_zero_replicas_have_none() {
        let d = rolling_update_deployment(2, IntOrString::Int(0), IntOrString::Int(5));
        assert_eq!(max_unavailable(&d), 2);
        let d = rolling_update_deployment(0, IntOrString::Int(1), IntOrString::Int(1));
        assert_eq!(max_unavailable(&d), 0);
    }

    #[test]
    fn recreate_has_neither_and_malformed_percentages_count_as_zero() {
        let mut d = rolling_update_deployment(4, IntOrString::Int(2), IntOrString::Int(2));
        d.spec.as_mut().unwrap().strategy.as_mut().unwrap().type_ = Some("Recreate".into());
        assert_eq!((max_surge(&d), max_unavailable(&d)), (0, 0));
        assert_eq!(scaled_value(&percent("abc"), 10, true), None);
        assert_eq!(scaled_value(&percent("50"), 10, true), None);
        assert_eq!(scaled_value(&percent("33%"), 10, true), Some(4));
        assert_eq!(scaled_value(&percent("33%"), 10, false), Some(3));
    }
}
