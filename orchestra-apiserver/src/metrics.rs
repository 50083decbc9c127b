//! The API server's Prometheus metrics at `/metrics`, named as kube-apiserver names them:
//!
//! - `apiserver_request_total{verb,group,version,resource,subresource,scope,code}`;
//! - `apiserver_request_duration_seconds{verb,group,version,resource,subresource,scope}`, a
//!   histogram (watches excluded: they last as long as the client wants);
//! - `apiserver_longrunning_requests{verb,group,version,resource,subresource,scope}`, the open
//!   watches;
//! - `etcd_request_duration_seconds{operation,type}`, the key-value store's latency per
//!   operation, measured by [`MeasuredKv`] around whichever backend holds the state.
//!
//! ```
//! use axum::http::Method;
//! use orchestra_apiserver::metrics::{ApiMetrics, request_labels};
//!
//! // How a request is labelled: Kubernetes' verb and what it addresses.
//! let watch = request_labels(&Method::GET, "/api/v1/namespaces/default/pods", Some("watch=1"));
//! assert_eq!((watch.verb.as_str(), watch.resource.as_str(), watch.scope.as_str()), ("watch", "pods", "namespace"));
//! let get = request_labels(&Method::GET, "/apis/apps/v1/namespaces/default/deployments/web/scale", None);
//! assert_eq!((get.verb.as_str(), get.subresource.as_str(), get.scope.as_str()), ("get", "scale", "resource"));
//!
//! // The text format Prometheus scrapes.
//! assert!(ApiMetrics::default().encode().ends_with("# EOF\n"));
//! ```

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::StreamExt;
use orchestra_store::kv::{
    KeyValue, KvStore, RangeRequest, RangeResponse, Result as KvResult, Revision, WatchRequest,
    WatchStream,
};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::rest::params::Query;
use crate::rest::path::{self, ApiPath};

/// What a request did, as the request metrics label it.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Kubernetes' verb: get, list, watch, create, update, patch, delete, deletecollection,
    /// or the HTTP method of a non-resource request.
    pub verb: String,
    /// The API group.
    pub group: String,
    /// The API version.
    pub version: String,
    /// The resource (plural).
    pub resource: String,
    /// The subresource.
    pub subresource: String,
    /// `namespace`, `cluster` (all namespaces or cluster-scoped), `resource` (one object), or
    /// empty for non-resource requests.
    pub scope: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    verb: String,
    group: String,
    version: String,
    resource: String,
    subresource: String,
    scope: String,
    code: String,
}

/// One key-value store operation, as `etcd_request_duration_seconds` labels it.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    operation: String,
    r#type: String,
}

/// The API server's metrics; see the [module docs](self).
pub struct ApiMetrics {
    registry: Mutex<Registry>,
    requests: Family<CodeLabels, Counter>,
    durations: Family<RequestLabels, Histogram>,
    long_running: Family<RequestLabels, Gauge>,
    store: Family<StoreLabels, Histogram>,
}

impl std::fmt::Debug for ApiMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiMetrics").finish_non_exhaustive()
    }
}

impl Default for ApiMetrics {
    fn default() -> Self {
        let requests = Family::<CodeLabels, Counter>::default();
        let durations = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let long_running = Family::<RequestLabels, Gauge>::default();
        let store = Family::<StoreLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        let mut registry = Registry::default();
        registry.register(
            "apiserver_request",
            "Counter of apiserver requests broken out for each verb, group, version, resource, scope and HTTP response code",
            requests.clone(),
        );
        registry.register(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, group, version, resource, subresource and scope",
            durations.clone(),
        );
        registry.register(
            "apiserver_longrunning_requests",
            "Gauge of all active long-running apiserver requests (watches)",
            long_running.clone(),
        );
        registry.register(
            "etcd_request_duration_seconds",
            "Store request latency in seconds for each operation and object type",
            store.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            requests,
            durations,
            long_running,
            store,
        }
    }
}

impl ApiMetrics {
    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        let registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &registry) {
            tracing::warn!(%err, "cannot encode the metrics");
        }
        text
    }

    fn observe_store(&self, operation: &str, key: &[u8], started: Instant) {
        let labels = StoreLabels {
            operation: operation.to_owned(),
            r#type: resource_of_key(key).to_owned(),
        };
        self.store
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
    }
}

/// The resource part of a store key (`/registry/<resource>/…`).
fn resource_of_key(key: &[u8]) -> &str {
    std::str::from_utf8(key)
        .ok()
        .and_then(|k| k.strip_prefix("/registry/"))
        .and_then(|k| k.split('/').next())
        .unwrap_or("")
}

