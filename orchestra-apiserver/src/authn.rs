//! Authentication: who sent a request.
//!
//! As in Kubernetes, a client proves its identity with a TLS client certificate signed by the
//! cluster CA: the subject's common name (CN) is the user name, each organization (O) a group.
//! [`crate::serve`] verifies the certificate chain after the handshake (certificates of other
//! CAs get `401`); this module turns the verified leaf certificate into a [`UserInfo`], which
//! the server puts into every request's extensions for authorization, admission and audit.
//!
//! Every authenticated user is also in `system:authenticated`. A request without a client
//! certificate (or whose certificate has no CN) is *anonymous*: with anonymous authentication
//! on — Kubernetes' default — it proceeds as `system:anonymous` in `system:unauthenticated` and
//! RBAC decides; with it off it gets `401 Unauthorized` and a `Status` body
//! ([`unauthorized_response`]).
//!
//! ```
//! use axum::{Extension, Router, routing::get};
//! use orchestra_apiserver::authn::UserInfo;
//!
//! async fn whoami(Extension(user): Extension<UserInfo>) -> String {
//!     format!("{} {:?}", user.name, user.groups)
//! }
//!
//! let router: Router = Router::new().route("/whoami", get(whoami));
//! # let _ = router;
//! ```

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::Response;
use orchestra_api::Status;
use serde::{Deserialize, Serialize};

/// The user name of requests without credentials.
pub const ANONYMOUS_USER: &str = "system:anonymous";
/// The group of requests without credentials.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
/// The group every authenticated user is in.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// The group of node agents; their user names are `system:node:<node name>`.
pub const NODES_GROUP: &str = "system:nodes";
/// The prefix of node agents' user names.
pub const NODE_USER_PREFIX: &str = "system:node:";

/// An authenticated (or anonymous) identity, Kubernetes' `user.Info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The user name: the certificate's CN, or `system:anonymous`.
    #[serde(rename = "username")]
    pub name: String,
    /// A unique, stable identifier when the authenticator provides one; certificates do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Groups: the certificate's organizations plus `system:authenticated`, or
    /// `system:unauthenticated`.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Additional attributes an authenticator provides (Kubernetes' `extra`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// An authenticated user in `groups`, with `system:authenticated` added as Kubernetes does.
    pub fn authenticated(name: impl Into<String>, groups: Vec<String>) -> Self {
        let mut groups = groups;
        if !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            groups.push(AUTHENTICATED_GROUP.to_owned());
        }
        UserInfo {
            name: name.into(),
            uid: None,
            groups,
            extra: BTreeMap::new(),
        }
    }

    /// The identity of a request without credentials: `system:anonymous` in
    /// `system:unauthenticated`.
    pub fn anonymous() -> Self {
        UserInfo {
            name: ANONYMOUS_USER.to_owned(),
            uid: None,
            groups: vec![UNAUTHENTICATED_GROUP.to_owned()],
            extra: BTreeMap::new(),
        }
    }

    /// Whether this is the anonymous identity.
    pub fn is_anonymous(&self) -> bool {
        self.name == ANONYMOUS_USER
    }

    /// Whether the user is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The node name of a node agent (`system:node:<name>` in `system:nodes`), as Kubernetes'
    /// Node authorizer recognizes it.
    pub fn node_name(&self) -> Option<&str> {
        if !self.in_group(NODES_GROUP) {
            return None;
        }
        self.name
            .strip_prefix(NODE_USER_PREFIX)
            .filter(|name| !name.is_empty())
    }
}

/// Why a client certificate could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AuthnError {
    /// The certificate is not valid DER X.509.
    #[error("unparsable client certificate: {0}")]
    Certificate(String),
}

/// The user of a verified client certificate (DER): CN is the name, each O a group, plus
/// `system:authenticated`. `Ok(None)` when the certificate names no user (empty CN), which
/// Kubernetes treats as no credentials.
pub fn user_from_certificate(cert_der: &[u8]) -> Result<Option<UserInfo>, AuthnError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|err| AuthnError::Certificate(err.to_string()))?;
    let subject = cert.subject();
    // Go's pkix.Name keeps the last CN; Kubernetes uses that.
    let name = subject
        .iter_common_name()
        .filter_map(|attr| attr.as_str().ok())
        .last()
        .unwrap_or_default();
    if name.is_empty() {
        return Ok(None);
    }
    let groups = subject
        .iter_organization()
        .filter_map(|attr| attr.as_str().ok())
        .map(str::to_owned)
        .collect();
    Ok(Some(UserInfo::authenticated(name, groups)))
}

