//! # orchestra-node
//!
//! The node agent (kubelet) of Orchestra, and the interfaces it drives containers, networks
//! and volumes through.
//!
//! | module | what it is for |
//! |---|---|
//! | [`cri`] | the Container Runtime Interface as Rust traits and structs (`RuntimeService`, `ImageService`) |
//! | [`cni`] | the Container Network Interface (`NetworkPlugin`: ADD, CHECK, DEL, STATUS and the CNI result) |
//! | [`csi`] | the Container Storage Interface (`VolumePlugin`: node stage/publish, controller create/publish) |
//! | [`probe`] | liveness, readiness and startup probes (`Prober`, and Kubernetes' exec/TCP/HTTP prober) |
//! | [`sim`] | a simulated runtime, network and volume driver: thousands of nodes in one process |
//! | [`agent`] | the kubelet: [`NodeAgent`] and its [`NodeConfig`] |
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
