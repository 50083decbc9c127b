//! What the HTTP-level tests share: the REST router over a real store.

#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use orchestra_api::kinds;
use orchestra_apiserver::bootstrap::ensure_system_namespaces;
use orchestra_apiserver::rest::{RestState, router};
use orchestra_store::{LocalClient, MemoryKv, Store, StoreConfig};
use tower::ServiceExt;

/// The router over an in-memory store with the system namespaces.
pub async fn app() -> axum::Router {
    let store = Store::open(
        Arc::new(MemoryKv::new()),
        kinds::BUILTIN.iter().map(|k| (*k).clone()),
        StoreConfig::default(),
    )
    .await
    .expect("store opens");
    let client = Arc::new(LocalClient::new(store));
    ensure_system_namespaces(client.as_ref())
        .await
        .expect("bootstrap");
    router(Arc::new(RestState::new(client, "127.0.0.1:6443")))
}

/// A response's parts.
pub struct Answer {
    /// The status code.
    pub code: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A `GET` with the given request headers.
pub async fn get(app: &axum::Router, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::builder().method("GET").uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let code = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Answer {
        code,
        headers,
        body,
    }
}

/// Any request: `method` on `uri` with the given headers and body.
pub async fn send(
    app: &axum::Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(body.into()).expect("request"))
        .await
        .expect("response");
    let code = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Answer {
        code,
        headers,
        body,
    }
}

impl Answer {
    /// Every `Warning` header's text, without the `299 - "…"` wrapping.
    pub fn warnings(&self) -> Vec<String> {
        self.headers
            .get_all("warning")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| {
                let text = v.strip_prefix("299 - ").unwrap_or(v);
                serde_json::from_str::<String>(text).unwrap_or_else(|_| text.to_owned())
            })
            .collect()
    }
}
