//! RBAC defaults: a binding's `roleRef` and its `User` and `Group` subjects belong to the
//! `rbac.authorization.k8s.io` API group unless they say otherwise. (`ServiceAccount` subjects
//! belong to the core group, `""`, which is what an absent group already means on the wire.)

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef, Subject};

use super::{default_string, each_mut};

/// The API group of RBAC.
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Defaults a RoleBinding: the API group of its role reference and subjects.
pub fn default_role_binding(binding: &mut RoleBinding) {
    default_role_ref(&mut binding.role_ref);
    for subject in each_mut(&mut binding.subjects) {
        default_subject(subject);
    }
}

/// Defaults a ClusterRoleBinding: the API group of its role reference and subjects.
pub fn default_cluster_role_binding(binding: &mut ClusterRoleBinding) {
    default_role_ref(&mut binding.role_ref);
    for subject in each_mut(&mut binding.subjects) {
        default_subject(subject);
    }
}

fn default_role_ref(role_ref: &mut RoleRef) {
    if role_ref.api_group.is_empty() {
        role_ref.api_group = RBAC_GROUP.to_owned();
    }
}

fn default_subject(subject: &mut Subject) {
    if matches!(subject.kind.as_str(), "User" | "Group") {
        default_string(&mut subject.api_group, RBAC_GROUP);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(kind: &str) -> Subject {
        Subject {
            kind: kind.into(),
            name: "x".into(),
            ..Default::default()
        }
    }

    #[test]
    fn role_refs_and_user_subjects_are_in_the_rbac_group() {
        let mut binding = RoleBinding {
            role_ref: RoleRef {
                kind: "Role".into(),
                name: "reader".into(),
                api_group: String::new(),
            },
            subjects: Some(vec![
                subject("User"),
                subject("Group"),
                subject("ServiceAccount"),
            ]),
            ..Default::default()
        };
        default_role_binding(&mut binding);
        assert_eq!(binding.role_ref.api_group, RBAC_GROUP);
        let groups: Vec<_> = binding
            .subjects
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.api_group)
            .collect();
        assert_eq!(
            groups,
            [
                Some(RBAC_GROUP.to_string()),
                Some(RBAC_GROUP.to_string()),
                None
            ]
        );
    }
}
