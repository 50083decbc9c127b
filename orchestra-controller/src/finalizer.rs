//! Finalizers: clean-up that must happen before an object is allowed to disappear.
//!
//! A controller that creates something outside the object's own lifetime — a cloud load
//! balancer, a DNS record, a row in another system — must remove it when the object is
//! deleted, even if the controller was down at that moment. Kubernetes' answer is a
//! *finalizer*: a name in `metadata.finalizers` that keeps a deleted object in the store,
//! marked with a `deletionTimestamp`, until the controller that put it there has cleaned up
//! and removed it.
//!
//! [`finalizer`] wraps a reconcile so it gets this right, as kube-runtime's helper does:
//!
//! | the object | what happens |
//! |---|---|
//! | live, without the finalizer | the finalizer is added; the change reconciles it again |
//! | live, with the finalizer | [`Event::Apply`]: the normal reconcile |
//! | deleted, with the finalizer | [`Event::Cleanup`]; when it succeeds, the finalizer is removed and the server deletes the object once no finalizer is left |
//! | deleted, without the finalizer | nothing: the clean-up is done |
//!
//! Both writes are JSON merge patches that carry the object's `resourceVersion`, so they only
//! apply to the state the reconcile saw: a stale object from a lagging cache gets 409
//! Conflict instead of losing another writer's finalizer, and the reconcile is retried with
//! the current state. Finalizers of other controllers are kept.
//!
//! ```no_run
//! # async fn demo(client: std::sync::Arc<dyn orchestra_api::Client>, cm: std::sync::Arc<orchestra_api::k8s_openapi::api::core::v1::ConfigMap>) {
//! use orchestra_api::Status;
//! use orchestra_controller::controller::Action;
//! use orchestra_controller::finalizer::{Event, finalizer};
//!
//! let action = finalizer(&client, "example.com/dns-record", cm, |event| async move {
//!     match event {
//!         Event::Apply(cm) => { /* publish the record */ Ok::<_, Status>(Action::await_change()) }
//!         Event::Cleanup(cm) => { /* withdraw the record */ Ok(Action::await_change()) }
//!     }
//! })
//! .await;
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;

use orchestra_api::{Client, Patch, PatchParams, Served, Status};
use serde_json::json;

use crate::controller::Action;

/// What the wrapped reconcile is asked to do.
#[derive(Debug)]
pub enum Event<K> {
    /// The object lives and carries the finalizer: converge it.
    Apply(Arc<K>),
    /// The object is being deleted and still carries the finalizer: clean up. The finalizer
    /// is removed when this succeeds; until then the object stays.
    Cleanup(Arc<K>),
}

/// Why [`finalizer`] failed.
#[derive(Debug, thiserror::Error)]
pub enum Error<E> {
    /// The reconcile of a live object failed.
    #[error("reconciling the object failed: {0}")]
    Apply(#[source] E),
    /// The clean-up of a deleted object failed; the finalizer stays and the object with it.
    #[error("cleaning up the object failed: {0}")]
    Cleanup(#[source] E),
    /// Adding the finalizer failed (409 Conflict when the object changed meanwhile).
    #[error("adding finalizer {finalizer} failed: {status}")]
    AddFinalizer {
        /// The finalizer.
        finalizer: String,
        /// The server's answer.
        status: Status,
    },
    /// Removing the finalizer failed (409 Conflict when the object changed meanwhile).
    #[error("removing finalizer {finalizer} failed: {status}")]
    RemoveFinalizer {
        /// The finalizer.
        finalizer: String,
        /// The server's answer.
        status: Status,
    },
    /// The object has no name (or the finalizer name is empty): nothing can be patched.
    #[error("{0}")]
    Unusable(String),
}

impl<E> Error<E> {
    /// The server's answer behind a failed finalizer write, if that is what failed.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Self::AddFinalizer { status, .. } | Self::RemoveFinalizer { status, .. } => {
                Some(status)
            }
            _ => None,
        }
    }
}

/// Runs `reconcile` for `object` under the finalizer `name` (a qualified name such as
/// `example.com/cleanup`), adding and removing the finalizer around it. See the
/// [module documentation](self) for the cases.
pub async fn finalizer<K, E, F, Fut>(
    client: &Arc<dyn Client>,
    name: &str,
    object: Arc<K>,
    reconcile: F,
) -> Result<Action, Error<E>>
where
    K: Served,
    F: FnOnce(Event<K>) -> Fut,
    Fut: Future<Output = Result<Action, E>>,
{
    if name.is_empty() {
        return Err(Error::Unusable("the finalizer name is empty".to_owned()));
    }
    let meta = object.metadata();
    let finalizers = meta.finalizers.clone().unwrap_or_default();
    let has_finalizer = finalizers.iter().any(|f| f == name);
    let deleting = meta.deletion_timestamp.is_some();
    match (deleting, has_finalizer) {
        (false, true) => reconcile(Event::Apply(object)).await.map_err(Error::Apply),
        (false, false) => {
            let mut with = finalizers;
            with.push(name.to_owned());
            set_finalizers(client, &*object, with)
                .await
                .map_err(|status| Error::AddFinalizer {
                    finalizer: name.to_owned(),
                    status,
                })?;
            tracing::debug!(finalizer = name, "added the finalizer");
            // The patch is a change: the object is reconciled again, with the finalizer.
            Ok(Action::await_change())
        }
        (true, true) => {
            let action = reconcile(Event::Cleanup(Arc::clone(&object)))
                .await
                .map_err(Error::Cleanup)?;
            let without = finalizers.into_iter().filter(|f| f != name).collect();
            match set_finalizers(client, &*object, without).await {
                Ok(()) => {}
                // Already gone: another writer removed the last finalizer meanwhile.
                Err(status) if status.code == 404 => {}
                Err(status) => {
                    return Err(Error::RemoveFinalizer {
                        finalizer: name.to_owned(),
                        status,
                    });
                }
            }
            tracing::debug!(finalizer = name, "cleaned up and removed the finalizer");
            Ok(action)
        }
        (true, false) => Ok(Action::await_change()),
    }
}

/// Replaces the object's finalizers, only if it is still at the `resourceVersion` read.
async fn set_finalizers<K: Served>(
    client: &Arc<dyn Client>,
    object: &K,
    finalizers: Vec<String>,
) -> Result<(), Status> {
    let meta = object.metadata();
    let Some(name) = meta.name.as_deref() else {
        return Err(Status::bad_request("the object has no name"));
    };
    let kind = K::resource_kind();
    let namespace = meta.namespace.as_deref().filter(|_| kind.is_namespaced());
    let finalizers = if finalizers.is_empty() {
        serde_json::Value::Null
    } else {
        json!(finalizers)
    };
    let patch = Patch::Merge(json!({
        "metadata": {
            "finalizers": finalizers,
            // Makes the patch conditional: 409 Conflict if the object changed since.
            "resourceVersion": meta.resource_version,
        }
    }));
    client
        .patch(kind, namespace, name, None, &patch, &PatchParams::default())
        .await
        .map(|_| ())
}
