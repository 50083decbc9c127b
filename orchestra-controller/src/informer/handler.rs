//! Event handlers: how an informer tells its users what changed.
//!
//! An [`EventHandler`] has three callbacks, as client-go's `ResourceEventHandler`:
//! [`on_add`](EventHandler::on_add), [`on_update`](EventHandler::on_update) (also called with
//! the same object twice on a resync) and [`on_delete`](EventHandler::on_delete). Controllers
//! use them to put [`ObjectKey`]s on a [`WorkQueue`]; a `WorkQueue<ObjectKey>` is itself a
//! handler that does exactly that, and [`HandlerFns`] builds one from closures.
//!
//! Every registered handler has its own task and an unbounded queue of notifications, so a
//! slow handler delays only itself, never the informer or the other handlers; each handler
//! sees the changes in the order the cache made them. A handler registered on an informer
//! that already has objects first gets an `on_add` for each of them. Callbacks run
//! synchronously on that task: keep them short (enqueue a key, bump a counter) and do the
//! work in reconcile workers. A callback that panics is logged and the handler goes on with
//! the next notification.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use orchestra_api::k8s_openapi::api::core::v1::Pod;
//! use orchestra_controller::informer::{EventHandler, HandlerFns};
//!
//! let deletes = Arc::new(AtomicUsize::new(0));
//! let counter = deletes.clone();
//! let handler = HandlerFns::<Pod>::new().on_delete(move |_pod| {
//!     counter.fetch_add(1, Ordering::Relaxed);
//! });
//! EventHandler::on_delete(&handler, &Arc::new(Pod::default()));
//! EventHandler::on_add(&handler, &Arc::new(Pod::default())); // no callback set: nothing happens
//! assert_eq!(deletes.load(Ordering::Relaxed), 1);
//! ```

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Weak};
use std::time::Duration;

use orchestra_api::Object;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::cache::{Change, ObjectKey, Stopped};
use crate::workqueue::WorkQueue;

/// Receives an informer's notifications. Every method defaults to doing nothing.
pub trait EventHandler<K>: Send + Sync + 'static {
    /// An object entered the cache.
    fn on_add(&self, object: &Arc<K>) {
        let _ = object;
    }

    /// An object in the cache changed, or (on a resync) `old` and `new` are the same object.
    fn on_update(&self, old: &Arc<K>, new: &Arc<K>) {
        let _ = (old, new);
    }

    /// An object left the cache; its last known state.
    fn on_delete(&self, object: &Arc<K>) {
        let _ = object;
    }
}

impl<K, H: EventHandler<K>> EventHandler<K> for Arc<H> {
    fn on_add(&self, object: &Arc<K>) {
        (**self).on_add(object);
    }
    fn on_update(&self, old: &Arc<K>, new: &Arc<K>) {
        (**self).on_update(old, new);
    }
    fn on_delete(&self, object: &Arc<K>) {
        (**self).on_delete(object);
    }
}

/// Enqueues the key of every object that is added, updated or deleted: the usual bridge from
/// an informer to a controller's work queue.
impl<K: Object> EventHandler<K> for WorkQueue<ObjectKey> {
    fn on_add(&self, object: &Arc<K>) {
        self.add(ObjectKey::of(&**object));
    }
    fn on_update(&self, _old: &Arc<K>, new: &Arc<K>) {
        self.add(ObjectKey::of(&**new));
    }
    fn on_delete(&self, object: &Arc<K>) {
        self.add(ObjectKey::of(&**object));
    }
}

type ObjectFn<K> = Box<dyn Fn(&Arc<K>) + Send + Sync>;
type UpdateFn<K> = Box<dyn Fn(&Arc<K>, &Arc<K>) + Send + Sync>;

/// An [`EventHandler`] made of closures (client-go's `ResourceEventHandlerFuncs`); callbacks
/// left unset do nothing.
pub struct HandlerFns<K> {
    add: Option<ObjectFn<K>>,
    update: Option<UpdateFn<K>>,
    delete: Option<ObjectFn<K>>,
}

impl<K> Default for HandlerFns<K> {
    fn default() -> Self {
        Self {
            add: None,
            update: None,
            delete: None,
        }
    }
}

impl<K> fmt::Debug for HandlerFns<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerFns")
            .field("on_add", &self.add.is_some())
            .field("on_update", &self.update.is_some())
            .field("on_delete", &self.delete.is_some())
            .finish()
    }
}

impl<K> HandlerFns<K> {
    /// A handler that does nothing until callbacks are set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `f` for every added object.
    pub fn on_add(mut self, f: impl Fn(&Arc<K>) + Send + Sync + 'static) -> Self {
        self.add = Some(Box::new(f));
        self
    }

