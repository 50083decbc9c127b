//! # orchestra-node
//!
//! The node agent of Orchestra — Kubernetes' kubelet — and the interfaces it drives
//! containers, networks and volumes through.
//!
//! A [`NodeAgent`] makes one node of a cluster: it registers its Node and keeps it `Ready`
//! with a Lease heartbeat and status reports, watches the pods bound to it, and runs them
//! through a CRI runtime — sandbox and network first, then init containers one by one,
//! then the app containers — restarting them under their restart policy with crash
//! back-off, probing them, reporting their status, and stopping them gracefully when they
//! are deleted. The runtime is anything that implements [`cri::RuntimeService`] and
//! [`cri::ImageService`]; [`SimRuntime`] simulates containers so cheaply that one process
//! hosts thousands of nodes (each agent costs about 120 KiB and almost no CPU when idle).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use orchestra_api::{Api, Client, PostParams, kinds};
//! use orchestra_api::k8s_openapi::api::core::v1::Pod;
//! use orchestra_node::{NodeAgent, NodeConfig, SimRuntime};
//! use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
//!
//! let store = Store::open(Arc::new(MemoryKv::new()), kinds::BUILTIN.iter().map(|k| (*k).clone()), StoreConfig::default())
//!     .await
//!     .unwrap();
//! let client: Arc<dyn Client> = Arc::new(LocalClient::new(store));
//!
//! // One simulated node, until `stop` is sent.
//! let agent = NodeAgent::builder(client.clone(), NodeConfig::new("node-1"))
//!     .sim(SimRuntime::new())
//!     .build()
//!     .unwrap();
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let running = tokio::spawn(agent.run(async { let _ = stopped.await; }));
//!
//! // A pod bound to the node (as the scheduler would) runs there.
//! let pod: Pod = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "web", "namespace": "default"},
//!     "spec": {"nodeName": "node-1", "containers": [{"name": "nginx", "image": "nginx:1.27"}]}
//! })).unwrap();
//! let pods = Api::<Pod>::namespaced(client, "default");
//! pods.create(&PostParams::default(), &pod).await.unwrap();
//! let phase = loop {
//!     let pod = pods.get("web").await.unwrap();
//!     match pod.status.as_ref().and_then(|s| s.phase.clone()) {
//!         Some(phase) if phase == "Running" => break phase,
//!         _ => tokio::time::sleep(Duration::from_millis(10)).await,
//!     }
//! };
//! assert_eq!(phase, "Running");
//! stop.send(()).unwrap();
//! running.await.unwrap().unwrap();
//! # }
//! ```
//!
//! | module | what it is for |
//! |---|---|
//! | [`agent`] | [`NodeAgent`] and its builder: what runs, and how it starts and stops |
//! | [`config`] | [`NodeConfig`]: resources, labels, taints, and the kubelet's timings |
//! | [`cri`] | the Container Runtime Interface as Rust traits and structs (`RuntimeService`, `ImageService`) |
//! | [`cni`] | the Container Network Interface (`NetworkPlugin`: ADD, CHECK, DEL, STATUS and the CNI result) |
//! | [`csi`] | the Container Storage Interface (`VolumePlugin`: node stage/publish, controller create/publish) |
//! | [`probe`] | liveness, readiness and startup probes (`Prober`, and Kubernetes' exec/TCP/HTTP prober) |
//! | [`sim`] | a simulated runtime, network and volume driver; [`sim::behaviour`] lists the pod annotations that steer it |
//! | [`node_status`], [`node_lease`] | registration, node status and conditions, the Lease heartbeat |
//! | [`pod_manager`], [`admission`] | the pods the agent is responsible for, and whether the node takes them |
//! | [`runtime_manager`], [`runtime_pod`] | from pod spec to CRI calls, and the runtime's view of a pod |
//! | [`pod_status`], [`probe_manager`], [`crash_backoff`] | pod status generation, probe bookkeeping, restart back-off |
//! | [`static_pods`] | pods from manifest files, mirrored to the API |
//! | [`clock`] | wall-clock time that moves with Tokio's (paused) clock |
#![forbid(unsafe_code)]

pub mod admission;
pub mod agent;
pub mod clock;
pub mod cni;
pub mod config;
pub mod crash_backoff;
pub mod cri;
pub mod csi;
pub mod error;
mod kubelet;
pub mod node_lease;
pub mod node_status;
pub mod pod_manager;
pub mod pod_status;
mod pod_workers;
pub mod probe;
pub mod probe_manager;
pub mod runtime_manager;
pub mod runtime_pod;
pub mod sim;
pub mod static_pods;
mod status_manager;
mod volume_manager;

pub use agent::{NodeAgent, NodeAgentBuilder};
pub use config::NodeConfig;
pub use error::NodeError;
pub use sim::SimRuntime;
