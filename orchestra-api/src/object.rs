//! Objects without their static type: the `Object` trait that every served type implements,
//! the per-kind codecs that turn bytes into objects, and `DynamicObject` for kinds known only at
//! run time (custom resources).
//!
//! The in-process path moves `Arc<dyn Object>` ([`ArcObject`]) between the store, the API
//! server and the components: the object is decoded once and then shared. [`crate::Api`]
//! recovers the concrete type with a downcast.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::selectable_fields::SelectableFields;
use crate::spec_status::SpecStatus;

/// A shared, type-erased object.
pub type ArcObject = Arc<dyn Object>;

/// What every stored object offers without its static type being known.
pub trait Object: Any + Send + Sync + fmt::Debug {
    /// Its `metadata`.
    fn metadata(&self) -> &ObjectMeta;
    /// Its `metadata`, to change.
    fn metadata_mut(&mut self) -> &mut ObjectMeta;
    /// Its `apiVersion`, e.g. `apps/v1`.
    fn api_version(&self) -> Cow<'_, str>;
    /// Its `kind`, e.g. `Deployment`.
    fn kind(&self) -> Cow<'_, str>;
    /// Its JSON encoding (with `apiVersion` and `kind`).
    fn to_json(&self) -> Result<Vec<u8>, serde_json::Error>;
    /// Its JSON value (with `apiVersion` and `kind`).
    fn to_value(&self) -> Result<serde_json::Value, serde_json::Error>;
    /// The value of a field selector label (`spec.nodeName`), if this kind supports it.
    fn field_value(&self, field: &str) -> Option<Cow<'_, str>>;
    /// Whether the kind has a `spec` (and so a `metadata.generation`).
    fn has_spec(&self) -> bool;
    /// Whether the kind has a `status` (and so a `status` subresource).
    fn has_status(&self) -> bool;
    /// Whether `other` is of the same type and has the same spec.
    fn spec_eq(&self, other: &dyn Object) -> bool;
    /// Replaces this object's status with `other`'s (no-op if `other` is another type).
    fn copy_status_from(&mut self, other: &dyn Object);
    /// Empties the status.
    fn clear_status(&mut self);
    /// A deep copy, boxed.
    fn clone_object(&self) -> Box<dyn Object>;
    /// As `Any`, to downcast by reference.
    fn as_any(&self) -> &dyn Any;
    /// As `Any`, to downcast by mutable reference.
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// As a shared `Any`, to downcast without copying.
    fn into_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<K> Object for K
where
    K: k8s_openapi::Resource
        + k8s_openapi::Metadata<Ty = ObjectMeta>
        + SelectableFields
        + SpecStatus
        + Serialize
        + Clone
        + fmt::Debug
        + Send
        + Sync
        + 'static,
{
    fn metadata(&self) -> &ObjectMeta {
        k8s_openapi::Metadata::metadata(self)
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        k8s_openapi::Metadata::metadata_mut(self)
    }
    fn api_version(&self) -> Cow<'_, str> {
        Cow::Borrowed(K::API_VERSION)
    }
    fn kind(&self) -> Cow<'_, str> {
        Cow::Borrowed(K::KIND)
    }
    fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
    fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self)
    }
    fn field_value(&self, field: &str) -> Option<Cow<'_, str>> {
        SelectableFields::field_value(self, field)
    }
    fn has_spec(&self) -> bool {
        K::HAS_SPEC
    }
    fn has_status(&self) -> bool {
        K::HAS_STATUS
    }
    fn spec_eq(&self, other: &dyn Object) -> bool {
        other
            .as_any()
            .downcast_ref::<K>()
            .is_some_and(|other| SpecStatus::spec_eq(self, other))
    }
    fn copy_status_from(&mut self, other: &dyn Object) {
        if let Some(other) = other.as_any().downcast_ref::<K>() {
            SpecStatus::copy_status_from(self, other);
        }
    }
    fn clear_status(&mut self) {
        SpecStatus::clear_status(self);
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

/// Decodes the bytes of one kind into objects of its Rust type.
pub trait ObjectCodec: Send + Sync + fmt::Debug {
    /// Decodes a JSON body.
    fn decode_json(&self, bytes: &[u8]) -> Result<Box<dyn Object>, serde_json::Error>;
    /// Decodes an already-parsed JSON value.
    fn decode_value(&self, value: serde_json::Value) -> Result<Box<dyn Object>, serde_json::Error>;
}

/// The codec of a statically known type.
pub struct TypedCodec<K>(PhantomData<fn() -> K>);

impl<K> TypedCodec<K> {
    /// The codec (a zero-sized value usable in statics).
    pub const NEW: Self = Self(PhantomData);
}

impl<K> fmt::Debug for TypedCodec<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TypedCodec<{}>", std::any::type_name::<K>())
    }
}

