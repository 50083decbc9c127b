//! # orchestra-examples
//!
//! Binaries that compose the Orchestra crates: `orchestra` (the all-in-one cluster and each
//! component as a subcommand) and small programs showing how to embed the scheduler, write a
//! scheduler plugin, write a controller and run a simulation.
//!
//! `orchestra apiserver` runs the API server today; `up`, the other components and the
//! embedding examples arrive with the issues that build them.
