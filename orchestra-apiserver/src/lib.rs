//! # orchestra-apiserver
//!
//! The Kubernetes API server in front of `orchestra-store`, driven by the real `kubectl`. Each
//! module is one layer of the request path or of the process:
//!
//! | module | job |
//! |---|---|
//! | [`serve`] | HTTPS listener (rustls, HTTP/2 and 1.1), per-connection authentication, graceful shutdown |
//! | [`authn`] / [`authz`] | who sent a request (client certificates) and whether they may (the slot RBAC fills) |
//! | [`metrics`] | `/metrics`: request counts and latency, open watches, store latency |
//! | [`rest`] | every served kind on Kubernetes' paths: CRUD, list/watch, patches, subresources, discovery, Tables |
//! | [`protobuf`] / [`openapi`] | Kubernetes protobuf bodies; `/openapi/v2` and `/openapi/v3` documents |
//! | [`bootstrap`] | the objects a new cluster has (system namespaces, the `kubernetes` Service, PriorityClasses) |
//! | [`pki`] / [`kubeconfig`] / [`data_dir`] | the CA and certificates, the admin kubeconfig, the data-dir lock |
//! | [`server`] | all of it as one process: `orchestra apiserver` and `orchestra up` start it through [`server::start`] |
//!
//! ```no_run
//! use orchestra_apiserver::serve::termination_signal;
//! use orchestra_apiserver::server::{start, ApiServerConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ApiServerConfig::new("/var/lib/orchestra", "127.0.0.1:6443".parse()?);
//! let server = start(config, Box::pin(termination_signal())).await?;
//! println!("kubectl --kubeconfig {}", server.kubeconfig.display());
//! server.handle.wait().await?; // until SIGTERM
//! # Ok(())
//! # }
//! ```

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
