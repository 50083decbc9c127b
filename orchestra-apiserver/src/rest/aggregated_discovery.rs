//! Aggregated discovery: `GET /api` and `GET /apis` answering every group, version, resource
//! and subresource in one `APIGroupDiscoveryList`, for clients that ask for it in `Accept`
//! (`kubectl` 1.26 and later), so that a RESTMapper needs two requests instead of one per
//! group version.
//!
//! Like the unaggregated documents of [`super::discovery`], the list is derived from
//! `orchestra_api::kinds`, the one table of served kinds. Two profiles are served, with the
//! same shape: `apidiscovery.k8s.io/v2` and `v2beta1` (which `kubectl` 1.27–1.29 may ask for
//! first). The response's `Content-Type` names the profile chosen, which is how a client tells
//! an aggregated answer from an unaggregated one.
//!
//! ```
//! use orchestra_apiserver::rest::aggregated_discovery::{Profile, Root, negotiate, document};
//!
//! let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
//! let profile = negotiate(Some(accept)).unwrap();
//! assert_eq!(profile, Profile::V2);
//! let apps = &document(Root::Groups, profile).items[0];
//! assert_eq!(apps.metadata.name, "apps");
//!
//! // A client that accepts only plain JSON gets the unaggregated documents.
//! assert_eq!(negotiate(Some("application/json, */*")), None);
//! ```

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::response::Response;
use orchestra_api::kinds::{self, ResourceKind, Scope, SubresourceKind};
use serde::Serialize;

use super::etagged::EtaggedDocument;
use super::path::ApiPath;

/// The aggregated-discovery profile a client negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// `apidiscovery.k8s.io/v2` (Kubernetes 1.30 and later).
    V2,
    /// `apidiscovery.k8s.io/v2beta1` (Kubernetes 1.26–1.32 serve it too).
    V2Beta1,
}

impl Profile {
    /// The profile's version parameter (`v=`).
    pub fn version(self) -> &'static str {
        match self {
            Profile::V2 => "v2",
            Profile::V2Beta1 => "v2beta1",
        }
    }

    /// The `apiVersion` of the list in this profile.
    pub fn api_version(self) -> &'static str {
        match self {
            Profile::V2 => "apidiscovery.k8s.io/v2",
            Profile::V2Beta1 => "apidiscovery.k8s.io/v2beta1",
        }
    }

    /// The `Content-Type` of a response in this profile, as Kubernetes writes it.
    pub fn content_type(self) -> String {
        format!(
            "application/json;g=apidiscovery.k8s.io;v={};as=APIGroupDiscoveryList",
            self.version()
        )
    }
}

/// One clause of an `Accept` header: the media range, its parameters and its quality.
struct AcceptClause<'a> {
    media: &'a str,
    params: Vec<(&'a str, &'a str)>,
    quality: f32,
}

impl<'a> AcceptClause<'a> {
    fn parse(clause: &'a str) -> Self {
        let mut parts = clause.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let mut params = Vec::new();
        let mut quality = 1.0;
        for part in parts {
            let Some((key, value)) = part.split_once('=') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim().trim_matches('"'));
            if key == "q" {
                quality = value.parse().unwrap_or(0.0);
            } else {
                params.push((key, value));
            }
        }
        Self {
            media,
            params,
            quality,
        }
    }

    fn param(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| *value)
    }

    /// What this clause asks for: `Some(Some(profile))` for an aggregated profile we serve,
    /// `Some(None)` for plain JSON, `None` for something this endpoint cannot produce.
    fn offer(&self) -> Option<Option<Profile>> {
        let json = matches!(self.media, "application/json" | "application/*" | "*/*");
        if !json || self.quality <= 0.0 {
            return None;
        }
        match self.param("as") {
            None => Some(None),
            Some("APIGroupDiscoveryList") if self.param("g") == Some("apidiscovery.k8s.io") => {
                match self.param("v") {
                    Some("v2") => Some(Some(Profile::V2)),
                    Some("v2beta1") => Some(Some(Profile::V2Beta1)),
                    _ => None,
                }
            }
            Some(_) => None,
        }
    }
}

/// The aggregated profile an `Accept` header asks for, or `None` when the client prefers
/// (or only accepts) the unaggregated documents. Clauses are taken by quality, then in the
/// order the client wrote them.
pub fn negotiate(accept: Option<&str>) -> Option<Profile> {
    let accept = accept?;
    let mut clauses: Vec<AcceptClause<'_>> = accept.split(',').map(AcceptClause::parse).collect();
    // A stable sort keeps the client's order among equal qualities.
    clauses.sort_by(|a, b| b.quality.total_cmp(&a.quality));
    clauses.iter().find_map(AcceptClause::offer)?
}

/// Which discovery root is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `/api`: the core group.
    Legacy,
    /// `/apis`: every named group.
    Groups,
}

