//! What a pod's status says about it, as the workload and endpoint controllers read it:
//! ready, available for long enough, active, terminating. The rules are Kubernetes' own
//! (`podutil.IsPodReady`, `IsPodAvailable`, `controller.IsPodActive`).

use jiff::Timestamp;
use orchestra_api::k8s_openapi::api::core::v1::{Pod, PodCondition};

/// The pod's condition of the given type, if its status has one.
pub fn condition<'a>(pod: &'a Pod, condition_type: &str) -> Option<&'a PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == condition_type)
}

/// Whether the pod's `Ready` condition is `True`.
pub fn is_ready(pod: &Pod) -> bool {
    condition(pod, "Ready").is_some_and(|c| c.status == "True")
}

/// Whether the pod has been ready for at least `min_ready_seconds` at `now`.
///
/// A pod with `minReadySeconds == 0` is available as soon as it is ready; otherwise the
/// `Ready` condition's `lastTransitionTime` must lie that far in the past.
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    let Some(ready) = condition(pod, "Ready").filter(|c| c.status == "True") else {
        return false;
    };
    if min_ready_seconds <= 0 {
        return true;
    }
    match &ready.last_transition_time {
        Some(since) => since.0.as_second() + i64::from(min_ready_seconds) <= now.as_second(),
        None => false,
    }
}

/// How long until a ready pod becomes available, or `None` if it is not ready or already
/// available — when a controller should look again.
pub fn time_until_available(
    pod: &Pod,
    min_ready_seconds: i32,
    now: Timestamp,
) -> Option<std::time::Duration> {
    let ready = condition(pod, "Ready").filter(|c| c.status == "True")?;
    let since = ready.last_transition_time.as_ref()?.0.as_second();
    let due = since + i64::from(min_ready_seconds.max(0));
    let left = due - now.as_second();
    (left > 0).then(|| std::time::Duration::from_secs(left as u64))
}

/// The pod's phase, `Pending` when it has none yet.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// Whether the pod is being deleted (`metadata.deletionTimestamp` is set).
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Whether the pod still counts towards a controller's replicas: not `Succeeded`, not
/// `Failed`, not being deleted.
pub fn is_active(pod: &Pod) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && !is_terminating(pod)
}

/// Whether the pod has been bound to a node.
pub fn is_scheduled(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use orchestra_api::k8s_openapi::api::core::v1::PodStatus;
    use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    fn pod_ready_since(second: i64, status: &str) -> Pod {
        Pod {
            status: Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: status.into(),
                    last_transition_time: Some(Time(Timestamp::from_second(second).unwrap())),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let pod = pod_ready_since(1_000, "True");
        let at = |s| Timestamp::from_second(s).unwrap();
        assert!(is_ready(&pod));
        assert!(is_available(&pod, 0, at(1_000)));
        assert!(!is_available(&pod, 10, at(1_009)));
        assert!(is_available(&pod, 10, at(1_010)));
        assert_eq!(
            time_until_available(&pod, 10, at(1_004)),
            Some(std::time::Duration::from_secs(6))
        );
        assert_eq!(time_until_available(&pod, 10, at(1_010)), None);
    }

    #[test]
    fn a_pod_not_ready_is_neither_ready_nor_available() {
        let pod = pod_ready_since(1_000, "False");
        assert!(!is_ready(&pod));
        assert!(!is_available(
            &pod,
            0,
            Timestamp::from_second(2_000).unwrap()
        ));
        assert!(!is_ready(&Pod::default()));
        assert_eq!(phase(&Pod::default()), "Pending");
    }

    #[test]
    fn finished_and_terminating_pods_are_not_active() {
        let mut pod = pod_ready_since(0, "True");
        assert!(is_active(&pod));
        pod.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert!(!is_active(&pod));
        let mut deleting = pod_ready_since(0, "True");
        deleting.metadata.deletion_timestamp = Some(Time(Timestamp::from_second(5).unwrap()));
        assert!(is_terminating(&deleting) && !is_active(&deleting));
    }
}
