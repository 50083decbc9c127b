//! # orchestra-controller
//!
//! The reconcile-loop runtime (informers with indexes, a shared informer factory, a
//! rate-limited work queue, the `Controller` builder, finalizers, Lease leader election and a
//! supervising `Manager`) and the built-in controllers, which use only that public runtime.
//!
//! [`informer`] keeps local, indexed caches of cluster objects current through list+watch
//! and tells event handlers what changed; a shared informer factory gives every controller of
//! a process the same informer per kind.
//!
//! [`workqueue`] holds the rate-limited, deduplicating queue of object keys between event
//! handlers and reconcile workers.

pub mod controller;
pub mod events;
pub mod finalizer;
pub mod informer;
pub mod leader_election;
pub mod workqueue;