/// `APIGroupDiscoveryList`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupDiscoveryList {
    /// `APIGroupDiscoveryList`.
    pub kind: &'static str,
    /// The profile's group version.
    pub api_version: &'static str,
    /// Empty list metadata.
    pub metadata: BTreeMap<String, String>,
    /// One entry per group.
    pub items: Vec<GroupDiscovery>,
}

/// `APIGroupDiscovery`: one group and its versions, preferred first.
#[derive(Debug, Clone, Serialize)]
pub struct GroupDiscovery {
    /// The group's name (empty for the core group).
    pub metadata: GroupMeta,
    /// The served versions, preferred first.
    pub versions: Vec<VersionDiscovery>,
}

/// The metadata of an [`GroupDiscovery`]: only the name.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMeta {
    /// The group's name; omitted for the core group, as Kubernetes does.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Always `null`, as Kubernetes writes it.
    pub creation_timestamp: Option<String>,
}

/// `APIVersionDiscovery`.
#[derive(Debug, Clone, Serialize)]
pub struct VersionDiscovery {
    /// The version (`v1`).
    pub version: String,
    /// The version's resources, sorted by name.
    pub resources: Vec<ResourceDiscovery>,
    /// `Current`: this server's documents are never stale.
    pub freshness: &'static str,
}

/// A group, version and kind, every field written even when empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupVersionKind {
    /// The group (`""` for core).
    pub group: String,
    /// The version.
    pub version: String,
    /// The kind.
    pub kind: String,
}

/// `APIResourceDiscovery`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDiscovery {
    /// The plural resource name (`deployments`).
    pub resource: String,
    /// The kind of the objects the resource returns.
    pub response_kind: GroupVersionKind,
    /// `Namespaced` or `Cluster`.
    pub scope: &'static str,
    /// The singular name (`deployment`).
    pub singular_resource: String,
    /// The verbs, sorted.
    pub verbs: Vec<&'static str>,
    /// Short names (`deploy`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub short_names: Vec<String>,
    /// Categories (`all`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Subresources (`status`, `scale`), sorted by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subresources: Vec<SubresourceDiscovery>,
}

/// `APISubresourceDiscovery`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubresourceDiscovery {
    /// The subresource's name (`status`).
    pub subresource: String,
    /// The kind its requests and responses carry (`autoscaling/v1` `Scale` for `scale`).
    pub response_kind: GroupVersionKind,
    /// The verbs, sorted.
    pub verbs: Vec<&'static str>,
}

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Namespaced => "Namespaced",
        Scope::Cluster => "Cluster",
    }
}

fn subresource_entry(kind: &ResourceKind, sub: &SubresourceKind) -> SubresourceDiscovery {
    let same_group = sub.group.is_empty() && sub.version.is_empty();
    SubresourceDiscovery {
        subresource: sub.name.to_string(),
        response_kind: GroupVersionKind {
            group: if same_group {
                kind.group.to_string()
            } else {
                sub.group.to_string()
            },
            version: if sub.version.is_empty() {
                kind.version.to_string()
            } else {
                sub.version.to_string()
            },
            kind: if sub.kind.is_empty() {
                kind.kind.to_string()
            } else {
                sub.kind.to_string()
            },
        },
        verbs: sub.verbs.names().collect(),
    }
}

fn resource_entry(kind: &ResourceKind) -> ResourceDiscovery {
    let mut subresources: Vec<SubresourceDiscovery> = kind
        .subresources
        .iter()
        .map(|sub| subresource_entry(kind, sub))
        .collect();
    subresources.sort_by(|a, b| a.subresource.cmp(&b.subresource));
    ResourceDiscovery {
        resource: kind.plural.to_string(),
        response_kind: GroupVersionKind {
            group: kind.group.to_string(),
            version: kind.version.to_string(),
            kind: kind.kind.to_string(),
        },
        scope: scope_name(kind.scope),
        singular_resource: kind.singular.to_string(),
        verbs: kind.verbs.names().collect(),
        short_names: kind.short_names.iter().map(|s| (*s).to_owned()).collect(),
        categories: kind.categories.iter().map(|s| (*s).to_owned()).collect(),
        subresources,
    }
}

fn group_entry(group: &str, versions: &[&str]) -> GroupDiscovery {
    GroupDiscovery {
        metadata: GroupMeta {
            name: group.to_owned(),
            creation_timestamp: None,
        },
        versions: versions
            .iter()
            .map(|version| {
                let mut resources: Vec<ResourceDiscovery> = kinds::BUILTIN
                    .iter()
                    .filter(|k| k.group == group && k.version == *version)
                    .map(|k| resource_entry(k))
                    .collect();
                resources.sort_by(|a, b| a.resource.cmp(&b.resource));
                VersionDiscovery {
                    version: (*version).to_owned(),
                    resources,
                    freshness: "Current",
                }
            })
            .collect(),
    }
}

