//! Integration tests of the node agent over an in-process API server, one binary for all:
//! the Node and its Lease, pods on a simulated node, restarts, static pods, volumes, a
//! runtime without events, and many agents in one process.

mod observed_runtime;
mod support;

mod node;
mod pods;
mod relist;
mod restart;
mod static_pods;
mod volumes;
