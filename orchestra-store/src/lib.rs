//! # orchestra-store
//!
//! The storage half of the API server. This crate holds the [`KvStore`] trait, a key-value
//! store with etcd v3's semantics (global revisions, compare-and-swap on `mod_revision`, range
//! at a revision with paging, watch from a revision, compaction), and its three backends:
//!
//! | backend | for | durability |
//! |---|---|---|
//! | [`MemoryKv`] | tests, simulations | none |
//! | [`DiskKv`] (the default) | one machine | embedded (redb); fsync before every acknowledgement, concurrent writes grouped into one commit |
//! | [`EtcdKv`] | many machines | a real etcd cluster |
//!
//! The same conformance suite (`tests/conformance`) runs against all three. [`LocalEtcd`]
//! starts a throwaway etcd for tests and benchmarks.
//!
//! On top of it: the per-kind [`WatchCache`]; the [`Registry`], the Kubernetes object
//! lifecycle with the built-in admission plugins (`NamespaceLifecycle`, `ServiceAccount`,
//! `Priority`, `DefaultTolerationSeconds`, see [`registry::admission`]); the objects every new
//! store holds ([`bootstrap`]); and the in-process [`LocalClient`].
//!
//! ```
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use futures::StreamExt;
//! use orchestra_store::{KvStore, MemoryKv, RangeRequest, WatchRequest};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> orchestra_store::Result<()> {
//! let store: Arc<dyn KvStore> = Arc::new(MemoryKv::new());
//! let start = store.current_revision().await? + 1;
//! let mut watch = store.watch(WatchRequest::prefix("/registry/pods/").from_revision(start)).await?;
//!
//! let pod = store.create(Bytes::from("/registry/pods/default/web"), Bytes::from("{}")).await?;
//! let listed = store.range(RangeRequest::prefix("/registry/pods/").limit(500)).await?;
//! assert_eq!(listed.kvs, vec![pod.clone()]);
//!
//! let batch = watch.next().await.expect("the create's batch")?;
//! assert_eq!(batch.revision, pod.mod_revision);
//! # Ok(()) }
//! ```

pub mod bootstrap;
mod compaction;
pub mod disk;
pub mod etcd;
mod event_log;
mod key_index;
pub mod kv;
pub mod local_client;
pub mod local_etcd;
pub mod memory;
pub mod registry;
pub mod store;
pub mod watch_cache;

pub use bytes::{self, Bytes};
pub use disk::{DiskKv, DiskOptions, DiskStats};
pub use etcd::{EtcdKv, EtcdOptions};
pub use kv::{
    DEFAULT_MAX_VALUE_SIZE, KeyValue, KvStore, Limits, RangeRequest, RangeResponse, Result,
    Revision, StoreError, WatchBatch, WatchEvent, WatchRequest, WatchStream,
};
pub use local_client::LocalClient;
pub use local_etcd::{LocalEtcd, LocalEtcdError};
pub use memory::{MemoryKv, MemoryOptions};
pub use registry::Registry;
pub use registry::admission::AdmissionConfig;
pub use store::{Store, StoreConfig};
pub use watch_cache::WatchCache;
