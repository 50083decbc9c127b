//! Kubernetes REST paths and query strings for the `Client` verbs.
//!
//! Paths follow Kubernetes' layout for every kind of [`orchestra_api::kinds`]: the core group
//! under `/api/v1`, the others under `/apis/<group>/<version>`; namespaced objects under
//! `namespaces/<ns>/`, cluster-scoped ones and all-namespace collections without it. Query
//! parameters carry the names and spellings the API server parses (`labelSelector`,
//! `resourceVersionMatch=Exact`, `dryRun=All`, `fieldValidation=Strict`, …).
//!
//! ```
//! use orchestra_api::{kinds, ListParams};
//! use orchestra_client::request::{collection_path, list_query, object_path};
//!
//! assert_eq!(collection_path(&kinds::DEPLOYMENTS, Some("web")), "/apis/apps/v1/namespaces/web/deployments");
//! assert_eq!(collection_path(&kinds::PODS, None), "/api/v1/pods");
//! assert_eq!(object_path(&kinds::NODES, Some("ignored"), "n1", Some("status")), "/api/v1/nodes/n1/status");
//! assert_eq!(list_query(&ListParams::default().labels("app=web").limit(2)), "labelSelector=app%3Dweb&limit=2");
//! ```

use form_urlencoded::Serializer;
use orchestra_api::client::VersionMatch;
use orchestra_api::{
    DeleteParams, FieldValidation, GetParams, ListParams, PatchParams, PostParams, ResourceKind,
    WatchParams,
};

/// Characters kept as they are in a path segment (RFC 3986 unreserved, plus `:` and `@`).
fn push_segment(path: &mut String, segment: &str) {
    path.push('/');
    for byte in segment.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' | b'@' => {
                path.push(byte as char)
            }
            other => path.push_str(&format!("%{other:02X}")),
        }
    }
}

fn group_version_prefix(kind: &ResourceKind) -> String {
    if kind.group.is_empty() {
        format!("/api/{}", kind.version)
    } else {
        format!("/apis/{}/{}", kind.group, kind.version)
    }
}

/// The collection of `kind` in `namespace`, or across all namespaces (and for cluster-scoped
/// kinds) when `None`.
pub fn collection_path(kind: &ResourceKind, namespace: Option<&str>) -> String {
    let mut path = group_version_prefix(kind);
    if let Some(ns) = namespace.filter(|_| kind.is_namespaced()) {
        push_segment(&mut path, "namespaces");
        push_segment(&mut path, ns);
    }
    push_segment(&mut path, &kind.plural);
    path
}

/// One object, or one of its subresources.
pub fn object_path(
    kind: &ResourceKind,
    namespace: Option<&str>,
    name: &str,
    subresource: Option<&str>,
) -> String {
    let mut path = collection_path(kind, namespace);
    push_segment(&mut path, name);
    if let Some(sub) = subresource {
        push_segment(&mut path, sub);
    }
    path
}

fn field_validation(value: FieldValidation) -> &'static str {
    match value {
        FieldValidation::Strict => "Strict",
        FieldValidation::Warn => "Warn",
        FieldValidation::Ignore => "Ignore",
    }
}

fn finish(query: Serializer<'_, String>) -> String {
    let mut query = query;
    query.finish()
}

/// The query of a get.
pub fn get_query(params: &GetParams) -> String {
    let mut q = Serializer::new(String::new());
    if let Some(rv) = &params.resource_version {
        q.append_pair("resourceVersion", rv);
    }
    finish(q)
}

/// The query of a list (and of a delete-collection's selection).
pub fn list_query(params: &ListParams) -> String {
    let mut q = Serializer::new(String::new());
    if let Some(s) = params.label_selector.as_deref().filter(|s| !s.is_empty()) {
        q.append_pair("labelSelector", s);
    }
    if let Some(s) = params.field_selector.as_deref().filter(|s| !s.is_empty()) {
        q.append_pair("fieldSelector", s);
    }
    if let Some(limit) = params.limit {
        q.append_pair("limit", &limit.to_string());
    }
    if let Some(token) = params.continue_token.as_deref().filter(|t| !t.is_empty()) {
        q.append_pair("continue", token);
    }
    if let Some(rv) = &params.resource_version {
        q.append_pair("resourceVersion", rv);
    }
    if let Some(matching) = params.version_match {
        q.append_pair(
            "resourceVersionMatch",
            match matching {
                VersionMatch::NotOlderThan => "NotOlderThan",
                VersionMatch::Exact => "Exact",
            },
        );
    }
    finish(q)
}

