//! `Api<K>`: the typed facade over a [`Client`], scoped to a namespace or to the whole cluster.
//!
//! ```no_run
//! # async fn demo(client: std::sync::Arc<dyn orchestra_api::Client>) -> Result<(), orchestra_api::Status> {
//! use orchestra_api::{Api, ListParams};
//! use k8s_openapi::api::core::v1::{Node, Pod};
//!
//! let pods = Api::<Pod>::namespaced(client.clone(), "default");
//! for pod in pods.list(&ListParams::default().labels("app=web")).await?.items {
//!     println!("{:?}", pod.metadata.name);
//! }
//! let nodes = Api::<Node>::all(client);
//! let node = nodes.get("node-1").await?;
//! # Ok(()) }
//! ```

use std::marker::PhantomData;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::autoscaling::v1::Scale;
use serde::de::DeserializeOwned;

use crate::client::{
    Client, DeleteOutcome, DeleteParams, GetParams, ListParams, ObjectList, Patch, PatchParams,
    PostParams, Subresource, WatchParams,
};
use crate::kinds::{ResourceKind, Served};
use crate::object::{ArcObject, Object, downcast_arc};
use crate::status::Status;
use crate::undecodable::UndecodableObject;
use crate::watch::WatchEvent;

/// A typed page of a list.
#[derive(Debug, Clone)]
pub struct TypedList<K> {
    /// The revision the list is consistent at.
    pub resource_version: String,
    /// Token for the next page, if there is one.
    pub continue_token: Option<String>,
    /// The objects.
    pub items: Vec<Arc<K>>,
    /// The items a remote client could not decode into `K` (a field of another type, written
    /// by a newer client): left out of `items` instead of failing the list. Always empty
    /// in-process.
    pub undecodable: Vec<UndecodableObject>,
}

impl<K: Object + DeserializeOwned> TypedList<K> {
    /// The typed page of `list`: every item as `K`, except the undecodable ones, which are
    /// set apart; any other item that is not a `K` fails the conversion.
    fn from_list(list: ObjectList) -> Result<Self, Status> {
        let mut items = Vec::with_capacity(list.items.len());
        let mut undecodable = Vec::new();
        for object in list.items {
            match UndecodableObject::try_from_arc(object) {
                Ok(skipped) => undecodable.push(Arc::unwrap_or_clone(skipped)),
                Err(object) => items.push(typed(object)?),
            }
        }
        Ok(Self {
            resource_version: list.resource_version,
            continue_token: list.continue_token,
            items,
            undecodable,
        })
    }
}

/// What a typed delete did.
#[derive(Debug, Clone)]
pub enum Deleted<K> {
    /// The object is gone; its last state.
    Gone(Arc<K>),
    /// Deletion started; the object with `deletionTimestamp` set.
    Pending(Arc<K>),
}

/// Typed access to one kind, in one namespace or across the cluster.
pub struct Api<K> {
    client: Arc<dyn Client>,
    kind: ResourceKind,
    namespace: Option<String>,
    _type: PhantomData<fn() -> K>,
}

impl<K> Clone for Api<K> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            _type: PhantomData,
        }
    }
}

fn typed<K: Object + DeserializeOwned>(obj: ArcObject) -> Result<Arc<K>, Status> {
    downcast_arc::<K>(obj).map_err(Status::internal)
}

impl<K: Served> Api<K> {
    /// Objects in one namespace.
    pub fn namespaced(client: Arc<dyn Client>, namespace: &str) -> Self {
        Self::namespaced_with(client, namespace, K::resource_kind().clone())
    }

    /// Objects across all namespaces (for lists and watches) or cluster-scoped objects.
    pub fn all(client: Arc<dyn Client>) -> Self {
        Self::all_with(client, K::resource_kind().clone())
    }

    /// Objects in the `default` namespace.
    pub fn default_namespaced(client: Arc<dyn Client>) -> Self {
        Self::namespaced(client, "default")
    }
}

impl<K: Object + DeserializeOwned> Api<K> {
    /// Objects of a kind given at run time (e.g. a custom resource as `DynamicObject`), in one
    /// namespace.
    pub fn namespaced_with(client: Arc<dyn Client>, namespace: &str, kind: ResourceKind) -> Self {
        Self {
            client,
            kind,
            namespace: Some(namespace.to_owned()),
            _type: PhantomData,
        }
    }

    /// Objects of a kind given at run time, across the cluster.
    pub fn all_with(client: Arc<dyn Client>, kind: ResourceKind) -> Self {
        Self {
            client,
            kind,
            namespace: None,
            _type: PhantomData,
        }
    }

    /// The kind this `Api` serves.
    pub fn resource_kind(&self) -> &ResourceKind {
        &self.kind
    }