    /// Calls `f` with the old and new state of every updated object.
    pub fn on_update(mut self, f: impl Fn(&Arc<K>, &Arc<K>) + Send + Sync + 'static) -> Self {
        self.update = Some(Box::new(f));
        self
    }

    /// Calls `f` with the last state of every deleted object.
    pub fn on_delete(mut self, f: impl Fn(&Arc<K>) + Send + Sync + 'static) -> Self {
        self.delete = Some(Box::new(f));
        self
    }
}

impl<K: 'static> EventHandler<K> for HandlerFns<K> {
    fn on_add(&self, object: &Arc<K>) {
        if let Some(f) = &self.add {
            f(object);
        }
    }
    fn on_update(&self, old: &Arc<K>, new: &Arc<K>) {
        if let Some(f) = &self.update {
            f(old, new);
        }
    }
    fn on_delete(&self, object: &Arc<K>) {
        if let Some(f) = &self.delete {
            f(object);
        }
    }
}

/// What an informer sends a handler's task.
pub(crate) enum Notification<K> {
    /// A change to report.
    Change(Change<K>),
    /// Every object of the first list has been reported before this.
    Synced,
}

/// Removes a handler from the informer it was registered with.
pub(crate) trait Unregister: Send + Sync {
    /// Drops the listener `id`; whether it was still registered.
    fn unregister(&self, id: u64) -> bool;
}

/// The informer's side of one registered handler.
pub(crate) struct Listener<K> {
    pub(crate) id: u64,
    tx: mpsc::UnboundedSender<Notification<K>>,
    /// Resync period and the next resync, if the handler resyncs.
    pub(crate) resync: Option<(Duration, Instant)>,
}

impl<K: Send + Sync + 'static> Listener<K> {
    /// Starts the task that feeds `handler`; answers the listener and the user's handle.
    pub(crate) fn spawn(
        id: u64,
        handler: impl EventHandler<K>,
        resync: Option<Duration>,
        informer: Weak<dyn Unregister>,
    ) -> (Self, HandlerRegistration) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Notification<K>>();
        let (synced_tx, synced_rx) = watch::channel(false);
        tokio::spawn(async move {
            while let Some(notification) = rx.recv().await {
                let change = match notification {
                    Notification::Change(change) => change,
                    Notification::Synced => {
                        synced_tx.send_replace(true);
                        continue;
                    }
                };
                let outcome = catch_unwind(AssertUnwindSafe(|| match &change {
                    Change::Added(object) => handler.on_add(object),
                    Change::Updated { old, new } => handler.on_update(old, new),
                    Change::Deleted(object) => handler.on_delete(object),
                }));
                if outcome.is_err() {
                    tracing::error!(
                        handler = id,
                        "an event handler panicked; it keeps receiving"
                    );
                }
            }
        });
        let listener = Self {
            id,
            tx,
            resync: resync
                .filter(|period| !period.is_zero())
                .map(|period| (period, Instant::now() + period)),
        };
        let registration = HandlerRegistration {
            id,
            synced: synced_rx,
            informer,
        };
        (listener, registration)
    }

    /// Queues a notification; false once the handler's task is gone.
    pub(crate) fn send(&self, notification: Notification<K>) -> bool {
        self.tx.send(notification).is_ok()
    }
}

/// A handler's registration with an informer: tells whether the handler has caught up with
/// the first list, and removes it.
pub struct HandlerRegistration {
    id: u64,
    synced: watch::Receiver<bool>,
    informer: Weak<dyn Unregister>,
}

impl fmt::Debug for HandlerRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerRegistration")
            .field("id", &self.id)
            .field("synced", &self.has_synced())
            .finish()
    }
}

impl HandlerRegistration {
    /// Whether the handler has been called for every object of the informer's first list
    /// (client-go's `ResourceEventHandlerRegistration.HasSynced`): a controller that starts
    /// its workers after this has every initial object queued.
    pub fn has_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Waits until [`has_synced`](Self::has_synced); [`Stopped`] if the informer stopped or
    /// the handler was removed first.
    pub async fn wait_synced(&self) -> Result<(), Stopped> {
        let mut synced = self.synced.clone();
        match synced.wait_for(|synced| *synced).await {
            Ok(_) => Ok(()),
            Err(_) => Err(Stopped),
        }
    }

    /// Stops notifying the handler (notifications already queued are still delivered);
    /// false if it was no longer registered.
    pub fn remove(&self) -> bool {
        self.informer
            .upgrade()
            .is_some_and(|informer| informer.unregister(self.id))
    }
}
