//! The backends under test: each factory makes a fresh, empty store.

use std::any::Any;
use std::sync::Arc;

use futures::future::BoxFuture;
use orchestra_store::{DiskKv, EtcdKv, EtcdOptions, KvStore, LocalEtcd, MemoryKv};

/// A store under test, and what keeps it alive.
pub struct Backend {
    /// The store.
    pub store: Arc<dyn KvStore>,
    /// Opens another client to the same store (for etcd, a new connection).
    reconnect: Box<dyn Fn() -> BoxFuture<'static, Arc<dyn KvStore>> + Send + Sync>,
    /// Temp dirs and processes that must outlive the store.
    _guards: Vec<Box<dyn Any + Send + Sync>>,
}

impl Backend {
    /// Another client of the same store.
    pub async fn reconnect(&self) -> Arc<dyn KvStore> {
        (self.reconnect)().await
    }
}

/// A fresh `MemoryKv`.
pub async fn memory() -> Backend {
    let store: Arc<dyn KvStore> = Arc::new(MemoryKv::new());
    let again = store.clone();
    Backend {
        store,
        reconnect: Box::new(move || {
            let again = again.clone();
            Box::pin(async move { again })
        }),
        _guards: Vec::new(),
    }
}

/// A fresh `DiskKv` in a temp dir.
pub async fn disk() -> Backend {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store: Arc<dyn KvStore> = Arc::new(DiskKv::open(dir.path()).expect("DiskKv opens"));
    let again = store.clone();
    Backend {
        store,
        reconnect: Box::new(move || {
            let again = again.clone();
            Box::pin(async move { again })
        }),
        _guards: vec![Box::new(dir)],
    }
}

/// An `EtcdKv` against a fresh etcd started for this test.
pub async fn etcd() -> Backend {
    let etcd = LocalEtcd::start().await.unwrap_or_else(|error| {
        panic!("cannot start etcd for the EtcdKv conformance tests: {error}")
    });
    let endpoint = etcd.endpoint().to_string();
    let connect = move || {
        let endpoint = endpoint.clone();
        Box::pin(async move {
            let store = EtcdKv::connect(&[endpoint], EtcdOptions::default())
                .await
                .expect("EtcdKv connects");
            Arc::new(store) as Arc<dyn KvStore>
        }) as BoxFuture<'static, Arc<dyn KvStore>>
    };
    Backend {
        store: connect().await,
        reconnect: Box::new(connect),
        _guards: vec![Box::new(etcd)],
    }
}