/// The identity of a connection from its verified peer certificate chain (leaf first), or
/// anonymous when there is none or it names no user.
pub fn user_from_peer_certificates(chain: Option<&[impl AsRef<[u8]>]>) -> UserInfo {
    let Some(leaf) = chain.and_then(|chain| chain.first()) else {
        return UserInfo::anonymous();
    };
    match user_from_certificate(leaf.as_ref()) {
        Ok(Some(user)) => user,
        Ok(None) => UserInfo::anonymous(),
        Err(err) => {
            // The handshake verified this chain, so this is unexpected: refuse an identity.
            tracing::warn!(%err, "treating a verified but unreadable client certificate as anonymous");
            UserInfo::anonymous()
        }
    }
}

/// Kubernetes' answer to a request it could not authenticate: `401` with a `Status` body, in
/// the encoding the request's `Accept` header negotiates (JSON when it names nothing else).
pub fn unauthorized_response(accept: Option<&str>) -> Response<Body> {
    crate::rest::response::negotiated_status_response(&Status::unauthorized("Unauthorized"), accept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::Pki;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    fn pki() -> (tempfile::TempDir, Pki) {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::load_or_create(dir.path(), ([127, 0, 0, 1], 0).into(), &[]).expect("PKI");
        (dir, pki)
    }

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM")
    }

    #[test]
    fn admin_certificate_is_kubernetes_admin_in_masters_and_authenticated() {
        let (_dir, pki) = pki();
        let user = user_from_certificate(&der(pki.admin().cert_pem()))
            .expect("parse")
            .expect("a user");
        assert_eq!(user.name, "kubernetes-admin");
        assert_eq!(user.groups, vec!["system:masters", "system:authenticated"]);
        assert!(!user.is_anonymous());
    }

    #[test]
    fn node_certificate_names_its_node() {
        let (_dir, pki) = pki();
        let issued = pki
            .issue_client_cert("system:node:worker-1", &[NODES_GROUP.to_owned()])
            .expect("issue");
        let user = user_from_peer_certificates(Some(&[der(issued.cert_pem())]));
        assert_eq!(user.node_name(), Some("worker-1"));
        assert_eq!(user.groups, vec!["system:nodes", "system:authenticated"]);
    }

    #[test]
    fn certificate_already_in_system_authenticated_is_not_listed_twice() {
        let user = UserInfo::authenticated("u", vec![AUTHENTICATED_GROUP.to_owned()]);
        assert_eq!(user.groups, vec![AUTHENTICATED_GROUP]);
    }

    #[test]
    fn no_certificate_is_anonymous_in_unauthenticated() {
        let user = user_from_peer_certificates(None::<&[CertificateDer<'_>]>);
        assert_eq!(user, UserInfo::anonymous());
        assert_eq!(user.name, "system:anonymous");
        assert_eq!(user.groups, vec!["system:unauthenticated"]);
        assert_eq!(user.node_name(), None);
    }

    #[test]
    fn garbage_certificate_is_an_error() {
        assert!(user_from_certificate(b"not a certificate").is_err());
    }

    #[test]
    fn unauthorized_body_is_a_kubernetes_status() {
        use axum::http::{StatusCode, header};
        let response = unauthorized_response(None);
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response
                .headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
            Some(&b"application/json"[..])
        );
        let yaml = unauthorized_response(Some("application/yaml"));
        assert_eq!(yaml.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            yaml.headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
            Some(&b"application/yaml"[..])
        );
    }

    #[test]
    fn user_info_serializes_like_kubernetes_user_info() {
        let user = UserInfo::authenticated("alice", vec!["dev".to_owned()]);
        let json = serde_json::to_value(&user).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"username": "alice", "groups": ["dev", "system:authenticated"]})
        );
    }
}
