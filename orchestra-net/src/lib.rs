//! # orchestra-net
//!
//! The service proxy's rule compiler (Services and EndpointSlices to iptables-restore text,
//! nftables scripts and IPVS), its change tracking and applier, and cluster DNS for
//! `svc.cluster.local`.
//!
//! The compiler arrives with the service-proxy issue; this crate currently only fixes its place
//! in the workspace.
