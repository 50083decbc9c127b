//! Request paths of the Kubernetes API, parsed against the table of served kinds.
//!
//! ```text
//! /api                                   legacy group versions
//! /apis                                  every group
//! /api/v1, /apis/apps/v1                 resources of a group version
//! /api/v1/pods                           pods in every namespace
//! /api/v1/namespaces/default/pods/web    one pod
//! /api/v1/namespaces/default/pods/web/status
//! /api/v1/nodes/node-1                   a cluster-scoped object
//! /api/v1/namespaces/default             a namespace (itself cluster-scoped)
//! ```

use orchestra_api::{ResourceKind, kinds};

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiPath {
    /// `/api`
    LegacyRoot,
    /// `/apis`
    GroupsRoot,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`
    GroupVersion {
        /// The group (empty for the core group).
        group: String,
        /// The version.
        version: String,
    },
    /// A resource, collection or subresource.
    Resource(ResourcePath),
}

/// A request for objects of one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcePath {
    /// The kind addressed.
    pub kind: &'static ResourceKind,
    /// The namespace in the path, if any.
    pub namespace: Option<String>,
    /// The object's name, if the path names one.
    pub name: Option<String>,
    /// The subresource after the name (`status`, `scale`, `binding`, …).
    pub subresource: Option<String>,
}

/// Why a path addresses nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPath;

fn kind_in(group: &str, version: &str, plural: &str) -> Option<&'static ResourceKind> {
    kinds::lookup(group, plural).filter(|k| k.version == version)
}

/// Parses a request path.
pub fn parse(path: &str) -> Result<ApiPath, UnknownPath> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api"] => return Ok(ApiPath::LegacyRoot),
        ["apis"] => return Ok(ApiPath::GroupsRoot),
        ["apis", group] => return Ok(ApiPath::Group((*group).to_owned())),
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(UnknownPath),
    };
    let resource = |kind, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        Ok(ApiPath::Resource(ResourcePath {
            kind,
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
            subresource: sub.map(str::to_owned),
        }))
    };
    match rest {
        [] => Ok(ApiPath::GroupVersion {
            group: group.to_owned(),
            version: version.to_owned(),
        }),
        // A namespaced resource inside a namespace.
        ["namespaces", ns, plural, tail @ ..]
            if kind_in(group, version, plural).is_some_and(ResourceKind::is_namespaced) =>
        {
            let kind = kind_in(group, version, plural).ok_or(UnknownPath)?;
            match tail {
                [] => resource(kind, Some(ns), None, None),
                [name] => resource(kind, Some(ns), Some(name), None),
                [name, sub] => resource(kind, Some(ns), Some(name), Some(sub)),
                _ => Err(UnknownPath),
            }
        }
        [plural, tail @ ..] => {
            let kind = kind_in(group, version, plural).ok_or(UnknownPath)?;
            match tail {
                [] => resource(kind, None, None, None),
                [name] => resource(kind, None, Some(name), None),
                [name, sub] => resource(kind, None, Some(name), Some(sub)),
                _ => Err(UnknownPath),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match parse(path) {
            Ok(ApiPath::Resource(r)) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn namespaced_objects_collections_and_subresources() {
        let r = res("/api/v1/namespaces/default/pods/web/status");
        assert_eq!(r.kind.plural, "pods");
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(r.subresource.as_deref(), Some("status"));
        let all = res("/apis/apps/v1/deployments");
        assert_eq!(
            (all.kind.kind.as_ref(), all.namespace, all.name),
            ("Deployment", None, None)
        );
    }

    #[test]
    fn namespaces_themselves_are_cluster_scoped_objects() {
        let ns = res("/api/v1/namespaces/default");
        assert_eq!(ns.kind.plural, "namespaces");
        assert_eq!(ns.name.as_deref(), Some("default"));
        assert_eq!(ns.namespace, None);
        let finalize = res("/api/v1/namespaces/default/finalize");
        assert_eq!(finalize.subresource.as_deref(), Some("finalize"));
    }

    #[test]
    fn discovery_paths_and_unknown_resources() {
        assert_eq!(parse("/api"), Ok(ApiPath::LegacyRoot));
        assert_eq!(parse("/apis/apps"), Ok(ApiPath::Group("apps".into())));
        assert!(matches!(
            parse("/apis/apps/v1"),
            Ok(ApiPath::GroupVersion { .. })
        ));
        assert_eq!(parse("/api/v1/widgets"), Err(UnknownPath));
        assert_eq!(parse("/apis/apps/v2/deployments"), Err(UnknownPath));
    }
}
