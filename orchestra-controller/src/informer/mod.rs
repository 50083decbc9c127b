//! Informers: local, indexed, always-current caches of cluster objects, and the events that
//! keep controllers informed of them.
//!
//! A controller must not ask the API server for everything it looks at on every reconcile;
//! it keeps a local copy of the objects it cares about, current through a watch, and reacts
//! to changes. This module is that machinery, in the layers of kube-runtime and client-go:
//!
//! - [`watcher`](mod@watcher) turns list+watch into one endless stream of [`Event`]s: it resumes from the
//!   last `resourceVersion` after a disconnect, lists again when the server answers 410,
//!   and backs off (800 ms → 30 s, with jitter) on errors. An object that a remote client
//!   could not decode into the kind's type is skipped, not fatal: the informer keeps it out
//!   of its cache and reports it once per `resourceVersion` with a `Warning` Event
//!   ([`undecodable`](mod@undecodable)).
//! - [`Cache`] holds the objects as `Arc<K>` — shared with the in-process client's watch
//!   cache, not copied — with [`Indexer`]s (by namespace, owner uid, node name, or any
//!   function); its [`Writer`] applies events and reports the [`Change`]s.
//! - [`Informer`] runs a watcher in a task, keeps a cache and notifies [`EventHandler`]s
//!   (`on_add`, `on_update`, `on_delete`), with optional periodic resync. A
//!   [`WorkQueue<ObjectKey>`](crate::workqueue::WorkQueue) is a handler, which is how
//!   controllers get their work.
//! - [`SharedInformerFactory`] hands out one informer per kind and namespace scope, so all
//!   the controllers of a process share one list+watch and one cache per kind.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use orchestra_api::{Client, kinds};
//! use orchestra_api::k8s_openapi::api::core::v1::Pod;
//! use orchestra_controller::informer::{NODE_NAME_INDEX, Indexer, SharedInformerFactory};
//! use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
//!
//! let store = Store::open(Arc::new(MemoryKv::new()), kinds::BUILTIN.iter().map(|k| (*k).clone()), StoreConfig::default())
//!     .await
//!     .unwrap();
//! let client: Arc<dyn Client> = Arc::new(LocalClient::new(store));
//!
//! let factory = SharedInformerFactory::new(client);
//! let pods = factory.informer::<Pod>();
//! pods.add_indexer(Indexer::node_name()).unwrap();
//! // Another controller asking for pods gets the same informer.
//! assert_eq!(factory.informer::<Pod>().cache().len(), pods.cache().len());
//! factory.start();
//! factory.wait_for_cache_sync().await.unwrap();
//! assert!(pods.cache().by_index(NODE_NAME_INDEX, "node-1").unwrap().is_empty());
//! factory.shutdown();
//! # }
//! ```

pub mod backoff;
pub mod cache;
pub mod factory;
pub mod handler;
pub mod index;
pub mod shared_informer;
pub mod undecodable;
pub mod watcher;

pub use self::backoff::Backoff;
pub use self::cache::{Cache, Change, ObjectKey, Stopped, Writer};
pub use self::factory::SharedInformerFactory;
pub use self::handler::{EventHandler, HandlerFns, HandlerRegistration};
pub use self::index::{
    IndexError, IndexFn, Indexer, NAMESPACE_INDEX, NODE_NAME_INDEX, OWNER_UID_INDEX,
};
pub use self::shared_informer::{Informer, InformerConfig};
pub use self::undecodable::FAILED_TO_DECODE;
pub use self::watcher::{
    Config as WatcherConfig, Error as WatcherError, Event, ListSemantic, watcher,
};
