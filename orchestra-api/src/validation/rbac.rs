//! RBAC: Roles and ClusterRoles (rules with verbs, and either resources with API groups or
//! non-resource URLs), aggregation rules, and RoleBindings and ClusterRoleBindings (a role
//! reference of the right kind that never changes, and well-formed subjects). RBAC object names
//! only need to be URL path segments (`system:node` is a valid name).

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use super::field_error::FieldErrors;
use super::metadata::{NamespaceRule, identity_update, object_meta};
use super::names::{name_is_dns_subdomain, path_segment_name};
use super::path::{Path, invalid, invalid_each, json, not_supported, required};
use super::selector::label_selector;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

fn policy_rule(errors: &mut FieldErrors, rule: &PolicyRule, namespaced: bool, path: &Path<'_>) {
    if rule.verbs.is_empty() {
        errors.push(required(
            &path.child("verbs"),
            "verbs must contain at least one value",
        ));
    }
    let urls = rule.non_resource_urls.as_deref().unwrap_or_default();
    let groups = rule.api_groups.as_deref().unwrap_or_default();
    let resources = rule.resources.as_deref().unwrap_or_default();
    let names = rule.resource_names.as_deref().unwrap_or_default();
    if !urls.is_empty() {
        let urls_path = path.child("nonResourceURLs");
        if namespaced {
            errors.push(invalid(
                &urls_path,
                json(urls),
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if !groups.is_empty() || !resources.is_empty() || !names.is_empty() {
            errors.push(invalid(
                &urls_path,
                json(urls),
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return;
    }
    if groups.is_empty() {
        errors.push(required(
            &path.child("apiGroups"),
            "resource rules must supply at least one api group",
        ));
    }
    if resources.is_empty() {
        errors.push(required(
            &path.child("resources"),
            "resource rules must supply at least one resource",
        ));
    }
}

fn rules(errors: &mut FieldErrors, list: Option<&[PolicyRule]>, namespaced: bool) {
    let rules_path = Path::root("rules");
    for (i, rule) in list.unwrap_or_default().iter().enumerate() {
        policy_rule(errors, rule, namespaced, &rules_path.index(i));
    }
}

/// Checks a Role about to be created.
pub fn validate_role(role: &Role) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &role.metadata,
        NamespaceRule::Optional,
        path_segment_name,
        &Path::root("metadata"),
    );
    rules(&mut errors, role.rules.as_deref(), true);
    errors
}

/// Checks a Role replacing `old`.
pub fn validate_role_update(new: &Role, old: &Role) -> FieldErrors {
    let mut errors = validate_role(new);
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    errors
}

/// Checks a ClusterRole about to be created.
pub fn validate_cluster_role(role: &ClusterRole) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &role.metadata,
        NamespaceRule::Forbidden,
        path_segment_name,
        &Path::root("metadata"),
    );
    rules(&mut errors, role.rules.as_deref(), false);
    if let Some(aggregation) = &role.aggregation_rule {
        let rule_path = Path::root("aggregationRule");
        let selectors_path = rule_path.child("clusterRoleSelectors");
        let selectors = aggregation
            .cluster_role_selectors
            .as_deref()
            .unwrap_or_default();
        if selectors.is_empty() {
            errors.push(required(
                &selectors_path,
                "at least one clusterRoleSelector required if aggregationRule is non-nil",
            ));
        }
        for (i, selector) in selectors.iter().enumerate() {
            label_selector(&mut errors, selector, &selectors_path.index(i));
        }
    }
    errors
}

/// Checks a ClusterRole replacing `old`.
pub fn validate_cluster_role_update(new: &ClusterRole, old: &ClusterRole) -> FieldErrors {
    let mut errors = validate_cluster_role(new);
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    errors
}

fn role_ref(errors: &mut FieldErrors, reference: &RoleRef, kinds: &[&str]) {
    let path = Path::root("roleRef");
    if reference.api_group != RBAC_GROUP {
        errors.push(not_supported(
            &path.child("apiGroup"),
            reference.api_group.as_str(),
            &[RBAC_GROUP],
        ));
    }
    if !kinds.contains(&reference.kind.as_str()) {
        errors.push(not_supported(
            &path.child("kind"),
            reference.kind.as_str(),
            kinds,
        ));
    }
    let name_path = path.child("name");
    if reference.name.is_empty() {
        errors.push(required(&name_path, ""));
    } else {
        invalid_each(
            errors,
            &name_path,
            &reference.name,
            path_segment_name(&reference.name, false),
        );
    }
}

fn subjects(errors: &mut FieldErrors, list: Option<&[Subject]>, namespaced: bool) {
    let subjects_path = Path::root("subjects");
    for (i, subject) in list.unwrap_or_default().iter().enumerate() {
        let path = subjects_path.index(i);
        if subject.name.is_empty() {
            errors.push(required(&path.child("name"), ""));
        }
        let api_group = subject.api_group.as_deref().unwrap_or_default();
        match subject.kind.as_str() {
            "ServiceAccount" => {
                if !subject.name.is_empty() {
                    invalid_each(
                        errors,
                        &path.child("name"),
                        &subject.name,
                        name_is_dns_subdomain(&subject.name, false),
                    );
                }
                if !api_group.is_empty() {
                    errors.push(not_supported(&path.child("apiGroup"), api_group, &[""]));
                }
                if !namespaced && subject.namespace.as_deref().unwrap_or_default().is_empty() {
                    errors.push(required(&path.child("namespace"), ""));
                }
            }
            "User" | "Group" => {
                if api_group != RBAC_GROUP {
                    errors.push(not_supported(
                        &path.child("apiGroup"),
                        api_group,
                        &[RBAC_GROUP],
                    ));
                }
            }
            other => errors.push(not_supported(
                &path.child("kind"),
                other,
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
}

/// Checks a RoleBinding about to be created.
pub fn validate_role_binding(binding: &RoleBinding) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &binding.metadata,
        NamespaceRule::Optional,
        path_segment_name,
        &Path::root("metadata"),
    );
    role_ref(&mut errors, &binding.role_ref, &["Role", "ClusterRole"]);
    subjects(&mut errors, binding.subjects.as_deref(), true);
    errors
}

/// Checks a RoleBinding replacing `old`: its role reference may not change.
pub fn validate_role_binding_update(new: &RoleBinding, old: &RoleBinding) -> FieldErrors {
    let mut errors = validate_role_binding(new);
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    if new.role_ref != old.role_ref {
        errors.push(invalid(
            &Path::root("roleRef"),
            json(&new.role_ref),
            "cannot change roleRef",
        ));
    }
    errors
}

/// Checks a ClusterRoleBinding about to be created.
pub fn validate_cluster_role_binding(binding: &ClusterRoleBinding) -> FieldErrors {
    let mut errors = FieldErrors::new();
    object_meta(
        &mut errors,
        &binding.metadata,
        NamespaceRule::Forbidden,
        path_segment_name,
        &Path::root("metadata"),
    );
    role_ref(&mut errors, &binding.role_ref, &["ClusterRole"]);
    subjects(&mut errors, binding.subjects.as_deref(), false);
    errors
}

/// Checks a ClusterRoleBinding replacing `old`: its role reference may not change.
pub fn validate_cluster_role_binding_update(
    new: &ClusterRoleBinding,
    old: &ClusterRoleBinding,
) -> FieldErrors {
    let mut errors = validate_cluster_role_binding(new);
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    if new.role_ref != old.role_ref {
        errors.push(invalid(
            &Path::root("roleRef"),
            json(&new.role_ref),
            "cannot change roleRef",
        ));
    }
    errors
}
