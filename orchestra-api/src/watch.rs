//! Watch events: what a watch stream delivers, shaped as Kubernetes' `metav1.WatchEvent`
//! (`{"type":"ADDED","object":{…}}`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::status::Status;

/// One event of a watch stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "object", rename_all = "UPPERCASE")]
pub enum WatchEvent<T> {
    /// An object appeared (or was present when the watch started with initial events).
    Added(T),
    /// An object changed.
    Modified(T),
    /// An object was removed; carries its last state.
    Deleted(T),
    /// A progress marker: every change up to this resourceVersion has been delivered.
    Bookmark(Bookmark),
    /// The watch failed; the stream ends after this event.
    Error(Status),
}

impl<T> WatchEvent<T> {
    /// Maps the object of an `ADDED`/`MODIFIED`/`DELETED` event.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> WatchEvent<U> {
        match self {
            Self::Added(o) => WatchEvent::Added(f(o)),
            Self::Modified(o) => WatchEvent::Modified(f(o)),
            Self::Deleted(o) => WatchEvent::Deleted(f(o)),
            Self::Bookmark(b) => WatchEvent::Bookmark(b),
            Self::Error(s) => WatchEvent::Error(s),
        }
    }

    /// Like [`WatchEvent::map`] with a fallible mapping; a failure becomes an `ERROR` event.
    pub fn try_map<U>(self, f: impl FnOnce(T) -> Result<U, Status>) -> WatchEvent<U> {
        let wrap = |r: Result<U, Status>, ctor: fn(U) -> WatchEvent<U>| match r {
            Ok(o) => ctor(o),
            Err(status) => WatchEvent::Error(status),
        };
        match self {
            Self::Added(o) => wrap(f(o), WatchEvent::Added),
            Self::Modified(o) => wrap(f(o), WatchEvent::Modified),
            Self::Deleted(o) => wrap(f(o), WatchEvent::Deleted),
            Self::Bookmark(b) => WatchEvent::Bookmark(b),
            Self::Error(s) => WatchEvent::Error(s),
        }
    }
}

/// The object of a `BOOKMARK` event: only `kind`, `apiVersion` and
/// `metadata.resourceVersion` (and annotations) are set, as in Kubernetes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Bookmark {
    /// Kind of the watched resource.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// apiVersion of the watched resource.
    #[serde(
        rename = "apiVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub api_version: String,
    /// Carries the resourceVersion.
    pub metadata: BookmarkMeta,
}

/// Metadata of a bookmark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BookmarkMeta {
    /// Every change up to this revision has been delivered.
    #[serde(rename = "resourceVersion")]
    pub resource_version: String,
    /// `k8s.io/initial-events-end: "true"` marks the end of initial events.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_kubernetes_watch_events() {
        let event: WatchEvent<serde_json::Value> =
            WatchEvent::Added(serde_json::json!({"kind": "Pod"}));
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"type":"ADDED","object":{"kind":"Pod"}}"#
        );
        let bookmark: WatchEvent<serde_json::Value> = serde_json::from_str(
            r#"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12"}}}"#,
        )
        .unwrap();
        match bookmark {
            WatchEvent::Bookmark(b) => assert_eq!(b.metadata.resource_version, "12"),
            other => panic!("expected a bookmark, got {other:?}"),
        }
        let error: WatchEvent<serde_json::Value> = serde_json::from_str(
            r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}}"#,
        )
        .unwrap();
        assert!(matches!(error, WatchEvent::Error(s) if s.code == 410));
    }
}
