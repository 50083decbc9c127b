//! # orchestra-client
//!
//! `HttpClient`: `orchestra_api::Client` over HTTPS with a kubeconfig, so every component can
//! run in another process or on another machine than the API server.
//!
//! The client arrives with the API-server issue; this crate currently only fixes its place in
//! the workspace.
