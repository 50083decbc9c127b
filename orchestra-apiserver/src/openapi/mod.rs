//! The OpenAPI documents of the served API: `/openapi/v2` (Swagger 2.0, as JSON or in
//! Kubernetes' protobuf encoding) and `/openapi/v3` (an index, then one OpenAPI 3.0 document
//! per group version). `kubectl` reads them to validate manifests, to `explain` fields and to
//! find the patch strategy of each list when it builds a strategic merge patch.
//!
//! Nothing in them is written by hand: the schemas are generated from the `k8s-openapi`
//! types ([`definitions`]), the patch metadata comes from [`orchestra_api::patch::PatchSchema`]
//! ([`patch_extensions`]) and the paths from `orchestra_api::kinds` ([`operations`]). The
//! documents are generated once, on first request, and then served with an `ETag`; an
//! OpenAPI v3 document fetched through the index's `?hash=` URL is immutable.
//!
//! ```
//! use orchestra_apiserver::openapi;
//!
//! let docs = openapi::documents();
//! let apps: serde_json::Value = serde_json::from_slice(docs.v3("apis/apps/v1").unwrap().body()).unwrap();
//! let deployment = &apps["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
//! assert_eq!(deployment["x-kubernetes-group-version-kind"][0]["kind"], "Deployment");
//! ```

pub mod definitions;
pub mod operations;
pub mod patch_extensions;
pub mod protobuf;
pub mod v2;
pub mod v3;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::{Path, RawQuery, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use orchestra_api::Status;

use crate::rest::etagged::EtaggedDocument;
use crate::rest::response::status_response;
use definitions::Definitions;

/// The Kubernetes version the documents describe.
pub const KUBERNETES_VERSION: &str = "v1.33.0";

/// The media type clients ask for to get the Swagger 2.0 document in protobuf.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The spelling of the same media type that the response carries: Go's media-type parser
/// (which client-go applies to `Content-Type`) rejects the `@`, so Kubernetes answers with a
/// dot instead, and so does this server.
pub const V2_PROTOBUF_RESPONSE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// Every document, encoded and hashed.
#[derive(Debug)]
pub struct Documents {
    v2_json: EtaggedDocument,
    v2_protobuf: EtaggedDocument,
    v3_index: EtaggedDocument,
    v3: BTreeMap<String, EtaggedDocument>,
}

impl Documents {
    /// Generates and encodes every document.
    pub fn generate() -> Self {
        let definitions = Definitions::generate();
        let group_versions = operations::group_versions(&definitions);
        let v2 = v2::document(&group_versions, &definitions);
        let v2_json = EtaggedDocument::new(
            serde_json::to_vec(&v2).unwrap_or_default(),
            "application/json",
        );
        let v2_protobuf =
            EtaggedDocument::new(protobuf::encode_document(&v2), V2_PROTOBUF_RESPONSE);
        let v3: BTreeMap<String, EtaggedDocument> = group_versions
            .iter()
            .map(|gv| {
                let document = v3::document(gv, &definitions);
                let body = serde_json::to_vec(&document).unwrap_or_default();
                (
                    gv.document_key(),
                    EtaggedDocument::new(body, "application/json"),
                )
            })
            .collect();
        let hashes: BTreeMap<String, String> = v3
            .iter()
            .map(|(key, doc)| (key.clone(), doc.hash().to_owned()))
            .collect();
        let v3_index = EtaggedDocument::new(
            serde_json::to_vec(&v3::index(&hashes)).unwrap_or_default(),
            "application/json",
        );
        Self {
            v2_json,
            v2_protobuf,
            v3_index,
            v3,
        }
    }

    /// `/openapi/v2` as JSON.
    pub fn v2_json(&self) -> &EtaggedDocument {
        &self.v2_json
    }

    /// `/openapi/v2` in protobuf.
    pub fn v2_protobuf(&self) -> &EtaggedDocument {
        &self.v2_protobuf
    }

    /// `/openapi/v3`.
    pub fn v3_index(&self) -> &EtaggedDocument {
        &self.v3_index
    }

    /// `/openapi/v3/<key>` (`api/v1`, `apis/apps/v1`).
    pub fn v3(&self, key: &str) -> Option<&EtaggedDocument> {
        self.v3.get(key)
    }

    /// The keys of the OpenAPI v3 documents.
    pub fn v3_keys(&self) -> impl Iterator<Item = &str> {
        self.v3.keys().map(String::as_str)
    }
}

/// The documents of this process, generated on first use.
pub fn documents() -> &'static Documents {
    static DOCUMENTS: OnceLock<Documents> = OnceLock::new();
    DOCUMENTS.get_or_init(|| {
        let started = std::time::Instant::now();
        let documents = Documents::generate();
        tracing::debug!(elapsed = ?started.elapsed(), "generated the OpenAPI documents");
        documents
    })
}

