//! `Registry`: the object lifecycle of one kind, as Kubernetes' generic registry runs it, over
//! a [`Store`].
//!
//! Every write goes the same way: default, fill in what the server owns
//! ([`lifecycle`], and the kind's own rules such as [`namespace`]'s), admit ([`admission`]),
//! validate, encode once to JSON, and compare-and-swap it into the key-value store at the key
//! Kubernetes would use (`/registry/<resource>/<namespace>/<name>`). Reads and
//! watches come from the kind's watch cache, which decoded the write once and shares it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use orchestra_api::{kinds, k8s_openapi::api::core::v1::ConfigMap, ArcObject, PostParams};
//! use orchestra_store::{MemoryKv, Registry, Store, StoreConfig};
//!
//! let store = Store::open(Arc::new(MemoryKv::new()), [kinds::CONFIGMAPS.clone()], StoreConfig::default())
//!     .await
//!     .unwrap();
//! let registry = Registry::new(&store, &kinds::CONFIGMAPS).unwrap();
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("settings".into());
//! let created = registry
//!     .create(Some("default"), Arc::new(cm) as ArcObject, &PostParams::default())
//!     .await
//!     .unwrap();
//! assert!(created.metadata().uid.is_some());
//! let read = registry.get(Some("default"), "settings", &Default::default()).await.unwrap();
//! assert_eq!(read.metadata().resource_version, created.metadata().resource_version);
//! # }
//! ```

pub mod admission;
pub mod apply;
pub mod lifecycle;
pub mod managed_fields;
pub mod namespace;
pub mod patch;
mod scale;
pub mod service_allocation;

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use futures::StreamExt;
use jiff::Timestamp;
use orchestra_api::client::VersionMatch;
use orchestra_api::{
    ArcObject, DeleteOutcome, DeleteParams, FieldSelector, GetParams, LabelSelector, ListParams,
    Object, ObjectList, Patch, PatchParams, Patched, PostParams, ResourceKind, Status, Subresource,
    WatchParams, WatchStream, defaulting, kinds, validation,
};
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::kv::{RangeRequest, Revision};
use crate::store::{Store, decode, kind_prefix, status_of};
use crate::watch_cache::{Filter, WatchCache, WatchStart, object_key};
use k8s_openapi::api::core::v1::{Namespace, Service};
use service_allocation::ServiceAllocator;

use admission::Admission;
use lifecycle::{DeletePlan, UpdateTarget};
use managed_fields::FieldTracking;

/// How many times a write without a `resourceVersion` precondition retries after losing a
/// compare-and-swap race, as Kubernetes' `GuaranteedUpdate` does.
const MAX_UNCONDITIONAL_RETRIES: usize = 16;

/// The lifecycle of the objects of one kind.
#[derive(Clone, Debug)]
pub struct Registry {
    kind: ResourceKind,
    store: Store,
    cache: WatchCache,
}

/// The continue token of a paged list, in Kubernetes' layout.
#[derive(Serialize, Deserialize)]
struct ContinueToken {
    v: String,
    rv: Revision,
    start: String,
}

fn encode_continue(revision: Revision, last_key: &str) -> String {
    let token = ContinueToken {
        v: "meta.k8s.io/v1".to_owned(),
        rv: revision,
        start: format!("{last_key}\u{0}"),
    };
    let json = serde_json::to_vec(&token).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_continue(token: &str) -> Result<(Revision, String), Status> {
    let bad = || Status::bad_request("continue key is not valid: malformed token");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let token: ContinueToken = serde_json::from_slice(&json).map_err(|_| bad())?;
    if token.v != "meta.k8s.io/v1" || token.rv <= 0 {
        return Err(bad());
    }
    let last = token
        .start
        .strip_suffix('\u{0}')
        .unwrap_or(&token.start)
        .to_owned();
    Ok((token.rv, last))
}

/// Parses a `resourceVersion` parameter.
fn parse_revision(rv: &str) -> Result<Revision, Status> {
    rv.parse::<Revision>()
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| Status::bad_request(format!("invalid resource version: {rv:?}")))
}

