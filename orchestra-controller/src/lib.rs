//! # orchestra-controller
//!
//! The reconcile-loop runtime (informers with indexes, a shared informer factory, a
//! rate-limited work queue, the `Controller` builder, finalizers, Lease leader election and a
//! supervising `Manager`) and the built-in controllers, which use only that public runtime.
//!
//! The runtime arrives with the controller issue; this crate currently only fixes its place in
//! the workspace.
//!
//! [`workqueue`] holds the rate-limited, deduplicating queue of object keys between event
//! handlers and reconcile workers.

pub mod workqueue;
