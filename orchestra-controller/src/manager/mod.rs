//! The `Manager`: the controller manager that runs a process's controllers and shared
//! informers, watches over them, and tells the outside world how they are doing.
//!
//! - **Informers.** The manager owns a [`SharedInformerFactory`]; controllers built from it
//!   share one list+watch per kind. The informers start when the manager runs — also while
//!   it does not lead, so a standby has warm caches when it takes over — and stop with it.
//!   Unless the factory has a recorder of its own, the manager gives it its own, so the
//!   informers report the objects they cannot decode as the manager (`FailedToDecode`).
//! - **Controllers and tasks.** [`add`](Manager::add) registers a [`Controller`] with its
//!   reconcile, error policy and context; [`add_task`](Manager::add_task) any other long-running
//!   job (a node monitor, a periodic resync). Each runs in its own Tokio task.
//! - **Supervision.** A task that panics is contained: it is logged, counted in the
//!   `orchestra_manager_task_restarts_total` metric, reported as a `Warning` Event
//!   (`TaskPanicked`) on the manager's Lease, and restarted after a back-off (1 s doubling to
//!   60 s, reset after ten quiet minutes). A restarted controller starts fresh — new queue,
//!   every cached object reconciled once — which is safe because reconciles are
//!   level-triggered.
//! - **Leader election.** With [`leader_election`](ManagerBuilder::leader_election), only the
//!   manager holding the Lease runs its tasks; losing the Lease stops them at once (within
//!   the renew deadline), and winning it again starts them anew.
//! - **Health and metrics.** [`router`](Manager::router) (or [`serve`](Manager::serve))
//!   answers `/healthz`, `/readyz` and `/metrics` — per controller: reconciles by result,
//!   errors, panics, reconcile time, workers, and its work queue's depth, adds, retries and
//!   durations, in the Prometheus text format under controller-runtime's and client-go's
//!   metric names.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use orchestra_api::{Client, Status, kinds};
//! use orchestra_api::k8s_openapi::api::core::v1::ConfigMap;
//! use orchestra_controller::controller::{Action, Controller, backoff_on_error};
//! use orchestra_controller::manager::Manager;
//! use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
//!
//! let store = Store::open(Arc::new(MemoryKv::new()), kinds::BUILTIN.iter().map(|k| (*k).clone()), StoreConfig::default())
//!     .await
//!     .unwrap();
//! let client: Arc<dyn Client> = Arc::new(LocalClient::new(store));
//! let manager = Manager::builder(client).name("example-manager").build().unwrap();
//!
//! async fn reconcile(_cm: Arc<ConfigMap>, _ctx: Arc<()>) -> Result<Action, Status> {
//!     Ok(Action::await_change())
//! }
//! manager.add(Controller::<ConfigMap>::new(manager.factory()), reconcile, backoff_on_error, Arc::new(()));
//!
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let running = tokio::spawn({
//!     let manager = manager.clone();
//!     async move { manager.run(async { let _ = stopped.await; }).await }
//! });
//! manager.factory().wait_for_cache_sync().await.unwrap();
//! assert!(manager.metrics_text().contains("controller_runtime_max_concurrent_reconciles"));
//! stop.send(()).unwrap();
//! running.await.unwrap();
//! # }
//! ```

mod http;
mod metrics;

pub use self::http::METRICS_CONTENT_TYPE;

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use orchestra_api::k8s_openapi::api::core::v1::ObjectReference;
use orchestra_api::{Client, Object};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::controller::{
    Action, Controller, ControllerMetrics, ReconcileError, Retry, panic_message,
};
use crate::events::{EventType, Recorder, Reporter};
use crate::informer::SharedInformerFactory;
use crate::informer::backoff::{Backoff, BackoffState, RandomUnit};
use crate::leader_election::{ConfigError, LeaderElectionConfig, LeaderElector, LeaseLock};

/// Where a supervised task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Not running: the manager has not started, does not lead, or has stopped.
    Idle,
    /// Running.
    Running,
    /// Panicked; waiting out the back-off before its restart.
    BackingOff,
    /// Returned by itself (a controller's graceful shutdown, or an informer that stopped);
    /// not restarted.
    Finished,
}

/// A supervised task as the manager sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskStatus {
    /// The task's name (a controller's name).
    pub name: String,
    /// Where it is.
    pub state: TaskState,
    /// How many times it was restarted after a panic.
    pub restarts: u64,
}