/// Parses the selectors of a list or watch into a cache filter, rejecting unsupported field
/// labels with 400 as Kubernetes does.
pub fn filter_for(
    kind: &ResourceKind,
    namespace: Option<&str>,
    labels: Option<&str>,
    fields: Option<&str>,
) -> Result<Filter, Status> {
    let labels = labels
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<LabelSelector>()
                .map_err(|e| Status::bad_request(e.to_string()))
        })
        .transpose()?;
    let fields = fields
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<FieldSelector>()
                .map_err(|e| Status::bad_request(e.to_string()))
        })
        .transpose()?;
    if let Some(fields) = &fields {
        fields.validate_for(kind)?;
    }
    Ok(Filter {
        namespace: namespace
            .filter(|_| kind.is_namespaced())
            .map(str::to_owned),
        labels,
        fields,
    })
}

impl Registry {
    /// The registry of `kind` in `store`; `None` if the store does not serve the kind.
    pub fn new(store: &Store, kind: &ResourceKind) -> Option<Self> {
        Some(Self {
            kind: kind.clone(),
            store: store.clone(),
            cache: store.cache(kind)?,
        })
    }

    /// The kind this registry serves.
    pub fn kind(&self) -> &ResourceKind {
        &self.kind
    }

    /// The kind's watch cache.
    pub fn cache(&self) -> &WatchCache {
        &self.cache
    }

