//! The `Controller`: a reconcile loop over one kind, fed by shared informers.
//!
//! A controller keeps objects of one kind converged: for every object that changed (or that
//! one of its relatives changed for), it calls the user's *reconcile* with the object as the
//! local cache holds it. Reconciles are level-triggered — they read the current state and
//! converge, whatever the event was — so the runtime is free to merge events, to retry, and
//! to run a reconcile again after a restart. The pieces, as in kube-runtime and client-go:
//!
//! - **Triggers.** The controller's own kind, the kinds it [`owns`](Controller::owns)
//!   (a change of a child reconciles its controller, through the child's owner reference
//!   with `controller: true`), and kinds it [`watches`](Controller::watches) with a mapper
//!   of its own. Every trigger is a handler on an informer of the process's
//!   [`SharedInformerFactory`], so ten controllers that look at pods share one watch.
//! - **Queue.** Triggers put [`ObjectKey`]s on a [`WorkQueue`]: events for one object merge
//!   while it waits, and an object is never reconciled by two workers at once.
//! - **Workers.** [`workers`](Controller::workers) tasks take keys, look the object up in the
//!   cache (an object no longer there is skipped: clean-up on deletion is the job of a
//!   [finalizer](crate::finalizer) or of owner references) and reconcile it. Workers start
//!   only once every trigger's informer has delivered its first list, so a reconcile never
//!   acts on a half-filled cache.
//! - **Answers.** A reconcile answers an [`Action`]: run again after a delay, or wait for a
//!   change. A failure goes to the *error policy*, which answers a [`Retry`]: the queue's
//!   per-key exponential back-off (the default), a fixed delay, or wait for a change; a
//!   failure is logged at `warn`, except a 409 Conflict, which is routine and logged at
//!   `debug` (see [`ReconcileError`]). A
//!   reconcile that panics counts as a failure retried with back-off (unless
//!   [`recover_panics(false)`](Controller::recover_panics) lets the panic end the
//!   controller, for a supervisor to restart).
//! - **Shutdown.** [`graceful_shutdown_on`](Controller::graceful_shutdown_on) stops taking
//!   keys when a signal fires and lets running reconciles finish; dropping the future of
//!   [`run`](Controller::run) stops at once (what a lost leader election does).
//! - **Metrics.** Reconciles by result, errors, panics, reconcile time and the queue's
//!   metrics, in [`ControllerMetrics`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use orchestra_api::{Api, Client, PostParams, Status, kinds};
//! use orchestra_api::k8s_openapi::api::core::v1::{ConfigMap, Pod};
//! use orchestra_controller::controller::{Action, Controller, Retry};
//! use orchestra_controller::informer::SharedInformerFactory;
//! use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
//! use tokio::sync::mpsc;
//!
//! let store = Store::open(Arc::new(MemoryKv::new()), kinds::BUILTIN.iter().map(|k| (*k).clone()), StoreConfig::default())
//!     .await
//!     .unwrap();
//! let client: Arc<dyn Client> = Arc::new(LocalClient::new(store));
//! let factory = SharedInformerFactory::new(client.clone());
//!
//! struct Context {
//!     client: Arc<dyn Client>,
//!     annotated: mpsc::UnboundedSender<String>,
//! }
//!
//! // Converge: every config map carries the number of its keys as an annotation.
//! async fn reconcile(cm: Arc<ConfigMap>, ctx: Arc<Context>) -> Result<Action, Status> {
//!     let keys = cm.data.as_ref().map_or(0, |data| data.len()).to_string();
//!     let annotations = cm.metadata.annotations.clone().unwrap_or_default();
//!     if annotations.get("example.com/keys") != Some(&keys) {
//!         let (namespace, name) = (cm.metadata.namespace.as_deref().unwrap(), cm.metadata.name.as_deref().unwrap());
//!         let mut cm = (*cm).clone();
//!         cm.metadata.annotations.get_or_insert_with(Default::default).insert("example.com/keys".into(), keys);
//!         // A stale resourceVersion fails with 409; the error policy retries with back-off.
//!         Api::<ConfigMap>::namespaced(ctx.client.clone(), namespace).replace(name, &PostParams::default(), &cm).await?;
//!         let _ = ctx.annotated.send(name.to_owned());
//!     }
//!     Ok(Action::await_change())
//! }
//!
//! let (annotated, mut done) = mpsc::unbounded_channel();
//! let ctx = Arc::new(Context { client: client.clone(), annotated });
//! let controller = Controller::<ConfigMap>::new(&factory).owns::<Pod>().workers(2);
//! let run = tokio::spawn(controller.run(reconcile, |_, _: &Status, _| Retry::Backoff, ctx));
//!
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("settings".into());
//! cm.data = Some([("a".to_owned(), "1".to_owned())].into());
//! Api::<ConfigMap>::namespaced(client, "default").create(&PostParams::default(), &cm).await.unwrap();
//! assert_eq!(done.recv().await.as_deref(), Some("settings"));
//! run.abort();
//! # }
//! ```

