//! `Priority`: a pod's scheduling priority comes from its PriorityClass, never from the pod.
//!
//! On create, the class named by `spec.priorityClassName` — or, when it names none, the
//! class marked `globalDefault` (the lowest one if several are) — gives the pod its
//! `spec.priority` and `spec.preemptionPolicy`; without any default class a pod gets priority
//! 0 and `PreemptLowerPriority`. A class that does not exist, or a pod whose own `priority`
//! or `preemptionPolicy` disagrees with its class, is refused with `403 Forbidden`. On update
//! the values set at create are carried over when the update leaves them out, since both
//! fields are immutable.
//!
//! For PriorityClasses: at most one may be `globalDefault`.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use orchestra_api::Status;

/// The priority of a pod when no PriorityClass is the global default.
pub const DEFAULT_PRIORITY_WHEN_NO_DEFAULT_CLASS_EXISTS: i32 = 0;

/// The preemption policy of a pod whose class sets none.
pub const PREEMPT_LOWER_PRIORITY: &str = "PreemptLowerPriority";

/// The global default class: the lowest-valued class marked `globalDefault`.
pub fn default_class(classes: &[Arc<PriorityClass>]) -> Option<&PriorityClass> {
    classes
        .iter()
        .filter(|c| c.global_default == Some(true))
        .min_by_key(|c| c.value)
        .map(|c| &**c)
}

/// Admits the create of the pod `name`, given every PriorityClass.
pub fn admit_pod_create(
    pod: &mut Pod,
    name: &str,
    classes: &[Arc<PriorityClass>],
) -> Result<(), Status> {
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    let named = spec.priority_class_name.clone().filter(|n| !n.is_empty());
    let (priority, preemption) = match named {
        None => match default_class(classes) {
            Some(class) => {
                spec.priority_class_name = class.metadata.name.clone();
                (class.value, class.preemption_policy.clone())
            }
            None => (
                DEFAULT_PRIORITY_WHEN_NO_DEFAULT_CLASS_EXISTS,
                Some(PREEMPT_LOWER_PRIORITY.to_owned()),
            ),
        },
        Some(wanted) => {
            let class = classes
                .iter()
                .find(|c| c.metadata.name.as_deref() == Some(wanted.as_str()))
                .ok_or_else(|| {
                    Status::forbidden(
                        "",
                        "pods",
                        name,
                        format!("no PriorityClass with name {wanted} was found"),
                    )
                })?;
            (class.value, class.preemption_policy.clone())
        }
    };
    if let Some(own) = spec.priority
        && own != priority
    {
        return Err(Status::forbidden(
            "",
            "pods",
            name,
            format!(
                "the integer value of priority ({own}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name"
            ),
        ));
    }
    spec.priority = Some(priority);
    if let Some(policy) = preemption {
        if let Some(own) = spec.preemption_policy.as_deref()
            && own != policy
        {
            return Err(Status::forbidden(
                "",
                "pods",
                name,
                format!(
                    "the string value of PreemptionPolicy ({own}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name"
                ),
            ));
        }
        spec.preemption_policy = Some(policy);
    }
    Ok(())
}

/// Carries the priority and preemption policy set at create over to an update that leaves
/// them out.
pub fn admit_pod_update(pod: &mut Pod, old: &Pod) {
    let Some(old_spec) = old.spec.as_ref() else {
        return;
    };
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    if spec.priority.is_none() {
        spec.priority = old_spec.priority;
    }
    if spec.preemption_policy.is_none() {
        spec.preemption_policy
            .clone_from(&old_spec.preemption_policy);
    }
}

