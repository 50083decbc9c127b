//! # orchestra-controller
//!
//! The reconcile-loop runtime of Orchestra — what turns "the cluster should look like this"
//! into a process that makes it so — and the built-in controllers, which use only that
//! public runtime. A controller here is written as in kube-runtime: say which kind it
//! reconciles and which others it looks at, give a reconcile function that converges one
//! object, and run it; the runtime does the watching, caching, queueing, retrying and
//! supervising, with client-go's semantics.
//!
//! | module | what it is for |
//! |---|---|
//! | [`informer`] | local, indexed caches of cluster objects kept current by list+watch (resume, re-list on 410, back-off), event handlers, and a factory that shares one informer per kind across a process |
//! | [`workqueue`] | the rate-limited, deduplicating queue of object keys between handlers and workers: one worker per key, per-key back-off, metrics |
//! | [`controller`] | the `Controller` builder: triggers (own kind, owned children, watched kinds), workers, reconcile answers (`Action`), error policy (`Retry`), panic containment, metrics |
//! | [`finalizer`] | clean-up before deletion: add, run on `deletionTimestamp`, remove — with optimistic concurrency |
//! | [`events`] | core/v1 Events about objects, correlated like client-go's recorder (counts, aggregation, spam budget) |
//! | [`leader_election`] | one active replica among many, over a `coordination.k8s.io/v1` Lease |
//! | [`builtin`] | the controller manager's built-in controllers (ReplicaSet, Deployment, EndpointSlice, node lifecycle, namespace, garbage collector, …), written against the same public runtime |
//! | [`manager`] | runs and supervises controllers and informers, restarts panicking tasks, serves `/healthz`, `/readyz` and `/metrics` |
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use orchestra_api::{Api, Client, PostParams, Status, kinds};
//! use orchestra_api::k8s_openapi::api::core::v1::{ConfigMap, Pod};
//! use orchestra_controller::controller::{Action, Controller, backoff_on_error};
//! use orchestra_controller::manager::Manager;
//! use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
//! use tokio::sync::mpsc;
//!
//! let store = Store::open(Arc::new(MemoryKv::new()), kinds::BUILTIN.iter().map(|k| (*k).clone()), StoreConfig::default())
//!     .await
//!     .unwrap();
//! let client: Arc<dyn Client> = Arc::new(LocalClient::new(store));
//!
//! // A reconcile converges one object; here it only reports which config maps it saw.
//! async fn reconcile(cm: Arc<ConfigMap>, seen: Arc<mpsc::UnboundedSender<String>>) -> Result<Action, Status> {
//!     let _ = seen.send(cm.metadata.name.clone().unwrap_or_default());
//!     Ok(Action::await_change())
//! }
//!
//! let manager = Manager::builder(client.clone()).build().unwrap();
//! let (seen, mut saw) = mpsc::unbounded_channel();
//! manager.add(
//!     // Config maps, reconciled again when a pod they control changes.
//!     Controller::<ConfigMap>::new(manager.factory()).owns::<Pod>(),
//!     reconcile,
//!     backoff_on_error,
//!     Arc::new(seen),
//! );
//! let running = tokio::spawn({
//!     let manager = manager.clone();
//!     async move { manager.run(std::future::pending()).await }
//! });
//!
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("settings".into());
//! Api::<ConfigMap>::namespaced(client, "default").create(&PostParams::default(), &cm).await.unwrap();
//! assert_eq!(saw.recv().await.as_deref(), Some("settings"));
//! running.abort();
//! # }
//! ```

pub mod builtin;
pub mod controller;
pub mod events;
pub mod finalizer;
pub mod informer;
pub mod leader_election;
pub mod manager;
pub mod workqueue;