/// The query of a watch.
pub fn watch_query(params: &WatchParams) -> String {
    let mut q = Serializer::new(String::new());
    q.append_pair("watch", "true");
    if let Some(s) = params.label_selector.as_deref().filter(|s| !s.is_empty()) {
        q.append_pair("labelSelector", s);
    }
    if let Some(s) = params.field_selector.as_deref().filter(|s| !s.is_empty()) {
        q.append_pair("fieldSelector", s);
    }
    if let Some(rv) = &params.resource_version {
        q.append_pair("resourceVersion", rv);
    }
    if params.allow_bookmarks {
        q.append_pair("allowWatchBookmarks", "true");
    }
    if let Some(timeout) = params.timeout_seconds {
        q.append_pair("timeoutSeconds", &timeout.to_string());
    }
    if let Some(initial) = params.send_initial_events {
        q.append_pair("sendInitialEvents", if initial { "true" } else { "false" });
        if initial {
            // Kubernetes requires this pairing for a watch that starts with initial events.
            q.append_pair("resourceVersionMatch", "NotOlderThan");
        }
    }
    finish(q)
}

/// The query of a create or replace.
pub fn post_query(params: &PostParams) -> String {
    let mut q = Serializer::new(String::new());
    if params.dry_run {
        q.append_pair("dryRun", "All");
    }
    if let Some(manager) = params.field_manager.as_deref().filter(|m| !m.is_empty()) {
        q.append_pair("fieldManager", manager);
    }
    if let Some(validation) = params.field_validation {
        q.append_pair("fieldValidation", field_validation(validation));
    }
    finish(q)
}

/// The query of a patch.
pub fn patch_query(params: &PatchParams) -> String {
    let mut q = Serializer::new(String::new());
    if params.dry_run {
        q.append_pair("dryRun", "All");
    }
    if let Some(manager) = params.field_manager.as_deref().filter(|m| !m.is_empty()) {
        q.append_pair("fieldManager", manager);
    }
    if params.force {
        q.append_pair("force", "true");
    }
    if let Some(validation) = params.field_validation {
        q.append_pair("fieldValidation", field_validation(validation));
    }
    finish(q)
}

/// The `DeleteOptions` body of a delete (Kubernetes reads preconditions only from the body).
pub fn delete_options(params: &DeleteParams) -> serde_json::Value {
    let mut options = serde_json::json!({"kind": "DeleteOptions", "apiVersion": "v1"});
    if params.dry_run {
        options["dryRun"] = serde_json::json!(["All"]);
    }
    if let Some(grace) = params.grace_period_seconds {
        options["gracePeriodSeconds"] = grace.into();
    }
    if let Some(policy) = params.propagation_policy {
        options["propagationPolicy"] = policy.as_str().into();
    }
    if let Some(pre) = &params.preconditions {
        let mut preconditions = serde_json::Map::new();
        if let Some(uid) = &pre.uid {
            preconditions.insert("uid".to_owned(), uid.as_str().into());
        }
        if let Some(rv) = &pre.resource_version {
            preconditions.insert("resourceVersion".to_owned(), rv.as_str().into());
        }
        options["preconditions"] = preconditions.into();
    }
    options
}

/// `path?query`, or `path` alone when the query is empty.
pub fn with_query(path: String, query: &str) -> String {
    if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestra_api::kinds;

    #[test]
    fn every_served_kind_has_a_kubernetes_path() {
        for kind in kinds::BUILTIN {
            let collection = collection_path(kind, Some("ns"));
            let prefix = if kind.group.is_empty() {
                "/api/v1/".to_owned()
            } else {
                format!("/apis/{}/{}/", kind.group, kind.version)
            };
            assert!(collection.starts_with(&prefix), "{collection}");
            assert_eq!(
                collection.contains("/namespaces/ns/"),
                kind.is_namespaced(),
                "{collection}"
            );
            assert!(collection.ends_with(&format!("/{}", kind.plural)));
        }
    }

    #[test]
    fn names_are_escaped_as_path_segments() {
        assert_eq!(
            object_path(&kinds::CONFIGMAPS, Some("a b"), "x/y?z", None),
            "/api/v1/namespaces/a%20b/configmaps/x%2Fy%3Fz"
        );
        assert_eq!(
            object_path(&kinds::NAMESPACES, None, "team-a", Some("status")),
            "/api/v1/namespaces/team-a/status"
        );
    }

    #[test]
    fn delete_options_carry_every_parameter() {
        let options = delete_options(&DeleteParams {
            dry_run: true,
            grace_period_seconds: Some(0),
            propagation_policy: Some(orchestra_api::PropagationPolicy::Foreground),
            preconditions: Some(orchestra_api::Preconditions {
                uid: Some("u-1".to_owned()),
                resource_version: Some("7".to_owned()),
            }),
        });
        assert_eq!(
            options,
            serde_json::json!({
                "kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"],
                "gracePeriodSeconds": 0, "propagationPolicy": "Foreground",
                "preconditions": {"uid": "u-1", "resourceVersion": "7"},
            })
        );
    }
}
