//! `Store`: the key-value store with one watch cache per served kind, fed by a single watch
//! on `/registry/`.
//!
//! One watch for every kind means every revision under `/registry/` passes through the feed,
//! so the store always knows which revision its caches have caught up to. A read that must be
//! consistent ("the latest state", Kubernetes' default for an unset `resourceVersion`) asks the
//! key-value store for its current revision and waits until the caches have applied it, then
//! answers from memory.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use orchestra_api::{ArcObject, ResourceKind, Status};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::StoreError;
use crate::kv::{KeyValue, KvStore, RangeRequest, Revision, WatchEvent, WatchRequest};
use crate::registry::admission::{AdmissionConfig, AdmissionState};
use crate::registry::service_allocation::ServiceNetwork;
use crate::watch_cache::{WatchCache, WatchCacheConfig};

/// The prefix under which every object lives, as in Kubernetes' etcd layout.
pub const REGISTRY_PREFIX: &str = "/registry/";

/// Tuning of a [`Store`].
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Configuration of every watch cache.
    pub cache: WatchCacheConfig,
    /// How often watchers that asked for bookmarks get one.
    pub bookmark_interval: Duration,
    /// How long a consistent read waits for the caches to catch up before it gives up with
    /// 504 Timeout.
    pub freshness_timeout: Duration,
    /// Page size of the lists that fill the caches.
    pub sync_page_size: usize,
    /// Where Services' cluster IPs and node ports come from.
    pub service_network: ServiceNetwork,
    /// Settings of the admission plugins the registries run.
    pub admission: AdmissionConfig,
    /// Whether [`Store::open`] creates the system namespaces and PriorityClasses that are
    /// missing (see [`crate::bootstrap`]); on by default.
    pub create_system_objects: bool,
    /// How often the store's history is compacted; 5 minutes by default, as kube-apiserver's
    /// `--etcd-compaction-interval`; `None` never compacts. Each compaction removes the
    /// versions older than the revision the caches had reached one interval before, so reads
    /// at revisions of the last interval keep working and older ones get 410 Gone.
    pub compaction_interval: Option<Duration>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            cache: WatchCacheConfig::default(),
            bookmark_interval: Duration::from_secs(60),
            freshness_timeout: Duration::from_secs(10),
            sync_page_size: 1_000,
            service_network: ServiceNetwork::default(),
            admission: AdmissionConfig::default(),
            create_system_objects: true,
            compaction_interval: Some(Duration::from_secs(5 * 60)),
        }
    }
}

/// A key-value store plus the watch caches of the kinds it serves. Cheap to clone (shared).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    kv: Arc<dyn KvStore>,
    config: StoreConfig,
    /// Caches by their key prefix (`/registry/pods/`).
    caches: RwLock<HashMap<String, WatchCache>>,
    /// The highest revision the feed has applied to every cache.
    observed: watch::Sender<Revision>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
    /// What the registries' admission remembers across requests.
    admission: AdmissionState,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("observed", &*self.inner.observed.borrow())
            .finish_non_exhaustive()
    }
}

/// The prefix of the keys of a kind: `/registry/pods/`.
pub fn kind_prefix(kind: &ResourceKind) -> String {
    kind.key_prefix(None)
}

/// Decodes a stored value into an object of `kind`, with `resourceVersion` set to the
/// revision that wrote it.
pub fn decode(kind: &ResourceKind, kv: &KeyValue) -> Result<ArcObject, Status> {
    let mut obj = kind.codec.decode_json(&kv.value).map_err(|e| {
        Status::internal(format!(
            "the object stored under {} cannot be decoded as {}: {e}",
            String::from_utf8_lossy(&kv.key),
            kind.kind
        ))
    })?;
    obj.metadata_mut().resource_version = Some(kv.mod_revision.to_string());
    Ok(Arc::from(obj))
}

impl Store {
    /// Opens the store over `kv` for `kinds`: fills one cache per kind from a consistent list,
    /// then keeps them current from one watch, and creates the system namespaces and
    /// PriorityClasses that are missing ([`crate::bootstrap`]). Must run inside a tokio
    /// runtime.
    pub async fn open(
        kv: Arc<dyn KvStore>,
        kinds: impl IntoIterator<Item = ResourceKind>,
        config: StoreConfig,
    ) -> Result<Self, StoreError> {
        let caches = kinds
            .into_iter()
            .map(|kind| {
                (
                    kind_prefix(&kind),
                    WatchCache::new(kind, config.cache.clone()),
                )
            })
            .collect();
        let (observed, _) = watch::channel(0);
        let store = Self {
            inner: Arc::new(Inner {
                kv,
                config,
                caches: RwLock::new(caches),
                observed,
                tasks: std::sync::Mutex::new(Vec::new()),
                admission: AdmissionState::default(),
            }),
        };
        let revision = store.sync_all().await?;
        let feed = tokio::spawn(feed(Arc::downgrade(&store.inner), revision));
        let bookmarks = tokio::spawn(send_bookmarks(
            Arc::downgrade(&store.inner),
            store.inner.config.bookmark_interval,
        ));
        let compactor = store.inner.config.compaction_interval.map(|interval| {
            tokio::spawn(crate::compaction::compact_periodically(
                Arc::downgrade(&store.inner.kv),
                store.inner.observed.subscribe(),
                interval,
            ))
        });
        store
            .inner
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend([feed, bookmarks].into_iter().chain(compactor));
        if store.inner.config.create_system_objects {
            crate::bootstrap::ensure_system_objects(&store)
                .await
                .map_err(|status| StoreError::Unavailable {
                    reason: format!("cannot create the system objects: {}", status.message),
                })?;
        }
        Ok(store)
    }

