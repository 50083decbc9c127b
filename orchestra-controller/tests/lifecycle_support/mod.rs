//! What the namespace, garbage collector and ServiceAccount controller tests share: a
//! controller manager over an in-process server running the controllers a test registers,
//! typed objects from JSON, and waits on conditions.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use orchestra_api::{Api, Client, Object, PostParams, Served};
use orchestra_controller::manager::Manager;
use orchestra_store::LocalClient;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long any wait in these tests may take before it fails.
pub const WAIT: Duration = Duration::from_secs(8);

/// A controller manager running in the background; stopped when dropped.
pub struct Running {
    pub manager: Manager,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops the manager and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(WAIT, task).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Starts a manager over `client` with the controllers `register` adds, and waits until its
/// informers have synced.
pub async fn start(client: &Arc<LocalClient>, register: impl FnOnce(&Manager)) -> Running {
    let manager = Manager::builder(client.clone() as Arc<dyn Client>)
        .name("lifecycle-test")
        .build()
        .expect("manager");
    register(&manager);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn({
        let manager = manager.clone();
        async move {
            manager
                .run(async {
                    let _ = stopped.await;
                })
                .await;
        }
    });
    tokio::time::timeout(WAIT, manager.factory().wait_for_cache_sync())
        .await
        .expect("informers sync in time")
        .expect("informers sync");
    Running {
        manager,
        stop: Some(stop),
        task: Some(task),
    }
}

/// Waits until `check` answers `Some`; fails the test with `what` after [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    super::support::eventually_within(what, WAIT, check).await
}

/// A typed object from JSON.
pub fn typed<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("valid object")
}

/// The typed API of `K` in `namespace` (or cluster-wide).
pub fn api<K: Served>(client: &Arc<LocalClient>, namespace: Option<&str>) -> Api<K> {
    let client = client.clone() as Arc<dyn Client>;
    match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    }
}

/// Creates `object`; answers it as stored.
pub async fn create<K: Served>(
    client: &Arc<LocalClient>,
    namespace: Option<&str>,
    object: &K,
) -> Arc<K> {
    api::<K>(client, namespace)
        .create(&PostParams::default(), object)
        .await
        .unwrap_or_else(|status| panic!("create: {status:?}"))
}

/// An owner reference to `owner`.
pub fn owner_reference(owner: &dyn Object, block_owner_deletion: bool) -> OwnerReference {
    let meta = owner.metadata();
    OwnerReference {
        api_version: owner.api_version().into_owned(),
        kind: owner.kind().into_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: None,
        block_owner_deletion: Some(block_owner_deletion),
    }
}

/// Whether `name` of `K` exists in `namespace`.
pub async fn exists<K: Served>(
    client: &Arc<LocalClient>,
    namespace: Option<&str>,
    name: &str,
) -> bool {
    api::<K>(client, namespace)
        .get_opt(name)
        .await
        .expect("get")
        .is_some()
}
