//! What the agent's integration tests share: an in-process API server over an in-memory
//! store, agents on simulated runtimes with short timings, pods, and waiting for a
//! condition with a deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use orchestra_api::k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use orchestra_api::{
    Api, ArcObject, Client, DeleteOutcome, DeleteParams, GetParams, ListParams, ObjectList, Patch,
    PatchParams, PostParams, ResourceKind, Status, StatusReason, Subresource, WatchParams,
    WatchStream, kinds,
};
use orchestra_node::{NodeAgent, NodeConfig, NodeError, SimRuntime};

use crate::observed_runtime::ObservedRuntime;
use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A fresh in-process server over an in-memory store, with the namespaces a cluster has.
pub async fn server() -> Arc<dyn Client> {
    let store = Store::open(
        Arc::new(MemoryKv::new()),
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        StoreConfig::default(),
    )
    .await
    .expect("the store opens");
    let client: Arc<dyn Client> = Arc::new(LocalClient::new(store));
    let namespaces = Api::<Namespace>::all(Arc::clone(&client));
    for name in ["default", "kube-system", "kube-node-lease"] {
        let mut ns = Namespace::default();
        ns.metadata.name = Some(name.to_owned());
        match namespaces.create(&PostParams::default(), &ns).await {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => panic!("creating namespace {name}: {e}"),
        }
    }
    client
}

/// A node configuration with timings short enough for tests.
pub fn fast_config(name: &str) -> NodeConfig {
    let mut config = NodeConfig::new(name);
    config.node_lease_renew_interval = Duration::from_millis(200);
    config.node_status_update_frequency = Duration::from_millis(200);
    config.node_status_report_frequency = Duration::from_secs(2);
    config.sync_frequency = Duration::from_secs(1);
    config.housekeeping_interval = Duration::from_millis(200);
    config.file_check_frequency = Duration::from_millis(200);
    config.crash_backoff_initial = Duration::from_millis(200);
    config.crash_backoff_max = Duration::from_secs(2);
    config
}

/// An agent running in a task.
pub struct RunningAgent {
    pub sim: SimRuntime,
    /// The runtime as the agent sees it, with its reads of each pod counted.
    pub runtime: Arc<ObservedRuntime>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), NodeError>>,
}

impl RunningAgent {
    /// Stops the agent and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .expect("the agent task does not panic")
            .expect("the agent stops cleanly");
    }
}

/// Starts an agent for `config` on `sim`.
pub fn start_agent(client: &Arc<dyn Client>, config: NodeConfig, sim: SimRuntime) -> RunningAgent {
    let runtime = Arc::new(ObservedRuntime::new(sim.clone()));
    let agent = NodeAgent::builder(Arc::clone(client), config)
        .runtime(runtime.clone())
        .prober(Arc::new(sim.clone()))
        .build()
        .expect("the agent builds");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(agent.run(async move {
        let _ = stopped.await;
    }));
    RunningAgent {
        sim,
        runtime,
        stop: Some(stop),
        task,
    }
}

/// Polls `check` until it answers `Some`, failing the test after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A pod from JSON, bound to `node`, in `default`.
pub fn pod(name: &str, node: &str, mut json: serde_json::Value) -> Pod {
    json["apiVersion"] = "v1".into();
    json["kind"] = "Pod".into();
    json["metadata"]["name"] = name.into();
    json["metadata"]["namespace"] = "default".into();
    json["spec"]["nodeName"] = node.into();
    serde_json::from_value(json).expect("a valid pod")
}

/// A pod with one `nginx` container and the given annotations.
pub fn simple_pod(name: &str, node: &str, annotations: &[(&str, &str)]) -> Pod {
    let annotations: serde_json::Map<String, serde_json::Value> = annotations
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).into()))
        .collect();
    pod(
        name,
        node,
        serde_json::json!({
            "metadata": {"annotations": annotations},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
        }),
    )
}

pub fn pods(client: &Arc<dyn Client>) -> Api<Pod> {
    Api::namespaced(Arc::clone(client), "default")
}

pub fn nodes(client: &Arc<dyn Client>) -> Api<Node> {
    Api::all(Arc::clone(client))
}

pub async fn create(client: &Arc<dyn Client>, pod: &Pod) -> Arc<Pod> {
    pods(client)
        .create(&PostParams::default(), pod)
        .await
        .expect("the pod is created")
}

/// The pod's phase.
pub fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

/// The status of one of the pod's conditions.
pub fn condition<'a>(pod: &'a Pod, type_: &str) -> Option<&'a str> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.as_str())
}

/// Waits until the pod satisfies `check`; answers it.
pub async fn wait_for_pod(
    client: &Arc<dyn Client>,
    name: &str,
    what: &str,
    timeout: Duration,
    check: impl Fn(&Pod) -> bool,
) -> Arc<Pod> {
    let api = pods(client);
    wait_for(&format!("pod {name}: {what}"), timeout, || {
        let api = api.clone();
        let found = async move { api.get_opt(name).await.ok().flatten() };
        let check = &check;
        async move { found.await.filter(|p| check(p)) }
    })
    .await
}

/// Waits until the pod is Running and Ready.
pub async fn wait_running_ready(client: &Arc<dyn Client>, name: &str) -> Arc<Pod> {
    wait_for_pod(
        client,
        name,
        "Running and Ready",
        Duration::from_secs(10),
        |p| phase(p) == Some("Running") && condition(p, "Ready") == Some("True"),
    )
    .await
}

/// A connection to the server that can be cut: while down, every request fails with 503.
pub struct Switch {
    inner: Arc<dyn Client>,
    up: AtomicBool,
}

impl Switch {
    /// A connection to `inner`, up or down.
    pub fn new(inner: &Arc<dyn Client>, up: bool) -> Arc<Self> {
        Arc::new(Self {
            inner: Arc::clone(inner),
            up: AtomicBool::new(up),
        })
    }

    /// Connects or cuts.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    fn pass(&self) -> Result<(), Status> {
        if self.up.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(Status::failure(StatusReason::ServiceUnavailable, "the link is cut").with_code(503))
        }
    }
}

#[async_trait]
impl Client for Switch {
    async fn get(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        params: &GetParams,
    ) -> Result<ArcObject, Status> {
        self.pass()?;
        self.inner.get(kind, namespace, name, params).await
    }
    async fn list(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList, Status> {
        self.pass()?;
        self.inner.list(kind, namespace, params).await
    }
    async fn watch(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        params: &WatchParams,
    ) -> Result<WatchStream, Status> {
        self.pass()?;
        self.inner.watch(kind, namespace, params).await
    }
    async fn create(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        self.pass()?;
        self.inner.create(kind, namespace, object, params).await
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
        self.pass()?;
        self.inner
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
        self.pass()?;
        self.inner
            .replace(kind, namespace, name, subresource, object, params)
            .await
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
        self.pass()?;
        self.inner
            .patch(kind, namespace, name, subresource, patch, params)
            .await
    }
    async fn get_subresource(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        subresource: Subresource,
    ) -> Result<ArcObject, Status> {
        self.pass()?;
        self.inner
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
        self.pass()?;
        self.inner.delete(kind, namespace, name, params).await
    }
    async fn delete_collection(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        list: &ListParams,
        params: &DeleteParams,
    ) -> Result<ObjectList, Status> {
        self.pass()?;
        self.inner
            .delete_collection(kind, namespace, list, params)
            .await
    }
}