/// The documents, generated off the async threads the first time.
async fn documents_async() -> Result<&'static Documents, Status> {
    tokio::task::spawn_blocking(documents)
        .await
        .map_err(|e| Status::internal(format!("generating the OpenAPI documents failed: {e}")))
}

/// The routes serving the documents, for any router state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/openapi/v2", get(serve_v2))
        .route("/openapi/v3", get(serve_v3_index))
        .route("/openapi/v3/{*key}", get(serve_v3))
}

fn header_text(request: &Request, name: header::HeaderName) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Which encoding of the Swagger 2.0 document an `Accept` header asks for: protobuf when it
/// names it, JSON when it accepts JSON (or anything), `None` otherwise.
pub fn v2_encoding(accept: Option<&str>) -> Option<V2Encoding> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(V2Encoding::Json);
    };
    let mut clauses: Vec<(&str, f32)> = accept
        .split(',')
        .map(|clause| {
            let mut parts = clause.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            let quality = parts
                .filter_map(|p| p.strip_prefix("q="))
                .next()
                .and_then(|q| q.parse().ok())
                .unwrap_or(1.0);
            (media, quality)
        })
        .filter(|(_, quality)| *quality > 0.0)
        .collect();
    clauses.sort_by(|a, b| b.1.total_cmp(&a.1));
    clauses.iter().find_map(|(media, _)| match *media {
        V2_PROTOBUF | V2_PROTOBUF_RESPONSE | "application/vnd.kubernetes.protobuf" => {
            Some(V2Encoding::Protobuf)
        }
        "application/json" | "application/*" | "*/*" => Some(V2Encoding::Json),
        _ => None,
    })
}

/// An encoding of the Swagger 2.0 document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V2Encoding {
    /// JSON.
    Json,
    /// `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`.
    Protobuf,
}

async fn serve_v2(request: Request) -> Response {
    let accept = header_text(&request, header::ACCEPT);
    let Some(encoding) = v2_encoding(accept.as_deref()) else {
        return status_response(&Status::not_acceptable(format!(
            "only application/json and {V2_PROTOBUF} are supported, not {}",
            accept.unwrap_or_default()
        )));
    };
    let documents = match documents_async().await {
        Ok(documents) => documents,
        Err(status) => return status_response(&status),
    };
    let if_none_match = header_text(&request, header::IF_NONE_MATCH);
    match encoding {
        V2Encoding::Json => documents.v2_json().respond(if_none_match.as_deref()),
        V2Encoding::Protobuf => documents.v2_protobuf().respond(if_none_match.as_deref()),
    }
}

async fn serve_v3_index(request: Request) -> Response {
    match documents_async().await {
        Ok(documents) => documents
            .v3_index()
            .respond(header_text(&request, header::IF_NONE_MATCH).as_deref()),
        Err(status) => status_response(&status),
    }
}

async fn serve_v3(
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    let documents = match documents_async().await {
        Ok(documents) => documents,
        Err(status) => return status_response(&status),
    };
    let key = key.trim_matches('/');
    let Some(document) = documents.v3(key) else {
        return status_response(&Status::not_found("", "openapi/v3", key));
    };
    let asked_hash = query.as_deref().and_then(|query| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "hash")
            .map(|(_, value)| value.into_owned())
    });
    match asked_hash {
        // A hash URL names one version of the document forever.
        Some(hash) if hash == document.hash() => {
            let mut response = document.respond(None);
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, immutable"),
            );
            response
        }
        // An old hash: send the client to the current version, as Kubernetes does.
        Some(_) => {
            let location = format!("/openapi/v3/{key}?hash={}", document.hash());
            let mut response = StatusCode::MOVED_PERMANENTLY.into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        None => document.respond(header_text(&request, header::IF_NONE_MATCH).as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_gets_protobuf_and_browsers_json() {
        assert_eq!(v2_encoding(Some(V2_PROTOBUF)), Some(V2Encoding::Protobuf));
        assert_eq!(
            v2_encoding(Some("application/json, */*")),
            Some(V2Encoding::Json)
        );
        assert_eq!(v2_encoding(None), Some(V2Encoding::Json));
        assert_eq!(
            v2_encoding(Some(&format!("application/json;q=0.5, {V2_PROTOBUF}"))),
            Some(V2Encoding::Protobuf)
        );
        assert_eq!(v2_encoding(Some("text/html")), None);
    }

    #[test]
    fn the_index_names_every_group_version_with_its_hash() {
        let documents = documents();
        let index: serde_json::Value = serde_json::from_slice(documents.v3_index().body()).unwrap();
        let keys: Vec<&str> = documents.v3_keys().collect();
        assert!(keys.contains(&"api/v1"));
        assert!(keys.contains(&"apis/apps/v1"));
        for key in keys {
            let url = index["paths"][key]["serverRelativeURL"].as_str().unwrap();
            let hash = documents.v3(key).unwrap().hash();
            assert_eq!(url, format!("/openapi/v3/{key}?hash={hash}"));
        }
    }
}