/// How a request is labelled: Kubernetes' verb and the resource it addresses.
pub fn request_labels(method: &Method, path: &str, query: Option<&str>) -> RequestLabels {
    let mut labels = RequestLabels {
        verb: method.as_str().to_owned(),
        group: String::new(),
        version: String::new(),
        resource: String::new(),
        subresource: String::new(),
        scope: String::new(),
    };
    let Ok(ApiPath::Resource(resource)) = path::parse(path) else {
        return labels;
    };
    let watch = Query::parse(query).is_watch().unwrap_or(false);
    let named = resource.name.is_some();
    labels.verb = match (method.as_str(), named, watch) {
        ("GET", _, true) => "watch",
        ("GET", true, false) => "get",
        ("GET", false, false) => "list",
        ("POST", _, _) => "create",
        ("PUT", _, _) => "update",
        ("PATCH", _, _) => "patch",
        ("DELETE", true, _) => "delete",
        ("DELETE", false, _) => "deletecollection",
        (other, _, _) => other,
    }
    .to_owned();
    labels.group = resource.kind.group.to_string();
    labels.version = resource.kind.version.to_string();
    labels.resource = resource.kind.plural.to_string();
    labels.subresource = resource.subresource.clone().unwrap_or_default();
    labels.scope = if named {
        "resource"
    } else if resource.namespace.is_some() {
        "namespace"
    } else {
        "cluster"
    }
    .to_owned();
    labels
}

/// The `/metrics` route; merge it into the router behind authorization (Kubernetes does not
/// show metrics to anonymous clients).
pub fn route(metrics: Arc<ApiMetrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    metrics.encode(),
                )
                    .into_response()
            }
        }),
    )
}

/// Counts and times every request of `router`, whatever answered it.
pub fn layer(router: Router, metrics: Arc<ApiMetrics>) -> Router {
    router.layer(middleware::from_fn(move |request: Request, next: Next| {
        let metrics = metrics.clone();
        async move { measure(&metrics, request, next).await }
    }))
}

async fn measure(metrics: &Arc<ApiMetrics>, request: Request, next: Next) -> Response {
    let labels = request_labels(
        request.method(),
        request.uri().path(),
        request.uri().query(),
    );
    let started = Instant::now();
    let response = next.run(request).await;
    let code = response.status();
    metrics
        .requests
        .get_or_create(&CodeLabels {
            verb: labels.verb.clone(),
            group: labels.group.clone(),
            version: labels.version.clone(),
            resource: labels.resource.clone(),
            subresource: labels.subresource.clone(),
            scope: labels.scope.clone(),
            code: code.as_u16().to_string(),
        })
        .inc();
    if labels.verb != "watch" {
        metrics
            .durations
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        return response;
    }
    if code != StatusCode::OK {
        return response;
    }
    // An open watch: counted until its body ends or the client goes away.
    let gauge = metrics.long_running.get_or_create(&labels).clone();
    gauge.inc();
    let guard = OpenWatch(gauge);
    let (parts, body) = response.into_parts();
    let stream = body.into_data_stream().map(move |chunk| {
        let _open = &guard;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Decrements the open-watch gauge when the watch's body is dropped.
struct OpenWatch(Gauge);

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A [`KvStore`] that times every operation of the store it wraps into
/// `etcd_request_duration_seconds`.
pub struct MeasuredKv {
    inner: Arc<dyn KvStore>,
    metrics: Arc<ApiMetrics>,
}

impl MeasuredKv {
    /// Times the operations of `inner`.
    pub fn new(inner: Arc<dyn KvStore>, metrics: Arc<ApiMetrics>) -> Self {
        Self { inner, metrics }
    }
}

impl std::fmt::Debug for MeasuredKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeasuredKv").finish_non_exhaustive()
    }
}

#[async_trait]
impl KvStore for MeasuredKv {
    async fn get(&self, key: &[u8]) -> KvResult<Option<KeyValue>> {
        let started = Instant::now();
        let result = self.inner.get(key).await;
        self.metrics.observe_store("get", key, started);
        result
    }

    async fn range(&self, request: RangeRequest) -> KvResult<RangeResponse> {
        let started = Instant::now();
        let prefix = request.prefix.clone();
        let result = self.inner.range(request).await;
        self.metrics.observe_store("list", &prefix, started);
        result
    }

    async fn create(&self, key: Bytes, value: Bytes) -> KvResult<KeyValue> {
        let started = Instant::now();
        let result = self.inner.create(key.clone(), value).await;
        self.metrics.observe_store("create", &key, started);
        result
    }

    async fn put(&self, key: Bytes, value: Bytes) -> KvResult<KeyValue> {
        let started = Instant::now();
        let result = self.inner.put(key.clone(), value).await;
        self.metrics.observe_store("update", &key, started);
        result
    }

    async fn update(
        &self,
        key: Bytes,
        value: Bytes,
        expected_mod_revision: Revision,
    ) -> KvResult<KeyValue> {
        let started = Instant::now();
        let result = self
            .inner
            .update(key.clone(), value, expected_mod_revision)
            .await;
        self.metrics.observe_store("update", &key, started);
        result
    }

    async fn delete(
        &self,
        key: Bytes,
        expected_mod_revision: Option<Revision>,
    ) -> KvResult<KeyValue> {
        let started = Instant::now();
        let result = self.inner.delete(key.clone(), expected_mod_revision).await;
        self.metrics.observe_store("delete", &key, started);
        result
    }

    async fn watch(&self, request: WatchRequest) -> KvResult<WatchStream> {
        self.inner.watch(request).await
    }

    async fn compact(&self, revision: Revision) -> KvResult<()> {
        self.inner.compact(revision).await
    }

    async fn current_revision(&self) -> KvResult<Revision> {
        self.inner.current_revision().await
    }
}