mod action;
pub mod error;
pub mod metrics;
mod trigger;

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use orchestra_api::{Object, ResourceKind, Served};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

pub use self::action::{Action, Retry};
pub use self::error::ReconcileError;
pub use self::metrics::{ControllerMetrics, ControllerMetricsSnapshot, ReconcileResults};
pub use self::trigger::controller_key;

use self::metrics::Outcome;
use self::trigger::{MappedTrigger, Mapper, Trigger};
use crate::events::{EventType, Recorder};
use crate::informer::{
    Cache, HandlerRegistration, Informer, ObjectKey, SharedInformerFactory, Stopped,
};
use crate::workqueue::{RateLimiter, WorkQueue, default_controller_rate_limiter};

type RateLimiterFactory = Arc<dyn Fn() -> Box<dyn RateLimiter<ObjectKey>> + Send + Sync>;

/// A reconcile loop over objects of kind `K`, built step by step and started with
/// [`run`](Self::run). See the [module documentation](self).
///
/// Cloning is cheap; clones share their metrics, and each [`run`](Self::run) of a clone is a
/// fresh start (new queue, every cached object reconciled once).
pub struct Controller<K> {
    name: String,
    factory: SharedInformerFactory,
    informer: Informer<K>,
    triggers: Vec<Arc<dyn Trigger>>,
    workers: usize,
    rate_limiter: RateLimiterFactory,
    recover_panics: bool,
    graceful_shutdown: Option<Shared<BoxFuture<'static, ()>>>,
    recorder: Option<Recorder>,
    metrics: Arc<ControllerMetrics>,
}

impl<K> Clone for Controller<K> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            factory: self.factory.clone(),
            informer: self.informer.clone(),
            triggers: self.triggers.clone(),
            workers: self.workers,
            rate_limiter: Arc::clone(&self.rate_limiter),
            recover_panics: self.recover_panics,
            graceful_shutdown: self.graceful_shutdown.clone(),
            recorder: self.recorder.clone(),
            metrics: Arc::clone(&self.metrics),
        }
    }
}

impl<K> fmt::Debug for Controller<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controller")
            .field("name", &self.name)
            .field(
                "triggers",
                &self
                    .triggers
                    .iter()
                    .map(|t| t.describe())
                    .collect::<Vec<_>>(),
            )
            .field("workers", &self.workers)
            .field("recover_panics", &self.recover_panics)
            .finish_non_exhaustive()
    }
}

impl<K: Served> Controller<K> {
    /// A controller of every `K` the factory's informers see (all namespaces, or the
    /// factory's namespace), named after the kind's plural (`replicasets`), with one worker.
    pub fn new(factory: &SharedInformerFactory) -> Self {
        Self::for_informer(factory, factory.informer::<K>())
    }
}

