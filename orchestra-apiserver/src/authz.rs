//! Authorization: may this user make this request?
//!
//! The server's handler chain is authentication (per connection, [`crate::serve`]), then
//! authorization ([`layer`]), then the REST handlers, where admission runs before writes. An
//! [`Authorizer`] sees who asks ([`UserInfo`]) and what for ([`RequestInfo`]); Kubernetes' RBAC
//! authorizer slots in behind the same trait.
//!
//! Until RBAC arrives, [`AllowAuthenticated`] lets every authenticated user do everything and
//! anonymous users only read the health and version endpoints, as Kubernetes'
//! `system:public-info-viewer` role allows. Anonymous requests for anything else get
//! `401 Unauthorized` (they carry no identity to forbid); authenticated ones that an authorizer
//! denies get `403 Forbidden`.
//!
//! ```
//! use orchestra_apiserver::authn::UserInfo;
//! use orchestra_apiserver::authz::{AllowAuthenticated, Authorizer, Decision, RequestInfo};
//!
//! let pods = RequestInfo::from_request("GET", "/api/v1/namespaces/default/pods");
//! assert_eq!(AllowAuthenticated.authorize(&UserInfo::anonymous(), &pods), Decision::Unauthenticated);
//! let admin = UserInfo::authenticated("kubernetes-admin", vec!["system:masters".into()]);
//! assert_eq!(AllowAuthenticated.authorize(&admin, &pods), Decision::Allow);
//! let health = RequestInfo::from_request("GET", "/readyz");
//! assert_eq!(AllowAuthenticated.authorize(&UserInfo::anonymous(), &health), Decision::Allow);
//! ```

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use orchestra_api::{Status, StatusReason};

use crate::authn::{self, UserInfo};
use crate::rest::response::negotiated_status_response;

/// What a request asks to do, as authorization sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// The HTTP method.
    pub method: String,
    /// The request path, without the query.
    pub path: String,
}

impl RequestInfo {
    /// The request info of `method` on `path`.
    pub fn from_request(method: &str, path: &str) -> Self {
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
        }
    }

    /// Whether this reads an endpoint every client may read: health and version.
    pub fn is_public_info(&self) -> bool {
        const PUBLIC: [&str; 4] = ["/healthz", "/livez", "/readyz", "/version"];
        self.method == "GET"
            && PUBLIC.iter().any(|public| {
                self.path == *public
                    || self
                        .path
                        .strip_prefix(public)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
    }
}

/// An authorizer's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The request may proceed.
    Allow,
    /// The user may not do this; the reason is told to the client.
    Deny(String),
    /// The request has no identity and the action needs one.
    Unauthenticated,
}

/// Decides whether a user may make a request.
pub trait Authorizer: Send + Sync + 'static {
    /// The verdict on `request` by `user`.
    fn authorize(&self, user: &UserInfo, request: &RequestInfo) -> Decision;
}

/// Every authenticated user may do everything; anonymous users may read health and version.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAuthenticated;

impl Authorizer for AllowAuthenticated {
    fn authorize(&self, user: &UserInfo, request: &RequestInfo) -> Decision {
        if request.is_public_info() || !user.is_anonymous() {
            Decision::Allow
        } else {
            Decision::Unauthenticated
        }
    }
}

/// Puts `authorizer` in front of `router`. A request without a [`UserInfo`] in its extensions
/// (one that did not come through [`crate::serve`]) counts as anonymous.
pub fn layer(router: Router, authorizer: Arc<dyn Authorizer>) -> Router {
    router.layer(middleware::from_fn(move |request: Request, next: Next| {
        let authorizer = authorizer.clone();
        async move {
            let info = RequestInfo::from_request(request.method().as_str(), request.uri().path());
            let anonymous = UserInfo::anonymous();
            let user = request.extensions().get::<UserInfo>().unwrap_or(&anonymous);
            match authorizer.authorize(user, &info) {
                Decision::Allow => next.run(request).await,
                Decision::Unauthenticated => authn::unauthorized_response(
                    request
                        .headers()
                        .get(axum::http::header::ACCEPT)
                        .and_then(|v| v.to_str().ok()),
                ),
                Decision::Deny(reason) => {
                    tracing::debug!(user = %user.name, path = %info.path, %reason, "forbidden");
                    let accept = request
                        .headers()
                        .get(axum::http::header::ACCEPT)
                        .and_then(|v| v.to_str().ok());
                    negotiated_status_response(
                        &Status::failure(
                            StatusReason::Forbidden,
                            forbidden_message(user, &info, &reason),
                        ),
                        accept,
                    )
                }
            }
        }
    }))
}

fn forbidden_message(user: &UserInfo, info: &RequestInfo, reason: &str) -> String {
    let mut message = format!(
        "User \"{}\" cannot {} path \"{}\"",
        user.name,
        info.method.to_lowercase(),
        info.path
    );
    if !reason.is_empty() {
        message.push_str(": ");
        message.push_str(reason);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    struct DenyAll;

    impl Authorizer for DenyAll {
        fn authorize(&self, _user: &UserInfo, _request: &RequestInfo) -> Decision {
            Decision::Deny("no reason".to_owned())
        }
    }

    #[tokio::test]
    async fn a_forbidden_answer_is_written_in_the_negotiated_encoding() {
        use tower::ServiceExt;
        let app = layer(
            Router::new().route("/api", axum::routing::get(|| async { "ok" })),
            Arc::new(DenyAll),
        );
        let request = Request::builder()
            .uri("/api")
            .header("accept", "application/yaml")
            .body(axum::body::Body::empty())
            .expect("request");
        let response = app.oneshot(request).await.expect("response");
        assert_eq!(response.status(), 403);
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/yaml")
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let status: serde_json::Value = serde_yaml_ng::from_slice(&body).expect("YAML");
        assert_eq!(status["reason"], "Forbidden");
        assert_eq!(status["code"], 403);
    }

    #[test]
    fn public_info_is_exactly_the_health_and_version_reads() {
        for path in ["/healthz", "/livez", "/readyz", "/version", "/readyz/etcd"] {
            assert!(
                RequestInfo::from_request("GET", path).is_public_info(),
                "{path}"
            );
        }
        for (method, path) in [
            ("POST", "/healthz"),
            ("GET", "/versions"),
            ("GET", "/api"),
            ("GET", "/readyzz"),
            ("GET", "/api/v1/namespaces/default/pods"),
        ] {
            assert!(
                !RequestInfo::from_request(method, path).is_public_info(),
                "{method} {path}"
            );
        }
    }
}
