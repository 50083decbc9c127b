//! Documents computed once and served many times — aggregated discovery, the OpenAPI
//! documents — with a strong `ETag` derived from their bytes, so that a client revalidating
//! with `If-None-Match` gets `304 Not Modified` instead of the document again.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// A document's bytes, media type and entity tag.
#[derive(Debug, Clone)]
pub struct EtaggedDocument {
    body: Bytes,
    content_type: HeaderValue,
    hash: String,
}

impl EtaggedDocument {
    /// A document with the given media type, hashed once here.
    pub fn new(body: impl Into<Bytes>, content_type: &str) -> Self {
        let body = body.into();
        let hash = content_hash(&body);
        let content_type = HeaderValue::from_str(content_type)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
        Self {
            body,
            content_type,
            hash,
        }
    }

    /// The SHA-512 of the bytes, upper-case hexadecimal, as Kubernetes names OpenAPI v3
    /// documents in `serverRelativeURL` (`?hash=…`).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The bytes.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The entity tag, quoted.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.hash)
    }

    /// The response to a `GET` carrying `if_none_match`: `304` without a body when the client
    /// already holds this version, the document otherwise. Both vary on `Accept`, since the
    /// same path serves other representations.
    pub fn respond(&self, if_none_match: Option<&str>) -> Response {
        let etag = self.etag();
        let matches = if_none_match.is_some_and(|header| {
            header
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
        });
        let mut response = if matches {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            Response::new(Body::from(self.body.clone()))
        };
        let headers = response.headers_mut();
        if !matches {
            headers.insert(header::CONTENT_TYPE, self.content_type.clone());
        }
        if let Ok(value) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, value);
        }
        headers.insert(header::VARY, HeaderValue::from_static("Accept"));
        response
    }
}

/// SHA-512 of `bytes` in upper-case hexadecimal.
fn content_hash(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA512, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matching_if_none_match_gets_304_and_another_the_document() {
        let doc = EtaggedDocument::new(&b"{}"[..], "application/json");
        assert_eq!(doc.hash().len(), 128);
        let fresh = doc.respond(None);
        assert_eq!(fresh.status(), StatusCode::OK);
        assert_eq!(fresh.headers()[header::ETAG], doc.etag().as_str());
        assert_eq!(fresh.headers()[header::CONTENT_TYPE], "application/json");
        let revalidated = doc.respond(Some(&format!("\"other\", {}", doc.etag())));
        assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
        let stale = doc.respond(Some("\"other\""));
        assert_eq!(stale.status(), StatusCode::OK);
    }

    #[test]
    fn different_bytes_have_different_tags() {
        let a = EtaggedDocument::new(&b"a"[..], "application/json");
        let b = EtaggedDocument::new(&b"b"[..], "application/json");
        assert_ne!(a.etag(), b.etag());
    }
}
