//! Scheduling defaults: a PriorityClass preempts lower-priority pods unless it says `Never`.

use k8s_openapi::api::scheduling::v1::PriorityClass;

use super::default_value;

/// Defaults a PriorityClass: preemption policy `PreemptLowerPriority`.
pub fn default_priority_class(class: &mut PriorityClass) {
    default_value(&mut class.preemption_policy, || {
        "PreemptLowerPriority".to_owned()
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_classes_preempt_lower_priority_pods() {
        let mut class = PriorityClass {
            value: 1000,
            ..Default::default()
        };
        default_priority_class(&mut class);
        assert_eq!(
            class.preemption_policy.as_deref(),
            Some("PreemptLowerPriority")
        );
    }
}
