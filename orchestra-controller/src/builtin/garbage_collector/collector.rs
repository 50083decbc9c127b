//! The collector's workers: what happens to one object the graph sent them.
//!
//! - **attempt to delete**: read the object live; classify its owner references by reading
//!   each owner live (an owner is *dangling* when it is gone or has another uid, *waiting*
//!   when it is being deleted in the foreground, *solid* otherwise); with a solid owner left,
//!   drop the references to the others; with none, delete the object — in the foreground
//!   when an owner waits for it and it has dependents of its own, otherwise with the
//!   propagation its own finalizers ask for (background by default). An owner deleted in the
//!   foreground loses its `foregroundDeletion` finalizer once no dependent with
//!   `blockOwnerDeletion` is left.
//! - **attempt to orphan**: remove the references to an owner deleted with the `orphan`
//!   finalizer from its dependents, then the finalizer.
//!
//! Every decision rests on live reads, never on the informers' caches alone, as in
//! Kubernetes: a dependent is deleted only once the server confirms that none of its owners
//! exists.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use orchestra_api::k8s_openapi::api::core::v1::ObjectReference;
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use orchestra_api::{
    ArcObject, Client, DeleteParams, GetParams, Patch, PatchParams, Preconditions,
    PropagationPolicy, ResourceKind, Status,
};
use serde_json::json;
use tokio::sync::mpsc;

use super::absent_owners::AbsentOwners;
use super::graph::{Graph, GraphEvent, NodeView, ObjectIdentity, Work};
use super::monitors::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
use crate::events::{EventType, Recorder};
use crate::workqueue::WorkQueue;

/// How often a finalizer or owner-reference update is retried after losing a race.
const CONFLICT_RETRIES: usize = 5;

/// Why an attempt did not finish.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// The object is gone; the graph was told and removes it.
    #[error("the object is gone; the graph removes it")]
    VirtualDeleteEnqueued,
    /// A cluster-scoped object names a namespaced owner: it never resolves, so the object is
    /// left alone (Kubernetes does not retry it either).
    #[error("a cluster-scoped object cannot have the namespaced owner {0}")]
    NamespacedOwnerOfClusterScoped(String),
    /// A reference names a kind this collector does not serve (a removed custom resource, a
    /// version no longer served): retried with back-off.
    #[error("no served kind is {api_version} {kind}")]
    UnknownKind {
        /// The reference's apiVersion.
        api_version: String,
        /// The reference's kind.
        kind: String,
    },
    /// The server refused or failed a request: retried with back-off.
    #[error(transparent)]
    Server(#[from] Status),
}

/// What becomes of a queued object after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done: forget its back-off.
    Forget,
    /// Try again after the queue's back-off.
    Requeue,
}

/// The served kinds by `apiVersion` and `kind`, to turn references into requests.
#[derive(Debug, Clone, Default)]
pub struct KindTable {
    kinds: HashMap<(String, String), ResourceKind>,
}

impl KindTable {
    /// The table of `kinds`.
    pub fn new<'a>(kinds: impl IntoIterator<Item = &'a ResourceKind>) -> Self {
        Self {
            kinds: kinds
                .into_iter()
                .map(|k| ((k.api_version(), k.kind.to_string()), k.clone()))
                .collect(),
        }
    }

    /// The kind served as `api_version` `kind`.
    pub fn resolve(&self, api_version: &str, kind: &str) -> Result<&ResourceKind, AttemptError> {
        self.kinds
            .get(&(api_version.to_owned(), kind.to_owned()))
            .ok_or_else(|| AttemptError::UnknownKind {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            })
    }
}

/// How an owner reference resolved.
enum Resolved {
    /// The owner is gone (or another object has its name).
    Dangling,
    /// The owner exists, and whether it is being deleted in the foreground (waiting for its
    /// dependents).
    Owner {
        /// Deleted in the foreground.
        waiting_for_dependents: bool,
    },
}

