//! The watcher: list + watch of one kind, turned into one endless stream of cache events.
//!
//! A watcher lists the objects (page by page), then watches from the list's
//! `resourceVersion`, and keeps going for as long as it is polled, as client-go's reflector
//! and kube-runtime's `watcher` do:
//!
//! - **Resume.** Every event and every bookmark advances the `resourceVersion` the watcher
//!   has seen; when a watch ends (the server's timeout, a dropped connection) the next one
//!   starts from there, so no change is missed or delivered twice. Bookmarks are requested so
//!   that a quiet watch still knows how far it has got.
//! - **Re-list on 410.** When the server no longer has that `resourceVersion` (410 Gone /
//!   Expired, at the start of a watch or in-band), the watcher lists again. A list is
//!   delivered as `Init`, `InitApply` per object, `InitDone`, so the cache swaps its contents
//!   in one step and reports deletes for objects that vanished while the watcher was away.
//! - **Back-off.** Every failure is yielded as an `Err` and followed by a [`Backoff`] wait
//!   (800 ms doubling to 30 s, with jitter; reset by the next success) before the watcher
//!   tries again. A watch that ends within a second without any event counts as a failure
//!   too, as in client-go, so a server that closes watches at once is not hammered. Errors
//!   never end the stream.
//! - **Undecodable objects.** An object that a remote client received but could not decode
//!   into the kind's type (an [`UndecodableObject`]: a field of another type, written by a
//!   newer client) is yielded as [`Error::Undecodable`] in its place, without a back-off:
//!   the list completes with the other objects, and the watch goes on past the object's
//!   `resourceVersion`, so it is neither re-listed nor delivered again in a loop. An
//!   [`Informer`](super::Informer) keeps it out of its cache and reports it with an Event.
//!   client-go instead fails the whole list, or ends the watch, and starts over with
//!   back-off for as long as the object stays unreadable (kubernetes/kubernetes#57705);
//!   kube-rs' watcher does the same (kube-rs#774).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use futures::StreamExt;
//! use orchestra_api::{Api, Client, PostParams, Served, kinds};
//! use orchestra_api::k8s_openapi::api::core::v1::ConfigMap;
//! use orchestra_controller::informer::{Event, WatcherConfig, watcher};
//! use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
//!
//! let store = Store::open(Arc::new(MemoryKv::new()), kinds::BUILTIN.iter().map(|k| (*k).clone()), StoreConfig::default())
//!     .await
//!     .unwrap();
//! let client: Arc<dyn Client> = Arc::new(LocalClient::new(store));
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("settings".into());
//! Api::<ConfigMap>::namespaced(client.clone(), "default")
//!     .create(&PostParams::default(), &cm)
//!     .await
//!     .unwrap();
//!
//! let events = watcher::<ConfigMap>(client, ConfigMap::resource_kind().clone(), Some("default"), WatcherConfig::default());
//! let first: Vec<_> = events.take(3).collect().await;
//! assert!(matches!(first[0], Ok(Event::Init)));
//! assert!(matches!(&first[1], Ok(Event::InitApply(cm)) if cm.metadata.name.as_deref() == Some("settings")));
//! assert!(matches!(first[2], Ok(Event::InitDone)));
//! # }
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use orchestra_api::object::{ConversionError, downcast_arc};
use orchestra_api::{
    ArcObject, Client, ListParams, Object, ResourceKind, Status, UndecodableObject, WatchEvent,
    WatchParams, WatchStream,
};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::backoff::{Backoff, BackoffState};

/// A watch shorter than this that delivered nothing counts as a failure (client-go's rule).
const SHORT_WATCH: Duration = Duration::from_secs(1);

/// What a watcher tells its consumer; a cache applies these in order.
#[derive(Debug)]
pub enum Event<K> {
    /// A list starts: the objects up to the next `InitDone` replace everything known so far.
    Init,
    /// An object of the list in progress.
    InitApply(Arc<K>),
    /// The list is complete; watching resumes.
    InitDone,
    /// An object was added or changed.
    Apply(Arc<K>),
    /// An object was deleted; its final state.
    Delete(Arc<K>),
}

impl<K> Clone for Event<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Init => Self::Init,
            Self::InitApply(obj) => Self::InitApply(Arc::clone(obj)),
            Self::InitDone => Self::InitDone,
            Self::Apply(obj) => Self::Apply(Arc::clone(obj)),
            Self::Delete(obj) => Self::Delete(Arc::clone(obj)),
        }
    }
}