type TaskFn = Box<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// One supervised task.
struct Task {
    name: String,
    run: TaskFn,
    controller: Option<Arc<ControllerMetrics>>,
    restarts: AtomicU64,
    state: Mutex<TaskState>,
}

impl Task {
    fn set_state(&self, state: TaskState) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }

    fn state(&self) -> TaskState {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Inner {
    name: String,
    client: Arc<dyn Client>,
    factory: SharedInformerFactory,
    recorder: Recorder,
    elector: Option<Arc<LeaderElector>>,
    restart_backoff: Backoff,
    events_regarding: ObjectReference,
    tasks: Mutex<Vec<Arc<Task>>>,
    running: AtomicBool,
}

impl Inner {
    fn tasks(&self) -> MutexGuard<'_, Vec<Arc<Task>>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs and supervises controllers. Cheap to clone; every clone is the same manager. See
/// the [module documentation](self).
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("name", &self.inner.name)
            .field("tasks", &self.status())
            .field("leader_election", &self.inner.elector.is_some())
            .finish_non_exhaustive()
    }
}

/// Configures a [`Manager`]; start with [`Manager::builder`].
pub struct ManagerBuilder {
    client: Arc<dyn Client>,
    name: String,
    factory: Option<SharedInformerFactory>,
    leader_election: Option<(LeaseLock, LeaderElectionConfig)>,
    identity: Option<String>,
    restart_backoff: Backoff,
}

impl fmt::Debug for ManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagerBuilder")
            .field("name", &self.name)
            .field("leader_election", &self.leader_election)
            .field("identity", &self.identity)
            .field("restart_backoff", &self.restart_backoff)
            .finish_non_exhaustive()
    }
}

/// The default back-off between restarts of a panicking task: 1 s doubling to 60 s, with a
/// little jitter, starting over after ten minutes without a panic.
pub fn default_restart_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(60),
        factor: 2.0,
        jitter: 0.1,
        reset_after: Duration::from_secs(600),
    }
}

/// A unique identity for this process: the host name and a random suffix, as Kubernetes'
/// components make theirs.
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "orchestra".to_owned());
    let mut random = RandomUnit::new();
    // 53 random bits, as 14 hex digits.
    let suffix = (random.next() * (1u64 << 53) as f64) as u64;
    format!("{host}_{suffix:014x}")
}

impl ManagerBuilder {
    /// Names the manager (default `orchestra-controller-manager`): the reporter of its
    /// Events, and the default Lease name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Uses `factory` for the shared informers (default: a factory over every namespace).
    #[must_use]
    pub fn factory(mut self, factory: SharedInformerFactory) -> Self {
        self.factory = Some(factory);
        self
    }

    /// Runs the tasks only while this manager holds the Lease `lock`.
    #[must_use]
    pub fn leader_election(mut self, lock: LeaseLock, config: LeaderElectionConfig) -> Self {
        self.leader_election = Some((lock, config));
        self
    }

    /// This manager's identity in leader election (default: host name and a random suffix).
    #[must_use]
    pub fn identity(mut self, identity: impl Into<String>) -> Self {
        self.identity = Some(identity.into());
        self
    }

    /// How long a panicking task waits before its restart (default
    /// [`default_restart_backoff`]).
    #[must_use]
    pub fn restart_backoff(mut self, backoff: Backoff) -> Self {
        self.restart_backoff = backoff;
        self
    }

