//! The garbage collector: deletes objects whose owners are gone, as Kubernetes' does.
//!
//! An object names its owners in `metadata.ownerReferences` (a pod its ReplicaSet, a
//! ReplicaSet its Deployment). When an owner is deleted, what happens to its dependents is
//! the delete's *propagation policy*, which the API server records on the owner:
//!
//! | policy | the owner | its dependents |
//! |---|---|---|
//! | `Background` (the default of almost every kind) | removed at once | deleted afterwards by the collector |
//! | `Foreground` | kept, with `deletionTimestamp` and the `foregroundDeletion` finalizer | deleted first; the collector removes the finalizer once no dependent with `blockOwnerDeletion: true` is left, and the owner goes |
//! | `Orphan` (`kubectl delete --cascade=orphan`; the default of v1 ReplicationControllers and batch/v1 Jobs) | kept with the `orphan` finalizer | keep running: the collector removes their references to the owner, then the finalizer |
//!
//! A dependent with several owners stays while any of them exists: only the references to
//! the gone ones are removed.
//!
//! How it works, in Kubernetes' design: *monitors* ([`monitors`]) — shared informers of every
//! served kind — feed one task that keeps the dependency [`graph`] of all objects; changes in
//! the graph put objects on two work queues, whose workers ([`collector`]) decide with live
//! reads: a dependent is deleted only once the server confirms that none of its owners
//! exists. A reference to an owner in another namespace never resolves (owners are looked up
//! in the dependent's namespace); the collector reports it with an `OwnerRefInvalidNamespace`
//! Event and treats the owner as gone. Events are not watched (Kubernetes ignores them too).
//!
//! ```no_run
//! # fn wire(manager: &orchestra_controller::manager::Manager) {
//! use orchestra_controller::builtin::garbage_collector::{self, GarbageCollectorConfig};
//! garbage_collector::add_to(manager, GarbageCollectorConfig::default());
//! # }
//! ```

pub mod absent_owners;
pub mod collector;
pub mod graph;
pub mod monitors;

use std::sync::{Arc, Mutex};

use orchestra_api::{ResourceKind, kinds};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use self::absent_owners::AbsentOwners;
use self::collector::{Collector, KindTable, Outcome};
use self::graph::Graph;
use self::monitors::Monitor;
use crate::events::{Recorder, Reporter};
use crate::informer::HandlerRegistration;
use crate::manager::Manager;
use crate::workqueue::WorkQueue;

/// The controller's name, as kube-controller-manager knows it.
pub const CONTROLLER_NAME: &str = "garbage-collector-controller";

/// How the garbage collector runs.
#[derive(Debug, Clone)]
pub struct GarbageCollectorConfig {
    /// `--concurrent-gc-syncs`: workers for each of the two queues (20).
    pub workers: usize,
    /// The kinds whose objects can own and be owned: by default every built-in kind except
    /// Events, which Kubernetes' collector ignores. Add custom resources' kinds to collect
    /// them too (watched as `DynamicObject`s).
    pub kinds: Vec<ResourceKind>,
}

impl Default for GarbageCollectorConfig {
    fn default() -> Self {
        Self {
            workers: 20,
            kinds: kinds::BUILTIN
                .iter()
                .filter(|k| !is_ignored(k))
                .map(|k| (*k).clone())
                .collect(),
        }
    }
}

/// Kinds the collector never watches, as Kubernetes' `DefaultIgnoredResources`: events.
fn is_ignored(kind: &ResourceKind) -> bool {
    kind.plural == "events" && (kind.group.is_empty() || kind.group == "events.k8s.io")
}