    /// The key-value store underneath.
    pub fn kv(&self) -> &Arc<dyn KvStore> {
        &self.inner.kv
    }

    /// The store's configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// What the registries' admission remembers across requests.
    pub(crate) fn admission_state(&self) -> &AdmissionState {
        &self.inner.admission
    }

    /// The watch cache of `kind`, if the store serves it.
    pub fn cache(&self, kind: &ResourceKind) -> Option<WatchCache> {
        self.inner
            .caches
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&kind_prefix(kind))
            .cloned()
    }

    /// The highest revision every cache has applied.
    pub fn observed_revision(&self) -> Revision {
        *self.inner.observed.borrow()
    }

    /// Starts serving a kind at run time (a custom resource): its cache is filled from the
    /// store at the revision the feed has reached and then kept current by the feed.
    pub async fn add_kind(&self, kind: ResourceKind) -> Result<WatchCache, StoreError> {
        let prefix = kind_prefix(&kind);
        if let Some(existing) = self.cache(&kind) {
            return Ok(existing);
        }
        let cache = WatchCache::new(kind.clone(), self.inner.config.cache.clone());
        // Hold the feed back (it routes under the read lock) while the cache is filled at the
        // revision the feed reached, so no change falls between the list and the watch.
        let revision = self.observed_revision();
        let objects = list_prefix(
            &*self.inner.kv,
            &prefix,
            revision,
            self.inner.config.sync_page_size,
        )
        .await?;
        let mut caches = self
            .inner
            .caches
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if self.observed_revision() != revision {
            drop(caches);
            return Box::pin(self.add_kind(kind)).await;
        }
        cache.replace(decode_all(&kind, objects), revision);
        caches.insert(prefix, cache.clone());
        Ok(cache)
    }

    /// Waits until the caches hold every change the key-value store has acknowledged (a
    /// consistent read), or fails with 504 after the freshness timeout.
    pub async fn wait_fresh(&self) -> Result<Revision, Status> {
        let current = self.inner.kv.current_revision().await.map_err(status_of)?;
        self.wait_for(current).await?;
        Ok(current)
    }

    /// Waits until the caches have applied `revision`.
    pub async fn wait_for(&self, revision: Revision) -> Result<(), Status> {
        let mut rx = self.inner.observed.subscribe();
        let reached = rx.wait_for(|observed| *observed >= revision);
        match tokio::time::timeout(self.inner.config.freshness_timeout, reached).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(Status::timeout(format!(
                "Too large resource version: {revision}, current: {}",
                self.observed_revision()
            ))),
        }
    }

    /// Lists every object under `/registry/` and refills every cache at one revision.
    async fn sync_all(&self) -> Result<Revision, StoreError> {
        let revision = self.inner.kv.current_revision().await?;
        let objects = list_prefix(
            &*self.inner.kv,
            REGISTRY_PREFIX,
            revision,
            self.inner.config.sync_page_size,
        )
        .await?;
        let caches = self
            .inner
            .caches
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut per_cache: HashMap<&str, Vec<KeyValue>> = HashMap::new();
        for kv in objects {
            if let Some((prefix, _)) = route(&caches, &kv.key) {
                per_cache.entry(prefix).or_default().push(kv);
            }
        }
        for (prefix, cache) in &caches {
            let kvs = per_cache.remove(prefix.as_str()).unwrap_or_default();
            cache.replace(decode_all(cache.kind(), kvs), revision);
        }
        self.inner.observed.send_replace(revision);
        Ok(revision)
    }
}

/// Maps a storage error to the API error Kubernetes answers with.
pub fn status_of(err: StoreError) -> Status {
    match &err {
        StoreError::Compacted {
            requested,
            compacted,
        } => Status::expired(format!(
            "too old resource version: {requested} ({compacted})"
        )),
        StoreError::FutureRevision { requested, current } => Status::timeout(format!(
            "Too large resource version: {requested}, current: {current}"
        )),
        StoreError::ValueTooLarge { max, .. } => Status::request_entity_too_large(*max),
        StoreError::Unavailable { .. } => Status::failure(
            orchestra_api::StatusReason::ServiceUnavailable,
            err.to_string(),
        ),
        _ => Status::internal(err),
    }
}