/// Which state a list may answer with (the list's `resourceVersion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListSemantic {
    /// The latest state (`resourceVersion` unset): a consistent read, so a re-list never goes
    /// back in time. kube-runtime's default.
    #[default]
    MostRecent,
    /// Any recent state (`resourceVersion=0`): served from the API server's watch cache,
    /// cheaper on big clusters, possibly a little stale.
    Any,
}

/// How a watcher lists and watches.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `labelSelector` of the list and the watch.
    pub label_selector: Option<String>,
    /// `fieldSelector` of the list and the watch.
    pub field_selector: Option<String>,
    /// Lists are paged this many objects at a time (`None`: one page).
    pub page_size: Option<u32>,
    /// Which state a list may answer with.
    pub list_semantic: ListSemantic,
    /// Whether to ask for `BOOKMARK` events (`allowWatchBookmarks`).
    pub bookmarks: bool,
    /// `timeoutSeconds` of each watch: the server ends it after this long and the watcher
    /// resumes with a new one.
    pub timeout: Option<Duration>,
    /// How long to wait after failures.
    pub backoff: Backoff,
}

impl Default for Config {
    /// Everything, pages of 500, the most recent state, bookmarks, 290-second watches and
    /// the default back-off.
    fn default() -> Self {
        Self {
            label_selector: None,
            field_selector: None,
            page_size: Some(500),
            list_semantic: ListSemantic::MostRecent,
            bookmarks: true,
            timeout: Some(Duration::from_secs(290)),
            backoff: Backoff::default(),
        }
    }
}

impl Config {
    /// Watches only objects whose labels match (`app=web,tier!=db`).
    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }

    /// Watches only objects whose fields match (`spec.nodeName=node-1`).
    pub fn fields(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into());
        self
    }

    /// Pages lists `size` objects at a time (`None`: one page).
    pub fn page_size(mut self, size: Option<u32>) -> Self {
        self.page_size = size;
        self
    }

    /// Lets lists answer from any recent state (`resourceVersion=0`).
    pub fn any_semantic(mut self) -> Self {
        self.list_semantic = ListSemantic::Any;
        self
    }

    /// Ends each watch after `timeout` and starts a new one (`None`: the server decides).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Waits after failures according to `backoff`.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    fn list_params(&self, continue_token: Option<String>) -> ListParams {
        let resource_version = match (&continue_token, self.list_semantic) {
            (None, ListSemantic::Any) => Some("0".to_owned()),
            _ => None,
        };
        ListParams {
            label_selector: self.label_selector.clone(),
            field_selector: self.field_selector.clone(),
            limit: self.page_size,
            continue_token,
            resource_version,
            version_match: None,
        }
    }

    fn watch_params(&self, resource_version: &str) -> WatchParams {
        WatchParams {
            label_selector: self.label_selector.clone(),
            field_selector: self.field_selector.clone(),
            resource_version: Some(resource_version.to_owned()).filter(|rv| !rv.is_empty()),
            allow_bookmarks: self.bookmarks,
            timeout_seconds: self
                .timeout
                .map(|t| u32::try_from(t.as_secs().max(1)).unwrap_or(u32::MAX)),
            send_initial_events: None,
        }
    }
}

/// Why one attempt of a watcher failed. The watcher goes on after a back-off; these are
/// reports, not the end of the stream.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A list request failed; the list starts over.
    #[error("listing {kind} failed: {status}")]
    List {
        /// The resource (plural name).
        kind: String,
        /// The server's answer.
        status: Status,
    },
    /// A watch request was refused; it is tried again from the same `resourceVersion`.
    #[error("starting a watch of {kind} failed: {status}")]
    WatchStart {
        /// The resource (plural name).
        kind: String,
        /// The server's answer.
        status: Status,
    },
    /// A watch ended with an `ERROR` event other than 410; it is tried again from the same
    /// `resourceVersion`.
    #[error("the watch of {kind} failed: {status}")]
    Watch {
        /// The resource (plural name).
        kind: String,
        /// The error event's status.
        status: Status,
    },
    /// The server no longer has the `resourceVersion` the watch resumes from (410); the
    /// watcher lists again.
    #[error(
        "the watch of {kind} from resourceVersion {resource_version} expired, re-listing: {status}"
    )]
    Expired {
        /// The resource (plural name).
        kind: String,
        /// Where the watch tried to resume.
        resource_version: String,
        /// The server's answer.
        status: Status,
    },
    /// A watch ended after less than a second without delivering anything.
    #[error("the watch of {kind} ended after {elapsed:?} without any event")]
    ShortWatch {
        /// The resource (plural name).
        kind: String,
        /// How long the watch lasted.
        elapsed: Duration,
    },
    /// The client received an object of the kind that does not decode into its type (a
    /// field of another type, written by a newer client); it is skipped, and the watch goes
    /// on past its `resourceVersion`. See the [module documentation](self).
    #[error("skipping an object of {kind} that cannot be decoded: {object}")]
    Undecodable {
        /// The resource (plural name).
        kind: String,
        /// The object's identity, the decode error and its JSON.
        object: Arc<UndecodableObject>,
        /// Whether it came in a `DELETED` event: the object is gone.
        deleted: bool,
    },
    /// An object could not be read as the informer's type; it is skipped.
    #[error("an object of {kind} is not a {expected}: {message}")]
    Conversion {
        /// The resource (plural name).
        kind: String,
        /// The Rust type asked for.
        expected: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// The server's status behind the error, if there is one.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Self::List { status, .. }
            | Self::WatchStart { status, .. }
            | Self::Watch { status, .. }
            | Self::Expired { status, .. } => Some(status),
            Self::ShortWatch { .. } | Self::Conversion { .. } | Self::Undecodable { .. } => None,
        }
    }
}

