//! What several test files share: the in-process server, and a `Link` to it that a test can
//! cut — every request, or only the requests of one kind — so that they fail at once (the
//! server answers 503) or hang (a network partition). A link also logs the successful Lease
//! writes that pass through it.

#![allow(dead_code)]

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use orchestra_api::k8s_openapi::api::coordination::v1::Lease;
use orchestra_api::{
    ArcObject, Client, DeleteOutcome, DeleteParams, GetParams, ListParams, ObjectList, Patch,
    PatchParams, PostParams, ResourceKind, Status, StatusReason, Subresource, WatchParams,
    WatchStream, kinds,
};
use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
use tokio::sync::watch;
use tokio::time::Instant;

/// Waits until `check` answers `Some`, checking every few milliseconds; fails the test with
/// `what` after `timeout`.
pub async fn eventually_within<T, F, Fut>(
    what: &str,
    timeout: std::time::Duration,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fresh in-process server over an in-memory store.
pub async fn server() -> Arc<LocalClient> {
    let store = Store::open(
        Arc::new(MemoryKv::new()),
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        StoreConfig::default(),
    )
    .await
    .expect("the store opens");
    Arc::new(LocalClient::new(store))
}

/// What a link does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Passes it on.
    Up,
    /// Fails it at once with 503.
    Failing,
    /// Never answers.
    Hanging,
}

/// Successful Lease writes: when, and the holder written.
pub type WriteLog = Arc<Mutex<Vec<(Instant, String)>>>;

/// One client's connection to the server.
pub struct Link {
    server: Arc<LocalClient>,
    /// The state, and the kind (plural) it applies to (`None`: every kind).
    state: watch::Sender<(LinkState, Option<String>)>,
    writes: WriteLog,
}

impl Link {
    pub fn new(server: &Arc<LocalClient>, writes: &WriteLog) -> Arc<Self> {
        Arc::new(Self {
            server: server.clone(),
            state: watch::channel((LinkState::Up, None)).0,
            writes: writes.clone(),
        })
    }

    /// Applies `state` to every request.
    pub fn set(&self, state: LinkState) {
        self.state.send_replace((state, None));
    }

    /// Applies `state` to the requests about `plural` only; the others pass.
    pub fn set_for(&self, plural: &str, state: LinkState) {
        self.state.send_replace((state, Some(plural.to_owned())));
    }

    async fn pass(&self, kind: &ResourceKind) -> Result<(), Status> {
        let (state, only) = self.state.borrow().clone();
        if only.is_some_and(|plural| plural != kind.plural) {
            return Ok(());
        }
        match state {
            LinkState::Up => Ok(()),
            LinkState::Failing => Err(Status::failure(
                StatusReason::ServiceUnavailable,
                "the link is cut",
            )
            .with_code(503)),
            LinkState::Hanging => std::future::pending().await,
        }
    }

    fn log_write(&self, kind: &ResourceKind, written: &Result<ArcObject, Status>) {
        if let (true, Ok(object)) = (kind.plural == "leases", written)
            && let Some(lease) = object.as_any().downcast_ref::<Lease>()
        {
            let holder = lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.clone())
                .unwrap_or_default();
            lock(&self.writes).push((Instant::now(), holder));
        }
    }
}

#[async_trait]
impl Client for Link {
    async fn get(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        params: &GetParams,
    ) -> Result<ArcObject, Status> {
        self.pass(kind).await?;
        self.server.get(kind, namespace, name, params).await
    }

    async fn list(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList, Status> {
        self.pass(kind).await?;
        self.server.list(kind, namespace, params).await
    }

    async fn watch(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        params: &WatchParams,
    ) -> Result<WatchStream, Status> {
        self.pass(kind).await?;
        self.server.watch(kind, namespace, params).await
    }

    async fn create(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        object: ArcObject,
        params: &PostParams,
    ) -> Result<ArcObject, Status> {
        self.pass(kind).await?;
        let written = self.server.create(kind, namespace, object, params).await;
        self.log_write(kind, &written);
        written
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
        self.pass(kind).await?;
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
        self.pass(kind).await?;
        let written = self
            .server
            .replace(kind, namespace, name, subresource, object, params)
            .await;
        self.log_write(kind, &written);
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
        self.pass(kind).await?;
        self.server
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
        self.pass(kind).await?;
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
        self.pass(kind).await?;
        self.server.delete(kind, namespace, name, params).await
    }

    async fn delete_collection(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        list: &ListParams,
        params: &DeleteParams,
    ) -> Result<ObjectList, Status> {
        self.pass(kind).await?;
        self.server
            .delete_collection(kind, namespace, list, params)
            .await
    }
}
