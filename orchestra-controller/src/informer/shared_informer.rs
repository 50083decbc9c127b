//! `Informer<K>`: a [`watcher`](mod@super::watcher) running in a task, feeding a [`Cache`] and notifying
//! [`EventHandler`]s, like client-go's `sharedIndexInformer`.
//!
//! Build one per kind and scope (or get it from a
//! [`SharedInformerFactory`](super::SharedInformerFactory), which makes sure a process builds
//! only one), add indexers and handlers, [`start`](Informer::start) it, and
//! [`wait_synced`](Informer::wait_synced) before acting on the cache. Handlers may also be
//! added later: they first hear of every cached object as an add. A handler can ask for a
//! periodic resync, an `on_update(obj, obj)` for every cached object, which re-drives
//! level-triggered controllers even without changes. The informer stops with
//! [`stop`](Informer::stop) or when its last handle is dropped.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use orchestra_api::{Api, Client, PostParams, kinds};
//! use orchestra_api::k8s_openapi::api::core::v1::ConfigMap;
//! use orchestra_controller::informer::{Informer, ObjectKey};
//! use orchestra_controller::workqueue::WorkQueue;
//! use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
//!
//! let store = Store::open(Arc::new(MemoryKv::new()), kinds::BUILTIN.iter().map(|k| (*k).clone()), StoreConfig::default())
//!     .await
//!     .unwrap();
//! let client: Arc<dyn Client> = Arc::new(LocalClient::new(store));
//!
//! let informer = Informer::<ConfigMap>::namespaced(client.clone(), "default");
//! let queue: WorkQueue<ObjectKey> = WorkQueue::new();
//! informer.add_handler(queue.clone());
//! informer.start();
//! informer.wait_synced().await.unwrap();
//!
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("settings".into());
//! Api::<ConfigMap>::namespaced(client, "default").create(&PostParams::default(), &cm).await.unwrap();
//!
//! let key = tokio::time::timeout(Duration::from_secs(10), queue.get()).await.unwrap().unwrap();
//! assert_eq!(key.to_string(), "default/settings");
//! assert!(informer.cache().get(Some("default"), "settings").is_some());
//! informer.stop();
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use futures::StreamExt;
use orchestra_api::{Client, Object, ResourceKind, Served, UndecodableObject};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::time::Instant;

use super::cache::{Cache, Change, Stopped, Writer};
use super::handler::{EventHandler, HandlerRegistration, Listener, Notification, Unregister};
use super::index::{IndexError, Indexer};
use super::undecodable::{RecorderSlot, UndecodableReports};
use super::watcher::{self, Event, watcher};
use crate::events::Recorder;

/// How an informer lists, watches and resyncs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InformerConfig {
    /// How the watcher lists and watches.
    pub watcher: watcher::Config,
    /// Resync period of handlers added without one of their own (`None`: no resync).
    pub resync: Option<Duration>,
}

impl InformerConfig {
    /// Gives handlers a resync every `period` by default.
    pub fn resync(mut self, period: Duration) -> Self {
        self.resync = Some(period);
        self
    }

    /// Lists and watches as `config` says.
    pub fn watcher(mut self, config: watcher::Config) -> Self {
        self.watcher = config;
        self
    }
}

/// The state the informer's task and its handles share.
struct Core<K> {
    cache: Cache<K>,
    dispatch: Mutex<Dispatch<K>>,
    /// Reports objects that cannot be decoded (see [`undecodable`](super::undecodable)).
    recorder: RecorderSlot,
}

/// The cache's writer and the handlers, under one lock, so that a handler added while the
/// informer runs sees every object exactly once: in its initial replay or as a change.
struct Dispatch<K> {
    writer: Option<Writer<K>>,
    listeners: Vec<Listener<K>>,
    next_id: u64,
    synced: bool,
}

impl<K> Dispatch<K>
where
    K: Send + Sync + 'static,
{
    /// Queues `changes` for every handler, forgetting handlers whose task is gone.
    fn broadcast(&mut self, changes: &[Change<K>]) {
        if changes.is_empty() {
            return;
        }
        self.listeners.retain(|listener| {
            changes
                .iter()
                .all(|change| listener.send(Notification::Change(change.clone())))
        });
    }
}

impl<K: Object> Core<K> {
    fn lock(&self) -> MutexGuard<'_, Dispatch<K>> {
        self.dispatch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies a watcher event to the cache and tells the handlers what changed.
    fn apply(&self, event: Event<K>) {
        let mut dispatch = self.lock();
        let first_sync = matches!(event, Event::InitDone) && !dispatch.synced;
        let Some(writer) = dispatch.writer.as_mut() else {
            return;
        };
        let changes = writer.apply(event);
        dispatch.broadcast(&changes);
        if first_sync {
            dispatch.synced = true;
            dispatch
                .listeners
                .retain(|listener| listener.send(Notification::Synced));
        }
    }