/// Where the watcher is.
enum State {
    /// Must list; `continue_token` is set between pages.
    List { continue_token: Option<String> },
    /// Knows everything up to `resource_version`; must start a watch from there.
    Listed { resource_version: String },
    /// Watching.
    Watching {
        resource_version: String,
        stream: WatchStream,
        started: Instant,
        events: u64,
    },
}

/// The watcher's state machine; each [`step`](Machine::step) makes one request or reads one
/// watch event.
struct Machine<K> {
    client: Arc<dyn Client>,
    kind: ResourceKind,
    namespace: Option<String>,
    config: Config,
    state: State,
    backoff: BackoffState,
    /// Wait this long before the next request (set after a failure).
    delay: Option<Duration>,
    _type: PhantomData<fn() -> K>,
}

type Batch<K> = Vec<Result<Event<K>, Error>>;

impl<K: Object + DeserializeOwned> Machine<K> {
    fn kind_name(&self) -> String {
        self.kind.plural.to_string()
    }

    fn fail(&mut self, error: Error) -> Batch<K> {
        let delay = self.backoff.next_delay(Instant::now());
        tracing::debug!(kind = %self.kind.plural, ?delay, %error, "watcher backing off");
        self.delay = Some(delay);
        vec![Err(error)]
    }

    /// `object` as a `K`. An object the client could not decode is reported as
    /// [`Error::Undecodable`] (unless `K` can still read it, as `DynamicObject` can);
    /// `deleted` tells whether it came in a `DELETED` event.
    fn typed(&self, object: ArcObject, deleted: bool) -> Result<Arc<K>, Error> {
        let undecodable = UndecodableObject::of(&*object).is_some();
        let kept = undecodable.then(|| Arc::clone(&object));
        downcast_arc::<K>(object).map_err(|e: ConversionError| {
            match kept.map(UndecodableObject::try_from_arc) {
                Some(Ok(object)) => Error::Undecodable {
                    kind: self.kind_name(),
                    object,
                    deleted,
                },
                _ => Error::Conversion {
                    kind: self.kind_name(),
                    expected: e.expected,
                    message: e.to_string(),
                },
            }
        })
    }

    async fn step(&mut self) -> Batch<K> {
        if let Some(delay) = self.delay.take() {
            tokio::time::sleep(delay).await;
        }
        match std::mem::replace(
            &mut self.state,
            State::List {
                continue_token: None,
            },
        ) {
            State::List { continue_token } => self.list_page(continue_token).await,
            State::Listed { resource_version } => self.start_watch(resource_version).await,
            State::Watching {
                resource_version,
                stream,
                started,
                events,
            } => {
                self.next_watch_event(resource_version, stream, started, events)
                    .await
            }
        }
    }

    async fn list_page(&mut self, continue_token: Option<String>) -> Batch<K> {
        let first_page = continue_token.is_none();
        let params = self.config.list_params(continue_token);
        let page = match self
            .client
            .list(&self.kind, self.namespace.as_deref(), &params)
            .await
        {
            Ok(page) => page,
            Err(status) => {
                // Start over (an expired continue token included): the cache keeps what it
                // had until a complete list replaces it.
                let kind = self.kind_name();
                return self.fail(Error::List { kind, status });
            }
        };
        self.backoff.reset();
        let mut batch = Vec::with_capacity(page.items.len() + 2);
        if first_page {
            batch.push(Ok(Event::Init));
        }
        batch.extend(
            page.items
                .into_iter()
                .map(|object| self.typed(object, false).map(Event::InitApply)),
        );
        match page.continue_token.filter(|token| !token.is_empty()) {
            Some(token) => {
                self.state = State::List {
                    continue_token: Some(token),
                };
            }
            None => {
                tracing::debug!(
                    kind = %self.kind.plural,
                    resource_version = %page.resource_version,
                    "listed"
                );
                batch.push(Ok(Event::InitDone));
                self.state = State::Listed {
                    resource_version: page.resource_version,
                };
            }
        }
        batch
    }

