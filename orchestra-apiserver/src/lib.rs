//! # orchestra-apiserver
//!
//! The Kubernetes REST surface over `orchestra-store`'s registries: routing and discovery
//! derived from `orchestra_api::kinds`, list/watch streaming, patch types, subresources, Table
//! output, authentication, RBAC, admission and TLS, so that the real `kubectl` drives it.
//!
//! The server arrives with the API-server issue; this crate currently only fixes its place in
//! the workspace.

pub mod bootstrap;
pub mod openapi;
pub mod rest;
pub mod server;

pub mod authn;
pub mod authz;
pub mod data_dir;
pub mod kubeconfig;
pub mod metrics;
pub mod pki;
pub mod protobuf;
pub mod serve;
