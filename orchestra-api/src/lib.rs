//! # orchestra-api
//!
//! Orchestra's object model and contracts, with no I/O: the Kubernetes types (from
//! `k8s-openapi`, pinned to Kubernetes v1.33), the one table of served kinds, label and field
//! selectors, quantities parsed to integers, validation with field paths, defaulting, the
//! `Status` error, watch events, the three patch formats ([`patch`]), server-side apply and
//! field ownership ([`apply`]), and the transport-agnostic [`Client`] trait with its typed
//! facade [`Api`].
//!
//! Every other Orchestra crate builds on these types, so a platform team embedding one crate
//! speaks the same language as the API server.
//!
//! ```
//! use orchestra_api::{defaulting, kinds::Served, validation, LabelSelector, Quantity};
//! use k8s_openapi::api::core::v1::Pod;
//!
//! let mut pod: Pod = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "v1", "kind": "Pod",
//!     "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
//!     "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27",
//!              "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}}]}
//! })).unwrap();
//! defaulting::default_object(&mut pod);
//! assert_eq!(pod.spec.as_ref().unwrap().restart_policy.as_deref(), Some("Always"));
//! assert!(validation::validate_create(&pod).is_empty());
//!
//! let selector: LabelSelector = "app in (web,api),tier!=db".parse().unwrap();
//! assert!(selector.matches(pod.metadata.labels.as_ref().unwrap()));
//! assert_eq!("250m".parse::<Quantity>().unwrap().milli_value(), 250);
//! assert_eq!(Pod::resource_kind().plural, "pods");
//! ```

pub mod api;
pub mod apply;
pub mod client;
pub mod defaulting;
pub mod field_selector;
pub mod field_validation;
pub mod kinds;
pub mod label_selector;
pub mod object;
pub mod patch;
pub mod qos;
pub mod quantity;
pub mod resource_list;
pub mod selectable_fields;
pub mod spec_status;
pub mod status;
pub mod undecodable;
pub mod validation;
pub mod watch;

pub use api::{Api, Deleted, TypedList};
pub use client::{
    Client, DeleteOutcome, DeleteParams, FieldValidation, GetParams, ListParams, ObjectList, Patch,
    PatchParams, Patched, PostParams, Preconditions, PropagationPolicy, Subresource, VersionMatch,
    WatchParams, WatchStream,
};
pub use field_selector::FieldSelector;
pub use k8s_openapi;
pub use kinds::{ResourceKind, Scope, Served};
pub use label_selector::LabelSelector;
pub use object::{ArcObject, DynamicObject, Object};
pub use quantity::Quantity;
pub use resource_list::ResourceList;
pub use status::{Status, StatusReason};
pub use undecodable::UndecodableObject;
pub use watch::WatchEvent;