/// The state the collector's graph builder and workers share.
pub struct Collector {
    pub(super) client: Arc<dyn Client>,
    pub(super) kinds: KindTable,
    pub(super) graph: Mutex<Graph>,
    pub(super) absent: Mutex<AbsentOwners>,
    pub(super) graph_events: mpsc::UnboundedSender<GraphEvent>,
    pub(super) attempt_to_delete: WorkQueue<String>,
    pub(super) attempt_to_orphan: WorkQueue<String>,
    pub(super) recorder: Recorder,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn has_finalizer(meta: &ObjectMeta, name: &str) -> bool {
    meta.finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|x| x == name))
}

impl Collector {
    /// Applies one graph change and hands its work to the queues.
    pub(super) async fn apply(&self, event: GraphEvent) {
        let work = lock(&self.graph).apply(event);
        self.dispatch(work).await;
    }

    async fn dispatch(&self, work: Work) {
        if !work.absent.is_empty() {
            let mut absent = lock(&self.absent);
            for owner in work.absent {
                absent.add(owner);
            }
        }
        for uid in work.attempt_to_delete {
            self.attempt_to_delete.add(uid);
        }
        for uid in work.attempt_to_delete_later {
            self.attempt_to_delete.add_rate_limited(uid);
        }
        for uid in work.attempt_to_orphan {
            self.attempt_to_orphan.add(uid);
        }
        for (dependent, reference) in work.invalid_namespace {
            self.report_invalid_namespace(&dependent, &reference).await;
        }
    }

    /// Kubernetes' `OwnerRefInvalidNamespace` Event on a dependent whose owner reference
    /// resolves only in another namespace.
    async fn report_invalid_namespace(
        &self,
        dependent: &ObjectIdentity,
        reference: &OwnerReference,
    ) {
        let regarding = ObjectReference {
            api_version: Some(dependent.api_version.clone()),
            kind: Some(dependent.kind.clone()),
            namespace: Some(dependent.namespace.clone()).filter(|ns| !ns.is_empty()),
            name: Some(dependent.name.clone()),
            uid: Some(dependent.uid.clone()),
            ..ObjectReference::default()
        };
        let invalid = ObjectIdentity::of_reference(reference, &dependent.namespace);
        let message = format!(
            "ownerRef {invalid} does not resolve to a valid object in namespace {}",
            dependent.namespace
        );
        tracing::info!(dependent = %dependent, owner = %invalid, "owner reference to another namespace");
        if let Err(error) = self
            .recorder
            .publish(
                &regarding,
                EventType::Warning,
                "OwnerRefInvalidNamespace",
                &message,
            )
            .await
        {
            tracing::warn!(%error, "could not record OwnerRefInvalidNamespace");
        }
    }

    fn view(&self, uid: &str) -> Option<NodeView> {
        lock(&self.graph).view(uid)
    }

    /// One attempt to collect the object `uid`.
    pub(super) async fn attempt_to_delete(&self, uid: &str) -> Outcome {
        let Some(node) = self.view(uid) else {
            return Outcome::Forget;
        };
        match self.attempt_to_delete_item(&node).await {
            Ok(()) if !node.observed => {
                // A virtual owner that exists but has not reached its informer yet.
                Outcome::Requeue
            }
            Ok(()) => Outcome::Forget,
            Err(AttemptError::VirtualDeleteEnqueued) => Outcome::Forget,
            Err(error @ AttemptError::NamespacedOwnerOfClusterScoped(_)) => {
                tracing::info!(object = %node.identity, %error, "not collected");
                Outcome::Forget
            }
            Err(error) => {
                tracing::debug!(object = %node.identity, %error, "collection attempt failed; retrying");
                Outcome::Requeue
            }
        }
    }