impl<K: Object + DeserializeOwned> Controller<K> {
    /// A controller of the objects of `informer` (for instance an informer of a custom
    /// resource read as `DynamicObject`, or one with a label selector). Owned and watched
    /// kinds still come from `factory`.
    pub fn for_informer(factory: &SharedInformerFactory, informer: Informer<K>) -> Self {
        let name = informer.resource_kind().plural.to_string();
        let own: Mapper<K> = Arc::new(|object: &K| vec![ObjectKey::of(object)]);
        let trigger = MappedTrigger::new(informer.clone(), own, "reconciles");
        Self {
            metrics: Arc::new(ControllerMetrics::new(&name)),
            name,
            factory: factory.clone(),
            informer,
            triggers: vec![Arc::new(trigger)],
            workers: 1,
            rate_limiter: Arc::new(|| Box::new(default_controller_rate_limiter())),
            recover_panics: true,
            graceful_shutdown: None,
            recorder: None,
        }
    }

    /// Names the controller: its logs, its queue and its metrics carry the name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self.metrics = Arc::new(ControllerMetrics::new(&self.name));
        self
    }

    /// The controller's name.
    pub fn controller_name(&self) -> &str {
        &self.name
    }

    /// Reconciles an object when an object of kind `C` that it controls changes: the
    /// child's owner reference with `controller: true` names it (group and kind must be
    /// `K`'s).
    #[must_use]
    pub fn owns<C: Served>(self) -> Self {
        let informer = self.factory.informer::<C>();
        self.owns_informer(informer)
    }

    /// [`owns`](Self::owns), with the children's informer given (a `DynamicObject` informer,
    /// or one with a selector).
    #[must_use]
    pub fn owns_informer<C: Object + DeserializeOwned>(mut self, informer: Informer<C>) -> Self {
        let owner: ResourceKind = self.informer.resource_kind().clone();
        let mapper: Mapper<C> =
            Arc::new(move |child: &C| controller_key(child, &owner).into_iter().collect());
        self.triggers
            .push(Arc::new(MappedTrigger::new(informer, mapper, "owns")));
        self
    }

    /// Reconciles the objects `mapper` names when an object of kind `O` changes (for an
    /// update, the keys of the old and the new state).
    #[must_use]
    pub fn watches<O, I>(self, mapper: impl Fn(&O) -> I + Send + Sync + 'static) -> Self
    where
        O: Served,
        I: IntoIterator<Item = ObjectKey>,
    {
        let informer = self.factory.informer::<O>();
        self.watches_informer(informer, mapper)
    }

    /// [`watches`](Self::watches), with the watched objects' informer given.
    #[must_use]
    pub fn watches_informer<O, I>(
        mut self,
        informer: Informer<O>,
        mapper: impl Fn(&O) -> I + Send + Sync + 'static,
    ) -> Self
    where
        O: Object + DeserializeOwned,
        I: IntoIterator<Item = ObjectKey>,
    {
        let mapper: Mapper<O> = Arc::new(move |object: &O| mapper(object).into_iter().collect());
        self.triggers
            .push(Arc::new(MappedTrigger::new(informer, mapper, "watches")));
        self
    }

    /// Reconciles up to `workers` objects at once (at least one; default one). One object is
    /// never reconciled by two workers at once.
    #[must_use]
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Makes each run's work queue with the rate limiter `make` returns (default: client-go's
    /// [`default_controller_rate_limiter`]). It decides the wait of [`Retry::Backoff`].
    #[must_use]
    pub fn rate_limiter<R>(mut self, make: impl Fn() -> R + Send + Sync + 'static) -> Self
    where
        R: RateLimiter<ObjectKey> + 'static,
    {
        self.rate_limiter = Arc::new(move || Box::new(make()));
        self
    }

    /// Whether a reconcile that panics is caught and retried with back-off (the default), or
    /// ends the controller with the panic (for a supervisor to restart it).
    #[must_use]
    pub fn recover_panics(mut self, recover: bool) -> Self {
        self.recover_panics = recover;
        self
    }

    /// Reports reconciles that panic as `Warning` Events (reason `ReconcilePanic`) on the
    /// object, through `recorder`.
    #[must_use]
    pub fn recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Stops gracefully when `signal` completes: no new key is taken, running reconciles
    /// finish, then [`run`](Self::run) returns.
    #[must_use]
    pub fn graceful_shutdown_on(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.graceful_shutdown = Some(signal.boxed().shared());
        self
    }

    /// The informer of the controller's own kind: its cache is what reconciles read.
    pub fn informer(&self) -> &Informer<K> {
        &self.informer
    }

    /// The controller's metrics, live.
    pub fn metrics(&self) -> Arc<ControllerMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Runs the controller until the graceful-shutdown signal (if any) has fired and the
    /// running reconciles have finished; without a signal, for as long as the future is
    /// polled. Starts the informers it needs.
    ///
    /// `reconcile(object, ctx)` converges one object and answers an [`Action`];
    /// `error_policy(object, &error, ctx)` answers how a failure is retried.
    ///
    /// The future panics only if `error_policy` panics, or a reconcile does with
    /// [`recover_panics(false)`](Self::recover_panics).
    pub fn run<Ctx, E, R, Fut, P>(
        self,
        reconcile: R,
        error_policy: P,
        ctx: Arc<Ctx>,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        Ctx: Send + Sync + 'static,
        E: ReconcileError,
        R: Fn(Arc<K>, Arc<Ctx>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        P: Fn(Arc<K>, &E, Arc<Ctx>) -> Retry + Send + Sync + 'static,
    {
        self.into_runner(reconcile, error_policy, ctx).run()
    }

    /// The controller with its functions, ready to be run any number of times.
    pub(crate) fn into_runner<Ctx, E, R, Fut, P>(
        self,
        reconcile: R,
        error_policy: P,
        ctx: Arc<Ctx>,
    ) -> Runner<K, Ctx, R, P>
    where
        Ctx: Send + Sync + 'static,
        E: ReconcileError,
        R: Fn(Arc<K>, Arc<Ctx>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        P: Fn(Arc<K>, &E, Arc<Ctx>) -> Retry + Send + Sync + 'static,
    {
        Runner {
            controller: self,
            reconcile: Arc::new(reconcile),
            error_policy: Arc::new(error_policy),
            ctx,
        }
    }
}

/// A controller with its reconcile, error policy and context: each [`run`](Self::run) is one
/// fresh run.
pub(crate) struct Runner<K, Ctx, R, P> {
    controller: Controller<K>,
    reconcile: Arc<R>,
    error_policy: Arc<P>,
    ctx: Arc<Ctx>,
}

impl<K, Ctx, R, P> Runner<K, Ctx, R, P> {
    /// The controller's name.
    pub(crate) fn name(&self) -> &str {
        &self.controller.name
    }

    /// The controller's metrics.
    pub(crate) fn metrics(&self) -> Arc<ControllerMetrics> {
        Arc::clone(&self.controller.metrics)
    }
}

/// Removes a run's handlers from their informers when the run ends, however it ends.
struct Registrations(Vec<HandlerRegistration>);

impl Registrations {
    async fn wait_synced(&self) -> Result<(), Stopped> {
        for registration in &self.0 {
            registration.wait_synced().await?;
        }
        Ok(())
    }
}

impl Drop for Registrations {
    fn drop(&mut self) {
        for registration in &self.0 {
            registration.remove();
        }
    }
}

/// Counts a worker as active while it lives (also when its reconcile is dropped midway).
struct ActiveWorker<'a>(&'a ControllerMetrics);

impl<'a> ActiveWorker<'a> {
    fn new(metrics: &'a ControllerMetrics) -> Self {
        metrics.worker_started();
        Self(metrics)
    }
}

impl Drop for ActiveWorker<'_> {
    fn drop(&mut self) {
        self.0.worker_finished();
    }
}

impl<K, Ctx, E, R, Fut, P> Runner<K, Ctx, R, P>
where
    K: Object + DeserializeOwned,
    Ctx: Send + Sync + 'static,
    E: ReconcileError,
    R: Fn(Arc<K>, Arc<Ctx>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    P: Fn(Arc<K>, &E, Arc<Ctx>) -> Retry + Send + Sync + 'static,
{
    /// One run: a new queue, handlers on every trigger, workers once the caches synced.
    pub(crate) fn run(
        &self,
    ) -> impl Future<Output = ()> + Send + 'static + use<K, Ctx, E, R, Fut, P> {
        let controller = self.controller.clone();
        let work = Work {
            name: controller.name.clone(),
            queue: WorkQueue::builder()
                .name(controller.name.clone())
                .rate_limiter((controller.rate_limiter)())
                .build(),
            cache: controller.informer.cache(),
            reconcile: Arc::clone(&self.reconcile),
            error_policy: Arc::clone(&self.error_policy),
            ctx: Arc::clone(&self.ctx),
            metrics: Arc::clone(&controller.metrics),
            recover_panics: controller.recover_panics,
            recorder: controller.recorder.clone(),
        };
        let span = tracing::info_span!("controller", controller = %controller.name);
        async move { run(controller, Arc::new(work)).await }.instrument(span)
    }
}

async fn run<K, Ctx, E, R, Fut, P>(controller: Controller<K>, work: Arc<Work<K, Ctx, R, P>>)
where
    K: Object + DeserializeOwned,
    Ctx: Send + Sync + 'static,
    E: ReconcileError,
    R: Fn(Arc<K>, Arc<Ctx>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    P: Fn(Arc<K>, &E, Arc<Ctx>) -> Retry + Send + Sync + 'static,
{
    let queue = work.queue.clone();
    controller.metrics.attach_queue(queue.clone());
    controller.metrics.set_max_workers(controller.workers);
    let registrations = Registrations(
        controller
            .triggers
            .iter()
            .map(|trigger| trigger.register(&queue))
            .collect(),
    );
    for trigger in &controller.triggers {
        trigger.start();
    }
    let mut shutdown = match controller.graceful_shutdown.clone() {
        Some(signal) => signal.left_future(),
        None => std::future::pending().right_future(),
    };

    tracing::debug!("waiting for the informers to sync");
    tokio::select! {
        () = &mut shutdown => {
            tracing::info!("shut down before the informers synced");
            return;
        }
        synced = registrations.wait_synced() => {
            if synced.is_err() {
                tracing::error!("an informer stopped before it synced; the controller stops");
                return;
            }
        }
    }

    tracing::info!(workers = controller.workers, "starting workers");
    let (stop, stopping) = watch::channel(false);
    let mut workers = JoinSet::new();
    for _ in 0..controller.workers {
        let work = Arc::clone(&work);
        let stopping = stopping.clone();
        workers.spawn(async move { work.worker(stopping).await }.in_current_span());
    }
    let mut shutting_down = false;
    loop {
        tokio::select! {
            () = &mut shutdown, if !shutting_down => {
                tracing::info!("shutting down: finishing running reconciles");
                shutting_down = true;
                stop.send_replace(true);
                queue.shut_down();
            }
            joined = workers.join_next() => match joined {
                None => break,
                Some(Ok(())) => {}
                Some(Err(error)) => match error.try_into_panic() {
                    // A worker's panic (an error policy that panicked, or a reconcile with
                    // panic recovery off) ends the controller with that panic; dropping the
                    // join set aborts the other workers.
                    Ok(panic) => std::panic::resume_unwind(panic),
                    Err(_cancelled) => {}
                },
            },
        }
    }
    drop(registrations);
    tracing::info!("controller stopped");
}

/// What a run's workers share.
struct Work<K, Ctx, R, P> {
    name: String,
    queue: WorkQueue<ObjectKey>,
    cache: Cache<K>,
    reconcile: Arc<R>,
    error_policy: Arc<P>,
    ctx: Arc<Ctx>,
    metrics: Arc<ControllerMetrics>,
    recover_panics: bool,
    recorder: Option<Recorder>,
}

impl<K, Ctx, E, R, Fut, P> Work<K, Ctx, R, P>
where
    K: Object + DeserializeOwned,
    Ctx: Send + Sync + 'static,
    E: ReconcileError,
    R: Fn(Arc<K>, Arc<Ctx>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    P: Fn(Arc<K>, &E, Arc<Ctx>) -> Retry + Send + Sync + 'static,
{
    async fn worker(&self, mut stopping: watch::Receiver<bool>) {
        loop {
            let key = tokio::select! {
                biased;
                _ = stopping.wait_for(|stop| *stop) => break,
                key = self.queue.get() => match key {
                    Some(key) => key,
                    None => break,
                },
            };
            let span = tracing::info_span!("reconcile", object = %key);
            self.process(&key).instrument(span).await;
            self.queue.done(&key);
        }
    }

    async fn process(&self, key: &ObjectKey) {
        let Some(object) = self.cache.get_by_key(key) else {
            tracing::trace!("the object is gone; nothing to reconcile");
            self.queue.forget(key);
            return;
        };
        let _active = ActiveWorker::new(&self.metrics);
        let started = Instant::now();
        let reconcile = (self.reconcile)(Arc::clone(&object), Arc::clone(&self.ctx));
        let result = if self.recover_panics {
            AssertUnwindSafe(reconcile).catch_unwind().await
        } else {
            Ok(reconcile.await)
        };
        let took = started.elapsed();
        match result {
            Ok(Ok(action)) => {
                self.queue.forget(key);
                match action.requeue_after() {
                    Some(after) => {
                        self.metrics.observe(Outcome::RequeueAfter, took);
                        tracing::debug!(?after, "reconciled; requeued");
                        self.queue.add_after(key.clone(), after);
                    }
                    None => {
                        self.metrics.observe(Outcome::Success, took);
                        tracing::debug!("reconciled");
                    }
                }
            }
            Ok(Err(error)) => {
                self.metrics.observe(Outcome::Error, took);
                let retry = (self.error_policy)(object, &error, Arc::clone(&self.ctx));
                if error.is_conflict() {
                    // A write from a cache one revision behind: routine, the retry reads
                    // the newer object (see `error`).
                    tracing::debug!(%error, ?retry, "reconcile met a conflict; retrying");
                } else {
                    tracing::warn!(%error, ?retry, "reconcile failed");
                }
                self.retry(key, retry);
            }
            Err(panic) => {
                self.metrics.observe(Outcome::Panic, took);
                let message = panic_message(&*panic);
                tracing::error!(panic = %message, "reconcile panicked; retrying with back-off");
                if let Some(recorder) = &self.recorder {
                    let note = format!("the {} controller panicked: {message}", self.name);
                    let published = recorder
                        .publish_about(&*object, EventType::Warning, "ReconcilePanic", &note)
                        .await;
                    if let Err(error) = published {
                        tracing::warn!(%error, "could not record the panic as an Event");
                    }
                }
                self.retry(key, Retry::Backoff);
            }
        }
    }

    fn retry(&self, key: &ObjectKey, retry: Retry) {
        match retry {
            Retry::Backoff => self.queue.add_rate_limited(key.clone()),
            Retry::After(after) => self.queue.add_after(key.clone(), after),
            Retry::AwaitChange => self.queue.forget(key),
        }
    }
}

/// The text of a panic's payload (`panic!("...")` gives a `&str` or a `String`).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-text payload".to_owned())
}

/// The default error policy: retry with the queue's per-key back-off.
pub fn backoff_on_error<K, E, Ctx>(_object: Arc<K>, _error: &E, _ctx: Arc<Ctx>) -> Retry {
    Retry::Backoff
}
