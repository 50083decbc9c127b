//! # orchestra-sched
//!
//! The scheduling framework (one trait per extension point, profiles, a per-cycle state), the
//! default plugins with Kubernetes' semantics, the scheduling queue, node snapshot, preemption
//! and binding, plus a pure `simulate` entry point that needs no control plane.
//!
//! The framework arrives with the scheduler issue; this crate currently only fixes its place in
//! the workspace.