    /// Builds the manager; fails if the leader election timing is unsafe.
    pub fn build(self) -> Result<Manager, ConfigError> {
        let identity = self.identity.unwrap_or_else(default_identity);
        let reporter = Reporter::new(self.name.clone()).instance(identity.clone());
        let recorder = Recorder::new(Arc::clone(&self.client), reporter);
        let (lock, elector) = match self.leader_election {
            Some((lock, config)) => {
                let elector =
                    LeaderElector::new(Arc::clone(&self.client), lock.clone(), identity, config)?
                        .recorder(recorder.clone());
                (lock, Some(Arc::new(elector)))
            }
            None => (LeaseLock::new("kube-system", self.name.clone()), None),
        };
        let events_regarding = ObjectReference {
            api_version: Some("coordination.k8s.io/v1".to_owned()),
            kind: Some("Lease".to_owned()),
            namespace: Some(lock.namespace),
            name: Some(lock.name),
            ..ObjectReference::default()
        };
        let factory = self
            .factory
            .unwrap_or_else(|| SharedInformerFactory::new(Arc::clone(&self.client)));
        if factory.recorder().is_none() {
            // The informers report the objects they cannot decode as the manager.
            factory.set_recorder(recorder.clone());
        }
        Ok(Manager {
            inner: Arc::new(Inner {
                name: self.name,
                client: self.client,
                factory,
                recorder,
                elector,
                restart_backoff: self.restart_backoff,
                events_regarding,
                tasks: Mutex::new(Vec::new()),
                running: AtomicBool::new(false),
            }),
        })
    }
}