    /// The allocator of Service addresses and ports, for the Service registry only.
    fn service_allocator(&self) -> Option<ServiceAllocator<'_>> {
        (self.kind.group.is_empty() && self.kind.plural == "services").then(|| {
            ServiceAllocator::new(
                self.store.kv().as_ref(),
                &self.store.config().service_network,
            )
        })
    }

    /// Releases what a removed object held (a Service's addresses and ports).
    async fn release_held(&self, removed: &dyn Object) {
        if let (Some(allocator), Some(service)) = (
            self.service_allocator(),
            removed.as_any().downcast_ref::<Service>(),
        ) {
            allocator.release_service(service).await;
        }
    }

    fn not_found(&self, name: &str) -> Status {
        Status::not_found(&self.kind.group, &self.kind.plural, name)
    }

    fn namespace_of<'a>(&self, namespace: Option<&'a str>) -> Result<&'a str, Status> {
        match (self.kind.is_namespaced(), namespace) {
            (true, Some(ns)) if !ns.is_empty() => Ok(ns),
            (true, _) => Err(Status::bad_request(format!(
                "a namespace is required to address {}",
                self.kind.plural
            ))),
            (false, _) => Ok(""),
        }
    }

    fn storage_key(&self, namespace: &str, name: &str) -> Bytes {
        Bytes::from(self.kind.key(namespace, name))
    }

    /// Checks that an object given to this registry is of its kind.
    fn check_kind(&self, object: &dyn Object) -> Result<(), Status> {
        let (api_version, kind) = (object.api_version(), object.kind());
        let expected = self.kind.api_version();
        if (!api_version.is_empty() && api_version != expected)
            || (!kind.is_empty() && kind != self.kind.kind)
        {
            return Err(Status::bad_request(format!(
                "the object is a {api_version} {kind}, but this endpoint serves {expected} {}",
                self.kind.kind
            )));
        }
        Ok(())
    }

    fn encode(&self, object: &dyn Object) -> Result<Bytes, Status> {
        object
            .to_json()
            .map(Bytes::from)
            .map_err(|e| Status::internal(format!("cannot encode the object: {e}")))
    }

    fn with_revision(mut object: Box<dyn Object>, revision: Revision) -> ArcObject {
        object.metadata_mut().resource_version = Some(revision.to_string());
        Arc::from(object)
    }

    /// Reads the cached object, after the caches caught up with the store (unless
    /// `resourceVersion=0` allows any cached state).
    async fn current(
        &self,
        namespace: &str,
        name: &str,
        any_state: bool,
    ) -> Result<ArcObject, Status> {
        if !any_state {
            self.store.wait_fresh().await?;
        }
        self.cache
            .get(namespace, name)
            .ok_or_else(|| self.not_found(name))
    }

    /// Reads one object.
    pub async fn get(
        &self,
        namespace: Option<&str>,
        name: &str,
        params: &GetParams,
    ) -> Result<ArcObject, Status> {
        let namespace = self.namespace_of(namespace)?;
        let any_state = match params.resource_version.as_deref() {
            None | Some("") => false,
            Some("0") => true,
            Some(rv) => {
                self.store.wait_for(parse_revision(rv)?).await?;
                true
            }
        };
        self.current(namespace, name, any_state).await
    }

    /// Lists objects, from the cache, or from the store for later pages and exact revisions.
    pub async fn list(
        &self,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList, Status> {
        let filter = filter_for(
            &self.kind,
            namespace,
            params.label_selector.as_deref(),
            params.field_selector.as_deref(),
        )?;
        let limit = params.limit.map(|l| l as usize).filter(|l| *l > 0);
        if let Some(token) = params.continue_token.as_deref().filter(|t| !t.is_empty()) {
            let (revision, last) = decode_continue(token)?;
            return self
                .list_from_store(&filter, revision, Some(&last), limit)
                .await;
        }
        match (params.resource_version.as_deref(), params.version_match) {
            (Some(rv), Some(VersionMatch::Exact)) => {
                let revision = parse_revision(rv)?;
                return self.list_from_store(&filter, revision, None, limit).await;
            }
            (None | Some(""), _) => {
                self.store.wait_fresh().await?;
            }
            (Some("0"), _) => {}
            (Some(rv), _) => self.store.wait_for(parse_revision(rv)?).await?,
        }
        let page = self.cache.list(&filter, limit, None);
        let unfiltered = filter.is_namespace_only();
        Ok(ObjectList {
            resource_version: page.revision.to_string(),
            continue_token: page
                .continue_after
                .as_deref()
                .map(|last| encode_continue(page.revision, last)),
            remaining_item_count: (unfiltered && page.continue_after.is_some())
                .then_some(page.remaining as i64),
            items: page.items,
        })
    }

    /// One page read from the key-value store at `revision` (a continued list, or an exact
    /// revision), filtered like the cache would.
    async fn list_from_store(
        &self,
        filter: &Filter,
        revision: Revision,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<ObjectList, Status> {
        let prefix = match &filter.namespace {
            Some(ns) => self.kind.key_prefix(Some(ns)),
            None => kind_prefix(&self.kind),
        };
        let base = kind_prefix(&self.kind);
        let mut request = RangeRequest::prefix(Bytes::from(prefix)).at_revision(revision);
        if let Some(after) = after {
            request = request.start_after(Bytes::from(format!("{base}{after}")));
        }
        let page_size = limit.unwrap_or(usize::MAX);
        request = request.limit(page_size.min(1_000));
        let mut items = Vec::new();
        let mut last_key: Option<String> = None;
        let mut more = false;
        loop {
            let response = self.store.kv().range(request.clone()).await.map_err(|err| match err {
                StoreError::Compacted { .. } => Status::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ),
                other => status_of(other),
            })?;
            let next = response.next_page(&request);
            for kv in &response.kvs {
                if items.len() == page_size {
                    more = true;
                    break;
                }
                let key = String::from_utf8_lossy(&kv.key[base.len()..]).into_owned();
                last_key = Some(key);
                let obj = decode(&self.kind, kv)?;
                if filter.matches(&*obj) {
                    items.push(obj);
                }
            }
            match next {
                Some(next_request) if !more => request = next_request,
                Some(_) => break,
                None => break,
            }
        }
        Ok(ObjectList {
            resource_version: revision.to_string(),
            continue_token: if more {
                last_key
                    .as_deref()
                    .map(|last| encode_continue(revision, last))
            } else {
                None
            },
            remaining_item_count: None,
            items,
        })
    }

    /// Watches for changes.
    pub async fn watch(
        &self,
        namespace: Option<&str>,
        params: &WatchParams,
    ) -> Result<WatchStream, Status> {
        let filter = filter_for(
            &self.kind,
            namespace,
            params.label_selector.as_deref(),
            params.field_selector.as_deref(),
        )?;
        let start = match params.resource_version.as_deref() {
            None | Some("") => {
                self.store.wait_fresh().await?;
                WatchStart::Now
            }
            Some("0") => WatchStart::Now,
            Some(rv) => {
                let revision = parse_revision(rv)?;
                self.store.wait_for(revision).await?;
                WatchStart::After(revision)
            }
        };
        if params.send_initial_events == Some(true) && !params.allow_bookmarks {
            return Err(Status::invalid(
                "meta.k8s.io",
                "ListOptions",
                "",
                &[validation::FieldError::forbidden(
                    validation::FieldPath::new("allowWatchBookmarks"),
                    "allowWatchBookmarks must be set to true when sendInitialEvents is set",
                )],
            ));
        }
        let initial_end = params.send_initial_events == Some(true) && start == WatchStart::Now;
        let stream = self
            .cache
            .watch(start, filter, params.allow_bookmarks, initial_end)?;
        Ok(match params.timeout_seconds {
            Some(secs) => {
                let deadline = tokio::time::sleep(std::time::Duration::from_secs(u64::from(secs)));
                stream.take_until(deadline).boxed()
            }
            None => stream,
        })
    }

    /// Creates an object; its `managedFields` record the request's `fieldManager` as the
    /// owner of every field it set.
    pub async fn create(
        &self,
        namespace: Option<&str>,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        let tracking = FieldTracking::update(params.field_manager.as_deref());
        self.create_tracked(namespace, object, params, tracking)
            .await
    }

    /// [`Self::create`], with the given ownership bookkeeping.
    async fn create_tracked(
        &self,
        namespace: Option<&str>,
        object: ArcObject,
        params: &PostParams,
        tracking: FieldTracking<'_>,
    ) -> Result<ArcObject, Status> {
        self.check_kind(&*object)?;
        let mut obj = object.clone_object();
        defaulting::default_object(&mut *obj);
        let generated = obj.metadata().name.as_deref().unwrap_or("").is_empty();
        let request_namespace = namespace.filter(|ns| !ns.is_empty());
        lifecycle::prepare_for_create(&mut *obj, &self.kind, request_namespace, Timestamp::now())?;
        if generated {
            // Some defaults derive from the name (a Namespace's name label).
            defaulting::default_object(&mut *obj);
        }
        managed_fields::track_create(tracking, &self.kind, &mut *obj)?;
        namespace::prepare_for_create(&mut *obj);
        Admission::new(&self.store, &self.kind)
            .admit_create(&mut *obj)
            .await?;
        let name = lifecycle::name_of(obj.metadata()).to_owned();
        let errors = validation::validate_create(&*obj);
        if !errors.is_empty() {
            return Err(Status::invalid(
                &self.kind.group,
                &self.kind.kind,
                &name,
                &errors,
            ));
        }
        let namespace = obj.metadata().namespace.clone().unwrap_or_default();
        if params.dry_run {
            return Ok(Arc::from(obj));
        }
        let key = self.storage_key(&namespace, &name);
        let allocations = match (
            self.service_allocator(),
            obj.as_any_mut().downcast_mut::<Service>(),
        ) {
            (Some(allocator), Some(service)) => Some(allocator.allocate_for_create(service).await?),
            _ => None,
        };
        let created = match self.encode(&*obj) {
            Ok(bytes) => self
                .store
                .kv()
                .create(key, bytes)
                .await
                .map_err(|err| match err {
                    StoreError::AlreadyExists { .. } => {
                        Status::already_exists(&self.kind.group, &self.kind.plural, &name)
                    }
                    err => status_of(err),
                }),
            Err(status) => Err(status),
        };
        match (created, self.service_allocator(), allocations) {
            (Ok(kv), _, _) => Ok(Self::with_revision(obj, kv.mod_revision)),
            (Err(status), Some(allocator), Some(allocations)) => {
                allocator.release(allocations).await;
                Err(status)
            }
            (Err(status), _, _) => Err(status),
        }
    }

    /// Replaces an object (or its status); guarded by the object's `resourceVersion` when set,
    /// retried on races when not.
    pub async fn replace(
        &self,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        match subresource {
            None | Some(Subresource::Status) => {}
            Some(Subresource::Scale) => {
                return self.replace_scale(namespace, name, object, params).await;
            }
            Some(Subresource::Finalize) if self.kind == kinds::NAMESPACES => {
                return self.finalize(name, object, params).await;
            }
            Some(other) => {
                return Err(Status::bad_request(format!(
                    "{} cannot be replaced",
                    other.as_str()
                )));
            }
        }
        self.check_kind(&*object)?;
        if let Some(own) = object.metadata().name.as_deref()
            && own != name
        {
            return Err(Status::bad_request(format!(
                "the name of the object ({own}) does not match the name on the URL ({name})"
            )));
        }
        let target = match subresource {
            Some(Subresource::Status) => UpdateTarget::Status,
            _ => UpdateTarget::Main,
        };
        let conditional = object
            .metadata()
            .resource_version
            .as_deref()
            .is_some_and(|rv| !rv.is_empty());
        let tracking = FieldTracking::update(params.field_manager.as_deref());
        self.update_tracked(
            namespace,
            name,
            conditional,
            params.dry_run,
            tracking,
            |_old| Ok((object.clone_object(), target)),
        )
        .await
    }

    /// The update loop shared by replace and patch: read the current object, let `change`
    /// produce the new one, check and store it with compare-and-swap, and retry a lost race
    /// when the caller did not ask for a specific `resourceVersion`.
    pub(crate) async fn update_with(
        &self,
        namespace: Option<&str>,
        name: &str,
        conditional: bool,
        dry_run: bool,
        change: impl FnMut(&ArcObject) -> Result<(Box<dyn Object>, UpdateTarget), Status>,
    ) -> Result<ArcObject, Status> {
        self.update_tracked(
            namespace,
            name,
            conditional,
            dry_run,
            FieldTracking::Off,
            change,
        )
        .await
    }

    /// [`Self::update_with`], recording field ownership as `tracking` says once the new
    /// object is final.
    async fn update_tracked(
        &self,
        namespace: Option<&str>,
        name: &str,
        conditional: bool,
        dry_run: bool,
        tracking: FieldTracking<'_>,
        mut change: impl FnMut(&ArcObject) -> Result<(Box<dyn Object>, UpdateTarget), Status>,
    ) -> Result<ArcObject, Status> {
        let namespace = self.namespace_of(namespace)?;
        let key = self.storage_key(namespace, name);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let old = self.current(namespace, name, false).await?;
            let (mut new, target) = change(&old)?;
            let requested_fields = new.metadata().managed_fields.clone();
            if target != UpdateTarget::Internal {
                // As Kubernetes defaults every decoded body, status writes included: a node's
                // capacity is stored rounded and canonical whoever writes it.
                defaulting::default_object(&mut *new);
            }
            if !conditional {
                new.metadata_mut().resource_version = old.metadata().resource_version.clone();
            }
            if target == UpdateTarget::Main {
                // Before the generation is bumped: what admission restores is no change.
                namespace::prepare_for_update(&mut *new, &*old);
                Admission::new(&self.store, &self.kind)
                    .admit_update(&mut *new, &*old)
                    .await?;
            }
            let mut new = lifecycle::prepare_for_update(new, &*old, &self.kind, target)?;
            if target == UpdateTarget::Main
                && let (Some(service), Some(old_service)) = (
                    new.as_any_mut().downcast_mut::<Service>(),
                    old.as_any().downcast_ref::<Service>(),
                )
            {
                defaulting::drop_service_type_dependent_fields(old_service, service);
            }
            managed_fields::track_update(
                tracking,
                &self.kind,
                target,
                &*old,
                &mut *new,
                requested_fields,
            )?;
            let errors = match target {
                UpdateTarget::Internal => Vec::new(),
                _ => validation::validate_update(&*new, &*old),
            };
            if !errors.is_empty() {
                return Err(Status::invalid(
                    &self.kind.group,
                    &self.kind.kind,
                    name,
                    &errors,
                ));
            }
            let old_revision = old
                .metadata()
                .resource_version
                .as_deref()
                .and_then(|rv| rv.parse::<Revision>().ok())
                .unwrap_or(0);
            let bytes = self.encode(&*new)?;
            if self.encode(&*old)? == bytes {
                // Nothing changed: Kubernetes skips the write and keeps the resourceVersion.
                return Ok(old);
            }
            if dry_run {
                return Ok(Arc::from(new));
            }
            let removing = lifecycle::deletion_complete(&*new);
            let (allocated, unused) = match (
                self.service_allocator().filter(|_| !removing),
                new.as_any_mut().downcast_mut::<Service>(),
                old.as_any().downcast_ref::<Service>(),
            ) {
                (Some(allocator), Some(service), Some(old_service)) => {
                    let (allocated, unused) =
                        allocator.allocate_for_update(old_service, service).await?;
                    (Some(allocated), Some(unused))
                }
                _ => (None, None),
            };
            let bytes = if allocated.is_some() {
                self.encode(&*new)?
            } else {
                bytes
            };
            let outcome = if removing {
                self.store
                    .kv()
                    .delete(key.clone(), Some(old_revision))
                    .await
            } else {
                self.store
                    .kv()
                    .update(key.clone(), bytes, old_revision)
                    .await
            };
            if let Some(allocator) = self.service_allocator() {
                match (&outcome, allocated, unused) {
                    (Ok(_), _, Some(unused)) => allocator.release(unused).await,
                    (Err(_), Some(allocated), _) => allocator.release(allocated).await,
                    _ => {}
                }
            }
            if removing && outcome.is_ok() {
                self.release_held(&*old).await;
            }
            match outcome {
                Ok(kv) => return Ok(Self::with_revision(new, kv.mod_revision)),
                Err(StoreError::Conflict {
                    current_revision, ..
                }) => {
                    if conditional || attempts >= MAX_UNCONDITIONAL_RETRIES {
                        return Err(Status::conflict(
                            &self.kind.group,
                            &self.kind.plural,
                            name,
                            "the object has been modified; please apply your changes to the latest version and try again",
                        ));
                    }
                    self.store.wait_for(current_revision).await?;
                }
                Err(StoreError::NotFound { .. }) => return Err(self.not_found(name)),
                Err(err) => return Err(status_of(err)),
            }
        }
    }

    /// Applies a patch to an object (or its status): a JSON merge patch, a JSON patch, a
    /// strategic merge patch (`415` for kinds without patch metadata, such as custom
    /// resources), as [`patch`] describes, or a server-side apply ([`apply`]), which creates
    /// the object when it does not exist. A patch that sets `metadata.resourceVersion` is a
    /// precondition (`409` when stale); any other patch is re-applied to the fresh object when
    /// it loses a race with another write.
    pub async fn patch(
        &self,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<ArcObject, Status> {
        self.patch_outcome(namespace, name, subresource, patch, params)
            .await
            .map(|patched| patched.object)
    }

    /// [`Self::patch`], telling also whether a server-side apply created the object.
    pub async fn patch_outcome(
        &self,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<Patched, Status> {
        let target = match subresource {
            None => UpdateTarget::Main,
            Some(Subresource::Status) => UpdateTarget::Status,
            Some(Subresource::Scale) => {
                return self
                    .patch_scale(namespace, name, patch, params)
                    .await
                    .map(Patched::updated);
            }
            Some(other) => {
                return Err(Status::bad_request(format!(
                    "{} cannot be patched here",
                    other.as_str()
                )));
            }
        };
        patch::validate_options(patch, params)?;
        let manager = params.field_manager.as_deref().unwrap_or_default();
        if let Patch::Apply(config) = patch {
            apply::validate_config(&self.kind, name, config)?;
            return self
                .apply(namespace, name, target, config, manager, params)
                .await;
        }
        let kind = self.kind.clone();
        let tracking = FieldTracking::Update(manager);
        let mut warnings = Vec::new();
        let object = self
            .update_tracked(namespace, name, false, params.dry_run, tracking, |old| {
                let live = old
                    .to_value()
                    .map_err(|e| Status::internal(format!("cannot encode the object: {e}")))?;
                let patched = patch::patch_value(&kind, &live, patch)?;
                check_requested_version(&kind, name, &patched, &live)?;
                let (object, found) =
                    patch::decode_patched_validated(&kind, patched, params.field_validation)?;
                warnings = found;
                Ok((object, target))
            })
            .await?;
        Ok(Patched {
            object,
            created: false,
            warnings,
        })
    }

    /// Server-side apply: merge into the live object, or create it from the configuration
    /// when it does not exist (only through the object itself, not its status).
    async fn apply(
        &self,
        namespace: Option<&str>,
        name: &str,
        target: UpdateTarget,
        config: &serde_json::Value,
        manager: &str,
        params: &PatchParams,
    ) -> Result<Patched, Status> {
        let kind = self.kind.clone();
        let namespace_name = self.namespace_of(namespace)?;
        let applied = apply::Applied {
            namespace: namespace_name,
            name,
        };
        for _ in 0..MAX_UNCONDITIONAL_RETRIES {
            let exists = self.current(namespace_name, name, false).await.is_ok();
            if !exists && target == UpdateTarget::Main {
                let mut object =
                    apply::apply_to(&kind, target, applied, None, config, manager, params.force)?;
                let meta = object.metadata_mut();
                meta.name = Some(name.to_owned());
                if kind.is_namespaced() {
                    meta.namespace = Some(namespace_name.to_owned());
                }
                let post = PostParams {
                    dry_run: params.dry_run,
                    field_manager: params.field_manager.clone(),
                    field_validation: params.field_validation,
                };
                match self
                    .create_tracked(namespace, Arc::from(object), &post, FieldTracking::Applied)
                    .await
                {
                    Err(status) if status.reason == orchestra_api::StatusReason::AlreadyExists => {
                        continue;
                    }
                    Ok(object) => {
                        return Ok(Patched {
                            object,
                            created: true,
                            warnings: Vec::new(),
                        });
                    }
                    Err(status) => return Err(status),
                }
            }
            let outcome = self
                .update_tracked(
                    namespace,
                    name,
                    false,
                    params.dry_run,
                    FieldTracking::Applied,
                    |old| {
                        let applied = apply::apply_to(
                            &kind,
                            target,
                            applied,
                            Some(&**old),
                            config,
                            manager,
                            params.force,
                        )?;
                        let live = old.to_value().map_err(|e| {
                            Status::internal(format!("cannot encode the object: {e}"))
                        })?;
                        let merged = applied.to_value().map_err(|e| {
                            Status::internal(format!("cannot encode the object: {e}"))
                        })?;
                        check_requested_version(&kind, name, &merged, &live)?;
                        Ok((applied, target))
                    },
                )
                .await;
            match outcome {
                Err(status) if status.code == 404 && target == UpdateTarget::Main => continue,
                other => return other.map(Patched::updated),
            }
        }
        Err(Status::conflict(
            &self.kind.group,
            &self.kind.plural,
            name,
            "the object kept being created and deleted while it was applied; please try again",
        ))
    }

    /// Deletes an object: now, or by marking it (finalizers, graceful pod deletion).
    pub async fn delete(
        &self,
        namespace: Option<&str>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome, Status> {
        let namespace = self.namespace_of(namespace)?;
        Admission::new(&self.store, &self.kind).admit_delete(name)?;
        let key = self.storage_key(namespace, name);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let old = self.current(namespace, name, false).await?;
            let old_revision = old
                .metadata()
                .resource_version
                .as_deref()
                .and_then(|rv| rv.parse::<Revision>().ok())
                .unwrap_or(0);
            let plan = lifecycle::plan_delete(&*old, &self.kind, params, Timestamp::now())?;
            if params.dry_run {
                return Ok(match plan {
                    DeletePlan::Remove => DeleteOutcome::Deleted(old),
                    DeletePlan::Mark(obj) => DeleteOutcome::Pending(Arc::from(obj)),
                    DeletePlan::Unchanged => DeleteOutcome::Pending(old),
                });
            }
            let outcome = match plan {
                DeletePlan::Unchanged => return Ok(DeleteOutcome::Pending(old)),
                DeletePlan::Remove => {
                    let removed = self
                        .store
                        .kv()
                        .delete(key.clone(), Some(old_revision))
                        .await
                        .map(|_| DeleteOutcome::Deleted(old.clone()));
                    if removed.is_ok() {
                        self.release_held(&*old).await;
                    }
                    removed
                }
                DeletePlan::Mark(obj) => {
                    let bytes = self.encode(&*obj)?;
                    self.store
                        .kv()
                        .update(key.clone(), bytes, old_revision)
                        .await
                        .map(|kv| DeleteOutcome::Pending(Self::with_revision(obj, kv.mod_revision)))
                }
            };
            match outcome {
                Ok(done) => return Ok(done),
                Err(StoreError::Conflict {
                    current_revision, ..
                }) if attempts < MAX_UNCONDITIONAL_RETRIES => {
                    self.store.wait_for(current_revision).await?;
                }
                Err(StoreError::NotFound { .. }) => return Err(self.not_found(name)),
                Err(err) => return Err(status_of(err)),
            }
        }
    }

    /// Deletes every object a list would return; answers with what each delete left.
    pub async fn delete_collection(
        &self,
        namespace: Option<&str>,
        list: &ListParams,
        params: &DeleteParams,
    ) -> Result<ObjectList, Status> {
        let listed = self
            .list(
                namespace,
                &ListParams {
                    limit: None,
                    continue_token: None,
                    ..list.clone()
                },
            )
            .await?;
        let mut items = Vec::with_capacity(listed.items.len());
        for obj in listed.items {
            let meta = obj.metadata();
            let name = lifecycle::name_of(meta).to_owned();
            let ns = meta.namespace.clone();
            match self
                .delete(ns.as_deref().or(namespace), &name, params)
                .await
            {
                Ok(DeleteOutcome::Deleted(obj) | DeleteOutcome::Pending(obj)) => items.push(obj),
                Err(status) if status.code == 404 => {}
                Err(status) => return Err(status),
            }
        }
        Ok(ObjectList {
            resource_version: self.store.observed_revision().to_string(),
            continue_token: None,
            remaining_item_count: None,
            items,
        })
    }

    /// Reads a subresource: `status` (the object) or `scale`.
    pub async fn get_subresource(
        &self,
        namespace: Option<&str>,
        name: &str,
        subresource: Subresource,
    ) -> Result<ArcObject, Status> {
        let obj = self.get(namespace, name, &GetParams::default()).await?;
        match subresource {
            Subresource::Status => Ok(obj),
            Subresource::Scale => {
                scale::scale_of(&self.kind, &*obj).map(|s| Arc::new(s) as ArcObject)
            }
            other => Err(Status::method_not_allowed().with_details(
                orchestra_api::status::StatusDetails {
                    name: other.as_str().to_owned(),
                    ..Default::default()
                },
            )),
        }
    }

    /// Patches a workload's `Scale` (merge, JSON or strategic patch): the patched Scale's
    /// replicas become the object's.
    async fn patch_scale(
        &self,
        namespace: Option<&str>,
        name: &str,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<ArcObject, Status> {
        if matches!(patch, Patch::Apply(_)) {
            return Err(Status::unsupported_media_type(
                "application/apply-patch+yaml",
            ));
        }
        let kind = self.kind.clone();
        let updated = self
            .update_with(namespace, name, false, params.dry_run, |old| {
                let live = serde_json::to_value(scale::scale_of(&kind, &**old)?)
                    .map_err(Status::internal)?;
                let patched = patch::patch_value(&kind, &live, patch)?;
                check_requested_version(&kind, name, &patched, &live)?;
                let replicas = patched
                    .pointer("/spec/replicas")
                    .and_then(serde_json::Value::as_i64)
                    .and_then(|r| i32::try_from(r).ok())
                    .unwrap_or(0);
                Ok((
                    scale::with_replicas(&kind, &**old, replicas)?,
                    UpdateTarget::Main,
                ))
            })
            .await?;
        scale::scale_of(&self.kind, &*updated).map(|s| Arc::new(s) as ArcObject)
    }

    /// `namespaces/finalize`: replaces a Namespace's `spec.finalizers`, nothing else; the
    /// namespace goes once it is terminating and has no finalizers left.
    async fn finalize(
        &self,
        name: &str,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        let requested = orchestra_api::object::downcast_arc::<Namespace>(object)
            .map_err(|e| Status::bad_request(e.to_string()))?;
        if let Some(own) = requested.metadata.name.as_deref()
            && own != name
        {
            return Err(Status::bad_request(format!(
                "the name of the object ({own}) does not match the name on the URL ({name})"
            )));
        }
        let kind = self.kind.clone();
        self.update_with(None, name, false, params.dry_run, |old| {
            let finalized = namespace::finalize(&**old, &requested, &kind)?;
            Ok((
                Box::new(finalized) as Box<dyn Object>,
                UpdateTarget::Internal,
            ))
        })
        .await
    }

    async fn replace_scale(
        &self,
        namespace: Option<&str>,
        name: &str,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        let scale = orchestra_api::object::downcast_arc::<
            orchestra_api::k8s_openapi::api::autoscaling::v1::Scale,
        >(object)
        .map_err(|e| Status::bad_request(e.to_string()))?;
        let replicas = scale.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        let conditional = scale
            .metadata
            .resource_version
            .as_deref()
            .is_some_and(|rv| !rv.is_empty());
        let kind = self.kind.clone();
        let updated = self
            .update_with(namespace, name, conditional, params.dry_run, |old| {
                if conditional && scale.metadata.resource_version != old.metadata().resource_version {
                    return Err(Status::conflict(
                        &kind.group,
                        &kind.plural,
                        name,
                        "the object has been modified; please apply your changes to the latest version and try again",
                    ));
                }
                let new = scale::with_replicas(&kind, &**old, replicas)?;
                Ok((new, UpdateTarget::Main))
            })
            .await?;
        scale::scale_of(&self.kind, &*updated).map(|s| Arc::new(s) as ArcObject)
    }
}

/// A patched or applied document that asks for another `resourceVersion` than the live one:
/// `409 Conflict`.
fn check_requested_version(
    kind: &ResourceKind,
    name: &str,
    patched: &serde_json::Value,
    live: &serde_json::Value,
) -> Result<(), Status> {
    if patch::requested_version(patched, live).is_some() {
        return Err(Status::conflict(
            &kind.group,
            &kind.plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    Ok(())
}

/// Registries of the kinds of a store, by kind.
pub(crate) fn registry_for(store: &Store, kind: &ResourceKind) -> Result<Registry, Status> {
    Registry::new(store, kind).ok_or_else(|| {
        Status::not_found(&kind.group, &kind.plural, "").with_details(
            orchestra_api::status::StatusDetails {
                group: kind.group.to_string(),
                kind: kind.plural.to_string(),
                ..Default::default()
            },
        )
    })
}

/// The cache key of an object (for callers outside the registry).
pub fn key_of(kind: &ResourceKind, object: &dyn Object) -> String {
    let meta = object.metadata();
    object_key(
        kind,
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or(""),
    )
}
