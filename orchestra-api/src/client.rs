//! The transport-agnostic `Client` trait and its request parameters.
//!
//! Every component talks to the cluster through a `dyn Client`: in-process through the
//! store's `LocalClient` (objects shared as `Arc`, never serialized) or remotely through
//! `orchestra-client`'s `HttpClient`. The trait is object-safe and works on type-erased
//! [`ArcObject`]s described by a [`ResourceKind`]; [`crate::Api`] is the typed facade over it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::kinds::ResourceKind;
use crate::object::ArcObject;
use crate::status::Status;
use crate::watch::WatchEvent;

/// How `resourceVersion` is interpreted on a list (`resourceVersionMatch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionMatch {
    /// Any state at least as new as `resourceVersion` (the default when it is set).
    #[default]
    NotOlderThan,
    /// Exactly the state at `resourceVersion`.
    Exact,
}

/// Parameters of `get`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetParams {
    /// `resourceVersion`: `"0"` allows an answer from the cache.
    pub resource_version: Option<String>,
}

/// Parameters of `list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    /// `labelSelector`, in the string syntax.
    pub label_selector: Option<String>,
    /// `fieldSelector`, in the string syntax.
    pub field_selector: Option<String>,
    /// `limit`: at most this many items per page.
    pub limit: Option<u32>,
    /// `continue`: the token of the previous page.
    pub continue_token: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub version_match: Option<VersionMatch>,
}

impl ListParams {
    /// Selects by label (`app=web,tier!=db`).
    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }
    /// Selects by field (`spec.nodeName=node-1`).
    pub fn fields(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into());
        self
    }
    /// Pages the list, `limit` items at a time.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// Parameters of `watch`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchParams {
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
    /// Deliver every change after this revision; `None` or `"0"` starts with the current state
    /// as `ADDED` events.
    pub resource_version: Option<String>,
    /// `allowWatchBookmarks`.
    pub allow_bookmarks: bool,
    /// `timeoutSeconds`: the server ends the watch after this long.
    pub timeout_seconds: Option<u32>,
    /// `sendInitialEvents`.
    pub send_initial_events: Option<bool>,
}

/// `fieldValidation`: what the server does with unknown or duplicate fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Reject the request.
    #[default]
    Strict,
    /// Accept it and return a `Warning` per field.
    Warn,
    /// Drop the fields silently.
    Ignore,
}

/// Parameters of `create` and `replace`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostParams {
    /// `dryRun=All`: validate and admit, but store nothing.
    pub dry_run: bool,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `fieldValidation`.
    pub field_validation: Option<FieldValidation>,
}

/// A patch body with its type.
#[derive(Debug, Clone, PartialEq)]
pub enum Patch {
    /// `application/merge-patch+json` (RFC 7386).
    Merge(serde_json::Value),
    /// `application/json-patch+json` (RFC 6902): a JSON array of operations.
    Json(serde_json::Value),
    /// `application/strategic-merge-patch+json`.
    Strategic(serde_json::Value),
    /// `application/apply-patch+yaml`: server-side apply of a full intent.
    Apply(serde_json::Value),
}

impl Patch {
    /// The patch's media type.
    pub fn content_type(&self) -> &'static str {
        match self {
            Self::Merge(_) => "application/merge-patch+json",
            Self::Json(_) => "application/json-patch+json",
            Self::Strategic(_) => "application/strategic-merge-patch+json",
            Self::Apply(_) => "application/apply-patch+yaml",
        }
    }
}

/// Parameters of `patch`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchParams {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `fieldManager` (required for apply patches).
    pub field_manager: Option<String>,
    /// `force`: take ownership of conflicting fields (apply patches only).
    pub force: bool,
    /// `fieldValidation`.
    pub field_validation: Option<FieldValidation>,
}

/// `propagationPolicy`: what happens to dependents on delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropagationPolicy {
    /// Leave dependents, removing their owner reference.
    Orphan,
    /// Delete the owner now, dependents in the background.
    Background,
    /// Delete dependents first, then the owner.
    Foreground,
}

impl PropagationPolicy {
    /// The policy as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Orphan => "Orphan",
            Self::Background => "Background",
            Self::Foreground => "Foreground",
        }
    }
}

/// Conditions a delete must meet (`preconditions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preconditions {
    /// The object's uid must be this.
    pub uid: Option<String>,
    /// The object's resourceVersion must be this.
    pub resource_version: Option<String>,
}

/// Parameters of `delete` and `delete_collection`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteParams {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `gracePeriodSeconds`; `Some(0)` deletes immediately.
    pub grace_period_seconds: Option<i64>,
    /// `propagationPolicy`.
    pub propagation_policy: Option<PropagationPolicy>,
    /// `preconditions`.
    pub preconditions: Option<Preconditions>,
}

