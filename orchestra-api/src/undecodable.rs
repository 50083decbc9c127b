//! Objects that a client received but could not decode into their kind's type.
//!
//! A server can hold an object that this program's types cannot read: one written by a newer
//! client with a field of another type, or stored before a schema changed. Such an object must
//! not stop a whole list or watch. A client that meets one hands on an [`UndecodableObject`]
//! where the decoded object would have been — among a list's [`items`](crate::ObjectList) or in
//! an `ADDED`/`MODIFIED`/`DELETED` [`WatchEvent`](crate::WatchEvent) — with the object's
//! identity (apiVersion, kind, namespace, name, uid, resourceVersion), the decode error, and
//! the JSON as it was received. Because it implements [`Object`], whatever only reads
//! metadata keeps working: a watch still resumes from its `resourceVersion`, so it is not
//! delivered again and again, and a namespace deleter can still delete it. A typed reader
//! (a downcast to the kind's type) gets a conversion error for it and decides what to do:
//! [`Api`](crate::Api) lists set such objects apart in
//! [`TypedList::undecodable`](crate::TypedList::undecodable), `Api` watches skip them with a
//! warning, and informers skip them and report them through an Event.
//!
//! `LocalClient` never produces one: in-process objects are the store's own typed values.
//!
//! **Difference from Kubernetes.** client-go ends a watch at an event it cannot decode and
//! fails a whole list for one bad item, so a reflector lists and watches again, with back-off,
//! for as long as the object stays unreadable (kubernetes/kubernetes#57705,
//! controller-runtime#2591); kube-rs' watcher fails the same way (kube-rs#774). Orchestra
//! keeps the list and the watch going and names the object instead.
//!
//! ```
//! use orchestra_api::Object;
//! use orchestra_api::undecodable::UndecodableObject;
//!
//! let body = br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"default","uid":"u-1","resourceVersion":"7"},"spec":{"containers":"nginx"}}"#;
//! let error = serde_json::from_slice::<k8s_openapi::api::core::v1::Pod>(body).unwrap_err();
//! let object = UndecodableObject::from_json(body, error.to_string()).unwrap();
//! assert_eq!(object.metadata().name.as_deref(), Some("web"));
//! assert_eq!(object.metadata().resource_version.as_deref(), Some("7"));
//! assert!(object.error().contains("invalid type"));
//! // The JSON is kept as received.
//! assert_eq!(object.to_value().unwrap()["spec"]["containers"], "nginx");
//! ```

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use crate::object::{ArcObject, Object};

/// An object received from the server that does not decode into its kind's type: its
/// identity, why it did not decode, and its JSON as received. See the
/// [module documentation](self).
#[derive(Debug, Clone, PartialEq)]
pub struct UndecodableObject {
    api_version: String,
    kind: String,
    /// Only `name`, `namespace`, `uid` and `resourceVersion`, read from the JSON.
    metadata: ObjectMeta,
    error: String,
    raw: Value,
}

/// A string field of a JSON object, if it is a string.
fn text(object: &serde_json::Map<String, Value>, field: &str) -> Option<String> {
    object.get(field).and_then(Value::as_str).map(str::to_owned)
}

impl UndecodableObject {
    /// The object `raw` (a JSON object), which failed to decode with `error`. `None` if `raw`
    /// is not a JSON object: then there is no object to name, and the answer is malformed.
    pub fn new(raw: Value, error: impl Into<String>) -> Option<Self> {
        let object = raw.as_object()?;
        let meta = object.get("metadata").and_then(Value::as_object);
        let field = |name: &str| meta.and_then(|meta| text(meta, name));
        let metadata = ObjectMeta {
            name: field("name"),
            namespace: field("namespace").filter(|ns| !ns.is_empty()),
            uid: field("uid"),
            resource_version: field("resourceVersion"),
            ..ObjectMeta::default()
        };
        Some(Self {
            api_version: text(object, "apiVersion").unwrap_or_default(),
            kind: text(object, "kind").unwrap_or_default(),
            metadata,
            error: error.into(),
            raw,
        })
    }

    /// The object encoded as `json`, which failed to decode with `error`; `None` if `json` is
    /// not a JSON object.
    pub fn from_json(json: &[u8], error: impl Into<String>) -> Option<Self> {
        Self::new(serde_json::from_slice(json).ok()?, error)
    }

    /// The object behind `object`, if it is an undecodable one.
    pub fn of(object: &dyn Object) -> Option<&Self> {
        object.as_any().downcast_ref()
    }

    /// The shared object `object`, as an undecodable one; `Err` gives it back when it is not.
    pub fn try_from_arc(object: ArcObject) -> Result<Arc<Self>, ArcObject> {
        if Self::of(&*object).is_none() {
            return Err(object);
        }
        Arc::clone(&object)
            .into_any_arc()
            .downcast::<Self>()
            .map_err(|_| object)
    }

    /// Why the object did not decode (the decoder's message, with the field's position).
    pub fn error(&self) -> &str {
        &self.error
    }