/// Aborts a spawned task when dropped: stopping the manager stops its tasks.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Manager {
    /// Starts configuring a manager that talks to the cluster through `client`.
    pub fn builder(client: Arc<dyn Client>) -> ManagerBuilder {
        ManagerBuilder {
            client,
            name: "orchestra-controller-manager".to_owned(),
            factory: None,
            leader_election: None,
            identity: None,
            restart_backoff: default_restart_backoff(),
        }
    }

    /// The manager's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The client the manager was built with.
    pub fn client(&self) -> &Arc<dyn Client> {
        &self.inner.client
    }

    /// The shared informers: build controllers from this factory.
    pub fn factory(&self) -> &SharedInformerFactory {
        &self.inner.factory
    }

    /// A recorder publishing Events as this manager (reporter: its name and identity).
    pub fn recorder(&self) -> Recorder {
        self.inner.recorder.clone()
    }

    /// The leader elector, with leader election configured.
    pub fn leader_elector(&self) -> Option<&Arc<LeaderElector>> {
        self.inner.elector.as_ref()
    }

    /// Registers `controller` with its reconcile, error policy and context; it runs (and is
    /// restarted after panics) while the manager runs and leads. Register before
    /// [`run`](Self::run): a task added later starts at the next leadership term.
    pub fn add<K, Ctx, E, R, Fut, P>(
        &self,
        controller: Controller<K>,
        reconcile: R,
        error_policy: P,
        ctx: Arc<Ctx>,
    ) where
        K: Object + DeserializeOwned,
        Ctx: Send + Sync + 'static,
        E: ReconcileError,
        R: Fn(Arc<K>, Arc<Ctx>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        P: Fn(Arc<K>, &E, Arc<Ctx>) -> Retry + Send + Sync + 'static,
    {
        let runner = controller.into_runner(reconcile, error_policy, ctx);
        let name = runner.name().to_owned();
        let metrics = runner.metrics();
        self.push(Task {
            name,
            run: Box::new(move || runner.run().boxed()),
            controller: Some(metrics),
            restarts: AtomicU64::new(0),
            state: Mutex::new(TaskState::Idle),
        });
    }

    /// Registers a long-running task under `name`: `start()` makes one run of it. It is
    /// supervised like a controller.
    pub fn add_task<F, Fut>(&self, name: impl Into<String>, start: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.push(Task {
            name: name.into(),
            run: Box::new(move || start().boxed()),
            controller: None,
            restarts: AtomicU64::new(0),
            state: Mutex::new(TaskState::Idle),
        });
    }

    fn push(&self, task: Task) {
        self.inner.tasks().push(Arc::new(task));
    }

    /// Every task's state and restarts.
    pub fn status(&self) -> Vec<TaskStatus> {
        self.inner
            .tasks()
            .iter()
            .map(|task| TaskStatus {
                name: task.name.clone(),
                state: task.state(),
                restarts: task.restarts.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Whether [`run`](Self::run) is in progress.
    pub fn is_running(&self) -> bool {
        self.inner.running.load(Ordering::SeqCst)
    }

    /// Runs the informers and — while this manager leads, or always without leader
    /// election — the tasks, until `shutdown` completes. Then the tasks are stopped, the
    /// Lease released if so configured, and the informers stopped (they cannot be started
    /// again: run a manager once).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let inner = Arc::clone(&self.inner);
        inner.running.store(true, Ordering::SeqCst);
        inner.factory.start();
        tracing::info!(manager = %inner.name, tasks = inner.tasks().len(), "controller manager starting");
        match inner.elector.clone() {
            Some(elector) => {
                let lead = || run_tasks(Arc::clone(&inner));
                elector.run_until(lead, shutdown).await;
            }
            None => {
                tokio::select! {
                    () = run_tasks(Arc::clone(&inner)) => {}
                    () = shutdown => {}
                }
            }
        }
        for task in inner.tasks().iter() {
            if task.state() != TaskState::Finished {
                task.set_state(TaskState::Idle);
            }
        }
        inner.factory.shutdown();
        inner.running.store(false, Ordering::SeqCst);
        tracing::info!(manager = %inner.name, "controller manager stopped");
    }
}

/// Runs every registered task under supervision until the future is dropped, which aborts
/// them. Tasks that finish by themselves are not restarted; the manager keeps running (and
/// its health check reports them).
async fn run_tasks(inner: Arc<Inner>) {
    let tasks: Vec<Arc<Task>> = inner.tasks().clone();
    tracing::info!(manager = %inner.name, "starting tasks");
    let supervised = tasks
        .into_iter()
        .map(|task| supervise(Arc::clone(&inner), task));
    futures::future::join_all(supervised).await;
    tracing::warn!(manager = %inner.name, "every task has finished");
    std::future::pending::<()>().await;
}

/// Marks a task idle when its supervision is dropped (leadership lost, manager stopped),
/// unless it finished by itself.
struct IdleOnDrop(Arc<Task>);

impl Drop for IdleOnDrop {
    fn drop(&mut self) {
        if self.0.state() != TaskState::Finished {
            self.0.set_state(TaskState::Idle);
        }
    }
}

/// Runs one task; restarts it with back-off when it panics.
async fn supervise(inner: Arc<Inner>, task: Arc<Task>) {
    let mut backoff = BackoffState::new(inner.restart_backoff);
    let _idle_when_dropped = IdleOnDrop(Arc::clone(&task));
    loop {
        task.set_state(TaskState::Running);
        let mut handle = AbortOnDrop(tokio::spawn((task.run)()));
        let outcome = (&mut handle.0).await;
        match outcome {
            Ok(()) => {
                tracing::info!(task = %task.name, "task finished");
                task.set_state(TaskState::Finished);
                return;
            }
            Err(error) => match error.try_into_panic() {
                Ok(payload) => {
                    let message = panic_message(&*payload);
                    let restarts = task.restarts.fetch_add(1, Ordering::Relaxed) + 1;
                    if let Some(metrics) = &task.controller {
                        metrics.record_restart();
                    }
                    let delay = backoff.next_delay(Instant::now());
                    tracing::error!(task = %task.name, panic = %message, ?delay, restarts, "task panicked; restarting after a back-off");
                    task.set_state(TaskState::BackingOff);
                    report_panic(&inner, &task.name, &message, delay).await;
                    tokio::time::sleep(delay).await;
                }
                Err(_cancelled) => {
                    task.set_state(TaskState::Idle);
                    return;
                }
            },
        }
    }
}

/// Records a task's panic as a Warning Event on the manager's Lease; gives up quickly so a
/// slow server never delays the restart.
async fn report_panic(inner: &Inner, task: &str, message: &str, delay: Duration) {
    let note = format!("task {task} panicked and restarts in {delay:?}: {message}");
    let publish = inner.recorder.publish(
        &inner.events_regarding,
        EventType::Warning,
        "TaskPanicked",
        &note,
    );
    match tokio::time::timeout(Duration::from_secs(5), publish).await {
        Ok(Ok(_)) => {}
        Ok(Err(status)) => tracing::warn!(%status, "could not record the panic as an Event"),
        Err(_) => tracing::warn!("recording the panic as an Event timed out"),
    }
}