/// Checks a PriorityClass being created (`updating: false`) or updated against every other:
/// only one may be the global default.
pub fn validate_priority_class(
    class: &PriorityClass,
    classes: &[Arc<PriorityClass>],
    updating: bool,
) -> Result<(), Status> {
    if class.global_default != Some(true) {
        return Ok(());
    }
    let Some(existing) = default_class(classes) else {
        return Ok(());
    };
    let existing_name = existing.metadata.name.as_deref().unwrap_or_default();
    let name = class.metadata.name.as_deref().unwrap_or_default();
    if !updating || existing_name != name {
        return Err(Status::forbidden(
            "scheduling.k8s.io",
            "priorityclasses",
            name,
            format!(
                "PriorityClass {existing_name} is already marked as default. Only one default can exist"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, value: i32, default: bool, policy: Option<&str>) -> Arc<PriorityClass> {
        let mut class = PriorityClass {
            value,
            global_default: default.then_some(true),
            preemption_policy: policy.map(str::to_owned),
            ..PriorityClass::default()
        };
        class.metadata.name = Some(name.to_owned());
        Arc::new(class)
    }

    fn pod(class: Option<&str>, priority: Option<i32>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                priority_class_name: class.map(str::to_owned),
                priority,
                ..PodSpec::default()
            }),
            ..Pod::default()
        }
    }

    fn resolved(pod: &Pod) -> (Option<&str>, Option<i32>, Option<&str>) {
        let spec = pod.spec.as_ref().unwrap();
        (
            spec.priority_class_name.as_deref(),
            spec.priority,
            spec.preemption_policy.as_deref(),
        )
    }

    #[test]
    fn without_a_default_class_a_pod_gets_priority_zero() {
        let mut p = pod(None, None);
        admit_pod_create(&mut p, "web", &[]).unwrap();
        assert_eq!(resolved(&p), (None, Some(0), Some("PreemptLowerPriority")));
    }

    #[test]
    fn the_named_class_gives_priority_and_preemption_policy() {
        let classes = [
            class(
                "system-node-critical",
                2_000_001_000,
                false,
                Some("PreemptLowerPriority"),
            ),
            class("batch", 10, false, Some("Never")),
        ];
        let mut critical = pod(Some("system-node-critical"), None);
        admit_pod_create(&mut critical, "dns", &classes).unwrap();
        assert_eq!(
            resolved(&critical),
            (
                Some("system-node-critical"),
                Some(2_000_001_000),
                Some("PreemptLowerPriority")
            )
        );
        let mut batch = pod(Some("batch"), Some(10));
        admit_pod_create(&mut batch, "job", &classes).unwrap();
        assert_eq!(resolved(&batch), (Some("batch"), Some(10), Some("Never")));
    }

    #[test]
    fn the_lowest_global_default_class_applies_to_pods_naming_none() {
        let classes = [
            class("high", 1_000, true, None),
            class("low", 100, true, None),
            class("other", 5, false, None),
        ];
        let mut p = pod(None, None);
        admit_pod_create(&mut p, "web", &classes).unwrap();
        assert_eq!(resolved(&p), (Some("low"), Some(100), None));
    }

    #[test]
    fn unknown_classes_and_disagreeing_values_are_forbidden() {
        let classes = [class("batch", 10, false, Some("Never"))];
        let missing = admit_pod_create(&mut pod(Some("gold"), None), "web", &classes).unwrap_err();
        assert_eq!(missing.code, 403);
        assert_eq!(
            missing.message,
            "pods \"web\" is forbidden: no PriorityClass with name gold was found"
        );
        let own = admit_pod_create(&mut pod(Some("batch"), Some(7)), "web", &classes).unwrap_err();
        assert!(
            own.message
                .contains("the integer value of priority (7) must not be provided")
        );
        let mut policy = pod(Some("batch"), None);
        policy.spec.as_mut().unwrap().preemption_policy = Some("PreemptLowerPriority".into());
        let refused = admit_pod_create(&mut policy, "web", &classes).unwrap_err();
        assert!(
            refused
                .message
                .contains("the string value of PreemptionPolicy")
        );
    }

    #[test]
    fn an_update_keeps_what_the_create_resolved() {
        let mut old = pod(None, None);
        admit_pod_create(&mut old, "web", &[]).unwrap();
        let mut new = pod(None, None);
        admit_pod_update(&mut new, &old);
        assert_eq!(resolved(&new), resolved(&old));
    }

    #[test]
    fn only_one_class_may_be_the_global_default() {
        let existing = [class("low", 100, true, None)];
        let second = class("high", 1_000, true, None);
        let refused = validate_priority_class(&second, &existing, false).unwrap_err();
        assert_eq!(
            refused.message,
            "priorityclasses.scheduling.k8s.io \"high\" is forbidden: PriorityClass low is already marked as default. Only one default can exist"
        );
        assert!(validate_priority_class(&existing[0], &existing, true).is_ok());
        assert!(validate_priority_class(&class("x", 1, false, None), &existing, false).is_ok());
    }
}