    async fn start_watch(&mut self, resource_version: String) -> Batch<K> {
        let params = self.config.watch_params(&resource_version);
        match self
            .client
            .watch(&self.kind, self.namespace.as_deref(), &params)
            .await
        {
            Ok(stream) => {
                tracing::debug!(kind = %self.kind.plural, %resource_version, "watching");
                self.state = State::Watching {
                    resource_version,
                    stream,
                    started: Instant::now(),
                    events: 0,
                };
                Vec::new()
            }
            Err(status) if is_gone(&status) => {
                let kind = self.kind_name();
                self.fail(Error::Expired {
                    kind,
                    resource_version,
                    status,
                })
            }
            Err(status) => {
                let kind = self.kind_name();
                self.state = State::Listed { resource_version };
                self.fail(Error::WatchStart { kind, status })
            }
        }
    }

    async fn next_watch_event(
        &mut self,
        mut resource_version: String,
        mut stream: WatchStream,
        started: Instant,
        events: u64,
    ) -> Batch<K> {
        let event = stream.next().await;
        let mut advance = |object: &ArcObject| {
            if let Some(rv) = object.metadata().resource_version.as_deref() {
                resource_version = rv.to_owned();
            }
        };
        let batch = match event {
            Some(WatchEvent::Added(object) | WatchEvent::Modified(object)) => {
                advance(&object);
                vec![self.typed(object, false).map(Event::Apply)]
            }
            Some(WatchEvent::Deleted(object)) => {
                advance(&object);
                vec![self.typed(object, true).map(Event::Delete)]
            }
            Some(WatchEvent::Bookmark(bookmark)) => {
                if !bookmark.metadata.resource_version.is_empty() {
                    resource_version = bookmark.metadata.resource_version;
                }
                Vec::new()
            }
            Some(WatchEvent::Error(status)) if is_gone(&status) => {
                let kind = self.kind_name();
                return self.fail(Error::Expired {
                    kind,
                    resource_version,
                    status,
                });
            }
            Some(WatchEvent::Error(status)) => {
                let kind = self.kind_name();
                self.state = State::Listed { resource_version };
                return self.fail(Error::Watch { kind, status });
            }
            None => {
                let elapsed = started.elapsed();
                self.state = State::Listed { resource_version };
                if events == 0 && elapsed < SHORT_WATCH {
                    let kind = self.kind_name();
                    return self.fail(Error::ShortWatch { kind, elapsed });
                }
                tracing::debug!(kind = %self.kind.plural, "watch ended, resuming");
                return Vec::new();
            }
        };
        self.backoff.reset();
        self.state = State::Watching {
            resource_version,
            stream,
            started,
            events: events + 1,
        };
        batch
    }
}

/// Whether a status says the requested `resourceVersion` is gone (410 Gone or Expired).
fn is_gone(status: &Status) -> bool {
    status.code == 410
}

impl<K> fmt::Debug for Machine<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("kind", &self.kind.plural)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// Lists and then watches objects of `kind` (in `namespace`, or across the cluster with
/// `None`) as an endless stream of [`Event`]s, read as `K`.
///
/// The stream does nothing until polled, never ends by itself, and yields failures as `Err`
/// items before waiting out a back-off (see the [module documentation](self)). Objects are
/// recovered as `Arc<K>` by a downcast, so the in-process client shares them without a copy.
pub fn watcher<K>(
    client: Arc<dyn Client>,
    kind: ResourceKind,
    namespace: Option<&str>,
    config: Config,
) -> impl Stream<Item = Result<Event<K>, Error>> + Send + 'static
where
    K: Object + DeserializeOwned,
{
    let namespace = namespace
        .filter(|ns| !ns.is_empty() && kind.is_namespaced())
        .map(str::to_owned);
    let machine = Machine::<K> {
        client,
        kind,
        namespace,
        backoff: BackoffState::new(config.backoff),
        config,
        state: State::List {
            continue_token: None,
        },
        delay: None,
        _type: PhantomData,
    };
    futures::stream::unfold(machine, |mut machine| async move {
        let batch = machine.step().await;
        Some((batch, machine))
    })
    .flat_map(futures::stream::iter)
}