    async fn attempt_to_delete_item(&self, node: &NodeView) -> Result<(), AttemptError> {
        if node.being_deleted && !node.deleting_dependents {
            // Its deletion is under way; its dependents are handled once it is gone.
            return Ok(());
        }
        let kind = self
            .kinds
            .resolve(&node.identity.api_version, &node.identity.kind)?
            .clone();
        let latest = match self
            .get(&kind, &node.identity.namespace, &node.identity.name)
            .await
        {
            Ok(latest) => latest,
            Err(status) if status.code == 404 => {
                return Err(self.gone(&node.identity));
            }
            Err(status) => return Err(status.into()),
        };
        if latest.metadata().uid.as_deref() != Some(node.identity.uid.as_str()) {
            return Err(self.gone(&node.identity));
        }
        if node.deleting_dependents {
            return self.process_deleting_dependents(node).await;
        }
        let references = latest
            .metadata()
            .owner_references
            .clone()
            .unwrap_or_default();
        if references.is_empty() {
            return Ok(());
        }
        let (mut solid, mut dangling, mut waiting) = (Vec::new(), Vec::new(), Vec::new());
        for reference in references {
            match self.resolve_owner(&reference, &node.identity).await? {
                Resolved::Dangling => dangling.push(reference),
                Resolved::Owner {
                    waiting_for_dependents: true,
                } => waiting.push(reference),
                Resolved::Owner {
                    waiting_for_dependents: false,
                } => solid.push(reference),
            }
        }
        if !solid.is_empty() {
            if dangling.is_empty() && waiting.is_empty() {
                return Ok(());
            }
            // Still owned: only the references to gone or foreground-deleting owners go, so
            // that the latter are not held by this object.
            let uids: Vec<&str> = dangling
                .iter()
                .chain(&waiting)
                .map(|r| r.uid.as_str())
                .collect();
            tracing::debug!(object = %node.identity, ?uids, "removing dangling owner references");
            return self
                .remove_owner_references(&kind, &node.identity, &uids)
                .await;
        }
        let policy = if !waiting.is_empty() && node.dependents > 0 {
            let cycle = lock(&self.graph).has_dependent_deleting_dependents(&node.identity.uid);
            if cycle {
                // A dependent waits for this object while this one would wait for it:
                // stop blocking the owners, or neither deletion ever ends.
                self.unblock_owner_references(&kind, &node.identity).await?;
            }
            PropagationPolicy::Foreground
        } else if has_finalizer(latest.metadata(), ORPHAN_FINALIZER) {
            PropagationPolicy::Orphan
        } else if has_finalizer(latest.metadata(), FOREGROUND_FINALIZER) {
            PropagationPolicy::Foreground
        } else {
            PropagationPolicy::Background
        };
        tracing::debug!(object = %node.identity, policy = policy.as_str(), "deleting an object whose owners are gone");
        self.delete(&kind, &node.identity, policy).await
    }

    /// Tells the graph that `identity` is gone.
    fn gone(&self, identity: &ObjectIdentity) -> AttemptError {
        let _ = self.graph_events.send(GraphEvent::Absent(identity.clone()));
        AttemptError::VirtualDeleteEnqueued
    }

    /// An owner deleted in the foreground: done once no blocking dependent is left.
    async fn process_deleting_dependents(&self, node: &NodeView) -> Result<(), AttemptError> {
        let blocking = lock(&self.graph).blocking_dependents(&node.identity.uid);
        if blocking.is_empty() {
            tracing::debug!(object = %node.identity, "no blocking dependent left; removing the foregroundDeletion finalizer");
            return self
                .remove_finalizer(&node.identity, FOREGROUND_FINALIZER)
                .await;
        }
        for (dependent, deleting_dependents) in blocking {
            if !deleting_dependents {
                self.attempt_to_delete.add(dependent);
            }
        }
        Ok(())
    }