    /// Accounts for an object the watcher skipped because it cannot be decoded (see
    /// [`Writer::skip_undecodable`]) and tells the handlers what that changed.
    fn skip_undecodable(&self, object: &UndecodableObject, deleted: bool) {
        let mut dispatch = self.lock();
        let Some(writer) = dispatch.writer.as_mut() else {
            return;
        };
        let changes = writer.skip_undecodable(object, deleted);
        dispatch.broadcast(&changes);
    }

    /// Registers a handler: replays the cache to it, then keeps it informed.
    fn add_listener(
        self: &Arc<Self>,
        handler: impl EventHandler<K>,
        resync: Option<Duration>,
    ) -> HandlerRegistration {
        let weak: Weak<dyn Unregister> = Arc::downgrade(self) as Weak<dyn Unregister>;
        let mut dispatch = self.lock();
        let id = dispatch.next_id;
        dispatch.next_id += 1;
        let (listener, registration) = Listener::spawn(id, handler, resync, weak);
        for object in self.cache.list() {
            listener.send(Notification::Change(Change::Added(object)));
        }
        if dispatch.synced {
            listener.send(Notification::Synced);
        }
        if dispatch.writer.is_some() {
            dispatch.listeners.push(listener);
        }
        registration
    }

    /// When the next handler resync is due.
    fn next_resync(&self) -> Option<Instant> {
        self.lock()
            .listeners
            .iter()
            .filter_map(|listener| listener.resync.map(|(_, next)| next))
            .min()
    }

    /// Re-announces every cached object to the handlers whose resync is due.
    fn resync(&self, now: Instant) {
        let mut dispatch = self.lock();
        let synced = dispatch.synced;
        let mut objects = None;
        dispatch.listeners.retain_mut(|listener| {
            let Some((period, next)) = listener.resync else {
                return true;
            };
            if next > now {
                return true;
            }
            listener.resync = Some((period, now + period));
            if !synced {
                return true;
            }
            let objects = objects.get_or_insert_with(|| self.cache.list());
            objects.iter().all(|object| {
                listener.send(Notification::Change(Change::Updated {
                    old: Arc::clone(object),
                    new: Arc::clone(object),
                }))
            })
        });
    }

    /// The informer stopped: nothing fills the cache and no handler hears more.
    fn finish(&self) {
        let mut dispatch = self.lock();
        dispatch.writer = None;
        dispatch.listeners.clear();
    }
}

impl<K: Object> Unregister for Core<K> {
    fn unregister(&self, id: u64) -> bool {
        let mut dispatch = self.lock();
        let before = dispatch.listeners.len();
        dispatch.listeners.retain(|listener| listener.id != id);
        dispatch.listeners.len() != before
    }
}

struct Inner<K> {
    core: Arc<Core<K>>,
    client: Arc<dyn Client>,
    kind: ResourceKind,
    namespace: Option<String>,
    config: InformerConfig,
    started: AtomicBool,
    /// `true` asks the task to stop; dropping the last handle drops it, which does too.
    stop: watch::Sender<bool>,
}

/// A running list+watch of one kind, its local cache and its event handlers. Cheap to clone;
/// every clone is the same informer. See the [module documentation](self).
pub struct Informer<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for Informer<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K> fmt::Debug for Informer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Informer")
            .field("kind", &self.inner.kind.plural)
            .field("namespace", &self.inner.namespace)
            .field("started", &self.inner.started.load(Ordering::Relaxed))
            .field("cache", &self.inner.core.cache)
            .finish()
    }
}

impl<K: Served> Informer<K> {
    /// An informer of every `K` in the cluster (or of a cluster-scoped kind).
    pub fn all(client: Arc<dyn Client>) -> Self {
        Self::new(
            client,
            K::resource_kind().clone(),
            None,
            InformerConfig::default(),
        )
    }

    /// An informer of the `K`s in `namespace`.
    pub fn namespaced(client: Arc<dyn Client>, namespace: &str) -> Self {
        Self::new(
            client,
            K::resource_kind().clone(),
            Some(namespace),
            InformerConfig::default(),
        )
    }
}

