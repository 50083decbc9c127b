//! Discovery documents, derived from the table of served kinds: what `kubectl api-resources`
//! and every client's RESTMapper read to turn `deploy` into `/apis/apps/v1/deployments`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIResource, APIResourceList, APIVersions, GroupVersionForDiscovery,
    ServerAddressByClientCIDR,
};
use orchestra_api::kinds::{self, ResourceKind};

/// The groups served, each with its versions, in table order (core group excluded).
pub(crate) fn served_groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut groups: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for kind in kinds::BUILTIN {
        let (group, version): (&'static str, &'static str) = (&kind.group, &kind.version);
        if group.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, versions)) if !versions.contains(&version) => versions.push(version),
            Some(_) => {}
            None => groups.push((group, vec![version])),
        }
    }
    groups
}

fn group_version(group: &str, version: &str) -> GroupVersionForDiscovery {
    GroupVersionForDiscovery {
        group_version: if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        },
        version: version.to_owned(),
    }
}

/// `GET /api`.
pub fn legacy_versions(server_address: &str) -> APIVersions {
    APIVersions {
        versions: vec!["v1".to_owned()],
        server_address_by_client_cidrs: vec![ServerAddressByClientCIDR {
            client_cidr: "0.0.0.0/0".to_owned(),
            server_address: server_address.to_owned(),
        }],
    }
}

fn api_group(name: &str, versions: &[&str]) -> APIGroup {
    let versions: Vec<GroupVersionForDiscovery> =
        versions.iter().map(|v| group_version(name, v)).collect();
    APIGroup {
        name: name.to_owned(),
        preferred_version: versions.first().cloned(),
        versions,
        server_address_by_client_cidrs: None,
    }
}

/// `GET /apis`.
pub fn group_list() -> APIGroupList {
    APIGroupList {
        groups: served_groups()
            .iter()
            .map(|(name, versions)| api_group(name, versions))
            .collect(),
    }
}

/// `GET /apis/<group>`, if the group is served.
pub fn group(name: &str) -> Option<APIGroup> {
    served_groups()
        .iter()
        .find(|(g, _)| *g == name)
        .map(|(g, versions)| api_group(g, versions))
}

fn resource_entry(kind: &ResourceKind) -> APIResource {
    APIResource {
        name: kind.plural.to_string(),
        singular_name: kind.singular.to_string(),
        namespaced: kind.is_namespaced(),
        kind: kind.kind.to_string(),
        verbs: kind.verbs.names().map(str::to_owned).collect(),
        short_names: (!kind.short_names.is_empty())
            .then(|| kind.short_names.iter().map(|s| (*s).to_owned()).collect()),
        categories: (!kind.categories.is_empty())
            .then(|| kind.categories.iter().map(|s| (*s).to_owned()).collect()),
        group: None,
        version: None,
        storage_version_hash: None,
    }
}

/// `GET /api/v1` or `GET /apis/<group>/<version>`, if served: every resource and subresource.
pub fn resource_list(group: &str, version: &str) -> Option<APIResourceList> {
    let mut resources = Vec::new();
    for kind in kinds::BUILTIN
        .iter()
        .filter(|k| k.group == group && k.version == version)
    {
        resources.push(resource_entry(kind));
        for sub in kind.subresources.iter() {
            resources.push(APIResource {
                name: format!("{}/{}", kind.plural, sub.name),
                singular_name: String::new(),
                namespaced: kind.is_namespaced(),
                kind: if sub.kind.is_empty() {
                    kind.kind.to_string()
                } else {
                    sub.kind.to_string()
                },
                group: (!sub.group.is_empty()).then(|| sub.group.to_string()),
                version: (!sub.version.is_empty()).then(|| sub.version.to_string()),
                verbs: sub.verbs.names().map(str::to_owned).collect(),
                short_names: None,
                categories: None,
                storage_version_hash: None,
            });
        }
    }
    (!resources.is_empty()).then(|| APIResourceList {
        group_version: group_version(group, version).group_version,
        resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_v1_lists_deployments_with_their_scale_subresource() {
        let list = resource_list("apps", "v1").unwrap();
        assert_eq!(list.group_version, "apps/v1");
        let deploy = list
            .resources
            .iter()
            .find(|r| r.name == "deployments")
            .unwrap();
        assert_eq!(
            deploy.short_names.as_deref(),
            Some(&["deploy".to_owned()][..])
        );
        let scale = list
            .resources
            .iter()
            .find(|r| r.name == "deployments/scale")
            .unwrap();
        assert_eq!(
            (scale.kind.as_str(), scale.group.as_deref()),
            ("Scale", Some("autoscaling"))
        );
    }

    #[test]
    fn the_group_list_holds_every_group_once_and_not_the_core_group() {
        let names: Vec<String> = group_list().groups.into_iter().map(|g| g.name).collect();
        assert!(names.contains(&"apps".to_owned()));
        assert!(!names.contains(&String::new()));
        let mut sorted = names.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        assert!(resource_list("", "v1").is_some());
        assert!(resource_list("apps", "v2").is_none());
    }
}
