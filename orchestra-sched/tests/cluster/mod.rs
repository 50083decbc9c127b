//! An in-process cluster for the scheduler's integration tests: a store served through
//! orchestra-store's `LocalClient`, the `Scheduler` running against it, and waits for an
//! object to reach a condition, driven by a watch on that object (no polling), bounded by a
//! timeout.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use orchestra_api::{Api, Client, ListParams, Object, WatchEvent, WatchParams, kinds};
use orchestra_sched::Scheduler;
use orchestra_sched::config::KubeSchedulerConfiguration;
use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

/// How long a test waits for the cluster to reach a state before failing.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A fresh in-memory store with the built-in kinds, and a client of it.
pub async fn client() -> Arc<dyn Client> {
    let store = Store::open(
        Arc::new(MemoryKv::new()),
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        StoreConfig::default(),
    )
    .await
    .expect("store");
    Arc::new(LocalClient::new(store))
}

/// A scheduler running in the background.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops the scheduler and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(PATIENCE, self.task).await;
    }
}

/// Starts `scheduler` on a task of its own.
pub fn start(scheduler: Scheduler) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        scheduler
            .run(async {
                let _ = stopped.await;
            })
            .await
            .expect("valid configuration");
    });
    Running {
        stop: Some(stop),
        task,
    }
}

/// Starts the scheduler of `config` over `client`.
pub fn start_scheduler(client: Arc<dyn Client>, config: KubeSchedulerConfiguration) -> Running {
    start(Scheduler::new(client, config))
}

/// Waits until `condition` holds for the object `name` (`None` once it does not exist) and
/// returns the object at that moment; fails the test after [`PATIENCE`].
pub async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    condition: impl Fn(Option<&K>) -> bool,
) -> Option<Arc<K>>
where
    K: Object + DeserializeOwned + Send + Sync + 'static,
{
    let waiting = async {
        let by_name = format!("metadata.name={name}");
        let list = api
            .list(&ListParams::default().fields(by_name.clone()))
            .await
            .expect("list");
        let mut current = list.items.into_iter().next();
        if condition(current.as_deref()) {
            return current;
        }
        let params = WatchParams {
            field_selector: Some(by_name),
            resource_version: Some(list.resource_version),
            ..WatchParams::default()
        };
        let mut events = api.watch(&params).await.expect("watch");
        while let Some(event) = events.next().await {
            match event {
                WatchEvent::Added(object) | WatchEvent::Modified(object) => current = Some(object),
                WatchEvent::Deleted(_) => current = None,
                WatchEvent::Bookmark(_) => continue,
                WatchEvent::Error(status) => {
                    panic!("watch failed while waiting for {what}: {status:?}")
                }
            }
            if condition(current.as_deref()) {
                return current;
            }
        }
        panic!("the watch ended while waiting for {what}");
    };
    match tokio::time::timeout(PATIENCE, waiting).await {
        Ok(object) => object,
        Err(_) => panic!("timed out after {PATIENCE:?} waiting for {what}"),
    }
}
