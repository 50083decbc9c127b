//! What the ReplicaSet and Deployment controller tests share: a controller manager running
//! the workload controllers over an in-process server, a client that can refuse pod
//! creations, hold back pod watch events and count writes, a simulated kubelet that marks
//! pods ready, and waits on conditions.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use orchestra_api::k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodTemplateSpec};
use orchestra_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use orchestra_api::{
    Api, ArcObject, Client, DeleteOutcome, DeleteParams, GetParams, ListParams, ObjectList, Patch,
    PatchParams, PostParams, ResourceKind, Status, Subresource, WatchEvent, WatchParams,
    WatchStream,
};
use orchestra_controller::builtin::{deployment, replicaset};
use orchestra_controller::manager::Manager;
use orchestra_store::LocalClient;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long any wait in these tests may take before it fails.
pub const WAIT: Duration = Duration::from_secs(30);

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A pod template running one container of `image`, labelled `labels`.
pub fn template(labels: BTreeMap<String, String>, image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "web".into(),
                image: Some(image.into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
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

/// Every pod in `namespace` (from the server, not a cache).
pub async fn pods(client: &Arc<dyn Client>, namespace: &str) -> Vec<Arc<Pod>> {
    Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .expect("pods list")
        .items
}

/// Marks a pod `Running` and `Ready` (since now), as its kubelet would.
pub async fn mark_ready(
    client: &Arc<dyn Client>,
    namespace: &str,
    name: &str,
) -> Result<(), Status> {
    let now = jiff::Timestamp::now();
    let since = jiff::Timestamp::from_second(now.as_second()).unwrap_or(now);
    let patch = Patch::Merge(json!({
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": since.to_string()}],
        }
    }));
    Api::<Pod>::namespaced(client.clone(), namespace)
        .patch_status(name, &PatchParams::default(), &patch)
        .await
        .map(|_| ())
}

/// A simulated kubelet: marks every pod of `namespace` for which `ready_if` holds ready as
/// soon as it appears. Stops when dropped.
pub struct Kubelet(JoinHandle<()>);

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Kubelet {
    pub fn start(
        client: Arc<dyn Client>,
        namespace: &str,
        ready_if: impl Fn(&Pod) -> bool + Send + 'static,
    ) -> Self {
        let namespace = namespace.to_owned();
        Self(tokio::spawn(async move {
            let api = Api::<Pod>::namespaced(client.clone(), &namespace);
            let mut events = api
                .watch(&WatchParams::default())
                .await
                .expect("the kubelet watches pods");
            while let Some(event) = events.next().await {
                let pod = match event {
                    WatchEvent::Added(pod) | WatchEvent::Modified(pod) => pod,
                    _ => continue,
                };
                let ready = orchestra_controller::builtin::pod_state::is_ready(&pod);
                if ready || pod.metadata.deletion_timestamp.is_some() || !ready_if(&pod) {
                    continue;
                }
                let name = pod.metadata.name.clone().unwrap_or_default();
                // A pod deleted meanwhile is no error for a kubelet.
                let _ = mark_ready(&client, &namespace, &name).await;
            }
        }))
    }
}

/// A controller manager with the ReplicaSet and Deployment controllers, running in a task.
pub struct RunningManager {
    pub manager: Manager,
    task: Option<JoinHandle<()>>,
}

impl RunningManager {
    pub fn start(client: Arc<dyn Client>) -> Self {
        let manager = Manager::builder(client).build().expect("a manager");
        replicaset::add_to(&manager, replicaset::ReplicaSetConfig::default());
        deployment::add_to(&manager, deployment::DeploymentConfig::default());
        let task = tokio::spawn({
            let manager = manager.clone();
            async move { manager.run(std::future::pending()).await }
        });
        Self {
            manager,
            task: Some(task),
        }
    }

    /// Kills the manager: its task is aborted mid-flight, as a crashed process would stop.
    pub async fn kill(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        self.manager.factory().shutdown();
    }
}

impl Drop for RunningManager {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
        self.manager.factory().shutdown();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A client in front of the server that counts writes, can refuse pod creations and can
/// hold back pod watch events (an informer lagging behind the server).
pub struct Interposer {
    server: Arc<LocalClient>,
    refusal: Mutex<Option<Status>>,
    pod_events_flow: watch::Sender<bool>,
    pub pod_creates: AtomicUsize,
    pub pod_deletes: AtomicUsize,
    status_writes: Mutex<BTreeMap<String, usize>>,
}

impl Interposer {
    pub fn new(server: &Arc<LocalClient>) -> Arc<Self> {
        Arc::new(Self {
            server: server.clone(),
            refusal: Mutex::new(None),
            pod_events_flow: watch::channel(true).0,
            pod_creates: AtomicUsize::new(0),
            pod_deletes: AtomicUsize::new(0),
            status_writes: Mutex::new(BTreeMap::new()),
        })
    }

    /// Refuses every pod creation with `status` (`None`: accepts them again).
    pub fn refuse_pod_creations(&self, status: Option<Status>) {
        *lock(&self.refusal) = status;
    }

    /// Holds back (`false`) or releases (`true`) the events of pod watches.
    pub fn let_pod_events_flow(&self, flow: bool) {
        self.pod_events_flow.send_replace(flow);
    }

    /// Status writes of `plural` so far.
    pub fn status_writes(&self, plural: &str) -> usize {
        lock(&self.status_writes).get(plural).copied().unwrap_or(0)
    }

    fn count_status_write(&self, kind: &ResourceKind, subresource: Option<Subresource>) {
        if subresource == Some(Subresource::Status) {
            *lock(&self.status_writes)
                .entry(kind.plural.to_string())
                .or_default() += 1;
        }
    }
}

#[async_trait]
impl Client for Interposer {
    async fn get(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        params: &GetParams,
    ) -> Result<ArcObject, Status> {
        self.server.get(kind, namespace, name, params).await
    }

    async fn list(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList, Status> {
        self.server.list(kind, namespace, params).await
    }

    async fn watch(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        params: &WatchParams,
    ) -> Result<WatchStream, Status> {
        let stream = self.server.watch(kind, namespace, params).await?;
        if kind.plural != "pods" {
            return Ok(stream);
        }
        let flow = self.pod_events_flow.subscribe();
        Ok(stream
            .then(move |event| {
                let mut flow = flow.clone();
                async move {
                    let _ = flow.wait_for(|flowing| *flowing).await;
                    event
                }
            })
            .boxed())
    }

    async fn create(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        if kind.plural == "pods" {
            self.pod_creates.fetch_add(1, Ordering::SeqCst);
            if let Some(refusal) = lock(&self.refusal).clone() {
                return Err(refusal);
            }
        }
        self.server.create(kind, namespace, object, params).await
    }

    async fn create_subresource(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Subresource,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        self.server
            .create_subresource(kind, namespace, name, subresource, object, params)
            .await
    }

    async fn replace(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        let written = self
            .server
            .replace(kind, namespace, name, subresource, object, params)
            .await;
        if written.is_ok() {
            self.count_status_write(kind, subresource);
        }
        written
    }

    async fn patch(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<ArcObject, Status> {
        let written = self
            .server
            .patch(kind, namespace, name, subresource, patch, params)
            .await;
        if written.is_ok() {
            self.count_status_write(kind, subresource);
        }
        written
    }

    async fn get_subresource(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Subresource,
    ) -> Result<ArcObject, Status> {
        self.server
            .get_subresource(kind, namespace, name, subresource)
            .await
    }

    async fn delete(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        params: &DeleteParams,
    ) -> Result<DeleteOutcome, Status> {
        if kind.plural == "pods" {
            self.pod_deletes.fetch_add(1, Ordering::SeqCst);
        }
        self.server.delete(kind, namespace, name, params).await
    }

    async fn delete_collection(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        list: &ListParams,
        params: &DeleteParams,
    ) -> Result<ObjectList, Status> {
        self.server
            .delete_collection(kind, namespace, list, params)
            .await
    }
}
