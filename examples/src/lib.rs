//! # orchestra-examples
//!
//! Binaries that compose the Orchestra crates: `orchestra` (the all-in-one cluster and each
//! component as a subcommand) and small programs showing how to embed the scheduler, write a
//! scheduler plugin, write a controller and run a simulation.
//!
//! `orchestra apiserver`, `orchestra scheduler` and `orchestra simulate --trace DIR` (the
//! scheduler alone over a cluster trace) run today; `up` and the other components arrive with
//! the issues that build them.

pub mod cluster;
