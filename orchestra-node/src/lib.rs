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
//! | [`clock`] | wall-clock time that moves with Tokio's (paused) clock |
#![forbid(unsafe_code)]

pub mod clock;
pub mod cni;
pub mod cri;
pub mod csi;
pub mod probe;
pub mod sim;