/// Registers the garbage collector with `manager`: its informers join the manager's shared
/// ones, and it runs (and is restarted) as a supervised task.
pub fn add_to(manager: &Manager, config: GarbageCollectorConfig) {
    let watched: Vec<ResourceKind> = config
        .kinds
        .iter()
        .filter(|k| {
            !is_ignored(k)
                && k.verbs.contains(orchestra_api::kinds::Verbs::LIST)
                && k.verbs.contains(orchestra_api::kinds::Verbs::WATCH)
                && k.verbs.contains(orchestra_api::kinds::Verbs::DELETE)
        })
        .cloned()
        .collect();
    let factory = manager.factory().clone();
    let monitors: Arc<Vec<Box<dyn Monitor>>> = Arc::new(
        watched
            .iter()
            .map(|kind| monitors::monitor_for(&factory, kind))
            .collect(),
    );
    let client = Arc::clone(manager.client());
    let kinds = KindTable::new(&watched);
    let workers = config.workers.max(1);
    manager.add_task(CONTROLLER_NAME, move || {
        let run = Run {
            client: Arc::clone(&client),
            kinds: kinds.clone(),
            monitors: Arc::clone(&monitors),
            factory: factory.clone(),
            workers,
        };
        run.run()
    });
}

/// Removes the graph's handlers from the informers when a run ends, however it ends.
struct Registrations(Vec<HandlerRegistration>);

impl Drop for Registrations {
    fn drop(&mut self) {
        for registration in &self.0 {
            registration.remove();
        }
    }
}

/// One run of the collector: a fresh graph and fresh queues (a restarted collector rebuilds
/// its graph from the informers' caches).
struct Run {
    client: Arc<dyn orchestra_api::Client>,
    kinds: KindTable,
    monitors: Arc<Vec<Box<dyn Monitor>>>,
    factory: crate::informer::SharedInformerFactory,
    workers: usize,
}

impl Run {
    async fn run(self) {
        self.factory.start();
        let (events, mut incoming) = mpsc::unbounded_channel();
        let collector = Arc::new(Collector {
            client: Arc::clone(&self.client),
            kinds: self.kinds,
            graph: Mutex::new(Graph::new()),
            absent: Mutex::new(AbsentOwners::default()),
            graph_events: events.clone(),
            attempt_to_delete: WorkQueue::builder()
                .name("garbage_collector_attempt_to_delete")
                .build(),
            attempt_to_orphan: WorkQueue::builder()
                .name("garbage_collector_attempt_to_orphan")
                .build(),
            recorder: Recorder::new(Arc::clone(&self.client), Reporter::new(CONTROLLER_NAME)),
        });
        let registrations = Registrations(
            self.monitors
                .iter()
                .map(|monitor| monitor.attach(events.clone()))
                .collect(),
        );
        drop(events);

        let mut tasks = JoinSet::new();
        let builder = Arc::clone(&collector);
        tasks.spawn(async move {
            while let Some(event) = incoming.recv().await {
                builder.apply(event).await;
            }
        });
        // Decide only on a graph built from complete caches.
        for registration in &registrations.0 {
            if registration.wait_synced().await.is_err() {
                tracing::error!(
                    "an informer stopped before it synced; the garbage collector stops"
                );
                return;
            }
        }
        tracing::info!(
            kinds = self.monitors.len(),
            workers = self.workers,
            "garbage collector synced; starting workers"
        );
        for _ in 0..self.workers {
            let deleter = Arc::clone(&collector);
            tasks.spawn(async move {
                let queue = deleter.attempt_to_delete.clone();
                while let Some(uid) = queue.get().await {
                    let outcome = deleter.attempt_to_delete(&uid).await;
                    finish(&queue, uid, outcome);
                }
            });
            let orphaner = Arc::clone(&collector);
            tasks.spawn(async move {
                let queue = orphaner.attempt_to_orphan.clone();
                while let Some(uid) = queue.get().await {
                    let outcome = orphaner.attempt_to_orphan(&uid).await;
                    finish(&queue, uid, outcome);
                }
            });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Err(error) = joined
                && let Ok(panic) = error.try_into_panic()
            {
                // The supervisor restarts the collector with a fresh graph.
                std::panic::resume_unwind(panic);
            }
        }
        drop(registrations);
    }
}

fn finish(queue: &WorkQueue<String>, uid: String, outcome: Outcome) {
    match outcome {
        Outcome::Forget => queue.forget(&uid),
        Outcome::Requeue => queue.add_rate_limited(uid.clone()),
    }
    queue.done(&uid);
}