/// The cache whose prefix `key` starts with (the longest one, for nested prefixes such as
/// `services/specs` and `services/endpoints`).
fn route<'a>(
    caches: &'a HashMap<String, WatchCache>,
    key: &[u8],
) -> Option<(&'a str, &'a WatchCache)> {
    let key = std::str::from_utf8(key).ok()?;
    let rest = key.strip_prefix(REGISTRY_PREFIX)?;
    // Try `/registry/a/b/` then `/registry/a/`.
    let mut segments = rest.splitn(3, '/');
    let first = segments.next()?;
    let second = segments.next();
    if let Some(second) = second {
        let two = format!("{REGISTRY_PREFIX}{first}/{second}/");
        if let Some((p, c)) = caches.get_key_value(&two) {
            return Some((p.as_str(), c));
        }
    }
    let one = format!("{REGISTRY_PREFIX}{first}/");
    caches.get_key_value(&one).map(|(p, c)| (p.as_str(), c))
}

/// The object key inside a cache (`namespace/name` or `name`) of a storage key.
fn cache_key<'a>(prefix: &str, key: &'a [u8]) -> Option<&'a str> {
    std::str::from_utf8(key).ok()?.strip_prefix(prefix)
}

fn decode_all(kind: &ResourceKind, kvs: Vec<KeyValue>) -> Vec<(String, ArcObject)> {
    let prefix = kind_prefix(kind);
    kvs.into_iter()
        .filter_map(|kv| {
            let key = cache_key(&prefix, &kv.key)?.to_owned();
            match decode(kind, &kv) {
                Ok(obj) => Some((key, obj)),
                Err(status) => {
                    tracing::error!(key, error = %status.message, "skipping an undecodable object");
                    None
                }
            }
        })
        .collect()
}

/// Every key-value under `prefix` at `revision`, page by page.
async fn list_prefix(
    kv: &dyn KvStore,
    prefix: &str,
    revision: Revision,
    page: usize,
) -> Result<Vec<KeyValue>, StoreError> {
    let mut request = RangeRequest::prefix(Bytes::copy_from_slice(prefix.as_bytes()))
        .at_revision(revision)
        .limit(page);
    let mut all = Vec::new();
    loop {
        let response = kv.range(request.clone()).await?;
        let next = response.next_page(&request);
        all.extend(response.kvs);
        match next {
            Some(next) => request = next,
            None => return Ok(all),
        }
    }
}

/// Applies every change after `revision` to the caches, re-syncing when the watch breaks.
async fn feed(inner: std::sync::Weak<Inner>, mut revision: Revision) {
    loop {
        let Some(store) = inner.upgrade().map(|inner| Store { inner }) else {
            return;
        };
        let watch = store
            .inner
            .kv
            .watch(WatchRequest::prefix(REGISTRY_PREFIX).from_revision(revision + 1))
            .await;
        let mut stream = match watch {
            Ok(stream) => stream,
            Err(err) => {
                tracing::warn!(%err, "cannot watch the store; re-syncing");
                revision = resync(&store, revision).await;
                continue;
            }
        };
        drop(store);
        while let Some(batch) = stream.next().await {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            match batch {
                Ok(batch) => {
                    let caches = inner.caches.read().unwrap_or_else(PoisonError::into_inner);
                    for event in &batch.events {
                        apply_event(&caches, event);
                    }
                    for cache in caches.values() {
                        cache.advance(batch.revision);
                    }
                    revision = batch.revision;
                    // Published under the read lock: `add_kind` relies on it.
                    inner.observed.send_replace(revision);
                    drop(caches);
                }
                Err(err) => {
                    tracing::warn!(%err, "the store's watch broke; re-syncing the caches");
                    let store = Store { inner };
                    revision = resync(&store, revision).await;
                    break;
                }
            }
        }
    }
}

async fn resync(store: &Store, last: Revision) -> Revision {
    let mut delay = Duration::from_millis(100);
    loop {
        match store.sync_all().await {
            Ok(revision) => return revision,
            Err(err) => {
                tracing::warn!(%err, last, "re-sync failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

fn apply_event(caches: &HashMap<String, WatchCache>, event: &WatchEvent) {
    let Some((prefix, cache)) = route(caches, event.key()) else {
        return;
    };
    let Some(key) = cache_key(prefix, event.key()) else {
        return;
    };
    match event {
        WatchEvent::Put { kv, .. } => match decode(cache.kind(), kv) {
            Ok(obj) => cache.apply(kv.mod_revision, key, Some(obj)),
            Err(status) => {
                tracing::error!(key, error = %status.message, "an undecodable object was written; dropping it from the cache");
                cache.apply_undecodable(kv.mod_revision, key, status);
            }
        },
        WatchEvent::Delete { revision, .. } => cache.apply(*revision, key, None),
    }
}

async fn send_bookmarks(inner: std::sync::Weak<Inner>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let caches: Vec<WatchCache> = inner
            .caches
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        drop(inner);
        for cache in caches {
            cache.send_bookmarks();
        }
    }
}
