//! `ServiceAccount`, the part Orchestra runs: a pod that names no service account runs as
//! the namespace's `default` one (`spec.serviceAccountName: default`, mirrored into the
//! deprecated `spec.serviceAccount` as Kubernetes' v1 API shows it).
//!
//! Not done, unlike Kubernetes: a pod whose service account does not exist (yet) is not
//! refused — the ServiceAccount controller creates `default` in every namespace, but a pod
//! may arrive first — and no `kube-api-access-*` token volume is mounted, since Orchestra
//! issues no service account tokens. Mirror pods (the API copies of a kubelet's static pods)
//! are left alone, and may not name a service account.

use k8s_openapi::api::core::v1::{Pod, PodSpec};
use orchestra_api::Status;

/// The service account of a pod that names none.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";

/// The annotation that marks a mirror pod.
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Admits the create of the pod `name`.
pub fn admit_create(pod: &mut Pod, name: &str) -> Result<(), Status> {
    let is_mirror = pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_POD_ANNOTATION));
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    if is_mirror {
        let names_one = [&spec.service_account_name, &spec.service_account]
            .into_iter()
            .flatten()
            .any(|n| !n.is_empty());
        if names_one {
            return Err(Status::forbidden(
                "",
                "pods",
                name,
                "a mirror pod may not reference service accounts",
            ));
        }
        return Ok(());
    }
    let account = [&spec.service_account_name, &spec.service_account]
        .into_iter()
        .flatten()
        .find(|n| !n.is_empty())
        .cloned()
        .unwrap_or_else(|| DEFAULT_SERVICE_ACCOUNT.to_owned());
    spec.service_account = Some(account.clone());
    spec.service_account_name = Some(account);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_with(account: Option<&str>, deprecated: Option<&str>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                service_account_name: account.map(str::to_owned),
                service_account: deprecated.map(str::to_owned),
                ..PodSpec::default()
            }),
            ..Pod::default()
        }
    }

    fn accounts(pod: &Pod) -> (Option<&str>, Option<&str>) {
        let spec = pod.spec.as_ref().unwrap();
        (
            spec.service_account_name.as_deref(),
            spec.service_account.as_deref(),
        )
    }

    #[test]
    fn a_pod_without_a_service_account_runs_as_default() {
        let mut pod = pod_with(None, None);
        admit_create(&mut pod, "web").unwrap();
        assert_eq!(accounts(&pod), (Some("default"), Some("default")));

        let mut named = pod_with(Some("builder"), None);
        admit_create(&mut named, "web").unwrap();
        assert_eq!(accounts(&named), (Some("builder"), Some("builder")));

        let mut deprecated = pod_with(Some(""), Some("legacy"));
        admit_create(&mut deprecated, "web").unwrap();
        assert_eq!(accounts(&deprecated), (Some("legacy"), Some("legacy")));
    }

    #[test]
    fn mirror_pods_are_left_alone_and_may_not_name_an_account() {
        let mirror = |account: Option<&str>| {
            let mut pod = pod_with(account, None);
            pod.metadata.annotations =
                Some([(MIRROR_POD_ANNOTATION.to_owned(), "hash".to_owned())].into());
            pod
        };
        let mut plain = mirror(None);
        admit_create(&mut plain, "static-web").unwrap();
        assert_eq!(accounts(&plain), (None, None));
        let refused = admit_create(&mut mirror(Some("builder")), "static-web").unwrap_err();
        assert_eq!(refused.code, 403);
        assert!(
            refused
                .message
                .ends_with("a mirror pod may not reference service accounts")
        );
    }
}
