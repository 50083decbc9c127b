//! # orchestra-store
//!
//! The storage half of the API server: a `KvStore` trait with etcd's semantics (global
//! revisions, compare-and-swap, watch from a revision, compaction) and its backends, the
//! per-kind `WatchCache`, and the `Registry` that implements the Kubernetes object lifecycle
//! on top of them. `LocalClient` serves `orchestra_api::Client` in-process from here.
//!
//! The backends, watch cache and registry arrive with the object-store issue; this crate
//! currently only fixes its place in the workspace.
