//! `DefaultTolerationSeconds`: every pod tolerates a node that turned not-ready or
//! unreachable for a while (300 s unless configured otherwise) before the node lifecycle
//! controller evicts it — unless the pod already says how long it tolerates that itself.
//!
//! A pod gets `node.kubernetes.io/not-ready:NoExecute` (and likewise `unreachable`) with
//! `operator: Exists` and the configured `tolerationSeconds` when none of its tolerations
//! covers that taint: a toleration covers it when its key is that taint's or empty, and its
//! effect is `NoExecute` or empty. It runs on creates and updates, so an update that leaves
//! the tolerations out gets them back as they were.

use k8s_openapi::api::core::v1::{Pod, PodSpec, Toleration};

use super::AdmissionConfig;

/// Kubernetes' default for both tolerations: five minutes.
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;
/// The taint of a node whose kubelet reports it not ready.
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
/// The taint of a node whose kubelet stopped reporting.
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";

/// Whether one of `tolerations` covers the NoExecute taint `key`.
fn tolerates(tolerations: &[Toleration], key: &str) -> bool {
    tolerations.iter().any(|t| {
        let key_matches = t.key.as_deref().is_none_or(|k| k.is_empty() || k == key);
        let effect_matches = t
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == "NoExecute");
        key_matches && effect_matches
    })
}

/// Adds the default tolerations the pod lacks.
pub fn admit(pod: &mut Pod, config: &AdmissionConfig) {
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    let existing = spec.tolerations.as_deref().unwrap_or_default();
    let missing: Vec<Toleration> = [
        (NOT_READY_TAINT, config.default_not_ready_toleration_seconds),
        (
            UNREACHABLE_TAINT,
            config.default_unreachable_toleration_seconds,
        ),
    ]
    .into_iter()
    .filter(|(key, _)| !tolerates(existing, key))
    .map(|(key, seconds)| Toleration {
        key: Some(key.to_owned()),
        operator: Some("Exists".to_owned()),
        effect: Some("NoExecute".to_owned()),
        toleration_seconds: Some(seconds),
        value: None,
    })
    .collect();
    if !missing.is_empty() {
        spec.tolerations
            .get_or_insert_with(Vec::new)
            .extend(missing);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toleration(key: Option<&str>, effect: Option<&str>, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: key.map(str::to_owned),
            operator: Some("Exists".to_owned()),
            effect: effect.map(str::to_owned),
            toleration_seconds: seconds,
            value: None,
        }
    }

    fn admitted(tolerations: Option<Vec<Toleration>>, config: &AdmissionConfig) -> Vec<Toleration> {
        let mut pod = Pod {
            spec: Some(PodSpec {
                tolerations,
                ..PodSpec::default()
            }),
            ..Pod::default()
        };
        admit(&mut pod, config);
        pod.spec.unwrap().tolerations.unwrap_or_default()
    }

    #[test]
    fn a_pod_without_tolerations_tolerates_both_taints_for_five_minutes() {
        let added = admitted(None, &AdmissionConfig::default());
        assert_eq!(
            added,
            [
                toleration(Some(NOT_READY_TAINT), Some("NoExecute"), Some(300)),
                toleration(Some(UNREACHABLE_TAINT), Some("NoExecute"), Some(300)),
            ]
        );
    }

    #[test]
    fn the_seconds_come_from_the_configuration() {
        let config = AdmissionConfig {
            default_not_ready_toleration_seconds: 2,
            default_unreachable_toleration_seconds: 3,
        };
        let added = admitted(None, &config);
        let seconds: Vec<_> = added.iter().map(|t| t.toleration_seconds).collect();
        assert_eq!(seconds, [Some(2), Some(3)]);
    }

    /// The cases of Kubernetes' plugin: a pod's own toleration for a taint wins, and an empty
    /// key or effect covers it.
    #[test]
    fn a_pod_that_already_tolerates_a_taint_keeps_its_own_toleration() {
        let config = AdmissionConfig::default();
        let own = toleration(Some(UNREACHABLE_TAINT), Some("NoExecute"), Some(60));
        let added = admitted(Some(vec![own.clone()]), &config);
        assert_eq!(
            added,
            [
                own,
                toleration(Some(NOT_READY_TAINT), Some("NoExecute"), Some(300))
            ]
        );

        let everything = toleration(None, None, None);
        assert_eq!(
            admitted(Some(vec![everything.clone()]), &config),
            [everything]
        );

        let any_effect = toleration(Some(NOT_READY_TAINT), None, None);
        assert_eq!(admitted(Some(vec![any_effect.clone()]), &config).len(), 2);

        let other_effect = toleration(Some(NOT_READY_TAINT), Some("NoSchedule"), None);
        assert_eq!(
            admitted(Some(vec![other_effect]), &config).len(),
            3,
            "a NoSchedule toleration does not cover a NoExecute taint"
        );
    }

    #[test]
    fn admitting_twice_changes_nothing_more() {
        let config = AdmissionConfig::default();
        let once = admitted(None, &config);
        assert_eq!(admitted(Some(once.clone()), &config), once);
    }
}