    /// The object's JSON, as received.
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// A reference to the object, for an Event's `involvedObject`. `apiVersion` and `kind`
    /// are empty when the JSON had none (list items often do not): fill them from the kind
    /// that was listed.
    pub fn object_reference(&self) -> ObjectReference {
        let non_empty = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
        ObjectReference {
            api_version: non_empty(&self.api_version),
            kind: non_empty(&self.kind),
            name: self.metadata.name.clone(),
            namespace: self.metadata.namespace.clone(),
            uid: self.metadata.uid.clone(),
            resource_version: self.metadata.resource_version.clone(),
            field_path: None,
        }
    }
}

impl fmt::Display for UndecodableObject {
    /// `Pod default/web (uid u-1) at resourceVersion 7: <error>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let meta = &self.metadata;
        if !self.kind.is_empty() {
            write!(f, "{} ", self.kind)?;
        }
        if let Some(namespace) = &meta.namespace {
            write!(f, "{namespace}/")?;
        }
        write!(f, "{}", meta.name.as_deref().unwrap_or("<unnamed>"))?;
        if let Some(uid) = &meta.uid {
            write!(f, " (uid {uid})")?;
        }
        if let Some(rv) = &meta.resource_version {
            write!(f, " at resourceVersion {rv}")?;
        }
        write!(f, ": {}", self.error)
    }
}

impl Object for UndecodableObject {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn api_version(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.api_version)
    }
    fn kind(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.kind)
    }
    /// The JSON as received.
    fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&self.raw)
    }
    /// The JSON as received.
    fn to_value(&self) -> Result<Value, serde_json::Error> {
        Ok(self.raw.clone())
    }
    fn field_value(&self, field: &str) -> Option<Cow<'_, str>> {
        match field {
            "metadata.name" => Some(Cow::Borrowed(self.metadata.name.as_deref().unwrap_or(""))),
            "metadata.namespace" => Some(Cow::Borrowed(
                self.metadata.namespace.as_deref().unwrap_or(""),
            )),
            _ => None,
        }
    }
    fn has_spec(&self) -> bool {
        self.raw.get("spec").is_some()
    }
    fn has_status(&self) -> bool {
        self.raw.get("status").is_some()
    }
    fn spec_eq(&self, other: &dyn Object) -> bool {
        Self::of(other).is_some_and(|other| self.raw.get("spec") == other.raw.get("spec"))
    }
    fn copy_status_from(&mut self, other: &dyn Object) {
        let status = Self::of(other).and_then(|other| other.raw.get("status").cloned());
        if let Some(object) = self.raw.as_object_mut() {
            match status {
                Some(status) => object.insert("status".to_owned(), status),
                None => object.remove("status"),
            };
        }
    }
    fn clear_status(&mut self) {
        if let Some(object) = self.raw.as_object_mut() {
            object.remove("status");
        }
    }
    fn clone_object(&self) -> Box<dyn Object> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn into_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::downcast_arc;
    use crate::{DynamicObject, kinds};
    use k8s_openapi::api::core::v1::Pod;

    const BAD_POD: &[u8] = br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad","namespace":"ns","uid":"u-9","resourceVersion":"12","labels":{"app":"web"}},"spec":{"containers":"nginx"}}"#;

    fn bad_pod() -> UndecodableObject {
        let error = kinds::PODS
            .codec
            .decode_json(BAD_POD)
            .expect_err("containers must be a list");
        UndecodableObject::from_json(BAD_POD, error.to_string()).expect("a JSON object")
    }

    #[test]
    fn identity_and_error_are_read_from_the_json() {
        let object = bad_pod();
        let reference = object.object_reference();
        assert_eq!(reference.api_version.as_deref(), Some("v1"));
        assert_eq!(reference.kind.as_deref(), Some("Pod"));
        assert_eq!(reference.namespace.as_deref(), Some("ns"));
        assert_eq!(reference.name.as_deref(), Some("bad"));
        assert_eq!(reference.uid.as_deref(), Some("u-9"));
        assert_eq!(reference.resource_version.as_deref(), Some("12"));
        assert!(
            object.error().contains("expected a sequence"),
            "{}",
            object.error()
        );
        let shown = object.to_string();
        assert!(
            shown.starts_with("Pod ns/bad (uid u-9) at resourceVersion 12: invalid type"),
            "{shown}"
        );
    }

    #[test]
    fn only_a_json_object_can_be_an_undecodable_object() {
        assert!(UndecodableObject::from_json(b"7", "not an object").is_none());
        assert!(UndecodableObject::from_json(b"not json", "garbage").is_none());
        let bare =
            UndecodableObject::from_json(br#"{"metadata":{"name":3}}"#, "e").expect("object");
        assert_eq!(bare.metadata().name, None);
        assert_eq!(bare.object_reference().kind, None);
    }

    #[test]
    fn a_typed_read_fails_and_a_dynamic_read_keeps_every_field() {
        let object: ArcObject = Arc::new(bad_pod());
        assert!(UndecodableObject::of(&*object).is_some());
        let typed = downcast_arc::<Pod>(Arc::clone(&object)).expect_err("not a Pod");
        assert!(typed.to_string().contains("expected a sequence"), "{typed}");
        let dynamic = downcast_arc::<DynamicObject>(object).expect("any object is dynamic");
        assert_eq!(dynamic.data["spec"]["containers"], "nginx");
        assert_eq!(
            dynamic.metadata.labels.as_ref().map(|l| l["app"].as_str()),
            Some("web")
        );
    }
}