impl<K: Object + DeserializeOwned> Informer<K> {
    /// An informer of `kind` read as `K` (a served type, or `DynamicObject` for kinds known
    /// only at run time), in `namespace` or across the cluster with `None`. The namespace is
    /// ignored for cluster-scoped kinds. Nothing happens until [`start`](Self::start).
    pub fn new(
        client: Arc<dyn Client>,
        kind: ResourceKind,
        namespace: Option<&str>,
        config: InformerConfig,
    ) -> Self {
        let namespace = namespace
            .filter(|ns| !ns.is_empty() && kind.is_namespaced())
            .map(str::to_owned);
        let writer = Writer::new();
        let core = Arc::new(Core {
            cache: writer.cache(),
            dispatch: Mutex::new(Dispatch {
                writer: Some(writer),
                listeners: Vec::new(),
                next_id: 0,
                synced: false,
            }),
            recorder: RecorderSlot::default(),
        });
        let (stop, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                core,
                client,
                kind,
                namespace,
                config,
                started: AtomicBool::new(false),
                stop,
            }),
        }
    }

    /// The kind this informer watches.
    pub fn resource_kind(&self) -> &ResourceKind {
        &self.inner.kind
    }

    /// The namespace it watches; `None` for all (or a cluster-scoped kind).
    pub fn namespace(&self) -> Option<&str> {
        self.inner.namespace.as_deref()
    }

    /// A read handle on the local cache.
    pub fn cache(&self) -> Cache<K> {
        self.inner.core.cache.clone()
    }

    /// Adds an index to the cache; see [`Cache::add_indexer`].
    pub fn add_indexer(&self, indexer: Indexer<K>) -> Result<(), IndexError> {
        self.inner.core.cache.add_indexer(indexer)
    }

    /// Registers `handler`, resyncing at the informer's default period. It first hears of
    /// every object already cached, as adds. Must be called within a Tokio runtime (the
    /// handler gets its own task).
    pub fn add_handler(&self, handler: impl EventHandler<K>) -> HandlerRegistration {
        self.add_handler_with_resync(handler, self.inner.config.resync)
    }

    /// Registers `handler` with its own resync period (`None`: never). A stopped informer
    /// accepts the handler, replays its cache to it and tells it nothing more.
    pub fn add_handler_with_resync(
        &self,
        handler: impl EventHandler<K>,
        resync: Option<Duration>,
    ) -> HandlerRegistration {
        self.inner.core.add_listener(handler, resync)
    }

    /// Reports the objects this informer skips because they cannot be decoded through
    /// `recorder` (default: a recorder over the informer's client, reporting as
    /// [`DEFAULT_REPORTER`](super::undecodable::DEFAULT_REPORTER)); see
    /// [`undecodable`](super::undecodable). Takes effect for the next report, also while
    /// the informer runs.
    pub fn set_recorder(&self, recorder: Recorder) {
        *self
            .inner
            .core
            .recorder
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(recorder);
    }

    /// Whether the first list has reached the cache.
    pub fn has_synced(&self) -> bool {
        self.inner.core.cache.has_synced()
    }

    /// Waits until the first list has reached the cache; [`Stopped`] if the informer stops
    /// first.
    pub async fn wait_synced(&self) -> Result<(), Stopped> {
        self.inner.core.cache.wait_synced().await
    }

    /// Whether [`start`](Self::start) or [`run`](Self::run) has been called.
    pub fn is_started(&self) -> bool {
        self.inner.started.load(Ordering::SeqCst)
    }

    /// Runs the informer in a new Tokio task (once; later calls do nothing).
    pub fn start(&self) {
        if !self.is_started() {
            tokio::spawn(self.run());
        }
    }

    /// The informer's work as a future, for callers that supervise their own tasks: it lists,
    /// watches and dispatches until [`stop`](Self::stop) or until every handle is dropped.
    /// Only the first call's future does anything; the others complete at once.
    pub fn run(&self) -> impl Future<Output = ()> + Send + 'static {
        let already_started = self.inner.started.swap(true, Ordering::SeqCst);
        let core = Arc::clone(&self.inner.core);
        let events = watcher::<K>(
            Arc::clone(&self.inner.client),
            self.inner.kind.clone(),
            self.inner.namespace.as_deref(),
            self.inner.config.watcher.clone(),
        );
        let stop = self.inner.stop.subscribe();
        let kind = self.inner.kind.plural.to_string();
        let namespace = self.inner.namespace.clone();
        let reports = UndecodableReports::new(
            Arc::clone(&self.inner.client),
            self.inner.kind.clone(),
            namespace.clone(),
            Arc::clone(&self.inner.core.recorder),
        );
        async move {
            if already_started {
                return;
            }
            run(core, events, reports, stop, &kind, namespace.as_deref()).await;
        }
    }

    /// Stops the informer: the watch ends, handlers hear nothing more, the cache keeps its
    /// last state. An informer cannot be restarted.
    pub fn stop(&self) {
        self.inner.stop.send_replace(true);
    }
}

async fn run<K: Object>(
    core: Arc<Core<K>>,
    events: impl futures::Stream<Item = Result<Event<K>, watcher::Error>>,
    mut reports: UndecodableReports,
    mut stop: watch::Receiver<bool>,
    kind: &str,
    namespace: Option<&str>,
) {
    let mut events = pin!(events);
    tracing::debug!(kind, namespace, "informer started");
    loop {
        if *stop.borrow_and_update() {
            break;
        }
        let next_resync = core.next_resync();
        tokio::select! {
            // A change of the flag, or every handle dropped: stop either way.
            _ = stop.changed() => break,
            event = events.next() => match event {
                Some(Ok(event)) => {
                    reports.observe(&event);
                    core.apply(event);
                }
                Some(Err(watcher::Error::Undecodable { object, deleted, .. })) => {
                    core.skip_undecodable(&object, deleted);
                    reports.skipped(&object, deleted);
                }
                Some(Err(error)) => tracing::warn!(kind, namespace, %error, "informer watch failed; retrying"),
                None => break,
            },
            () = sleep_until_some(next_resync) => core.resync(Instant::now()),
        }
    }
    core.finish();
    tracing::debug!(kind, namespace, "informer stopped");
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