/// The aggregated discovery document of `/api` or `/apis` in the given profile.
pub fn document(root: Root, profile: Profile) -> GroupDiscoveryList {
    let items = match root {
        Root::Legacy => vec![group_entry("", &["v1"])],
        Root::Groups => super::discovery::served_groups()
            .iter()
            .map(|(group, versions)| group_entry(group, versions))
            .collect(),
    };
    GroupDiscoveryList {
        kind: "APIGroupDiscoveryList",
        api_version: profile.api_version(),
        metadata: BTreeMap::new(),
        items,
    }
}

/// The document of `root` in `profile`, encoded once per process.
fn cached(root: Root, profile: Profile) -> &'static EtaggedDocument {
    static DOCUMENTS: [OnceLock<EtaggedDocument>; 4] = [const { OnceLock::new() }; 4];
    let slot = match (root, profile) {
        (Root::Legacy, Profile::V2) => 0,
        (Root::Legacy, Profile::V2Beta1) => 1,
        (Root::Groups, Profile::V2) => 2,
        (Root::Groups, Profile::V2Beta1) => 3,
    };
    DOCUMENTS[slot].get_or_init(|| {
        let body = serde_json::to_vec(&document(root, profile)).unwrap_or_default();
        EtaggedDocument::new(body, &profile.content_type())
    })
}

/// The aggregated answer to a discovery request, when `path` is `/api` or `/apis` and
/// `accept` asks for an aggregated profile; `None` leaves the request to the unaggregated
/// handlers.
pub fn respond(
    path: &ApiPath,
    accept: Option<&str>,
    if_none_match: Option<&str>,
) -> Option<Response> {
    let root = match path {
        ApiPath::LegacyRoot => Root::Legacy,
        ApiPath::GroupsRoot => Root::Groups,
        _ => return None,
    };
    let profile = negotiate(accept)?;
    Some(cached(root, profile).respond(if_none_match))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KUBECTL_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

    #[test]
    fn kubectl_gets_v2_and_older_clients_v2beta1() {
        assert_eq!(negotiate(Some(KUBECTL_ACCEPT)), Some(Profile::V2));
        let old = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(negotiate(Some(old)), Some(Profile::V2Beta1));
    }

    #[test]
    fn quality_outranks_order_and_unknown_profiles_are_skipped() {
        let accept = "application/json;q=0.9,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
        assert_eq!(negotiate(Some(accept)), Some(Profile::V2));
        let accept =
            "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json";
        assert_eq!(negotiate(Some(accept)), None);
        let accept = "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
        assert_eq!(negotiate(Some(accept)), Some(Profile::V2Beta1));
        assert_eq!(negotiate(None), None);
        assert_eq!(negotiate(Some("")), None);
    }

    #[test]
    fn the_core_group_has_no_name_and_lists_pod_subresources() {
        let list = document(Root::Legacy, Profile::V2);
        assert_eq!(list.items.len(), 1);
        let value = serde_json::to_value(&list.items[0]).unwrap();
        assert!(value["metadata"].get("name").is_none());
        let pods = list.items[0].versions[0]
            .resources
            .iter()
            .find(|r| r.resource == "pods")
            .unwrap();
        let names: Vec<&str> = pods
            .subresources
            .iter()
            .map(|s| s.subresource.as_str())
            .collect();
        assert_eq!(names, ["binding", "eviction", "exec", "log", "status"]);
        let eviction = &pods.subresources[1];
        assert_eq!(
            eviction.response_kind,
            GroupVersionKind {
                group: "policy".into(),
                version: "v1".into(),
                kind: "Eviction".into()
            }
        );
        assert_eq!(eviction.verbs, ["create"]);
    }

    #[test]
    fn every_served_kind_appears_once_under_its_group_version() {
        let legacy = document(Root::Legacy, Profile::V2);
        let groups = document(Root::Groups, Profile::V2Beta1);
        assert_eq!(groups.api_version, "apidiscovery.k8s.io/v2beta1");
        let mut seen = Vec::new();
        for group in legacy.items.iter().chain(&groups.items) {
            for version in &group.versions {
                for resource in &version.resources {
                    seen.push((
                        group.metadata.name.clone(),
                        version.version.clone(),
                        resource.resource.clone(),
                    ));
                }
            }
        }
        let mut expected: Vec<(String, String, String)> = kinds::BUILTIN
            .iter()
            .map(|k| {
                (
                    k.group.to_string(),
                    k.version.to_string(),
                    k.plural.to_string(),
                )
            })
            .collect();
        expected.sort();
        seen.sort();
        assert_eq!(seen, expected);
    }

    proptest! {
        /// Negotiation never panics and only ever picks a profile the header names.
        #[test]
        fn negotiation_picks_only_named_profiles(accept in "[a-z/*;=,.0-9 A-Z]{0,120}") {
            match negotiate(Some(&accept)) {
                Some(Profile::V2) => prop_assert!(accept.contains("v=v2")),
                Some(Profile::V2Beta1) => prop_assert!(accept.contains("v=v2beta1")),
                None => {}
            }
        }
    }
}