    fn ns(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    fn erase(object: &K) -> ArcObject
    where
        K: Clone,
    {
        Arc::new(object.clone())
    }

    /// Reads one object.
    pub async fn get(&self, name: &str) -> Result<Arc<K>, Status> {
        let obj = self
            .client
            .get(&self.kind, self.ns(), name, &GetParams::default())
            .await?;
        typed(obj)
    }

    /// Reads one object, `None` if it does not exist.
    pub async fn get_opt(&self, name: &str) -> Result<Option<Arc<K>>, Status> {
        match self.get(name).await {
            Ok(obj) => Ok(Some(obj)),
            Err(status) if status.code == 404 => Ok(None),
            Err(status) => Err(status),
        }
    }

    /// Lists objects.
    pub async fn list(&self, params: &ListParams) -> Result<TypedList<K>, Status> {
        let list = self.client.list(&self.kind, self.ns(), params).await?;
        TypedList::from_list(list)
    }

    /// Watches for changes. An object that a remote client could not decode into `K` is
    /// skipped with a warning in the log (its `resourceVersion` still moves the watch on).
    pub async fn watch(
        &self,
        params: &WatchParams,
    ) -> Result<BoxStream<'static, WatchEvent<Arc<K>>>, Status>
    where
        K: 'static,
    {
        let stream = self.client.watch(&self.kind, self.ns(), params).await?;
        let kind = self.kind.plural.clone();
        Ok(stream
            .filter_map(move |event| {
                let skipped = match &event {
                    WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
                        UndecodableObject::of(&**o)
                    }
                    WatchEvent::Bookmark(_) | WatchEvent::Error(_) => None,
                };
                if let Some(skipped) = skipped {
                    tracing::warn!(%kind, object = %skipped, "skipping an object that cannot be decoded");
                    return std::future::ready(None);
                }
                std::future::ready(Some(event.try_map(typed)))
            })
            .boxed())
    }

    /// Creates an object.
    pub async fn create(&self, params: &PostParams, object: &K) -> Result<Arc<K>, Status>
    where
        K: Clone,
    {
        let obj = self
            .client
            .create(&self.kind, self.ns(), Self::erase(object), params)
            .await?;
        typed(obj)
    }

    /// Replaces an object; a stale `resourceVersion` gives 409 Conflict.
    pub async fn replace(
        &self,
        name: &str,
        params: &PostParams,
        object: &K,
    ) -> Result<Arc<K>, Status>
    where
        K: Clone,
    {
        let obj = self
            .client
            .replace(
                &self.kind,
                self.ns(),
                name,
                None,
                Self::erase(object),
                params,
            )
            .await?;
        typed(obj)
    }

    /// Replaces only the status of an object.
    pub async fn replace_status(
        &self,
        name: &str,
        params: &PostParams,
        object: &K,
    ) -> Result<Arc<K>, Status>
    where
        K: Clone,
    {
        let obj = self
            .client
            .replace(
                &self.kind,
                self.ns(),
                name,
                Some(Subresource::Status),
                Self::erase(object),
                params,
            )
            .await?;
        typed(obj)
    }

    /// Patches an object.
    pub async fn patch(
        &self,
        name: &str,
        params: &PatchParams,
        patch: &Patch,
    ) -> Result<Arc<K>, Status> {
        let obj = self
            .client
            .patch(&self.kind, self.ns(), name, None, patch, params)
            .await?;
        typed(obj)
    }

    /// Patches only the status of an object.
    pub async fn patch_status(
        &self,
        name: &str,
        params: &PatchParams,
        patch: &Patch,
    ) -> Result<Arc<K>, Status> {
        let obj = self
            .client
            .patch(
                &self.kind,
                self.ns(),
                name,
                Some(Subresource::Status),
                patch,
                params,
            )
            .await?;
        typed(obj)
    }

    /// Reads the `scale` subresource.
    pub async fn get_scale(&self, name: &str) -> Result<Arc<Scale>, Status> {
        let obj = self
            .client
            .get_subresource(&self.kind, self.ns(), name, Subresource::Scale)
            .await?;
        typed(obj)
    }

    /// Replaces the `scale` subresource.
    pub async fn replace_scale(
        &self,
        name: &str,
        params: &PostParams,
        scale: &Scale,
    ) -> Result<Arc<Scale>, Status> {
        let obj = self
            .client
            .replace(
                &self.kind,
                self.ns(),
                name,
                Some(Subresource::Scale),
                Arc::new(scale.clone()),
                params,
            )
            .await?;
        typed(obj)
    }

    /// Deletes an object.
    pub async fn delete(&self, name: &str, params: &DeleteParams) -> Result<Deleted<K>, Status> {
        Ok(
            match self
                .client
                .delete(&self.kind, self.ns(), name, params)
                .await?
            {
                DeleteOutcome::Deleted(obj) => Deleted::Gone(typed(obj)?),
                DeleteOutcome::Pending(obj) => Deleted::Pending(typed(obj)?),
            },
        )
    }

    /// Deletes every object a list would return.
    pub async fn delete_collection(
        &self,
        list: &ListParams,
        params: &DeleteParams,
    ) -> Result<TypedList<K>, Status> {
        let deleted = self
            .client
            .delete_collection(&self.kind, self.ns(), list, params)
            .await?;
        TypedList::from_list(deleted)
    }
}
