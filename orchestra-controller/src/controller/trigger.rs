//! Triggers: which changes make a controller reconcile which of its objects.
//!
//! A controller reconciles objects of one kind, but changes to other objects matter too: the
//! pods a ReplicaSet owns, the Secrets a Deployment mounts. Each trigger is an event handler
//! on a shared informer that turns a change into the [`ObjectKey`]s of the objects to
//! reconcile and puts them on the controller's work queue:
//!
//! - the controller's own kind: the key of the object that changed;
//! - an owned kind: the key of the object's *controller* — its owner reference with
//!   `controller: true` whose group and kind are the controller's (as Kubernetes' ReplicaSet
//!   and Deployment controllers resolve a pod's or ReplicaSet's controller);
//! - a watched kind: whatever keys the controller's mapper answers.
//!
//! On an update both the old and the new state are mapped, so an object that moves to
//! another owner, or whose labels stop matching, also wakes the object it leaves.
//!
//! ```
//! use orchestra_api::Served;
//! use orchestra_api::k8s_openapi::api::apps::v1::ReplicaSet;
//! use orchestra_api::k8s_openapi::api::core::v1::Pod;
//! use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
//! use orchestra_controller::controller::controller_key;
//! use orchestra_controller::informer::ObjectKey;
//!
//! let mut pod = Pod::default();
//! pod.metadata.namespace = Some("default".into());
//! pod.metadata.owner_references = Some(vec![OwnerReference {
//!     api_version: "apps/v1".into(),
//!     kind: "ReplicaSet".into(),
//!     name: "web-5d8f".into(),
//!     uid: "1234".into(),
//!     controller: Some(true),
//!     ..OwnerReference::default()
//! }]);
//! assert_eq!(
//!     controller_key(&pod, ReplicaSet::resource_kind()),
//!     Some(ObjectKey::new(Some("default"), "web-5d8f"))
//! );
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use orchestra_api::{Object, ResourceKind};
use serde::de::DeserializeOwned;

use crate::informer::{EventHandler, HandlerRegistration, Informer, ObjectKey};
use crate::workqueue::WorkQueue;

/// The key of the object that controls `object` as `owner_kind`: its owner reference with
/// `controller: true`, if that reference's group and kind are `owner_kind`'s. The key is in
/// the object's namespace, or in none when the owner kind is cluster-scoped.
pub fn controller_key(object: &dyn Object, owner_kind: &ResourceKind) -> Option<ObjectKey> {
    let meta = object.metadata();
    let reference = meta
        .owner_references
        .iter()
        .flatten()
        .find(|reference| reference.controller == Some(true))?;
    let group = reference
        .api_version
        .split_once('/')
        .map_or("", |(group, _version)| group);
    if group != owner_kind.group || reference.kind != owner_kind.kind {
        return None;
    }
    let namespace = meta
        .namespace
        .as_deref()
        .filter(|_| owner_kind.is_namespaced());
    Some(ObjectKey::new(namespace, &reference.name))
}

/// Turns one informer's changes into keys on a controller's queue.
pub(crate) trait Trigger: Send + Sync {
    /// Starts feeding `queue`; the registration stops it.
    fn register(&self, queue: &WorkQueue<ObjectKey>) -> HandlerRegistration;
    /// The watched informer, to start it.
    fn start(&self);
    /// What the trigger watches, for logs.
    fn describe(&self) -> String;
}

/// Maps an object to the keys it triggers.
pub(crate) type Mapper<C> = Arc<dyn Fn(&C) -> Vec<ObjectKey> + Send + Sync>;

/// A trigger over an informer of `C` with a mapping from objects to keys.
pub(crate) struct MappedTrigger<C> {
    informer: Informer<C>,
    mapper: Mapper<C>,
    what: &'static str,
}

impl<C> MappedTrigger<C> {
    pub(crate) fn new(informer: Informer<C>, mapper: Mapper<C>, what: &'static str) -> Self {
        Self {
            informer,
            mapper,
            what,
        }
    }
}

impl<C: Object + DeserializeOwned> Trigger for MappedTrigger<C> {
    fn register(&self, queue: &WorkQueue<ObjectKey>) -> HandlerRegistration {
        self.informer.add_handler(Enqueue {
            queue: queue.clone(),
            mapper: Arc::clone(&self.mapper),
        })
    }

    fn start(&self) {
        self.informer.start();
    }

    fn describe(&self) -> String {
        format!("{} {}", self.what, self.informer.resource_kind().plural)
    }
}

/// The event handler behind a [`MappedTrigger`].
struct Enqueue<C> {
    queue: WorkQueue<ObjectKey>,
    mapper: Mapper<C>,
}

impl<C> Enqueue<C> {
    fn enqueue(&self, objects: &[&Arc<C>]) {
        let keys: BTreeSet<ObjectKey> = objects
            .iter()
            .flat_map(|object| (self.mapper)(object))
            .collect();
        for key in keys {
            self.queue.add(key);
        }
    }
}

impl<C: Send + Sync + 'static> EventHandler<C> for Enqueue<C> {
    fn on_add(&self, object: &Arc<C>) {
        self.enqueue(&[object]);
    }

    fn on_update(&self, old: &Arc<C>, new: &Arc<C>) {
        if Arc::ptr_eq(old, new) {
            self.enqueue(&[new]);
        } else {
            self.enqueue(&[old, new]);
        }
    }

    fn on_delete(&self, object: &Arc<C>) {
        self.enqueue(&[object]);
    }
}

impl<C: Object + DeserializeOwned> fmt::Debug for MappedTrigger<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MappedTrigger")
            .field("what", &self.what)
            .field("kind", &self.informer.resource_kind().plural)
            .finish()
    }
}
