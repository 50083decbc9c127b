//! # orchestra-node
//!
//! The node agent (kubelet): registration, Lease heartbeat, pod workers, probes and status,
//! over CRI-shaped (`RuntimeService`, `ImageService`), CNI-shaped (`NetworkPlugin`) and
//! CSI-shaped (`VolumePlugin`) traits with simulated and process runtimes.
//!
//! The agent arrives with the first-cluster issue; this crate currently only fixes its place in
//! the workspace.