/// A subresource addressed by the `Client` calls that take one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subresource {
    /// `/status`: reads and writes only the status.
    Status,
    /// `/scale`: an `autoscaling/v1` `Scale` view of replicas.
    Scale,
    /// `pods/binding`: assigns a pod to a node.
    Binding,
    /// `pods/eviction`: a PodDisruptionBudget-checked delete.
    Eviction,
    /// `namespaces/finalize`: replaces only a Namespace's `spec.finalizers`, as the namespace
    /// controller does once a terminating namespace is empty.
    Finalize,
}

impl Subresource {
    /// The URL segment (`status`, `scale`, `binding`, `eviction`, `finalize`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Scale => "scale",
            Self::Binding => "binding",
            Self::Eviction => "eviction",
            Self::Finalize => "finalize",
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, Default)]
pub struct ObjectList {
    /// The revision the list is consistent at.
    pub resource_version: String,
    /// Token for the next page, if there is one.
    pub continue_token: Option<String>,
    /// How many items remain after this page, when known.
    pub remaining_item_count: Option<i64>,
    /// The objects. A remote client puts an
    /// [`UndecodableObject`](crate::UndecodableObject) where an item did not decode into the
    /// kind's type, rather than failing the whole list.
    pub items: Vec<ArcObject>,
}

/// What a delete did.
#[derive(Debug, Clone)]
pub enum DeleteOutcome {
    /// The object is gone; its last state.
    Deleted(ArcObject),
    /// Deletion has started (finalizers or a grace period remain); the object as it is now,
    /// with `deletionTimestamp` set.
    Pending(ArcObject),
}

/// What a patch did, as a server reports it beyond the object itself.
#[derive(Debug, Clone)]
pub struct Patched {
    /// The object after the patch.
    pub object: ArcObject,
    /// The patch created the object: a server-side apply of a name that did not exist,
    /// which Kubernetes answers with `201 Created`.
    pub created: bool,
    /// `Warning` texts: the unknown and duplicate fields `fieldValidation=Warn` found.
    pub warnings: Vec<String>,
}

impl Patched {
    /// An update of an existing object, without warnings.
    pub fn updated(object: ArcObject) -> Self {
        Self {
            object,
            created: false,
            warnings: Vec::new(),
        }
    }
}

/// The stream a watch returns. Failures arrive in-band as [`WatchEvent::Error`], after which
/// the stream ends. An object that a remote client could not decode into the kind's type
/// arrives in its `ADDED`/`MODIFIED`/`DELETED` event as an
/// [`UndecodableObject`](crate::UndecodableObject), and the stream goes on.
pub type WatchStream = BoxStream<'static, WatchEvent<ArcObject>>;

/// The verbs of the Kubernetes API, over any transport.
///
/// `namespace` is `None` for cluster-scoped kinds and for lists and watches across all
/// namespaces.
#[async_trait]
pub trait Client: Send + Sync {
    /// Reads one object.
    async fn get(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        params: &GetParams,
    ) -> Result<ArcObject, Status>;

    /// Lists objects.
    async fn list(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList, Status>;

    /// Watches for changes.
    async fn watch(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        params: &WatchParams,
    ) -> Result<WatchStream, Status>;

    /// Creates an object (or, with a subresource such as `binding` or `eviction`, posts to it).
    async fn create(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status>;

    /// Posts to a subresource of `name` (`pods/binding`, `pods/eviction`).
    async fn create_subresource(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Subresource,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status>;

    /// Replaces an object, or one of its subresources (`status`, `scale`), guarded by the
    /// object's `resourceVersion` when set.
    async fn replace(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status>;

    /// Patches an object or one of its subresources.
    async fn patch(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<ArcObject, Status>;

    /// [`Client::patch`], telling also whether the patch created the object and which
    /// field-validation warnings it produced, so that a server can answer `201 Created` and
    /// `Warning` headers as Kubernetes does. A transport that cannot tell reports an update
    /// without warnings.
    async fn patch_outcome(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<Patched, Status> {
        self.patch(kind, namespace, name, subresource, patch, params)
            .await
            .map(Patched::updated)
    }

    /// Reads a subresource (`status`, `scale`).
    async fn get_subresource(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Subresource,
    ) -> Result<ArcObject, Status>;

    /// Deletes an object.
    async fn delete(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome, Status>;

    /// Deletes every object a list would return; answers with those objects.
    async fn delete_collection(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        list: &ListParams,
        params: &DeleteParams,
    ) -> Result<ObjectList, Status>;
}

/// Annotations Kubernetes puts on a bookmark that ends the initial events of a watch.
pub fn initial_events_end_annotations() -> BTreeMap<String, String> {
    BTreeMap::from([("k8s.io/initial-events-end".to_owned(), "true".to_owned())])
}
