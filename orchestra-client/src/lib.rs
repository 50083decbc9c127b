//! # orchestra-client
//!
//! [`HttpClient`]: the `orchestra_api::Client` trait over HTTPS, so that every component —
//! controllers, the scheduler, a node agent, your own program — can run in another process or
//! on another machine than the API server, with exactly the code it runs in-process over the
//! store's `LocalClient`. It speaks Kubernetes' REST API, so it also works against a real
//! Kubernetes API server.
//!
//! * **Configuration** from kubeconfig files ([`kubeconfig`]): the server, the CA to trust
//!   (or `insecure-skip-tls-verify`, or the system's roots), `tls-server-name`, a client
//!   certificate and key or a bearer token, each embedded or in a file, and the context's
//!   namespace; found as `kubectl` finds them (`$KUBECONFIG`, `~/.kube/config`).
//! * **Transport**: hyper with rustls (ring); ALPN picks HTTP/2 where the server offers it,
//!   HTTP/1.1 otherwise; connections are pooled and reused (all requests and watches share one
//!   HTTP/2 connection).
//! * **Objects** decode with their kind's codec into the same Rust types `LocalClient` returns;
//!   errors decode into the server's [`orchestra_api::Status`] ([`decode`]).
//! * **Watches** resume by themselves from the last revision seen when a connection ends, and
//!   report `410 Gone` in-band so informers re-list ([`watch`]).
//! * **Warnings** of the server (`Warning` headers: deprecations, unknown fields under
//!   `fieldValidation=Warn`) are logged, and a patch reports them with whether it created its
//!   object (`Client::patch_outcome`; [`warning`]).
//! * **Retries** of throttled (429) and failing (5xx) requests and of failed connections, with
//!   exponential back-off honouring `Retry-After`, by client-go's rules of which requests are
//!   safe to repeat ([`retry`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use orchestra_api::{Api, PostParams, k8s_openapi::api::core::v1::ConfigMap};
//! use orchestra_client::HttpClient;
//!
//! let client = Arc::new(HttpClient::from_kubeconfig("/var/lib/orchestra/kubeconfig")?);
//! let config_maps = Api::<ConfigMap>::namespaced(client, "default");
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("settings".into());
//! cm.data = Some([("mode".to_owned(), "fast".to_owned())].into());
//! let created = config_maps.create(&PostParams::default(), &cm).await?;
//! println!("created at revision {:?}", created.metadata.resource_version);
//! # Ok(()) }
//! ```

mod client;
pub mod decode;
mod error;
pub mod kubeconfig;
pub mod request;
pub mod retry;
mod tls;
mod transport;
pub mod warning;
pub mod watch;

pub use client::HttpClient;
pub use error::ClientError;
pub use kubeconfig::{Kubeconfig, KubeconfigError, ResolvedContext};
pub use retry::RetryPolicy;