    /// Resolves an owner reference of `dependent` with a live read (or the absent-owner
    /// cache).
    async fn resolve_owner(
        &self,
        reference: &OwnerReference,
        dependent: &ObjectIdentity,
    ) -> Result<Resolved, AttemptError> {
        let in_namespace = ObjectIdentity::of_reference(reference, &dependent.namespace);
        let cluster_wide = ObjectIdentity::of_reference(reference, "");
        {
            let absent = lock(&self.absent);
            if absent.contains(&cluster_wide) || absent.contains(&in_namespace) {
                return Ok(Resolved::Dangling);
            }
        }
        let kind = self
            .kinds
            .resolve(&reference.api_version, &reference.kind)?;
        if dependent.namespace.is_empty() && kind.is_namespaced() {
            return Err(AttemptError::NamespacedOwnerOfClusterScoped(
                in_namespace.to_string(),
            ));
        }
        let absent_key = if kind.is_namespaced() {
            in_namespace
        } else {
            cluster_wide
        };
        match self.get(kind, &dependent.namespace, &reference.name).await {
            Ok(owner) if owner.metadata().uid.as_deref() == Some(reference.uid.as_str()) => {
                let meta = owner.metadata();
                Ok(Resolved::Owner {
                    waiting_for_dependents: meta.deletion_timestamp.is_some()
                        && has_finalizer(meta, FOREGROUND_FINALIZER),
                })
            }
            Ok(_) => {
                lock(&self.absent).add(absent_key);
                Ok(Resolved::Dangling)
            }
            Err(status) if status.code == 404 => {
                lock(&self.absent).add(absent_key);
                Ok(Resolved::Dangling)
            }
            Err(status) => Err(status.into()),
        }
    }

    /// A consistent read of `name` of `kind` (in `namespace` when the kind is namespaced).
    async fn get(
        &self,
        kind: &ResourceKind,
        namespace: &str,
        name: &str,
    ) -> Result<ArcObject, Status> {
        let namespace = kind.is_namespaced().then_some(namespace);
        self.client
            .get(kind, namespace, name, &GetParams::default())
            .await
    }

