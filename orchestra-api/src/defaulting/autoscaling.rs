//! HorizontalPodAutoscaler defaults (`autoscaling/v2`).
//!
//! An autoscaler keeps at least one replica and, without metrics, targets 80% average CPU
//! utilization. When it has a `behavior`, each direction gets the rules the controller applied
//! before `behavior` existed, field by field: scaling up adds at most 4 pods or 100% every
//! 15 s (whichever is more) with no stabilization window; scaling down removes at most 100%
//! every 15 s, with the stabilization window left to the controller's
//! `--horizontal-pod-autoscaler-downscale-stabilization` flag (5 minutes by default).

use k8s_openapi::api::autoscaling::v2::{
    HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler, MetricSpec, MetricTarget,
    ResourceMetricSource,
};

use super::default_value;

/// The CPU utilization an autoscaler without metrics aims for.
const DEFAULT_CPU_UTILIZATION: i32 = 80;

/// Defaults a HorizontalPodAutoscaler: `minReplicas`, the CPU metric, and the scaling rules
/// of a given `behavior`.
pub fn default_horizontal_pod_autoscaler(autoscaler: &mut HorizontalPodAutoscaler) {
    let spec = autoscaler.spec.get_or_insert_default();
    default_value(&mut spec.min_replicas, || 1);
    if spec.metrics.as_ref().is_none_or(Vec::is_empty) {
        spec.metrics = Some(vec![MetricSpec {
            type_: "Resource".to_owned(),
            resource: Some(ResourceMetricSource {
                name: "cpu".to_owned(),
                target: MetricTarget {
                    type_: "Utilization".to_owned(),
                    average_utilization: Some(DEFAULT_CPU_UTILIZATION),
                    ..Default::default()
                },
            }),
            ..Default::default()
        }]);
    }
    if let Some(behavior) = &mut spec.behavior {
        let scale_up = behavior.scale_up.get_or_insert_default();
        default_scaling_rules(scale_up, Some(0), &[("Pods", 4, 15), ("Percent", 100, 15)]);
        let scale_down = behavior.scale_down.get_or_insert_default();
        default_scaling_rules(scale_down, None, &[("Percent", 100, 15)]);
    }
}

/// Fills the unset fields of one direction's rules (`copyHPAScalingRules` onto the defaults).
fn default_scaling_rules(
    rules: &mut HPAScalingRules,
    stabilization_window_seconds: Option<i32>,
    policies: &[(&str, i32, i32)],
) {
    default_value(&mut rules.select_policy, || "Max".to_owned());
    if rules.stabilization_window_seconds.is_none() {
        rules.stabilization_window_seconds = stabilization_window_seconds;
    }
    default_value(&mut rules.policies, || {
        policies
            .iter()
            .map(|&(type_, value, period_seconds)| HPAScalingPolicy {
                type_: type_.to_owned(),
                value,
                period_seconds,
            })
            .collect()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::autoscaling::v2::{
        HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec,
    };

    #[test]
    fn autoscalers_without_metrics_target_80_percent_cpu() {
        let mut hpa = HorizontalPodAutoscaler::default();
        default_horizontal_pod_autoscaler(&mut hpa);
        let spec = hpa.spec.unwrap_or_default();
        assert_eq!(spec.min_replicas, Some(1));
        let metric = &spec.metrics.unwrap_or_default()[0];
        let resource = metric.resource.clone().unwrap_or_default();
        assert_eq!(
            (metric.type_.as_str(), resource.name.as_str()),
            ("Resource", "cpu")
        );
        assert_eq!(resource.target.type_, "Utilization");
        assert_eq!(resource.target.average_utilization, Some(80));
        assert_eq!(
            spec.behavior, None,
            "behavior is only completed, never created"
        );
    }

    #[test]
    fn a_partial_behavior_is_completed_with_the_legacy_rules() {
        let mut hpa = HorizontalPodAutoscaler {
            spec: Some(HorizontalPodAutoscalerSpec {
                max_replicas: 10,
                behavior: Some(HorizontalPodAutoscalerBehavior {
                    scale_down: Some(HPAScalingRules {
                        stabilization_window_seconds: Some(60),
                        ..Default::default()
                    }),
                    scale_up: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        default_horizontal_pod_autoscaler(&mut hpa);
        let behavior = hpa.spec.and_then(|s| s.behavior).unwrap_or_default();
        let up = behavior.scale_up.unwrap_or_default();
        assert_eq!(up.stabilization_window_seconds, Some(0));
        assert_eq!(up.select_policy.as_deref(), Some("Max"));
        let up_policies = up.policies.unwrap_or_default();
        assert_eq!(up_policies.len(), 2);
        assert_eq!(
            (up_policies[0].type_.as_str(), up_policies[0].value),
            ("Pods", 4)
        );
        let down = behavior.scale_down.unwrap_or_default();
        assert_eq!(down.stabilization_window_seconds, Some(60));
        let down_policies = down.policies.unwrap_or_default();
        assert_eq!(
            (down_policies[0].type_.as_str(), down_policies[0].value),
            ("Percent", 100)
        );
    }

    #[test]
    fn scale_down_stabilization_is_left_to_the_controller() {
        let mut hpa = HorizontalPodAutoscaler {
            spec: Some(HorizontalPodAutoscalerSpec {
                behavior: Some(HorizontalPodAutoscalerBehavior::default()),
                ..Default::default()
            }),
            ..Default::default()
        };
        default_horizontal_pod_autoscaler(&mut hpa);
        let down = hpa
            .spec
            .and_then(|s| s.behavior)
            .and_then(|b| b.scale_down)
            .unwrap_or_default();
        assert_eq!(down.stabilization_window_seconds, None);
        assert_eq!(down.select_policy.as_deref(), Some("Max"));
    }
}
