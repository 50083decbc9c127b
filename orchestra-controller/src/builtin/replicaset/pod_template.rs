//! The pod a workload controller creates from its pod template, as Kubernetes'
//! `GetPodFromTemplate` builds it: the template's labels, annotations, finalizers and spec, a
//! name generated from the owner's (`web-5d8f9c7b6-` + five random characters, chosen by the
//! server) and a controller reference to the owner with `blockOwnerDeletion`.

use orchestra_api::k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use orchestra_api::{Object, Status};

use crate::builtin::ownership::controller_reference;

/// Longest `generateName` prefix that still validates as a name once the server appends
/// its suffix (a DNS subdomain of at most 253 characters).
const MAX_PREFIX_LENGTH: usize = 253 - 5;

/// The `generateName` of the owner's pods: `<owner>-`, or the owner's name alone when that
/// would be too long to be a valid prefix (Kubernetes' `getPodsPrefix`).
pub fn pods_prefix(owner_name: &str) -> String {
    let prefix = format!("{owner_name}-");
    if prefix.len() <= MAX_PREFIX_LENGTH {
        prefix
    } else {
        owner_name.to_owned()
    }
}

/// The pod to create for `owner` from `template`; an `Invalid` status if the template has no
/// pod spec.
pub fn pod_from_template(template: &PodTemplateSpec, owner: &dyn Object) -> Result<Pod, Status> {
    let owner_meta = owner.metadata();
    let owner_name = owner_meta.name.as_deref().unwrap_or_default();
    let Some(spec) = template.spec.clone() else {
        return Err(Status::invalid(
            "",
            &owner.kind(),
            owner_name,
            &[orchestra_api::validation::FieldError::required(
                orchestra_api::validation::FieldPath::new("spec")
                    .child("template")
                    .child("spec"),
                "the pod template has no spec; no pod can be created from it",
            )],
        ));
    };
    let template_meta = template.metadata.as_ref();
    Ok(Pod {
        metadata: ObjectMeta {
            generate_name: Some(pods_prefix(owner_name)),
            namespace: owner_meta.namespace.clone(),
            labels: template_meta.and_then(|m| m.labels.clone()),
            annotations: template_meta.and_then(|m| m.annotations.clone()),
            finalizers: template_meta.and_then(|m| m.finalizers.clone()),
            owner_references: Some(vec![controller_reference(owner)]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use orchestra_api::k8s_openapi::api::apps::v1::ReplicaSet;
    use orchestra_api::k8s_openapi::api::core::v1::{Container, PodSpec};

    use super::*;

    #[test]
    fn the_pod_carries_the_template_and_a_controller_reference() {
        let mut rs = ReplicaSet::default();
        rs.metadata.name = Some("web-5d8f".into());
        rs.metadata.namespace = Some("shop".into());
        rs.metadata.uid = Some("u-1".into());
        let template = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_owned(), "web".to_owned())].into()),
                name: Some("ignored".into()),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "nginx".into(),
                    image: Some("nginx".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        };
        let pod = pod_from_template(&template, &rs).unwrap();
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-5d8f-"));
        assert_eq!(pod.metadata.name, None);
        assert_eq!(pod.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(pod.metadata.labels, template.metadata.unwrap().labels);
        let owner = &pod.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (
                owner.uid.as_str(),
                owner.controller,
                owner.block_owner_deletion
            ),
            ("u-1", Some(true), Some(true))
        );
        assert_eq!(pod.spec.unwrap().containers[0].name, "nginx");
    }

    #[test]
    fn a_template_without_spec_is_invalid() {
        let rs = ReplicaSet::default();
        let status = pod_from_template(&PodTemplateSpec::default(), &rs).unwrap_err();
        assert_eq!(status.code, 422);
    }

    #[test]
    fn a_very_long_owner_name_is_the_prefix_itself() {
        assert_eq!(pods_prefix("web"), "web-");
        let long = "a".repeat(253);
        assert_eq!(pods_prefix(&long), long);
    }
}