    async fn delete(
        &self,
        kind: &ResourceKind,
        identity: &ObjectIdentity,
        policy: PropagationPolicy,
    ) -> Result<(), AttemptError> {
        let params = DeleteParams {
            propagation_policy: Some(policy),
            preconditions: Some(Preconditions {
                uid: Some(identity.uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        let namespace = kind.is_namespaced().then_some(identity.namespace.as_str());
        match self
            .client
            .delete(kind, namespace, &identity.name, &params)
            .await
        {
            Ok(_) => Ok(()),
            Err(status) if status.code == 404 => Ok(()),
            Err(status) => Err(status.into()),
        }
    }

    /// Removes the references to `owner_uids` from the object `identity` (a merge patch
    /// guarded by the object's uid and resourceVersion; an emptied list is removed, as
    /// Kubernetes shows it).
    async fn remove_owner_references(
        &self,
        kind: &ResourceKind,
        identity: &ObjectIdentity,
        owner_uids: &[&str],
    ) -> Result<(), AttemptError> {
        self.update_metadata(kind, identity, |meta| {
            let references = meta.owner_references.clone().unwrap_or_default();
            let kept: Vec<_> = references
                .iter()
                .filter(|r| !owner_uids.contains(&r.uid.as_str()))
                .cloned()
                .collect();
            (kept.len() != references.len()).then(|| {
                if kept.is_empty() {
                    json!({"ownerReferences": null})
                } else {
                    json!({"ownerReferences": kept})
                }
            })
        })
        .await
    }

    /// Sets `blockOwnerDeletion: false` on every owner reference of `identity` that blocks.
    async fn unblock_owner_references(
        &self,
        kind: &ResourceKind,
        identity: &ObjectIdentity,
    ) -> Result<(), AttemptError> {
        self.update_metadata(kind, identity, |meta| {
            let mut references = meta.owner_references.clone().unwrap_or_default();
            let mut changed = false;
            for reference in &mut references {
                if reference.block_owner_deletion == Some(true) {
                    reference.block_owner_deletion = Some(false);
                    changed = true;
                }
            }
            changed.then(|| json!({"ownerReferences": references}))
        })
        .await
    }

    /// Removes `finalizer` from the object `identity`.
    async fn remove_finalizer(
        &self,
        identity: &ObjectIdentity,
        finalizer: &str,
    ) -> Result<(), AttemptError> {
        let kind = self
            .kinds
            .resolve(&identity.api_version, &identity.kind)?
            .clone();
        self.update_metadata(&kind, identity, |meta| {
            has_finalizer(meta, finalizer).then(|| {
                let kept: Vec<&String> = meta
                    .finalizers
                    .iter()
                    .flatten()
                    .filter(|f| *f != finalizer)
                    .collect();
                // An emptied list is removed, as Kubernetes' collector sends `null`.
                if kept.is_empty() {
                    json!({"finalizers": null})
                } else {
                    json!({"finalizers": kept})
                }
            })
        })
        .await
    }

    /// Reads the object and merge-patches the metadata fields `change` returns (nothing when
    /// it returns `None`), guarded by the read's resourceVersion and retried when another
    /// write wins. A gone object needs nothing.
    async fn update_metadata(
        &self,
        kind: &ResourceKind,
        identity: &ObjectIdentity,
        change: impl Fn(&ObjectMeta) -> Option<serde_json::Value>,
    ) -> Result<(), AttemptError> {
        let namespace = kind.is_namespaced().then_some(identity.namespace.as_str());
        let mut attempts = 0;
        loop {
            attempts += 1;
            let latest = match self.get(kind, &identity.namespace, &identity.name).await {
                Ok(latest) => latest,
                Err(status) if status.code == 404 => return Ok(()),
                Err(status) => return Err(status.into()),
            };
            let meta = latest.metadata();
            if meta.uid.as_deref() != Some(identity.uid.as_str()) {
                return Ok(());
            }
            let Some(serde_json::Value::Object(mut fields)) = change(meta) else {
                return Ok(());
            };
            fields.insert("resourceVersion".to_owned(), json!(meta.resource_version));
            fields.insert("uid".to_owned(), json!(identity.uid));
            let patch = Patch::Merge(json!({"metadata": fields}));
            match self
                .client
                .patch(
                    kind,
                    namespace,
                    &identity.name,
                    None,
                    &patch,
                    &PatchParams::default(),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(status) if status.code == 404 => return Ok(()),
                Err(status) if status.code == 409 && attempts < CONFLICT_RETRIES => continue,
                Err(status) => return Err(status.into()),
            }
        }
    }

    /// One attempt to orphan the dependents of the owner `uid` and release it.
    pub(super) async fn attempt_to_orphan(&self, uid: &str) -> Outcome {
        let Some(owner) = self.view(uid) else {
            return Outcome::Forget;
        };
        match self.orphan_dependents(&owner).await {
            Ok(()) => Outcome::Forget,
            Err(error) => {
                tracing::debug!(owner = %owner.identity, %error, "orphaning failed; retrying");
                Outcome::Requeue
            }
        }
    }

    async fn orphan_dependents(&self, owner: &NodeView) -> Result<(), AttemptError> {
        let dependents = lock(&self.graph).dependents(&owner.identity.uid);
        for dependent in &dependents {
            let kind = self
                .kinds
                .resolve(&dependent.api_version, &dependent.kind)?
                .clone();
            self.remove_owner_references(&kind, dependent, &[owner.identity.uid.as_str()])
                .await?;
        }
        tracing::debug!(owner = %owner.identity, dependents = dependents.len(), "dependents orphaned; removing the orphan finalizer");
        self.remove_finalizer(&owner.identity, ORPHAN_FINALIZER)
            .await
    }
}