impl<K: Object + DeserializeOwned> ObjectCodec for TypedCodec<K> {
    fn decode_json(&self, bytes: &[u8]) -> Result<Box<dyn Object>, serde_json::Error> {
        Ok(Box::new(serde_json::from_slice::<K>(bytes)?))
    }
    fn decode_value(&self, value: serde_json::Value) -> Result<Box<dyn Object>, serde_json::Error> {
        Ok(Box::new(serde_json::from_value::<K>(value)?))
    }
}

/// The codec of kinds known only at run time: decodes into [`DynamicObject`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DynamicCodec;

impl ObjectCodec for DynamicCodec {
    fn decode_json(&self, bytes: &[u8]) -> Result<Box<dyn Object>, serde_json::Error> {
        Ok(Box::new(serde_json::from_slice::<DynamicObject>(bytes)?))
    }
    fn decode_value(&self, value: serde_json::Value) -> Result<Box<dyn Object>, serde_json::Error> {
        Ok(Box::new(serde_json::from_value::<DynamicObject>(value)?))
    }
}

/// An object of a kind known only at run time (a custom resource): typed metadata, and every
/// other field kept as JSON, unchanged.
///
/// ```
/// use orchestra_api::DynamicObject;
/// let json = r#"{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"c"},"spec":{"cronSpec":"* * * * */5"}}"#;
/// let obj: DynamicObject = serde_json::from_str(json).unwrap();
/// assert_eq!(obj.metadata.name.as_deref(), Some("c"));
/// assert_eq!(obj.data["spec"]["cronSpec"], "* * * * */5");
/// assert_eq!(serde_json::to_string(&obj).unwrap(), json);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DynamicObject {
    /// `apiVersion`.
    #[serde(
        rename = "apiVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub api_version: String,
    /// `kind`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Every other top-level field (`spec`, `status`, `data`, …).
    #[serde(flatten)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

impl Object for DynamicObject {
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
    fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
    fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self)
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
        self.data.contains_key("spec")
    }
    fn has_status(&self) -> bool {
        self.data.contains_key("status")
    }
    fn spec_eq(&self, other: &dyn Object) -> bool {
        other
            .as_any()
            .downcast_ref::<DynamicObject>()
            .is_some_and(|other| self.data.get("spec") == other.data.get("spec"))
    }
    fn copy_status_from(&mut self, other: &dyn Object) {
        if let Some(other) = other.as_any().downcast_ref::<DynamicObject>() {
            match other.data.get("status") {
                Some(status) => self.data.insert("status".to_owned(), status.clone()),
                None => self.data.remove("status"),
            };
        }
    }
    fn clear_status(&mut self) {
        self.data.remove("status");
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

/// Error returned when an object is not of the expected type.
#[derive(Debug, thiserror::Error)]
#[error("expected {expected}, got {api_version} {kind}: {source}")]
pub struct ConversionError {
    /// The Rust type that was asked for.
    pub expected: &'static str,
    /// The object's apiVersion.
    pub api_version: String,
    /// The object's kind.
    pub kind: String,
    /// Why the conversion failed.
    #[source]
    pub source: serde_json::Error,
}

/// Recovers the concrete type of a shared object: a downcast when it already is a `K`
/// (no copy), otherwise a conversion through JSON (e.g. a `DynamicObject` holding a Pod).
pub fn downcast_arc<K: Object + DeserializeOwned>(
    obj: ArcObject,
) -> Result<Arc<K>, ConversionError> {
    if obj.as_any().is::<K>() {
        if let Ok(typed) = obj.clone().into_any_arc().downcast::<K>() {
            return Ok(typed);
        }
    }
    let err = |source| ConversionError {
        expected: std::any::type_name::<K>(),
        api_version: obj.api_version().into_owned(),
        kind: obj.kind().into_owned(),
        source,
    };
    let value = obj.to_value().map_err(err)?;
    serde_json::from_value::<K>(value)
        .map(Arc::new)
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    fn pod(name: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn downcast_of_a_typed_object_shares_the_allocation() {
        let shared: ArcObject = Arc::new(pod("a"));
        let typed = downcast_arc::<Pod>(shared.clone()).unwrap();
        assert!(std::ptr::addr_eq(Arc::as_ptr(&typed), Arc::as_ptr(&shared)));
    }

    #[test]
    fn dynamic_objects_convert_to_their_typed_form() {
        let value = pod("b").to_value().unwrap();
        let dynamic: DynamicObject = serde_json::from_value(value).unwrap();
        assert_eq!(dynamic.kind, "Pod");
        let typed = downcast_arc::<Pod>(Arc::new(dynamic)).unwrap();
        assert_eq!(typed.metadata.name.as_deref(), Some("b"));
        let err = downcast_arc::<k8s_openapi::api::core::v1::Node>(Arc::new(DynamicObject {
            data: serde_json::from_str(r#"{"spec":{"unschedulable":"yes"}}"#).unwrap(),
            ..Default::default()
        }))
        .unwrap_err();
        assert!(err.to_string().contains("Node"), "{err}");
    }
}
