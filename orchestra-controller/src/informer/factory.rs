//! The shared informer factory: one informer per kind and namespace scope for a whole
//! process, as client-go's `SharedInformerFactory`.
//!
//! Every controller asks the factory for the informers it needs; the first request for a
//! kind creates the informer and later ones get the same one, so ten controllers watching
//! pods cost one list+watch and one cache. [`start`](SharedInformerFactory::start) starts the
//! informers created so far (call it again after requesting more);
//! [`wait_for_cache_sync`](SharedInformerFactory::wait_for_cache_sync) waits until all of
//! them have synced; [`shutdown`](SharedInformerFactory::shutdown) stops them.
//!
//! Informers are keyed by kind (group, version, kind), namespace scope and the Rust type the
//! objects are read as: a `Pod` informer and a `DynamicObject` informer of pods are two
//! informers.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use orchestra_api::{Client, kinds};
//! use orchestra_api::k8s_openapi::api::apps::v1::ReplicaSet;
//! use orchestra_api::k8s_openapi::api::core::v1::Pod;
//! use orchestra_controller::informer::SharedInformerFactory;
//! use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
//!
//! let store = Store::open(Arc::new(MemoryKv::new()), kinds::BUILTIN.iter().map(|k| (*k).clone()), StoreConfig::default())
//!     .await
//!     .unwrap();
//! let client: Arc<dyn Client> = Arc::new(LocalClient::new(store));
//! let factory = SharedInformerFactory::new(client);
//!
//! // The ReplicaSet controller and the garbage collector both want pods: one informer.
//! let for_replicasets = factory.informer::<Pod>();
//! let for_gc = factory.informer::<Pod>();
//! let _replicasets = factory.informer::<ReplicaSet>();
//! assert_eq!(factory.len(), 2);
//!
//! factory.start();
//! factory.wait_for_cache_sync().await.unwrap();
//! assert!(for_replicasets.has_synced() && for_gc.has_synced());
//! factory.shutdown();
//! # }
//! ```

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::future::BoxFuture;
use orchestra_api::{Client, Object, ResourceKind, Served};
use serde::de::DeserializeOwned;

use super::cache::Stopped;
use super::shared_informer::{Informer, InformerConfig};
use crate::events::Recorder;

/// What identifies a shared informer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct InformerKey {
    group: String,
    version: String,
    kind: String,
    namespace: Option<String>,
    type_id: TypeId,
}

/// An informer without its object type, for starting, stopping and waiting.
trait AnyInformer: Send + Sync {
    fn start(&self);
    fn stop(&self);
    fn has_synced(&self) -> bool;
    fn wait_synced(&self) -> BoxFuture<'static, Result<(), Stopped>>;
    fn set_recorder(&self, recorder: Recorder);
}

impl<K: Object + DeserializeOwned> AnyInformer for Informer<K> {
    fn start(&self) {
        Informer::start(self);
    }
    fn stop(&self) {
        Informer::stop(self);
    }
    fn has_synced(&self) -> bool {
        Informer::has_synced(self)
    }
    fn wait_synced(&self) -> BoxFuture<'static, Result<(), Stopped>> {
        let informer = self.clone();
        Box::pin(async move { informer.wait_synced().await })
    }
    fn set_recorder(&self, recorder: Recorder) {
        Informer::set_recorder(self, recorder);
    }
}

struct Entry {
    /// The `Informer<K>`, to hand out typed.
    typed: Box<dyn Any + Send + Sync>,
    /// The same informer, to start and stop.
    erased: Arc<dyn AnyInformer>,
    started: bool,
}

struct Inner {
    client: Arc<dyn Client>,
    namespace: Option<String>,
    config: InformerConfig,
    informers: Mutex<HashMap<InformerKey, Entry>>,
    /// Given to every informer, for the objects they cannot decode.
    recorder: Mutex<Option<Recorder>>,
}

/// Hands out one shared [`Informer`] per kind and namespace scope. Cheap to clone; every
/// clone is the same factory. See the [module documentation](self).
#[derive(Clone)]
pub struct SharedInformerFactory {
    inner: Arc<Inner>,
}

impl fmt::Debug for SharedInformerFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedInformerFactory")
            .field("namespace", &self.inner.namespace)
            .field("informers", &self.len())
            .finish()
    }
}

