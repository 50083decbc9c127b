//! # orchestra-benches
//!
//! Criterion benchmarks (`cargo bench -p orchestra-benches`) and the scale harness. Each bench
//! file covers one crate's hot paths; the figures they produce are the ones quoted in the issue
//! notes, so every bench states the command that reproduces it in its module docs.
//!
//! This library holds the fixtures the benches share: realistic objects built the way a user
//! would write them.

pub mod fixtures;
pub mod sched_workloads;
