//! CustomResourceDefinitions, the basics: the name is `<plural>.<group>`, the group a dotted
//! DNS subdomain, the names DNS-1035 labels, a known scope, versions with unique names, exactly
//! one storage version, and a schema for every version.

use std::collections::BTreeSet;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

use super::field_error::FieldErrors;
use super::metadata::{NamespaceRule, identity_update, object_meta};
use super::names::{is_dns1035_label, is_dns1123_subdomain, name_is_dns_subdomain};
use super::path::{Path, immutable, invalid, json, not_supported, required};

/// Checks a CustomResourceDefinition about to be created.
pub fn validate_custom_resource_definition(crd: &CustomResourceDefinition) -> FieldErrors {
    let mut errors = FieldErrors::new();
    let meta_path = Path::root("metadata");
    object_meta(
        &mut errors,
        &crd.metadata,
        NamespaceRule::Forbidden,
        name_is_dns_subdomain,
        &meta_path,
    );
    let spec = &crd.spec;
    let name = crd.metadata.name.as_deref().unwrap_or_default();
    if !name.is_empty() && name != format!("{}.{}", spec.names.plural, spec.group) {
        errors.push(invalid(
            &meta_path.child("name"),
            name,
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    let spec_path = Path::root("spec");
    let group_path = spec_path.child("group");
    if spec.group.is_empty() {
        errors.push(required(&group_path, ""));
    } else {
        let messages = is_dns1123_subdomain(&spec.group);
        if !messages.is_empty() {
            errors.push(invalid(
                &group_path,
                spec.group.as_str(),
                messages.join(","),
            ));
        } else if !spec.group.contains('.') {
            errors.push(invalid(
                &group_path,
                spec.group.as_str(),
                "should be a domain with at least one dot",
            ));
        }
    }
    let scope_path = spec_path.child("scope");
    match spec.scope.as_str() {
        "" => errors.push(required(&scope_path, "")),
        "Cluster" | "Namespaced" => {}
        other => errors.push(not_supported(
            &scope_path,
            other,
            &["Cluster", "Namespaced"],
        )),
    }
    let names = &spec.names;
    let names_path = spec_path.child("names");
    let dns_1035 = |errors: &mut FieldErrors, value: &str, path: &Path<'_>| {
        let messages = is_dns1035_label(value);
        if !messages.is_empty() {
            errors.push(invalid(path, value, messages.join(",")));
        }
    };
    let plural_path = names_path.child("plural");
    if names.plural.is_empty() {
        errors.push(required(&plural_path, ""));
    } else {
        dns_1035(&mut errors, &names.plural, &plural_path);
    }
    if let Some(singular) = names.singular.as_deref().filter(|s| !s.is_empty()) {
        dns_1035(&mut errors, singular, &names_path.child("singular"));
    }
    let kind_path = names_path.child("kind");
    if names.kind.is_empty() {
        errors.push(required(&kind_path, ""));
    } else {
        let messages = is_dns1035_label(&names.kind.to_ascii_lowercase());
        if !messages.is_empty() {
            errors.push(invalid(
                &kind_path,
                names.kind.as_str(),
                format!(
                    "may have mixed case, but should otherwise match: {}",
                    messages.join(",")
                ),
            ));
        }
    }
    if names.list_kind.as_deref().unwrap_or_default().is_empty() {
        errors.push(required(&names_path.child("listKind"), ""));
    }
    for (list, child) in [
        (&names.short_names, "shortNames"),
        (&names.categories, "categories"),
    ] {
        let list_path = names_path.child(child);
        for (i, value) in list.iter().flatten().enumerate() {
            dns_1035(&mut errors, value, &list_path.index(i));
        }
    }
    let versions_path = spec_path.child("versions");
    if spec.versions.is_empty() {
        errors.push(invalid(
            &versions_path,
            json(&spec.versions),
            "must have exactly one version marked as storage version",
        ));
    }
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut unique = true;
    for (i, version) in spec.versions.iter().enumerate() {
        let version_path = versions_path.index(i);
        let name_path = version_path.child("name");
        if version.name.is_empty() {
            errors.push(required(&name_path, ""));
        } else {
            dns_1035(&mut errors, &version.name, &name_path);
        }
        unique &= seen.insert(version.name.as_str());
        let has_schema = version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .is_some();
        if !has_schema {
            let schema_path = version_path.child("schema");
            errors.push(required(
                &schema_path.child("openAPIV3Schema"),
                "schemas are required",
            ));
        }
    }
    if !unique {
        errors.push(invalid(
            &versions_path,
            json(&spec.versions),
            "must contain unique version names",
        ));
    }
    let storage = spec.versions.iter().filter(|v| v.storage).count();
    if !spec.versions.is_empty() && storage != 1 {
        errors.push(invalid(
            &versions_path,
            json(&spec.versions),
            "must have exactly one version marked as storage version",
        ));
    }
    if let Some(conversion) = &spec.conversion {
        let conversion_path = spec_path.child("conversion");
        let strategy_path = conversion_path.child("strategy");
        if conversion.strategy != "None" && conversion.strategy != "Webhook" {
            errors.push(not_supported(
                &strategy_path,
                conversion.strategy.as_str(),
                &["None", "Webhook"],
            ));
        }
    }
    errors
}

/// Checks a CustomResourceDefinition replacing `old`: its group and scope never change.
pub fn validate_custom_resource_definition_update(
    new: &CustomResourceDefinition,
    old: &CustomResourceDefinition,
) -> FieldErrors {
    let mut errors = validate_custom_resource_definition(new);
    identity_update(
        &mut errors,
        &new.metadata,
        &old.metadata,
        &Path::root("metadata"),
    );
    let spec_path = Path::root("spec");
    immutable(
        &mut errors,
        &spec_path.child("group"),
        &new.spec.group,
        &old.spec.group,
    );
    immutable(
        &mut errors,
        &spec_path.child("scope"),
        &new.spec.scope,
        &old.spec.scope,
    );
    errors
}