impl SharedInformerFactory {
    /// A factory of informers across all namespaces, with the default configuration.
    pub fn new(client: Arc<dyn Client>) -> Self {
        Self::with_config(client, None, InformerConfig::default())
    }

    /// A factory whose informers watch `namespace` (or all namespaces with `None`) and are
    /// configured by `config` (selectors, paging, back-off, default resync).
    pub fn with_config(
        client: Arc<dyn Client>,
        namespace: Option<&str>,
        config: InformerConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                namespace: namespace.filter(|ns| !ns.is_empty()).map(str::to_owned),
                config,
                informers: Mutex::new(HashMap::new()),
                recorder: Mutex::new(None),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<InformerKey, Entry>> {
        self.inner
            .informers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The shared informer of `K` in the factory's namespace scope.
    pub fn informer<K: Served>(&self) -> Informer<K> {
        let namespace = self.inner.namespace.clone();
        self.informer_for(K::resource_kind(), namespace.as_deref())
    }

    /// The shared informer of `K` in `namespace`, whatever the factory's scope.
    pub fn namespaced_informer<K: Served>(&self, namespace: &str) -> Informer<K> {
        self.informer_for(K::resource_kind(), Some(namespace))
    }

    /// The shared informer of `kind` read as `K` (e.g. a custom resource as
    /// `DynamicObject`), in `namespace` or across the cluster.
    pub fn informer_for<K: Object + DeserializeOwned>(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
    ) -> Informer<K> {
        let namespace = namespace
            .filter(|ns| !ns.is_empty() && kind.is_namespaced())
            .map(str::to_owned);
        let key = InformerKey {
            group: kind.group.to_string(),
            version: kind.version.to_string(),
            kind: kind.kind.to_string(),
            namespace,
            type_id: TypeId::of::<K>(),
        };
        let mut informers = self.lock();
        if let Some(informer) = informers
            .get(&key)
            .and_then(|entry| entry.typed.downcast_ref::<Informer<K>>())
        {
            return informer.clone();
        }
        let informer = Informer::<K>::new(
            Arc::clone(&self.inner.client),
            kind.clone(),
            key.namespace.as_deref(),
            self.inner.config.clone(),
        );
        if let Some(recorder) = self.recorder() {
            informer.set_recorder(recorder);
        }
        informers.insert(
            key,
            Entry {
                typed: Box::new(informer.clone()),
                erased: Arc::new(informer.clone()),
                started: false,
            },
        );
        informer
    }

    /// Makes every informer of this factory, those handed out so far and those to come,
    /// report the objects it cannot decode through `recorder` (see
    /// [`Informer::set_recorder`]). A [`Manager`](crate::manager::Manager) gives its factory
    /// the manager's recorder unless it has one.
    pub fn set_recorder(&self, recorder: Recorder) {
        *self
            .inner
            .recorder
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(recorder.clone());
        for entry in self.lock().values() {
            entry.erased.set_recorder(recorder.clone());
        }
    }

    /// The recorder given with [`set_recorder`](Self::set_recorder), if any.
    pub fn recorder(&self) -> Option<Recorder> {
        self.inner
            .recorder
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many informers the factory has handed out.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the factory has handed out no informer yet.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Starts every informer handed out so far that is not running yet. Must be called
    /// within a Tokio runtime.
    pub fn start(&self) {
        for entry in self.lock().values_mut() {
            if !entry.started {
                entry.erased.start();
                entry.started = true;
            }
        }
    }

    /// Whether every started informer has synced.
    pub fn has_synced(&self) -> bool {
        self.lock()
            .values()
            .filter(|entry| entry.started)
            .all(|entry| entry.erased.has_synced())
    }

    /// Waits until every informer started so far has synced; [`Stopped`] if one stopped
    /// first. Bound it with `tokio::time::timeout`.
    pub async fn wait_for_cache_sync(&self) -> Result<(), Stopped> {
        let waits: Vec<_> = self
            .lock()
            .values()
            .filter(|entry| entry.started)
            .map(|entry| entry.erased.wait_synced())
            .collect();
        for wait in waits {
            wait.await?;
        }
        Ok(())
    }

    /// Stops every informer. Their caches keep their last state; the factory hands out the
    /// same, stopped, informers afterwards.
    pub fn shutdown(&self) {
        for entry in self.lock().values() {
            entry.erased.stop();
        }
    }
}
